//! Derives the exact versions of rustls, rustls-webpki and the crypto provider
//! crate that this binary is compiled against from Cargo.lock (the harness
//! builds with `--locked`, so the lock file is what gets compiled).

use std::env;
use std::fs;
use std::path::PathBuf;

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

/// Minimal Cargo.lock reader: returns every (name, version) of [[package]] entries.
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
    match vs.len() {
        0 => "unknown".to_string(),
        1 => vs[0].to_string(),
        _ => {
            println!(
                "cargo:warning=several versions of {name} in Cargo.lock: {}",
                vs.join(", ")
            );
            vs.join("|")
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
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
    for (crate_name, var) in [
        ("rustls", "PROBE_RUSTLS_VERSION"),
        ("rustls-webpki", "PROBE_WEBPKI_VERSION"),
        ("ring", "PROBE_RING_VERSION"),
        ("aws-lc-rs", "PROBE_AWS_LC_RS_VERSION"),
        ("aws-lc-sys", "PROBE_AWS_LC_SYS_VERSION"),
    ] {
        println!("cargo:rustc-env={var}={}", version_of(&pkgs, crate_name));
    }
}
