-- Workers in several processes search for claimable audits every poll: queued ones (ix_audits_queue) and running
-- ones whose lease lapsed (their worker was killed). This index serves the second half of that search, so a busy
-- table of running audits is not scanned on every poll. Portable SQL: valid on SQLite and PostgreSQL.
CREATE INDEX ix_audits_lease ON audits (status, lease_expires_at);

-- Who is issuing an audit's report right now. A worker issues the report when its audit succeeds and the API issues it
-- on first download if that never completed; in different processes both could sign and log one report twice. The
-- issuer holds this row (owner, expiry renewed while it works) and the others wait for its report; a row whose
-- holder was killed expires and is taken over.
CREATE TABLE report_issuing_claims (
    audit_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
