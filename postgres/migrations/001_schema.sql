-- cordon audit schema, version 1.
--
-- Placeholders in double braces are role names, substituted (quoted) by
-- the migration runner. Run as a superuser (or a role that may create roles
-- and is a member of the owner role).

-- Roles. All NOLOGIN: operators grant them to login users
-- (`cordon audit migrate --grant-writer USER`, ...).
--   owner      owns every object; nobody logs in as it.
--   writer     the shipper: INSERT records and checkpoints, read chain heads.
--   reader     verify, trace, search, export, tail: SELECT only.
--   retention  `cordon audit retain`: reads, adds boundaries, detaches partitions
--              through one SECURITY DEFINER function.
DO $roles$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{owner_lit}}) THEN
		CREATE ROLE {{owner}} NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{writer_lit}}) THEN
		CREATE ROLE {{writer}} NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{reader_lit}}) THEN
		CREATE ROLE {{reader}} NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {{retention_lit}}) THEN
		CREATE ROLE {{retention}} NOLOGIN;
	END IF;
END
$roles$;

CREATE SCHEMA cordon_audit AUTHORIZATION {{owner}};
REVOKE ALL ON SCHEMA cordon_audit FROM PUBLIC;

SET LOCAL ROLE {{owner}};

CREATE TABLE cordon_audit.schema_migrations (
	version integer PRIMARY KEY,
	applied timestamptz NOT NULL DEFAULT now()
);

-- One row: the id that names this database's logs in every checkpoint.
CREATE TABLE cordon_audit.meta (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	log_id uuid NOT NULL DEFAULT gen_random_uuid(),
	created timestamptz NOT NULL DEFAULT now()
);
INSERT INTO cordon_audit.meta DEFAULT VALUES;

-- Every message of every bus. The key includes the partition column, and
-- that column is the stream's time for the message (the same on every
-- redelivery), never insert time: a redelivered message hits the same key.
CREATE TABLE cordon_audit.records (
	bus             smallint    NOT NULL CHECK (bus BETWEEN 1 AND 4),
	seq             bigint      NOT NULL CHECK (seq > 0),
	msg_time        timestamptz NOT NULL,
	subject         text        NOT NULL,
	request_id      uuid,
	producer        smallint    NOT NULL,
	expected        smallint    NOT NULL,
	sig             smallint    NOT NULL,
	key_id          bytea       NOT NULL,
	signature       bytea       NOT NULL,
	envelope_sha256 bytea       NOT NULL,
	envelope_len    bigint      NOT NULL,
	envelope        bytea,
	deadline        timestamptz,
	expired         boolean     NOT NULL,
	method          text        NOT NULL,
	path            text        NOT NULL,
	query           text        NOT NULL,
	host            text        NOT NULL,
	client          text        NOT NULL,
	operation       text        NOT NULL,
	status          integer     NOT NULL,
	req_header      text        NOT NULL,
	resp_header     text        NOT NULL,
	outcome         smallint    NOT NULL,
	outcome_rule    text        NOT NULL,
	outcome_pointer text        NOT NULL,
	policy_version  text        NOT NULL,
	findings        text        NOT NULL,
	traceparent     text        NOT NULL,
	capture         smallint    NOT NULL,
	body            bytea,
	body_sha256     bytea       NOT NULL,
	body_len        bigint      NOT NULL,
	masked          integer     NOT NULL,
	leaf            bytea       NOT NULL,
	PRIMARY KEY (bus, seq, msg_time)
) PARTITION BY RANGE (msg_time);
CREATE INDEX records_request_id ON cordon_audit.records (request_id);
CREATE INDEX records_time ON cordon_audit.records (msg_time);

-- Signed checkpoints, one per committed batch: the chain heads. Each
-- extends exactly one predecessor (UNIQUE prev_size), so two writers can
-- never fork a bus's log.
CREATE TABLE cordon_audit.checkpoints (
	bus       smallint    NOT NULL CHECK (bus BETWEEN 1 AND 4),
	size      bigint      NOT NULL,
	prev_size bigint      NOT NULL,
	first_seq bigint      NOT NULL,
	last_seq  bigint      NOT NULL,
	last_time timestamptz,
	root      bytea       NOT NULL,
	frontier  bytea       NOT NULL,
	note      text        NOT NULL,
	created   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (bus, size),
	UNIQUE (bus, prev_size),
	CHECK (size > prev_size)
);

-- Signed retention boundaries: the tree as it stood at the last removed record.
CREATE TABLE cordon_audit.boundaries (
	bus       smallint    NOT NULL CHECK (bus BETWEEN 1 AND 4),
	size      bigint      NOT NULL,
	prev_size bigint      NOT NULL,
	before    timestamptz NOT NULL,
	first_seq bigint      NOT NULL,
	last_seq  bigint      NOT NULL,
	last_time timestamptz,
	root      bytea       NOT NULL,
	frontier  bytea       NOT NULL,
	note      text        NOT NULL,
	created   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (bus, size)
);

-- Every retention run.
CREATE TABLE cordon_audit.retentions (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	cut        timestamptz NOT NULL,
	partitions text[]      NOT NULL,
	dropped    boolean     NOT NULL,
	by_user    text        NOT NULL DEFAULT session_user,
	at         timestamptz NOT NULL DEFAULT now()
);

-- Append-only, enforced twice: by privileges (no role but the owner may
-- change a row) and by triggers that refuse UPDATE, DELETE and TRUNCATE for
-- everyone, the owner included. The triggers are ENABLE ALWAYS, so they
-- also fire under session_replication_role = replica.
CREATE FUNCTION cordon_audit.refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
	RAISE EXCEPTION 'cordon audit: % on %.% refused: the audit trail is append-only',
		TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
		USING ERRCODE = 'insufficient_privilege';
END
$fn$;

DO $triggers$
DECLARE
	t text;
BEGIN
	FOREACH t IN ARRAY ARRAY['records', 'checkpoints', 'boundaries', 'retentions', 'meta', 'schema_migrations'] LOOP
		EXECUTE format('CREATE TRIGGER refuse_update_delete BEFORE UPDATE OR DELETE ON cordon_audit.%I
			FOR EACH ROW EXECUTE FUNCTION cordon_audit.refuse_change()', t);
		EXECUTE format('CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON cordon_audit.%I
			FOR EACH STATEMENT EXECUTE FUNCTION cordon_audit.refuse_change()', t);
		EXECUTE format('ALTER TABLE cordon_audit.%I ENABLE ALWAYS TRIGGER refuse_update_delete', t);
		EXECUTE format('ALTER TABLE cordon_audit.%I ENABLE ALWAYS TRIGGER refuse_truncate', t);
	END LOOP;
END
$triggers$;

-- Monthly partitions, created on demand by the writer through this
-- function (it cannot create tables itself). A statement trigger on a
-- partitioned table does not fire for TRUNCATE of one partition, so each
-- partition gets its own.
CREATE FUNCTION cordon_audit.ensure_partition(t timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
AS $fn$
DECLARE
	lo   timestamptz := date_trunc('month', t);
	hi   timestamptz := date_trunc('month', t) + interval '1 month';
	name text := 'records_p' || to_char(date_trunc('month', t), 'YYYYMM');
	rel  regclass;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('cordon_audit.ensure_partition'));
	rel := to_regclass('cordon_audit.' || quote_ident(name));
	IF rel IS NOT NULL THEN
		IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = rel AND inhparent = 'cordon_audit.records'::regclass) THEN
			RAISE EXCEPTION 'cordon audit: % exists but is not a partition of records', name;
		END IF;
		RETURN name;
	END IF;
	EXECUTE format('CREATE TABLE cordon_audit.%I PARTITION OF cordon_audit.records FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
	EXECUTE format('CREATE TRIGGER refuse_truncate BEFORE TRUNCATE ON cordon_audit.%I
		FOR EACH STATEMENT EXECUTE FUNCTION cordon_audit.refuse_change()', name);
	EXECUTE format('ALTER TABLE cordon_audit.%I ENABLE ALWAYS TRIGGER refuse_truncate', name);
	EXECUTE format('ALTER TABLE cordon_audit.%I ENABLE ALWAYS TRIGGER refuse_update_delete', name);
	RETURN name;
END
$fn$;

-- Retention: detach (and optionally drop) every partition that ends at or
-- before cut, but only where a boundary already stands in for each bus's
-- records in it, and record the run.
CREATE FUNCTION cordon_audit.detach_partitions(cut timestamptz, drop_them boolean) RETURNS text[]
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC'
AS $fn$
DECLARE
	p      record;
	hi     timestamptz;
	b      smallint;
	maxseq bigint;
	first  bigint;
	names  text[] := '{}';
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('cordon_audit.ensure_partition'));
	FOR p IN
		SELECT c.relname::text AS name
		FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'cordon_audit.records'::regclass
		ORDER BY c.relname
	LOOP
		hi := to_timestamp(substr(p.name, 10) || '01', 'YYYYMMDD') + interval '1 month';
		CONTINUE WHEN hi > cut;
		FOR b, maxseq IN EXECUTE format('SELECT bus, max(seq) FROM cordon_audit.%I GROUP BY bus', p.name) LOOP
			SELECT max(first_seq) INTO first FROM cordon_audit.boundaries WHERE bus = b AND before >= hi;
			IF first IS NULL OR maxseq >= first THEN
				RAISE EXCEPTION 'cordon audit: no signed boundary covers bus % in partition %', b, p.name;
			END IF;
		END LOOP;
		EXECUTE format('ALTER TABLE cordon_audit.records DETACH PARTITION cordon_audit.%I', p.name);
		IF drop_them THEN
			EXECUTE format('DROP TABLE cordon_audit.%I', p.name);
		ELSE
			EXECUTE format('ALTER TABLE cordon_audit.%I RENAME TO %I', p.name,
				p.name || '_detached_' || to_char(now(), 'YYYYMMDDHH24MISS'));
		END IF;
		names := names || p.name;
	END LOOP;
	INSERT INTO cordon_audit.retentions (cut, partitions, dropped) VALUES (cut, names, drop_them);
	RETURN names;
END
$fn$;

REVOKE ALL ON FUNCTION cordon_audit.ensure_partition(timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION cordon_audit.detach_partitions(timestamptz, boolean) FROM PUBLIC;

RESET ROLE;

GRANT USAGE ON SCHEMA cordon_audit TO {{writer}}, {{reader}}, {{retention}};

GRANT INSERT ON cordon_audit.records, cordon_audit.checkpoints TO {{writer}};
GRANT SELECT ON cordon_audit.checkpoints, cordon_audit.meta, cordon_audit.schema_migrations TO {{writer}};
GRANT EXECUTE ON FUNCTION cordon_audit.ensure_partition(timestamptz) TO {{writer}};
GRANT TEMPORARY ON DATABASE {{database}} TO {{writer}};

GRANT SELECT ON ALL TABLES IN SCHEMA cordon_audit TO {{reader}};

GRANT SELECT ON ALL TABLES IN SCHEMA cordon_audit TO {{retention}};
GRANT INSERT ON cordon_audit.boundaries TO {{retention}};
GRANT EXECUTE ON FUNCTION cordon_audit.detach_partitions(timestamptz, boolean) TO {{retention}};
