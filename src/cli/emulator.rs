//! `idbridge emulator`: serve the Notion SCIM emulator on an address, for trying idbridge without a
//! Notion workspace and for CLI-level tests (`--control` adds the `/_emulator/*` routes);
//! `--notion-api` also serves the emulation of Notion's public API under `/v1/`, for trying
//! `report … --publish notion` (docs/reports.md, "Publishing to Notion").

use super::{EmulatorArgs, Exit};
use crate::clock::Clock;
use crate::emulator::notion_api::{alerts_schema, changes_schema, users_schema, NotionApi};
use crate::emulator::{Emulator, Profile, RateLimit};
use anyhow::{Context, Result};
use std::sync::Arc;

/// Serve until the process is stopped.
pub async fn run(args: EmulatorArgs, clock: Arc<dyn Clock>) -> Result<Exit> {
    let mut profile = match &args.profile {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read emulator profile {}", path.display()))?;
            Profile::from_toml_str(&text)
                .with_context(|| format!("invalid emulator profile {}", path.display()))?
        }
        None => Profile::default(),
    };
    if let Some(rps) = args.rate_limit {
        anyhow::ensure!(
            rps > 0.0 && rps.is_finite(),
            "--rate-limit must be a positive number of requests per second"
        );
        profile.rate_limit = Some(RateLimit {
            per_second: rps,
            burst: rps.ceil().max(1.0) as u32,
        });
    }
    let token = std::fs::read_to_string(&args.token_file)
        .with_context(|| format!("cannot read token file {}", args.token_file.display()))?;
    let token = token.trim();
    anyhow::ensure!(
        !token.is_empty(),
        "token file {} is empty",
        args.token_file.display()
    );
    let prefix = profile.prefix.clone();
    let emulator = Emulator::new(profile, clock.clone());
    emulator.add_token(token, &args.token_owner);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    eprintln!(
        "Notion SCIM emulator on http://{addr}{prefix} (token owner {}){}",
        args.token_owner,
        if args.control {
            "; control routes under /_emulator"
        } else {
            ""
        }
    );
    if !args.notion_api {
        emulator.serve(listener, args.control).await?;
        return Ok(Exit::Ok);
    }
    let api = notion_api(token, clock);
    let router = api.router().merge(emulator.router(args.control));
    axum::serve(listener, router).await?;
    Ok(Exit::Ok)
}

/// Notion's public API beside the SCIM emulator: the same token, a `changes`, a `users` and an
/// alerts database whose ids are printed (for `[notion] changes_database`, `users_database`,
/// `[alerts] notion_database`), throttled at Notion's documented 3 requests
/// per second.
fn notion_api(token: &str, clock: Arc<dyn Clock>) -> NotionApi {
    let api = NotionApi::new(clock);
    api.add_token(token);
    api.set_rate_limit(Some(RateLimit {
        per_second: 3.0,
        burst: 3,
    }));
    let changes = api.add_database("idbridge changes", &changes_schema());
    let users = api.add_database("idbridge access review", &users_schema());
    let alerts = api.add_database("idbridge alerts", &alerts_schema());
    eprintln!(
        "Notion public API under /v1/; changes database {changes}, users database {users}, \
         alerts database {alerts}"
    );
    api
}
