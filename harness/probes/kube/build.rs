//! Shared build script of the kube-rs client probe variants.
//!
//! Derives the exact versions of kube and of the TLS crates underneath it from
//! the variant's Cargo.lock (the harness builds with `--locked`, so the lock
//! file is what gets compiled). Each version is exported as
//! `PROBE_V_<CRATE>` (crate name upper-cased, `-` -> `_`); crates absent from
//! the lock file read "" and are left out of the hello line.

use std::env;
use std::fs;
use std::path::PathBuf;

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

fn find_lock() -> Option<PathBuf> {
    let mut dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").ok()?);
    loop {
        let cand = dir.join("Cargo.lock");
        if cand.is_file() {
            return Some(cand);
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Minimal Cargo.lock reader: every (name, version) of the [[package]] entries.
fn packages(lock: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut name: Option<String> = None;
    let mut version: Option<String> = None;
    let flush = |name: &mut Option<String>,
                 version: &mut Option<String>,
                 out: &mut Vec<(String, String)>| {
        if let (Some(n), Some(v)) = (name.take(), version.take()) {
            out.push((n, v));
        }
    };
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            flush(&mut name, &mut version, &mut out);
        } else if let Some(rest) = line.strip_prefix("name = ") {
            name = Some(rest.trim_matches('"').to_string());
        } else if let Some(rest) = line.strip_prefix("version = ") {
            version = Some(rest.trim_matches('"').to_string());
        }
    }
    flush(&mut name, &mut version, &mut out);
    out
}

fn version_of(pkgs: &[(String, String)], name: &str) -> String {
    let mut vs: Vec<&str> = pkgs
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect();
    vs.sort();
    vs.dedup();
    if vs.len() > 1 {
        println!(
            "cargo:warning=several versions of {name} in Cargo.lock: {}",
            vs.join(", ")
        );
    }
    vs.join("|")
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build.rs");
    let pkgs = match find_lock() {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", path.display());
            packages(&fs::read_to_string(&path).unwrap_or_default())
        }
        None => {
            println!("cargo:warning=Cargo.lock not found; versions will read 'unknown'");
            Vec::new()
        }
    };
    for name in CRATES {
        let var = format!("PROBE_V_{}", name.to_uppercase().replace('-', "_"));
        println!("cargo:rustc-env={var}={}", version_of(&pkgs, name));
    }
}
