package dlp

// Card numbers: 13 to 19 digits, either in one run or in groups of 3 to 6
// digits split by single spaces or single dashes (the same separator
// throughout), not glued to letters, digits or a decimal point, passing the
// Luhn check, with a known IIN prefix for that length.

const (
	minCardDigits = 13
	maxCardDigits = 19
)

func isCardSep(c byte) bool { return c == ' ' || c == '-' }

// findCards probes every 13th byte: a card spans at least 13 bytes of
// digits and separators, so it covers a probe. Around a probe that can be
// part of one it takes the whole run of digits and separators once.
func findCards(b []byte, emit func(int, int)) {
	for i := minCardDigits - 1; i < len(b); {
		c := b[i]
		inCard := isDigit(c) || isCardSep(c) && (i > 0 && isDigit(b[i-1]) || i+1 < len(b) && isDigit(b[i+1]))
		if !inCard {
			i += minCardDigits
			continue
		}
		lo, hi := i, i
		for lo > 0 && (isDigit(b[lo-1]) || isCardSep(b[lo-1])) {
			lo--
		}
		for hi < len(b) && (isDigit(b[hi]) || isCardSep(b[hi])) {
			hi++
		}
		cardsIn(b, lo, hi, emit)
		i = hi + minCardDigits // b[hi] is no card byte, so a later card starts after it
	}
}

type span struct{ start, end int }

// cardsIn finds cards in b[lo:hi], a run of digits and separators: for
// each digit group it takes the longest valid chain of groups starting
// there.
func cardsIn(b []byte, lo, hi int, emit func(int, int)) {
	var stack [32]span
	groups := stack[:0]
	for i := lo; i < hi; {
		if !isDigit(b[i]) {
			i++
			continue
		}
		j := i
		for j < hi && isDigit(b[j]) {
			j++
		}
		groups = append(groups, span{i, j})
		i = j
	}
	for i := 0; i < len(groups); {
		best := -1
		digits := 0
		var sep byte
		for j := i; j < len(groups); j++ {
			n := groups[j].end - groups[j].start
			if j > i {
				gap := b[groups[j-1].end:groups[j].start]
				if len(gap) != 1 || sep != 0 && gap[0] != sep {
					break
				}
				sep = gap[0]
				if !groupSize(groups[i]) || !groupSize(groups[j]) {
					break
				}
			}
			digits += n
			if digits > maxCardDigits {
				break
			}
			if digits >= minCardDigits && cardBoundary(b, groups[i].start, groups[j].end) &&
				validCard(b[groups[i].start:groups[j].end]) {
				best = j
			}
		}
		if best < 0 {
			i++
			continue
		}
		emit(groups[i].start, groups[best].end)
		i = best + 1
	}
}

func groupSize(g span) bool { n := g.end - g.start; return n >= 3 && n <= 6 }

// cardBoundary rejects digits glued to a word or forming part of a
// decimal number ("0.4111…", "4111….5").
func cardBoundary(b []byte, start, end int) bool {
	if start > 0 {
		p := b[start-1]
		if isWord(p) || p == '.' && start > 1 && isDigit(b[start-2]) {
			return false
		}
	}
	if end < len(b) {
		n := b[end]
		if isWord(n) || n == '.' && end+1 < len(b) && isDigit(b[end+1]) {
			return false
		}
	}
	return true
}

// validCard checks Luhn and the IIN table on the digits of b.
func validCard(b []byte) bool {
	var buf [maxCardDigits]byte
	d := buf[:0]
	for _, c := range b {
		if isDigit(c) {
			d = append(d, c-'0')
		}
	}
	return luhn(d) && knownIIN(d)
}

func luhn(d []byte) bool {
	sum := 0
	for i := len(d) - 1; i >= 0; i -= 2 {
		sum += int(d[i])
		if i > 0 {
			x := int(d[i-1]) * 2
			if x > 9 {
				x -= 9
			}
			sum += x
		}
	}
	return sum%10 == 0
}

// knownIIN reports whether the digits d start with an issuer prefix of a
// major network that issues numbers of length len(d).
func knownIIN(d []byte) bool {
	n := len(d)
	p := func(k int) int {
		v := 0
		for _, x := range d[:k] {
			v = v*10 + int(x)
		}
		return v
	}
	p2, p3, p4 := p(2), p(3), p(4)
	between := func(v, lo, hi int) bool { return v >= lo && v <= hi }
	switch {
	case d[0] == 4: // Visa
		return n == 13 || n == 16 || n == 19
	case between(p2, 51, 55), between(p4, 2221, 2720): // Mastercard
		return n == 16
	case p2 == 34, p2 == 37: // American Express
		return n == 15
	case p4 == 6011, between(p3, 644, 649), p2 == 65, p2 == 62: // Discover, UnionPay
		return n >= 16
	case between(p3, 300, 305), p2 == 36, p2 == 38, p2 == 39: // Diners Club
		return n >= 14
	case between(p4, 3528, 3589): // JCB
		return n >= 16
	case between(p4, 2200, 2204): // Mir
		return n >= 16
	case p4 == 5018, p4 == 5020, p4 == 5038, p4 == 5893, p4 == 6304, p4 == 6759, between(p4, 6761, 6763): // Maestro
		return true
	}
	return false
}
