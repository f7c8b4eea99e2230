// tlsmatrix client probe for Java JSSE (SunJSSE), docs/probe-contract.md "Client probes".
//
// One file, JDK only (Java 17+). Build: javac -d OUT harness/probes/java/Probe.java
// Run: java -cp OUT Probe
//
// Trust: a KeyStore holding only the CA file's certificates -> PKIX TrustManagerFactory, built once
// per CA file version -> a fresh SSLContext per job (its client session cache starts empty, so no
// session is ever resumed across jobs). The JDK cacerts file is never consulted.
// Hostname verification: endpoint identification "HTTPS" against the job's
// servername (DNS name or IP literal); SNI only for DNS names.
//
// group/sigalg come from passive observation of the bytes the server sent in the clear (ServerHello
// key_share for TLS 1.3; ServerKeyExchange for TLS 1.2). JSSE has no key log, so the TLS 1.3
// signature scheme (in the encrypted CertificateVerify) stays null. Observation never influences
// the handshake or its verification.

import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.spec.PKCS8EncodedKeySpec;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Pattern;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SNIHostName;
import javax.net.ssl.SNIServerName;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;

public final class Probe {
    private static final long DEFAULT_TIMEOUT_MS = 10_000;
    /** Extra time after the deadline before the watchdog closes the socket (SO_TIMEOUT fires first). */
    private static final long WATCHDOG_GRACE_MS = 50;

    private static PrintStream out;
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "probe-watchdog");
        t.setDaemon(true);
        return t;
    });

    public static void main(String[] args) throws Exception {
        out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8);
        // Nothing but protocol lines on stdout.
        System.setOut(System.err);
        emit(hello());
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.trim().isEmpty()) {
                continue;
            }
            Map<String, Object> result;
            Object parsed;
            try {
                parsed = Json.parse(line);
            } catch (RuntimeException e) {
                result = probeError(null, "invalid job JSON: " + e.getMessage());
                emit(result);
                continue;
            }
            if (!(parsed instanceof Map)) {
                emit(probeError(null, "a job must be a JSON object"));
                continue;
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> job = (Map<String, Object>) parsed;
            try {
                result = runJob(job);
            } catch (RuntimeException e) { // a probe bug must not lose the answer
                result = probeError(job.get("id"), "internal error: " + e);
            }
            emit(result);
        }
        out.flush();
        System.exit(out.checkError() ? 1 : 0);
    }

    private static void emit(Map<String, Object> obj) {
        out.print(Json.write(obj));
        out.print('\n');
        out.flush();
        if (out.checkError()) {
            System.exit(1);
        }
    }

    private static Map<String, Object> hello() throws Exception {
        SSLContext ctx = SSLContext.getInstance("TLS");
        KeyStore empty = KeyStore.getInstance("PKCS12");
        empty.load(null, null);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(empty); // never init(null): that would read cacerts
        ctx.init(null, tmf.getTrustManagers(), null);
        java.security.Provider p = ctx.getProvider();
        Map<String, Object> details = new LinkedHashMap<>();
        details.put("java.vendor", System.getProperty("java.vendor"));
        details.put("java.vm", System.getProperty("java.vm.name") + " " + System.getProperty("java.vm.version"));
        details.put("default_protocols", String.join(",", ctx.getDefaultSSLParameters().getProtocols()));
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("stack", "Java JSSE");
        h.put("version", System.getProperty("java.runtime.version"));
        h.put("provider", p.getName() + " " + p.getVersionStr());
        h.put("details", details);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("hello", h);
        return m;
    }

    private static Map<String, Object> probeError(Object id, String msg) {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("id", id);
        r.put("ok", false);
        r.put("error", "probe: " + msg);
        r.put("negotiated", null);
        r.put("elapsed_ms", 0);
        return r;
    }

    private static final Pattern IPV4 = Pattern.compile("^[0-9]{1,3}(\\.[0-9]{1,3}){3}$");

    static boolean isIpLiteral(String s) {
        return IPV4.matcher(s).matches() || s.indexOf(':') >= 0;
    }

    /** How long to wait after the handshake for a server's rejection of our client certificate. */
    private static final int ACCEPT_WAIT_MS = 2000;

    /** The client certificate chain and its PKCS#8 PEM key as JSSE key managers (mTLS). */
    private static javax.net.ssl.KeyManager[] keyManagersFor(String certFile, String keyFile) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        Certificate[] chain;
        try (InputStream is = new BufferedInputStream(new FileInputStream(certFile))) {
            chain = cf.generateCertificates(is).toArray(new Certificate[0]);
        }
        if (chain.length == 0) {
            throw new IOException("no certificates found in " + certFile);
        }
        String pem = new String(java.nio.file.Files.readAllBytes(java.nio.file.Paths.get(keyFile)),
                StandardCharsets.US_ASCII);
        String body = pem.replaceAll("-----(BEGIN|END) PRIVATE KEY-----", "").replaceAll("\\s", "");
        byte[] der = java.util.Base64.getDecoder().decode(body);
        String alg = chain[0].getPublicKey().getAlgorithm(); // EC, RSA, EdDSA
        PrivateKey key = KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
        char[] pw = "tlsmatrix-test".toCharArray();
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        ks.setKeyEntry("client", key, pw, chain);
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, pw);
        return kmf.getKeyManagers();
    }

    /**
     * Trust and key managers are built once per file version (path, size, mtime, inode) instead of per
     * job: reading the PEM, the KeyStore and the PKIX parameters cost ~1 ms per job (docs/performance.md).
     * They hold no session state (the client session cache lives in the SSLContext), so sharing them across
     * jobs cannot resume anything. A file that changes on disk gets a new entry; failures are not cached.
     */
    private static final Map<String, Object> MANAGERS = new HashMap<>();

    private static String fileStamp(String... files) throws IOException {
        StringBuilder b = new StringBuilder();
        for (String f : files) {
            BasicFileAttributes a = Files.readAttributes(Paths.get(f), BasicFileAttributes.class);
            b.append(f).append('|').append(a.size()).append('|').append(a.lastModifiedTime().to(TimeUnit.NANOSECONDS))
                    .append('|').append(a.fileKey()).append('\n');
        }
        return b.toString();
    }

    private static TrustManager[] trustFor(String caFile) throws Exception {
        String key;
        try {
            key = "trust\n" + fileStamp(caFile);
        } catch (IOException e) {
            return buildTrust(caFile); // not cached; fails with the JDK's own words for the file
        }
        TrustManager[] tms = (TrustManager[]) MANAGERS.get(key);
        if (tms == null) {
            tms = buildTrust(caFile);
            MANAGERS.put(key, tms);
        }
        return tms;
    }

    private static javax.net.ssl.KeyManager[] keysFor(String certFile, String keyFile) throws Exception {
        String key;
        try {
            key = "keys\n" + fileStamp(certFile, keyFile);
        } catch (IOException e) {
            return keyManagersFor(certFile, keyFile); // not cached; fails with the JDK's own words
        }
        javax.net.ssl.KeyManager[] kms = (javax.net.ssl.KeyManager[]) MANAGERS.get(key);
        if (kms == null) {
            kms = keyManagersFor(certFile, keyFile);
            MANAGERS.put(key, kms);
        }
        return kms;
    }

    /**
     * A fresh SSLContext per job, from the cached managers: the context owns the client session cache,
     * which JSSE consults by peer host:port to resume (session ID or TLS 1.3 PSK). A new context starts
     * with an empty cache, so no job can resume a session of an earlier one (init costs ~3 us warm).
     */
    private static SSLContext contextFor(String caFile, javax.net.ssl.KeyManager[] keys) throws Exception {
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(keys, trustFor(caFile), null);
        return ctx;
    }

    private static TrustManager[] buildTrust(String caFile) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        Collection<? extends Certificate> certs;
        try (InputStream is = new BufferedInputStream(new FileInputStream(caFile))) {
            certs = cf.generateCertificates(is);
        }
        if (certs.isEmpty()) {
            throw new IOException("no certificates found in CA file " + caFile);
        }
        KeyStore ks = KeyStore.getInstance("PKCS12");
        ks.load(null, null);
        int i = 0;
        for (Certificate c : certs) {
            ks.setCertificateEntry("ca" + (i++), c);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(ks); // only these anchors; cacerts is used only by init(null)
        return tmf.getTrustManagers();
    }

    /** A job's fields, checked. */
    static final class JobSpec {
        Object id;
        String caFile, host, servername, certFile, keyFile;
        int port;
        String[] protocols; // null: the JDK's defaults
        String[] groups; // the key-exchange groups to offer (IANA names, as JSSE names them); null: the JDK's
        long timeoutMs = DEFAULT_TIMEOUT_MS;
    }

    /** Thrown by parseJob: answered as a "probe: ..." error. */
    static final class BadJob extends Exception {
        private static final long serialVersionUID = 1L;

        BadJob(String msg) {
            super(msg);
        }
    }

    private static JobSpec parseJob(Map<String, Object> job) throws BadJob {
        JobSpec j = new JobSpec();
        j.id = job.get("id");
        j.caFile = str(job.get("ca_file"));
        j.host = str(job.get("host"));
        j.servername = str(job.get("servername"));
        j.certFile = str(job.get("client_cert_file"));
        j.keyFile = str(job.get("client_key_file"));
        if ((j.certFile == null) != (j.keyFile == null)) {
            throw new BadJob("job fields client_cert_file and client_key_file go together");
        }
        if (j.caFile == null || j.caFile.isEmpty()) {
            throw new BadJob("job has no ca_file");
        }
        if (j.host == null || j.host.isEmpty()) {
            throw new BadJob("job has no host");
        }
        if (j.servername == null || j.servername.isEmpty()) {
            throw new BadJob("job has no servername");
        }
        Object port0 = job.get("port");
        try {
            j.port = (int) Json.num(port0);
            if (j.port <= 0 || j.port > 65535) {
                throw new NumberFormatException();
            }
        } catch (RuntimeException e) {
            throw new BadJob("invalid port " + Json.write(port0));
        }
        Object ver = job.get("tls_version");
        if (ver != null) {
            if ("1.2".equals(ver)) {
                j.protocols = new String[] {"TLSv1.2"};
            } else if ("1.3".equals(ver)) {
                j.protocols = new String[] {"TLSv1.3"};
            } else {
                throw new BadJob("unsupported tls_version " + Json.write(ver));
            }
        }
        Object groups = job.get("groups");
        if (groups instanceof List) {
            List<?> l = (List<?>) groups;
            j.groups = new String[l.size()];
            for (int i = 0; i < l.size(); i++) {
                j.groups[i] = String.valueOf(l.get(i));
            }
        } else if (groups != null) {
            throw new BadJob("job field groups must be a list, got " + Json.write(groups));
        }
        Object tmo = job.get("timeout_ms");
        if (tmo != null) {
            double t;
            try {
                t = Json.num(tmo);
            } catch (RuntimeException e) {
                throw new BadJob("invalid timeout_ms " + Json.write(tmo));
            }
            if (!(t > 0)) {
                throw new BadJob("invalid timeout_ms " + Json.write(tmo));
            }
            j.timeoutMs = Math.max(1, (long) Math.ceil(t));
        }
        return j;
    }

    private static Map<String, Object> runJob(Map<String, Object> job) {
        JobSpec j;
        try {
            j = parseJob(job);
        } catch (BadJob e) {
            return probeError(job.get("id"), e.getMessage());
        }
        javax.net.ssl.KeyManager[] keys = null;
        if (j.certFile != null) {
            try {
                keys = keysFor(j.certFile, j.keyFile);
            } catch (Exception e) {
                // the JDK refusing the key is the stack's result, not a probe bug
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("id", j.id);
                r.put("ok", false);
                r.put("error", "cannot load client certificate: " + e);
                r.put("error_detail", chain(e));
                r.put("negotiated", null);
                r.put("elapsed_ms", 0.0);
                return r;
            }
        }
        SSLContext ctx;
        try {
            ctx = contextFor(j.caFile, keys);
        } catch (Exception e) {
            return probeError(j.id, "cannot load CA file " + Json.write(j.caFile) + ": " + e);
        }
        return handshake(j, ctx);
    }

    /** Connect + handshake (+ the mTLS verdict) with verification on; the result line. */
    private static Map<String, Object> handshake(JobSpec j, SSLContext ctx) {
        long start = System.nanoTime();
        long deadline = start + j.timeoutMs * 1_000_000L;
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("id", j.id);
        TapSocket raw = new TapSocket();
        SSLSocket ssl = null;
        AtomicBoolean watchdogFired = new AtomicBoolean(false);
        ScheduledFuture<?> watchdog = WATCHDOG.schedule(() -> {
            watchdogFired.set(true);
            try {
                raw.close();
            } catch (IOException ignored) {
            }
        }, j.timeoutMs + WATCHDOG_GRACE_MS, TimeUnit.MILLISECONDS);
        try {
            // JSSE writes a TLS 1.2 client flight (ClientKeyExchange, ChangeCipherSpec, Finished) as
            // separate small writes: with Nagle on, the last one waits for the server's delayed ACK,
            // 40 ms per handshake on Linux. The bytes on the wire are the same, only not held back.
            raw.setTcpNoDelay(true);
            raw.connect(new InetSocketAddress(j.host, j.port), remainingMs(deadline));
            raw.setSoTimeout(remainingMs(deadline));
            ssl = startTls(ctx, raw, j);
            double el = elapsed(start);
            if (j.certFile != null) {
                awaitVerdict(ssl, deadline);
            }
            SSLSession s = ssl.getSession();
            Map<String, Object> neg = new LinkedHashMap<>();
            neg.put("version", s.getProtocol());
            neg.put("cipher", s.getCipherSuite());
            String[] gs = Observe.groupAndSigalg(raw.recorded(), s.getProtocol());
            neg.put("group", gs[0]);
            neg.put("sigalg", gs[1]);
            neg.put("hrr", gs[2] == null ? null : Boolean.valueOf(gs[2]));
            r.put("ok", true);
            r.put("error", null);
            r.put("negotiated", neg);
            r.put("elapsed_ms", el);
        } catch (Exception e) {
            double el = elapsed(start);
            String msg = e.getMessage() != null ? e.getMessage() : e.toString();
            if (e instanceof UnsupportedGroups) {
                msg = "unsupported group: " + msg;
            } else if (watchdogFired.get() || isTimeout(e)) {
                msg = "timeout: " + msg;
            }
            r.put("ok", false);
            r.put("error", msg);
            r.put("error_detail", chain(e));
            r.put("negotiated", null);
            r.put("elapsed_ms", el);
        } finally {
            watchdog.cancel(false);
            try {
                if (ssl != null) {
                    ssl.close();
                }
            } catch (IOException ignored) {
            }
            try {
                raw.close();
            } catch (IOException ignored) {
            }
        }
        return r;
    }

    private static SSLSocket startTls(SSLContext ctx, Socket raw, JobSpec j) throws IOException {
        // peerHost = servername: JSSE checks the identity against the SNI name and then against
        // the peer host, so the peer host must be the job's servername too (never the dialled host).
        SSLSocket ssl = (SSLSocket) ctx.getSocketFactory().createSocket(raw, j.servername, j.port, true);
        SSLParameters params = ssl.getSSLParameters();
        params.setEndpointIdentificationAlgorithm("HTTPS");
        if (isIpLiteral(j.servername)) {
            params.setServerNames(Collections.<SNIServerName>emptyList());
        } else {
            params.setServerNames(Collections.<SNIServerName>singletonList(new SNIHostName(j.servername)));
        }
        if (j.protocols != null) {
            params.setProtocols(j.protocols);
        }
        if (j.groups != null) {
            setNamedGroups(params, j.groups);
        }
        ssl.setSSLParameters(params);
        ssl.startHandshake();
        return ssl;
    }

    /** Thrown when this JDK cannot apply the job's groups: answered as "unsupported group: ...". */
    static final class UnsupportedGroups extends IOException {
        private static final long serialVersionUID = 1L;

        UnsupportedGroups(String msg) {
            super(msg);
        }
    }

    /**
     * The job's groups for this connection only: SSLParameters.setNamedGroups (Java 20+; looked up
     * reflectively so one source builds on 11, 17 and 21). JSSE ignores a name it does not know,
     * so the negotiated group is the witness (as with NSS).
     */
    private static void setNamedGroups(SSLParameters params, String[] groups) throws IOException {
        try {
            SSLParameters.class.getMethod("setNamedGroups", String[].class).invoke(params, (Object) groups);
        } catch (NoSuchMethodException e) {
            throw new UnsupportedGroups("Java " + System.getProperty("java.version")
                + " cannot restrict its named groups per connection (SSLParameters.setNamedGroups is Java 20+)");
        } catch (ReflectiveOperationException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new UnsupportedGroups("SSLParameters.setNamedGroups: " + cause);
        }
    }

    /**
     * TLS 1.3: the server judges our certificate after our side of the handshake; its verdict
     * (close_notify, or an alert such as certificate_required) comes next. A server waiting for a
     * request sends nothing: silence means accepted. The read blocks until one of those or the wait.
     */
    private static void awaitVerdict(SSLSocket ssl, long deadline) throws IOException {
        ssl.setSoTimeout(Math.max(1, Math.min(ACCEPT_WAIT_MS, remainingMs(deadline))));
        try {
            ssl.getInputStream().read();
        } catch (SocketTimeoutException quiet) {
            // accepted
        }
    }

    private static String str(Object o) {
        return o instanceof String ? (String) o : null;
    }

    private static int remainingMs(long deadline) throws SocketTimeoutException {
        long ms = (deadline - System.nanoTime()) / 1_000_000L;
        if (ms <= 0) {
            throw new SocketTimeoutException("deadline exceeded before the handshake started");
        }
        return (int) Math.min(ms, Integer.MAX_VALUE);
    }

    private static double elapsed(long start) {
        return Math.round((System.nanoTime() - start) / 1000.0) / 1000.0;
    }

    private static boolean isTimeout(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SocketTimeoutException) {
                return true;
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return false;
    }

    /** toString() of the exception and its causes, outermost first. */
    static String chain(Throwable e) {
        List<String> parts = new ArrayList<>();
        java.util.IdentityHashMap<Throwable, Boolean> seen = new java.util.IdentityHashMap<>();
        for (Throwable t = e; t != null && !seen.containsKey(t) && parts.size() < 16; t = t.getCause()) {
            seen.put(t, true);
            // the validator's own verdict: BasicReason/PKIXReason (EXPIRED, NO_TRUST_ANCHOR, ...)
            String reason = t instanceof java.security.cert.CertPathValidatorException
                    ? " [reason=" + ((java.security.cert.CertPathValidatorException) t).getReason() + "]" : "";
            parts.add(t.toString() + reason);
        }
        return String.join(" <- ", parts);
    }

    /** A plain TCP socket that keeps a bounded copy of everything read from the peer. */
    static final class TapSocket extends Socket {
        private static final int MAX = 1 << 20;
        private final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        private InputStream tapped;

        @Override
        public synchronized InputStream getInputStream() throws IOException {
            if (tapped == null) {
                tapped = new FilterInputStream(super.getInputStream()) {
                    @Override
                    public int read() throws IOException {
                        int b = super.read();
                        if (b >= 0) {
                            record(new byte[] {(byte) b}, 0, 1);
                        }
                        return b;
                    }

                    @Override
                    public int read(byte[] b, int off, int len) throws IOException {
                        int n = super.read(b, off, len);
                        if (n > 0) {
                            record(b, off, n);
                        }
                        return n;
                    }
                };
            }
            return tapped;
        }

        private void record(byte[] b, int off, int n) {
            synchronized (buf) {
                if (buf.size() < MAX) {
                    buf.write(b, off, Math.min(n, MAX - buf.size()));
                }
            }
        }

        byte[] recorded() {
            synchronized (buf) {
                return buf.toByteArray();
            }
        }
    }

    /** Passive parse of the server's cleartext handshake bytes. */
    static final class Observe {
        static final Map<Integer, String> GROUPS = new HashMap<>();
        static final Map<Integer, String> SIGALGS = new HashMap<>();

        static {
            GROUPS.put(0x0017, "secp256r1");
            GROUPS.put(0x0018, "secp384r1");
            GROUPS.put(0x0019, "secp521r1");
            GROUPS.put(0x001d, "X25519");
            GROUPS.put(0x001e, "X448");
            GROUPS.put(0x0100, "ffdhe2048");
            GROUPS.put(0x0101, "ffdhe3072");
            GROUPS.put(0x0102, "ffdhe4096");
            GROUPS.put(0x0103, "ffdhe6144");
            GROUPS.put(0x0104, "ffdhe8192");
            SIGALGS.put(0x0201, "rsa_pkcs1_sha1");
            SIGALGS.put(0x0203, "ecdsa_sha1");
            SIGALGS.put(0x0401, "rsa_pkcs1_sha256");
            SIGALGS.put(0x0501, "rsa_pkcs1_sha384");
            SIGALGS.put(0x0601, "rsa_pkcs1_sha512");
            SIGALGS.put(0x0403, "ecdsa_secp256r1_sha256");
            SIGALGS.put(0x0503, "ecdsa_secp384r1_sha384");
            SIGALGS.put(0x0603, "ecdsa_secp521r1_sha512");
            SIGALGS.put(0x0804, "rsa_pss_rsae_sha256");
            SIGALGS.put(0x0805, "rsa_pss_rsae_sha384");
            SIGALGS.put(0x0806, "rsa_pss_rsae_sha512");
            SIGALGS.put(0x0807, "ed25519");
            SIGALGS.put(0x0808, "ed448");
            SIGALGS.put(0x0809, "rsa_pss_pss_sha256");
            SIGALGS.put(0x080a, "rsa_pss_pss_sha384");
            SIGALGS.put(0x080b, "rsa_pss_pss_sha512");
        }

        static String name(Map<Integer, String> m, int v) {
            String s = m.get(v);
            return s != null ? s : String.format("0x%04x", v);
        }

        static int u16(byte[] b, int off) {
            return ((b[off] & 0xff) << 8) | (b[off + 1] & 0xff);
        }

        /** Returns {group, sigalg}; nulls when unknown. Never throws. */
        /** The ServerHello random of a HelloRetryRequest (RFC 8446, 4.1.3). */
        static final byte[] HRR = new byte[] {
            (byte) 0xcf, 0x21, (byte) 0xad, 0x74, (byte) 0xe5, (byte) 0x9a, 0x61, 0x11, (byte) 0xbe, 0x1d, (byte) 0x8c, 0x02,
            0x1e, 0x65, (byte) 0xb8, (byte) 0x91, (byte) 0xc2, (byte) 0xa2, 0x11, 0x16, 0x7a, (byte) 0xbb, (byte) 0x8c, 0x5e,
            0x07, (byte) 0x9e, 0x09, (byte) 0xe2, (byte) 0xc8, (byte) 0xa8, 0x33, (byte) 0x9c};

        /** {group, sigalg, hrr ("true"/"false"; null: not known)} read off the server's bytes. */
        static String[] groupAndSigalg(byte[] data, String protocol) {
            String[] res = new String[3];
            try {
                boolean tls13 = "TLSv1.3".equals(protocol);
                boolean tls12 = "TLSv1.2".equals(protocol);
                if (!tls12 && !tls13) {
                    return res;
                }
                res[2] = "false"; // TLS 1.2 has none; TLS 1.3: until a HelloRetryRequest is seen
                ByteArrayOutputStream stream = new ByteArrayOutputStream();
                int off = 0;
                while (off + 5 <= data.length) {
                    int type = data[off] & 0xff;
                    int n = u16(data, off + 3);
                    if (off + 5 + n > data.length) {
                        break;
                    }
                    if (type == 22) {
                        stream.write(data, off + 5, n);
                    } else if (type == 20) {
                        if (tls12) {
                            break; // what follows is encrypted
                        }
                        // TLS 1.3 compatibility CCS (may follow a HelloRetryRequest): skip
                    } else {
                        break; // application data (encrypted TLS 1.3 handshake) or alert
                    }
                    off += 5 + n;
                }
                byte[] hs = stream.toByteArray();
                int p = 0;
                while (p + 4 <= hs.length) {
                    int type = hs[p] & 0xff;
                    int n = ((hs[p + 1] & 0xff) << 16) | ((hs[p + 2] & 0xff) << 8) | (hs[p + 3] & 0xff);
                    if (p + 4 + n > hs.length) {
                        break;
                    }
                    int b = p + 4;
                    if (type == 2 && tls13) { // ServerHello (or HelloRetryRequest): key_share
                        if (n >= 34 && java.util.Arrays.equals(java.util.Arrays.copyOfRange(hs, b + 2, b + 34), HRR)) {
                            res[2] = "true";
                            p += 4 + n;
                            continue; // its key_share names the group asked for, not the one used
                        }
                        int q = b + 2 + 32;
                        q += 1 + (hs[q] & 0xff); // legacy_session_id_echo
                        q += 2 + 1; // cipher_suite, legacy_compression_method
                        if (q + 2 <= b + n) {
                            int end = q + 2 + u16(hs, q);
                            q += 2;
                            while (q + 4 <= end) {
                                int et = u16(hs, q);
                                int el = u16(hs, q + 2);
                                if (et == 0x0033 && el >= 2) {
                                    res[0] = name(GROUPS, u16(hs, q + 4)); // last ServerHello wins
                                }
                                q += 4 + el;
                            }
                        }
                    } else if (type == 12 && tls12) { // ServerKeyExchange
                        if (n >= 4 && (hs[b] & 0xff) == 3) { // named_curve
                            res[0] = name(GROUPS, u16(hs, b + 1));
                            int s = b + 4 + (hs[b + 3] & 0xff);
                            if (s + 2 <= b + n) {
                                res[1] = name(SIGALGS, u16(hs, s));
                            }
                        }
                        break;
                    }
                    p += 4 + n;
                }
            } catch (RuntimeException e) {
                return new String[3];
            }
            return res;
        }
    }

    /** Minimal JSON: objects, arrays, strings, numbers (kept as text), true/false/null. */
    static final class Json {
        static final class Num {
            final String raw;

            Num(String raw) {
                this.raw = raw;
            }
        }

        static double num(Object o) {
            if (o instanceof Num) {
                return Double.parseDouble(((Num) o).raw);
            }
            throw new NumberFormatException("not a number");
        }

        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        static Object parse(String s) {
            Json p = new Json(s);
            p.ws();
            Object v = p.value();
            p.ws();
            if (p.i != s.length()) {
                throw p.err("trailing characters");
            }
            return v;
        }

        private RuntimeException err(String m) {
            return new IllegalArgumentException(m + " at offset " + i);
        }

        private void ws() {
            while (i < s.length()) {
                char c = s.charAt(i);
                if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
                    i++;
                } else {
                    break;
                }
            }
        }

        private Object value() {
            if (i >= s.length()) {
                throw err("unexpected end");
            }
            char c = s.charAt(i);
            switch (c) {
                case '{':
                    return object();
                case '[':
                    return array();
                case '"':
                    return string();
                case 't':
                    return lit("true", Boolean.TRUE);
                case 'f':
                    return lit("false", Boolean.FALSE);
                case 'n':
                    return lit("null", null);
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) {
                        return number();
                    }
                    throw err("unexpected character '" + c + "'");
            }
        }

        private Object lit(String w, Object v) {
            if (!s.startsWith(w, i)) {
                throw err("invalid literal");
            }
            i += w.length();
            return v;
        }

        private Object number() {
            int st = i;
            if (s.charAt(i) == '-') {
                i++;
            }
            while (i < s.length() && "0123456789.eE+-".indexOf(s.charAt(i)) >= 0) {
                i++;
            }
            String raw = s.substring(st, i);
            try {
                Double.parseDouble(raw);
            } catch (NumberFormatException e) {
                throw err("invalid number");
            }
            return new Num(raw);
        }

        private Map<String, Object> object() {
            Map<String, Object> m = new LinkedHashMap<>();
            i++;
            ws();
            if (i < s.length() && s.charAt(i) == '}') {
                i++;
                return m;
            }
            while (true) {
                ws();
                if (i >= s.length() || s.charAt(i) != '"') {
                    throw err("expected string key");
                }
                String k = string();
                ws();
                if (i >= s.length() || s.charAt(i) != ':') {
                    throw err("expected ':'");
                }
                i++;
                ws();
                m.put(k, value());
                ws();
                if (i >= s.length()) {
                    throw err("unexpected end");
                }
                char c = s.charAt(i++);
                if (c == '}') {
                    return m;
                }
                if (c != ',') {
                    throw err("expected ',' or '}'");
                }
            }
        }

        private List<Object> array() {
            List<Object> l = new ArrayList<>();
            i++;
            ws();
            if (i < s.length() && s.charAt(i) == ']') {
                i++;
                return l;
            }
            while (true) {
                ws();
                l.add(value());
                ws();
                if (i >= s.length()) {
                    throw err("unexpected end");
                }
                char c = s.charAt(i++);
                if (c == ']') {
                    return l;
                }
                if (c != ',') {
                    throw err("expected ',' or ']'");
                }
            }
        }

        private String string() {
            StringBuilder b = new StringBuilder();
            i++;
            while (true) {
                if (i >= s.length()) {
                    throw err("unterminated string");
                }
                char c = s.charAt(i++);
                if (c == '"') {
                    return b.toString();
                }
                if (c == '\\') {
                    if (i >= s.length()) {
                        throw err("unterminated string");
                    }
                    char e = s.charAt(i++);
                    switch (e) {
                        case '"': b.append('"'); break;
                        case '\\': b.append('\\'); break;
                        case '/': b.append('/'); break;
                        case 'b': b.append('\b'); break;
                        case 'f': b.append('\f'); break;
                        case 'n': b.append('\n'); break;
                        case 'r': b.append('\r'); break;
                        case 't': b.append('\t'); break;
                        case 'u':
                            if (i + 4 > s.length()) {
                                throw err("bad \\u escape");
                            }
                            try {
                                b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                            } catch (NumberFormatException ex) {
                                throw err("bad \\u escape");
                            }
                            i += 4;
                            break;
                        default:
                            throw err("bad escape");
                    }
                } else if (c < 0x20) {
                    throw err("control character in string");
                } else {
                    b.append(c);
                }
            }
        }

        static String write(Object v) {
            StringBuilder b = new StringBuilder();
            write(b, v);
            return b.toString();
        }

        @SuppressWarnings("unchecked")
        private static void write(StringBuilder b, Object v) {
            if (v == null) {
                b.append("null");
            } else if (v instanceof String) {
                quote(b, (String) v);
            } else if (v instanceof Boolean) {
                b.append(v.toString());
            } else if (v instanceof Num) {
                b.append(((Num) v).raw);
            } else if (v instanceof Double || v instanceof Float) {
                double d = ((Number) v).doubleValue();
                b.append(Double.isFinite(d) ? Double.toString(d) : "null");
            } else if (v instanceof Number) {
                b.append(v.toString());
            } else if (v instanceof Map) {
                b.append('{');
                boolean first = true;
                for (Map.Entry<String, Object> e : ((Map<String, Object>) v).entrySet()) {
                    if (!first) {
                        b.append(", ");
                    }
                    first = false;
                    quote(b, e.getKey());
                    b.append(": ");
                    write(b, e.getValue());
                }
                b.append('}');
            } else if (v instanceof List) {
                b.append('[');
                boolean first = true;
                for (Object o : (List<Object>) v) {
                    if (!first) {
                        b.append(", ");
                    }
                    first = false;
                    write(b, o);
                }
                b.append(']');
            } else {
                quote(b, v.toString());
            }
        }

        private static void quote(StringBuilder b, String s) {
            b.append('"');
            for (int k = 0; k < s.length(); k++) {
                char c = s.charAt(k);
                switch (c) {
                    case '"': b.append("\\\""); break;
                    case '\\': b.append("\\\\"); break;
                    case '\n': b.append("\\n"); break;
                    case '\r': b.append("\\r"); break;
                    case '\t': b.append("\\t"); break;
                    default:
                        if (c < 0x20 || c > 0x7e) {
                            b.append(String.format("\\u%04x", (int) c));
                        } else {
                            b.append(c);
                        }
                }
            }
            b.append('"');
        }
    }
}
