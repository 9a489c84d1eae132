-- migrate:up
-- The optional fields of ProbeEvent 0.3.0. Column names follow the writer's mapping rule: a
-- field's JSON path joined with "_" (phases_ms.dns -> phases_ms_dns).
ALTER TABLE probe_events
    ADD COLUMN url varchar,
    ADD COLUMN location varchar,
    ADD COLUMN up boolean,
    ADD COLUMN error_kind varchar,
    ADD COLUMN phases_ms_dns double precision,
    ADD COLUMN phases_ms_connect double precision,
    ADD COLUMN phases_ms_tls double precision,
    ADD COLUMN phases_ms_ttfb double precision,
    ADD COLUMN phases_ms_transfer double precision,
    ADD COLUMN ip varchar,
    ADD COLUMN http_version varchar,
    ADD COLUMN body_bytes bigint,
    ADD COLUMN redirects integer,
    ADD COLUMN tls_cert_not_after timestamp with time zone;

-- migrate:down
ALTER TABLE probe_events
    DROP COLUMN url,
    DROP COLUMN location,
    DROP COLUMN up,
    DROP COLUMN error_kind,
    DROP COLUMN phases_ms_dns,
    DROP COLUMN phases_ms_connect,
    DROP COLUMN phases_ms_tls,
    DROP COLUMN phases_ms_ttfb,
    DROP COLUMN phases_ms_transfer,
    DROP COLUMN ip,
    DROP COLUMN http_version,
    DROP COLUMN body_bytes,
    DROP COLUMN redirects,
    DROP COLUMN tls_cert_not_after;
