-- The transparency log, its tree heads and the issued-report records move from files under one data directory into
-- the database, so any number of processes (the API, workers on other machines) share one log. Entry bytes and
-- receipts are base64 TEXT: SQLite's BLOB and PostgreSQL's BYTEA have no common spelling.

-- One row, the log's current size and root: every append locks it (SELECT ... FOR UPDATE on PostgreSQL, BEGIN
-- IMMEDIATE on SQLite) so appends from all processes happen one after another, and checks the root it finds against
-- the entries before extending it. The root of the empty log is SHA-256 of nothing (RFC 9162, section 2.1.1).
CREATE TABLE transparency_log_state (
    id         BIGINT PRIMARY KEY,
    tree_size  BIGINT NOT NULL,
    root_hash  TEXT NOT NULL
);
INSERT INTO transparency_log_state (id, tree_size, root_hash)
VALUES (1, 0, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');

CREATE TABLE transparency_log_entries (
    log_index    BIGINT PRIMARY KEY,
    entry        TEXT NOT NULL,
    leaf_hash    TEXT NOT NULL,
    appended_at  TEXT NOT NULL
);

-- The tree head after every append (size, root), so any two can be checked for consistency later.
CREATE TABLE transparency_tree_heads (
    tree_size    BIGINT PRIMARY KEY,
    root_hash    TEXT NOT NULL,
    recorded_at  TEXT NOT NULL
);

-- What the service recorded about each issued report; the PDF bytes stay in the report byte store.
CREATE TABLE issued_reports (
    report_id       TEXT PRIMARY KEY,
    audit_id        TEXT NOT NULL,
    tenant_id       TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    size_bytes      BIGINT NOT NULL,
    signing_time    TEXT NOT NULL,
    signing_key_id  TEXT NOT NULL,
    log_index       BIGINT NOT NULL,
    log_entry       TEXT NOT NULL,
    receipt         TEXT NOT NULL,
    statement       TEXT NULL
);
CREATE INDEX ix_issued_reports_sha256 ON issued_reports (sha256);
CREATE INDEX ix_issued_reports_audit ON issued_reports (audit_id);
