//! (saml: filled in by its own change.)
