//! (scim: filled in by its own change.)
