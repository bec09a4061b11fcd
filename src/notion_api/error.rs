//! What can go wrong talking to Notion's public API. Every message says what happened, where
//! (the database or page id, the request), and what to do; none holds the token (server text is
//! scrubbed by the client before it gets here).

use std::time::Duration;

/// A Notion API failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting cannot work (a URL, a version, an id); nothing was sent.
    #[error("Notion publishing is misconfigured: {detail}")]
    Config {
        /// What is wrong and what to do.
        detail: String,
    },
    /// 401: the integration token was refused.
    #[error(
        "Notion refused the integration token (HTTP 401 unauthorized) on {method} {path}: the \
         token in {token_source} is wrong, or the integration was deleted. Copy the internal \
         integration secret again from Notion (Settings → Connections → Develop or manage \
         integrations) into {token_source}"
    )]
    Unauthorized {
        /// The request.
        method: String,
        /// Its path.
        path: String,
        /// Where the token is configured ("the environment variable X", "the file /p").
        token_source: String,
    },
    /// 404 `object_not_found` or 403 `restricted_resource` on a database: the id is wrong or the
    /// integration has not been given access to it.
    #[error(
        "Notion cannot find the database {database} for this integration (HTTP {status} {code}). \
         Either the id is wrong ({key} in the config), or the database has \
         not been shared with the integration: open the database in Notion, click the \"…\" menu \
         at its top right → Connections, and add the integration"
    )]
    NotShared {
        /// The database id.
        database: String,
        /// The config key that names it (`notion.users_database`).
        key: String,
        /// 404 or 403.
        status: u16,
        /// Notion's error code.
        code: String,
    },
    /// The database lacks a property idbridge needs, or has it with a type idbridge cannot
    /// write the column as.
    #[error(
        "the Notion database {database} does not fit the {report} report: {}. Change the \
         database's properties in Notion (docs/reports.md, \"Publishing to Notion\", lists what \
         each column may be)", problems.join("; ")
    )]
    Schema {
        /// The database id.
        database: String,
        /// The report.
        report: String,
        /// Each property missing or of the wrong type, with its expected types.
        problems: Vec<String>,
    },
    /// 400 `validation_error` and other refusals of one request.
    #[error("Notion refused {method} {path} (HTTP {status} {code}): {message}")]
    Api {
        /// The request.
        method: String,
        /// Its path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Notion's error code (`validation_error`, `conflict_error`, …).
        code: String,
        /// Notion's message, scrubbed and cut.
        message: String,
    },
    /// Throttled longer than allowed, or still throttled after every retry.
    #[error(
        "Notion kept throttling {method} {path} (HTTP 429 rate_limited){}: try again later, or \
         raise notion.max_retry_after", asked.map(|d| format!(", asking to wait {}s, longer than the {}s allowed", d.as_secs(), max.as_secs())).unwrap_or_default()
    )]
    RateLimited {
        /// The request.
        method: String,
        /// Its path.
        path: String,
        /// The wait asked for when it was over the cap.
        asked: Option<Duration>,
        /// `notion.max_retry_after`.
        max: Duration,
    },
    /// No usable reply: a timeout, a broken connection, 5xx after every retry.
    #[error("Notion did not answer {method} {path}: {detail}; check the network and https://status.notion.so, then publish again")]
    Transport {
        /// The request.
        method: String,
        /// Its path.
        path: String,
        /// What happened, scrubbed.
        detail: String,
    },
    /// The reply was larger than `notion.max_reply_bytes`.
    #[error("Notion's reply to {method} {path} is larger than {limit} bytes (notion.max_reply_bytes); nothing more was read")]
    ReplyTooLarge {
        /// The request.
        method: String,
        /// Its path.
        path: String,
        /// The bound.
        limit: u64,
    },
    /// A reply that is not what the API documents.
    #[error("Notion's reply to {method} {path} cannot be read: {detail}")]
    InvalidReply {
        /// The request.
        method: String,
        /// Its path.
        path: String,
        /// What is wrong with it.
        detail: String,
    },
    /// A database query that does not end: more pages than the bound, or a cursor seen twice.
    #[error("reading the Notion database {database} did not end: {detail}")]
    Paging {
        /// The database id.
        database: String,
        /// Why it was stopped.
        detail: String,
    },
}

impl Error {
    /// The environment failed (network, Notion's service, the token): a later run may succeed.
    pub fn is_environment(&self) -> bool {
        match self {
            Error::Unauthorized { .. }
            | Error::RateLimited { .. }
            | Error::Transport { .. }
            | Error::ReplyTooLarge { .. }
            | Error::InvalidReply { .. }
            | Error::Paging { .. } => true,
            Error::Api { status, .. } => *status >= 500,
            Error::Config { .. } | Error::NotShared { .. } | Error::Schema { .. } => false,
        }
    }

    /// The setup must change (the config, the database's sharing or properties): retrying will
    /// not help.
    pub fn is_setup(&self) -> bool {
        matches!(
            self,
            Error::Config { .. } | Error::NotShared { .. } | Error::Schema { .. }
        )
    }
}

/// Results of this module.
pub type Result<T> = std::result::Result<T, Error>;
