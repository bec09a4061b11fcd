-- Run lock (issue "Never remove the wrong person", item 6): a run found `running` while nobody
-- holds its target's run lock died; the next run marks it `aborted`, and its journal entries left
-- `pending` become `unknown` (the outcome was never recorded). Mirrors
-- migrations/sqlite/20261201000000_aborted_runs.sql. The CHECK constraints carry PostgreSQL's
-- default names (`<table>_<column>_check`) from 20261127000000_init.sql.

ALTER TABLE runs DROP CONSTRAINT runs_status_check;
ALTER TABLE runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'refused', 'aborted'));

ALTER TABLE operations DROP CONSTRAINT operations_status_check;
ALTER TABLE operations ADD CONSTRAINT operations_status_check
    CHECK (status IN ('pending', 'done', 'failed', 'skipped', 'unknown'));

-- abort_dead_runs: the running runs of one target.
CREATE INDEX runs_target_status ON runs (target_name, status);
