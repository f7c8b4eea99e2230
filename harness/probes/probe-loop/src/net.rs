//! The TCP side of a job (std only): connect within the job's deadline, and the
//! contract's `timeout:` prefix for an I/O error that is the deadline passing.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::{Failure, Job};

/// A socket timeout (std reports it as WouldBlock or TimedOut, by platform).
pub fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// The stack's own I/O error as the job's error; `timeout:` when the deadline passed.
pub fn io_err(e: io::Error) -> Failure {
    let detail = format!("{e:?}");
    if is_timeout(&e) {
        (format!("timeout: {e}"), Some(detail))
    } else {
        (e.to_string(), Some(detail))
    }
}

/// Time left until `deadline`, or a timeout error when there is none.
pub fn remaining(deadline: Instant) -> Result<Duration, io::Error> {
    let now = Instant::now();
    if now >= deadline {
        return Err(io::Error::from(ErrorKind::TimedOut));
    }
    // Socket timeouts have microsecond granularity; never pass zero.
    Ok((deadline - now).max(Duration::from_millis(1)))
}

/// TCP connection to the job's host:port, trying each address until `deadline`.
pub fn connect(job: &Job, deadline: Instant) -> Result<TcpStream, io::Error> {
    let addrs: Vec<SocketAddr> = (job.host.as_str(), job.port).to_socket_addrs()?.collect();
    let mut last: Option<io::Error> = None;
    for addr in addrs {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => {
                let timed_out = is_timeout(&e);
                last = Some(e);
                if timed_out {
                    break;
                }
            }
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            ErrorKind::NotFound,
            format!("no addresses for {}:{}", job.host, job.port),
        )
    }))
}
