//! (apply: filled in by its own change.)
