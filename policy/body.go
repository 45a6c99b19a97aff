package policy

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/textproto"
	"strings"
	"unicode/utf8"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/jsonstrict"
)

func (r *reqCheck) checkBody() *cordon.Error {
	op, m := r.op, r.m
	cts := m.Request.Header["Content-Type"]
	if len(cts) > 1 {
		return r.fail(cordon.KindUnsupportedMedia, "request.content-type.invalid", "header/Content-Type", nil)
	}
	if len(m.Body) == 0 {
		if op.body != nil && op.body.required {
			return r.fail(cordon.KindInvalid, "request.body.missing", "body", nil)
		}
		r.body = nil
		return nil
	}
	if op.body == nil {
		return r.fail(cordon.KindUnsupportedMedia, "request.body.unexpected", "body", nil)
	}
	if len(cts) == 0 {
		return r.fail(cordon.KindUnsupportedMedia, "request.content-type.missing", "header/Content-Type", nil)
	}
	mt, params, err := mime.ParseMediaType(cts[0])
	if err != nil {
		return r.fail(cordon.KindUnsupportedMedia, "request.content-type.invalid", "header/Content-Type", err)
	}
	media := findMedia(op.body.media, mt)
	if media == nil {
		return r.fail(cordon.KindUnsupportedMedia, "request.content-type.undeclared", "header/Content-Type", nil)
	}
	body, e := r.decompress()
	if e != nil {
		return e
	}
	kind := bodyKindOf(mt)
	if cs, ok := params["charset"]; ok && kind != kindOpaque && kind != kindMultipart && !strings.EqualFold(cs, "utf-8") {
		return r.fail(cordon.KindUnsupportedMedia, "request.content-type.charset", "header/Content-Type", nil)
	}
	switch kind {
	case kindJSON:
		return r.jsonBody(body, mt, media)
	case kindForm:
		return r.formBody(body, media)
	case kindMultipart:
		return r.multipartBody(body, params["boundary"], media)
	}
	if !op.opaque[mt] && !op.opaque[media.key] {
		return r.fail(cordon.KindUnsupportedMedia, "request.content-type.opaque", "header/Content-Type", nil)
	}
	r.body = body
	r.contentType = mime.FormatMediaType(mt, params)
	return nil
}

// decompress applies an allowed Content-Encoding within the size and ratio
// limits; the body is forwarded decompressed.
func (r *reqCheck) decompress() ([]byte, *cordon.Error) {
	op, m := r.op, r.m
	ces := m.Request.Header["Content-Encoding"]
	if len(ces) == 0 {
		return m.Body, nil
	}
	enc := strings.ToLower(strings.TrimSpace(ces[0]))
	if len(ces) > 1 || strings.Contains(enc, ",") {
		return nil, r.fail(cordon.KindUnsupportedMedia, "request.content-encoding.unsupported", "header/Content-Encoding", nil)
	}
	if enc == "identity" {
		return m.Body, nil
	}
	if !op.encodings[enc] {
		return nil, r.fail(cordon.KindUnsupportedMedia, "request.content-encoding.unsupported", "header/Content-Encoding", nil)
	}
	var zr io.Reader
	var err error
	switch enc {
	case "gzip":
		zr, err = gzip.NewReader(bytes.NewReader(m.Body))
	case "deflate":
		zr, err = zlib.NewReader(bytes.NewReader(m.Body))
	}
	if err != nil {
		return nil, r.fail(cordon.KindInvalid, "request.content-encoding.corrupt", "body", err)
	}
	limit := op.limits.body
	if byRatio := int64(len(m.Body)) * int64(op.limits.ratio); byRatio < limit {
		limit = byRatio
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, r.fail(cordon.KindInvalid, "request.content-encoding.corrupt", "body", err)
	}
	if int64(len(out)) > limit {
		if limit < op.limits.body {
			return nil, r.fail(cordon.KindTooLarge, "request.body.compression-ratio", "body", nil)
		}
		return nil, r.fail(cordon.KindTooLarge, "request.body.too-large", "body", nil)
	}
	return out, nil
}

func (r *reqCheck) jsonBody(body []byte, mt string, media *mediaSpec) *cordon.Error {
	v, err := jsonstrict.Parse(body, r.op.limits.json)
	if err != nil {
		return r.failErr(jsonError(err, ""))
	}
	if e := r.verify(v, media); e != nil {
		return e
	}
	out, err := jsonstrict.AppendCanonical(make([]byte, 0, len(body)), v)
	if err != nil {
		return r.fail(cordon.KindInvalid, "request.body.canonical", "body", err)
	}
	r.body, r.bodyVal, r.contentType = out, v, mt
	return nil
}

// verify checks a parsed body against the media type's shape and schema.
func (r *reqCheck) verify(v any, media *mediaSpec) *cordon.Error {
	w := shapeWalk{allowUndeclared: r.op.allowProps}
	if viol := w.check(v, media.shape); viol != nil {
		return r.fail(cordon.KindInvalid, "request.body."+viol.kind, viol.pointer, nil)
	}
	if media.schema != nil {
		if err := media.schema.Validate(v); err != nil {
			return r.fail(cordon.KindInvalid, "request.body.schema", schemaPointer(err), err)
		}
	}
	return nil
}

func (r *reqCheck) formBody(body []byte, media *mediaSpec) *cordon.Error {
	if !utf8.Valid(body) {
		return r.fail(cordon.KindInvalid, "request.body.bad-utf8", "body", nil)
	}
	pairs, e := parseForm(string(body), "body", r.op.limits.params, nil)
	if e != nil {
		return r.failErr(e)
	}
	if len(pairs) == 0 { // "&": canonically no body at all
		if r.op.body.required {
			return r.fail(cordon.KindInvalid, "request.body.missing", "body", nil)
		}
		r.body, r.contentType = nil, ""
		return nil
	}
	obj := map[string]any{}
	for _, p := range pairs {
		if e := addField(obj, p.key, coerce(p.value, media.fieldTypes(p.key)), media); e != nil {
			return r.failErr(e)
		}
	}
	if e := r.verify(obj, media); e != nil {
		return e
	}
	r.body = []byte(encodeForm(pairs))
	r.bodyVal, r.contentType = obj, "application/x-www-form-urlencoded"
	return nil
}

// fieldTypes returns the declared types of a form field (for arrays, of
// its items).
func (m *mediaSpec) fieldTypes(name string) typeSet {
	return m.fields[name]
}

// addField adds a form or multipart field; repeated names make an array
// only where the schema declares one.
func addField(obj map[string]any, name string, v any, media *mediaSpec) *cordon.Error {
	prev, seen := obj[name]
	isArray := media.arrays[name]
	switch {
	case isArray && !seen:
		obj[name] = []any{v}
	case isArray:
		obj[name] = append(prev.([]any), v)
	case seen:
		return invalid("request.body.duplicate", "/"+ptrEscape(name))
	default:
		obj[name] = v
	}
	return nil
}

func (r *reqCheck) multipartBody(body []byte, boundary string, media *mediaSpec) *cordon.Error {
	if boundary == "" {
		return r.fail(cordon.KindInvalid, "request.body.multipart", "header/Content-Type", nil)
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	type part struct {
		name, filename, ctype string
		data                  []byte
	}
	var parts []part
	obj := map[string]any{}
	for {
		p, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return r.fail(cordon.KindInvalid, "request.body.multipart", "body", err)
		}
		if len(parts) >= r.op.limits.params {
			return r.fail(cordon.KindInvalid, "request.body.too-many", "body", nil)
		}
		for k := range p.Header {
			if k != "Content-Disposition" && k != "Content-Type" {
				return r.fail(cordon.KindInvalid, "request.body.multipart-header", "body", fmt.Errorf("part header %q", k))
			}
		}
		disp, dparams, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		name := dparams["name"]
		if err != nil || disp != "form-data" || name == "" || len(p.Header["Content-Disposition"]) > 1 {
			return r.fail(cordon.KindInvalid, "request.body.multipart", "body", err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return r.fail(cordon.KindInvalid, "request.body.multipart", "body", err)
		}
		ct := ""
		if cts := p.Header["Content-Type"]; len(cts) > 0 {
			mt, _, err := mime.ParseMediaType(cts[0])
			if err != nil || len(cts) > 1 {
				return r.fail(cordon.KindUnsupportedMedia, "request.body.part-content-type", "/"+ptrEscape(name), err)
			}
			ct = cts[0]
			if want, ok := media.parts[name]; ok && !mediaMatches(want, mt) {
				return r.fail(cordon.KindUnsupportedMedia, "request.body.part-content-type", "/"+ptrEscape(name), nil)
			}
			if bodyKindOf(mt) == kindJSON {
				v, err := jsonstrict.Parse(data, r.op.limits.json)
				if err != nil {
					e := jsonError(err, "/"+ptrEscape(name))
					return r.failErr(e)
				}
				parts = append(parts, part{name, dparams["filename"], ct, data})
				if e := addField(obj, name, v, media); e != nil {
					return r.failErr(e)
				}
				continue
			}
		}
		var v any = ""
		textual := dparams["filename"] == "" && (ct == "" || strings.HasPrefix(strings.ToLower(ct), "text/plain"))
		if textual {
			if !utf8.Valid(data) {
				return r.fail(cordon.KindInvalid, "request.body.bad-utf8", "/"+ptrEscape(name), nil)
			}
			v = coerce(string(data), media.fieldTypes(name))
		}
		// binary parts (files, non-text types) are validated as "" against
		// the schema: presence and type string, not content.
		parts = append(parts, part{name, dparams["filename"], ct, data})
		if e := addField(obj, name, v, media); e != nil {
			return r.failErr(e)
		}
	}
	if e := r.verify(obj, media); e != nil {
		return e
	}
	sum := sha256.Sum256(body)
	var out bytes.Buffer
	w := multipart.NewWriter(&out)
	nb := "cordon-" + hex.EncodeToString(sum[:16])
	if err := w.SetBoundary(nb); err != nil {
		return r.fail(cordon.KindInternal, "request.body.multipart", "body", err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		dp := map[string]string{"name": p.name}
		if p.filename != "" {
			dp["filename"] = p.filename
		}
		h.Set("Content-Disposition", mime.FormatMediaType("form-data", dp))
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		pw, err := w.CreatePart(h)
		if err == nil {
			_, err = pw.Write(p.data)
		}
		if err != nil {
			return r.fail(cordon.KindInternal, "request.body.multipart", "body", err)
		}
	}
	if err := w.Close(); err != nil {
		return r.fail(cordon.KindInternal, "request.body.multipart", "body", err)
	}
	r.body, r.bodyVal = out.Bytes(), obj
	r.contentType = "multipart/form-data; boundary=" + nb
	return nil
}

// mediaMatches reports whether a declared contentType list (comma
// separated, wildcards allowed) admits mt.
func mediaMatches(declared, mt string) bool {
	for d := range strings.SplitSeq(declared, ",") {
		d = strings.TrimSpace(d)
		if i := strings.IndexByte(d, ';'); i >= 0 {
			d = strings.TrimSpace(d[:i])
		}
		if d == mt || d == "*/*" || strings.HasSuffix(d, "/*") && strings.HasPrefix(mt, d[:len(d)-1]) {
			return true
		}
	}
	return false
}
