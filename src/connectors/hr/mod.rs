//! HR sources.
