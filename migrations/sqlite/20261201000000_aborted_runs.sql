-- Run lock (issue "Never remove the wrong person", item 6): a run found `running` while nobody
-- holds its target's run lock died; the next run marks it `aborted`, and its journal entries left
-- `pending` become `unknown` (the outcome was never recorded). Mirrors
-- migrations/postgres/20261201000000_aborted_runs.sql.
--
-- SQLite cannot change a CHECK constraint in place, so `runs` and `operations` are rebuilt inside
-- the migration's transaction, with foreign keys on. The order matters: `operations` references
-- `runs (id) ON DELETE CASCADE`, and dropping a table deletes its rows first. Renaming `runs`
-- makes the old `operations` point at `runs_old`, so by the time `runs_old` is dropped nothing
-- references it any more and no cascade reaches the new `operations`.

DROP INDEX operations_run_seq;
DROP INDEX operations_target_op_status;
ALTER TABLE operations RENAME TO operations_old;
ALTER TABLE runs RENAME TO runs_old;

CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,
    target_name  TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    finished_at  TEXT,
    status       TEXT    NOT NULL
                 CHECK (status IN ('running', 'succeeded', 'failed', 'refused', 'aborted')),
    plan_sha256  TEXT,
    summary_json TEXT
);
INSERT INTO runs (id, kind, target_name, started_at, finished_at, status, plan_sha256, summary_json)
    SELECT id, kind, target_name, started_at, finished_at, status, plan_sha256, summary_json
    FROM runs_old;

CREATE TABLE operations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    op          TEXT    NOT NULL,
    target_name TEXT    NOT NULL,
    user_name   TEXT,
    scim_id     TEXT,
    source_key  TEXT,
    detail_json TEXT    NOT NULL,
    status      TEXT    NOT NULL
                CHECK (status IN ('pending', 'done', 'failed', 'skipped', 'unknown')),
    http_status INTEGER,
    error       TEXT,
    skip_reason TEXT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
INSERT INTO operations (id, run_id, seq, op, target_name, user_name, scim_id, source_key,
                        detail_json, status, http_status, error, skip_reason, created_at, updated_at)
    SELECT id, run_id, seq, op, target_name, user_name, scim_id, source_key,
           detail_json, status, http_status, error, skip_reason, created_at, updated_at
    FROM operations_old;

-- AUTOINCREMENT promises ids are never reused: carry the old high-water marks over (the copies
-- above only raised them to the largest id still present).
DELETE FROM sqlite_sequence WHERE name IN ('runs', 'operations');
INSERT INTO sqlite_sequence (name, seq) SELECT 'runs', seq FROM sqlite_sequence WHERE name = 'runs_old';
INSERT INTO sqlite_sequence (name, seq)
    SELECT 'operations', seq FROM sqlite_sequence WHERE name = 'operations_old';

DROP TABLE operations_old;
DROP TABLE runs_old;

CREATE INDEX operations_run_seq ON operations (run_id, seq);
-- unfinished_creates: by target, kind of operation and status.
CREATE INDEX operations_target_op_status ON operations (target_name, op, status);
-- abort_dead_runs: the running runs of one target.
CREATE INDEX runs_target_status ON runs (target_name, status);
