-- migrate:up
-- VerdictEvent 0.1.0: one row per target and round, as a quorum of the fleet's locations
-- decided it. The key is (target_id, round), not the uuid: a round decided twice (a replay, a
-- second consumer after a rebalance) carries the same derived uuid and inserts nothing the
-- second time (the writer's ON CONFLICT DO NOTHING). Not partitioned: one row per target and
-- round, a small fraction of probe_events. The writer maps fields to columns by name; the
-- 'uptimer: from' comments name the event's field where the column's name differs.
CREATE TABLE verdicts (
    uuid uuid NOT NULL,
    target_id text NOT NULL,
    round bigint NOT NULL,
    verdict text NOT NULL CONSTRAINT verdicts_verdict_check
        CHECK (verdict IN ('up', 'down', 'partial', 'none')),
    up_locations text[] NOT NULL,
    down_locations text[] NOT NULL,
    impaired_locations text[] NOT NULL DEFAULT '{}',
    locations integer,
    interval_ms bigint,
    response_time_ms bigint,
    decided_at timestamp with time zone NOT NULL,
    schema_version varchar NOT NULL,
    CONSTRAINT pk_verdicts PRIMARY KEY (target_id, round)
);
COMMENT ON COLUMN verdicts.target_id IS 'uptimer: from target';
COMMENT ON COLUMN verdicts.up_locations IS 'uptimer: from up';
COMMENT ON COLUMN verdicts.down_locations IS 'uptimer: from down';
COMMENT ON COLUMN verdicts.impaired_locations IS 'uptimer: from impaired';
COMMENT ON COLUMN verdicts.decided_at IS 'uptimer: from event_time';
CREATE INDEX idx_verdicts_decided ON verdicts USING btree (decided_at);

-- migrate:down
DROP TABLE verdicts;
