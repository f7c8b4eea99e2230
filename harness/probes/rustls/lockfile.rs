// Cargo.lock reading shared by the build scripts of the rustls probes (build.rs here,
// used by ../rustls-0.23.12 and ../rustls-0.21 too) and of the kube-rs probes
// (../kube/build.rs), through `include!`. The harness builds with `--locked`, so the
// lock file is what gets compiled: the versions read here are the versions in the binary.

/// The Cargo.lock of the crate being built (its own directory or the nearest parent).
fn find_lock() -> Option<std::path::PathBuf> {
    let mut dir = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").ok()?);
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

/// The packages of the lock file, registering it for rebuilds (empty, with a warning, without one).
fn locked_packages() -> Vec<(String, String)> {
    match find_lock() {
        Some(path) => {
            println!("cargo:rerun-if-changed={}", path.display());
            packages(&std::fs::read_to_string(&path).unwrap_or_default())
        }
        None => {
            println!("cargo:warning=Cargo.lock not found; versions will read 'unknown'");
            Vec::new()
        }
    }
}

/// The versions of `name` in the lock file joined with "|" ("" when absent); several
/// versions also give a build warning.
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
