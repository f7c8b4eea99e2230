//! The JSON-lines loop of the tlsmatrix Rust client probes (docs/probe-contract.md,
//! "Client probes"): a hello line, then one result line per job line, in order,
//! stdout flushed per line, exit at EOF. Each probe keeps only its job function.
//!
//! Used by ../rustls (rustls 0.23, also built by ../rustls-0.23.12), ../rustls-0.21
//! (also ../rustls-0.21.0) and ../kube (every variant), whose loops were copies;
//! [`net`] is the deadline-bound TCP connect both rustls probes make.

use std::io::{self, BufRead, ErrorKind, Write};
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

mod job;
pub mod net;
pub use job::{parse_job, Job};

/// A job answered with `ok: false`: (error, error_detail).
pub type Failure = (String, Option<String>);

/// A job the probe could not even attempt: the contract's `probe:` prefix.
pub fn probe_err(msg: impl Into<String>) -> Failure {
    (format!("probe: {}", msg.into()), None)
}

/// The usual `on_panic` of [`run`]: a panic in the stack or the probe is the
/// probe's failure, not the stack's verdict.
pub fn internal_panic(msg: Option<String>) -> Failure {
    probe_err(format!(
        "internal panic: {}",
        msg.as_deref().unwrap_or("unknown panic")
    ))
}

/// Writes `v` as one JSON line and flushes (the harness reads line by line).
pub fn emit<T: Serialize>(out: &mut impl Write, v: &T) -> io::Result<()> {
    let line = serde_json::to_string(v).map_err(io::Error::other)?;
    out.write_all(line.as_bytes())?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The `{"hello": ...}` line a probe (or server program) starts with.
#[derive(Serialize)]
pub struct Hello {
    hello: HelloBody,
}

#[derive(Serialize)]
struct HelloBody {
    stack: &'static str,
    version: &'static str,
    provider: &'static str,
    details: Map<String, Value>,
}

impl Hello {
    pub fn new(
        stack: &'static str,
        version: &'static str,
        provider: &'static str,
        details: Map<String, Value>,
    ) -> Hello {
        Hello {
            hello: HelloBody {
                stack,
                version,
                provider,
                details,
            },
        }
    }
}

/// One result line; field order as in the contract.
#[derive(Serialize)]
struct JobResult<T> {
    id: Value,
    ok: bool,
    error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_detail: Option<String>,
    negotiated: Option<T>,
    elapsed_ms: f64,
}

/// Milliseconds since `start`, rounded to microseconds.
fn elapsed_ms(start: Instant) -> f64 {
    (start.elapsed().as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The text of a panic payload (`panic!` gives a &str or a String), if it has one.
fn panic_message(p: &(dyn std::any::Any + Send)) -> Option<String> {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
}

/// Answers one non-empty line. `job` gets the checked job and the instant its
/// line was read (the start of its deadline). A panic inside `job` is turned into
/// the job's error by `on_panic`, so one bad job does not end the probe.
fn answer<T: Serialize>(
    line: &[u8],
    job: &mut impl FnMut(&Job, Instant) -> Result<T, Failure>,
    on_panic: &impl Fn(Option<String>) -> Failure,
) -> JobResult<T> {
    let start = Instant::now();
    let (id, outcome) = match serde_json::from_slice::<Value>(line) {
        Err(e) => (
            Value::Null,
            Err(probe_err(format!("invalid JSON job: {e}"))),
        ),
        Ok(v) => {
            let id = v.get("id").cloned().unwrap_or(Value::Null);
            let outcome = parse_job(&v).and_then(|j| {
                panic::catch_unwind(AssertUnwindSafe(|| job(&j, start)))
                    .unwrap_or_else(|p| Err(on_panic(panic_message(&*p))))
            });
            (id, outcome)
        }
    };
    let (ok, error, error_detail, negotiated) = match outcome {
        Ok(neg) => (true, None, None, Some(neg)),
        Err((error, detail)) => (false, Some(error), detail, None),
    };
    JobResult {
        id,
        ok,
        error,
        error_detail,
        negotiated,
        elapsed_ms: elapsed_ms(start),
    }
}

/// The line without surrounding ASCII white space (the CR of CRLF input too);
/// `<[u8]>::trim_ascii` needs Rust 1.80, newer than the images' Debian rustc may be.
fn trim(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &line[start..end]
}

/// The probe broke (stdout or stdin gone): say so on stderr, exit non-zero.
fn die(name: &str, what: &str, e: io::Error) -> ! {
    eprintln!("{name}: {what}: {e}");
    std::process::exit(1);
}

/// Runs the client contract until EOF on stdin: writes `hello`, then for every
/// non-blank stdin line one result line from `job` (Ok: `negotiated`; Err:
/// (error, error_detail)). `name` prefixes the probe's own stderr messages.
pub fn run<T: Serialize>(
    name: &str,
    hello: &impl Serialize,
    on_panic: impl Fn(Option<String>) -> Failure,
    mut job: impl FnMut(&Job, Instant) -> Result<T, Failure>,
) {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if let Err(e) = emit(&mut out, hello) {
        die(name, "cannot write hello", e);
    }
    let stdin = io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match input.read_until(b'\n', &mut buf) {
            Ok(0) => return, // EOF: the harness is done with us
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => die(name, "cannot read stdin", e),
        }
        let line = trim(&buf);
        if line.is_empty() {
            continue;
        }
        let result = answer(line, &mut job, &on_panic);
        if let Err(e) = emit(&mut out, &result) {
            die(name, "cannot write result", e);
        }
    }
}
