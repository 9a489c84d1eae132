-- migrate:up
-- probe_events becomes a table partitioned by event_time, one partition per day (created ahead
-- of time by `uptimer migrate` and writers.postgres), so that retention is a DROP of whole
-- partitions. A DEFAULT partition takes anything else, so a database migrated by plain
-- `dbmate up` accepts writes at once.
--
-- The original's unpartitioned table is kept as it is and attached as the partition of
-- everything before the day after its last event (PostgreSQL scans it once to check the bound;
-- no row is copied). When it is empty (a fresh database) it is simply dropped.
ALTER TABLE probe_events RENAME TO probe_events_legacy;
ALTER TABLE probe_events_legacy RENAME CONSTRAINT pk_probe_events TO probe_events_legacy_pkey;
ALTER INDEX idx_probe_events RENAME TO probe_events_legacy_hostname_event_time_idx;

CREATE TABLE probe_events (
    uuid uuid NOT NULL,
    event_time timestamp with time zone NOT NULL,
    schema_title varchar NOT NULL,
    schema_version varchar NOT NULL,
    protocol varchar,
    hostname varchar NOT NULL,
    port ip_port NOT NULL,
    path varchar,
    status_code integer NOT NULL,
    response_time_ms integer NOT NULL,
    error varchar,
    regex varchar,
    matches_regex boolean,
    CONSTRAINT pk_probe_events PRIMARY KEY (uuid, event_time)
) PARTITION BY RANGE (event_time);
CREATE INDEX idx_probe_events ON probe_events USING btree (hostname, event_time DESC NULLS LAST);
CREATE TABLE probe_events_default PARTITION OF probe_events DEFAULT;

DO $$
DECLARE
    upper_bound timestamp with time zone;
BEGIN
    SELECT date_trunc('day', max(event_time), 'UTC') + interval '1 day'
      INTO upper_bound
      FROM probe_events_legacy;
    IF upper_bound IS NULL THEN
        DROP TABLE probe_events_legacy;
    ELSE
        EXECUTE format(
            'ALTER TABLE probe_events ATTACH PARTITION probe_events_legacy FOR VALUES FROM (MINVALUE) TO (%L)',
            upper_bound);
    END IF;
END
$$;

-- migrate:down
-- Back to one plain table: here the rows are copied out of the partitions.
CREATE TABLE probe_events_unpartitioned (LIKE probe_events INCLUDING DEFAULTS);
INSERT INTO probe_events_unpartitioned SELECT * FROM probe_events;
DROP TABLE probe_events;
ALTER TABLE probe_events_unpartitioned RENAME TO probe_events;
ALTER TABLE probe_events ADD CONSTRAINT pk_probe_events PRIMARY KEY (uuid, event_time);
CREATE INDEX idx_probe_events ON probe_events USING btree (hostname, event_time DESC NULLS LAST);
