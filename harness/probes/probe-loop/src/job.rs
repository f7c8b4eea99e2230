//! The job line of the client contract (docs/probe-contract.md, "Client probes"),
//! checked field by field: a job that breaks the contract is answered `probe: ...`.

use std::time::Duration;

use serde_json::{Map, Value};

use crate::{probe_err, Failure};

/// Bound for connect + handshake when a job names none.
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(10_000);

/// One job: what to connect to and what to trust.
pub struct Job {
    pub host: String,
    pub port: u16,
    /// SNI (when a DNS name) and the name the certificate is checked against.
    pub servername: String,
    pub ca_file: String,
    /// "1.2" / "1.3" pins the version; None: the stack's defaults.
    pub tls_version: Option<String>,
    pub timeout: Duration,
    /// mTLS: (client_cert_file, client_key_file).
    pub client_auth: Option<(String, String)>,
    /// Kubernetes clients: a kubeconfig file to load (as KUBECONFIG=path would).
    pub kubeconfig: Option<String>,
    /// The key-exchange groups to offer (IANA code points, preference order); None: the stack's own.
    pub group_codes: Option<Vec<u16>>,
}

type Obj = Map<String, Value>;

fn req_str(obj: &Obj, k: &str) -> Result<String, Failure> {
    match obj.get(k) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(probe_err(format!("job field {k:?} is not a string"))),
        None => Err(probe_err(format!("job field {k:?} is missing"))),
    }
}

fn opt_str(obj: &Obj, k: &str) -> Result<Option<String>, Failure> {
    match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(probe_err(format!("job field {k:?} is not a string"))),
    }
}

fn port(obj: &Obj) -> Result<u16, Failure> {
    let p = obj
        .get("port")
        .ok_or_else(|| probe_err("job field \"port\" is missing"))?;
    p.as_u64()
        .filter(|p| (1..=65535).contains(p))
        .map(|p| p as u16)
        .ok_or_else(|| probe_err(format!("job field \"port\" is not a valid port: {p}")))
}

fn tls_version(obj: &Obj) -> Result<Option<String>, Failure> {
    match obj.get("tls_version") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "1.2" || s == "1.3" => Ok(Some(s.clone())),
        Some(other) => Err(probe_err(format!(
            "job field \"tls_version\" must be \"1.2\", \"1.3\" or null, got {other}"
        ))),
    }
}

fn timeout(obj: &Obj) -> Result<Duration, Failure> {
    let t = match obj.get("timeout_ms") {
        None | Some(Value::Null) => return Ok(DEFAULT_TIMEOUT),
        Some(t) => t,
    };
    match t.as_f64() {
        Some(ms) if ms.is_finite() && ms > 0.0 => Ok(Duration::from_secs_f64(ms / 1000.0)),
        _ => Err(probe_err(format!(
            "job field \"timeout_ms\" must be a positive number, got {t}"
        ))),
    }
}

/// Both files or neither: a certificate without its key is the harness's mistake.
fn client_auth(obj: &Obj) -> Result<Option<(String, String)>, Failure> {
    match (
        opt_str(obj, "client_cert_file")?,
        opt_str(obj, "client_key_file")?,
    ) {
        (Some(c), Some(k)) => Ok(Some((c, k))),
        (None, None) => Ok(None),
        _ => Err(probe_err(
            "job fields \"client_cert_file\" and \"client_key_file\" go together",
        )),
    }
}

fn group_codes(obj: &Obj) -> Result<Option<Vec<u16>>, Failure> {
    match obj.get("group_codes") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_u64()
                    .filter(|c| *c <= 0xffff)
                    .map(|c| c as u16)
                    .ok_or_else(|| probe_err(format!("job field \"group_codes\" holds {v}, not a code point")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(probe_err(format!("job field \"group_codes\" must be a list, got {other}"))),
    }
}

/// The job of one parsed line, or the `probe:` error naming the first bad field.
pub fn parse_job(v: &Value) -> Result<Job, Failure> {
    let obj = v
        .as_object()
        .ok_or_else(|| probe_err("job is not a JSON object"))?;
    Ok(Job {
        host: req_str(obj, "host")?,
        servername: req_str(obj, "servername")?,
        ca_file: req_str(obj, "ca_file")?,
        port: port(obj)?,
        tls_version: tls_version(obj)?,
        timeout: timeout(obj)?,
        client_auth: client_auth(obj)?,
        kubeconfig: opt_str(obj, "kubeconfig")?,
        group_codes: group_codes(obj)?,
    })
}
