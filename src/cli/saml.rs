//! `idbridge saml …`: check IdP metadata (file or URL), check a SAML Response, and run a one-off
//! test SP on loopback. The rules live in `crate::saml`; this file reads inputs (files, stdin,
//! URLs with a timeout and size cap), prints the reports (JSON, or text rendered by
//! `crate::report::saml`), and talks to the store.
//!
//! Time: the global `--now RFC3339` (hidden at the top level, documented here) pins the clock so
//! captured responses and fixtures can be checked long after they expire.

use super::output::{self, errln, outln};
use super::{Exit, Format};
use crate::clock::Clock;
use crate::saml::metadata::{self, MetaExpect, Profile};
use crate::saml::{self, login, Certificate, Expect, Finding, Level, Report, Verdict};
use crate::store::{LinkState, Store, StoreRead};
use anyhow::{anyhow, bail, Context, Result};
use chrono::{DateTime, Duration, Utc};
use clap::{ArgGroup, Args, Subcommand};
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// `saml`: SSO checks. All commands take the global `--now RFC3339` to check at a fixed time.
#[derive(Debug, Args)]
pub struct SamlArgs {
    /// The SAML command.
    #[command(subcommand)]
    pub command: SamlCommand,
}

impl SamlArgs {
    /// The output format asked for.
    pub fn format(&self) -> Format {
        match &self.command {
            SamlCommand::CheckMetadata(a) => a.format,
            SamlCommand::CheckResponse(a) => a.format,
            SamlCommand::TestLogin(a) => a.format,
        }
    }
}

/// SAML commands.
#[derive(Debug, Subcommand)]
pub enum SamlCommand {
    /// Check IdP metadata (a file or an https URL) against SAML and Notion's rules.
    CheckMetadata(CheckMetadataArgs),
    /// Check a SAMLResponse (raw XML, base64, or a SAMLResponse= form body; `-` reads stdin).
    CheckResponse(CheckResponseArgs),
    /// Run a one-off SP on loopback: print its metadata and a login URL, check what the IdP posts.
    TestLogin(TestLoginArgs),
}

/// `saml check-metadata`.
#[derive(Debug, Args)]
pub struct CheckMetadataArgs {
    /// Metadata file, or an http(s) URL to fetch.
    pub source: String,
    /// The ACS URL Notion shows (https://www.notion.so/sso/saml/<id>).
    #[arg(long, conflicts_with = "notion_id")]
    pub acs: Option<String>,
    /// Notion's workspace ID or SAML config ID (the ACS URL is built from it).
    #[arg(long)]
    pub notion_id: Option<String>,
    /// Which entity to check in an EntitiesDescriptor.
    #[arg(long)]
    pub entity: Option<String>,
    /// PEM certificate that signs the metadata (repeatable); the signature is then verified.
    #[arg(long)]
    pub metadata_signer: Vec<PathBuf>,
    /// Warn when a signing certificate expires within this many days.
    #[arg(long, default_value_t = 30)]
    pub warn_days: i64,
    /// Largest metadata accepted, in bytes.
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    pub max_bytes: usize,
    /// Timeout for fetching a URL (e.g. 10s, 1m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Expired certificates and weak keys are errors.
    #[arg(long)]
    pub strict: bool,
    /// Generic SAML 2.0 SP rules instead of Notion's.
    #[arg(long)]
    pub generic: bool,
    /// The store `--record` writes to (default: the `[store]` of the config file).
    #[arg(long, requires = "record")]
    pub store: Option<String>,
    /// Record the findings in the store's check history (creates and migrates the store).
    #[arg(long)]
    pub record: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `saml check-response`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("trust").required(true).multiple(true).args(["metadata", "idp_cert"])))]
pub struct CheckResponseArgs {
    /// The response file, or `-` for stdin.
    pub input: String,
    /// IdP metadata: its signing certificates and entity ID are the trust anchors.
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// IdP signing certificate, PEM (repeatable, for rollover).
    #[arg(long)]
    pub idp_cert: Vec<PathBuf>,
    /// Expected IdP entity ID (default: the metadata's entityID).
    #[arg(long)]
    pub issuer: Option<String>,
    /// Which IdP entity of the metadata to use.
    #[arg(long)]
    pub entity: Option<String>,
    /// The SP entity ID (Notion: https://www.notion.so/sso/saml).
    #[arg(long)]
    pub audience: Option<String>,
    /// The ACS URL (Destination and Recipient must equal it).
    #[arg(long)]
    pub recipient: Option<String>,
    /// The AuthnRequest ID the response must answer.
    #[arg(long)]
    pub in_response_to: Option<String>,
    /// Clock skew tolerated on every time check (e.g. 180s).
    #[arg(long, default_value = "180s", value_parser = parse_duration)]
    pub clock_skew: Duration,
    /// Oldest acceptable IssueInstant (e.g. 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub max_age: Duration,
    /// Check the XML signature only, not the Web-SSO protocol fields.
    #[arg(long)]
    pub signature_only: bool,
    /// SHA-1 and certificate expiry are errors.
    #[arg(long)]
    pub strict: bool,
    /// Cross-check the NameID against this store's links, read-only (default: the `[store]` of
    /// the config file, when there is one).
    #[arg(long)]
    pub store: Option<String>,
    /// Record the findings in the store's check history (creates and migrates the store).
    #[arg(long)]
    pub record: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// `saml test-login`.
#[derive(Debug, Args)]
pub struct TestLoginArgs {
    /// IdP metadata (file).
    #[arg(long)]
    pub metadata: PathBuf,
    /// Loopback address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: std::net::SocketAddr,
    /// The entity ID of this test SP (register it in the IdP with the printed ACS URL).
    #[arg(long)]
    pub sp_entity_id: String,
    /// Give up after this long (e.g. 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Fixed AuthnRequest ID (tests with pre-signed responses).
    #[arg(long, hide = true)]
    pub request_id: Option<String>,
    /// Advertised ACS URL instead of http://<listen>/acs (tests with pre-signed responses).
    #[arg(long, hide = true)]
    pub acs_url: Option<String>,
    /// Stop after this many posted responses (tests of the replay check).
    #[arg(long, hide = true, default_value_t = 1)]
    pub responses: usize,
    /// SHA-1 and certificate expiry are errors.
    #[arg(long)]
    pub strict: bool,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// A duration flag: the config file's grammar (`180s`, `5m`, `1h`, `2d`, `1500ms`; docs/config.md,
/// "Durations"), or a bare number of seconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let parsed = crate::config::duration::parse_flag(text)?;
    Duration::from_std(parsed).map_err(|_| format!("{:?} is too long a duration", text.trim()))
}

/// Run a `saml` command. The checks read their inputs and nothing else: the config file is
/// only consulted for its `[store]` URL, when a store is wanted (the cross-check or `--record`).
pub async fn run(args: SamlArgs, clock: Arc<dyn Clock>, config: &Path) -> Result<Exit> {
    match args.command {
        SamlCommand::CheckMetadata(a) => check_metadata(a, clock.now(), config).await,
        SamlCommand::CheckResponse(a) => check_response(a, clock.now(), config).await,
        SamlCommand::TestLogin(a) => test_login(a, clock).await,
    }
}

/// The store URL: `--store` wins; otherwise the `[store]` of the config file when that file
/// exists (only that table is read: no other secret is needed). `Ok(None)`: no store named.
fn store_url(explicit: Option<&str>, config: &Path) -> Result<Option<String>> {
    if let Some(url) = explicit {
        return Ok(Some(url.to_owned()));
    }
    if !config.exists() {
        return Ok(None);
    }
    let url = crate::config::load_store_url(config)?;
    Ok(Some(secrecy::ExposeSecret::expose_secret(&url).to_owned()))
}

/// The store a check writes its history to (`--record`): opened for writing and migrated.
async fn record_store(explicit: Option<&str>, config: &Path) -> Result<Store> {
    let Some(url) = store_url(explicit, config)? else {
        bail!(
            "--record needs a store: pass --store URL, or run where {} (or --config FILE) names one",
            config.display()
        );
    };
    let store = Store::open(&url).await?;
    store.migrate().await?;
    Ok(store)
}

/// The store for the SSO <-> provisioning cross-check, read-only: never created or migrated.
/// `None` (the cross-check is skipped) when no store is named or it holds nothing yet. A store
/// named by `--store` must open; one found through the config file is skipped with a warning
/// when it cannot be (the check itself needs no store).
async fn cross_check_store(explicit: Option<&str>, config: &Path) -> Result<Option<StoreRead>> {
    let skip = |what: String| {
        tracing::warn!("{what}; the SSO <-> provisioning cross-check is skipped");
        Ok(None)
    };
    let url = match store_url(explicit, config) {
        Ok(Some(url)) => url,
        Ok(None) => return Ok(None),
        Err(e) => return skip(format!("{e:#}")),
    };
    match Store::open_read_only(&url).await {
        Ok(Some(store)) => Ok(Some(store)),
        Ok(None) => {
            tracing::info!(
                "the store holds no links yet; the SSO <-> provisioning cross-check is skipped"
            );
            Ok(None)
        }
        Err(e) if explicit.is_none() => skip(e.to_string()),
        Err(e) => Err(e.into()),
    }
}

fn exit_for(verdict: Verdict) -> Exit {
    match verdict {
        Verdict::Accept => Exit::Ok,
        Verdict::Reject => Exit::Blocked,
    }
}

/// Largest PEM certificate file read (a chain of a few certificates is a few KiB).
const MAX_PEM_BYTES: usize = 1024 * 1024;

/// Read at most `max` bytes from `reader`; more is an error naming `what` (the read stops at
/// `max + 1` bytes, so a huge or endless input costs bounded memory).
fn read_capped(reader: impl Read, max: usize, what: &str, hint: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("cannot read {what}"))?;
    if buf.len() > max {
        bail!("{what} is larger than {max} bytes, the limit for this input; {hint}");
    }
    Ok(buf)
}

fn read_file(path: &Path, max: usize, hint: &str) -> Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    read_capped(file, max, &path.display().to_string(), hint)
}

const ONE_MESSAGE: &str = "pass a single SAML message";
const ONE_DOCUMENT: &str = "pass a single metadata document";

fn read_certs(paths: &[PathBuf]) -> Result<Vec<Certificate>> {
    let mut out = Vec::new();
    for p in paths {
        let certs = Certificate::parse_all(&read_file(
            p,
            MAX_PEM_BYTES,
            "a PEM certificate file is a few KiB",
        )?)
        .map_err(|e| anyhow!("{}: {e}", p.display()))?;
        out.extend(certs);
    }
    Ok(out)
}

async fn fetch(url: &str, timeout: Duration, max_bytes: usize) -> Result<Vec<u8>> {
    let timeout = timeout
        .to_std()
        .map_err(|_| anyhow!("the timeout must be positive"))?;
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .context("cannot build the HTTP client")?;
    let mut resp = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("cannot fetch {url}"))?;
    if !resp.status().is_success() {
        bail!("fetching {url} gave HTTP {}", resp.status());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .with_context(|| format!("cannot read {url}"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > max_bytes {
            bail!("{url} is larger than --max-bytes {max_bytes}");
        }
    }
    Ok(body)
}

async fn check_metadata(
    args: CheckMetadataArgs,
    now: DateTime<Utc>,
    config: &Path,
) -> Result<Exit> {
    let bytes = if args.source.starts_with("http://") || args.source.starts_with("https://") {
        fetch(&args.source, args.timeout, args.max_bytes).await?
    } else {
        read_file(
            Path::new(&args.source),
            args.max_bytes,
            "raise --max-bytes for a trusted, larger document",
        )?
    };
    let acs = args.acs.clone().or_else(|| {
        args.notion_id
            .as_ref()
            .map(|id| format!("{}{id}", metadata::NOTION_ACS_PREFIX))
    });
    let limits = saml::Limits {
        max_bytes: args.max_bytes,
        ..saml::Limits::default()
    };
    let expect = MetaExpect {
        profile: if args.generic {
            Profile::Generic
        } else {
            Profile::Notion
        },
        signers: read_certs(&args.metadata_signer)?,
        entity: args.entity.clone(),
        acs,
        warn_days: args.warn_days,
        strict: args.strict,
        limits,
    };
    let mut report = metadata::check(&bytes, &expect, now);
    if saml::only_time_errors(&report.findings) {
        report.findings.push(time_hint());
    }
    if args.record {
        let store = record_store(args.store.as_deref(), config).await?;
        let checked = Checked {
            kind: "metadata",
            subject: report.entity_id.as_deref(),
            verdict: report.verdict,
            findings: &report.findings,
            certificates: Some(&report.certificates),
        };
        record(&store, checked, now).await?;
    }
    match args.format {
        Format::Json => output::json(&report)?,
        Format::Table => output::out(&crate::report::saml::metadata_text(&report)),
    }
    Ok(exit_for(report.verdict))
}

fn time_hint() -> Finding {
    Finding::info(
        "time-only",
        "Only time checks failed: the input is older (or newer) than now. To check everything else, pass --now with a time inside its validity window.",
    )
}

/// What one recorded check says: its kind, subject, verdict and findings, and for a metadata
/// check the IdP's certificates (so `report sso` can count down to their expiry).
struct Checked<'a> {
    kind: &'a str,
    subject: Option<&'a str>,
    verdict: Verdict,
    findings: &'a [Finding],
    certificates: Option<&'a [metadata::CertSummary]>,
}

async fn record(store: &Store, checked: Checked<'_>, now: DateTime<Utc>) -> Result<()> {
    let json = serde_json::to_string(checked.findings)?;
    let certificates = checked
        .certificates
        .map(serde_json::to_string)
        .transpose()?;
    store
        .record_saml_check(
            checked.kind,
            checked.subject,
            checked.verdict.as_str(),
            &json,
            certificates.as_deref(),
            now,
        )
        .await?;
    Ok(())
}

/// The response, from a file or stdin (`-`), at most [`saml::Limits`]' `max_bytes`.
fn read_input(input: &str) -> Result<Vec<u8>> {
    let max = saml::Limits::default().max_bytes;
    if input == "-" {
        return read_capped(std::io::stdin().lock(), max, "stdin", ONE_MESSAGE);
    }
    read_file(Path::new(input), max, ONE_MESSAGE)
}

async fn check_response(
    args: CheckResponseArgs,
    now: DateTime<Utc>,
    config: &Path,
) -> Result<Exit> {
    let bytes = read_input(&args.input)?;
    let mut certs = read_certs(&args.idp_cert)?;
    let mut issuer = args.issuer.clone();
    if let Some(path) = &args.metadata {
        let md = read_file(path, saml::Limits::default().max_bytes, ONE_DOCUMENT)?;
        let trust = metadata::idp_trust(&md, args.entity.as_deref())
            .map_err(|f| anyhow!("{}: {}", path.display(), f.message))?;
        certs.extend(trust.certs);
        if issuer.is_none() {
            issuer = trust.entity_id;
        }
    }
    let expect = Expect {
        certs,
        issuer,
        audience: args.audience.clone(),
        recipient: args.recipient.clone(),
        in_response_to: args.in_response_to.clone(),
        level: if args.signature_only {
            Level::Signature
        } else {
            Level::Response
        },
        allow_sha1: !args.strict,
        strict_certs: args.strict,
        clock_skew: args.clock_skew,
        max_age: Some(args.max_age),
        notion: true,
        ..Expect::default()
    };
    let mut report = saml::check(&bytes, &expect, now);
    not_checked(&args, &mut report);
    if saml::only_time_errors(&report.findings) {
        report.findings.push(time_hint());
    }
    if args.record {
        let store = record_store(args.store.as_deref(), config).await?;
        cross_check(&store, &mut report).await?;
        let checked = Checked {
            kind: "response",
            subject: report.name_id.as_deref(),
            verdict: report.verdict,
            findings: &report.findings,
            certificates: None,
        };
        record(&store, checked, now).await?;
    } else if let Some(store) = cross_check_store(args.store.as_deref(), config).await? {
        cross_check(&store, &mut report).await?;
    }
    print_report(&report, args.format)?;
    Ok(exit_for(report.verdict))
}

fn not_checked(args: &CheckResponseArgs, report: &mut Report) {
    if args.signature_only {
        return;
    }
    if args.audience.is_none() {
        report.findings.push(Finding::info(
            "audience-not-checked",
            format!(
                "The audience was not checked; for Notion pass --audience {}.",
                metadata::NOTION_ENTITY_ID
            ),
        ));
    }
    if args.recipient.is_none() {
        report.findings.push(Finding::info(
            "recipient-not-checked",
            "The Destination/Recipient was not checked; pass --recipient with the ACS URL.",
        ));
    }
}

/// The SSO ↔ provisioning cross-check: can this NameID log in to a provisioned account?
async fn cross_check(store: &StoreRead, report: &mut Report) -> Result<()> {
    let Some(name) = report.name_id.clone() else {
        return Ok(());
    };
    let links = store.user_link_states(&name).await?;
    let finding = if links.iter().any(|l| l.state == LinkState::Active) {
        Finding::info(
            "provisioned-active",
            format!(
                "{name} is a person idbridge provisions, active in {}.",
                targets(&links, LinkState::Active)
            ),
        )
    } else if !links.is_empty() {
        Finding::warning(
            "provisioned-deactivated",
            format!("{name} was provisioned by idbridge but is deactivated in {}: the login will not reach a workspace account.", targets(&links, LinkState::Deactivated)),
            "Check the person's status in the HR/LDAP source; reactivation happens on the next sync.",
        )
    } else {
        Finding::warning(
            "not-provisioned",
            format!("{name} is not a person idbridge provisions: Notion will refuse the login or create the account just in time."),
            "Check that the IdP's NameID is the same email the provisioning sends as userName.",
        )
    };
    report.push(finding);
    Ok(())
}

fn targets(links: &[crate::store::UserLinkState], state: LinkState) -> String {
    links
        .iter()
        .filter(|l| l.state == state)
        .map(|l| l.target_name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_report(report: &Report, format: Format) -> Result<()> {
    match format {
        Format::Json => output::json(report)?,
        Format::Table => output::out(&crate::report::saml::response_text(report)),
    }
    Ok(())
}

/// State shared by the test SP's handlers.
struct LoginState {
    expect: Expect,
    clock: Arc<dyn Clock>,
    seen: Mutex<HashSet<String>>,
    reports: tokio::sync::mpsc::UnboundedSender<Report>,
}

async fn test_login(args: TestLoginArgs, clock: Arc<dyn Clock>) -> Result<Exit> {
    let md = read_file(
        &args.metadata,
        saml::Limits::default().max_bytes,
        ONE_DOCUMENT,
    )?;
    let trust = metadata::idp_trust(&md, None)
        .map_err(|f| anyhow!("{}: {}", args.metadata.display(), f.message))?;
    let now = clock.now();
    let md_report = metadata::check(
        &md,
        &MetaExpect {
            profile: Profile::Generic,
            ..MetaExpect::default()
        },
        now,
    );
    let sso = md_report
        .sso
        .iter()
        .find(|e| e.binding.ends_with("HTTP-Redirect"))
        .map(|e| e.location.trim().to_string())
        .ok_or_else(|| anyhow!("the IdP metadata offers no HTTP-Redirect SingleSignOnService"))?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        bail!("test-login listens on loopback only, not {addr}");
    }
    let acs = args
        .acs_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}/acs"));
    let request_id = args.request_id.clone().unwrap_or_else(|| {
        let bytes: [u8; 16] = rand::random();
        format!("_idbridge-{}", hex::encode(bytes))
    });
    let request = login::authn_request(&request_id, now, &args.sp_entity_id, &acs, &sso);
    outln!(
        "SP metadata to register in the IdP:\n{}",
        login::sp_metadata(&args.sp_entity_id, &acs)
    );
    outln!("ACS URL: {acs}");
    outln!("Listening on: http://{addr}/acs");
    outln!(
        "Open this login URL in a browser:\n{}",
        login::redirect_url(&sso, &request, None)
    );

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let state = Arc::new(LoginState {
        expect: Expect {
            certs: trust.certs,
            issuer: trust.entity_id,
            audience: Some(args.sp_entity_id.clone()),
            recipient: Some(acs.clone()),
            in_response_to: Some(request_id),
            allow_sha1: !args.strict,
            strict_certs: args.strict,
            ..Expect::default()
        },
        clock,
        seen: Mutex::new(HashSet::new()),
        reports: tx,
    });
    let app = axum::Router::new()
        .route("/acs", axum::routing::post(acs_handler))
        .route(
            "/metadata",
            axum::routing::get({
                let md = login::sp_metadata(&args.sp_entity_id, &acs);
                move || async move { md }
            }),
        )
        .with_state(state);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .await
    });
    let deadline = args
        .timeout
        .to_std()
        .map_err(|_| anyhow!("the timeout must be positive"))?;
    let mut verdicts = Vec::new();
    let collect = async {
        while let Some(report) = rx.recv().await {
            let _ = print_report(&report, args.format);
            verdicts.push(report.verdict);
            if verdicts.len() >= args.responses {
                break;
            }
        }
    };
    let timed_out = tokio::time::timeout(deadline, collect).await.is_err();
    let _ = stop_tx.send(());
    let _ = server.await;
    if timed_out && verdicts.len() < args.responses {
        errln!("idbridge: no (more) response arrived before the timeout");
        return Ok(Exit::Blocked);
    }
    Ok(if verdicts.iter().all(|v| *v == Verdict::Accept) {
        Exit::Ok
    } else {
        Exit::Blocked
    })
}

async fn acs_handler(
    axum::extract::State(state): axum::extract::State<Arc<LoginState>>,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, String) {
    let mut report = saml::check(&body, &state.expect, state.clock.now());
    if let Some(id) = report.assertion_id.clone() {
        let fresh = state
            .seen
            .lock()
            .map(|mut seen| seen.insert(id.clone()))
            .unwrap_or(false);
        if !fresh && report.verdict == Verdict::Accept {
            report.push(Finding::error(
                "replay",
                format!("The assertion {id} was already used: a replayed response."),
                "Log in again; never accept an assertion twice.",
            ));
        }
    }
    let status = match report.verdict {
        Verdict::Accept => axum::http::StatusCode::OK,
        Verdict::Reject => axum::http::StatusCode::FORBIDDEN,
    };
    let body = serde_json::to_string_pretty(&report).unwrap_or_default();
    let _ = state.reports.send(report);
    (status, body)
}
