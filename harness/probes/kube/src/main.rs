//! tlsmatrix client probe for kube-rs (the real `kube` crate as the client stack).
//!
//! Implements the "Client probes" section of docs/probe-contract.md with one
//! kube-specific twist: a job is not a bare handshake but what a kube user does,
//!
//!   Kubeconfig (built in memory) -> Config::from_custom_kubeconfig
//!   -> Client::try_from(config) -> Api::<Pod>::namespaced(client, "default").list()
//!
//! so the TLS stack, crypto provider and verifier are whatever the kube version
//! and its features select (nothing is configured by hand). One source file is
//! shared by every variant under harness/probes/kube/<variant>/ (each its own
//! Cargo project and Cargo.lock); see ../README.md.
//!
//! Job fields used: id, host, port, servername (-> `tls-server-name`), ca_file
//! (-> `certificate-authority-data`), timeout_ms (tokio timeout around the whole
//! job), optional client_cert_file/client_key_file (-> client-certificate-data /
//! client-key-data). With the optional `kubeconfig` field (a file path) the probe
//! reads that file instead (Kubeconfig::read_from, as KUBECONFIG=path would) and
//! the fields above only label the job. `tls_version` is accepted but cannot be
//! applied: kube has no knob for it, so version pinning happens on the server side.

use std::error::Error as StdError;
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{json, Map, Value};
use tlsmatrix_probe_loop::{probe_err, Failure, Hello, Job};

#[cfg(not(any(
    feature = "provider-ring",
    feature = "provider-aws-lc-rs",
    feature = "provider-openssl"
)))]
compile_error!("enable one of the features provider-ring, provider-aws-lc-rs, provider-openssl");

/// Which crypto the variant's kube features select (set by the variant's Cargo.toml).
#[cfg(feature = "provider-ring")]
const PROVIDER: &str = "ring";
#[cfg(all(feature = "provider-aws-lc-rs", not(feature = "provider-ring")))]
const PROVIDER: &str = "aws-lc-rs";
#[cfg(all(
    feature = "provider-openssl",
    not(any(feature = "provider-ring", feature = "provider-aws-lc-rs"))
))]
const PROVIDER: &str = "openssl";

/// kube-client 0.93's openssl-tls connector does not apply Config::tls_server_name
/// ("TODO: pass self.tls_server_name for openssl" in config_ext.rs): the field is
/// set, kube ignores it, and the name checked is the server URL's host.
const TLS_SERVER_NAME_NOTE: Option<&str> = if cfg!(feature = "provider-openssl") {
    Some("ignored by kube-client's openssl-tls connector; the server URL host is verified")
} else {
    None
};

const VERSIONS: &[(&str, &str)] = &[
    ("kube-client", env!("PROBE_V_KUBE_CLIENT")),
    ("k8s-openapi", env!("PROBE_V_K8S_OPENAPI")),
    ("hyper", env!("PROBE_V_HYPER")),
    ("hyper-util", env!("PROBE_V_HYPER_UTIL")),
    ("rustls", env!("PROBE_V_RUSTLS")),
    ("rustls-webpki", env!("PROBE_V_RUSTLS_WEBPKI")),
    ("hyper-rustls", env!("PROBE_V_HYPER_RUSTLS")),
    ("ring", env!("PROBE_V_RING")),
    ("aws-lc-rs", env!("PROBE_V_AWS_LC_RS")),
    ("aws-lc-sys", env!("PROBE_V_AWS_LC_SYS")),
    ("hyper-openssl", env!("PROBE_V_HYPER_OPENSSL")),
    ("openssl", env!("PROBE_V_OPENSSL")),
    ("openssl-sys", env!("PROBE_V_OPENSSL_SYS")),
];

/// Crates of Cargo.lock that are not compiled into this variant on Linux
/// (target-specific dependencies: kube >= 1.x lists ring under
/// rustls-platform-verifier for other platforms) or not used as the provider.
fn skip_detail(name: &str) -> bool {
    match name {
        // aws-lc-rs variants: ring is in the lock file; it is only compiled in
        // (as a second, unused rustls provider) when the variant says so.
        "ring" => cfg!(feature = "provider-aws-lc-rs") && !cfg!(feature = "ring-compiled-in"),
        _ => false,
    }
}

fn hello() -> Hello {
    let mut details = Map::new();
    for (name, v) in VERSIONS {
        if !v.is_empty() && !skip_detail(name) {
            details.insert((*name).into(), (*v).into());
        }
    }
    if cfg!(feature = "ring-compiled-in") {
        details.insert(
            "note".into(),
            "ring is compiled in too (hyper-rustls feature); kube installs aws-lc-rs as the \
             process-default rustls CryptoProvider"
                .into(),
        );
    }
    #[cfg(feature = "provider-openssl")]
    details.insert("libssl".into(), openssl::version::version().into());
    if let Some(note) = TLS_SERVER_NAME_NOTE {
        details.insert("tls-server-name".into(), note.into());
    }
    Hello::new("kube-rs", env!("PROBE_V_KUBE"), PROVIDER, details)
}

// ------------------------------------------------------------------ jobs ---
// The job line itself (tlsmatrix_probe_loop::Job) is checked by harness/probes/probe-loop.

fn read_b64(what: &str, path: &str) -> Result<String, Failure> {
    let data =
        std::fs::read(path).map_err(|e| probe_err(format!("cannot read {what} {path}: {e}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(data))
}

/// The kubeconfig a user would have on disk, built in memory. Deserialized from
/// JSON (the kubeconfig schema) so the same code fits every kube version's
/// struct layout; tls-server-name is then set through the struct field, so a
/// kube version without it would not compile.
fn kubeconfig(job: &Job) -> Result<Kubeconfig, Failure> {
    if let Some(path) = &job.kubeconfig {
        // What a user's program does with KUBECONFIG=path: a bad file is kube's own error.
        return Kubeconfig::read_from(path).map_err(|e| stage_err("kubeconfig", e));
    }
    let server = if job.host.contains(':') {
        format!("https://[{}]:{}", job.host, job.port)
    } else {
        format!("https://{}:{}", job.host, job.port)
    };
    let mut user = Map::new();
    if let Some((cert, key)) = &job.client_auth {
        user.insert(
            "client-certificate-data".into(),
            read_b64("client_cert_file", cert)?.into(),
        );
        user.insert(
            "client-key-data".into(),
            read_b64("client_key_file", key)?.into(),
        );
    }
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "tlsmatrix", "cluster": {
            "server": server,
            "certificate-authority-data": read_b64("ca_file", &job.ca_file)?,
        }}],
        "users": [{"name": "tlsmatrix", "user": user}],
        "contexts": [{"name": "tlsmatrix", "context": {
            "cluster": "tlsmatrix", "user": "tlsmatrix", "namespace": "default",
        }}],
        "current-context": "tlsmatrix",
    });
    let mut kc: Kubeconfig = serde_json::from_value(doc)
        .map_err(|e| probe_err(format!("cannot build Kubeconfig: {e}")))?;
    if let Some(cluster) = kc.clusters.first_mut().and_then(|c| c.cluster.as_mut()) {
        cluster.tls_server_name = Some(job.servername.clone());
    }
    Ok(kc)
}

/// Display of the error followed by every source() below it, joined with ": ".
/// A source whose text is already part of the message so far (wrappers that
/// print `{0}` of their source) is not repeated.
fn error_chain(e: &(dyn StdError + 'static)) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(src) = cur {
        let s = src.to_string();
        if !s.is_empty() && !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cur = src.source();
    }
    text
}

fn kube_err(e: kube::Error) -> Failure {
    (error_chain(&e), Some(format!("{e:?}")))
}

/// Err with a kube error from a stage that returns some other error type.
fn stage_err<E: StdError + 'static>(stage: &str, e: E) -> Failure {
    (
        format!("{stage}: {}", error_chain(&e)),
        Some(format!("{e:?}")),
    )
}

async fn list_pods(kc: Kubeconfig) -> Result<usize, Failure> {
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| stage_err("kubeconfig", e))?;
    let client = Client::try_from(config).map_err(kube_err)?;
    let pods: Api<Pod> = Api::namespaced(client, "default");
    let list = pods.list(&ListParams::default()).await.map_err(kube_err)?;
    Ok(list.items.len())
}

fn run_job(job: &Job) -> Result<usize, Failure> {
    let kc = kubeconfig(job)?;
    // A fresh runtime per job: kube's Client spawns its tower Buffer worker and
    // hyper connection tasks on it; dropping the runtime ends them, so nothing
    // (connections, sessions) is carried over to the next job.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| probe_err(format!("cannot start tokio runtime: {e}")))?;
    let result = rt.block_on(async {
        match tokio::time::timeout(job.timeout, list_pods(kc)).await {
            Ok(r) => r,
            Err(elapsed) => Err((format!("timeout: {elapsed}"), Some(format!("{elapsed:?}")))),
        }
    });
    rt.shutdown_timeout(Duration::from_millis(100));
    result
}

/// A panic inside kube/rustls (e.g. no process-level rustls CryptoProvider) is
/// a real result: report it, keep serving.
fn kube_panic(msg: Option<String>) -> Failure {
    let text = msg.unwrap_or_else(|| "unknown panic payload".to_string());
    probe_err(format!("panic: {}", text.trim()))
}

/// `negotiated` of a pod list: kube does not expose the TLS session.
fn listed(pods: usize) -> Value {
    json!({"version": null, "cipher": null, "group": null, "sigalg": null, "pods": pods})
}

fn main() {
    // The JSON-lines loop (hello, a result line per job line, EOF): harness/probes/probe-loop.
    tlsmatrix_probe_loop::run(
        "tlsmatrix-kube-probe",
        &hello(),
        kube_panic,
        |job, _start| run_job(job).map(listed),
    );
}
