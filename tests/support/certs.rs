//! Throwaway TLS certificates for the LDAP certificate tests, made with `openssl` at test time in
//! a temp folder (nothing committed): one CA, and server certificates signed by it that are
//! wrong in exactly one way each, so a failed handshake can only be for the reason the test
//! names. EC P-256 keys, as `support::slapd` makes its own, because RSA key generation is slow.
//!
//! Fixed validity dates need `openssl ca` (`x509 -req` has no `-not_before` before OpenSSL 3.4),
//! so the expired certificate goes through a minimal CA configuration written here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// A CA and its server certificates, each as (certificate PEM, key PEM) paths.
pub struct Certs {
    /// The CA that signed every server certificate below.
    pub ca_file: PathBuf,
    /// For 127.0.0.1, valid for ten years from today: the control case.
    pub good: (PathBuf, PathBuf),
    /// Valid, but for `elsewhere.idb.test` only.
    pub wrong_host: (PathBuf, PathBuf),
    /// For 127.0.0.1, valid 2020-01-01 to 2020-12-31 only.
    pub expired: (PathBuf, PathBuf),
    _dir: tempfile::TempDir,
}

/// `openssl req` arguments for a new EC P-256 key, unencrypted.
pub const EC: [&str; 5] = [
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
];

/// Run `openssl ARGS` in `dir`; panic with its stderr unless it succeeds.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A key and a signing request for `name`, with `san` written to `<name>.ext`.
fn request(dir: &Path, name: &str, san: &str) {
    let (key, csr, subj) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("/CN={name}"),
    );
    let mut args = vec!["req"];
    args.extend(EC);
    args.extend(["-subj", &subj, "-keyout", &key, "-out", &csr]);
    openssl(dir, &args);
    std::fs::write(
        dir.join(format!("{name}.ext")),
        format!("subjectAltName={san}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
}

/// Make the CA and the three server certificates.
pub fn make() -> Certs {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut args = vec!["req", "-x509"];
    args.extend(EC);
    args.extend([
        "-days",
        "3650",
        "-subj",
        "/CN=idbridge failure-modes CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
    ]);
    openssl(dir, &args);
    for (name, san) in [
        ("good", "IP:127.0.0.1"),
        ("wrong-host", "DNS:elsewhere.idb.test"),
    ] {
        request(dir, name, san);
        let (csr, ext, crt) = (
            format!("{name}.csr"),
            format!("{name}.ext"),
            format!("{name}.crt"),
        );
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "3650",
                "-extfile",
                &ext,
                "-out",
                &crt,
            ],
        );
    }
    request(dir, "expired", "IP:127.0.0.1");
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = idb\n[idb]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
         default_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n",
    )
    .unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.crt",
            "-keyfile",
            "ca.key",
            "-in",
            "expired.csr",
            "-out",
            "expired.crt",
            "-startdate",
            "20200101000000Z",
            "-enddate",
            "20201231235959Z",
            "-extfile",
            "expired.ext",
            "-notext",
        ],
    );
    let pair = |n: &str| (dir.join(format!("{n}.crt")), dir.join(format!("{n}.key")));
    Certs {
        ca_file: dir.join("ca.crt"),
        good: pair("good"),
        wrong_host: pair("wrong-host"),
        expired: pair("expired"),
        _dir: tmp,
    }
}

/// A TLS server configuration presenting `cert` with its key.
pub fn server_config((cert, key): &(PathBuf, PathBuf)) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    Arc::new(config)
}
