-- migrate:up
-- The fields of ProbeEvent 0.5.0 (checks beyond HTTP): an ICMP or push check has no port, and
-- only HTTP checks have a status, so both become nullable; each kind's object (what a DNS, ICMP,
-- TLS, TCP, gRPC or push check observed) is a jsonb column of its name, NULL on the events of
-- other kinds and on every row written before. Dropping NOT NULL on the partitioned table drops
-- it on each partition (the original's attached table too), and adding nullable columns without
-- a default is a catalog change: no row is rewritten or scanned. The ip_port domain's CHECK
-- holds for NULL. targets.port is nullable already.
ALTER TABLE probe_events
    ALTER COLUMN port DROP NOT NULL,
    ALTER COLUMN status_code DROP NOT NULL,
    ADD COLUMN dns jsonb,
    ADD COLUMN icmp jsonb,
    ADD COLUMN tls jsonb,
    ADD COLUMN tcp jsonb,
    ADD COLUMN grpc jsonb,
    ADD COLUMN push jsonb;

-- migrate:down
-- The rows of checks without a port or status cannot stay in the older schema: they go (with
-- them, what only those checks had). Setting NOT NULL again scans every partition.
DELETE FROM probe_events WHERE port IS NULL OR status_code IS NULL;
ALTER TABLE probe_events
    DROP COLUMN dns,
    DROP COLUMN icmp,
    DROP COLUMN tls,
    DROP COLUMN tcp,
    DROP COLUMN grpc,
    DROP COLUMN push,
    ALTER COLUMN port SET NOT NULL,
    ALTER COLUMN status_code SET NOT NULL;
