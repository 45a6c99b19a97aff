//go:build chaosfault

package bus

import (
	"errors"
	"strings"

	"github.com/cordon-gateway/cordon"
)

// injectedFault fails every delivery of the poison request to the stage
// reading bus 1 (see PoisonPathSuffix).
func injectedFault(b cordon.Bus, m *cordon.Message) error {
	if b == cordon.BusDirtyReq && strings.HasSuffix(m.Request.Path, PoisonPathSuffix) {
		return errors.New("injected fault (chaosfault build)")
	}
	return nil
}
