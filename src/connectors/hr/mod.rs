//! HR sources: employment facts (status, start and termination dates) plus the profile fields HR
//! owns. Bad rows are reported with their line and skipped; they never cause a deactivation.

pub mod csv;
pub mod http;
pub mod row;

pub use self::csv::{read_csv, read_csv_file};
pub use self::http::read_http;

pub use super::SourceRead;

/// A source that cannot be read at all (as opposed to a bad row).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file cannot be opened or read.
    #[error(
        "cannot read HR file {path} (source `{source_name}`): {reason}; check `path` in the config"
    )]
    Read {
        /// Source name.
        source_name: String,
        /// File path.
        path: String,
        /// OS error.
        reason: String,
    },
    /// The file is larger than its source's `max_file_bytes`; nothing of it is used.
    #[error(
        "HR file {path} (source `{source_name}`) is larger than max_file_bytes = {limit} bytes; idbridge stopped reading \
         there and uses nothing from it. If the export really is that large, raise sources.max_file_bytes; otherwise \
         check that `path` names the export"
    )]
    TooLarge {
        /// Source name.
        source_name: String,
        /// File path.
        path: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The path names a pipe, a device or a directory: it could block or never end.
    #[error(
        "HR file {path} (source `{source_name}`) is {kind}, not a regular file; point `path` at the exported CSV file"
    )]
    NotAFile {
        /// Source name.
        source_name: String,
        /// File path.
        path: String,
        /// What it is instead.
        kind: String,
    },
    /// The header lacks a required column.
    #[error("HR file {path} (source `{source_name}`) has no `{column}` column in its header; rename the column or set sources.columns.{key}")]
    MissingColumn {
        /// Source name.
        source_name: String,
        /// File path.
        path: String,
        /// Expected header name.
        column: String,
        /// Config key that names it.
        key: String,
    },
    /// Two header columns answer to one role (`email` twice, or `Email` and ` email`).
    #[error("HR file {path} (source `{source_name}`) has several columns for `{column}`: {columns}; idbridge will not guess which one \
             holds the {key}. Remove or rename all but one (header names compare without case and extra spaces), or point \
             sources.columns.{key} at a unique name")]
    AmbiguousHeader {
        /// Source name.
        source_name: String,
        /// File path.
        path: String,
        /// The configured column name.
        column: String,
        /// Config key that names it.
        key: String,
        /// The clashing header columns, with their positions.
        columns: String,
    },
    /// The HR API could not be read completely.
    #[error("HR API source `{source_name}` at {url}: {detail}")]
    Http {
        /// Source name.
        source_name: String,
        /// The page URL.
        url: String,
        /// What went wrong and what to do.
        detail: String,
    },
    /// The header itself is unreadable.
    #[error("HR file {path} (source `{source_name}`): cannot read the header line: {reason}")]
    Header {
        /// Source name.
        source_name: String,
        /// File path.
        path: String,
        /// Parser error.
        reason: String,
    },
}
