/*
 * wolfSSL client probe for tlsmatrix (docs/probe-contract.md, "Client probes").
 *
 * Build (Debian: apt-get install -y libwolfssl-dev), from this directory:
 *   gcc -O2 -Wall -I../cprobe -o OUT/tlsmatrix-wolfssl-probe probe.c ../cprobe/probe_loop.c -lwolfssl
 *
 * The JSON-lines loop is ../cprobe/probe_loop.c; this file is the hello and one handshake.
 *
 * Per job: a fresh WOLFSSL_CTX whose only trust anchors are the job's CA file
 * (wolfSSL_CTX_load_verify_locations; wolfSSL_CTX_load_system_CA_certs is never called),
 * SSL_VERIFY_PEER, name check (wolfSSL_check_domain_name for DNS names, SNI via wolfSSL_UseSNI;
 * wolfSSL_X509_VERIFY_PARAM_set1_ip_asc for IP literals, no SNI), version pinned through the
 * method, a non-blocking socket and select() against one deadline for connect + handshake.
 * A job's groups: wolfSSL_UseSupportedCurve per group (the supported_groups extension, in order;
 * wolfSSL adds its defaults only when none were set) and wolfSSL_set_groups (TLS 1.3: the order
 * and the key share for the first); wolfSSL's group ids are IANA's code points.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/version.h>
#include <wolfssl/error-ssl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probe_loop.h"

static int has_compiled(const char *what) {
    /* features as this build's wolfssl/options.h declares them */
    if (!strcmp(what, "tls13")) {
#ifdef WOLFSSL_TLS13
        return 1;
#endif
    } else if (!strcmp(what, "ecc")) {
#if defined(HAVE_ECC)
        return 1;
#endif
    } else if (!strcmp(what, "ecc521")) {
#if defined(HAVE_ECC) && (defined(HAVE_ECC521) || !defined(ECC_USER_CURVES)) && !defined(NO_ECC521)
        return 1;
#endif
    } else if (!strcmp(what, "ed25519")) {
#ifdef HAVE_ED25519
        return 1;
#endif
    } else if (!strcmp(what, "ed448")) {
#ifdef HAVE_ED448
        return 1;
#endif
    } else if (!strcmp(what, "curve25519")) {
#ifdef HAVE_CURVE25519
        return 1;
#endif
    } else if (!strcmp(what, "rsa_pss")) {
#ifdef WC_RSA_PSS
        return 1;
#endif
    }
    return 0;
}

static void hello(buf_t *b) {
    buf_puts(b, "{\"hello\": {\"stack\": \"wolfSSL\", \"version\": ");
    buf_jstr(b, wolfSSL_lib_version());
    buf_puts(b, ", \"provider\": null, \"details\": {\"headers\": ");
    buf_jstr(b, LIBWOLFSSL_VERSION_STRING);
    buf_printf(b, ", \"lib_version_hex\": \"0x%08x\"", (unsigned)wolfSSL_lib_version_hex());
    static const char *const feats[] = {"tls13", "ecc", "ecc521", "ed25519", "ed448", "curve25519", "rsa_pss"};
    buf_puts(b, ", \"compiled\": {");
    for (size_t k = 0; k < sizeof feats / sizeof feats[0]; k++)
        buf_printf(b, "%s\"%s\": %s", k ? ", " : "", feats[k], has_compiled(feats[k]) ? "true" : "false");
    buf_puts(b, "}}}}");
}

/* ------------------------------------------------------------------ one job */

static const char *wolf_err_text(int err, char *buf) {
    /* wolfSSL_ERR_error_string takes the (negative) wolfSSL error code as unsigned long */
    return wolfSSL_ERR_error_string((unsigned long)(long)err, buf);
}

/* the job's groups on this connection; 0, or -1 with r->error "unsupported group: ..." in wolfSSL's words
 * (wolfSSL_UseSupportedCurve refuses a group id this build does not have) */
static int set_groups(WOLFSSL *ssl, const probe_job *job, probe_result *r) {
    char ebuf[WOLFSSL_MAX_ERROR_SZ > 256 ? WOLFSSL_MAX_ERROR_SZ : 256];
    int groups[16];
    for (int k = 0; k < job->n_groups; k++) {
        int rc = wolfSSL_UseSupportedCurve(ssl, (word16)job->groups[k]);
        if (rc != WOLFSSL_SUCCESS) {
            r->error = probe_strdup_printf("unsupported group: wolfSSL_UseSupportedCurve(0x%04x): %s",
                                           job->groups[k], wolf_err_text(rc, ebuf));
            return -1;
        }
        groups[k] = (int)job->groups[k];
    }
#ifdef WOLFSSL_TLS13
    if (!job->tls_version || strcmp(job->tls_version, "1.2")) {
        int rc = wolfSSL_set_groups(ssl, groups, job->n_groups);
        if (rc != WOLFSSL_SUCCESS) {
            r->error = probe_strdup_printf("unsupported group: wolfSSL_set_groups: %s", wolf_err_text(rc, ebuf));
            return -1;
        }
        /* the key shares the job marks, exactly: none of wolfSSL's choosing, then each */
        if (job->n_key_shares > 0 && (rc = wolfSSL_NoKeyShares(ssl)) != WOLFSSL_SUCCESS) {
            r->error = probe_strdup_printf("unsupported group: wolfSSL_NoKeyShares: %s", wolf_err_text(rc, ebuf));
            return -1;
        }
        for (int k = 0; k < job->n_key_shares; k++) {
            if ((rc = wolfSSL_UseKeyShare(ssl, (word16)job->key_shares[k])) != WOLFSSL_SUCCESS) {
                r->error = probe_strdup_printf("unsupported group: wolfSSL_UseKeyShare(0x%04x): %s",
                                               job->key_shares[k], wolf_err_text(rc, ebuf));
                return -1;
            }
        }
    }
#endif
    return 0;
}


#ifdef OPENSSL_EXTRA
/* every record wolfSSL reads (its OpenSSL-compatible message callback): the ServerHello(s), for a
 * HelloRetryRequest; without OPENSSL_EXTRA the probe cannot tell (hrr null) */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len, WOLFSSL *ssl, void *arg) {
    (void)version;
    (void)ssl;
    if (!write_p && content_type == 22 && arg) probe_saw_handshake(arg, buf, len);
}
#endif

static void handshake(const probe_job *job, probe_result *r) {
    const char *version = job->tls_version, *servername = job->servername;
    char ebuf[WOLFSSL_MAX_ERROR_SZ > 256 ? WOLFSSL_MAX_ERROR_SZ : 256];

    WOLFSSL_METHOD *method = !version ? wolfSSLv23_client_method()
                           : !strcmp(version, "1.2") ? wolfTLSv1_2_client_method()
                           : wolfTLSv1_3_client_method();
    WOLFSSL_CTX *ctx = method ? wolfSSL_CTX_new(method) : NULL;
    if (!ctx) {
        r->error = probe_strdup_printf("probe: wolfSSL_CTX_new failed for tls_version %s (method compiled out?)", version ? version : "null");
        return;
    }
    WOLFSSL *ssl = NULL;
    int fd = -1;
    if (!version) wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);

    wolfSSL_ERR_clear_error();
    int rc = wolfSSL_CTX_load_verify_locations(ctx, job->ca_file, NULL);
    if (rc != WOLFSSL_SUCCESS) {
        /* the return is just WOLFSSL_FAILURE; the reason is in the error queue (as a positive
         * number), or nowhere when the file cannot be opened at all */
        unsigned long qe = wolfSSL_ERR_get_error();
        wolfSSL_ERR_clear_error();
        if (qe != 0) {
            r->error = probe_strdup_printf("probe: cannot load CA file '%s': %s", job->ca_file,
                                      wolfSSL_ERR_error_string(qe, ebuf));
            r->error_detail = probe_strdup_printf("%ld", -(long)qe);
        } else {
            FILE *fp = fopen(job->ca_file, "rb");
            int e = fp ? 0 : errno;
            if (fp) fclose(fp);
            r->error = probe_strdup_printf("probe: cannot load CA file '%s': %s", job->ca_file,
                                      e ? strerror(e) : "wolfSSL_CTX_load_verify_locations failed");
            if (e) r->error_detail = probe_strdup_printf("errno=%d", e);
        }
        goto out;
    }
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);

    ssl = wolfSSL_new(ctx);
    if (!ssl) { r->error = probe_strdup_printf("probe: wolfSSL_new failed"); goto out; }
#ifdef OPENSSL_EXTRA
    wolfSSL_set_msg_callback(ssl, on_msg);
    wolfSSL_set_msg_callback_arg(ssl, r);
#endif
    if (job->servername_is_ip) {
        /* IP literal: matched against IP SANs by the handshake's verification; no SNI. */
        WOLFSSL_X509_VERIFY_PARAM *param = wolfSSL_get0_param(ssl);
        if (!param || wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(param, servername) != WOLFSSL_SUCCESS) {
            r->error = probe_strdup_printf("probe: wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(%s) failed", servername);
            goto out;
        }
    } else {
        if (wolfSSL_check_domain_name(ssl, servername) != WOLFSSL_SUCCESS) {
            r->error = probe_strdup_printf("probe: wolfSSL_check_domain_name(%s) failed", servername);
            goto out;
        }
        if (wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, servername, (unsigned short)strlen(servername)) != WOLFSSL_SUCCESS) {
            r->error = probe_strdup_printf("probe: wolfSSL_UseSNI(%s) failed", servername);
            goto out;
        }
    }

    if (job->n_groups > 0 && set_groups(ssl, job, r) < 0) goto out;

    fd = probe_tcp_connect(job, r);
    if (fd < 0) goto out;

    /* TLS handshake */
    if (wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS) { r->error = probe_strdup_printf("probe: wolfSSL_set_fd failed"); goto out; }
    for (;;) {
        rc = wolfSSL_connect(ssl);
        if (rc == WOLFSSL_SUCCESS) break;
        int err = wolfSSL_get_error(ssl, rc);
        if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
            int w = probe_wait_fd(fd, err == WOLFSSL_ERROR_WANT_WRITE, job->deadline);
            if (w > 0) continue;
            if (w == 0) {
                /* wolfSSL_get_error gives the OpenSSL-style WANT_READ/WRITE (2/3); the library's
                 * own code and text for that state are WANT_READ (-323) / WANT_WRITE (-327). */
                int code = err == WOLFSSL_ERROR_WANT_WRITE ? WANT_WRITE : WANT_READ;
                r->error = probe_strdup_printf("timeout: wolfSSL_connect not finished within %.0f ms: %s",
                                          job->timeout_ms, wolf_err_text(code, ebuf));
                r->error_detail = probe_strdup_printf("%d", code);
            } else {
                int e = errno;
                r->error = probe_strdup_printf("select: %s", strerror(e));
                r->error_detail = probe_strdup_printf("errno=%d", e);
            }
            goto out;
        }
        r->error = probe_strdup_printf("%s", wolf_err_text(err, ebuf));
        WOLFSSL_ALERT_HISTORY ah;
        memset(&ah, 0, sizeof ah);
        if (err == FATAL_ERROR && wolfSSL_get_alert_history(ssl, &ah) == WOLFSSL_SUCCESS && ah.last_rx.code > 0)
            r->error_detail = probe_strdup_printf("%d alert=%d", err, ah.last_rx.code); /* received alert */
        else
            r->error_detail = probe_strdup_printf("%d", err);
        goto out;
    }
    r->ok = 1;
    const char *s;
    if ((s = wolfSSL_get_version(ssl))) snprintf(r->version, sizeof r->version, "%s", s);
    if ((s = wolfSSL_get_cipher_name(ssl))) snprintf(r->cipher, sizeof r->cipher, "%s", s);
    if ((s = wolfSSL_get_curve_name(ssl))) snprintf(r->group, sizeof r->group, "%s", s);
    wolfSSL_shutdown(ssl); /* one non-blocking attempt: sends close_notify */

out:
    if (ssl) wolfSSL_free(ssl);
    if (fd >= 0) close(fd);
    wolfSSL_CTX_free(ctx);
}

/* ------------------------------------------------------------------ main loop */

int main(void) {
    if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
        fputs("tlsmatrix-wolfssl-probe: wolfSSL_Init failed\n", stderr);
        return 1;
    }
    static const probe_stack stack = {"tlsmatrix-wolfssl-probe", hello, handshake};
    int status = probe_main(&stack);
    wolfSSL_Cleanup();
    return status;
}
