//! Shared build script of the kube-rs client probe variants.
//!
//! Derives the exact versions of kube and of the TLS crates underneath it from
//! the variant's Cargo.lock (../rustls/lockfile.rs reads it). Each version is exported as
//! `PROBE_V_<CRATE>` (crate name upper-cased, `-` -> `_`); crates absent from
//! the lock file read "" and are left out of the hello line.

include!("../rustls/lockfile.rs");

const CRATES: &[&str] = &[
    "kube",
    "kube-client",
    "k8s-openapi",
    "hyper",
    "hyper-util",
    "rustls",
    "rustls-webpki",
    "hyper-rustls",
    "ring",
    "aws-lc-rs",
    "aws-lc-sys",
    "hyper-openssl",
    "openssl",
    "openssl-sys",
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build.rs");
    println!("cargo:rerun-if-changed=../../rustls/lockfile.rs");
    let pkgs = locked_packages();
    for name in CRATES {
        let var = format!("PROBE_V_{}", name.to_uppercase().replace('-', "_"));
        println!("cargo:rustc-env={var}={}", version_of(&pkgs, name));
    }
}
