//! (cli: filled in by its own change.)
