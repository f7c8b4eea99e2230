//! tlsmatrix server program for rustls.
//!
//! Implements the "Server programs" and "Server programs inside containers"
//! sections of docs/probe-contract.md: reads one JSON configuration (the first
//! stdin line, or the file named by `--config PATH`), writes a hello line, one
//! line per listener (`{"id","port"}` or `{"id","error"}`) and `{"ready": true}`,
//! then completes TLS handshakes on every listener (a thread per connection,
//! 10 s handshake deadline, close_notify, close) until stdin reaches EOF (stdin
//! mode) or SIGTERM/SIGINT arrives (both modes).

use std::io::{self, BufRead, ErrorKind, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use tlsmatrix_probe_loop::net::remaining;
use tlsmatrix_rustls_probe::handshake::{drive_handshake, send_close_notify};
use tlsmatrix_rustls_probe::{emit, hello, provider, with_groups};

const NAME: &str = "tlsmatrix-rustls-server";
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After close_notify, how long to wait for the peer's close before closing
/// (reading its close_notify avoids a TCP reset from unread data).
const LINGER: Duration = Duration::from_millis(500);

macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!("{NAME}: {}", format_args!($($arg)*))
    };
}

// ---------------------------------------------------------------- config ---

#[derive(Deserialize)]
struct Config {
    host: String,
    #[serde(default)]
    container: bool,
    listeners: Vec<ListenerConfig>,
}

#[derive(Deserialize)]
struct ListenerConfig {
    id: Value,
    cert_file: String,
    key_file: String,
    #[serde(default)]
    tls_version: Option<String>,
    /// Fixed port; absent, null or 0 lets the OS choose.
    #[serde(default)]
    port: Option<u64>,
    /// mTLS: require a client certificate chaining to these CAs.
    #[serde(default)]
    client_ca_file: Option<String>,
    /// The key-exchange groups to accept (code points, preference order); none: the provider's.
    #[serde(default)]
    group_codes: Option<Vec<u16>>,
}

/// Loopback always; the IPv4 wildcard only with `"container": true` (inside a
/// container the only way in is Docker's port publishing on the host's loopback).
fn allowed_host(host: &str, container: bool) -> bool {
    match host {
        "127.0.0.1" | "::1" | "localhost" => true,
        "0.0.0.0" => container,
        _ => false,
    }
}

/// A listener id for log lines: strings without their JSON quotes.
fn id_text(id: &Value) -> String {
    match id {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------- output ---

#[derive(Serialize)]
struct ListenerOk<'a> {
    id: &'a Value,
    port: u16,
}

#[derive(Serialize)]
struct ListenerErr<'a> {
    id: &'a Value,
    error: String,
}

#[derive(Serialize)]
struct Ready {
    ready: bool,
}

fn emit_or_die<T: Serialize>(v: &T) {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = emit(&mut out, v) {
        log!("cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

// ------------------------------------------------------------- listeners ---

fn server_config(
    lc: &ListenerConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<ServerConfig, String> {
    let versions: &[&'static SupportedProtocolVersion] = match lc.tls_version.as_deref() {
        None => rustls::DEFAULT_VERSIONS,
        Some("1.2") => &[&rustls::version::TLS12],
        Some("1.3") => &[&rustls::version::TLS13],
        Some(other) => return Err(format!("unsupported tls_version {other:?}")),
    };
    let certs = CertificateDer::pem_file_iter(&lc.cert_file)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_file(&lc.key_file).map_err(|e| e.to_string())?;
    let provider = &with_groups(provider, lc.group_codes.as_deref())?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| e.to_string())?;
    let builder = match &lc.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("client_ca_file {path}: {e}"))?
            {
                let cert = cert.map_err(|e| format!("client_ca_file {path}: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("client_ca_file {path}: {e}"))?;
            }
            if roots.is_empty() {
                return Err(format!("client_ca_file {path}: no certificates"));
            }
            // Verification of the client's chain and CertificateVerify uses the provider's
            // algorithms, so a ring server cannot accept what ring cannot verify.
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("client certificate verifier: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    builder
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())
}

fn bind(host: &str, lc: &ListenerConfig) -> Result<TcpListener, String> {
    let port = match lc.port {
        None => 0,
        Some(p) => u16::try_from(p).map_err(|_| format!("invalid port {p}"))?,
    };
    // Like Go's net.Listen, prefer IPv4 for "localhost".
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    TcpListener::bind((host, port)).map_err(|e| e.to_string())
}

fn start_listener(
    host: &str,
    lc: &ListenerConfig,
    provider: &Arc<CryptoProvider>,
) -> Result<u16, String> {
    let config = Arc::new(server_config(lc, provider)?);
    let listener = bind(host, lc)?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let id = id_text(&lc.id);
    thread::Builder::new()
        .name(format!("accept {id}"))
        .spawn(move || accept_loop(id, listener, config))
        .map_err(|e| e.to_string())?;
    Ok(port)
}

fn accept_loop(id: String, listener: TcpListener, config: Arc<ServerConfig>) {
    loop {
        match listener.accept() {
            Ok((sock, _)) => {
                let conn_id = id.clone();
                let config = config.clone();
                let spawned = thread::Builder::new().spawn(move || serve(&conn_id, sock, config));
                if let Err(e) = spawned {
                    log!("[{id}] cannot start connection thread: {e}");
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                // e.g. EMFILE: back off, keep serving.
                log!("[{id}] accept: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

// ------------------------------------------------------------- handshake ---

fn close(conn: &mut ServerConnection, sock: &mut TcpStream) {
    send_close_notify(conn, sock);
    let _ = sock.shutdown(Shutdown::Write);
    // Drain until the peer closes (or LINGER passes), so that unread data
    // (typically the client's close_notify) does not turn our close into a reset.
    let end = Instant::now() + LINGER;
    let mut buf = [0u8; 4096];
    while let Ok(left) = remaining(end) {
        if sock.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
}

fn serve(id: &str, mut sock: TcpStream, config: Arc<ServerConfig>) {
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let peer = sock
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".to_string());
    let _ = sock.set_nodelay(true);
    let mut conn = match ServerConnection::new(config) {
        Ok(c) => c,
        Err(e) => {
            log!("[{id}] cannot create connection for {peer}: {e}");
            return;
        }
    };
    match drive_handshake(&mut conn, &mut sock, deadline, false) {
        Ok(()) => close(&mut conn, &mut sock),
        Err(e) => {
            log!("[{id}] handshake with {peer} failed: {e}");
            let _ = sock.shutdown(Shutdown::Both);
        }
    }
}

// ------------------------------------------------------------------ main ---

fn usage_exit(msg: &str) -> ! {
    log!("{msg}");
    log!("usage: {NAME} [--config PATH]");
    std::process::exit(2);
}

fn parse_args() -> Option<String> {
    let mut args = std::env::args().skip(1);
    let mut config = None;
    while let Some(a) = args.next() {
        if a == "--config" || a == "-config" {
            match args.next() {
                Some(p) => config = Some(p),
                None => usage_exit("--config needs a path"),
            }
        } else if let Some(p) = a.strip_prefix("--config=") {
            config = Some(p.to_string());
        } else {
            usage_exit(&format!("unexpected argument {a:?}"));
        }
    }
    config
}

fn main() {
    let config_path = parse_args();

    // Signals first, so a SIGTERM during start-up also ends us promptly. A
    // handler is needed: as PID 1 in a container, unhandled signals are ignored.
    match Signals::new([SIGTERM, SIGINT]) {
        Ok(mut signals) => {
            thread::spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    log!("received signal {sig}, exiting");
                    std::process::exit(0);
                }
            });
        }
        Err(e) => {
            log!("cannot install signal handlers: {e}");
            std::process::exit(1);
        }
    }

    let stdin = io::stdin();
    let raw = match &config_path {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                log!("cannot read configuration {path}: {e}");
                std::process::exit(2);
            }
        },
        None => {
            let mut line = String::new();
            match stdin.lock().read_line(&mut line) {
                Ok(_) if !line.trim().is_empty() => line,
                Ok(_) => {
                    log!("no configuration line on stdin: EOF");
                    std::process::exit(2);
                }
                Err(e) => {
                    log!("no configuration line on stdin: {e}");
                    std::process::exit(2);
                }
            }
        }
    };
    let cfg: Config = match serde_json::from_str(&raw) {
        Ok(c) => c,
        Err(e) => {
            log!("invalid configuration JSON: {e}");
            std::process::exit(2);
        }
    };
    if !allowed_host(&cfg.host, cfg.container) {
        if cfg.host == "0.0.0.0" {
            log!("refusing to bind to host \"0.0.0.0\" without \"container\": true");
        } else {
            log!(
                "refusing to bind to host {:?}: only 127.0.0.1, ::1 or localhost \
                 (or 0.0.0.0 with \"container\": true) are allowed",
                cfg.host
            );
        }
        std::process::exit(2);
    }

    emit_or_die(&hello());

    let provider = Arc::new(provider());
    for lc in &cfg.listeners {
        match start_listener(&cfg.host, lc, &provider) {
            Ok(port) => emit_or_die(&ListenerOk { id: &lc.id, port }),
            Err(error) => {
                log!("[{}] not started: {error}", id_text(&lc.id));
                emit_or_die(&ListenerErr { id: &lc.id, error });
            }
        }
    }
    emit_or_die(&Ready { ready: true });

    if config_path.is_some() {
        // --config: stdin is not watched; serve until SIGTERM/SIGINT.
        loop {
            thread::park();
        }
    }

    // Serve until stdin reaches EOF (the harness went away or closed it).
    let _ = io::copy(&mut stdin.lock(), &mut io::sink());
    log!("stdin closed, exiting");
    std::process::exit(0);
}
