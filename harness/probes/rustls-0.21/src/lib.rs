//! Code of the tlsmatrix rustls 0.21 client probe (`tlsmatrix-rustls-probe`,
//! src/main.rs): the hello line (written by ../../probe-loop, like every result line).
//!
//! rustls 0.21 has no crypto-provider API; it always uses ring. The versions
//! come from Cargo.lock via build.rs.

// The handshake loop and the names of what was negotiated: one source with the rustls 0.23 crate.
#[path = "../../rustls/src/handshake.rs"]
pub mod handshake;

use serde_json::Value;
pub use tlsmatrix_probe_loop::Hello;

pub const RUSTLS_VERSION: &str = env!("PROBE_RUSTLS_VERSION");
pub const WEBPKI_VERSION: &str = env!("PROBE_WEBPKI_VERSION");
pub const PROVIDER_NAME: &str = "ring";

fn hello_details() -> serde_json::Map<String, Value> {
    let mut d = serde_json::Map::new();
    d.insert("rustls-webpki".into(), WEBPKI_VERSION.into());
    d.insert("ring".into(), env!("PROBE_RING_VERSION").into());
    d
}

/// The `{"hello": ...}` line the probe starts with.
pub fn hello() -> Hello {
    Hello::new("rustls", RUSTLS_VERSION, PROVIDER_NAME, hello_details())
}
