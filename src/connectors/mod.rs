//! Source connectors: read and normalise people from HR systems and directories. They never decide
//! who must change; they yield records and the problems they met.

pub mod hr;
