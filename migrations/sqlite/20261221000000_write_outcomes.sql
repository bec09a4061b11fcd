-- What idbridge learnt from its own patches (issue 10), so a write the target will not take is
-- not sent again run after run. Mirrors migrations/postgres/20261220000000_write_outcomes.sql.
--
-- One row per (target, SCIM id, attribute, value sent); a newer outcome for the same attribute
-- replaces the older one (the store deletes it in the same transaction), so a row always says
-- what the last patch of that attribute asked for and how it ended:
-- - refused: the target refused the patch on its own (HTTP 400, or 403 with the token still
--   working; Notion refuses name and email changes outside verified domains), with its reason;
-- - applied: the target took the patch, and read_back is the value it showed right after (NULL
--   when it showed none), which may differ from what was sent (a target that normalises case or
--   drops an attribute it does not store).
CREATE TABLE write_outcomes (
    target_name TEXT    NOT NULL,
    scim_id     TEXT    NOT NULL,
    attr        TEXT    NOT NULL,
    -- The value sent, as the target profile normalised it; '' for a removal.
    sent        TEXT    NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('refused', 'applied')),
    read_back   TEXT,
    reason      TEXT,
    http_status INTEGER,
    user_name   TEXT    NOT NULL,
    source_key  TEXT,
    run_id      INTEGER,
    recorded_at TEXT    NOT NULL,
    PRIMARY KEY (target_name, scim_id, attr, sent)
);
