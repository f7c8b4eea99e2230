//! tlsmatrix client probe for rustls 0.21.
//!
//! Implements the "Client probes" section of docs/probe-contract.md: a hello
//! line, then one JSON job per stdin line, one JSON result per stdout line.
//! Each job is a fresh TCP connect + TLS handshake over std::net::TcpStream,
//! with a fresh ClientConfig (so no session resumption between jobs) whose only
//! trust anchors are the certificates of the job's CA file.
//!
//! Adapted from ../../rustls/src/main.rs (rustls 0.23) to the rustls 0.21 API:
//! `rustls::client::WebPkiVerifier` (no CT policy) instead of
//! WebPkiServerVerifier, `rustls::Certificate` / `RootCertStore::add(&Certificate)`,
//! rustls-pemfile 1.x for the CA file, `ClientConfig::builder()` with the safe
//! default cipher suites, the job's kx groups from `rustls::ALL_KX_GROUPS` (x25519,
//! secp256r1, secp384r1; the safe defaults without them), and no crypto provider
//! (always ring). rustls 0.21 does not expose the negotiated key-exchange group,
//! so `negotiated.group` is always null. The I/O loop, timeouts, error texts
//! (`error` = Display of rustls::Error, `error_detail` = {:?}) are unchanged.

use std::sync::Arc;
use std::time::Instant;

use std::time::SystemTime;

use rustls::client::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier, WebPkiVerifier,
};
use rustls::{
    Certificate, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, ServerName,
    SignatureScheme, SupportedKxGroup,
};

use tlsmatrix_probe_loop::net::{connect, io_err};
use tlsmatrix_probe_loop::{internal_panic, probe_err, Failure, Job};
use tlsmatrix_rustls_probe::handshake::{
    cipher_name, drive_handshake, end, failure, sigalg_name, tls_err, version_name, versions,
    Negotiated, Outcome, SchemeRecorder,
};
use tlsmatrix_rustls_probe::{hello, RUSTLS_VERSION};

/// The job's groups (code points, in preference order) from rustls 0.21's
/// groups; none: all of them, its default. A group it lacks is the probe
/// contract's `unsupported group:` answer.
fn kx_groups(codes: Option<&[u16]>) -> Result<Vec<&'static SupportedKxGroup>, Failure> {
    let Some(codes) = codes else {
        return Ok(rustls::ALL_KX_GROUPS.to_vec());
    };
    codes
        .iter()
        .map(|code| {
            rustls::ALL_KX_GROUPS
                .iter()
                .copied()
                .find(|g| g.name.get_u16() == *code)
                .ok_or_else(|| {
                    let e = format!("unsupported group: rustls {RUSTLS_VERSION} with ring has no key-exchange group 0x{code:04x}");
                    (e, None)
                })
        })
        .collect()
}

// -------------------------------------------------------------- verifier ---

/// Delegates everything to rustls' WebPkiVerifier and records the
/// signature scheme the server used to sign the handshake.
struct RecordingVerifier {
    inner: WebPkiVerifier,
    sigalg: SchemeRecorder,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &Certificate,
        intermediates: &[Certificate],
        server_name: &ServerName,
        scts: &mut dyn Iterator<Item = &[u8]>,
        ocsp_response: &[u8],
        now: SystemTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            scts,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &Certificate,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.sigalg.record(dss.scheme);
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &Certificate,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.sigalg.record(dss.scheme);
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }

    fn request_scts(&self) -> bool {
        self.inner.request_scts()
    }
}

// ------------------------------------------------------------- handshake ---

fn load_roots(path: &str) -> Result<RootCertStore, Failure> {
    let pem =
        std::fs::read(path).map_err(|e| probe_err(format!("cannot read ca_file {path}: {e}")))?;
    let mut roots = RootCertStore::empty();
    let mut n = 0usize;
    let ders = rustls_pemfile::certs(&mut pem.as_slice())
        .map_err(|e| probe_err(format!("cannot parse ca_file {path}: {e}")))?;
    for der in ders {
        roots.add(&Certificate(der)).map_err(|e| {
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

fn run_job(job: &Job, start: Instant) -> Outcome {
    let deadline = start + job.timeout;

    let roots = load_roots(&job.ca_file)?;
    let server_name = ServerName::try_from(job.servername.as_str())
        .map_err(|e| probe_err(format!("invalid servername {:?}: {e}", job.servername)))?;

    let versions = versions(job.tls_version.as_deref());

    let verifier = Arc::new(RecordingVerifier {
        inner: WebPkiVerifier::new(roots, None),
        sigalg: SchemeRecorder::default(),
    });
    let groups = kx_groups(job.group_codes.as_deref())?;
    let config = ClientConfig::builder()
        .with_safe_default_cipher_suites()
        .with_kx_groups(&groups)
        .with_protocol_versions(versions)
        .map_err(|e| probe_err(format!("cannot configure protocol versions: {e}")))?
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();

    let mut conn = ClientConnection::new(Arc::new(config), server_name).map_err(tls_err)?;

    let mut sock = connect(job, deadline).map_err(io_err)?;
    let _ = sock.set_nodelay(true);

    let result = drive_handshake(&mut conn, &mut sock, deadline, true);
    end(&mut conn, &mut sock, result.is_ok());
    match result {
        Err(e) => Err(failure(e, verifier.sigalg.recorded().is_some())),
        Ok(()) => Ok(Negotiated {
            version: conn.protocol_version().map(version_name),
            cipher: conn.negotiated_cipher_suite().map(|cs| {
                let suite = cs.suite();
                cipher_name(suite.as_str(), suite.get_u16())
            }),
            // rustls 0.21 does not report the negotiated key-exchange group, nor a HelloRetryRequest.
            hrr: None,
            group: None,
            sigalg: verifier.sigalg.recorded().map(|s| sigalg_name(s.get_u16())),
        }),
    }
}

fn main() {
    // The JSON-lines loop (hello, a result line per job line, EOF): harness/probes/probe-loop.
    tlsmatrix_probe_loop::run(
        "tlsmatrix-rustls-probe",
        &hello(),
        internal_panic,
        |job, start| run_job(job, start),
    );
}
