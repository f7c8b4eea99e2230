/*
 * GnuTLS client probe for tlsmatrix (docs/probe-contract.md, "Client probes").
 *
 * Build (Debian: apt-get install -y libgnutls28-dev), from this directory:
 *   gcc -O2 -Wall -I../cprobe -o OUT/tlsmatrix-gnutls-probe probe.c ../cprobe/probe_loop.c -lgnutls
 *
 * The JSON-lines loop is ../cprobe/probe_loop.c; this file is the hello and one handshake.
 *
 * Trust: gnutls_certificate_set_x509_trust_file with the job's CA file, nothing else
 * (gnutls_certificate_set_x509_system_trust is never called). The credentials built from a CA file
 * are kept for later jobs (keyed by path, inode, size and mtime); they hold no session state.
 * Each job has its own gnutls_session_t (GNUTLS_NO_TICKETS; gnutls_session_set_data is never
 * called), so every handshake is a full one.
 *
 * Verification: gnutls_session_set_verify_cert2 during the handshake, with the same typed data
 * gnutls-cli passes (the server name, the TLS WWW server key purpose): a DNS name as
 * GNUTLS_DT_DNS_HOSTNAME (and SNI), an IP literal as GNUTLS_DT_IP_ADDRESS (raw bytes, matched
 * against IP SANs; no SNI); validity dates at the current time (GnuTLS' default). Verify flags 0,
 * as gnutls-cli sets them.
 *
 * Versions: "NORMAL:-VERS-ALL:+VERS-TLS1.2" / "+VERS-TLS1.3" (gnutls-cli's --priority in the
 * gnutls-cli column), the library's default priorities otherwise.
 *
 * Errors: gnutls_strerror of the handshake's error; on a verification failure joined with
 * gnutls_certificate_verification_status_print's text (what gnutls-cli prints as "- Status:"),
 * on a received alert with gnutls_alert_get_name, and preceded by the library's audit-log lines
 * of the handshake (e.g. "Received record packet of unknown type 72"), joined with " | ".
 * error_detail: the gnutls error name and code, the alert's name and number, the status bits.
 */
#define _GNU_SOURCE
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "probe_loop.h"

/* up to 2 s for the server's verdict on our client certificate (docs/probe-contract.md) */
#define MTLS_VERDICT_WAIT_MS 2000.0

/* ------------------------------------------------------------------ hello */

static void hello(buf_t *b) {
    buf_puts(b, "{\"hello\": {\"stack\": \"GnuTLS\", \"version\": ");
    buf_jstr(b, gnutls_check_version(NULL));
    buf_puts(b, ", \"provider\": null, \"details\": {\"headers\": ");
    buf_jstr(b, GNUTLS_VERSION);
    buf_printf(b, ", \"fips140_mode\": %s", gnutls_fips140_mode_enabled() ? "true" : "false");
    buf_puts(b, "}}}");
}

/* ------------------------------------------------------------------ audit log of the current job */

/* The library's audit log (security-relevant events such as a record of unknown type) for the
 * session of the running job: gnutls-cli shows these lines too (as "|<1>| ..."). */
static gnutls_session_t audit_session;
static buf_t audit_lines;

static void audit_log(gnutls_session_t session, const char *msg) {
    if (!audit_session || session != audit_session || !msg) return;
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) n--;
    if (!n || audit_lines.len > 4096) return;
    if (audit_lines.len) buf_puts(&audit_lines, " | ");
    buf_add(&audit_lines, msg, n);
}

/* ------------------------------------------------------------------ credentials per CA file */

typedef struct {
    char *path;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    gnutls_certificate_credentials_t cred;
    unsigned long used;
} cred_entry;

#define CRED_CACHE 16
static cred_entry cred_cache[CRED_CACHE];
static unsigned long cred_clock;

static void cred_entry_clear(cred_entry *e) {
    if (e->cred) gnutls_certificate_free_credentials(e->cred);
    free(e->path);
    memset(e, 0, sizeof *e);
}

/* fresh credentials trusting exactly the CA file; NULL with r->error set */
static gnutls_certificate_credentials_t load_trust(const char *ca_file, probe_result *r) {
    gnutls_certificate_credentials_t cred = NULL;
    int rc = gnutls_certificate_allocate_credentials(&cred);
    if (rc < 0) {
        r->error = probe_strdup_printf("probe: gnutls_certificate_allocate_credentials: %s", gnutls_strerror(rc));
        return NULL;
    }
    gnutls_certificate_set_verify_flags(cred, 0);
    rc = gnutls_certificate_set_x509_trust_file(cred, ca_file, GNUTLS_X509_FMT_PEM);
    if (rc <= 0) {
        if (rc == 0)
            r->error = probe_strdup_printf("probe: cannot load CA file '%s': no certificate found in it", ca_file);
        else
            r->error = probe_strdup_printf("probe: cannot load CA file '%s': %s", ca_file, gnutls_strerror(rc));
        r->error_detail = probe_strdup_printf("%s (%d)", rc ? gnutls_strerror_name(rc) : "0 certificates", rc);
        gnutls_certificate_free_credentials(cred);
        return NULL;
    }
    return cred;
}

/* the cached credentials for this CA file (built when absent or the file changed) */
static gnutls_certificate_credentials_t cached_trust(const char *ca_file, probe_result *r) {
    struct stat st;
    if (stat(ca_file, &st) != 0) {
        int e = errno;
        r->error = probe_strdup_printf("probe: cannot load CA file '%s': %s", ca_file, strerror(e));
        r->error_detail = probe_strdup_printf("errno=%d", e);
        return NULL;
    }
    cred_entry *slot = NULL, *oldest = &cred_cache[0];
    for (int k = 0; k < CRED_CACHE; k++) {
        cred_entry *e = &cred_cache[k];
        if (e->path && !strcmp(e->path, ca_file)) {
            if (e->dev == st.st_dev && e->ino == st.st_ino && e->size == st.st_size &&
                e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec) {
                e->used = ++cred_clock;
                return e->cred;
            }
            slot = e; /* the file changed: rebuild in place */
            break;
        }
        if (!e->path) { if (!slot) slot = e; }
        else if (e->used < oldest->used) oldest = e;
    }
    if (!slot) slot = oldest;
    cred_entry_clear(slot);
    gnutls_certificate_credentials_t cred = load_trust(ca_file, r);
    if (!cred) return NULL;
    slot->path = strdup(ca_file);
    if (!slot->path) { gnutls_certificate_free_credentials(cred); r->error = probe_strdup_printf("probe: out of memory"); return NULL; }
    slot->dev = st.st_dev;
    slot->ino = st.st_ino;
    slot->size = st.st_size;
    slot->mtime = st.st_mtim;
    slot->cred = cred;
    slot->used = ++cred_clock;
    return cred;
}

/* ------------------------------------------------------------------ one job */

static gnutls_priority_t prio_default, prio_12, prio_13;

/* status: the chain's verification status bits when known (see chain_status), else 0: the session's */
static void set_error(probe_result *r, gnutls_session_t session, int err, unsigned status) {
    buf_t e = {0}, d = {0};
    buf_puts(&e, "");
    if (audit_lines.len) { buf_add(&e, audit_lines.p, audit_lines.len); buf_puts(&e, " | "); }
    buf_puts(&e, gnutls_strerror(err));
    buf_printf(&d, "%s (%d)", gnutls_strerror_name(err) ? gnutls_strerror_name(err) : "?", err);
    if (err == GNUTLS_E_FATAL_ALERT_RECEIVED || err == GNUTLS_E_WARNING_ALERT_RECEIVED) {
        gnutls_alert_description_t a = gnutls_alert_get(session);
        const char *name = gnutls_alert_get_name(a);
        if (name) buf_printf(&e, " | %s", name);
        const char *strname = gnutls_alert_get_strname(a);
        buf_printf(&d, ", alert %d (%s)", (int)a, strname ? strname : "?");
    }
    if (err == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR || err == GNUTLS_E_CERTIFICATE_ERROR) {
        if (!status) status = gnutls_session_get_verify_cert_status(session);
        gnutls_datum_t out = {NULL, 0};
        if (status && gnutls_certificate_verification_status_print(
                          status, gnutls_certificate_type_get2(session, GNUTLS_CTYPE_SERVER), &out, 0) == 0 && out.data) {
            size_t n = strlen((const char *)out.data);
            while (n && (out.data[n - 1] == ' ' || out.data[n - 1] == '\n')) n--; /* it ends with a space */
            buf_puts(&e, " | ");
            buf_add(&e, (const char *)out.data, n);
            gnutls_free(out.data);
        }
        buf_printf(&d, ", verify status 0x%x", status);
    }
    r->error = e.p;
    r->error_detail = d.p;
}

/* GnuTLS checks a server's handshake signature before it verifies the chain (measured with
 * tlsmatrix replay's substitute key). When that signature fails, verify the chain it received as
 * the handshake would have (same name and purpose), so a bad chain is reported as what it is. */
static int chain_status(gnutls_session_t session, gnutls_typed_vdata_st *vdata, unsigned *status) {
    *status = 0;
    return gnutls_certificate_verify_peers(session, vdata, 2, status);
}

/* the negotiated parameters, as GnuTLS names them ("TLS1.3" is reported as "TLSv1.3") */
static void fill_negotiated(gnutls_session_t session, probe_result *r) {
    const char *s = gnutls_protocol_get_name(gnutls_protocol_get_version(session));
    if (s) snprintf(r->version, sizeof r->version, "%s%s", strncmp(s, "TLS", 3) ? "" : "TLSv", strncmp(s, "TLS", 3) ? s : s + 3);
#if GNUTLS_VERSION_NUMBER >= 0x030703 /* the IANA name; 3.7.1 (Debian bullseye) has only GnuTLS's own */
    s = gnutls_ciphersuite_get(session);
#else
    s = gnutls_cipher_suite_get_name(gnutls_kx_get(session), gnutls_cipher_get(session), gnutls_mac_get(session));
#endif
    if (s) snprintf(r->cipher, sizeof r->cipher, "%s", s);
    gnutls_group_t g = gnutls_group_get(session);
    if (g && (s = gnutls_group_get_name(g))) snprintf(r->group, sizeof r->group, "%s", s);
    int sig = gnutls_sign_algorithm_get(session);
    if (sig > 0 && (s = gnutls_sign_get_name((gnutls_sign_algorithm_t)sig))) snprintf(r->sigalg, sizeof r->sigalg, "%s", s);
}

/* waits for fd in the direction GnuTLS is blocked on; 1 ready, 0 deadline, -1 error */
static int wait_session(gnutls_session_t session, int fd, double deadline) {
    return probe_wait_fd(fd, gnutls_record_get_direction(session) == 1, deadline);
}

/* mTLS: the server's verdict on our certificate may arrive after our Finished (TLS 1.3).
 * 0 accepted (data, close_notify, EOF or silence), else the error to report. */
static int await_verdict(gnutls_session_t session, int fd, double deadline) {
    double until = now_ms() + MTLS_VERDICT_WAIT_MS;
    if (deadline < until) until = deadline;
    char byte[256];
    for (;;) {
        ssize_t n = gnutls_record_recv(session, byte, sizeof byte);
        if (n >= 0) return 0; /* data or close_notify */
        int err = (int)n;
        if (err == GNUTLS_E_AGAIN || err == GNUTLS_E_INTERRUPTED) {
            if (wait_session(session, fd, until) > 0) continue;
            return 0; /* silence (or select failed): a server waiting for a request */
        }
        if (err == GNUTLS_E_PREMATURE_TERMINATION) return 0; /* EOF without an alert */
        if (!gnutls_error_is_fatal(err)) { /* a warning alert, a TLS 1.2 HelloRequest */
            if (now_ms() >= until) return 0;
            continue;
        }
        return err;
    }
}

/* the job's groups as GnuTLS names them in a priority string (IANA code point -> GROUP-<name>) */
static const struct { unsigned code; const char *name; } GROUP_NAMES[] = {
    {23, "SECP256R1"}, {24, "SECP384R1"}, {25, "SECP521R1"}, {29, "X25519"}, {30, "X448"},
    {256, "FFDHE2048"}, {257, "FFDHE3072"}, {258, "FFDHE4096"}, {259, "FFDHE6144"}, {260, "FFDHE8192"},
    {0x11EB, "SECP256R1-MLKEM768"}, {0x11EC, "X25519-MLKEM768"}, {0x11ED, "SECP384R1-MLKEM1024"},
};

/* a priority for this job's groups (and version), or -1 with r->error "unsupported group: ..." in
 * GnuTLS' words (a name this GnuTLS does not know fails gnutls_priority_init) */
static int job_priority(const probe_job *job, gnutls_priority_t *out, probe_result *r) {
    buf_t b = {0};
    buf_puts(&b, "NORMAL");
    if (job->tls_version) buf_printf(&b, ":-VERS-ALL:+VERS-TLS%s", job->tls_version);
    buf_puts(&b, ":-GROUP-ALL");
    for (int k = 0; k < job->n_groups; k++) {
        const char *name = NULL;
        for (size_t g = 0; g < sizeof GROUP_NAMES / sizeof GROUP_NAMES[0]; g++)
            if (GROUP_NAMES[g].code == job->groups[k]) name = GROUP_NAMES[g].name;
        if (!name) {
            r->error = probe_strdup_printf("unsupported group: GnuTLS has no name for group 0x%04x", job->groups[k]);
            free(b.p);
            return -1;
        }
        buf_printf(&b, ":+GROUP-%s", name);
    }
    const char *where = NULL;
    int rc = gnutls_priority_init(out, b.p, &where);
    if (rc < 0)
        r->error = probe_strdup_printf("unsupported group: gnutls_priority_init(%s): %s (at %s)", b.p,
                                       gnutls_strerror(rc), where ? where : "?");
    free(b.p);
    return rc < 0 ? -1 : 0;
}

/* every handshake message: a received ServerHello shows the probe watched the server's answer; GnuTLS
 * reports a HelloRetryRequest as a handshake type of its own */
static int on_handshake_msg(gnutls_session_t session, unsigned int htype, unsigned when, unsigned int incoming,
                            const gnutls_datum_t *msg) {
    (void)when;
    (void)msg;
    probe_result *r = gnutls_session_get_ptr(session);
    if (r && incoming && (htype == GNUTLS_HANDSHAKE_SERVER_HELLO || htype == GNUTLS_HANDSHAKE_HELLO_RETRY_REQUEST)) {
        r->hello_seen = 1;
        if (htype == GNUTLS_HANDSHAKE_HELLO_RETRY_REQUEST) r->hrr = 1;
    }
    return 0;
}

static void handshake(const probe_job *job, probe_result *r) {
    gnutls_session_t session = NULL;
    gnutls_certificate_credentials_t own_cred = NULL; /* mTLS jobs: credentials of this job only */
    gnutls_priority_t own_prio = NULL; /* jobs with groups: a priority of this job only */
    int fd = -1, rc;

    gnutls_certificate_credentials_t cred;
    if (job->client_cert_file) {
        cred = own_cred = load_trust(job->ca_file, r);
        if (!cred) goto out;
        rc = gnutls_certificate_set_x509_key_file(cred, job->client_cert_file, job->client_key_file, GNUTLS_X509_FMT_PEM);
        if (rc < 0) {
            r->error = probe_strdup_printf("cannot load client certificate: %s", gnutls_strerror(rc));
            r->error_detail = probe_strdup_printf("%s (%d)", gnutls_strerror_name(rc), rc);
            goto out;
        }
    } else {
        cred = cached_trust(job->ca_file, r);
        if (!cred) goto out;
    }

    rc = gnutls_init(&session, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS);
    if (rc < 0) { session = NULL; r->error = probe_strdup_printf("probe: gnutls_init: %s", gnutls_strerror(rc)); goto out; }
    gnutls_priority_t prio = !job->tls_version ? prio_default : !strcmp(job->tls_version, "1.2") ? prio_12 : prio_13;
    if (job->n_groups > 0) {
        if (job_priority(job, &own_prio, r) < 0) goto out;
        prio = own_prio;
    }
    if ((rc = gnutls_priority_set(session, prio)) < 0) {
        r->error = probe_strdup_printf("probe: gnutls_priority_set: %s", gnutls_strerror(rc));
        goto out;
    }
    if ((rc = gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, cred)) < 0) {
        r->error = probe_strdup_printf("probe: gnutls_credentials_set: %s", gnutls_strerror(rc));
        goto out;
    }

    /* the name to verify (kept alive until the session is freed: GnuTLS keeps the pointers) */
    unsigned char ip[16];
    gnutls_typed_vdata_st vdata[2];
    memset(vdata, 0, sizeof vdata);
    if (job->servername_is_ip) {
        unsigned size = inet_pton(AF_INET, job->servername, ip) == 1 ? 4 : inet_pton(AF_INET6, job->servername, ip) == 1 ? 16 : 0;
        if (!size) { r->error = probe_strdup_printf("probe: cannot parse IP literal %s", job->servername); goto out; }
        vdata[0].type = GNUTLS_DT_IP_ADDRESS;
        vdata[0].data = ip;
        vdata[0].size = size;
    } else {
        vdata[0].type = GNUTLS_DT_DNS_HOSTNAME;
        vdata[0].data = (unsigned char *)job->servername;
        if ((rc = gnutls_server_name_set(session, GNUTLS_NAME_DNS, job->servername, strlen(job->servername))) < 0) {
            r->error = probe_strdup_printf("probe: gnutls_server_name_set(%s): %s", job->servername, gnutls_strerror(rc));
            goto out;
        }
    }
    vdata[1].type = GNUTLS_DT_KEY_PURPOSE_OID;
    vdata[1].data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER;
    gnutls_session_set_verify_cert2(session, vdata, 2, 0);
    gnutls_handshake_set_timeout(session, GNUTLS_INDEFINITE_TIMEOUT); /* our deadline, not the library's 40 s default */
    gnutls_session_set_ptr(session, r);
    gnutls_handshake_set_hook_function(session, GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_POST, on_handshake_msg);

    fd = probe_tcp_connect(job, r);
    if (fd < 0) goto out;
    gnutls_transport_set_int(session, fd);

    audit_lines.len = 0;
    if (audit_lines.p) audit_lines.p[0] = '\0';
    audit_session = session;
    for (;;) {
        rc = gnutls_handshake(session);
        if (rc == GNUTLS_E_SUCCESS) break;
        if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED) {
            int w = wait_session(session, fd, job->deadline);
            if (w > 0) continue;
            if (w == 0) {
                r->error = probe_strdup_printf("timeout: gnutls_handshake not finished within %.0f ms: %s",
                                               job->timeout_ms, gnutls_strerror(rc));
                r->error_detail = probe_strdup_printf("%s (%d)", gnutls_strerror_name(rc), rc);
            } else {
                int e = errno;
                r->error = probe_strdup_printf("select: %s", strerror(e));
                r->error_detail = probe_strdup_printf("errno=%d", e);
            }
            goto out;
        }
        if (!gnutls_error_is_fatal(rc)) {
            /* e.g. a warning alert: gnutls-cli goes on with the handshake too */
            if (now_ms() >= job->deadline) {
                r->error = probe_strdup_printf("timeout: gnutls_handshake not finished within %.0f ms: %s",
                                               job->timeout_ms, gnutls_strerror(rc));
                r->error_detail = probe_strdup_printf("%s (%d)", gnutls_strerror_name(rc), rc);
                goto out;
            }
            continue;
        }
        unsigned status = 0;
        int vrc = rc == GNUTLS_E_PK_SIG_VERIFY_FAILED ? chain_status(session, vdata, &status) : 0;
        /* the chain could not even be verified (a malformed certificate): that error is the verdict */
        int err = vrc < 0 ? vrc : status ? GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR : rc;
        set_error(r, session, err, status);
        if (err != rc) {
            char *d = probe_strdup_printf("%s (recorded before GNUTLS_E_PK_SIG_VERIFY_FAILED)", r->error_detail);
            free(r->error_detail);
            r->error_detail = d;
        }
        goto out;
    }
    if (job->client_cert_file && (rc = await_verdict(session, fd, job->deadline)) != 0) {
        set_error(r, session, rc, 0);
        goto out;
    }
    r->ok = 1;
    fill_negotiated(session, r);
    gnutls_bye(session, GNUTLS_SHUT_WR); /* one non-blocking attempt: sends close_notify */

out:
    audit_session = NULL;
    if (session) gnutls_deinit(session);
    if (fd >= 0) close(fd);
    if (own_cred) gnutls_certificate_free_credentials(own_cred);
    if (own_prio) gnutls_priority_deinit(own_prio); /* after the session: it used it */
}

/* ------------------------------------------------------------------ main */

int main(void) {
    static const char *const program = "tlsmatrix-gnutls-probe";
    int rc = gnutls_global_init();
    if (rc < 0) {
        fprintf(stderr, "%s: gnutls_global_init: %s\n", program, gnutls_strerror(rc));
        return 1;
    }
    const char *where = NULL;
    if ((rc = gnutls_priority_init(&prio_default, NULL, &where)) < 0 ||
        (rc = gnutls_priority_init(&prio_12, "NORMAL:-VERS-ALL:+VERS-TLS1.2", &where)) < 0 ||
        (rc = gnutls_priority_init(&prio_13, "NORMAL:-VERS-ALL:+VERS-TLS1.3", &where)) < 0) {
        fprintf(stderr, "%s: gnutls_priority_init: %s (at %s)\n", program, gnutls_strerror(rc), where ? where : "?");
        return 1;
    }
    gnutls_global_set_audit_log_function(audit_log);
    static const probe_stack stack = {"tlsmatrix-gnutls-probe", hello, handshake};
    int status = probe_main(&stack);
    for (int k = 0; k < CRED_CACHE; k++) cred_entry_clear(&cred_cache[k]);
    gnutls_priority_deinit(prio_default);
    gnutls_priority_deinit(prio_12);
    gnutls_priority_deinit(prio_13);
    free(audit_lines.p);
    gnutls_global_deinit();
    return status;
}
