//! tlsmatrix client probe for rustls.
//!
//! Implements the "Client probes" section of docs/probe-contract.md: a hello
//! line, then one JSON job per stdin line, one JSON result per stdout line.
//! Each job is a fresh TCP connect + TLS handshake over std::net::TcpStream,
//! with a fresh ClientConfig (so no session resumption between jobs) whose only
//! trust anchors are the certificates of the job's CA file.

use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
#[cfg(not(feature = "verifier-0-23-12"))]
use rustls::DistinguishedName;
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ProtocolVersion, RootCertStore,
    SignatureScheme, SupportedProtocolVersion,
};
use serde::Serialize;
use serde_json::Value;

use tlsmatrix_rustls_probe::{emit, hello, provider};

// ---------------------------------------------------------------- output ---

#[derive(Serialize)]
struct Negotiated {
    version: Option<String>,
    cipher: Option<String>,
    group: Option<String>,
    sigalg: Option<String>,
}

#[derive(Serialize)]
struct JobResult {
    id: Value,
    ok: bool,
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_detail: Option<String>,
    negotiated: Option<Negotiated>,
    elapsed_ms: f64,
}

// ------------------------------------------------------------------ jobs ---

struct Job {
    host: String,
    port: u16,
    servername: String,
    ca_file: String,
    tls_version: Option<String>,
    timeout: Duration,
    /// mTLS: (client_cert_file, client_key_file).
    client_auth: Option<(String, String)>,
}

/// Outcome of one attempt: Ok(negotiated) or Err((error, error_detail)).
type Outcome = Result<Negotiated, (String, Option<String>)>;

fn probe_err(msg: impl Into<String>) -> (String, Option<String>) {
    (format!("probe: {}", msg.into()), None)
}

fn parse_job(v: &Value) -> Result<Job, (String, Option<String>)> {
    let obj = v
        .as_object()
        .ok_or_else(|| probe_err("job is not a JSON object"))?;
    let get_str = |k: &str| -> Result<String, (String, Option<String>)> {
        match obj.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(probe_err(format!("job field {k:?} is not a string"))),
            None => Err(probe_err(format!("job field {k:?} is missing"))),
        }
    };
    let host = get_str("host")?;
    let servername = get_str("servername")?;
    let ca_file = get_str("ca_file")?;
    let port = match obj.get("port") {
        Some(p) => p
            .as_u64()
            .filter(|p| (1..=65535).contains(p))
            .ok_or_else(|| probe_err(format!("job field \"port\" is not a valid port: {p}")))?
            as u16,
        None => return Err(probe_err("job field \"port\" is missing")),
    };
    let tls_version = match obj.get("tls_version") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "1.2" || s == "1.3" => Some(s.clone()),
        Some(other) => {
            return Err(probe_err(format!(
                "job field \"tls_version\" must be \"1.2\", \"1.3\" or null, got {other}"
            )))
        }
    };
    let timeout = match obj.get("timeout_ms") {
        None | Some(Value::Null) => Duration::from_millis(10_000),
        Some(t) => match t.as_f64() {
            Some(ms) if ms.is_finite() && ms > 0.0 => Duration::from_secs_f64(ms / 1000.0),
            _ => {
                return Err(probe_err(format!(
                    "job field \"timeout_ms\" must be a positive number, got {t}"
                )))
            }
        },
    };
    let opt_str = |k: &str| -> Result<Option<String>, (String, Option<String>)> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(probe_err(format!("job field {k:?} is not a string"))),
        }
    };
    let client_auth = match (opt_str("client_cert_file")?, opt_str("client_key_file")?) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            return Err(probe_err(
                "job fields \"client_cert_file\" and \"client_key_file\" go together",
            ))
        }
    };
    Ok(Job {
        host,
        port,
        servername,
        ca_file,
        tls_version,
        timeout,
        client_auth,
    })
}

// -------------------------------------------------------------- verifier ---

/// Delegates everything to rustls' WebPkiServerVerifier and records the
/// signature scheme the server used to sign the handshake.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    sigalg: Mutex<Option<SignatureScheme>>,
}

impl RecordingVerifier {
    fn record(&self, scheme: SignatureScheme) {
        if let Ok(mut g) = self.sigalg.lock() {
            *g = Some(scheme);
        }
    }
    fn recorded(&self) -> Option<SignatureScheme> {
        self.sigalg.lock().ok().and_then(|g| *g)
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record(dss.scheme);
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.record(dss.scheme);
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    // Added to the trait after rustls 0.23.12 (the pinned probe builds this file with
    // the `verifier-0-23-12` feature, whose trait lacks both).
    #[cfg(not(feature = "verifier-0-23-12"))]
    fn requires_raw_public_keys(&self) -> bool {
        self.inner.requires_raw_public_keys()
    }

    #[cfg(not(feature = "verifier-0-23-12"))]
    fn root_hint_subjects(&self) -> Option<&[DistinguishedName]> {
        self.inner.root_hint_subjects()
    }
}

/// IANA TLS SignatureScheme name (lowercase style) for a scheme.
fn sigalg_name(s: SignatureScheme) -> String {
    let name = match u16::from(s) {
        0x0201 => "rsa_pkcs1_sha1",
        0x0203 => "ecdsa_sha1",
        0x0401 => "rsa_pkcs1_sha256",
        0x0403 => "ecdsa_secp256r1_sha256",
        0x0501 => "rsa_pkcs1_sha384",
        0x0503 => "ecdsa_secp384r1_sha384",
        0x0601 => "rsa_pkcs1_sha512",
        0x0603 => "ecdsa_secp521r1_sha512",
        0x0804 => "rsa_pss_rsae_sha256",
        0x0805 => "rsa_pss_rsae_sha384",
        0x0806 => "rsa_pss_rsae_sha512",
        0x0807 => "ed25519",
        0x0808 => "ed448",
        0x0809 => "rsa_pss_pss_sha256",
        0x080a => "rsa_pss_pss_sha384",
        0x080b => "rsa_pss_pss_sha512",
        0x081a => "ecdsa_brainpoolP256r1tls13_sha256",
        0x081b => "ecdsa_brainpoolP384r1tls13_sha384",
        0x081c => "ecdsa_brainpoolP512r1tls13_sha512",
        0x0904 => "mldsa44",
        0x0905 => "mldsa65",
        0x0906 => "mldsa87",
        other => return format!("0x{other:04x}"),
    };
    name.to_string()
}

fn version_name(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
        ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
        other => format!("{other:?}"),
    }
}

// ------------------------------------------------------------- handshake ---

fn load_roots(path: &str) -> Result<RootCertStore, (String, Option<String>)> {
    let pem =
        std::fs::read(path).map_err(|e| probe_err(format!("cannot read ca_file {path}: {e}")))?;
    let mut roots = RootCertStore::empty();
    let mut n = 0usize;
    for item in CertificateDer::pem_slice_iter(&pem) {
        let cert = item.map_err(|e| probe_err(format!("cannot parse ca_file {path}: {e}")))?;
        roots.add(cert).map_err(|e| {
            probe_err(format!(
                "cannot use certificate #{n} of ca_file {path} as trust anchor: {e}"
            ))
        })?;
        n += 1;
    }
    if n == 0 {
        return Err(probe_err(format!("no certificates in ca_file {path}")));
    }
    Ok(roots)
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn io_err(e: io::Error) -> (String, Option<String>) {
    let detail = format!("{e:?}");
    if is_timeout(&e) {
        (format!("timeout: {e}"), Some(detail))
    } else {
        (e.to_string(), Some(detail))
    }
}

fn tls_err(e: rustls::Error) -> (String, Option<String>) {
    (e.to_string(), Some(format!("{e:?}")))
}

/// Time left until `deadline`, or a timeout error when there is none.
fn remaining(deadline: Instant) -> Result<Duration, io::Error> {
    let now = Instant::now();
    if now >= deadline {
        return Err(io::Error::from(ErrorKind::TimedOut));
    }
    // Socket timeouts have microsecond granularity; never pass zero.
    Ok((deadline - now).max(Duration::from_millis(1)))
}

fn connect(job: &Job, deadline: Instant) -> Result<TcpStream, io::Error> {
    let addrs: Vec<SocketAddr> = (job.host.as_str(), job.port).to_socket_addrs()?.collect();
    let mut last: Option<io::Error> = None;
    for addr in addrs {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => {
                let timed_out = is_timeout(&e);
                last = Some(e);
                if timed_out {
                    break;
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            ErrorKind::NotFound,
            format!("no addresses for {}:{}", job.host, job.port),
        )
    }))
}

enum HsError {
    Io(io::Error),
    Tls(rustls::Error),
}

impl From<io::Error> for HsError {
    fn from(e: io::Error) -> Self {
        HsError::Io(e)
    }
}

/// After an I/O failure, read whatever the peer already sent (typically an
/// alert explaining why it hung up) so the TLS-level reason wins.
fn salvage_alert(
    conn: &mut ClientConnection,
    sock: &mut TcpStream,
    deadline: Instant,
) -> Option<rustls::Error> {
    for _ in 0..8 {
        let left = remaining(deadline).ok()?.min(Duration::from_millis(200));
        sock.set_read_timeout(Some(left)).ok()?;
        match conn.read_tls(sock) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {
                if let Err(e) = conn.process_new_packets() {
                    return Some(e);
                }
            }
        }
    }
    None
}

fn drive_handshake(
    conn: &mut ClientConnection,
    sock: &mut TcpStream,
    deadline: Instant,
) -> Result<(), HsError> {
    loop {
        while conn.wants_write() {
            sock.set_write_timeout(Some(remaining(deadline)?))?;
            if let Err(e) = conn.write_tls(sock) {
                if let Some(tls) = salvage_alert(conn, sock, deadline) {
                    return Err(HsError::Tls(tls));
                }
                return Err(HsError::Io(e));
            }
        }
        if !conn.is_handshaking() {
            return Ok(());
        }
        if !conn.wants_read() {
            // Cannot happen for a client mid-handshake; guard against spinning.
            return Err(HsError::Io(io::Error::other(
                "handshake stalled: rustls wants neither to read nor to write",
            )));
        }
        sock.set_read_timeout(Some(remaining(deadline)?))?;
        let n = match conn.read_tls(sock) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(HsError::Io(e)),
        };
        if let Err(e) = conn.process_new_packets() {
            // Last-gasp write of the alert describing the error (best effort).
            if conn.wants_write() {
                let _ = sock.set_write_timeout(Some(Duration::from_millis(200)));
                let _ = conn.write_tls(sock);
            }
            return Err(HsError::Tls(e));
        }
        if n == 0 && conn.is_handshaking() {
            // Same error rustls' own complete_io() reports for EOF mid-handshake.
            return Err(HsError::Io(io::Error::from(ErrorKind::UnexpectedEof)));
        }
    }
}

/// How long to wait after the handshake for a server's rejection of our client
/// certificate (mTLS only).
const ACCEPT_WAIT: Duration = Duration::from_secs(2);

/// TLS 1.3: the server judges the client certificate after our side of the
/// handshake is done; its verdict (close_notify, or an alert such as
/// certificate_required) arrives on the next read. A server that waits for a
/// request (an HTTP app) sends nothing: silence means accepted.
fn await_verdict(
    conn: &mut ClientConnection,
    sock: &mut TcpStream,
    deadline: Instant,
) -> Result<(), HsError> {
    let wait = (Instant::now() + ACCEPT_WAIT).min(deadline);
    loop {
        let left = match remaining(wait) {
            Ok(d) => d,
            Err(_) => return Ok(()),
        };
        sock.set_read_timeout(Some(left))?;
        match conn.read_tls(sock) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                conn.process_new_packets().map_err(HsError::Tls)?;
                // Application data or close_notify: the server kept talking to us.
                let mut buf = [0u8; 1];
                match conn.reader().read(&mut buf) {
                    Ok(_) => return Ok(()),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                    Err(_) => return Ok(()),
                }
            }
            Err(e) if is_timeout(&e) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(HsError::Io(e)),
        }
    }
}

fn load_client_auth(
    cert_file: &str,
    key_file: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), (String, Option<String>)> {
    let pem = std::fs::read(cert_file)
        .map_err(|e| probe_err(format!("cannot read client_cert_file {cert_file}: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| probe_err(format!("cannot parse client_cert_file {cert_file}: {e}")))?;
    if certs.is_empty() {
        return Err(probe_err(format!("no certificates in client_cert_file {cert_file}")));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| probe_err(format!("cannot read client_key_file {key_file}: {e}")))?;
    Ok((certs, key))
}

fn close(conn: &mut ClientConnection, sock: &mut TcpStream) {
    conn.send_close_notify();
    let _ = sock.set_write_timeout(Some(Duration::from_millis(200)));
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = sock.flush();
    let _ = sock.shutdown(Shutdown::Both);
}

fn run_job(job: &Job, provider: &Arc<CryptoProvider>, start: Instant) -> Outcome {
    let deadline = start + job.timeout;

    let roots = Arc::new(load_roots(&job.ca_file)?);
    let server_name = ServerName::try_from(job.servername.clone())
        .map_err(|e| probe_err(format!("invalid servername {:?}: {e}", job.servername)))?;

    let versions: &[&'static SupportedProtocolVersion] = match job.tls_version.as_deref() {
        Some("1.2") => &[&rustls::version::TLS12],
        Some("1.3") => &[&rustls::version::TLS13],
        _ => rustls::DEFAULT_VERSIONS,
    };

    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| probe_err(format!("cannot build certificate verifier: {e}")))?;
    let verifier = Arc::new(RecordingVerifier {
        inner: webpki,
        sigalg: Mutex::new(None),
    });
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| probe_err(format!("cannot configure protocol versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone());
    let config = match &job.client_auth {
        None => config.with_no_client_auth(),
        Some((cert_file, key_file)) => {
            let (certs, key) = load_client_auth(cert_file, key_file)?;
            // The provider refusing the key (ring has no P-521) is the stack's result.
            config.with_client_auth_cert(certs, key).map_err(|e| {
                (
                    format!("cannot use client certificate: {e}"),
                    Some(format!("{e:?}")),
                )
            })?
        }
    };

    let mut conn = ClientConnection::new(Arc::new(config), server_name).map_err(tls_err)?;

    let mut sock = connect(job, deadline).map_err(io_err)?;
    let _ = sock.set_nodelay(true);

    let mut result = drive_handshake(&mut conn, &mut sock, deadline);
    if result.is_ok() && job.client_auth.is_some() {
        result = await_verdict(&mut conn, &mut sock, deadline);
    }
    if result.is_ok() {
        close(&mut conn, &mut sock);
    } else {
        let _ = sock.shutdown(Shutdown::Both);
    }
    match result {
        Err(HsError::Io(e)) => Err(io_err(e)),
        Err(HsError::Tls(e)) => Err(tls_err(e)),
        Ok(()) => Ok(Negotiated {
            version: conn.protocol_version().map(version_name),
            cipher: conn.negotiated_cipher_suite().map(|cs| {
                let suite = cs.suite();
                suite
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("0x{:04x}", u16::from(suite)))
            }),
            group: conn
                .negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name())),
            sigalg: verifier.recorded().map(sigalg_name),
        }),
    }
}

fn elapsed_ms(start: Instant) -> f64 {
    (start.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0
}

fn handle_line(line: &[u8], provider: &Arc<CryptoProvider>) -> JobResult {
    let start = Instant::now();
    let (id, outcome) = match serde_json::from_slice::<Value>(line) {
        Err(e) => (
            Value::Null,
            Err(probe_err(format!("invalid JSON job: {e}"))),
        ),
        Ok(v) => {
            let id = v.get("id").cloned().unwrap_or(Value::Null);
            let outcome = match parse_job(&v) {
                Err(e) => Err(e),
                Ok(job) => {
                    match panic::catch_unwind(AssertUnwindSafe(|| run_job(&job, provider, start))) {
                        Ok(o) => o,
                        Err(p) => {
                            let msg = p
                                .downcast_ref::<&str>()
                                .map(|s| s.to_string())
                                .or_else(|| p.downcast_ref::<String>().cloned())
                                .unwrap_or_else(|| "unknown panic".to_string());
                            Err(probe_err(format!("internal panic: {msg}")))
                        }
                    }
                }
            };
            (id, outcome)
        }
    };
    let elapsed_ms = elapsed_ms(start);
    match outcome {
        Ok(neg) => JobResult {
            id,
            ok: true,
            error: None,
            error_detail: None,
            negotiated: Some(neg),
            elapsed_ms,
        },
        Err((error, error_detail)) => JobResult {
            id,
            ok: false,
            error: Some(error),
            error_detail,
            negotiated: None,
            elapsed_ms,
        },
    }
}

fn main() {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = emit(&mut out, &hello()) {
        eprintln!("tlsmatrix-rustls-probe: cannot write hello: {e}");
        std::process::exit(1);
    }

    let provider = Arc::new(provider());
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.by_ref().read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("tlsmatrix-rustls-probe: cannot read stdin: {e}");
                std::process::exit(1);
            }
        }
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let result = handle_line(line, &provider);
        if let Err(e) = emit(&mut out, &result) {
            eprintln!("tlsmatrix-rustls-probe: cannot write result: {e}");
            std::process::exit(1);
        }
    }
}
