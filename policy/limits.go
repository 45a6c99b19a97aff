package policy

import (
	"errors"

	"github.com/cordon-gateway/cordon/jsonstrict"
)

// reqLimits are the resolved request limits of one API or operation.
type reqLimits struct {
	body        int64
	url         int
	headerCount int
	headerBytes int
	ratio       int
	params      int
	json        jsonstrict.Limits
}

// Defaults for RequestLimits and ResponseSettings.
const (
	DefaultMaxBodyBytes        = 1 << 20
	DefaultMaxURLBytes         = 8192
	DefaultMaxHeaderCount      = 64
	DefaultMaxHeaderBytes      = 16384
	DefaultMaxCompressionRatio = 100
	DefaultMaxParams           = 128
	DefaultMaxResponseBytes    = 8 << 20
)

// resolveReqLimits fills defaults; body overrides the body limit if > 0.
func resolveReqLimits(l RequestLimits, body int64) (reqLimits, error) {
	if l.MaxBodyBytes < 0 || l.MaxURLBytes < 0 || l.MaxHeaderCount < 0 || l.MaxHeaderBytes < 0 ||
		l.MaxCompressionRatio < 0 || l.MaxParams < 0 || body < 0 || negativeJSON(l.JSON) {
		return reqLimits{}, errors.New("limits must not be negative")
	}
	r := reqLimits{
		body:        or64(l.MaxBodyBytes, DefaultMaxBodyBytes),
		url:         orInt(l.MaxURLBytes, DefaultMaxURLBytes),
		headerCount: orInt(l.MaxHeaderCount, DefaultMaxHeaderCount),
		headerBytes: orInt(l.MaxHeaderBytes, DefaultMaxHeaderBytes),
		ratio:       orInt(l.MaxCompressionRatio, DefaultMaxCompressionRatio),
		params:      orInt(l.MaxParams, DefaultMaxParams),
	}
	if body > 0 {
		r.body = body
	}
	r.json = jsonLimits(l.JSON, r.body)
	return r, nil
}

func jsonLimits(l JSONLimits, maxBytes int64) jsonstrict.Limits {
	d := jsonstrict.DefaultLimits()
	return jsonstrict.Limits{
		MaxDepth:     orInt(l.MaxDepth, d.MaxDepth),
		MaxMembers:   orInt(l.MaxMembers, d.MaxMembers),
		MaxArrayLen:  orInt(l.MaxArrayLen, d.MaxArrayLen),
		MaxStringLen: orInt(l.MaxStringLen, d.MaxStringLen),
		MaxNumberLen: orInt(l.MaxNumberLen, d.MaxNumberLen),
		MaxBytes:     int(maxBytes),
	}
}

func negativeJSON(l JSONLimits) bool {
	return l.MaxDepth < 0 || l.MaxMembers < 0 || l.MaxArrayLen < 0 || l.MaxStringLen < 0 || l.MaxNumberLen < 0
}

func or64(v, d int64) int64 {
	if v > 0 {
		return v
	}
	return d
}

func orInt(v, d int) int {
	if v > 0 {
		return v
	}
	return d
}
