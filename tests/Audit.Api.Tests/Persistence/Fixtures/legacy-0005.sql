-- A SQLite database as the pre-DbUp migrator (Migrator.cs before issue #16) left it after migrations 0001-0005:
-- its journal schema_migrations(version, name, applied_at), the scripts as they were then, and a few rows whose
-- values exceed 32 bits. Made with sqlite3 from those scripts and the old journal, then '.dump'.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);
INSERT INTO schema_migrations VALUES(1,'initial','2026-11-01T00:00:01.0000000+00:00');
INSERT INTO schema_migrations VALUES(2,'report_access','2026-11-01T00:00:02.0000000+00:00');
INSERT INTO schema_migrations VALUES(3,'evidence_and_audit_version','2026-11-01T00:00:03.0000000+00:00');
INSERT INTO schema_migrations VALUES(4,'live_progress_and_webhooks','2026-11-01T00:00:04.0000000+00:00');
INSERT INTO schema_migrations VALUES(5,'report_access_caller_tenant','2026-11-01T00:00:05.0000000+00:00');
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
INSERT INTO tenants VALUES('acme','Acme','2026-11-01T10:00:00.0000000+00:00');
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NULL REFERENCES tenants(id),
    role        TEXT NOT NULL,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT NULL
);
CREATE TABLE artifacts (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    kind          TEXT NOT NULL,
    name          TEXT NULL,
    sha256        TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL,
    format        TEXT NOT NULL,
    summary_json  TEXT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
INSERT INTO artifacts VALUES('art_legacy','acme','model','legacy-model','aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11',3000000000,'onnx','{"irVersion":7}','key_legacy','2026-11-01T10:01:00.0000000+00:00');
CREATE TABLE profiles (
    tenant_id     TEXT NOT NULL,
    id            TEXT NOT NULL,
    version       TEXT NOT NULL,
    content_json  TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (tenant_id, id, version)
);
CREATE TABLE audits (
    id                   TEXT PRIMARY KEY,
    tenant_id            TEXT NOT NULL,
    model_artifact_id    TEXT NOT NULL,
    dataset_artifact_id  TEXT NULL,
    profile_id           TEXT NOT NULL,
    profile_version      TEXT NOT NULL,
    profile_hash         TEXT NOT NULL,
    profile_json         TEXT NOT NULL,
    status               TEXT NOT NULL,
    progress             REAL NOT NULL,
    verdict              TEXT NULL,
    error                TEXT NULL,
    device               TEXT NULL,
    seed                 INTEGER NOT NULL,
    idempotency_key      TEXT NULL,
    request_hash         TEXT NOT NULL,
    submitted_by         TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    started_at           TEXT NULL,
    finished_at          TEXT NULL,
    lease_owner          TEXT NULL,
    lease_expires_at     TEXT NULL,
    attempts             INTEGER NOT NULL,
    cancel_requested     INTEGER NOT NULL, version INTEGER NOT NULL DEFAULT 0, current_step TEXT NULL, eta_at TEXT NULL,
    UNIQUE (tenant_id, idempotency_key)
);
INSERT INTO audits VALUES('aud_legacy','acme','art_legacy',NULL,'trojan-scan','1.0.0','sha256:00','{}','succeeded',1.0,'pass',NULL,'cpu',5000000000,NULL,'req','key_legacy','2026-11-01T10:02:00.0000000+00:00','2026-11-01T10:02:01.0000000+00:00','2026-11-01T10:03:00.0000000+00:00',NULL,NULL,1,0,3,NULL,NULL);
CREATE TABLE control_results (
    audit_id    TEXT NOT NULL REFERENCES audits(id),
    control_id  TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (audit_id, control_id)
);
CREATE TABLE findings (
    audit_id      TEXT NOT NULL REFERENCES audits(id),
    seq           INTEGER NOT NULL,
    control_id    TEXT NOT NULL,
    probe         TEXT NOT NULL,
    verdict       TEXT NOT NULL,
    score         REAL NULL,
    summary       TEXT NOT NULL,
    details_json  TEXT NOT NULL,
    PRIMARY KEY (audit_id, seq)
);
INSERT INTO findings VALUES('aud_legacy',0,'inventory','model-inventory','pass',0.25,'Inventory taken','{}');
CREATE TABLE report_access (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NULL,
    report_id   TEXT NULL,
    audit_id    TEXT NULL,
    action      TEXT NOT NULL,
    key_id      TEXT NOT NULL,
    role        TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    at          TEXT NOT NULL
, caller_tenant_id TEXT NULL);
INSERT INTO report_access VALUES('acc_legacy','acme','rpt_aud_legacy','aud_legacy','download','key_legacy','auditor','ok','2026-11-01T10:04:00.0000000+00:00','acme');
CREATE TABLE evidence (
    id          TEXT PRIMARY KEY,
    audit_id    TEXT NOT NULL REFERENCES audits(id),
    tenant_id   TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    caption     TEXT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  INTEGER NOT NULL
);
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    url         TEXT NOT NULL,
    events      TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE TABLE webhook_deliveries (
    id               TEXT PRIMARY KEY,
    webhook_id       TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    payload_json     TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT NOT NULL,
    last_status_code INTEGER NULL,
    last_error       TEXT NULL,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT NULL
);
CREATE INDEX ix_artifacts_tenant ON artifacts (tenant_id, created_at);
CREATE INDEX ix_audits_queue ON audits (status, created_at);
CREATE INDEX ix_audits_tenant ON audits (tenant_id, created_at);
CREATE INDEX ix_report_access_tenant ON report_access (tenant_id, at);
CREATE INDEX ix_evidence_audit ON evidence (audit_id);
CREATE INDEX ix_webhooks_tenant ON webhooks (tenant_id);
CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX ix_webhook_deliveries_webhook ON webhook_deliveries (webhook_id, created_at);
COMMIT;
