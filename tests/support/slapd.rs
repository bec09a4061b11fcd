//! A throwaway OpenLDAP `slapd` shared by every LDAP test of this binary: started once, on free
//! loopback ports (plain/StartTLS and ldaps), from its own `slapd.conf` in a temp directory, with
//! certificates from a CA made at start. Each test seeds its own `ou=<test>` so tests run in
//! parallel.
//!
//! Lifetime: statics are never dropped, so slapd runs in the foreground (`-d 0`) under a tiny
//! `sh` guard whose stdin is a pipe held by this process. When the test process ends for any
//! reason (success, panic, abort, SIGKILL), the kernel closes the pipe, the guard's `read`
//! returns, and it kills slapd and removes the directory. No pid files, no leaks across runs.
//!
//! Without slapd on the machine the tests skip with a notice; with `CI` or
//! `IDBRIDGE_REQUIRE_SERVICES` set they fail instead.

use super::certs::{openssl, EC};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Directory suffix.
pub const BASE: &str = "dc=idb,dc=test";
/// Root DN (used for seeding only).
pub const ADMIN_DN: &str = "cn=admin,dc=idb,dc=test";
/// Root password.
pub const ADMIN_PW: &str = "admin-secret";
/// The non-root account tests bind as: size limits apply to it.
pub const READER_DN: &str = "cn=reader,dc=idb,dc=test";
/// Its password; also a canary that must never be printed.
pub const READER_PW: &str = "canary-ldap-pw-8c1e4b";
/// The size limit for non-root binds (paged searches are unlimited in total).
pub const SIZE_LIMIT: usize = 500;

/// The running server.
pub struct Slapd {
    /// `ldap://127.0.0.1:PORT` (StartTLS available).
    pub url: String,
    /// `ldaps://127.0.0.1:PORT`.
    pub ldaps_url: String,
    /// The CA that signed the server certificate.
    pub ca_file: PathBuf,
    /// An unrelated CA.
    pub wrong_ca_file: PathBuf,
    /// The work directory.
    pub dir: PathBuf,
    _guard: Mutex<Child>,
}

static SLAPD: OnceLock<Option<Slapd>> = OnceLock::new();

fn required() -> bool {
    let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
    set("CI") || set("IDBRIDGE_REQUIRE_SERVICES")
}

/// The shared server, or `None` (after a loud notice) when slapd is not installed and services
/// are not required.
pub fn slapd() -> Option<&'static Slapd> {
    SLAPD.get_or_init(start).as_ref()
}

fn find(bin: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.is_file())
}

fn start() -> Option<Slapd> {
    let (Some(slapd), Some(_)) = (find("slapd"), find("ldapadd")) else {
        if required() {
            panic!("slapd/ldapadd are not installed but CI/IDBRIDGE_REQUIRE_SERVICES is set: run `apt-get install -y slapd ldap-utils` (scripts/env.sh does)");
        }
        eprintln!("\n*** NOTICE: slapd/ldap-utils not installed: LDAP integration tests are SKIPPED. Install with `apt-get install -y slapd ldap-utils`. ***\n");
        return None;
    };
    let dir = std::env::temp_dir().join(format!("idbridge-slapd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    make_certs(&dir);
    let port = free_port();
    let tls_port = free_port();
    let d = dir.display();
    let conf = format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
loglevel none
sizelimit size.soft={SIZE_LIMIT} size.hard={SIZE_LIMIT} size.prtotal=unlimited
TLSCACertificateFile {d}/ca.crt
TLSCertificateFile {d}/server.crt
TLSCertificateKeyFile {d}/server.key

database mdb
maxsize 1073741824
dbnosync
suffix \"{BASE}\"
rootdn \"{ADMIN_DN}\"
rootpw {ADMIN_PW}
directory {d}/data
index objectClass eq
index uid,cn,mail eq
index member,memberOf eq
index entryUUID eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read

overlay memberof
memberof-group-oc groupOfNames
memberof-member-ad member
memberof-memberof-ad memberOf
"
    );
    std::fs::write(dir.join("slapd.conf"), conf).unwrap();
    let urls = format!("ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{tls_port}/");
    // The guard: slapd in the foreground, killed when our end of the stdin pipe closes.
    let script = format!(
        "'{}' -d 0 -f '{d}/slapd.conf' -h '{urls}' >'{d}/slapd.log' 2>&1 & pid=$!; read _; kill $pid 2>/dev/null; wait $pid; rm -rf '{d}'",
        slapd.display()
    );
    let guard = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("sh starts");
    let url = format!("ldap://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let ok = Command::new("ldapsearch")
            .args(["-x", "-H", &url, "-b", "", "-s", "base", "namingContexts"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("slapd.log")).unwrap_or_default();
            panic!("slapd did not start on {url}: {log}");
        }
        std::thread::sleep(Duration::from_millis(30));
    }
    let server = Slapd {
        url,
        ldaps_url: format!("ldaps://127.0.0.1:{tls_port}"),
        ca_file: dir.join("ca.crt"),
        wrong_ca_file: dir.join("wrong-ca.crt"),
        dir,
        _guard: Mutex::new(guard),
    };
    server.add(&format!(
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: idbridge tests\ndc: idb\n\n\
         dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: {READER_PW}\n"
    ));
    Some(server)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA, a server certificate for 127.0.0.1 signed by it, and a second, unrelated CA. EC P-256
/// keys: RSA key generation would slow every run down.
fn make_certs(dir: &Path) {
    for (name, cn) in [("ca", "idbridge test CA"), ("wrong-ca", "unrelated CA")] {
        let key = format!("{name}.key");
        let crt = format!("{name}.crt");
        let subj = format!("/CN={cn}");
        let mut args = vec!["req", "-x509"];
        args.extend(EC);
        args.extend([
            "-days", "3650", "-subj", &subj, "-keyout", &key, "-out", &crt,
        ]);
        openssl(dir, &args);
    }
    let mut args = vec!["req"];
    args.extend(EC);
    args.extend([
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    openssl(dir, &args);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "3650",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ],
    );
}

impl Slapd {
    /// Add entries (LDIF) as the root DN. `-M` (ManageDsaIT) so referral objects are stored as
    /// entries instead of being followed.
    pub fn add(&self, ldif: &str) {
        let mut child = Command::new("ldapadd")
            .args(["-x", "-M", "-H", &self.url, "-D", ADMIN_DN, "-w", ADMIN_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ldapadd runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(ldif.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "ldapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Run `ldapmodify`-family tool `tool` with LDIF on stdin as the root DN.
    pub fn modify(&self, tool: &str, input: &str) {
        let mut child = Command::new(tool)
            .args(["-x", "-H", &self.url, "-D", ADMIN_DN, "-w", ADMIN_PW])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tool runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Create `ou=<name>,BASE` and return its DN.
    pub fn ou(&self, name: &str) -> String {
        let dn = format!("ou={name},{BASE}");
        self.add(&format!(
            "dn: {dn}\nobjectClass: organizationalUnit\nou: {name}\n"
        ));
        dn
    }
}

/// One LDIF attribute line; values that are not plain ASCII, or start with a space, `:` or `<`,
/// are base64-encoded as RFC 2849 requires.
pub fn line(attr: &str, value: &str) -> String {
    let safe = value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with([' ', ':', '<'])
        && !value.ends_with(' ');
    if safe {
        format!("{attr}: {value}\n")
    } else {
        format!("{attr}:: {}\n", base64(value.as_bytes()))
    }
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A small deterministic generator (SplitMix64) so fixtures are the same on every run.
pub struct Seeded(u64);

impl Seeded {
    /// A generator from a fixed seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}
