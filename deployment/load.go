package deployment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "CORDON_"

// Load reads the configuration at path, applies CORDON_ environment
// overrides from getenv, fills defaults and validates the result. Relative
// file names in the configuration are resolved against the file's directory.
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.resolvePaths(filepath.Dir(path))
	return cfg, nil
}

// Parse decodes a configuration strictly, applies environment overrides and
// defaults, and validates it. File names stay as written.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	var cfg Config
	if err := decodeYAML(data, &cfg); err != nil {
		return nil, err
	}
	if getenv != nil {
		if err := applyEnv(reflect.ValueOf(&cfg).Elem(), EnvPrefix[:len(EnvPrefix)-1], getenv); err != nil {
			return nil, err
		}
	}
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// decodeYAML decodes data into cfg strictly. A panic of the YAML library
// is an error like any other: goccy/go-yaml v1.19.2 dereferences nil on
// "apis:\n !- " (found by FuzzParse), and a bad file must be refused,
// never crash the process that reads it.
func decodeYAML(data []byte, cfg *Config) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed YAML: the parser failed (%v)", r)
		}
	}()
	if err := yaml.UnmarshalWithOptions(data, cfg, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		return errors.New(yaml.FormatError(err, false, true))
	}
	return nil
}

// applyEnv walks v's fields by their yaml names and sets any scalar whose
// CORDON_… variable is set. Lists take comma-separated values.
func applyEnv(v reflect.Value, name string, getenv func(string) string) error {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		fv := v.Field(i)
		if opts == "inline" {
			if err := applyEnv(fv, name, getenv); err != nil {
				return err
			}
			continue
		}
		if tag == "" || tag == "-" {
			continue
		}
		key := name + "_" + strings.ToUpper(strings.ReplaceAll(tag, "-", "_"))
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeFor[time.Duration]() {
			if err := applyEnv(fv, key, getenv); err != nil {
				return err
			}
			continue
		}
		s := getenv(key)
		if s == "" {
			continue
		}
		if err := setScalar(fv, s); err != nil {
			return fmt.Errorf("environment %s: %w", key, err)
		}
	}
	return nil
}

func setScalar(fv reflect.Value, s string) error {
	switch p := fv.Addr().Interface().(type) {
	case *time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*p = d
	case *ByteSize:
		b, err := ParseByteSize(s)
		if err != nil {
			return err
		}
		*p = b
	case *string:
		*p = s
	case *Mode:
		*p = Mode(s)
	case *bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		*p = b
	case *int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return err
		}
		*p = n
	case *float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return err
		}
		*p = f
	case *[]string:
		*p = strings.Split(s, ",")
	default:
		// Structured values (lists of APIs…) are set in the file only.
	}
	return nil
}

func (c *Config) resolvePaths(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.DataDir)
	for _, b := range []*Bus{&c.Buses.DirtyReq, &c.Buses.CleanReq, &c.Buses.DirtyResp, &c.Buses.CleanResp} {
		abs(&b.StoreDir)
		abs(&b.AdminNKeyFile)
		abs(&b.AuditNKeyFile)
		abs(&b.TLS.CA)
		abs(&b.TLS.Cert)
		abs(&b.TLS.Key)
	}
	for _, co := range []*Component{&c.Components.Frontend.Component, &c.Components.RequestValidator,
		&c.Components.Backend.Component, &c.Components.ResponseValidator, &c.Components.Audit} {
		abs(&co.KeyFile)
		abs(&co.NKeyFile)
	}
	for i := range c.APIs {
		abs(&c.APIs[i].Spec)
	}
	abs(&c.Audit.KeyFile)
	for _, l := range []*[]string{&c.LinkKeys.Frontend, &c.LinkKeys.RequestValidator,
		&c.LinkKeys.Backend, &c.LinkKeys.ResponseValidator} {
		for i := range *l {
			abs(&(*l)[i])
		}
	}
	abs(&c.Audit.CheckpointDir)
}
