-- idbridge store schema, SQLite. Mirrors migrations/postgres/20261127000000_init.sql: the same
-- tables and columns, so one query text serves both. Instants are RFC 3339 UTC TEXT; integers
-- are INTEGER (i64). Only the types TEXT and INTEGER are used, because the sqlx Any driver
-- rejects SQLite columns declared with other affinities (BOOLEAN, DATETIME).

-- One row per sync / apply / plan / demo.
CREATE TABLE runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT    NOT NULL,
    target_name  TEXT    NOT NULL,
    started_at   TEXT    NOT NULL,
    finished_at  TEXT,
    status       TEXT    NOT NULL
                 CHECK (status IN ('running', 'succeeded', 'failed', 'refused')),
    plan_sha256  TEXT,
    summary_json TEXT
);

-- The journal: each SCIM write, pending before the call, done/failed/skipped after.
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
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'failed', 'skipped')),
    http_status INTEGER,
    error       TEXT,
    skip_reason TEXT,
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
CREATE INDEX operations_run_seq ON operations (run_id, seq);
-- unfinished_creates: by target, kind of operation and status.
CREATE INDEX operations_target_op_status ON operations (target_name, op, status);

-- Source record <-> SCIM resource, per target (two workspaces can share a store).
CREATE TABLE links (
    target_name TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    source      TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    scim_id     TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('active', 'deactivated')),
    origin      TEXT NOT NULL CHECK (origin IN ('created', 'adopted', 'recovered')),
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (target_name, kind, source, source_id),
    -- One SCIM resource belongs to one source record.
    CONSTRAINT links_scim_id_unique UNIQUE (target_name, kind, scim_id)
);

-- Last seen attribute hash per source record and target (drift / delta).
CREATE TABLE snapshots (
    target_name TEXT NOT NULL,
    source      TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    attr_hash   TEXT NOT NULL,
    seen_at     TEXT NOT NULL,
    PRIMARY KEY (target_name, source, source_id)
);
