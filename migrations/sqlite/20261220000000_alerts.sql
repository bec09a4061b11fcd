-- Alert state (issue 12, alerts): one row per target, condition and sink, so `serve` sends one
-- alert when a condition is raised and one recovery when it clears, across ticks, restarts and
-- replicas, instead of one message per tick. A row is one episode: `raised_at` is when the
-- condition was first seen, `raised_sent_at` when the sink took the alert (NULL: not yet, retried
-- at the next run), `cleared_at` when a run saw it clear and `cleared_sent_at` when the sink
-- took the recovery. A new episode overwrites the row. Instants are RFC 3339 text in UTC, as in
-- every table. Mirrors migrations/postgres/20261220000000_alerts.sql.
CREATE TABLE alert_state (
    target_name     TEXT   NOT NULL,
    condition       TEXT   NOT NULL,
    sink            TEXT   NOT NULL,
    raised_at       TEXT   NOT NULL,
    run_id          BIGINT,
    message         TEXT   NOT NULL,
    raised_sent_at  TEXT,
    cleared_at      TEXT,
    cleared_sent_at TEXT,
    attempts        BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT,
    PRIMARY KEY (target_name, condition, sink)
);
