-- migrate:up
-- Issue 9, what a new user hit in the first hour:
-- * `interval_s` kept whole seconds (1.999942 s became 1): now fractional seconds.
-- * Response times count successful probes only. `timed` is how many checks a rollup row's
--   sum_ms, min_ms, max_ms, phase sums and hist cover (its successful checks); NULL on rows
--   written before this migration, which counted every check: readers take coalesce(timed,
--   checks), so old rows keep their old meaning and no table is rewritten.
-- * Targets no longer configured are marked removed at the prober's startup (`removed_at`;
--   hidden from the overview, history kept) and their open incident is closed with
--   `end_reason` 'target removed'.
ALTER TABLE targets
    ALTER COLUMN interval_s TYPE double precision,
    ADD COLUMN removed_at timestamp with time zone;
COMMENT ON COLUMN targets.removed_at IS 'when the target left the configuration (NULL: configured)';
ALTER TABLE rollup_minute ADD COLUMN timed bigint;
ALTER TABLE rollup_hour ADD COLUMN timed bigint;
ALTER TABLE rollup_day ADD COLUMN timed bigint;
COMMENT ON COLUMN rollup_minute.timed IS 'checks counted in the response times (successful ones; NULL: all, as before 20261130120000)';
ALTER TABLE incidents ADD COLUMN end_reason varchar;

-- migrate:down
ALTER TABLE incidents DROP COLUMN end_reason;
ALTER TABLE rollup_day DROP COLUMN timed;
ALTER TABLE rollup_hour DROP COLUMN timed;
ALTER TABLE rollup_minute DROP COLUMN timed;
ALTER TABLE targets
    DROP COLUMN removed_at,
    ALTER COLUMN interval_s TYPE integer USING round(interval_s)::integer;
