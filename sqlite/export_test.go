package sqlite

import "github.com/cordon-gateway/cordon/audit/trail"

// Exposed to the tamperer in the black-box tests.
var (
	Schema       = schema
	RecordValues = func(r *trail.Record) []any { return appendRecordValues(nil, r) }
	InsertRecord = insertRecords(1)
)
