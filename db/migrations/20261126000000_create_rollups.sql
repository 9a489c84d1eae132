-- migrate:up
-- What `uptimer serve --store postgres://…` reads: each target's live state, incidents, and
-- rollups per target per minute, hour and UTC day, maintained by writers.postgres in the same
-- transaction as the probe_events rows they count, and only from rows actually inserted (a
-- replayed or duplicate event changes nothing). Sums, not averages, so rows merge by addition;
-- hist is the mergeable latency histogram of src/store/hist.rs in the SQLite store's encoding
-- (for each non-empty bucket: its index as one byte, then its count as an LEB128 varint; 66
-- buckets, four per doubling from 1 ms), merged by adding counts bucket by bucket.
-- Rollups start empty: events stored before this migration are not counted.
ALTER TABLE targets
    ADD COLUMN interval_s integer,
    ADD COLUMN last_event_time timestamp with time zone,
    ADD COLUMN last_up boolean,
    ADD COLUMN last_status_code integer,
    ADD COLUMN last_response_ms integer,
    ADD COLUMN last_error_kind varchar,
    ADD COLUMN last_error varchar,
    ADD COLUMN recent varchar NOT NULL DEFAULT '',
    ADD COLUMN status varchar,
    ADD COLUMN cert_not_after timestamp with time zone,
    ADD COLUMN open_incident bigint;
COMMENT ON COLUMN targets.interval_s IS 'seconds between the last two checks';
COMMENT ON COLUMN targets.recent IS 'the latest checks, oldest first: u passed, d failed';

CREATE TABLE rollup_minute (
    target_id varchar NOT NULL,
    bucket timestamp with time zone NOT NULL,
    checks bigint NOT NULL,
    up bigint NOT NULL,
    sum_ms double precision NOT NULL,
    min_ms double precision NOT NULL,
    max_ms double precision NOT NULL,
    sum_dns_ms double precision NOT NULL,
    sum_connect_ms double precision NOT NULL,
    sum_tls_ms double precision NOT NULL,
    sum_ttfb_ms double precision NOT NULL,
    sum_transfer_ms double precision NOT NULL,
    hist bytea NOT NULL,
    CONSTRAINT pk_rollup_minute PRIMARY KEY (target_id, bucket)
) WITH (fillfactor = 70);
CREATE INDEX idx_rollup_minute_bucket ON rollup_minute USING btree (bucket);
-- Room on each page for the updated row versions (HOT updates: no index entry per update).
CREATE TABLE rollup_hour (LIKE rollup_minute INCLUDING ALL) WITH (fillfactor = 70);
CREATE TABLE rollup_day (LIKE rollup_minute INCLUDING ALL) WITH (fillfactor = 70);

-- From the first failed check after a passing one to the next passing check.
CREATE TABLE incidents (
    id bigserial NOT NULL,
    target_id varchar NOT NULL,
    started_at timestamp with time zone NOT NULL,
    ended_at timestamp with time zone,
    error_kind varchar,
    error varchar,
    failed_checks integer NOT NULL DEFAULT 1,
    CONSTRAINT pk_incidents PRIMARY KEY (id)
);
CREATE INDEX idx_incidents_started ON incidents USING btree (started_at DESC);
CREATE INDEX idx_incidents_target ON incidents USING btree (target_id, started_at DESC);

-- migrate:down
DROP TABLE incidents;
DROP TABLE rollup_day;
DROP TABLE rollup_hour;
DROP TABLE rollup_minute;
ALTER TABLE targets
    DROP COLUMN interval_s,
    DROP COLUMN last_event_time,
    DROP COLUMN last_up,
    DROP COLUMN last_status_code,
    DROP COLUMN last_response_ms,
    DROP COLUMN last_error_kind,
    DROP COLUMN last_error,
    DROP COLUMN recent,
    DROP COLUMN status,
    DROP COLUMN cert_not_after,
    DROP COLUMN open_incident;
