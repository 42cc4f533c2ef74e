-- Evidence files (e.g. a recovered trigger mask as PNG) are stored once, content-addressed, in the artifact blob
-- store; findings refer to them by id instead of carrying base64 copies, and they are served at
-- /api/v1/audits/{auditId}/evidence/{id}. Rows are written with the findings, in the same transaction.
CREATE TABLE evidence (
    id          TEXT PRIMARY KEY,
    audit_id    TEXT NOT NULL REFERENCES audits(id),
    tenant_id   TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    name        TEXT NOT NULL,
    media_type  TEXT NOT NULL,
    caption     TEXT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL
);
CREATE INDEX ix_evidence_audit ON evidence (audit_id);

-- Optimistic concurrency: the Audit aggregate decides a transition, and the repository applies it only if the
-- row still has the version it was read at (a claim race, a heartbeat against a cancel request).
ALTER TABLE audits ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
