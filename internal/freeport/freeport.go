// Package freeport picks TCP ports on 127.0.0.1 for listeners that will be
// opened later, by a child process or after a configuration naming them is
// written.
//
// Asking the kernel for port 0 and closing the listener, the usual trick,
// returns a port from the ephemeral range: the range the kernel also hands
// to every outgoing connection. Between the pick and the child's bind, a
// connection made by anything on the machine (another test package running
// in parallel, a database client) can take that port, and the child then
// fails to listen, or clients reach the wrong socket. Pick chooses below
// (or above) that range instead, where only explicit binds go, checks the
// port can be bound, and never returns the same port twice in one process.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// The range Pick draws from when the ephemeral range leaves room below it:
// ports from low up to the start of the ephemeral range.
const low = 10000

// minGap is the smallest range worth drawing from; with less, Pick falls
// back to the kernel's choice.
const minGap = 1000

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Pick returns a TCP port that could be bound on 127.0.0.1 when asked,
// outside the kernel's ephemeral port range, and not returned before by
// this process.
func Pick() (int, error) {
	from, to := pickRange(ephemeralRange())
	mu.Lock()
	defer mu.Unlock()
	if to-from < minGap {
		return kernelPick()
	}
	for range 200 {
		p := from + rand.IntN(to-from+1)
		if given[p] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue // taken
		}
		ln.Close()
		given[p] = true
		return p, nil
	}
	return 0, fmt.Errorf("freeport: no free port found in %d-%d", from, to)
}

// Addr is Pick as a host:port on 127.0.0.1.
func Addr() (string, error) {
	p, err := Pick()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// kernelPick is the fallback where the ephemeral range leaves no room:
// the kernel's choice, still never the same port twice.
func kernelPick() (int, error) {
	for range 200 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if !given[p] {
			given[p] = true
			return p, nil
		}
	}
	return 0, errors.New("freeport: the kernel keeps offering ports already given")
}

// pickRange returns the ports to draw from, given the ephemeral range
// [elo, ehi]: the larger of the gaps below and above it.
func pickRange(elo, ehi int) (int, int) {
	below := elo - 1 - low
	above := 65535 - (ehi + 1)
	if below >= above {
		return low, elo - 1
	}
	return ehi + 1, 65535
}

// ephemeralRange reads Linux's ip_local_port_range; elsewhere, or if it
// cannot be read, it assumes Linux's default.
func ephemeralRange() (int, int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768, 60999
	}
	lo, hi, err := parseRange(string(b))
	if err != nil {
		return 32768, 60999
	}
	return lo, hi
}

func parseRange(s string) (int, int, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, errors.New("want two numbers")
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("bad range %q", s)
	}
	return lo, hi, nil
}
