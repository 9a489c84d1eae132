-- migrate:up
-- Incidents people write on status pages (docs/status-pages.md, "Incidents people write"),
-- the same rows the SQLite store keeps: the page's slug and times in columns, the title,
-- impact, affected components and updates (oldest first) in one document that each update
-- rewrites in the transaction that read it. resolved_at is set while the latest update says
-- resolved.
CREATE TABLE status_incidents (
    id bigint GENERATED ALWAYS AS IDENTITY,
    page text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    resolved_at timestamptz,
    doc jsonb NOT NULL,
    CONSTRAINT pk_status_incidents PRIMARY KEY (id)
);
COMMENT ON TABLE status_incidents IS 'doc: {title, impact, components: [{component, status}], updates: [{status, body, at (µs since the epoch), author}]}';
CREATE INDEX idx_status_incidents_page ON status_incidents USING btree (page, created_at);
CREATE INDEX idx_status_incidents_updated_at ON status_incidents USING btree (updated_at);

-- migrate:down
DROP TABLE status_incidents;
