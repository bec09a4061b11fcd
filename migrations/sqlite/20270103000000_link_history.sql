-- Rehires and returns (issue 13, item 3). Mirrors migrations/postgres/20270103000000_link_history.sql.

-- Every change of a link, never overwritten: the row a link had after each write (its key, SCIM
-- id, userName and state) and what it had before, with the run (or `confirm`) that changed it.
-- `links` keeps only the current row; this table is what an auditor reads to learn that
-- ada@old.test and ada@new.test are the same account, or that hr:E7 became hr:N-0007.
CREATE TABLE link_history (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    target_name        TEXT    NOT NULL,
    kind               TEXT    NOT NULL CHECK (kind IN ('user', 'group')),
    source             TEXT    NOT NULL,
    source_id          TEXT    NOT NULL,
    -- What changed it: a plan operation kind (`create-user`, `readd-user`, …), `confirm`, or
    -- `baseline` (the link as it stood when this table was created).
    cause              TEXT    NOT NULL,
    -- The link after the change; scim_id and user_name are NULL when the link was removed.
    scim_id            TEXT,
    user_name          TEXT,
    state              TEXT    CHECK (state IN ('active', 'deactivated')),
    -- The link before the change (NULL for a new link); previous_key is set when the SCIM id
    -- moved here from another key (a re-key or a confirmed return under a new id).
    previous_key       TEXT,
    previous_scim_id   TEXT,
    previous_user_name TEXT,
    previous_state     TEXT,
    run_id             INTEGER,
    changed_at         TEXT    NOT NULL
);
CREATE INDEX link_history_key ON link_history (target_name, kind, source, source_id);
CREATE INDEX link_history_scim ON link_history (target_name, kind, scim_id);

-- Links as they stand when the history starts.
INSERT INTO link_history (target_name, kind, source, source_id, cause, scim_id, user_name, state,
                          changed_at)
    SELECT target_name, kind, source, source_id, 'baseline', scim_id, user_name, state, updated_at
    FROM links;

-- An admin's decision about a held email reuse (`idbridge confirm reuse EMAIL --as same|new`):
-- who, when, where and which people it is about. `same`: the new key is the former person
-- returning (the link moved to it when confirmed); `new`: someone else, kept held. The next run
-- that re-adds the account records itself in consumed_run_id.
CREATE TABLE confirmations (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    target_name     TEXT    NOT NULL,
    user_name       TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    source_id       TEXT    NOT NULL,
    former_key      TEXT    NOT NULL,
    former_scim_id  TEXT    NOT NULL,
    decision        TEXT    NOT NULL CHECK (decision IN ('same', 'new')),
    note            TEXT,
    host            TEXT    NOT NULL,
    os_user         TEXT    NOT NULL,
    confirmed_at    TEXT    NOT NULL,
    consumed_run_id INTEGER,
    consumed_at     TEXT
);
CREATE INDEX confirmations_target ON confirmations (target_name, user_name);
