package jsonstrict

import (
	"math"
	"strconv"
)

// maxExactInt is 2^53: every integer of at most this magnitude is exact in
// float64, and 2^53+1 is the first that is not.
const maxExactInt = 1 << 53

// scanNumber scans the RFC 8259 number at the start of b and returns its
// length. On failure it returns a rule and the offset (in b) of the problem.
// It never looks further than max+1 bytes into a digit run.
func scanNumber(b []byte, max int) (int, string) {
	i := 0
	digits := func() bool { // at least one digit; false when over max
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			if i > max {
				return false
			}
		}
		return true
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return i, RuleSyntax
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		if !digits() {
			return 0, RuleNumberLength
		}
	default:
		return i, RuleSyntax
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, RuleSyntax
		}
		if !digits() {
			return 0, RuleNumberLength
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return i, RuleSyntax
		}
		if !digits() {
			return 0, RuleNumberLength
		}
	}
	if i > max {
		return 0, RuleNumberLength
	}
	return i, ""
}

// isIntLiteral reports whether the (valid) literal s has neither fraction
// nor exponent.
func isIntLiteral(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', 'e', 'E':
			return false
		}
	}
	return true
}

// checkNumber applies the number rules of the package comment to the valid
// literal s and returns its float64 value.
func checkNumber(s string) (float64, string) {
	if isIntLiteral(s) {
		digits := len(s)
		if s[0] == '-' {
			digits--
		}
		switch {
		case digits <= 15: // < 10^15 < 2^53
			n, _ := strconv.ParseInt(s, 10, 64)
			return float64(n), ""
		case digits == 16:
			n, _ := strconv.ParseInt(s, 10, 64)
			if n > maxExactInt || n < -maxExactInt {
				return 0, RuleNumberPrecision
			}
			return float64(n), ""
		}
		if f, _ := strconv.ParseFloat(s, 64); math.IsInf(f, 0) {
			return 0, RuleNumberOverflow
		}
		return 0, RuleNumberPrecision
	}
	f, err := strconv.ParseFloat(s, 64)
	if math.IsInf(f, 0) {
		return 0, RuleNumberOverflow
	}
	if err != nil || !exact(s, f) {
		return 0, RuleNumberPrecision
	}
	return f, ""
}

// exact reports whether the decimal literal s is numerically equal to the
// shortest decimal representation of f, its nearest float64.
func exact(s string, f float64) bool {
	var bufS, bufF [64]byte
	ds := decimalOf(s, bufS[:0])
	if f == 0 {
		return len(ds.digits) == 0 // a non-zero literal underflowed
	}
	var t [32]byte
	df := decimalOf(string(strconv.AppendFloat(t[:0], f, 'e', -1, 64)), bufF[:0])
	return ds.neg == df.neg && ds.exp == df.exp && string(ds.digits) == string(df.digits)
}

// decimal is 0.digits × 10^exp, digits without leading or trailing zeros
// (empty for zero).
type decimal struct {
	neg    bool
	digits []byte
	exp    int
}

// decimalOf normalises the valid JSON number literal s.
func decimalOf(s string, buf []byte) decimal {
	var d decimal
	i := 0
	if s[0] == '-' {
		d.neg = true
		i++
	}
	intDigits := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		buf = append(buf, s[i])
		intDigits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			buf = append(buf, s[i])
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		neg := false
		switch s[i] {
		case '-':
			neg = true
			i++
		case '+':
			i++
		}
		const saturate = 1 << 30 // far beyond float64; keeps the sums from overflowing
		for ; i < len(s); i++ {
			exp = min(exp*10+int(s[i]-'0'), saturate)
		}
		if neg {
			exp = -exp
		}
	}
	lead := 0
	for lead < len(buf) && buf[lead] == '0' {
		lead++
	}
	buf = buf[lead:]
	for len(buf) > 0 && buf[len(buf)-1] == '0' {
		buf = buf[:len(buf)-1]
	}
	d.digits = buf
	d.exp = intDigits - lead + exp
	if len(buf) == 0 {
		d.neg, d.exp = false, 0
	}
	return d
}
