-- cordon audit schema, version 2.
--
-- The shipper (writer) may not read records. To tell a redelivered message
-- from a stream that handed out a sequence number again (recreated, or it
-- lost messages it had acknowledged in a crash), it asks for the stream
-- time of the record the log holds at one (bus, seq), and learns nothing
-- else of it.

SET LOCAL ROLE {{owner}};

CREATE FUNCTION cordon_audit.stored_time(b smallint, s bigint) RETURNS timestamptz
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
	SELECT min(msg_time) FROM cordon_audit.records WHERE bus = b AND seq = s
$fn$;

REVOKE ALL ON FUNCTION cordon_audit.stored_time(smallint, bigint) FROM PUBLIC;

RESET ROLE;

GRANT EXECUTE ON FUNCTION cordon_audit.stored_time(smallint, bigint) TO {{writer}};
