//! (mapping: filled in by its own change.)
