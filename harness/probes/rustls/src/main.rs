//! tlsmatrix client probe for rustls.
//!
//! Implements the "Client probes" section of docs/probe-contract.md: a hello
//! line, then one JSON job per stdin line, one JSON result per stdout line.
//! Each job is a fresh TCP connect + TLS handshake over std::net::TcpStream,
//! with a fresh ClientConfig (so no session resumption between jobs) whose only
//! trust anchors are the certificates of the job's CA file.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
#[cfg(not(feature = "verifier-0-23-12"))]
use rustls::DistinguishedName;
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind, RootCertStore, SignatureScheme,
};

use tlsmatrix_probe_loop::net::{connect, io_err, is_timeout, remaining};
use tlsmatrix_probe_loop::{internal_panic, probe_err, Failure, Job};
use tlsmatrix_rustls_probe::handshake::{
    cipher_name, drive_handshake, end, failure, sigalg_name, tls_err, version_name, versions, HsError,
    Negotiated, Outcome, SchemeRecorder,
};
use tlsmatrix_rustls_probe::{hello, provider, with_groups};

// -------------------------------------------------------------- verifier ---

/// Delegates everything to rustls' WebPkiServerVerifier and records the
/// signature scheme the server used to sign the handshake.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    sigalg: SchemeRecorder,
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
        self.sigalg.record(dss.scheme);
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.sigalg.record(dss.scheme);
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

fn run_job(job: &Job, provider: &Arc<CryptoProvider>, start: Instant) -> Outcome {
    let deadline = start + job.timeout;
    let provider = &with_groups(provider, job.group_codes.as_deref()).map_err(|e| (e, None))?;

    let roots = Arc::new(load_roots(&job.ca_file)?);
    let server_name = ServerName::try_from(job.servername.clone())
        .map_err(|e| probe_err(format!("invalid servername {:?}: {e}", job.servername)))?;

    let versions = versions(job.tls_version.as_deref());

    let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
        .build()
        .map_err(|e| probe_err(format!("cannot build certificate verifier: {e}")))?;
    let verifier = Arc::new(RecordingVerifier {
        inner: webpki,
        sigalg: SchemeRecorder::default(),
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

    let mut result = drive_handshake(&mut conn, &mut sock, deadline, true);
    if result.is_ok() && job.client_auth.is_some() {
        result = await_verdict(&mut conn, &mut sock, deadline);
    }
    end(&mut conn, &mut sock, result.is_ok());
    match result {
        Err(e) => Err(failure(e, verifier.sigalg.recorded().is_some())),
        Ok(()) => Ok(Negotiated {
            version: conn.protocol_version().map(version_name),
            cipher: conn.negotiated_cipher_suite().map(|cs| {
                let suite = cs.suite();
                cipher_name(suite.as_str(), u16::from(suite))
            }),
            group: conn
                .negotiated_key_exchange_group()
                .map(|g| format!("{:?}", g.name())),
            sigalg: verifier.sigalg.recorded().map(|s| sigalg_name(u16::from(s))),
            hrr: conn
                .handshake_kind()
                .map(|k| k == HandshakeKind::FullWithHelloRetryRequest),
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
