-- Every report download and verification: who (key, role), when, what, and how it ended.
-- tenant_id is the tenant whose report it was (null when the uploaded file named no report of ours).
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
);
CREATE INDEX ix_report_access_tenant ON report_access (tenant_id, at);
