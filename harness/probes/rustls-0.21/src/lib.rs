//! Code of the tlsmatrix rustls 0.21 client probe (`tlsmatrix-rustls-probe`,
//! src/main.rs): the hello line and JSON-lines output.
//!
//! rustls 0.21 has no crypto-provider API; it always uses ring. The versions
//! come from Cargo.lock via build.rs.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::Value;

pub const RUSTLS_VERSION: &str = env!("PROBE_RUSTLS_VERSION");
pub const WEBPKI_VERSION: &str = env!("PROBE_WEBPKI_VERSION");
pub const PROVIDER_NAME: &str = "ring";

fn hello_details() -> serde_json::Map<String, Value> {
    let mut d = serde_json::Map::new();
    d.insert("rustls-webpki".into(), WEBPKI_VERSION.into());
    d.insert("ring".into(), env!("PROBE_RING_VERSION").into());
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

/// The `{"hello": ...}` line the probe starts with.
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
