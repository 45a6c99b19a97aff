//go:build !chaosfault

package bus

import "github.com/cordon-gateway/cordon"

// injectedFault is the chaos tests' poison hook; a normal build has none.
func injectedFault(cordon.Bus, *cordon.Message) error { return nil }
