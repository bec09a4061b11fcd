-- SAML check history (issue 4): one row per `saml check-response` / `check-metadata` /
-- `test-login` run with --store, so `report` can show SSO health over time. Mirrors
-- migrations/sqlite/20261128000100_saml_checks.sql.
CREATE TABLE saml_checks (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT   NOT NULL CHECK (kind IN ('response', 'metadata', 'test-login')),
    subject       TEXT,
    verdict       TEXT   NOT NULL CHECK (verdict IN ('accept', 'reject')),
    findings_json TEXT   NOT NULL,
    checked_at    TEXT   NOT NULL
);
CREATE INDEX saml_checks_checked_at ON saml_checks (checked_at);
