-- Audit reports (issue 11, items 1 and 2): the journal keeps the evidence, runs say who ran them
-- and how, and pruning leaves a record. Mirrors migrations/sqlite/20261210000000_audit_journal.sql.
-- Every new column is nullable: rows written before this migration simply lack the fact.

-- How the run was started (`sync`, `apply-plan`, `schedule`, `post-sync`, `demo`) and where:
-- the machine's host name and the OS account. Never a secret.
ALTER TABLE runs ADD COLUMN run_trigger TEXT;
ALTER TABLE runs ADD COLUMN host TEXT;
ALTER TABLE runs ADD COLUMN os_user TEXT;
-- SCIM requests the command sent (retries included), retries, and replies with status 429.
ALTER TABLE runs ADD COLUMN scim_requests BIGINT;
ALTER TABLE runs ADD COLUMN scim_retries BIGINT;
ALTER TABLE runs ADD COLUMN scim_throttled BIGINT;
-- The journal's outcome when the run ended, kept here so it survives pruning.
ALTER TABLE runs ADD COLUMN ops_done BIGINT;
ALTER TABLE runs ADD COLUMN ops_failed BIGINT;
ALTER TABLE runs ADD COLUMN ops_skipped BIGINT;
ALTER TABLE runs ADD COLUMN ops_unknown BIGINT;
-- Future starts and terminations the sources held when the run read them (JSON); NULL when the
-- run read no source (`apply --plan`).
ALTER TABLE runs ADD COLUMN upcoming_json TEXT;
-- When the run's journal was pruned (retention or `report prune`).
ALTER TABLE runs ADD COLUMN pruned_at TEXT;

-- What the plan said: the source fact behind the operation and the whole planned operation.
ALTER TABLE operations ADD COLUMN reason TEXT;
ALTER TABLE operations ADD COLUMN planned_json TEXT;

-- Finished runs get their outcome counts from the journal they have now.
UPDATE runs SET
    ops_done    = (SELECT COUNT(*) FROM operations o WHERE o.run_id = runs.id AND o.status = 'done'),
    ops_failed  = (SELECT COUNT(*) FROM operations o WHERE o.run_id = runs.id AND o.status = 'failed'),
    ops_skipped = (SELECT COUNT(*) FROM operations o WHERE o.run_id = runs.id AND o.status = 'skipped'),
    ops_unknown = (SELECT COUNT(*) FROM operations o WHERE o.run_id = runs.id AND o.status = 'unknown')
WHERE status <> 'running';

-- One row per prune that removed something: the record that personal data was deleted.
CREATE TABLE prunes (
    id          BIGSERIAL PRIMARY KEY,
    target_name TEXT    NOT NULL,
    pruned_at   TEXT    NOT NULL,
    cutoff      TEXT    NOT NULL,
    runs        BIGINT NOT NULL,
    operations  BIGINT NOT NULL,
    kept        BIGINT NOT NULL,
    reason      TEXT    NOT NULL CHECK (reason IN ('retention', 'report-prune')),
    host        TEXT,
    os_user     TEXT
);

-- report changes: done operations by the time they were done.
CREATE INDEX operations_status_updated ON operations (status, updated_at);
-- report runs --since / retention: runs by time.
CREATE INDEX runs_started ON runs (started_at);
