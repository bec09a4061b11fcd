//! The wire side of the LDAP source: TLS setup, bind, and searches that either return every entry
//! or fail. Built on `ldap3`; entries are decoded here from the raw BER so binary values
//! (`objectGUID`) stay bytes even when they happen to be valid UTF-8, and so a malformed
//! message is an error instead of a panic.

use super::{Error, TlsProblem};
use crate::config::{LdapScope, LdapSettings};
use ldap3::asn1::{parse_tag, StructureTag, PL};
use ldap3::controls::{MakeCritical, PagedResults, RawControl};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchOptions};
use secrecy::ExposeSecret;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// RFC 2696 paged-results control.
const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";
/// Active Directory's Show Deleted control (MS-ADTS 3.1.1.3.4.1.14): tombstones are returned.
const SHOW_DELETED_OID: &str = "1.2.840.113556.1.4.417";

/// One search result entry: its DN and every attribute description with its raw values, in the
/// order the server sent them.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The entry's DN as the server wrote it.
    pub dn: String,
    /// Attribute descriptions (e.g. `mail`, `member;range=0-1499`) and their values.
    pub attrs: Vec<(String, Vec<Vec<u8>>)>,
}

impl Entry {
    /// The values of attribute `name` (types compare without case, RFC 4512 §2.5).
    pub fn values<'a, 'b>(&'a self, name: &'b str) -> impl Iterator<Item = &'a [u8]> + use<'a, 'b> {
        self.attrs
            .iter()
            .filter(move |(d, _)| d.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.iter().map(Vec::as_slice))
    }

    /// The first value of `name` as non-empty text (after trimming), if it is UTF-8.
    pub fn first_text(&self, name: &str) -> Option<&str> {
        self.values(name)
            .filter_map(|v| std::str::from_utf8(v).ok())
            .map(str::trim)
            .find(|v| !v.is_empty())
    }

    /// [`Entry::first_text`], moved out of the entry (the value is left empty): a value
    /// without surrounding spaces becomes the `String` without a copy. For a reader that is the
    /// only one of the value.
    pub fn take_text(&mut self, name: &str) -> Option<String> {
        let values = self
            .attrs
            .iter_mut()
            .filter(|(d, _)| d.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.iter_mut());
        for v in values {
            let Ok(text) = std::str::from_utf8(v) else {
                continue;
            };
            let trimmed = text.trim();
            if trimmed.is_empty() {
                continue;
            }
            if trimmed.len() < text.len() {
                return Some(trimmed.to_owned());
            }
            // Valid UTF-8, as checked just above.
            return String::from_utf8(std::mem::take(v)).ok();
        }
        None
    }

    /// The first raw value of `name`.
    pub fn first_raw(&self, name: &str) -> Option<&[u8]> {
        self.values(name).next()
    }
}

/// The connection's I/O loop (`LdapConnAsync::drive`): reads and decodes the server's messages.
type Driver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A bound connection to one server. Dropping it ends the connection.
pub struct Conn {
    ldap: Ldap,
    /// Polled only while an operation of this connection waits, in the same task, so the
    /// decoding of each message and the processing of its entry run on one thread. A driver
    /// spawned as its own task decoded on another worker, and every entry's allocations were
    /// freed across threads, glibc's slow path: the larger part of the read's CPU in issue 14's
    /// profile. `None` once it ended (the server closed the connection).
    driver: Option<Driver>,
    /// The server URL, for messages.
    pub server: String,
    search_timeout: Duration,
    page_size: i32,
}

/// Wait for `op` while driving the connection's I/O; once the connection ended, `op` is left
/// to finish (it fails: its reply can no longer come). The I/O goes first: whatever the server
/// sent is taken off the socket before the next entry is handed out, so the server is not held
/// up by a full socket buffer while entries are processed.
async fn driven<T>(driver: &mut Option<Driver>, op: impl Future<Output = T>) -> T {
    let mut op = std::pin::pin!(op);
    if let Some(d) = driver.as_mut() {
        tokio::select! {
            biased;
            () = d.as_mut() => *driver = None,
            out = &mut op => return out,
        }
    }
    op.await
}

/// Where a search looked, for messages.
struct Target<'a> {
    base: &'a str,
    filter: &'a str,
}

impl Conn {
    /// Connect (TLS per the settings), then simple-bind when a bind DN is configured.
    pub async fn open(settings: &LdapSettings) -> Result<Self, Error> {
        let server = server_label(settings);
        let tls = tls_config(settings, &server)?;
        let conn_settings = LdapConnSettings::new()
            .set_conn_timeout(settings.connect_timeout)
            .set_starttls(settings.starttls)
            .set_config(tls);
        let (conn, ldap) = LdapConnAsync::from_url_with_settings(conn_settings, &settings.url)
            .await
            .map_err(|e| connect_error(settings, &server, e))?;
        let driver: Driver = Box::pin(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(error = %e, "LDAP connection ended");
            }
        });
        let mut this = Conn {
            ldap,
            driver: Some(driver),
            server: server.clone(),
            search_timeout: settings.search_timeout,
            page_size: i32::try_from(settings.page_size).unwrap_or(i32::MAX).max(1),
        };
        if let (Some(dn), Some(password)) = (&settings.bind_dn, &settings.password) {
            let bind = this
                .ldap
                .with_timeout(settings.connect_timeout)
                .simple_bind(dn, password.expose_secret());
            let res = driven(&mut this.driver, bind).await.map_err(|e| match e {
                LdapError::Timeout { .. } => Error::Timeout {
                    server: server.clone(),
                    what: format!("the bind as `{dn}`"),
                    after: settings.connect_timeout,
                },
                other => Error::Connection {
                    server: server.clone(),
                    during: format!("the bind as `{dn}`"),
                    detail: other.to_string(),
                },
            })?;
            if res.rc != 0 {
                return Err(Error::Bind {
                    server,
                    bind_dn: dn.clone(),
                    rc: res.rc,
                    text: res.text,
                });
            }
        }
        Ok(this)
    }

    /// Close politely; errors do not matter once everything was read.
    pub async fn close(mut self) {
        let _ = driven(&mut self.driver, self.ldap.unbind()).await;
    }

    /// Run a paged search (RFC 2696) to completion and hand every entry to `each`. Any result
    /// other than success on any page, any referral, a dropped connection or a timeout is an
    /// error: the caller never sees "the rest" of a directory as absent.
    pub async fn search_paged(
        &mut self,
        base: &str,
        scope: LdapScope,
        filter: &str,
        attrs: &[String],
        each: impl FnMut(Entry) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let target = Target { base, filter };
        self.paged(&target, scope, attrs, None, each).await
    }

    /// [`Conn::search_paged`] one level under `base` with Active Directory's Show Deleted
    /// control, which makes it return tombstones. Critical: a server that does not know it must
    /// refuse the search (unavailableCriticalExtension, an error) rather than answer as if no
    /// one had been deleted.
    pub async fn search_deleted(
        &mut self,
        base: &str,
        filter: &str,
        attrs: &[String],
        each: impl FnMut(Entry) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let target = Target { base, filter };
        let show_deleted = RawControl {
            ctype: SHOW_DELETED_OID.to_owned(),
            crit: true,
            val: None,
        };
        self.paged(&target, LdapScope::One, attrs, Some(show_deleted), each)
            .await
    }

    async fn paged(
        &mut self,
        target: &Target<'_>,
        scope: LdapScope,
        attrs: &[String],
        extra: Option<RawControl>,
        mut each: impl FnMut(Entry) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let base = target.base;
        let mut cookie: Vec<u8> = Vec::new();
        loop {
            // Critical (RFC 2696 §3 allows either): a server without paging must refuse with
            // unavailableCriticalExtension rather than return a size-limited prefix.
            let control: RawControl = PagedResults {
                size: self.page_size,
                cookie: std::mem::take(&mut cookie),
            }
            .critical()
            .into();
            let mut controls = vec![control];
            controls.extend(extra.clone());
            let ctrls = self.run(target, scope, attrs, controls, &mut each).await?;
            match paged_cookie(&ctrls) {
                Some(Ok(next)) if !next.is_empty() => cookie = next,
                Some(Ok(_)) | None => return Ok(()),
                Some(Err(())) => {
                    return Err(Error::Protocol {
                        server: self.server.clone(),
                        detail: format!(
                        "the paged-results control returned for base `{base}` could not be decoded"
                    ),
                    })
                }
            }
        }
    }

    /// One unpaged base-scope read of `dn` (used for ranged attribute retrieval). `None` when the
    /// entry is not returned.
    pub async fn read_entry(&mut self, dn: &str, attrs: &[String]) -> Result<Option<Entry>, Error> {
        let target = Target {
            base: dn,
            filter: "(objectClass=*)",
        };
        let mut found = None;
        self.run(&target, LdapScope::Base, attrs, Vec::new(), &mut |e| {
            found = Some(e);
            Ok(())
        })
        .await?;
        Ok(found)
    }

    /// One search operation; returns the response controls of `SearchResultDone`.
    async fn run(
        &mut self,
        target: &Target<'_>,
        scope: LdapScope,
        attrs: &[String],
        controls: Vec<RawControl>,
        each: &mut impl FnMut(Entry) -> Result<(), Error>,
    ) -> Result<Vec<RawControl>, Error> {
        let scope = match scope {
            LdapScope::Base => Scope::Base,
            LdapScope::One => Scope::OneLevel,
            LdapScope::Sub => Scope::Subtree,
        };
        // Ask the server to stop by itself too (RFC 4511 §4.5.1.5 timeLimit, whole seconds).
        let limit = i32::try_from(self.search_timeout.as_secs().max(1)).unwrap_or(i32::MAX);
        let timeout = self.search_timeout;
        let search = self
            .ldap
            .with_search_options(SearchOptions::new().timelimit(limit))
            .with_controls(controls)
            .with_timeout(timeout)
            .streaming_search(target.base, scope, target.filter, attrs.to_vec());
        let mut stream = driven(&mut self.driver, search)
            .await
            .map_err(|e| self.transport_error(target, e))?;
        let mut refs: Vec<String> = Vec::new();
        loop {
            let item = match driven(&mut self.driver, stream.next()).await {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e) => return Err(self.transport_error(target, e)),
            };
            if item.is_ref() {
                // SearchResultReference (RFC 4511 §4.5.3): part of the subtree lives elsewhere.
                refs.extend(strings(&item.0));
                continue;
            }
            if item.is_intermediate() {
                continue;
            }
            let entry = decode_entry(item.0).ok_or_else(|| Error::Protocol {
                server: self.server.clone(),
                detail: format!(
                    "a search result entry under `{}` could not be decoded",
                    target.base
                ),
            })?;
            each(entry)?;
        }
        let done = driven(&mut self.driver, stream.finish()).await;
        if done.rc == 10 || !refs.is_empty() {
            refs.extend(done.refs);
            return Err(Error::Referral {
                server: self.server.clone(),
                base: target.base.to_owned(),
                refs,
            });
        }
        if done.rc != 0 {
            return Err(Error::Incomplete {
                server: self.server.clone(),
                base: target.base.to_owned(),
                filter: target.filter.to_owned(),
                rc: done.rc,
                text: done.text,
            });
        }
        Ok(done.ctrls.into_iter().map(|c| c.1).collect())
    }

    fn transport_error(&self, target: &Target<'_>, e: LdapError) -> Error {
        match e {
            LdapError::Timeout { .. } => Error::Timeout {
                server: self.server.clone(),
                what: format!("the search under `{}`", target.base),
                after: self.search_timeout,
            },
            LdapError::FilterParsing => Error::Filter {
                server: self.server.clone(),
                filter: target.filter.to_owned(),
            },
            other => Error::Connection {
                server: self.server.clone(),
                during: format!("the search under `{}`", target.base),
                detail: other.to_string(),
            },
        }
    }
}

/// `ldaps://host:636` without anything but scheme, host and port.
fn server_label(settings: &LdapSettings) -> String {
    let url = &settings.url;
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

fn connect_error(settings: &LdapSettings, server: &str, e: LdapError) -> Error {
    let starttls = settings.starttls;
    if let LdapError::Timeout { .. } = e {
        return match starttls {
            true => Error::StartTlsUnanswered {
                server: server.to_owned(),
                after: settings.connect_timeout,
            },
            false => Error::Timeout {
                server: server.to_owned(),
                what: "connecting".to_owned(),
                after: settings.connect_timeout,
            },
        };
    }
    let host = settings.url.host_str().unwrap_or("");
    let tls = match &e {
        LdapError::Rustls { source } => Some((tls_problem(source, host), source.to_string())),
        LdapError::DNSName { source } => Some((TlsProblem::Other, source.to_string())),
        LdapError::Io { source } => source
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(|r| (tls_problem(r, host), r.to_string())),
        _ => None,
    };
    if let Some((problem, detail)) = tls {
        return Error::Tls {
            server: server.to_owned(),
            problem,
            detail,
        };
    }
    if starttls {
        if let LdapError::LdapResult { result } = &e {
            return Error::StartTls {
                server: server.to_owned(),
                rc: result.rc,
                text: result.text.clone(),
            };
        }
    }
    Error::Connection {
        server: server.to_owned(),
        during: if starttls {
            "connecting and starting TLS".to_owned()
        } else {
            "connecting".to_owned()
        },
        detail: e.to_string(),
    }
}

/// What a failed handshake says about the certificate. rustls reports the faults it found in
/// the certificate itself; the `…Context` forms carry the names and dates to show.
fn tls_problem(e: &rustls::Error, host: &str) -> TlsProblem {
    use rustls::CertificateError as C;
    let rustls::Error::InvalidCertificate(cert) = e else {
        return TlsProblem::Other;
    };
    let time = |t: &rustls::pki_types::UnixTime| {
        i64::try_from(t.as_secs())
            .ok()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
    };
    match cert {
        C::UnknownIssuer => TlsProblem::UnknownIssuer,
        C::NotValidForName => TlsProblem::WrongHost {
            host: host.to_owned(),
            presented: Vec::new(),
        },
        C::NotValidForNameContext { presented, .. } => TlsProblem::WrongHost {
            host: host.to_owned(),
            presented: presented.iter().map(|n| presented_name(n)).collect(),
        },
        C::Expired => TlsProblem::Expired { not_after: None },
        C::ExpiredContext { not_after, .. } => TlsProblem::Expired {
            not_after: time(not_after),
        },
        C::NotValidYet => TlsProblem::NotYetValid { not_before: None },
        C::NotValidYetContext { not_before, .. } => TlsProblem::NotYetValid {
            not_before: time(not_before),
        },
        _ => TlsProblem::Other,
    }
}

/// A subject name as rustls presents it (`DnsName("a.example")`, `IpAddress(…)`) without the
/// wrapper, for people.
fn presented_name(name: &str) -> String {
    let inner = ["DnsName(", "IpAddress("]
        .iter()
        .find_map(|p| name.strip_prefix(p).and_then(|r| r.strip_suffix(')')))
        .unwrap_or(name);
    inner.trim_matches('"').to_owned()
}

/// The rustls configuration: trust the configured CA file, else the system roots; with
/// `insecure_skip_verify`, accept any certificate (still checking the handshake signatures).
/// The crypto provider is named explicitly so a second provider elsewhere in the build cannot
/// make rustls panic at the first handshake.
fn tls_config(settings: &LdapSettings, server: &str) -> Result<Arc<rustls::ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls {
            server: server.to_owned(),
            problem: TlsProblem::Other,
            detail: e.to_string(),
        })?;
    if settings.insecure_skip_verify {
        let config = builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
        return Ok(Arc::new(config));
    }
    let mut roots = rustls::RootCertStore::empty();
    match &settings.ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| Error::CaFile {
                path: path.display().to_string(),
                detail: e.to_string(),
            })?;
            use rustls::pki_types::pem::PemObject;
            for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| Error::CaFile {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })?;
                roots.add(cert).map_err(|e| Error::CaFile {
                    path: path.display().to_string(),
                    detail: e.to_string(),
                })?;
            }
            if roots.is_empty() {
                return Err(Error::CaFile {
                    path: path.display().to_string(),
                    detail: "it holds no PEM certificate".to_owned(),
                });
            }
        }
        None => {
            // Unreadable system certificates only shrink the trust store; a server that needs
            // them then fails with an "unknown issuer" TLS error that names the fix (ca_file).
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// Certificate "verifier" for `insecure_skip_verify`: the chain and name are not checked (the
/// operator asked for that and is warned every run), the handshake signatures still are.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The cookie of the paged-results response control (RFC 2696 §2: `SEQUENCE { size INTEGER,
/// cookie OCTET STRING }`); `None` when the server sent no such control.
fn paged_cookie(ctrls: &[RawControl]) -> Option<Result<Vec<u8>, ()>> {
    let ctrl = ctrls.iter().find(|c| c.ctype == PAGED_RESULTS_OID)?;
    let decode = || -> Option<Vec<u8>> {
        let (_, tag) = parse_tag(ctrl.val.as_deref()?).ok()?;
        let PL::C(parts) = tag.payload else {
            return None;
        };
        match parts.get(1).map(|t| &t.payload) {
            Some(PL::P(cookie)) => Some(cookie.clone()),
            _ => None,
        }
    };
    Some(decode().ok_or(()))
}

/// The primitive strings inside a constructed tag (a SearchResultReference's URIs).
fn strings(tag: &StructureTag) -> Vec<String> {
    match &tag.payload {
        PL::C(parts) => parts
            .iter()
            .filter_map(|p| match &p.payload {
                PL::P(b) => Some(String::from_utf8_lossy(b).into_owned()),
                PL::C(_) => None,
            })
            .collect(),
        PL::P(_) => Vec::new(),
    }
}

/// Decode one BER message as an entry: an `LDAPMessage` (`SEQUENCE { messageID, protocolOp, ... }`)
/// or the bare `SearchResultEntry`. For the fuzz targets (`super::read_entries`); the wire path gets
/// its tags from `ldap3`'s codec, which parses them with the same `parse_tag`.
#[cfg(any(test, feature = "fuzzing"))]
pub(super) fn decode_message(tag: StructureTag) -> Option<Entry> {
    if tag.id == 4 {
        return decode_entry(tag);
    }
    let PL::C(parts) = tag.payload else {
        return None;
    };
    decode_entry(parts.into_iter().nth(1)?)
}

/// Decode a SearchResultEntry (RFC 4511 §4.5.2): `[APPLICATION 4] SEQUENCE { objectName
/// LDAPDN, attributes SEQUENCE OF SEQUENCE { type, vals SET OF value } }`.
fn decode_entry(tag: StructureTag) -> Option<Entry> {
    if tag.id != 4 {
        return None;
    }
    let PL::C(parts) = tag.payload else {
        return None;
    };
    let mut parts = parts.into_iter();
    let PL::P(dn) = parts.next()?.payload else {
        return None;
    };
    let dn = String::from_utf8(dn).ok()?;
    let PL::C(list) = parts.next()?.payload else {
        return None;
    };
    let mut attrs = Vec::with_capacity(list.len());
    for attr in list {
        let PL::C(pair) = attr.payload else {
            return None;
        };
        let mut pair = pair.into_iter();
        let PL::P(name) = pair.next()?.payload else {
            return None;
        };
        let name = String::from_utf8(name).ok()?;
        let values = match pair.next().map(|t| t.payload) {
            Some(PL::C(vals)) => vals
                .into_iter()
                .map(|v| match v.payload {
                    PL::P(b) => Some(b),
                    PL::C(_) => None,
                })
                .collect::<Option<Vec<_>>>()?,
            None => Vec::new(),
            Some(PL::P(_)) => return None,
        };
        attrs.push((name, values));
    }
    Some(Entry { dn, attrs })
}
