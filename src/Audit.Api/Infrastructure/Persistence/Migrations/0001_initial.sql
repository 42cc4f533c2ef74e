-- Portable SQL: TEXT ids and ISO-8601 UTC timestamps, BIGINT/DOUBLE PRECISION numbers; runs on SQLite and PostgreSQL.
-- (BIGINT and DOUBLE PRECISION, not INTEGER and REAL: on PostgreSQL those are 32-bit, and Dapper maps rows to
-- long/double by exact type. On SQLite both spellings have the same affinity, so files made earlier are unchanged.)
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

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
    size_bytes    BIGINT NOT NULL,
    format        TEXT NOT NULL,
    summary_json  TEXT NULL,
    created_by    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX ix_artifacts_tenant ON artifacts (tenant_id, created_at);

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
    progress             DOUBLE PRECISION NOT NULL,
    verdict              TEXT NULL,
    error                TEXT NULL,
    device               TEXT NULL,
    seed                 BIGINT NOT NULL,
    idempotency_key      TEXT NULL,
    request_hash         TEXT NOT NULL,
    submitted_by         TEXT NOT NULL,
    created_at           TEXT NOT NULL,
    started_at           TEXT NULL,
    finished_at          TEXT NULL,
    lease_owner          TEXT NULL,
    lease_expires_at     TEXT NULL,
    attempts             BIGINT NOT NULL,
    cancel_requested     BIGINT NOT NULL,
    UNIQUE (tenant_id, idempotency_key)
);
CREATE INDEX ix_audits_queue ON audits (status, created_at);
CREATE INDEX ix_audits_tenant ON audits (tenant_id, created_at);

CREATE TABLE control_results (
    audit_id    TEXT NOT NULL REFERENCES audits(id),
    control_id  TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (audit_id, control_id)
);

CREATE TABLE findings (
    audit_id      TEXT NOT NULL REFERENCES audits(id),
    seq           BIGINT NOT NULL,
    control_id    TEXT NOT NULL,
    probe         TEXT NOT NULL,
    verdict       TEXT NOT NULL,
    score         DOUBLE PRECISION NULL,
    summary       TEXT NOT NULL,
    details_json  TEXT NOT NULL,
    PRIMARY KEY (audit_id, seq)
);
