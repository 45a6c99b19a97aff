package trail

import (
	"errors"
	"time"
)

// Errors every audit store returns for the same conditions, so the audit
// role can tell them apart whichever store it runs on.
var (
	// ErrConflict: another writer extended the log first; nothing was stored.
	ErrConflict = errors.New("audit store: another writer extended the log first")
	// ErrNotMigrated: the schema is missing or older than this binary.
	ErrNotMigrated = errors.New("audit store: schema missing or out of date (run `cordon audit migrate`)")
)

// Partition is a time range of records that retention removes as a whole.
type Partition struct {
	Name     string
	From, To time.Time // stream time in [From, To)
}

// MonthStart is the first instant of t's month in UTC: stores partition
// records by calendar month of their stream time.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}
