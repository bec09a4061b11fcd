//! Benchmark: stream 100,000 LDAP entries through the LDAP source and report wall time and peak
//! memory growth. Loads the entries into a throwaway slapd with `slapadd` (offline, fast), then
//! reads them as a non-root account (size limit 500, so only paging can return them) at page
//! size 1000.
//!
//! Run: `cargo bench --bench ldap_stream` (needs `slapd` and `ldap-utils`). Environment:
//! `IDBRIDGE_BENCH_ENTRIES` (default 100000), `IDBRIDGE_BENCH_PAGE` (default 1000).
//! Without `--bench` on the command line (e.g. `cargo test --all-targets`) it does nothing.
//!
//! Memory: `VmRSS` is read before the read, `VmHWM` (peak) is reset through
//! `/proc/self/clear_refs` (value 5) just before and read after, so the growth covers only the
//! connector's work: the records it returns plus its transient buffers.

// A benchmark stops at the first thing that goes wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use idbridge::config::{
    LdapAttributes, LdapDialect, LdapQuery, LdapScope, LdapSettings, NestedGroups,
};
use idbridge::mapping::{MappingRules, SourceJoin};
use idbridge::plan::gates::Gates;
use secrecy::SecretString;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// The allocator the binary uses (src/main.rs), so the figures are the binary's: the read's
// CPU was half glibc malloc/free, and a small value costs glibc a 32-byte chunk.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BASE: &str = "dc=bench,dc=test";
const READER_PW: &str = "bench-reader-pw";

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn env_num(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn write_ldif(path: &Path, n: usize) {
    let mut w = BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        w,
        "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: bench\ndc: bench\n"
    )
    .unwrap();
    writeln!(w, "dn: cn=reader,{BASE}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\nuserPassword: {READER_PW}\n").unwrap();
    writeln!(
        w,
        "dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n"
    )
    .unwrap();
    for i in 0..n {
        // slapadd adds entryUUID and the other operational attributes itself.
        writeln!(
            w,
            "dn: uid=user{i:06},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: user{i:06}\ncn: User {i}\ngivenName: User\nsn: Number{i}\ndisplayName: User Number {i}\nmail: user{i:06}@bench.test\nemployeeNumber: E{i:06}\ntitle: Engineer\ndepartmentNumber: D{}\nmanager: uid=user{:06},ou=people,{BASE}\n",
            i % 17,
            i - i % 100
        )
        .unwrap();
    }
    w.flush().unwrap();
}

/// CPU time (user + system) of process `pid` so far, from `/proc/<pid>/stat`.
fn cpu_of(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the state; USER_HZ is 100 on
    // Linux.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

fn self_cpu() -> Duration {
    cpu_of("self")
}

/// What `f` returns, its wall time and the CPU slapd spent meanwhile.
fn with_server_cpu<T>(slapd: u32, f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let pid = slapd.to_string();
    let before = cpu_of(&pid);
    let t = Instant::now();
    let out = f();
    let wall = t.elapsed();
    (out, wall, cpu_of(&pid).saturating_sub(before))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The OpenLDAP client reading what idbridge reads: same server, bind account, base, scope,
/// filter, attribute list and page size; its LDIF goes to /dev/null.
fn ldapsearch(url: &str, page: usize, attrs: &[String]) {
    let status = Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-H",
            url,
            "-D",
            &format!("cn=reader,{BASE}"),
            "-w",
            READER_PW,
            "-b",
            &format!("ou=people,{BASE}"),
            "-s",
            "sub",
            "-E",
            &format!("pr={page}/noprompt"),
            "(objectClass=inetOrgPerson)",
        ])
        .args(attrs)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "ldapsearch failed");
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("ldap_stream: run with `cargo bench --bench ldap_stream`");
        return;
    }
    // As the binary runs (src/main.rs): small pages only.
    #[cfg(target_os = "linux")]
    let _refused = rustix::thread::disable_transparent_huge_pages(true);
    let n = env_num("IDBRIDGE_BENCH_ENTRIES", 100_000);
    let page = env_num("IDBRIDGE_BENCH_PAGE", 1000);
    let runs = env_num("IDBRIDGE_BENCH_RUNS", 3).max(1);
    if !Path::new("/usr/sbin/slapd").is_file() {
        panic!("slapd is not installed: apt-get install -y slapd ldap-utils");
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let conf = format!(
        "include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {d}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
loglevel none
sizelimit size.soft=500 size.hard=500 size.prtotal=unlimited
database mdb
maxsize 4294967296
dbnosync
suffix \"{BASE}\"
rootdn \"cn=admin,{BASE}\"
rootpw admin
directory {d}/data
index objectClass eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
"
    );
    std::fs::write(dir.path().join("slapd.conf"), conf).unwrap();
    let ldif = dir.path().join("bench.ldif");
    let t = Instant::now();
    write_ldif(&ldif, n);
    let status = Command::new("slapadd")
        .args([
            "-q",
            "-f",
            &format!("{d}/slapd.conf"),
            "-l",
            &ldif.display().to_string(),
        ])
        .status()
        .unwrap();
    assert!(status.success(), "slapadd failed");
    eprintln!("loaded {n} entries with slapadd in {:.1?}", t.elapsed());

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("ldap://127.0.0.1:{port}");
    // Same guard as the tests: slapd dies when this process's end of the pipe closes.
    let script = format!(
        "/usr/sbin/slapd -d 0 -f '{d}/slapd.conf' -h '{url}/' >/dev/null 2>&1 & pid=$!; read _; kill $pid 2>/dev/null; wait $pid"
    );
    let mut guard = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "slapd did not start");
        std::thread::sleep(Duration::from_millis(20));
    }

    let settings = LdapSettings {
        name: "bench".into(),
        url: url::Url::parse(&url).unwrap(),
        starttls: false,
        ca_file: None,
        insecure_skip_verify: false,
        bind_dn: Some(format!("cn=reader,{BASE}")),
        password: Some(SecretString::from(READER_PW)),
        dialect: LdapDialect::OpenLdap,
        users: LdapQuery {
            base: format!("ou=people,{BASE}"),
            scope: LdapScope::Sub,
            filter: "(objectClass=inetOrgPerson)".into(),
        },
        groups: None,
        page_size: page as u32,
        connect_timeout: Duration::from_secs(10),
        search_timeout: Duration::from_secs(120),
        disabled_filter: None,
        nested: NestedGroups::Off,
        attributes: LdapAttributes::defaults(LdapDialect::OpenLdap),
        extra_attributes: Vec::new(),
        join_attr: "email".into(),
        deleted_base: None,
        keep: None,
    };
    // What a config with the default `[mapping]` reads of this source: its records keep that.
    let mapping = MappingRules::with_sources(vec![SourceJoin {
        name: settings.name.clone(),
        join_attr: settings.join_attr.clone(),
    }]);
    let keep = idbridge::config::names::ldap_kept(&settings, &mapping, None, &Gates::default());
    let settings = LdapSettings {
        keep: Some(keep),
        ..settings
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let attrs = idbridge::connectors::ldap::requested_attributes(&settings);
    let slapd_pid: u32 = std::fs::read_to_string(dir.path().join("slapd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    println!("ldap_stream: entries={n} page_size={page} runs={runs}");
    println!("ldap_stream: attributes requested={}", attrs.join(" "));
    // Interleaved, so a burst of load on the shared machine falls on both sides alike.
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for run in 0..runs {
        let ((), wall, server) = with_server_cpu(slapd_pid, || ldapsearch(&url, page, &attrs));
        println!(
            "ldap_stream: run {run} ldapsearch wall={:.2}s slapd_cpu={:.2}s",
            wall.as_secs_f64(),
            server.as_secs_f64()
        );
        theirs.push(wall);
        let rss_before = status_kib("VmRSS:");
        let _ = std::fs::write("/proc/self/clear_refs", "5");
        let cpu_before = self_cpu();
        let (read, wall, server) = with_server_cpu(slapd_pid, || {
            runtime
                .block_on(idbridge::connectors::ldap::read(&settings))
                .unwrap()
        });
        let cpu = self_cpu() - cpu_before;
        let hwm = status_kib("VmHWM:");
        let rss_after = status_kib("VmRSS:");
        assert_eq!(read.records.len(), n, "every entry was read");
        // Only the first run starts from a clean heap; later runs reuse what it freed.
        if run == 0 {
            let growth = hwm.saturating_sub(rss_before);
            println!(
                "ldap_stream: rss_before={rss_before} KiB peak(VmHWM)={hwm} KiB rss_after={rss_after} KiB peak_growth={growth} KiB ({:.0} bytes/entry)",
                growth as f64 * 1024.0 / n as f64
            );
            let held = rss_after.saturating_sub(rss_before);
            println!(
                "ldap_stream: held after the read={held} KiB ({:.0} bytes/entry)",
                held as f64 * 1024.0 / n as f64
            );
        }
        drop(read);
        println!(
            "ldap_stream: run {run} idbridge wall={:.2}s rate={:.0} entries/s cpu={:.2}s slapd_cpu={:.2}s",
            wall.as_secs_f64(),
            n as f64 / wall.as_secs_f64(),
            cpu.as_secs_f64(),
            server.as_secs_f64()
        );
        ours.push(wall);
    }
    let (ours, theirs) = (median(ours), median(theirs));
    println!(
        "ldap_stream: median idbridge={:.2}s ldapsearch={:.2}s ratio={:.2}",
        ours.as_secs_f64(),
        theirs.as_secs_f64(),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    // Closing the pipe tells the guard to stop slapd.
    drop(guard.stdin.take());
    let _ = guard.wait();
}
