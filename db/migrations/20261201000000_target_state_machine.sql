-- migrate:up
-- Issue 10, one target-state machine for both stores:
-- * The state "degraded" (the latest check passed, one of the last 10 failed) is called
--   "flapping" now; "degraded" will mean up but slow. Stored states are renamed.
-- * The last applied event's uuid is kept with its time, so an event of the same time tells
--   a duplicate from a new one (NULL on rows written before: any event of that time follows).
ALTER TABLE targets ADD COLUMN last_event_uuid uuid;
COMMENT ON COLUMN targets.last_event_uuid IS 'uuid of the event last_event_time is the time of';
UPDATE targets SET status = 'flapping' WHERE status = 'degraded';

-- migrate:down
-- Older versions know neither "flapping" nor "paused": back to what they show.
UPDATE targets SET status = 'degraded' WHERE status = 'flapping';
UPDATE targets SET status = 'unknown' WHERE status = 'paused';
ALTER TABLE targets DROP COLUMN last_event_uuid;
