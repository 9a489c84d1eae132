-- migrate:up
-- One row per target ever seen, keyed by the stable id probe events carry in "target".
-- writers.postgres upserts it (first_seen/last_seen) before writing the target's events.
CREATE TABLE targets (
    id varchar NOT NULL,
    url varchar,
    name varchar,
    protocol varchar,
    hostname varchar,
    port ip_port,
    path varchar,
    tags varchar[] NOT NULL DEFAULT '{}',
    first_seen timestamp with time zone NOT NULL,
    last_seen timestamp with time zone NOT NULL,
    CONSTRAINT pk_targets PRIMARY KEY (id)
);

ALTER TABLE probe_events
    ADD COLUMN target_id varchar CONSTRAINT fk_probe_events_target REFERENCES targets (id);
-- The writer maps JSON fields to columns by name; this comment maps "target" to target_id.
COMMENT ON COLUMN probe_events.target_id IS 'uptimer: from target';
CREATE INDEX idx_probe_events_target ON probe_events USING btree (target_id, event_time DESC NULLS LAST);

-- migrate:down
DROP INDEX idx_probe_events_target;
ALTER TABLE probe_events DROP COLUMN target_id;
DROP TABLE targets;
