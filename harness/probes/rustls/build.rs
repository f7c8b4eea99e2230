//! Derives the exact versions of rustls, rustls-webpki and the crypto provider
//! crate that this binary is compiled against from Cargo.lock (lockfile.rs).

include!("lockfile.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=lockfile.rs");
    let pkgs = locked_packages();
    for (crate_name, var) in [
        ("rustls", "PROBE_RUSTLS_VERSION"),
        ("rustls-webpki", "PROBE_WEBPKI_VERSION"),
        ("ring", "PROBE_RING_VERSION"),
        ("aws-lc-rs", "PROBE_AWS_LC_RS_VERSION"),
        ("aws-lc-sys", "PROBE_AWS_LC_SYS_VERSION"),
    ] {
        let v = version_of(&pkgs, crate_name);
        let v = if v.is_empty() { "unknown".to_string() } else { v };
        println!("cargo:rustc-env={var}={v}");
    }
}
