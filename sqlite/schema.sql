-- cordon embedded audit store, schema version 2 (version 1 differed only
-- in "PRIMARY KEY (bus, seq, msg_time)) WITHOUT ROWID" for the records
-- table; this package reads and writes both).
CREATE TABLE meta (
	singleton      INTEGER PRIMARY KEY CHECK (singleton = 1),
	log_id         TEXT    NOT NULL,
	schema_version INTEGER NOT NULL,
	created        INTEGER NOT NULL
);

-- Times are microseconds since the epoch (UTC), the precision every store keeps.
CREATE TABLE records (
	bus             INTEGER NOT NULL CHECK (bus BETWEEN 1 AND 4),
	seq             INTEGER NOT NULL CHECK (seq > 0),
	msg_time        INTEGER NOT NULL,
	subject         TEXT    NOT NULL,
	request_id      BLOB,
	producer        INTEGER NOT NULL,
	expected        INTEGER NOT NULL,
	sig             INTEGER NOT NULL,
	key_id          BLOB    NOT NULL,
	signature       BLOB    NOT NULL,
	envelope_sha256 BLOB    NOT NULL,
	envelope_len    INTEGER NOT NULL,
	envelope        BLOB,
	deadline        INTEGER,
	expired         INTEGER NOT NULL,
	method          TEXT    NOT NULL,
	path            TEXT    NOT NULL,
	query           TEXT    NOT NULL,
	host            TEXT    NOT NULL,
	client          TEXT    NOT NULL,
	operation       TEXT    NOT NULL,
	status          INTEGER NOT NULL,
	req_header      TEXT    NOT NULL,
	resp_header     TEXT    NOT NULL,
	outcome         INTEGER NOT NULL,
	outcome_rule    TEXT    NOT NULL,
	outcome_pointer TEXT    NOT NULL,
	policy_version  TEXT    NOT NULL,
	findings        TEXT    NOT NULL,
	traceparent     TEXT    NOT NULL,
	capture         INTEGER NOT NULL,
	body            BLOB,
	body_sha256     BLOB    NOT NULL,
	body_len        INTEGER NOT NULL,
	masked          INTEGER NOT NULL,
	leaf            BLOB    NOT NULL,
	UNIQUE (bus, seq, msg_time)
);
CREATE INDEX records_request_id ON records (request_id);
CREATE INDEX records_time ON records (msg_time);

CREATE TABLE checkpoints (
	bus       INTEGER NOT NULL CHECK (bus BETWEEN 1 AND 4),
	size      INTEGER NOT NULL,
	prev_size INTEGER NOT NULL,
	first_seq INTEGER NOT NULL,
	last_seq  INTEGER NOT NULL,
	last_time INTEGER,
	root      BLOB    NOT NULL,
	frontier  BLOB    NOT NULL,
	note      TEXT    NOT NULL,
	created   INTEGER NOT NULL,
	PRIMARY KEY (bus, size),
	UNIQUE (bus, prev_size),
	CHECK (size > prev_size)
);

CREATE TABLE boundaries (
	bus       INTEGER NOT NULL CHECK (bus BETWEEN 1 AND 4),
	size      INTEGER NOT NULL,
	prev_size INTEGER NOT NULL,
	before    INTEGER NOT NULL,
	first_seq INTEGER NOT NULL,
	last_seq  INTEGER NOT NULL,
	last_time INTEGER,
	root      BLOB    NOT NULL,
	frontier  BLOB    NOT NULL,
	note      TEXT    NOT NULL,
	created   INTEGER NOT NULL,
	PRIMARY KEY (bus, size)
);

CREATE TABLE retentions (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	cut        INTEGER NOT NULL,
	partitions TEXT    NOT NULL,
	dropped    INTEGER NOT NULL,
	at         INTEGER NOT NULL
);

-- Append-only. A record may be deleted only when a signed boundary of its
-- bus already stands in for it (retention).
CREATE TRIGGER records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'cordon audit: UPDATE on records refused: the audit trail is append-only'); END;
CREATE TRIGGER records_no_delete BEFORE DELETE ON records
WHEN NOT EXISTS (SELECT 1 FROM boundaries b WHERE b.bus = OLD.bus AND OLD.seq < b.first_seq AND OLD.msg_time < b.before)
BEGIN SELECT RAISE(ABORT, 'cordon audit: DELETE on records refused: the audit trail is append-only'); END;

CREATE TRIGGER checkpoints_no_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'cordon audit: UPDATE on checkpoints refused: the audit trail is append-only'); END;
CREATE TRIGGER checkpoints_no_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'cordon audit: DELETE on checkpoints refused: the audit trail is append-only'); END;
CREATE TRIGGER boundaries_no_update BEFORE UPDATE ON boundaries
BEGIN SELECT RAISE(ABORT, 'cordon audit: UPDATE on boundaries refused: the audit trail is append-only'); END;
CREATE TRIGGER boundaries_no_delete BEFORE DELETE ON boundaries
BEGIN SELECT RAISE(ABORT, 'cordon audit: DELETE on boundaries refused: the audit trail is append-only'); END;
CREATE TRIGGER retentions_no_update BEFORE UPDATE ON retentions
BEGIN SELECT RAISE(ABORT, 'cordon audit: UPDATE on retentions refused: the audit trail is append-only'); END;
CREATE TRIGGER retentions_no_delete BEFORE DELETE ON retentions
BEGIN SELECT RAISE(ABORT, 'cordon audit: DELETE on retentions refused: the audit trail is append-only'); END;
CREATE TRIGGER meta_no_update BEFORE UPDATE ON meta
BEGIN SELECT RAISE(ABORT, 'cordon audit: UPDATE on meta refused: the audit trail is append-only'); END;
CREATE TRIGGER meta_no_delete BEFORE DELETE ON meta
BEGIN SELECT RAISE(ABORT, 'cordon audit: DELETE on meta refused: the audit trail is append-only'); END;
