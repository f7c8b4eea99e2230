//! tlsmatrix client probe for rustls.
//!
//! Implements the "Client probes" section of docs/probe-contract.md: a hello
//! line, then one JSON job per stdin line, one JSON result per stdout line.
//! Each job is a fresh TCP connect + TLS handshake over std::net::TcpStream,
//! with a fresh ClientConfig (so no session resumption between jobs) whose only
//! trust anchors are the certificates of the job's CA file.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
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

use tlsmatrix_probe_loop::net::{connect, io_err, is_timeout, remaining};
use tlsmatrix_probe_loop::{internal_panic, probe_err, Failure, Job};
use tlsmatrix_rustls_probe::{hello, provider};

// ---------------------------------------------------------------- output ---

#[derive(Serialize)]
struct Negotiated {
    version: Option<String>,
    cipher: Option<String>,
    group: Option<String>,
    sigalg: Option<String>,
}

// ------------------------------------------------------------------ jobs ---
// The job line itself (tlsmatrix_probe_loop::Job) is checked by harness/probes/probe-loop.

/// Outcome of one attempt: Ok(negotiated) or Err((error, error_detail)).
type Outcome = Result<Negotiated, Failure>;

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

fn load_roots(path: &str) -> Result<RootCertStore, Failure> {
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

fn tls_err(e: rustls::Error) -> Failure {
    (e.to_string(), Some(format!("{e:?}")))
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
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Failure> {
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
        // rustls calls the signature check only after verify_server_cert accepted the chain, and
        // webpki says BadSignature for a certificate and a handshake signature alike: mark the
        // second (tlsmatrix replay's substitute key), in the detail only; the text stays rustls'.
        Err(HsError::Tls(e @ rustls::Error::InvalidCertificate(_))) if verifier.recorded().is_some() => {
            Err((e.to_string(), Some(format!("{e:?} (handshake signature)"))))
        }
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

fn main() {
    // The JSON-lines loop (hello, a result line per job line, EOF): harness/probes/probe-loop.
    let provider = Arc::new(provider());
    tlsmatrix_probe_loop::run(
        "tlsmatrix-rustls-probe",
        &hello(),
        internal_panic,
        |job, start| run_job(job, &provider, start),
    );
}
