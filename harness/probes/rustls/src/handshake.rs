//! What every tlsmatrix rustls program shares, whatever the rustls version: the
//! handshake loop over a blocking socket with a deadline, the close, the names
//! of what was negotiated, the recorded signature scheme.
//!
//! One source for two APIs: the rustls 0.23 crate (../, its client probe and its
//! server program) and the rustls 0.21 crate (../../rustls-0.21, by `#[path]`)
//! both build this file against their own rustls. It names only what both APIs
//! have: `ConnectionCommon` (what a client and a server connection deref to),
//! `ProtocolVersion`, `SignatureScheme`, `rustls::Error`.

use std::io::{self, ErrorKind, Write};
use std::net::{Shutdown, TcpStream};
use std::ops::DerefMut;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustls::{ConnectionCommon, ProtocolVersion, SignatureScheme, SupportedProtocolVersion};
use serde::Serialize;
use tlsmatrix_probe_loop::net::{io_err, remaining};
use tlsmatrix_probe_loop::Failure;

/// What a client probe reports of a completed handshake (docs/probe-contract.md).
#[derive(Serialize)]
pub struct Negotiated {
    pub version: Option<String>,
    pub cipher: Option<String>,
    pub group: Option<String>,
    pub sigalg: Option<String>,
    /// a HelloRetryRequest happened (None: this rustls cannot say)
    pub hrr: Option<bool>,
}

/// Outcome of one attempt: Ok(negotiated) or Err((error, error_detail)).
pub type Outcome = Result<Negotiated, Failure>;

/// The signature scheme a server signed the handshake with, as a verifier saw it.
#[derive(Debug, Default)]
pub struct SchemeRecorder(Mutex<Option<SignatureScheme>>);

impl SchemeRecorder {
    pub fn record(&self, scheme: SignatureScheme) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(scheme);
        }
    }
    pub fn recorded(&self) -> Option<SignatureScheme> {
        self.0.lock().ok().and_then(|g| *g)
    }
}

/// IANA TLS SignatureScheme name (lowercase style) for a scheme's code point.
pub fn sigalg_name(code: u16) -> String {
    let name = match code {
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

pub fn version_name(v: ProtocolVersion) -> String {
    match v {
        ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
        ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
        other => format!("{other:?}"),
    }
}

/// rustls' own words (Display) and its variant (Debug: the stack's code, harness/stacks/nativecodes.py).
pub fn tls_err(e: rustls::Error) -> Failure {
    (e.to_string(), Some(format!("{e:?}")))
}

/// A failed handshake as a client probe reports it. rustls calls the signature check only after
/// verify_server_cert accepted the chain, and webpki says BadSignature for a certificate and a
/// handshake signature alike: `signed` (the verifier saw the handshake signature) marks the second
/// (tlsmatrix replay's substitute key), in the detail only; the text stays rustls'.
pub fn failure(e: HsError, signed: bool) -> Failure {
    match e {
        HsError::Io(e) => io_err(e),
        HsError::Tls(e @ rustls::Error::InvalidCertificate(_)) if signed => {
            (e.to_string(), Some(format!("{e:?} (handshake signature)")))
        }
        HsError::Tls(e) => tls_err(e),
    }
}

static TLS12_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];

/// The protocol versions a job asks for (none named: rustls' defaults).
pub fn versions(tls_version: Option<&str>) -> &'static [&'static SupportedProtocolVersion] {
    match tls_version {
        Some("1.2") => &TLS12_ONLY,
        Some("1.3") => &TLS13_ONLY,
        _ => rustls::DEFAULT_VERSIONS,
    }
}

pub enum HsError {
    Io(io::Error),
    Tls(rustls::Error),
}

impl From<io::Error> for HsError {
    fn from(e: io::Error) -> Self {
        HsError::Io(e)
    }
}

impl std::fmt::Display for HsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HsError::Io(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                write!(f, "timeout: {e}")
            }
            HsError::Io(e) => write!(f, "{e}"),
            HsError::Tls(e) => write!(f, "{e}"),
        }
    }
}

/// After an I/O failure, read whatever the peer already sent (typically an
/// alert explaining why it hung up) so the TLS-level reason wins.
fn salvage_alert<C, D>(conn: &mut C, sock: &mut TcpStream, deadline: Instant) -> Option<rustls::Error>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
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

/// The handshake, to completion or the first error. `salvage`: after a failed
/// write, read the peer's alert first (a client reports why the server hung up).
pub fn drive_handshake<C, D>(
    conn: &mut C,
    sock: &mut TcpStream,
    deadline: Instant,
    salvage: bool,
) -> Result<(), HsError>
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    loop {
        while conn.wants_write() {
            sock.set_write_timeout(Some(remaining(deadline)?))?;
            if let Err(e) = conn.write_tls(sock) {
                if let Some(tls) = salvage.then(|| salvage_alert(conn, sock, deadline)).flatten() {
                    return Err(HsError::Tls(tls));
                }
                return Err(HsError::Io(e));
            }
        }
        if !conn.is_handshaking() {
            return Ok(());
        }
        if !conn.wants_read() {
            // Cannot happen mid-handshake; guard against spinning.
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

/// A client's end of the connection: close_notify when the handshake completed, then the socket.
pub fn end<C, D>(conn: &mut C, sock: &mut TcpStream, completed: bool)
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    if completed {
        send_close_notify(conn, sock);
    }
    let _ = sock.shutdown(Shutdown::Both);
}

/// A cipher suite's IANA name, or its code point where rustls has no name.
pub fn cipher_name(name: Option<&str>, code: u16) -> String {
    name.map(str::to_string).unwrap_or_else(|| format!("0x{code:04x}"))
}

/// close_notify, written as far as the socket takes it (the caller then shuts the socket down).
pub fn send_close_notify<C, D>(conn: &mut C, sock: &mut TcpStream)
where
    C: DerefMut<Target = ConnectionCommon<D>>,
{
    conn.send_close_notify();
    let _ = sock.set_write_timeout(Some(Duration::from_millis(200)));
    while conn.wants_write() {
        match conn.write_tls(sock) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = sock.flush();
}
