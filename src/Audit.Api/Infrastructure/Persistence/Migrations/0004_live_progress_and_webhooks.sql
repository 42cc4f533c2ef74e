-- Live progress: the probe running now (probe name and control) and when the worker expects the audit to finish,
-- estimated from the time this attempt has run and its cost-weighted progress. Both are cleared when it ends.
ALTER TABLE audits ADD COLUMN current_step TEXT NULL;
ALTER TABLE audits ADD COLUMN eta_at TEXT NULL;

-- Webhooks: a tenant's subscriptions. The secret signs every payload (HMAC-SHA256), so it is kept recoverable;
-- the database file is owner-only like the rest of the data directory. Events is a comma-separated list.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX ix_webhooks_tenant ON webhooks (tenant_id);

-- The outbox and the delivery log in one: a row is written in the same transaction as the audit transition it
-- announces (so a crash cannot lose it), the delivery service sends it, and the row keeps how that went.
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload_json     TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_status_code BIGINT NULL,
    last_error       TEXT NULL,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT NULL
);
CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX ix_webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
