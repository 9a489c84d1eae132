-- migrate:up
-- Silences (docs/alerting.md#silences): while one is under way, the notifications whose
-- target, tag and channel match all its matchers are held back (written as 'suppressed',
-- sent once nothing holds them). Made through the API, `uptimer silence` and the dashboard;
-- kind 'maintenance' for one-off maintenance windows made through `uptimer maintenance add`.
CREATE TABLE silences (
    id bigint GENERATED ALWAYS AS IDENTITY,
    kind text NOT NULL DEFAULT 'silence',
    matchers jsonb NOT NULL,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    created_by text,
    reason text NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT pk_silences PRIMARY KEY (id)
);
COMMENT ON TABLE silences IS 'matchers: [{field: target|tag|channel, value}], all of which must match';
CREATE INDEX idx_silences_ends_at ON silences USING btree (ends_at);

-- migrate:down
DROP TABLE silences;
