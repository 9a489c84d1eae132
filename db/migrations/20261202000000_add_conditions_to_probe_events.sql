-- migrate:up
-- The fields of ProbeEvent 0.4.0: each condition's result, in order
-- (`[{"condition", "success", "resolved"}]`, jsonb), and whether a check that passed met one of
-- the target's `degraded_if` conditions. NULL on events without them (targets without
-- conditions, EVENT_FORMAT=original) and on every row written before: read as "no conditions".
-- Adding a nullable column without a default to the partitioned table adds it to each of its
-- partitions (the original's attached table too) in the catalog only: no row is rewritten.
ALTER TABLE probe_events
    ADD COLUMN conditions jsonb,
    ADD COLUMN degraded boolean;

-- migrate:down
ALTER TABLE probe_events
    DROP COLUMN conditions,
    DROP COLUMN degraded;
