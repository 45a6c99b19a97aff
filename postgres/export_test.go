package postgres

// Exposed to the tamperer in the black-box tests.
var (
	RecordCols   = recordCols
	RecordValues = recordValues
	// MigrateTo builds the schema of an earlier release.
	MigrateTo = migrate
)
