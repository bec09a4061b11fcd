//! Shared helpers for integration tests: a workspace (the emulator on a loopback port), a temp
//! folder with a config, a token file and HR CSVs, and a runner for the real `idbridge` binary.
#![allow(dead_code)]

pub mod certs;
pub mod company;
pub mod slapd;
use idbridge::clock::SystemClock;
use idbridge::emulator::{Emulator, Profile, Running, SeedUser};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

/// The token every test workspace accepts. It doubles as a canary: it must never be printed.
pub const TOKEN: &str = "canary-token-5f1d2c9e7a";
/// The owner whose token idbridge holds.
pub const OWNER: &str = "owner@acme.test";
/// A `[policy]` line that turns the absence grace off (docs/lifecycle.md), for tests about
/// something else (guardrails, email reuse, alerts, reports) that expect a person missing from
/// the sources to be deactivated by the first run that misses them.
pub const NO_GRACE: &str = "absence_grace = { runs = 0, duration = \"0s\" }\n";
/// The HR CSV header the default column names read.
pub const HEADER: &str =
    "employee_id,email,first_name,last_name,title,department,manager_email,status,start_date,termination_date";

/// An emulated Notion workspace plus a folder with idbridge's config.
pub struct Workspace {
    pub emu: Emulator,
    pub running: Running,
    pub dir: tempfile::TempDir,
    /// Extra TOML appended to `[target]`.
    pub target_extra: String,
    /// Extra TOML at the end (e.g. a `[policy]` table).
    pub tail: String,
    /// Store URL (SQLite in the folder by default).
    pub store_url: String,
    /// `target.kind` (`notion` by default).
    pub kind: &'static str,
}

impl Workspace {
    /// A workspace with the token owner seeded as a Notion owner.
    pub async fn new() -> Self {
        Self::with_profile(Profile::default()).await
    }

    /// A workspace that behaves as Notion is known to under load: list order reshuffled on every
    /// call and about 3 requests per second per token with bursts (`Profile::with_notion_traffic`).
    /// The sync tests run under it, so convergence is checked with 429s and a moving order.
    pub async fn notion_like() -> Self {
        Self::with_profile(Profile::default().with_notion_traffic()).await
    }

    /// A workspace with an emulator profile. The organization has verified the domain of the
    /// test people (`acme.test`, the owner's), as a workspace that provisions them would have:
    /// the emulator refuses name and email changes outside verified domains, as Notion does.
    pub async fn with_profile(mut profile: Profile) -> Self {
        let domain = OWNER.rsplit_once('@').map_or("acme.test", |(_, d)| d);
        if !profile.seed.verified_domains.iter().any(|d| d == domain) {
            profile.seed.verified_domains.push(domain.to_owned());
        }
        let emu = Emulator::new(profile, Arc::new(SystemClock));
        emu.seed_user(SeedUser {
            role: Some("owner".into()),
            ..SeedUser::member(OWNER, "Olivia", "Owner")
        });
        emu.add_token(TOKEN, OWNER);
        let running = emu.clone().spawn(true).await.expect("emulator starts");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                dir.path().join("token"),
                std::fs::Permissions::from_mode(0o600),
            )
            .unwrap();
        }
        let store_url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("idbridge.db").display()
        );
        Self {
            emu,
            running,
            dir,
            target_extra: "rate_limit = 0\ntimeout = \"5s\"\n".into(),
            tail: String::new(),
            store_url,
            kind: "notion",
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write the HR CSV (`rows` without the header) and the config pointing at it.
    pub fn hr(&self, rows: &[&str]) {
        let mut text = format!("{HEADER}\n");
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        std::fs::write(self.path("hr.csv"), text).unwrap();
        self.write_config();
    }

    pub fn write_config(&self) {
        let config = format!(
            "[store]\nurl = \"{}\"\n\n[target]\nname = \"test\"\nkind = \"{}\"\nurl = \"{}\"\ntoken_file = \"token\"\n\
             token_owner = \"{OWNER}\"\n{}\n[[sources]]\nname = \"hr\"\nkind = \"hr-csv\"\npath = \"hr.csv\"\n\n{}\n",
            self.store_url,
            self.kind,
            self.running.base_url(),
            self.target_extra,
            self.tail
        );
        std::fs::write(self.path("idbridge.toml"), config).unwrap();
    }

    /// Run `idbridge --config <dir>/idbridge.toml ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_idbridge"))
            .arg("--config")
            .arg(self.path("idbridge.toml"))
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("idbridge runs");
        Run::from(output)
    }

    /// Run the binary in a blocking thread so the in-process emulator keeps serving.
    pub async fn idbridge(&self, args: &[&str]) -> Run {
        let config = self.path("idbridge.toml");
        let dir = self.dir.path().to_path_buf();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let output = Command::new(env!("CARGO_BIN_EXE_idbridge"))
                .arg("--config")
                .arg(&config)
                .args(&args)
                .current_dir(&dir)
                .output()
                .expect("idbridge runs");
            Run::from(output)
        })
        .await
        .unwrap()
    }

    /// Members in the workspace (active), by userName.
    pub fn active_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .emu
            .members()
            .into_iter()
            .filter(|m| m.active)
            .map(|m| m.user_name)
            .collect();
        names.sort();
        names
    }
}

/// A finished command.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Self {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Panic with both streams unless the exit code is `code`; never let the token through.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self.no_secret()
    }

    /// Neither stream holds the token, as is or in any encoding a server may echo it in.
    pub fn no_secret(self) -> Self {
        for form in secret_forms(TOKEN) {
            assert!(
                !self.stdout.contains(&form) && !self.stderr.contains(&form),
                "the token leaked into output as {form:?}"
            );
        }
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// `token` as is and encoded: base64 (standard and URL-safe, padded or not) of the token, of
/// `Bearer <token>` and of basic-auth `:<token>` / `<token>:`; percent-encoded (every byte, or
/// every byte but letters and digits, either hex case); JSON `\u` escapes (either hex case).
pub fn secret_forms(token: &str) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    use base64::Engine;
    let mut forms = vec![token.to_owned()];
    for text in [
        token.to_owned(),
        format!("Bearer {token}"),
        format!(":{token}"),
        format!("{token}:"),
    ] {
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            forms.push(engine.encode(text.as_bytes()));
        }
    }
    for keep_alnum in [false, true] {
        let encode = |upper: bool| -> String {
            token
                .bytes()
                .map(|b| match (keep_alnum && b.is_ascii_alphanumeric(), upper) {
                    (true, _) => char::from(b).to_string(),
                    (false, true) => format!("%{b:02X}"),
                    (false, false) => format!("%{b:02x}"),
                })
                .collect()
        };
        forms.push(encode(true));
        forms.push(encode(false));
    }
    forms.push(
        token
            .encode_utf16()
            .map(|u| format!("\\u{u:04x}"))
            .collect(),
    );
    forms.push(
        token
            .encode_utf16()
            .map(|u| format!("\\u{u:04X}"))
            .collect(),
    );
    forms.sort();
    forms.dedup();
    forms
}

/// A CSV row for a person with default columns.
pub fn row(id: &str, first: &str, title: &str, status: &str) -> String {
    format!(
        "{id},{}@acme.test,{first},Test,{title},Eng,,{status},2020-01-01,",
        first.to_lowercase()
    )
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}
