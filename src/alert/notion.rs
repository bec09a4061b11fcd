//! The Notion database sink: one page per alert episode in a database the admin shares with the
//! integration, through the public API client the reports' publish uses (`notion_api`). The page
//! is found again by its key (the title: the condition, the target and when the episode began),
//! so the episode's recovery updates the same page (`Cleared`, `Status`) and a delivery tried
//! again after a lost reply or a timeout never makes a second page.
//!
//! The database's properties are matched before any write ([`columns`], pure): every property
//! of [`FIELDS`] must exist with a type that can hold it, and a missing or misfit one is an error
//! naming each at once. The integration token is `[notion]`'s: read again from its variable or
//! file at every delivery (a rotated token needs no restart), sent only as the client's
//! sensitive header, and in no message (the client scrubs Notion's replies of it).

use super::{Alert, AlertSink, SinkError};
use crate::clock::Clock;
use crate::config::{secrets, NotionSettings};
use crate::notion_api::props::{self, PropValue};
use crate::notion_api::{Client, DatabaseId, Key, Page, PropType, Schema, Settings};
use crate::report::Cell;
use chrono::SecondsFormat;
use secrecy::{ExposeSecret, SecretString};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// One property of an alert page, besides the title (which holds the episode's key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `run-failed`, `plan-held`, `token-revoked`, `idp-cert-expiring`.
    Condition,
    /// `critical` or `warning`.
    Severity,
    /// The target's configured name.
    Target,
    /// The run that raised it.
    Run,
    /// What happened and what to do.
    Message,
    /// When the episode began.
    Since,
    /// When a run saw it clear (empty while it holds).
    Cleared,
    /// `open` or `cleared`.
    Status,
}

/// Each field's property name and the types that can hold it, the first the one to choose.
pub const FIELDS: &[(Field, &str, &[PropType])] = &[
    (
        Field::Condition,
        "Condition",
        &[PropType::Select, PropType::RichText],
    ),
    (
        Field::Severity,
        "Severity",
        &[PropType::Select, PropType::RichText],
    ),
    (
        Field::Target,
        "Target",
        &[PropType::RichText, PropType::Select],
    ),
    (Field::Run, "Run", &[PropType::Number, PropType::RichText]),
    (Field::Message, "Message", &[PropType::RichText]),
    (Field::Since, "Since", &[PropType::Date, PropType::RichText]),
    (
        Field::Cleared,
        "Cleared",
        &[PropType::Date, PropType::RichText],
    ),
    (
        Field::Status,
        "Status",
        &[PropType::Select, PropType::RichText],
    ),
];

/// Where each field goes in one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    /// The title property, which holds the episode's key.
    pub title: String,
    /// Each field's property and its type.
    pub fields: Vec<(Field, String, PropType)>,
}

/// The database's properties matched to [`FIELDS`], or every problem at once (what is missing or
/// of a type that cannot hold its field, and what to make it).
pub fn columns(schema: &Schema) -> Result<Columns, Vec<String>> {
    let mut problems = Vec::new();
    let title = schema.title().map(str::to_owned);
    if title.is_none() {
        problems.push("it has no title property".to_owned());
    }
    let mut fields = Vec::new();
    for (field, name, accepted) in FIELDS {
        let wanted = accepted
            .iter()
            .map(|t| t.label())
            .collect::<Vec<_>>()
            .join(" or ");
        match schema.properties.get(*name) {
            Some(Ok(kind)) if accepted.contains(kind) => {
                fields.push((*field, (*name).to_owned(), *kind));
            }
            None => problems.push(format!(
                "the property `{name}` is missing: add a {wanted} property named `{name}`"
            )),
            Some(Ok(kind)) => problems.push(format!(
                "`{name}` is a {} property: make it a {wanted} property",
                kind.label()
            )),
            Some(Err(other)) => problems.push(format!(
                "`{name}` is a {other} property, which idbridge does not write: make it a \
                 {wanted} property"
            )),
        }
    }
    match title {
        Some(title) if problems.is_empty() => Ok(Columns { title, fields }),
        _ => Err(problems),
    }
}

/// The episode's key, the page's title: the same for the alert and its recovery (both carry the
/// episode's start), different for the next episode of the same condition.
pub fn episode_key(alert: &Alert) -> String {
    format!(
        "{} on {} since {}",
        alert.condition,
        alert.target,
        alert.since.to_rfc3339_opts(SecondsFormat::Secs, true)
    )
}

/// The page's property values for `alert` (an alert, or with `cleared` its recovery).
pub fn page_values(alert: &Alert, columns: &Columns) -> Vec<(String, PropType, PropValue)> {
    let mut values = vec![(
        columns.title.clone(),
        PropType::Title,
        PropValue::Text(episode_key(alert)),
    )];
    for (field, name, kind) in &columns.fields {
        let cell = match field {
            Field::Condition => Cell::Text(alert.condition.to_string()),
            Field::Severity => Cell::Text(alert.severity.to_string()),
            Field::Target => Cell::Text(alert.target.clone()),
            Field::Run => alert.run_id.map_or(Cell::Null, Cell::Int),
            Field::Message => Cell::Text(alert.message.clone()),
            Field::Since => Cell::Time(alert.since),
            Field::Cleared => alert.cleared.map_or(Cell::Null, Cell::Time),
            Field::Status => Cell::Text(
                if alert.cleared.is_some() {
                    "cleared"
                } else {
                    "open"
                }
                .to_owned(),
            ),
        };
        // Every accepted type takes its field's cell (`columns` admits no other; a test
        // proves each pair), so nothing is dropped here.
        if let Ok(written) = props::value_for(&cell, *kind) {
            values.push((name.clone(), *kind, written.value));
        }
    }
    values
}

/// The values of `wanted` that `page` does not already hold.
fn changed(
    wanted: &[(String, PropType, PropValue)],
    page: &Page,
) -> Vec<(String, PropType, PropValue)> {
    wanted
        .iter()
        .filter(|(name, kind, value)| {
            page.properties
                .get(name)
                .and_then(|p| props::read(p, *kind))
                .as_ref()
                != Some(value)
        })
        .cloned()
        .collect()
}

/// Why a database cannot take alert pages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    /// The setup must change: the token's variable or file, the database's id or sharing, its
    /// properties.
    Setup(SinkError),
    /// Notion or the network failed, or refused the token: a later try may work.
    Environment(SinkError),
}

impl Unfit {
    /// The error, whichever kind.
    pub fn into_inner(self) -> SinkError {
        match self {
            Unfit::Setup(e) | Unfit::Environment(e) => e,
        }
    }
}

/// Writes alerts as pages of a Notion database.
pub struct NotionSink {
    database: DatabaseId,
    notion: NotionSettings,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    /// The client of the token last read, kept while the token stays the same so deliveries
    /// share one rate budget.
    client: tokio::sync::Mutex<Option<(SecretString, Arc<Client>)>>,
}

impl std::fmt::Debug for NotionSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotionSink")
            .field("database", &self.database.as_str())
            .field("token_source", &self.notion.token_source)
            .finish_non_exhaustive()
    }
}

impl NotionSink {
    /// A sink writing into `database` with `[notion]`'s settings, each delivery (every request
    /// and retry of it) taking at most `timeout`.
    pub fn new(
        database: DatabaseId,
        notion: NotionSettings,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            database,
            notion,
            timeout,
            clock,
            client: tokio::sync::Mutex::new(None),
        }
    }

    /// The sink for people: the database and where its token is kept (never the token).
    pub fn describe(&self) -> String {
        format!(
            "the Notion alert database {} (alerts.notion_database; integration token from {})",
            self.database, self.notion.token_source
        )
    }

    fn error(&self, detail: String, unreachable: bool) -> SinkError {
        SinkError {
            sink: self.describe(),
            detail,
            unreachable,
        }
    }

    fn api_error(&self, e: crate::notion_api::Error) -> SinkError {
        // Only a refusal of this one page leaves the others worth trying in this run.
        let unreachable = e.is_environment() || e.is_setup();
        self.error(e.to_string(), unreachable)
    }

    /// The client of the token as it is now in its variable or file.
    async fn client(&self) -> Result<Arc<Client>, SinkError> {
        let token =
            secrets::read(&self.notion.token_from).map_err(|e| self.error(e.to_string(), true))?;
        let mut slot = self.client.lock().await;
        if let Some((kept, client)) = slot.as_ref() {
            if kept.expose_secret() == token.expose_secret() {
                return Ok(client.clone());
            }
        }
        let n = &self.notion;
        let mut settings = Settings::new(n.url.clone(), &n.version, token.clone(), &n.token_source);
        settings.rate_limit = n.rate_limit;
        settings.timeout = n.timeout.min(self.timeout);
        settings.max_retries = n.max_retries;
        // A longer wait than the delivery may take would only end in its timeout.
        settings.max_retry_after = n.max_retry_after.min(self.timeout);
        settings.max_reply_bytes = n.max_reply_bytes;
        let client =
            Arc::new(Client::new(settings, self.clock.clone()).map_err(|e| self.api_error(e))?);
        *slot = Some((token, client.clone()));
        Ok(client)
    }

    /// The database's columns for alert pages, or why it cannot take them.
    async fn fit(&self, client: &Client) -> Result<Columns, Unfit> {
        let schema = client.database(&self.database).await.map_err(|e| {
            if e.is_environment() {
                Unfit::Environment(self.api_error(e))
            } else {
                Unfit::Setup(self.api_error(e))
            }
        })?;
        columns(&schema).map_err(|problems| {
            Unfit::Setup(self.error(
                format!(
                    "the database does not fit alert pages: {}. Change its properties in \
                     Notion (docs/config.md, [alerts], lists them)",
                    problems.join("; ")
                ),
                true,
            ))
        })
    }

    /// Reads the database's schema and checks it takes alert pages (`check-config`).
    pub async fn check(&self) -> Result<Columns, Unfit> {
        let client = self.client().await.map_err(Unfit::Setup)?;
        self.fit(&client).await
    }

    async fn write(&self, alert: &Alert) -> Result<(), SinkError> {
        let client = self.client().await?;
        let columns = self.fit(&client).await.map_err(Unfit::into_inner)?;
        let values = page_values(alert, &columns);
        let key = Key {
            property: columns.title.clone(),
            kind: PropType::Title,
            value: episode_key(alert),
        };
        let found = client
            .query_by_key(&self.database, &key)
            .await
            .map_err(|e| self.api_error(e))?;
        match found.first() {
            Some(page) => {
                let changed = changed(&values, page);
                if !changed.is_empty() {
                    client
                        .update_page(&page.id, &props::properties_json(&changed))
                        .await
                        .map_err(|e| self.api_error(e))?;
                }
            }
            None => {
                client
                    .create_page(&self.database, &props::properties_json(&values), Some(&key))
                    .await
                    .map_err(|e| self.api_error(e))?;
            }
        }
        Ok(())
    }

    async fn deliver(&self, alert: &Alert) -> Result<(), SinkError> {
        match tokio::time::timeout(self.timeout, self.write(alert)).await {
            Ok(result) => result,
            Err(_) => Err(self.error(
                format!(
                    "the delivery did not finish within {:?} (alerts.timeout); it is tried \
                     again after the next run, and finds the page by its key if it was made",
                    self.timeout
                ),
                true,
            )),
        }
    }
}

impl AlertSink for NotionSink {
    fn key(&self) -> &'static str {
        "notion"
    }

    fn send<'a>(
        &'a self,
        alert: &'a Alert,
    ) -> Pin<Box<dyn Future<Output = Result<(), SinkError>> + Send + 'a>> {
        Box::pin(self.deliver(alert))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Condition, Severity};
    use chrono::TimeZone;
    use serde_json::{json, Map};

    fn schema(props: &[(&str, &str)]) -> Schema {
        let mut map = Map::new();
        for (name, kind) in props {
            map.insert((*name).into(), json!({ "type": kind }));
        }
        Schema::from_database(&json!({ "properties": map })).unwrap()
    }

    fn full() -> Vec<(&'static str, &'static str)> {
        vec![
            ("Alert", "title"),
            ("Condition", "select"),
            ("Severity", "select"),
            ("Target", "rich_text"),
            ("Run", "number"),
            ("Message", "rich_text"),
            ("Since", "date"),
            ("Cleared", "date"),
            ("Status", "select"),
        ]
    }

    fn alert(cleared: bool) -> Alert {
        Alert {
            condition: Condition::PlanHeld,
            severity: Severity::Warning,
            target: "acme".into(),
            run_id: Some(12),
            message: "held: 3 deactivations".into(),
            since: chrono::Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap(),
            cleared: cleared.then(|| {
                chrono::Utc
                    .with_ymd_and_hms(2026, 11, 30, 9, 30, 0)
                    .unwrap()
            }),
        }
    }

    fn value<'a>(values: &'a [(String, PropType, PropValue)], name: &str) -> &'a PropValue {
        &values.iter().find(|(n, _, _)| n == name).unwrap().2
    }

    #[test]
    fn an_alert_page_holds_every_field_and_its_recovery_the_same_key() {
        let cols = columns(&schema(&full())).unwrap();
        let open = page_values(&alert(false), &cols);
        assert_eq!(open.len(), 9);
        let key = "plan-held on acme since 2026-11-30T08:00:00Z";
        assert_eq!(value(&open, "Alert"), &PropValue::Text(key.into()));
        assert_eq!(
            value(&open, "Condition"),
            &PropValue::Select(Some("plan-held".into()))
        );
        assert_eq!(
            value(&open, "Severity"),
            &PropValue::Select(Some("warning".into()))
        );
        assert_eq!(value(&open, "Target"), &PropValue::Text("acme".into()));
        assert_eq!(value(&open, "Run"), &PropValue::Number(Some(12.0)));
        assert_eq!(
            value(&open, "Since"),
            &PropValue::Date(Some("2026-11-30T08:00:00Z".into()))
        );
        assert_eq!(value(&open, "Cleared"), &PropValue::Date(None));
        assert_eq!(
            value(&open, "Status"),
            &PropValue::Select(Some("open".into()))
        );
        let done = page_values(&alert(true), &cols);
        assert_eq!(value(&done, "Alert"), &PropValue::Text(key.into()));
        assert_eq!(
            value(&done, "Cleared"),
            &PropValue::Date(Some("2026-11-30T09:30:00Z".into()))
        );
        assert_eq!(
            value(&done, "Status"),
            &PropValue::Select(Some("cleared".into()))
        );
        // Only what the recovery changes is written to the page again.
        let page = Page {
            id: "p".into(),
            properties: props::properties_json(&open),
        };
        let names: Vec<String> = changed(&done, &page)
            .into_iter()
            .map(|(n, _, _)| n)
            .collect();
        assert_eq!(names, ["Cleared", "Status"]);
        assert!(changed(&open, &page).is_empty());
    }

    #[test]
    fn every_accepted_type_takes_its_field_and_reads_back_equal() {
        for (_, name, accepted) in FIELDS {
            for kind in *accepted {
                let shape: Vec<(&str, &str)> = full()
                    .into_iter()
                    .map(|(n, t)| {
                        if n == *name {
                            (n, kind.as_str())
                        } else {
                            (n, t)
                        }
                    })
                    .collect();
                let cols = columns(&schema(&shape)).unwrap();
                for a in [alert(false), alert(true)] {
                    let values = page_values(&a, &cols);
                    assert_eq!(values.len(), 9, "{name} as {kind:?}");
                    let page = Page {
                        id: "p".into(),
                        properties: props::properties_json(&values),
                    };
                    assert!(changed(&values, &page).is_empty(), "{name} as {kind:?}");
                }
            }
        }
    }

    #[test]
    fn missing_and_misfit_properties_are_each_named_with_what_to_make_them() {
        let shape: Vec<(&str, &str)> = full()
            .into_iter()
            .filter(|(n, _)| *n != "Severity")
            .map(|(n, t)| match n {
                "Run" => (n, "date"),
                "Message" => (n, "people"),
                _ => (n, t),
            })
            .collect();
        let problems = columns(&schema(&shape)).unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| {
            p
            == "the property `Severity` is missing: add a Select or Text property named `Severity`"
        }));
        assert!(problems
            .iter()
            .any(|p| p == "`Run` is a Date property: make it a Number or Text property"));
        assert!(problems
            .iter()
            .any(|p| p.starts_with("`Message` is a people property")));
        let no_title: Vec<(&str, &str)> = full().into_iter().skip(1).collect();
        assert_eq!(
            columns(&schema(&no_title)).unwrap_err(),
            vec!["it has no title property".to_owned()]
        );
    }

    #[test]
    fn a_new_episode_of_the_same_condition_gets_another_page() {
        let mut later = alert(false);
        later.since = chrono::Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
        assert_ne!(episode_key(&alert(false)), episode_key(&later));
        let mut other_target = alert(false);
        other_target.target = "beta".into();
        assert_ne!(episode_key(&alert(false)), episode_key(&other_target));
    }

    #[test]
    fn debug_shows_where_the_token_is_kept_not_the_token() {
        let token = "ntn_debug_canary_123";
        let notion = NotionSettings {
            url: url::Url::parse("https://api.notion.com").unwrap(),
            version: crate::notion_api::DEFAULT_VERSION.into(),
            token: SecretString::from(token.to_owned()),
            token_source: "the environment variable NOTION_API_TOKEN".into(),
            token_from: secrets::SecretSource::Env("NOTION_API_TOKEN".into()),
            users_database: None,
            changes_database: None,
            rate_limit: None,
            timeout: Duration::from_secs(5),
            max_retries: 1,
            max_retry_after: Duration::from_secs(5),
            max_reply_bytes: 1 << 20,
        };
        let db = DatabaseId::parse("0123abcd456789abcdef0123456789ab", "alerts.notion_database")
            .unwrap();
        let sink = NotionSink::new(
            db,
            notion,
            Duration::from_secs(5),
            Arc::new(crate::clock::SystemClock),
        );
        let text = format!("{sink:?}");
        assert!(
            !text.contains(token) && text.contains("NOTION_API_TOKEN"),
            "{text}"
        );
    }
}
