package sqlite

// Exposed to the tamperer in the black-box tests.
var (
	Schema       = schema
	RecordValues = recordValues
	InsertRecord = insertRecord
)
