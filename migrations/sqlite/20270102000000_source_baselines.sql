-- Source health gates (issue 13, item 2; docs/lifecycle.md, "Source health gates"). Mirrors
-- migrations/postgres/20270102000000_source_baselines.sql.
--
-- The last good read of each source of a target: kept after a run that applied (never after a
-- plan, never after a held run), and replaced by the next one. `summary` is JSON: the count of
-- people, how many records carry each attribute, a short hash per person and attribute (never
-- the value), and each source group's size.
CREATE TABLE source_baselines (
    target_name TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    run_id      INTEGER NOT NULL,
    taken_at    TEXT    NOT NULL,
    summary     TEXT    NOT NULL,
    PRIMARY KEY (target_name, source)
);

-- The audit entry of each gate passed with `--override`: who (host, OS user), which gate of
-- which source (and attribute or group), the finding as the plan stated it, in which run.
CREATE TABLE gate_overrides (
    run_id      INTEGER NOT NULL,
    target_name TEXT    NOT NULL,
    gate        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    subject     TEXT    NOT NULL DEFAULT '',
    finding     TEXT    NOT NULL,
    host        TEXT    NOT NULL,
    os_user     TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL,
    PRIMARY KEY (run_id, gate, source, subject)
);
