//! What the targets share, built once per process: a folder holding the secrets a config may
//! name (so the resolver reads real files), the source settings the readers run with (resolved
//! from a config text, as a run gets them), and the SAML trust anchor.

use crate::config::{HrCsvSettings, HrHttpSettings, LdapSettings, SourceSettings};
use crate::saml::cert::Certificate;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The secret in the fixture's token and password files: no error may ever show it.
pub const SECRET: &str = "fz-secret-Q7x2v9";

/// The fixture's config: every source kind, one setting each that is not the default where it
/// changes how input is read (AD's binary GUIDs, nested JSON paths, a reported total).
const CONFIG: &str = r#"
[target]
kind = "notion"
token_file = "token"
token_owner = "owner@example.com"

[[sources]]
name = "corp"
kind = "ldap"
url = "ldap://ldap.example:389"
bind_dn = "cn=reader,dc=example"
password_file = "password"
users = { base = "ou=people,dc=example", filter = "(objectClass=inetOrgPerson)" }
extra_attributes = ["costCenter"]

[[sources]]
name = "ad"
kind = "ldap"
dialect = "ad"
url = "ldaps://dc.example"
bind_dn = "cn=reader,dc=example"
password_file = "password"
users = { base = "dc=example", filter = "(objectClass=user)" }

[[sources]]
name = "hr"
kind = "hr-csv"
path = "hr.csv"
timezone = "Europe/Paris"

[[sources]]
name = "api"
kind = "hr-http"
url = "https://hr.example/v1/people?department=all"
token_file = "token"
records = "data.items"
next = "links.next"
total = "meta.total"
columns = { employee_id = "id", email = "contact.email", manager_email = "manager.email" }

[[sources]]
name = "bamboo"
kind = "hr-http"
url = "https://api.bamboohr.example/reports/custom"
token_file = "token"
preset = "bamboohr"
"#;

/// The shared fixture.
pub struct Fixture {
    /// The folder relative config paths resolve against (holds `token` and `password`).
    pub dir: PathBuf,
    /// OpenLDAP and Active Directory sources.
    pub ldap: Vec<LdapSettings>,
    /// The HR CSV source: as configured, and with tight bounds (limits reached early).
    pub csv: Vec<HrCsvSettings>,
    /// The HR API sources: next-link paging with a total, and the BambooHR preset.
    pub http: Vec<HrHttpSettings>,
    /// The IdP certificate a SAML document is checked against.
    pub idp: Vec<Certificate>,
    // Kept for the life of the process: the folder is removed when it drops.
    _keep: tempfile::TempDir,
}

/// The fixture. One that cannot be built aborts the process with the reason: a target that ran
/// against nothing would look like a clean run.
pub fn get() -> &'static Fixture {
    static FIXTURE: OnceLock<Result<Fixture, String>> = OnceLock::new();
    match FIXTURE.get_or_init(build) {
        Ok(f) => f,
        Err(why) => {
            eprintln!("fuzz fixture: {why}");
            std::process::abort();
        }
    }
}

fn build() -> Result<Fixture, String> {
    let keep = tempfile::tempdir().map_err(|e| format!("no temporary folder: {e}"))?;
    let dir = keep.path().to_path_buf();
    for name in ["token", "password"] {
        std::fs::write(dir.join(name), format!("{SECRET}\n"))
            .map_err(|e| format!("cannot write {name}: {e}"))?;
    }
    let settings = crate::config::parse(CONFIG, &dir.join("idbridge.toml"), &dir)
        .map_err(|e| format!("the fixture config does not resolve: {e}"))?;
    let (mut ldap, mut csv, mut http) = (Vec::new(), Vec::new(), Vec::new());
    for source in settings.sources {
        match source {
            SourceSettings::Ldap(s) => ldap.push(*s),
            SourceSettings::HrCsv(s) => csv.push(*s),
            SourceSettings::HrHttp(s) => http.push(*s),
        }
    }
    if let Some(tight) = csv.first().cloned() {
        csv.push(HrCsvSettings {
            max_field_bytes: 24,
            max_field_lines: 1,
            max_file_bytes: 4096,
            ..tight
        });
    }
    let idp = Certificate::parse_all(include_bytes!("../../certs/test/saml/idp.crt"))
        .map_err(|e| format!("the test IdP certificate does not parse: {e}"))?;
    Ok(Fixture {
        dir,
        ldap,
        csv,
        http,
        idp,
        _keep: keep,
    })
}
