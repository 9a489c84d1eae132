-- migrate:up
ALTER TABLE probe_events ADD COLUMN regex varchar, ADD COLUMN matches_regex boolean;

-- migrate:down
ALTER TABLE probe_events DROP COLUMN regex, DROP COLUMN matches_regex;
