-- Absence grace (issue 13, docs/lifecycle.md): one row per managed person who is missing from
-- the sources (or has moved out of scope) and is not deactivated yet. Mirrors
-- migrations/postgres/20270101000000_absences.sql.
--
-- Only an applying run whose reads were complete and that held nothing (a "counted" run)
-- replaces a target's rows, with exactly the plan's absence section: `since` is when the first
-- counted run missed the person, `runs` how many consecutive counted runs have missed them.
-- A person back in the sources simply has no row after the next counted run.
CREATE TABLE absences (
    target_name TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    source_id   TEXT    NOT NULL,
    scim_id     TEXT    NOT NULL,
    user_name   TEXT    NOT NULL,
    since       TEXT    NOT NULL,
    runs        INTEGER NOT NULL CHECK (runs >= 0),
    -- Why they count as gone: absent from every source, or the scope rule they no longer match.
    reason      TEXT    NOT NULL,
    recorded_at TEXT    NOT NULL,
    PRIMARY KEY (target_name, source, source_id)
);
