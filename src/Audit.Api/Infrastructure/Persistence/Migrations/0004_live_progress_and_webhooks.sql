-- Live progress: the probe running now (probe name and control) and when the worker expects the audit to finish,
-- estimated from the time this attempt has run and its cost-weighted progress. Both are cleared when it ends.
ALTER TABLE audits ADD COLUMN current_step TEXT NULL;
ALTER TABLE audits ADD COLUMN eta_at TEXT NULL;
