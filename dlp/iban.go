package dlp

// IBANs: two upper-case letters of a country that uses IBANs, two check
// digits (02-98), then a BBAN of upper-case letters and digits, of exactly
// the country's length; compact or in groups of four split by single
// spaces; not glued to other word characters; mod-97 remainder 1.

// ibanLengths is the IBAN length per country (SWIFT IBAN registry).
var ibanLengths = map[[2]byte]int{
	{'A', 'D'}: 24, {'A', 'E'}: 23, {'A', 'L'}: 28, {'A', 'T'}: 20, {'A', 'Z'}: 28,
	{'B', 'A'}: 20, {'B', 'E'}: 16, {'B', 'G'}: 22, {'B', 'H'}: 22, {'B', 'I'}: 27,
	{'B', 'R'}: 29, {'B', 'Y'}: 28, {'C', 'H'}: 21, {'C', 'R'}: 22, {'C', 'Y'}: 28,
	{'C', 'Z'}: 24, {'D', 'E'}: 22, {'D', 'J'}: 27, {'D', 'K'}: 18, {'D', 'O'}: 28,
	{'E', 'E'}: 20, {'E', 'G'}: 29, {'E', 'S'}: 24, {'F', 'I'}: 18, {'F', 'K'}: 18,
	{'F', 'O'}: 18, {'F', 'R'}: 27, {'G', 'B'}: 22, {'G', 'E'}: 22, {'G', 'I'}: 23,
	{'G', 'L'}: 18, {'G', 'R'}: 27, {'G', 'T'}: 28, {'H', 'R'}: 21, {'H', 'U'}: 28,
	{'I', 'E'}: 22, {'I', 'L'}: 23, {'I', 'Q'}: 23, {'I', 'S'}: 26, {'I', 'T'}: 27,
	{'J', 'O'}: 30, {'K', 'W'}: 30, {'K', 'Z'}: 20, {'L', 'B'}: 28, {'L', 'C'}: 32,
	{'L', 'I'}: 21, {'L', 'T'}: 20, {'L', 'U'}: 20, {'L', 'V'}: 21, {'L', 'Y'}: 25,
	{'M', 'C'}: 27, {'M', 'D'}: 24, {'M', 'E'}: 22, {'M', 'K'}: 19, {'M', 'N'}: 20,
	{'M', 'R'}: 27, {'M', 'T'}: 31, {'M', 'U'}: 30, {'N', 'I'}: 28, {'N', 'L'}: 18,
	{'N', 'O'}: 15, {'O', 'M'}: 23, {'P', 'K'}: 24, {'P', 'L'}: 28, {'P', 'S'}: 29,
	{'P', 'T'}: 25, {'Q', 'A'}: 29, {'R', 'O'}: 24, {'R', 'S'}: 22, {'R', 'U'}: 33,
	{'S', 'A'}: 24, {'S', 'C'}: 31, {'S', 'D'}: 18, {'S', 'E'}: 24, {'S', 'I'}: 19,
	{'S', 'K'}: 24, {'S', 'M'}: 27, {'S', 'O'}: 23, {'S', 'T'}: 25, {'S', 'V'}: 28,
	{'T', 'L'}: 23, {'T', 'N'}: 24, {'T', 'R'}: 26, {'U', 'A'}: 29, {'V', 'A'}: 22,
	{'V', 'G'}: 24, {'X', 'K'}: 20, {'Y', 'E'}: 30,
}

const (
	minIBAN = 15 // Norway
	maxIBAN = 34
)

func isIBANChar(c byte) bool { return isUpper(c) || isDigit(c) }

// findIBANs probes every 15th byte, like findCards.
func findIBANs(b []byte, emit func(int, int)) {
	for i := minIBAN - 1; i < len(b); {
		c := b[i]
		in := isIBANChar(c) || c == ' ' && i > 0 && isIBANChar(b[i-1]) && i+1 < len(b) && isIBANChar(b[i+1])
		if !in {
			i += minIBAN
			continue
		}
		lo, hi := i, i
		for lo > 0 && (isIBANChar(b[lo-1]) || b[lo-1] == ' ') {
			lo--
		}
		for hi < len(b) && (isIBANChar(b[hi]) || b[hi] == ' ') {
			hi++
		}
		ibansIn(b, lo, hi, emit)
		i = hi + minIBAN
	}
}

func ibansIn(b []byte, lo, hi int, emit func(int, int)) {
	for p := lo; p+minIBAN <= hi; p++ {
		if !isUpper(b[p]) || !isUpper(b[p+1]) || !isDigit(b[p+2]) || !isDigit(b[p+3]) ||
			p > 0 && isWord(b[p-1]) {
			continue
		}
		n := ibanLengths[[2]byte{b[p], b[p+1]}]
		if n == 0 {
			continue
		}
		if end, ok := ibanAt(b, p, n); ok {
			emit(p, end)
			p = end - 1
		}
	}
}

// ibanAt reads an IBAN of n characters at b[p:], compact or grouped by
// four, and returns where it ends if it is one.
func ibanAt(b []byte, p, n int) (int, bool) {
	var buf [maxIBAN]byte
	for _, grouped := range []bool{false, true} {
		chars := buf[:0]
		q := p
		for len(chars) < n {
			if grouped && len(chars) > 0 && len(chars)%4 == 0 {
				if q >= len(b) || b[q] != ' ' {
					break
				}
				q++
			}
			if q >= len(b) || !isIBANChar(b[q]) {
				break
			}
			chars = append(chars, b[q])
			q++
		}
		if len(chars) == n && (q == len(b) || !isWord(b[q])) && validIBAN(chars) {
			return q, true
		}
	}
	return 0, false
}

// validIBAN checks the check digits' range and the ISO 7064 mod-97-10
// remainder of the rearranged IBAN.
func validIBAN(s []byte) bool {
	if cd := int(s[2]-'0')*10 + int(s[3]-'0'); cd < 2 || cd > 98 {
		return false
	}
	rem := 0
	for i := range s {
		c := s[(i+4)%len(s)]
		if isDigit(c) {
			rem = (rem*10 + int(c-'0')) % 97
		} else {
			rem = (rem*100 + int(c-'A') + 10) % 97
		}
	}
	return rem == 1
}
