-- migrate:up
-- The fields of ProbeEvent 0.6.0 (a fleet of locations whose verdicts are decided by quorum):
-- the target's round a probe was scheduled for, the same in every location, and whether a
-- recheck asked for it. NULL on events without them (one-shot probes, pushes, probers
-- before 0.6.0, EVENT_FORMAT=original) and on every row written before. Adding nullable
-- columns without a default to the partitioned table adds them to each of its partitions (the
-- original's attached table too) in the catalog only: no row is rewritten.
ALTER TABLE probe_events
    ADD COLUMN round bigint,
    ADD COLUMN recheck boolean;
COMMENT ON COLUMN probe_events.round IS 'the target''s round the probe was scheduled for: floor((t - phase) / interval), the same in every location (NULL: one-shot, push, or before ProbeEvent 0.6.0)';
COMMENT ON COLUMN probe_events.recheck IS 'true when a recheck asked for the probe; it counts for its round (NULL: a scheduled probe)';

-- migrate:down
ALTER TABLE probe_events
    DROP COLUMN round,
    DROP COLUMN recheck;
