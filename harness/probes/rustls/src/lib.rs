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

use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use std::sync::Arc;
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

/// Every key-exchange group the provider implements (its default list may leave some out:
/// aws-lc-rs offers no MLKEM768 alone by default).
#[cfg(feature = "ring")]
fn all_kx_groups() -> &'static [&'static dyn SupportedKxGroup] {
    rustls::crypto::ring::ALL_KX_GROUPS
}
#[cfg(all(feature = "aws-lc-rs", not(feature = "ring")))]
fn all_kx_groups() -> &'static [&'static dyn SupportedKxGroup] {
    rustls::crypto::aws_lc_rs::ALL_KX_GROUPS
}

/// The provider with only the given groups (code points, in preference order);
/// none: the provider as it is. A group the provider lacks is the probe
/// contract's `unsupported group:` answer.
pub fn with_groups(
    provider: &Arc<CryptoProvider>,
    codes: Option<&[u16]>,
) -> Result<Arc<CryptoProvider>, String> {
    let Some(codes) = codes else {
        return Ok(provider.clone());
    };
    let mut groups = Vec::new();
    for code in codes {
        match all_kx_groups().iter().find(|g| u16::from(g.name()) == *code) {
            Some(g) => groups.push(*g),
            None => {
                return Err(format!(
                    "unsupported group: rustls {RUSTLS_VERSION} with {PROVIDER_NAME} has no key-exchange group 0x{code:04x}"
                ))
            }
        }
    }
    Ok(Arc::new(CryptoProvider {
        kx_groups: groups,
        ..(**provider).clone()
    }))
}

fn hello_details() -> serde_json::Map<String, Value> {
    let mut d = serde_json::Map::new();
    d.insert("rustls-webpki".into(), WEBPKI_VERSION.into());
    #[cfg(feature = "ring")]
    d.insert("ring".into(), env!("PROBE_RING_VERSION").into());
    #[cfg(feature = "aws-lc-rs")]
    {
        // which rustls features the build has: prefer-post-quantum puts X25519MLKEM768 first
        d.insert("rustls features".into(), "aws_lc_rs prefer-post-quantum".into());
        d.insert("aws-lc-rs".into(), env!("PROBE_AWS_LC_RS_VERSION").into());
        d.insert("aws-lc-sys".into(), env!("PROBE_AWS_LC_SYS_VERSION").into());
    }
    d
}

/// The `{"hello": ...}` line both programs start with.
pub fn hello() -> Hello {
    Hello::new("rustls", RUSTLS_VERSION, PROVIDER_NAME, hello_details())
}
