-- migrate:up
-- Alerting from writers.postgres (docs/alerting.md), the same tables the SQLite store keeps:
-- each (target, alert rule)'s counters, the outbox of notifications (written in the
-- transaction of the events that caused them, sent by the writers' outbox workers) and the
-- incidents' acknowledgements. Several writers share the outbox: a worker claims the
-- notifications it sends (claimed_until), so two never send one at once.
CREATE TABLE alert_rules (
    target_id text NOT NULL,
    rule text NOT NULL,
    state jsonb NOT NULL,
    CONSTRAINT pk_alert_rules PRIMARY KEY (target_id, rule)
);
COMMENT ON TABLE alert_rules IS 'per target and alert rule: its counters, and the incident it fired for';

CREATE TABLE notifications (
    id bigint GENERATED ALWAYS AS IDENTITY,
    key text NOT NULL,
    channel text NOT NULL,
    kind text NOT NULL,
    seq integer NOT NULL DEFAULT 0,
    target_id text NOT NULL,
    incident_id bigint,
    created_at timestamptz NOT NULL,
    due_at timestamptz NOT NULL,
    payload jsonb NOT NULL,
    state text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    sent_at timestamptz,
    answer text,
    last_error text,
    claimed_until timestamptz,
    CONSTRAINT pk_notifications PRIMARY KEY (id)
);
COMMENT ON TABLE notifications IS 'the alerting outbox: kind trigger, reminder, resolve or acknowledge; state pending, sent, failed or skipped';
CREATE INDEX idx_notifications_pending ON notifications USING btree (channel, due_at) WHERE state = 'pending';
CREATE INDEX idx_notifications_key ON notifications USING btree (key, channel, id);
CREATE INDEX idx_notifications_incident ON notifications USING btree (incident_id);

CREATE TABLE incident_acks (
    incident_id bigint NOT NULL,
    at timestamptz NOT NULL,
    by text,
    via text NOT NULL,
    CONSTRAINT pk_incident_acks PRIMARY KEY (incident_id),
    CONSTRAINT fk_incident_acks_incident FOREIGN KEY (incident_id) REFERENCES incidents (id) ON DELETE CASCADE
);

-- The key acknowledgement links are signed with when ALERT_LINK_SECRET is not set, made by the
-- first process that needs it, so every writer and the dashboard sign and check alike.
CREATE TABLE alert_link_key (
    singleton boolean NOT NULL DEFAULT true,
    key text NOT NULL,
    CONSTRAINT pk_alert_link_key PRIMARY KEY (singleton),
    CONSTRAINT alert_link_key_one_row CHECK (singleton)
);

-- migrate:down
DROP TABLE alert_link_key;
DROP TABLE incident_acks;
DROP TABLE notifications;
DROP TABLE alert_rules;
