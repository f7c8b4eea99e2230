// tlsmatrix client probe for Node.js `tls` (Node's bundled OpenSSL), docs/probe-contract.md
// "Client probes". Node built-ins only. Run: node harness/probes/node/probe.mjs
//
// Trust: `ca` holds only the CA file's certificates (an explicit `ca` replaces Node's bundled
// Mozilla roots; NODE_EXTRA_CA_CERTS only extends those bundled roots, so it is not used either).
// Name check: Node's own tls.checkServerIdentity, always against the job's servername (DNS name or
// IP literal), never against the dialled host. SNI only for DNS names.
//
// group: getEphemeralKeyInfo().name (OpenSSL's short name, e.g. "X25519", "prime256v1").
// sigalg: null. Node exposes no negotiated signature scheme; getSharedSigalgs() is the list both
// sides support, not the one the server used.

import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import tls from 'node:tls';
import { performance } from 'node:perf_hooks';

const DEFAULT_TIMEOUT_MS = 10000;
// How long to wait after the handshake for a server's rejection of our client certificate (mTLS only).
const ACCEPT_WAIT_MS = 2000;
const VERSIONS = { '1.2': 'TLSv1.2', '1.3': 'TLSv1.3' };

function emit(obj) {
  // stdout to a pipe is synchronous on Linux: one write per line, no buffering in between.
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function probeError(id, msg) {
  return { id: id === undefined ? null : id, ok: false, error: `probe: ${msg}`, negotiated: null, elapsed_ms: 0 };
}

function elapsedSince(start) {
  return Math.round((performance.now() - start) * 1000) / 1000;
}

// SecureContexts by what configures them (CA file, version, client certificate and key; each file by
// path and stat): createSecureContext parses the PEM into a fresh OpenSSL SSL_CTX, ~0.5 ms per job.
// Sharing one resumes nothing: Node's client offers a session only when tls.connect() is given
// `session`, which this probe never does (tests/integration/test_session_reuse.py checks at the server).
const CONTEXTS = new Map();

function fileKey(path) {
  const st = fs.statSync(path, { bigint: true });
  return `${path}|${st.size}|${st.mtimeNs}|${st.ino}|${st.dev}`;
}

// { context } or { fail: (id) => the result line of a job that cannot be attempted }; failures are not cached.
function secureContextFor(caFile, version, certFile, keyFile, groups) {
  let key = null;
  try {
    key = [version, groups || '', fileKey(caFile), certFile === null ? '' : fileKey(certFile),
      keyFile === null ? '' : fileKey(keyFile)].join('\n');
  } catch (err) {
    key = null; // an unreadable file: build uncached, so the error is worded as before
  }
  if (key !== null && CONTEXTS.has(key)) return { context: CONTEXTS.get(key) };
  const made = newSecureContext(caFile, version, certFile, keyFile, groups);
  if (key !== null && made.context) CONTEXTS.set(key, made.context);
  return made;
}

// the registry's group names OpenSSL 1.1.1 (Node 12) does not take; Node's OpenSSL 3 takes both
const OPENSSL_SPELLING = { x25519: 'X25519', x448: 'X448', secp256r1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

function newSecureContext(caFile, version, certFile, keyFile, groups) {
  const probeFailure = (msg) => ({ fail: (id) => probeError(id, msg) });
  let ca;
  try {
    ca = fs.readFileSync(caFile, 'utf8');
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no certificates found');
  } catch (err) {
    return probeFailure(`cannot load CA file ${JSON.stringify(caFile)}: ${err.message}`);
  }
  const contextOptions = { ca: [ca], minVersion: version || 'TLSv1.2', maxVersion: version || 'TLSv1.3' };
  if (groups) {
    // ecdhCurve is SSL_CTX_set1_groups_list: OpenSSL's names, hybrids too where Node's OpenSSL has them
    contextOptions.ecdhCurve = groups;
    try {
      tls.createSecureContext({ ecdhCurve: groups });
    } catch (err) {
      return { fail: (id) => ({ id, ok: false, error: `unsupported group: ${err.message} (${groups})`,
                                error_detail: err.code === undefined ? null : err.code, negotiated: null, elapsed_ms: 0 }) };
    }
  }
  if (certFile !== null) {
    try {
      contextOptions.cert = fs.readFileSync(certFile, 'utf8');
      contextOptions.key = fs.readFileSync(keyFile, 'utf8');
    } catch (err) {
      return probeFailure(`cannot read client certificate or key: ${err.message}`);
    }
  }
  try {
    return { context: tls.createSecureContext(contextOptions) };
  } catch (err) {
    if (certFile !== null) { // OpenSSL (Node's) refusing the key is the stack's result, not a probe bug
      return { fail: (id) => ({ id, ok: false, error: `cannot load client certificate: ${err.message}`,
                                error_detail: err.code === undefined ? null : err.code, negotiated: null, elapsed_ms: 0 }) };
    }
    return probeFailure(`cannot load CA file ${JSON.stringify(caFile)}: ${err.message}`);
  }
}

function runJob(job) {
  const id = job.id === undefined ? null : job.id;
  const { host, port, servername } = job;
  if (typeof job.ca_file !== 'string' || job.ca_file === '') return probeError(id, 'job has no ca_file');
  if (typeof host !== 'string' || host === '') return probeError(id, 'job has no host');
  if (typeof servername !== 'string' || servername === '') return probeError(id, 'job has no servername');
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return probeError(id, `invalid port ${JSON.stringify(port)}`);
  let version = null;
  if (job.tls_version !== null && job.tls_version !== undefined) {
    version = VERSIONS[job.tls_version];
    if (!version) return probeError(id, `unsupported tls_version ${JSON.stringify(job.tls_version)}`);
  }
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (job.timeout_ms !== null && job.timeout_ms !== undefined) {
    if (typeof job.timeout_ms !== 'number' || !(job.timeout_ms > 0)) {
      return probeError(id, `invalid timeout_ms ${JSON.stringify(job.timeout_ms)}`);
    }
    timeoutMs = job.timeout_ms;
  }
  const certFile = job.client_cert_file == null ? null : job.client_cert_file; // no ?? before Node 14 (bullseye: 12)
  const keyFile = job.client_key_file == null ? null : job.client_key_file;
  if ((certFile === null) !== (keyFile === null)) {
    return probeError(id, 'job fields client_cert_file and client_key_file go together');
  }
  let groups = null;
  if (job.groups != null) {
    if (!Array.isArray(job.groups) || job.groups.length === 0) return probeError(id, 'job field groups must be a list');
    // key shares marked '*' (OpenSSL 3.5's syntax; older OpenSSL refuses the mark in its words)
    const shares = Array.isArray(job.key_shares) ? job.key_shares : [];
    groups = job.groups.map((g) => (shares.includes(g) ? '*' : '') + (OPENSSL_SPELLING[g] || String(g))).join(':');
  }
  const made = secureContextFor(job.ca_file, version, certFile, keyFile, groups);
  if (made.fail) return made.fail(id);
  return handshake({ id, host, port, servername, timeoutMs, mtls: certFile !== null }, made.context);
}

function negotiated(sock) {
  const cipher = sock.getCipher();
  const eph = sock.getEphemeralKeyInfo();
  return {
    version: sock.getProtocol(),
    cipher: cipher ? cipher.name : null,
    group: eph && eph.name ? eph.name : null,
    sigalg: null,
    hrr: null, // Node does not say whether a HelloRetryRequest came
  };
}

// Node judges the server's chain and name only once the handshake completed. When the handshake
// failed on the server's signature (tlsmatrix replay's substitute key), the certificate had arrived:
// report the verdict OpenSSL recorded for the chain, then Node's own name check, as a completed
// handshake would have; null when both pass (the stack accepted the chain).
// (an RSA signature by another key fails in the RSA code: ERR_SSL_LAST_OCTET_INVALID, ...SLEN_RECOVERY_FAILED;
// OpenSSL 3.5 reports any key type's from its provider: ERR_SSL_PROVIDER_SIGNATURE_FAILURE)
const SIGNATURE_ERRORS = /^ERR_SSL_(BAD_SIGNATURE|PROVIDER_SIGNATURE_FAILURE|FIRST_OCTET_INVALID|LAST_OCTET_INVALID|DATA_TOO_LARGE\w*|\w*PADDING\w*|SLEN_\w+)$/;
function chainVerdict(sock, servername) {
  const handle = sock._handle;
  if (!handle || typeof handle.verifyError !== 'function') return null;
  const chainErr = handle.verifyError();
  if (chainErr) return { message: chainErr.message, code: chainErr.code };
  const cert = sock.getPeerCertificate();
  if (!cert || !cert.raw) return null;
  const nameErr = tls.checkServerIdentity(servername, cert);
  return nameErr ? { message: nameErr.message, code: nameErr.code } : null;
}

// Connect + handshake (+ the mTLS verdict) with verification on; resolves to the result line.
function handshake(job, secureContext) {
  const { id, host, port, servername, timeoutMs, mtls } = job;
  const ipName = net.isIP(servername) !== 0;
  return new Promise((resolve) => {
    const start = performance.now();
    let settled = false;
    let tcpConnected = false;
    let sock;
    const finish = (res) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (sock) sock.destroy();
      resolve(res);
    };
    const fail = (message, detail) => {
      const res = { id, ok: false, error: message, negotiated: null, elapsed_ms: elapsedSince(start) };
      if (detail !== undefined) res.error_detail = detail;
      finish(res);
    };
    // Node has no error of its own for "handshake took too long": the text after "timeout:" is the probe's.
    const timer = setTimeout(() => {
      const phase = tcpConnected ? 'TLS handshake' : 'TCP connect';
      fail(`timeout: ${phase} with ${host}:${port} not finished after ${timeoutMs} ms`, 'ETIMEDOUT');
    }, timeoutMs);

    const options = {
      host,
      port,
      secureContext,
      rejectUnauthorized: true,
      // Node would otherwise check against options.servername || options.host: pin it to the job's name.
      checkServerIdentity: (_ignored, cert) => tls.checkServerIdentity(servername, cert),
    };
    if (!ipName) options.servername = servername; // no SNI for IP literals
    try {
      sock = tls.connect(options);
    } catch (err) {
      fail(err.message, err.code === undefined ? null : err.code);
      return;
    }
    sock.once('connect', () => { tcpConnected = true; });
    sock.once('secureConnect', () => {
      if (!sock.authorized) { // cannot happen with rejectUnauthorized, kept as a guard
        fail(String(sock.authorizationError), 'NOT_AUTHORIZED');
        return;
      }
      const el = elapsedSince(start);
      const success = { id, ok: true, error: null, negotiated: negotiated(sock), elapsed_ms: el };
      if (!mtls) {
        finish(success);
        return;
      }
      // TLS 1.3: the server judges our certificate after our side of the handshake; its verdict
      // (close_notify or an alert such as certificate_required) arrives next. A server waiting for
      // a request sends nothing: silence means accepted.
      sock.removeAllListeners('close');
      const accept = () => finish(success);
      const wait = setTimeout(accept, Math.max(1, Math.min(ACCEPT_WAIT_MS, timeoutMs - el)));
      sock.once('data', () => { clearTimeout(wait); accept(); });
      sock.once('end', () => { clearTimeout(wait); accept(); });
      sock.once('close', () => { clearTimeout(wait); accept(); });
    });
    sock.on('error', (err) => {
      const verdict = SIGNATURE_ERRORS.test(String(err.code)) ? chainVerdict(sock, servername) : null;
      if (verdict) fail(verdict.message, `${verdict.code} (recorded before ${err.code})`);
      else fail(err.message, err.code === undefined ? null : err.code);
    });
    sock.once('close', () => fail('socket closed before the TLS handshake finished', null));
  });
}

async function main() {
  emit({
    hello: {
      stack: 'Node.js tls',
      version: process.version,
      provider: null,
      details: { openssl: process.versions.openssl },
    },
  });
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
  for await (const line of rl) {
    if (line.trim() === '') continue;
    let job;
    try {
      job = JSON.parse(line);
    } catch (err) {
      emit(probeError(null, `invalid job JSON: ${err.message}`));
      continue;
    }
    if (job === null || typeof job !== 'object' || Array.isArray(job)) {
      emit(probeError(null, 'a job must be a JSON object'));
      continue;
    }
    let res;
    try {
      res = await runJob(job);
    } catch (err) {
      res = probeError(job.id, `internal error: ${err && err.stack ? err.stack : err}`);
    }
    emit(res);
  }
  process.exitCode = 0;
}

main().catch((err) => {
  process.stderr.write(`tlsmatrix node probe: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
