-- migrate:up
-- The schema allows any number in integer_value; smallint held only -32768..32767.
ALTER TABLE dummy_events ALTER COLUMN integer_value TYPE numeric;

-- migrate:down
-- Fails when a stored value does not fit a smallint (nothing is silently truncated).
ALTER TABLE dummy_events ALTER COLUMN integer_value TYPE smallint;
