//! Integration tests: scim.
