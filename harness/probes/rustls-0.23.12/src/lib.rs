//! Code of the tlsmatrix rustls 0.23.12 client probe (`tlsmatrix-rustls-probe`,
//! src/main.rs). Copy of ../../rustls/src/lib.rs (there it is shared with the
//! server program, which this pinned-version package does not have).
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

use std::io::{self, Write};

use rustls::crypto::CryptoProvider;
use serde::Serialize;
use serde_json::Value;

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

#[derive(Serialize)]
pub struct Hello {
    hello: HelloBody,
}

#[derive(Serialize)]
struct HelloBody {
    stack: &'static str,
    version: &'static str,
    provider: &'static str,
    details: serde_json::Map<String, Value>,
}

/// The `{"hello": ...}` line both programs start with.
pub fn hello() -> Hello {
    Hello {
        hello: HelloBody {
            stack: "rustls",
            version: RUSTLS_VERSION,
            provider: PROVIDER_NAME,
            details: hello_details(),
        },
    }
}

/// Writes `v` as one JSON line and flushes.
pub fn emit<T: Serialize>(out: &mut impl Write, v: &T) -> io::Result<()> {
    let line = serde_json::to_string(v).map_err(io::Error::other)?;
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}
