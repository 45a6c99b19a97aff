package freeport

import (
	"net"
	"testing"
)

func TestPickAvoidsTheEphemeralRangeAndRepeats(t *testing.T) {
	elo, ehi := ephemeralRange()
	seen := map[int]bool{}
	for range 300 {
		p, err := Pick()
		if err != nil {
			t.Fatal(err)
		}
		if p >= elo && p <= ehi && ehi-elo < 65535-minGap {
			t.Fatalf("port %d is in the ephemeral range %d-%d", p, elo, ehi)
		}
		if seen[p] {
			t.Fatalf("port %d given twice", p)
		}
		seen[p] = true
	}
	// What Pick returned can be bound.
	a, err := Addr()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", a)
	if err != nil {
		t.Fatalf("Addr gave %s, which cannot be bound: %v", a, err)
	}
	ln.Close()
}

func TestRanges(t *testing.T) {
	for _, c := range []struct {
		elo, ehi, from, to int
	}{
		{32768, 60999, low, 32767},   // Linux default: below
		{10500, 50000, 50001, 65535}, // more room above
		{1024, 65535, 65536, 65535},  // no room: empty, Pick falls back
	} {
		from, to := pickRange(c.elo, c.ehi)
		if from != c.from || to != c.to {
			t.Errorf("pickRange(%d, %d) = %d-%d, want %d-%d", c.elo, c.ehi, from, to, c.from, c.to)
		}
	}
	for in, ok := range map[string]bool{"32768\t60999\n": true, "1 2": true, "": false, "5 4": false, "0 10": false, "1 70000": false, "a b": false, "1 2 3": false} {
		if _, _, err := parseRange(in); (err == nil) != ok {
			t.Errorf("parseRange(%q): err %v, want ok %t", in, err, ok)
		}
	}
}
