package audit

import (
	"strings"

	"github.com/cordon-gateway/cordon"
)

// IsFinal reports whether a record on bus b with the given subject is a
// terminal record: the frontend's signed statement of how it answered a
// request on its own after handing it to bus 1 (504 deadline, 503
// bus.dirty-req, 499 when the client went away). Terminal records travel on
// bus 1's final subject, P.dirty-req.final (bus/subjects.go); the frontend
// must have signed them (ExpectedProducer), so a forged one is recorded as
// refused like any other forgery.
func IsFinal(b cordon.Bus, subject string) bool {
	return b == cordon.BusDirtyReq && strings.HasSuffix(subject, ".final") &&
		strings.Count(subject, ".") == 2
}
