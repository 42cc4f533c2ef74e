-- The tenant of the key that downloaded or verified a report (null: a regulator or admin key). A tenant's access log
-- shows key ids only for its own keys; key ids are not stable enough to look the tenant up later (configured keys
-- are numbered by their position in configuration), so it is recorded with the access. Older rows stay null and
-- therefore show no key id. Numbered 0005 so as not to collide with 0004 on another branch; gaps are fine.
ALTER TABLE report_access ADD COLUMN caller_tenant_id TEXT NULL;
