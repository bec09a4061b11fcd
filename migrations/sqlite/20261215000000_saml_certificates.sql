-- The IdP certificates a recorded `saml check-metadata` saw (JSON: use, sha256, notAfter,
-- keyBits), so `report sso` can say when the signing certificate expires, counted from the day
-- the report is read. NULL for responses and for checks recorded before this migration. Mirrors
-- migrations/postgres/20261215000000_saml_certificates.sql.
ALTER TABLE saml_checks ADD COLUMN certificates_json TEXT;
