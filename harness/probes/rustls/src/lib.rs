//! Code shared by the tlsmatrix rustls programs: the client probe
//! (`tlsmatrix-rustls-probe`, src/main.rs) and the server program
//! (`tlsmatrix-rustls-server`, src/bin/tlsmatrix-rustls-server.rs).
//!
//! Exactly one of the features `ring` and `aws-lc-rs` selects the crypto
//! provider; the versions come from Cargo.lock via build.rs.

#[cfg(all(feature = "ring", feature = "aws-lc-rs"))]
compile_error!(
    "enable exactly one of the features `ring` and `aws-lc-rs` (build with --no-default-features)"
);
#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!(
    "enable exactly one of the features `ring` and `aws-lc-rs` (build with --no-default-features)"
);

pub mod handshake;

use rustls::crypto::CryptoProvider;
use serde_json::Value;
// The JSON-lines output is shared with the other Rust probes (../probe-loop);
// `emit` is re-exported for the server program.
pub use tlsmatrix_probe_loop::{emit, Hello};

pub const RUSTLS_VERSION: &str = env!("PROBE_RUSTLS_VERSION");
pub const WEBPKI_VERSION: &str = env!("PROBE_WEBPKI_VERSION");

#[cfg(feature = "ring")]
pub const PROVIDER_NAME: &str = "ring";
#[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
pub const PROVIDER_NAME: &str = "aws-lc-rs";

#[cfg(feature = "ring")]
pub fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}
#[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
pub fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

fn hello_details() -> serde_json::Map<String, Value> {
    let mut d = serde_json::Map::new();
    d.insert("rustls-webpki".into(), WEBPKI_VERSION.into());
    #[cfg(feature = "ring")]
    d.insert("ring".into(), env!("PROBE_RING_VERSION").into());
    #[cfg(feature = "aws-lc-rs")]
    {
        d.insert("aws-lc-rs".into(), env!("PROBE_AWS_LC_RS_VERSION").into());
        d.insert("aws-lc-sys".into(), env!("PROBE_AWS_LC_SYS_VERSION").into());
    }
    d
}

/// The `{"hello": ...}` line both programs start with.
pub fn hello() -> Hello {
    Hello::new("rustls", RUSTLS_VERSION, PROVIDER_NAME, hello_details())
}
