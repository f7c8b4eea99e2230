/*
 * NSS client probe for tlsmatrix (docs/probe-contract.md, "Client probes"): libssl3/libnss3 driven
 * directly, one long-lived process for a batch of jobs.
 *
 * Build (Debian: apt-get install -y libnss3-dev), from this directory:
 *   gcc -O2 -Wall -I../cprobe $(pkg-config --cflags nss) -o OUT/tlsmatrix-nss-probe probe.c \
 *       ../cprobe/probe_loop.c $(pkg-config --libs nss)
 *
 * The JSON-lines loop is ../cprobe/probe_loop.c; this file is the hello and one handshake.
 *
 * Trust: NSS_NoDB_Init (no certificate database, no module database, the builtin roots module
 * libnssckbi is never loaded: the hello lists the loaded PKCS#11 modules). Per job, each
 * certificate of the CA file becomes a temporary certificate (CERT_NewTempCertificate) with the
 * trust certutil's `-t C,,` gives (a trusted CA for TLS servers, what NSS's tstclnt column imports);
 * when the job ends that trust is removed again and the certificates are released, so nothing a
 * job trusted survives into the next one.
 *
 * Verification: an SSL_AuthCertificateHook that does what NSS's own SSL_AuthCertificate does
 * (and so what tstclnt runs): CERT_VerifyCert(certUsageSSLServer, now), then CERT_VerifyCertName
 * against the job's servername (IP literals against iPAddress SANs), SSL_ERROR_BAD_CERT_DOMAIN on a
 * mismatch. The hook's error code is the handshake's error. Classic verification is pinned
 * (CERT_SetUsePKIXForValidation(PR_FALSE), whatever NSS_ENABLE_PKIX_VERIFY says): libpkix keeps
 * process-wide caches (certificates found by subject name, built chains, each for up to an hour),
 * so in a batch one job's intermediates decide a later job's path (measured with CERT_PKIXVerifyCert
 * and cert_pi_trustAnchors: two PKIs with the same names and other keys, each served in full; the
 * one asked second fails with SEC_ERROR_UNTRUSTED_ISSUER, whichever it is).
 *
 * Per job: SSL_NO_CACHE (no session is cached or resumed), no session tickets, SNI through
 * SSL_SetURL for DNS names only, SSL_VersionRangeSet pins 1.2 / 1.3 (null: TLS 1.2 up to the
 * library's highest), a non-blocking socket (probe_tcp_connect, then PR_ImportTCPSocket) and
 * PR_Poll against the job's deadline around SSL_ForceHandshake.
 */
#include <nss.h>
#include <ssl.h>
#include <sslerr.h>
#include <sslproto.h>
#include <secerr.h>
#include <cert.h>
#include <certdb.h>
#include <base64.h>
#include <secmod.h>
#include <pk11pub.h>
#include <nspr.h>
#include <prerror.h>
#include <private/pprio.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe_loop.h"

/* ------------------------------------------------------------------ names */

/* "SEC_ERROR_UNKNOWN_ISSUER: Peer's Certificate issuer is not recognized." (malloc'd) */
static char *nss_error(PRErrorCode code) {
    if (code == 0) return probe_strdup_printf("(NSS set no error code)");
    const char *name = PR_ErrorToName(code);
    const char *text = PR_ErrorToString(code, PR_LANGUAGE_I_DEFAULT);
    if (name && text && *text) return probe_strdup_printf("%s: %s", name, text);
    if (name) return probe_strdup_printf("%s", name);
    return probe_strdup_printf("NSS error %d", (int)code);
}

static void set_nss_error(probe_result *r, const char *prefix, PRErrorCode code) {
    char *text = nss_error(code);
    r->error = probe_strdup_printf("%s%s", prefix, text);
    free(text);
    const char *name = PR_ErrorToName(code);
    r->error_detail = probe_strdup_printf("PRErrorCode %d%s%s", (int)code, name ? " " : "", name ? name : "");
}

static const char *version_name(PRUint16 v) {
    switch (v) {
    case SSL_LIBRARY_VERSION_TLS_1_0: return "TLSv1";
    case SSL_LIBRARY_VERSION_TLS_1_1: return "TLSv1.1";
    case SSL_LIBRARY_VERSION_TLS_1_2: return "TLSv1.2";
    case SSL_LIBRARY_VERSION_TLS_1_3: return "TLSv1.3";
    default: return NULL;
    }
}

/* IANA TLS Supported Groups names */
static void group_name(SSLNamedGroup g, char *out, size_t n) {
    const char *s = NULL;
    switch (g) {
    case ssl_grp_ec_secp256r1: s = "secp256r1"; break;
    case ssl_grp_ec_secp384r1: s = "secp384r1"; break;
    case ssl_grp_ec_secp521r1: s = "secp521r1"; break;
    case ssl_grp_ec_curve25519: s = "x25519"; break;
    case ssl_grp_ffdhe_2048: s = "ffdhe2048"; break;
    case ssl_grp_ffdhe_3072: s = "ffdhe3072"; break;
    case ssl_grp_ffdhe_4096: s = "ffdhe4096"; break;
    case ssl_grp_ffdhe_6144: s = "ffdhe6144"; break;
    case ssl_grp_ffdhe_8192: s = "ffdhe8192"; break;
    case ssl_grp_none: s = ""; break;
    default: break;
    }
    if (s) snprintf(out, n, "%s", s);
    else snprintf(out, n, "0x%04x", (unsigned)g);
}

/* IANA TLS SignatureScheme names (NSS's ssl_sig_* without the prefix) */
static void sigscheme_name(SSLSignatureScheme s, char *out, size_t n) {
    static const struct { SSLSignatureScheme v; const char *name; } names[] = {
        {ssl_sig_rsa_pkcs1_sha1, "rsa_pkcs1_sha1"}, {ssl_sig_rsa_pkcs1_sha256, "rsa_pkcs1_sha256"},
        {ssl_sig_rsa_pkcs1_sha384, "rsa_pkcs1_sha384"}, {ssl_sig_rsa_pkcs1_sha512, "rsa_pkcs1_sha512"},
        {ssl_sig_ecdsa_secp256r1_sha256, "ecdsa_secp256r1_sha256"},
        {ssl_sig_ecdsa_secp384r1_sha384, "ecdsa_secp384r1_sha384"},
        {ssl_sig_ecdsa_secp521r1_sha512, "ecdsa_secp521r1_sha512"},
        {ssl_sig_rsa_pss_rsae_sha256, "rsa_pss_rsae_sha256"}, {ssl_sig_rsa_pss_rsae_sha384, "rsa_pss_rsae_sha384"},
        {ssl_sig_rsa_pss_rsae_sha512, "rsa_pss_rsae_sha512"}, {ssl_sig_ed25519, "ed25519"}, {ssl_sig_ed448, "ed448"},
        {ssl_sig_rsa_pss_pss_sha256, "rsa_pss_pss_sha256"}, {ssl_sig_rsa_pss_pss_sha384, "rsa_pss_pss_sha384"},
        {ssl_sig_rsa_pss_pss_sha512, "rsa_pss_pss_sha512"}, {ssl_sig_dsa_sha1, "dsa_sha1"},
        {ssl_sig_dsa_sha256, "dsa_sha256"}, {ssl_sig_dsa_sha384, "dsa_sha384"}, {ssl_sig_dsa_sha512, "dsa_sha512"},
        {ssl_sig_ecdsa_sha1, "ecdsa_sha1"}, {ssl_sig_rsa_pkcs1_sha1md5, "rsa_pkcs1_sha1md5"},
    };
    if (s == ssl_sig_none) { out[0] = '\0'; return; }
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        if (names[k].v == s) { snprintf(out, n, "%s", names[k].name); return; }
    snprintf(out, n, "0x%04x", (unsigned)s);
}

/* ------------------------------------------------------------------ hello */

static void hello(buf_t *b) {
    buf_puts(b, "{\"hello\": {\"stack\": \"NSS\", \"version\": ");
    buf_jstr(b, NSS_GetVersion());
    buf_puts(b, ", \"provider\": null, \"details\": {\"headers\": ");
    buf_jstr(b, NSS_VERSION);
    buf_puts(b, ", \"nspr\": ");
    buf_jstr(b, PR_GetVersion());
    buf_puts(b, ", \"init\": \"NSS_NoDB_Init\", \"verifier\": \"CERT_VerifyCert (classic) + CERT_VerifyCertName, as SSL_AuthCertificate\"");
    SSLVersionRange sup;
    if (SSL_VersionRangeGetSupported(ssl_variant_stream, &sup) == SECSuccess) {
        buf_puts(b, ", \"versions_supported\": ");
        char range[64];
        snprintf(range, sizeof range, "%s-%s", version_name(sup.min) ? version_name(sup.min) : "?",
                 version_name(sup.max) ? version_name(sup.max) : "?");
        buf_jstr(b, range);
    }
    /* the PKCS#11 modules NSS loaded, "; "-separated (details hold strings): the builtin roots
     * ("Builtin Roots Module", libnssckbi) must not be among them */
    buf_t mods = {0};
    SECMODListLock *lock = SECMOD_GetDefaultModuleListLock();
    if (lock) SECMOD_GetReadLock(lock);
    for (SECMODModuleList *m = SECMOD_GetDefaultModuleList(); m; m = m->next) {
        if (!m->module) continue;
        if (mods.len) buf_puts(&mods, "; ");
        buf_puts(&mods, m->module->commonName ? m->module->commonName : "?");
    }
    if (lock) SECMOD_ReleaseReadLock(lock);
    buf_puts(b, ", \"modules\": ");
    buf_jstr(b, mods.p ? mods.p : "");
    free(mods.p);
    buf_puts(b, "}}}");
}

/* ------------------------------------------------------------------ the job's CA certificates */

typedef struct {
    CERTCertificate **certs;
    size_t n, cap;
} anchors_t;

static void anchors_release(anchors_t *a) {
    CERTCertTrust none;
    memset(&none, 0, sizeof none);
    for (size_t k = 0; k < a->n; k++) {
        /* take the job's trust back before letting go: no later job can see it, even if some other
         * reference kept the certificate in NSS's temporary store */
        CERT_ChangeCertTrust(CERT_GetDefaultCertDB(), a->certs[k], &none);
        CERT_DestroyCertificate(a->certs[k]);
    }
    free(a->certs);
    memset(a, 0, sizeof *a);
}

static int read_file(const char *path, char **data, size_t *len, probe_result *r) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        int e = errno;
        r->error = probe_strdup_printf("probe: cannot read CA file '%s': %s", path, strerror(e));
        r->error_detail = probe_strdup_printf("errno=%d", e);
        return -1;
    }
    buf_t b = {0};
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, fp)) > 0) buf_add(&b, chunk, got);
    int e = ferror(fp) ? errno : 0;
    fclose(fp);
    if (e) {
        free(b.p);
        r->error = probe_strdup_printf("probe: cannot read CA file '%s': %s", path, strerror(e));
        r->error_detail = probe_strdup_printf("errno=%d", e);
        return -1;
    }
    buf_add(&b, "", 0);
    *data = b.p;
    *len = b.len;
    return 0;
}

/* every PEM CERTIFICATE block of the CA file becomes a temporary certificate trusted as a TLS CA
 * ("C,,", what tstclnt's certutil import gives); 0, or -1 with r->error */
static int load_anchors(const char *path, anchors_t *a, probe_result *r) {
    static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
    char *data = NULL;
    size_t len = 0;
    if (read_file(path, &data, &len, r) < 0) return -1;
    CERTCertTrust trust;
    if (CERT_DecodeTrustString(&trust, "C,,") != SECSuccess) {
        set_nss_error(r, "probe: CERT_DecodeTrustString(C,,): ", PR_GetError());
        free(data);
        return -1;
    }
    int index = 0;
    for (char *p = strstr(data, begin); p; p = strstr(p, begin), index++) {
        char *body = p + sizeof begin - 1;
        char *stop = strstr(body, end);
        if (!stop) break;
        char saved = *stop;
        *stop = '\0';
        SECItem der = {siBuffer, NULL, 0};
        PORT_SetError(0);
        SECStatus rv = ATOB_ConvertAsciiToItem(&der, body);
        *stop = saved;
        p = stop + sizeof end - 1;
        if (rv != SECSuccess) {
            set_nss_error(r, "", PR_GetError());
            char *own = r->error;
            r->error = probe_strdup_printf("probe: cannot decode PEM certificate #%d of CA file '%s': %s", index, path, own);
            free(own);
            goto fail;
        }
        PORT_SetError(0);
        CERTCertificate *cert = CERT_NewTempCertificate(CERT_GetDefaultCertDB(), &der, NULL, PR_FALSE, PR_TRUE);
        SECITEM_FreeItem(&der, PR_FALSE);
        if (!cert) {
            /* NSS refuses the certificate itself: the stack's verdict, not a probe failure */
            char *prefix = probe_strdup_printf("CERT_NewTempCertificate: NSS refused CA certificate #%d of %s: ", index, path);
            set_nss_error(r, prefix, PR_GetError());
            free(prefix);
            goto fail;
        }
        if (a->n == a->cap) {
            size_t cap = a->cap ? a->cap * 2 : 4;
            CERTCertificate **certs = realloc(a->certs, cap * sizeof *certs);
            if (!certs) { CERT_DestroyCertificate(cert); r->error = probe_strdup_printf("probe: out of memory"); goto fail; }
            a->certs = certs;
            a->cap = cap;
        }
        a->certs[a->n++] = cert;
        if (CERT_ChangeCertTrust(CERT_GetDefaultCertDB(), cert, &trust) != SECSuccess) {
            char *prefix = probe_strdup_printf("CERT_ChangeCertTrust: NSS refused to trust CA certificate #%d of %s: ", index, path);
            set_nss_error(r, prefix, PR_GetError());
            free(prefix);
            goto fail;
        }
    }
    free(data);
    if (a->n == 0) {
        r->error = probe_strdup_printf("probe: CA file '%s' holds no PEM certificate", path);
        return -1;
    }
    return 0;
fail:
    free(data);
    anchors_release(a);
    return -1;
}

/* ------------------------------------------------------------------ one job */

/* SSL_AuthCertificate's checks with the job's servername (also an IP literal, which SSL_SetURL
 * does not get: no SNI for it) */
static SECStatus auth_certificate(void *arg, PRFileDesc *fd, PRBool checkSig, PRBool isServer) {
    const char *servername = arg;
    (void)isServer;
    CERTCertificate *peer = SSL_PeerCertificate(fd);
    if (!peer) return SECFailure; /* NSS set the error */
    /* the certificates the server presented, held while verifying: NSS 3.110 makes the intermediates
     * findable by subject only once asked for them (measured: without this, a P-256 intermediate
     * under a P-521 root gave SEC_ERROR_UNKNOWN_ISSUER where tstclnt@3.110 succeeds) */
    CERTCertList *presented = SSL_PeerCertificateChain(fd);
    SECStatus rv = CERT_VerifyCert(CERT_GetDefaultCertDB(), peer, checkSig, certUsageSSLServer, PR_Now(), NULL, NULL);
    if (rv == SECSuccess) {
        rv = CERT_VerifyCertName(peer, servername);
        if (rv != SECSuccess) PORT_SetError(SSL_ERROR_BAD_CERT_DOMAIN);
    }
    if (presented) CERT_DestroyCertList(presented);
    CERT_DestroyCertificate(peer);
    return rv;
}

/* SSL options and version range of a fresh client socket; 0, or -1 with r->error */
static int configure(PRFileDesc *ssl, const probe_job *job, probe_result *r) {
    static const struct { PRInt32 option; PRIntn on; const char *name; } options[] = {
        {SSL_SECURITY, PR_TRUE, "SSL_SECURITY"},
        {SSL_HANDSHAKE_AS_CLIENT, PR_TRUE, "SSL_HANDSHAKE_AS_CLIENT"},
        {SSL_NO_CACHE, PR_TRUE, "SSL_NO_CACHE"},
        {SSL_ENABLE_SESSION_TICKETS, PR_FALSE, "SSL_ENABLE_SESSION_TICKETS"},
    };
    for (size_t k = 0; k < sizeof options / sizeof options[0]; k++)
        if (SSL_OptionSet(ssl, options[k].option, options[k].on) != SECSuccess) {
            char *prefix = probe_strdup_printf("probe: SSL_OptionSet(%s): ", options[k].name);
            set_nss_error(r, prefix, PR_GetError());
            free(prefix);
            return -1;
        }
    SSLVersionRange range;
    if (SSL_VersionRangeGetSupported(ssl_variant_stream, &range) != SECSuccess) {
        set_nss_error(r, "probe: SSL_VersionRangeGetSupported: ", PR_GetError());
        return -1;
    }
    if (!job->tls_version) range.min = SSL_LIBRARY_VERSION_TLS_1_2;
    else range.min = range.max = !strcmp(job->tls_version, "1.2") ? SSL_LIBRARY_VERSION_TLS_1_2 : SSL_LIBRARY_VERSION_TLS_1_3;
    if (SSL_VersionRangeSet(ssl, &range) != SECSuccess) {
        set_nss_error(r, "probe: SSL_VersionRangeSet: ", PR_GetError());
        return -1;
    }
    if (job->n_groups > 0) { /* the job's groups, in its order (SSLNamedGroup values are IANA's code points) */
        /* NSS skips a group it does not have without an error (measured: NSS 3.87 and X25519MLKEM768,
         * x448): the negotiated group tells what it offered; with none left the handshake fails with
         * SSL_ERROR_NO_CIPHERS_SUPPORTED */
        SSLNamedGroup groups[16];
        for (int k = 0; k < job->n_groups; k++) groups[k] = (SSLNamedGroup)job->groups[k];
        if (SSL_NamedGroupConfig(ssl, groups, (unsigned int)job->n_groups) != SECSuccess) {
            set_nss_error(r, "unsupported group: SSL_NamedGroupConfig: ", PR_GetError());
            return -1;
        }
    }
    if (job->n_key_shares > 0) { /* NSS key-shares its first groups: the marked ones must be those */
        for (int k = 0; k < job->n_key_shares; k++) {
            if (k >= job->n_groups || job->key_shares[k] != job->groups[k]) {
                r->error = probe_strdup_printf("unsupported group: NSS sends key shares for its first groups only "
                                               "(SSL_SendAdditionalKeyShares): mark a prefix of the list");
                return -1;
            }
        }
        if (SSL_SendAdditionalKeyShares(ssl, (unsigned int)job->n_key_shares - 1) != SECSuccess) {
            set_nss_error(r, "unsupported group: SSL_SendAdditionalKeyShares: ", PR_GetError());
            return -1;
        }
    }
    if (SSL_AuthCertificateHook(ssl, auth_certificate, (void *)job->servername) != SECSuccess) {
        set_nss_error(r, "probe: SSL_AuthCertificateHook: ", PR_GetError());
        return -1;
    }
    if (!job->servername_is_ip && SSL_SetURL(ssl, job->servername) != SECSuccess) {
        set_nss_error(r, "probe: SSL_SetURL: ", PR_GetError());
        return -1;
    }
    if (SSL_ResetHandshake(ssl, PR_FALSE) != SECSuccess) {
        set_nss_error(r, "probe: SSL_ResetHandshake: ", PR_GetError());
        return -1;
    }
    return 0;
}

/* SSL_ForceHandshake until done, failed or past the deadline; 0, or -1 with r->error */
static int drive_handshake(PRFileDesc *ssl, const probe_job *job, probe_result *r) {
    for (;;) {
        if (SSL_ForceHandshake(ssl) == SECSuccess) return 0;
        PRErrorCode code = PR_GetError();
        if (code != PR_WOULD_BLOCK_ERROR) {
            set_nss_error(r, "", code);
            return -1;
        }
        double left = job->deadline - now_ms();
        PRInt32 n = 0;
        if (left > 0) {
            /* the SSL layer's poll method turns READ into WRITE while the handshake must write */
            PRPollDesc pd = {ssl, PR_POLL_READ, 0};
            n = PR_Poll(&pd, 1, PR_MillisecondsToInterval((PRUint32)left + 1));
        }
        if (n < 0) {
            set_nss_error(r, "PR_Poll: ", PR_GetError());
            return -1;
        }
        if (n == 0 && now_ms() >= job->deadline) {
            char *text = nss_error(code);
            r->error = probe_strdup_printf("timeout: SSL_ForceHandshake not finished within %.0f ms: %s", job->timeout_ms, text);
            r->error_detail = probe_strdup_printf("PRErrorCode %d %s", (int)code, PR_ErrorToName(code) ? PR_ErrorToName(code) : "");
            free(text);
            return -1;
        }
    }
}

static void fill_negotiated(PRFileDesc *ssl, probe_result *r) {
    SSLChannelInfo ci;
    memset(&ci, 0, sizeof ci);
    if (SSL_GetChannelInfo(ssl, &ci, sizeof ci) != SECSuccess) return;
    const char *v = version_name(ci.protocolVersion);
    if (v) snprintf(r->version, sizeof r->version, "%s", v);
    else snprintf(r->version, sizeof r->version, "0x%04x", (unsigned)ci.protocolVersion);
    SSLCipherSuiteInfo si;
    memset(&si, 0, sizeof si);
    if (SSL_GetCipherSuiteInfo(ci.cipherSuite, &si, sizeof si) == SECSuccess && si.cipherSuiteName)
        snprintf(r->cipher, sizeof r->cipher, "%s", si.cipherSuiteName);
    else
        snprintf(r->cipher, sizeof r->cipher, "0x%04x", (unsigned)ci.cipherSuite);
    group_name(ci.keaGroup, r->group, sizeof r->group);
    sigscheme_name(ci.signatureScheme, r->sigalg, sizeof r->sigalg);
}

static void handshake(const probe_job *job, probe_result *r) {
    anchors_t anchors = {0};
    PRFileDesc *ssl = NULL;
    PORT_SetError(0); /* no earlier job's code can pass for this job's */
    if (load_anchors(job->ca_file, &anchors, r) < 0) return;

    int fd = probe_tcp_connect(job, r);
    if (fd < 0) goto out;
    PRFileDesc *tcp = PR_ImportTCPSocket(fd);
    if (!tcp) {
        set_nss_error(r, "probe: PR_ImportTCPSocket: ", PR_GetError());
        close(fd);
        goto out;
    }
    PRSocketOptionData opt;
    opt.option = PR_SockOpt_Nonblocking;
    opt.value.non_blocking = PR_TRUE;
    if (PR_SetSocketOption(tcp, &opt) != PR_SUCCESS) {
        set_nss_error(r, "probe: PR_SetSocketOption(PR_SockOpt_Nonblocking): ", PR_GetError());
        PR_Close(tcp);
        goto out;
    }
    ssl = SSL_ImportFD(NULL, tcp);
    if (!ssl) {
        set_nss_error(r, "probe: SSL_ImportFD: ", PR_GetError());
        PR_Close(tcp);
        goto out;
    }
    if (configure(ssl, job, r) < 0 || drive_handshake(ssl, job, r) < 0) goto out;
    r->ok = 1;
    fill_negotiated(ssl, r);

out:
    if (ssl) PR_Close(ssl); /* sends close_notify after a handshake; closes the socket */
    anchors_release(&anchors);
}

/* ------------------------------------------------------------------ main */

int main(void) {
    if (NSS_NoDB_Init(NULL) != SECSuccess) {
        char *text = nss_error(PR_GetError());
        fprintf(stderr, "tlsmatrix-nss-probe: NSS_NoDB_Init failed: %s\n", text);
        free(text);
        return 1;
    }
    CERT_SetUsePKIXForValidation(PR_FALSE);
    static const probe_stack stack = {"tlsmatrix-nss-probe", hello, handshake};
    int status = probe_main(&stack);
    SSL_ClearSessionCache();
    if (NSS_Shutdown() != SECSuccess) { /* SEC_ERROR_BUSY: some certificate or key was never released */
        char *text = nss_error(PR_GetError());
        fprintf(stderr, "tlsmatrix-nss-probe: NSS_Shutdown: %s\n", text);
        free(text);
    }
    PR_Cleanup();
    return status;
}
