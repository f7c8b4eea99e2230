/*
 * libcurl client probe for tlsmatrix (docs/probe-contract.md, "Client probes"): Debian's libcurl4
 * (the OpenSSL flavour), handshake only.
 *
 * Build (Debian: apt-get install -y libcurl4-openssl-dev libssl-dev), from this directory:
 *   gcc -O2 -Wall -I../cprobe -o OUT/tlsmatrix-libcurl-probe probe.c ../cprobe/probe_loop.c -lcurl -lssl -lcrypto
 *
 * The JSON-lines loop is ../cprobe/probe_loop.c; this file is the hello and one handshake.
 *
 * Per job: a fresh easy handle (no connection, TLS session, DNS or CA cache carries over; the
 * session-ID cache is off as well) doing CURLOPT_CONNECT_ONLY on https://SERVERNAME:PORT/: TCP
 * connect + TLS handshake, no HTTP request. The URL carries the servername (SNI + name check; for
 * an IP literal curl sends no SNI and checks IP SANs), CURLOPT_CONNECT_TO sends the TCP connection to
 * HOST:PORT (what the `curl` column's --connect-to does). Trust: CURLOPT_CAINFO is the job's CA
 * file and CURLOPT_CAPATH is NULL (Debian's libcurl has /etc/ssl/certs compiled in as CApath),
 * SSL_VERIFYPEER 1, SSL_VERIFYHOST 2. Version pinning: CURLOPT_SSLVERSION min|max. One deadline:
 * CURLOPT_CONNECTTIMEOUT_MS and CURLOPT_TIMEOUT_MS are the job's remaining time; curl's own
 * CURLE_OPERATION_TIMEDOUT becomes "timeout: <curl's text>".
 *
 * error: curl's error buffer (CURLOPT_ERRORBUFFER), else curl_easy_strerror(code): exactly the text the
 * curl command prints after its "curl: (N) "; error_detail: "CURLcode=N (<curl_easy_strerror>)", plus
 * OpenSSL's verify result (CURLINFO_SSL_VERIFYRESULT) for 60.
 * negotiated: read from the connection's OpenSSL SSL* when OpenSSL reports the handshake done (an info
 * callback on the SSL_CTX that CURLOPT_SSL_CTX_FUNCTION hands us; CURLINFO_TLS_SSL_PTR is NULL once a
 * CONNECT_ONLY transfer has returned, in 7.88), kept only when curl then reports success. OpenSSL 3.0
 * has no name for the negotiated signature scheme, so sigalg stays unknown.
 */
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_loop.h"

static const char *const PROGRAM = "tlsmatrix-libcurl-probe";

static void hello(buf_t *b) {
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    buf_puts(b, "{\"hello\": {\"stack\": \"libcurl\", \"version\": ");
    buf_jstr(b, v ? v->version : NULL);
    buf_puts(b, ", \"provider\": null, \"details\": {\"ssl_version\": ");
    buf_jstr(b, v ? v->ssl_version : NULL);
    buf_puts(b, ", \"libssl\": ");
    buf_jstr(b, OpenSSL_version(OPENSSL_VERSION));
    buf_puts(b, ", \"headers\": ");
    buf_jstr(b, LIBCURL_VERSION);
    buf_puts(b, ", \"curl_version\": ");
    buf_jstr(b, curl_version());
    buf_puts(b, "}}}");
}

/* ------------------------------------------------------------------ one job */

/* the host as written in a URL or CONNECT_TO entry: IPv6 literals in brackets */
static char *url_host(const char *h) {
    return strchr(h, ':') ? probe_strdup_printf("[%s]", h) : probe_strdup_printf("%s", h);
}

static long remaining_ms(const probe_job *job) {
    double left = job->deadline - now_ms();
    return left < 1 ? 1 : (long)left;
}

/* the running job's result: the probe does one job at a time (OpenSSL's info callback has no user pointer) */
static probe_result *current;

/* version, cipher and group from the connection's OpenSSL handle, once OpenSSL says the handshake is done */
static void on_info(const SSL *ssl, int where, int ret) {
    (void)ret;
    if (!(where & SSL_CB_HANDSHAKE_DONE) || !current) return;
    probe_result *r = current;
    const char *s;
    if ((s = SSL_get_version(ssl))) snprintf(r->version, sizeof r->version, "%s", s);
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    if (c && (s = SSL_CIPHER_get_name(c))) snprintf(r->cipher, sizeof r->cipher, "%s", s);
#if OPENSSL_VERSION_NUMBER >= 0x30000000L /* OpenSSL 1.1.1 (Debian bullseye) cannot say: group stays unknown */
    int nid = SSL_get_negotiated_group((SSL *)ssl);
    if (nid > 0 && !(nid & TLSEXT_nid_unknown) && (s = OBJ_nid2sn(nid))) snprintf(r->group, sizeof r->group, "%s", s);
#endif
}

/* every handshake message OpenSSL receives: the ServerHello(s), for a HelloRetryRequest */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len, SSL *ssl, void *arg) {
    (void)version;
    (void)ssl;
    (void)arg;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && current) probe_saw_handshake(current, buf, len);
}

/* CURLOPT_SSL_CTX_FUNCTION: the connection's SSL_CTX, before the handshake */
static CURLcode on_ssl_ctx(CURL *h, void *ssl_ctx, void *userptr) {
    (void)h;
    (void)userptr;
    SSL_CTX_set_info_callback((SSL_CTX *)ssl_ctx, on_info);
    SSL_CTX_set_msg_callback((SSL_CTX *)ssl_ctx, on_msg);
    return CURLE_OK;
}

/* CURLOPT_WRITEFUNCTION: a CONNECT_ONLY transfer receives no body; should curl ever deliver bytes, they
 * must not reach stdout (the JSON-lines channel), where libcurl's default writer would put them */
static size_t discard(char *data, size_t size, size_t n, void *userptr) {
    (void)data;
    (void)userptr;
    return size * n;
}

/* the job's groups in OpenSSL's spelling (CURLOPT_SSL_EC_CURVES is SSL_CTX_set1_groups_list); a code
 * point without a name here is left to OpenSSL under its number, which it refuses */
static const struct { unsigned code; const char *name; } OPENSSL_GROUPS[] = {
    {23, "P-256"}, {24, "P-384"}, {25, "P-521"}, {29, "X25519"}, {30, "X448"},
    {256, "ffdhe2048"}, {257, "ffdhe3072"}, {258, "ffdhe4096"}, {259, "ffdhe6144"}, {260, "ffdhe8192"},
    {0x0200, "MLKEM512"}, {0x0201, "MLKEM768"}, {0x0202, "MLKEM1024"},
    {0x11EB, "SecP256r1MLKEM768"}, {0x11EC, "X25519MLKEM768"}, {0x11ED, "SecP384r1MLKEM1024"},
};

static char *curves_list(const probe_job *job) {
    buf_t b = {0};
    for (int k = 0; k < job->n_groups; k++) {
        const char *name = NULL;
        for (size_t g = 0; g < sizeof OPENSSL_GROUPS / sizeof OPENSSL_GROUPS[0]; g++)
            if (OPENSSL_GROUPS[g].code == job->groups[k]) name = OPENSSL_GROUPS[g].name;
        if (k) buf_puts(&b, ":");
        if (name) buf_puts(&b, name);
        else buf_printf(&b, "0x%04x", job->groups[k]);
    }
    return b.p;
}

/* every option of the job's easy handle; a probe error text (malloc'd) or NULL */
static char *configure(CURL *h, const probe_job *job, const char *url, struct curl_slist *connect_to, char *errbuf) {
    long version = CURL_SSLVERSION_TLSv1_2; /* library defaults, TLS 1.2 and up */
    if (job->tls_version && !strcmp(job->tls_version, "1.2"))
        version = CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2;
    else if (job->tls_version && !strcmp(job->tls_version, "1.3"))
        version = CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_TLSv1_3;
    long timeout = remaining_ms(job);
    struct { CURLoption opt; const char *name; int kind; long l; const void *p; } opts[] = {
        {CURLOPT_ERRORBUFFER, "ERRORBUFFER", 1, 0, errbuf},
        {CURLOPT_URL, "URL", 1, 0, url},
        {CURLOPT_CONNECT_TO, "CONNECT_TO", 1, 0, connect_to},
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85 */
        {CURLOPT_PROTOCOLS_STR, "PROTOCOLS_STR", 1, 0, "https"},
#else /* Debian bullseye's 7.74 */
        {CURLOPT_PROTOCOLS, "PROTOCOLS", 0, CURLPROTO_HTTPS, NULL},
#endif
        {CURLOPT_CONNECT_ONLY, "CONNECT_ONLY", 0, 1L, NULL},
        {CURLOPT_FRESH_CONNECT, "FRESH_CONNECT", 0, 1L, NULL},
        {CURLOPT_FORBID_REUSE, "FORBID_REUSE", 0, 1L, NULL},
        {CURLOPT_SSL_SESSIONID_CACHE, "SSL_SESSIONID_CACHE", 0, 0L, NULL},
        {CURLOPT_PROXY, "PROXY", 1, 0, ""},
        {CURLOPT_NOPROXY, "NOPROXY", 1, 0, "*"},
        {CURLOPT_CAINFO, "CAINFO", 1, 0, job->ca_file},
        {CURLOPT_CAPATH, "CAPATH", 1, 0, NULL},
#if LIBCURL_VERSION_NUM >= 0x075700 /* 7.87 has a CA cache: off; before it there is none */
        {CURLOPT_CA_CACHE_TIMEOUT, "CA_CACHE_TIMEOUT", 0, 0L, NULL},
#endif
        {CURLOPT_SSL_VERIFYPEER, "SSL_VERIFYPEER", 0, 1L, NULL},
        {CURLOPT_SSL_VERIFYHOST, "SSL_VERIFYHOST", 0, 2L, NULL},
        {CURLOPT_SSLVERSION, "SSLVERSION", 0, version, NULL},
        {CURLOPT_CONNECTTIMEOUT_MS, "CONNECTTIMEOUT_MS", 0, timeout, NULL},
        {CURLOPT_TIMEOUT_MS, "TIMEOUT_MS", 0, timeout, NULL},
        {CURLOPT_NOSIGNAL, "NOSIGNAL", 0, 1L, NULL},
    };
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        CURLcode rc = opts[k].kind ? curl_easy_setopt(h, opts[k].opt, opts[k].p)
                                   : curl_easy_setopt(h, opts[k].opt, opts[k].l);
        if (rc != CURLE_OK)
            return probe_strdup_printf("probe: curl_easy_setopt(CURLOPT_%s): %s", opts[k].name, curl_easy_strerror(rc));
    }
    CURLcode rc = curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
    if (rc != CURLE_OK)
        return probe_strdup_printf("probe: curl_easy_setopt(CURLOPT_SSL_CTX_FUNCTION): %s", curl_easy_strerror(rc));
    rc = curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    if (rc != CURLE_OK)
        return probe_strdup_printf("probe: curl_easy_setopt(CURLOPT_WRITEFUNCTION): %s", curl_easy_strerror(rc));
    if (job->n_groups > 0) {
        char *curves = curves_list(job); /* libcurl copies the string */
        rc = curl_easy_setopt(h, CURLOPT_SSL_EC_CURVES, curves);
        free(curves);
        if (rc != CURLE_OK)
            return probe_strdup_printf("unsupported group: curl_easy_setopt(CURLOPT_SSL_EC_CURVES): %s",
                                       curl_easy_strerror(rc));
    }
    return NULL;
}

static void failed(CURL *h, CURLcode code, const char *errbuf, probe_result *r) {
    const char *what = curl_easy_strerror(code);
    char *text = probe_strdup_printf("%s", errbuf[0] ? errbuf : what); /* as the curl command chooses */
    if (code == CURLE_OPERATION_TIMEDOUT) {
        r->error = probe_strdup_printf("timeout: %s", text);
        free(text);
    } else if (code == CURLE_SSL_CACERT_BADFILE) {
        r->error = probe_strdup_printf("probe: cannot load CA file: %s", text); /* the job cannot be attempted */
        free(text);
    } else {
        r->error = text;
    }
    long verify = 0;
    if (code == CURLE_PEER_FAILED_VERIFICATION && curl_easy_getinfo(h, CURLINFO_SSL_VERIFYRESULT, &verify) == CURLE_OK &&
        verify != 0)
        r->error_detail = probe_strdup_printf("CURLcode=%d (%s) ssl_verifyresult=%ld", (int)code, what, verify);
    else
        r->error_detail = probe_strdup_printf("CURLcode=%d (%s)", (int)code, what);
}

static void handshake(const probe_job *job, probe_result *r) {
    /* a CA file that cannot be read is a job we cannot attempt (curl would say 77) */
    FILE *fp = fopen(job->ca_file, "rb");
    if (!fp) {
        int e = errno;
        r->error = probe_strdup_printf("probe: cannot load CA file '%s': %s", job->ca_file, strerror(e));
        r->error_detail = probe_strdup_printf("errno=%d", e);
        return;
    }
    fclose(fp);

    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    char *name = url_host(job->servername), *host = url_host(job->host);
    char *url = probe_strdup_printf("https://%s:%d/", name, job->port);
    char *entry = probe_strdup_printf("%s:%d:%s:%d", name, job->port, host, job->port);
    struct curl_slist *connect_to = curl_slist_append(NULL, entry);
    CURL *h = curl_easy_init();
    if (!h || !connect_to) {
        r->error = probe_strdup_printf("probe: %s failed", h ? "curl_slist_append" : "curl_easy_init");
        goto out;
    }
    r->error = configure(h, job, url, connect_to, errbuf);
    if (r->error) goto out;

    probe_result seen; /* what the info callback read; kept only when curl reports success */
    memset(&seen, 0, sizeof seen);
    current = &seen;
    CURLcode code = curl_easy_perform(h);
    current = NULL;
    if (code != CURLE_OK) {
        failed(h, code, errbuf, r);
        if (job->n_groups > 0 && code == CURLE_SSL_CIPHER && strstr(r->error, "curves")) {
            char *said = r->error; /* OpenSSL refused the list: "failed setting curves list: '...'" */
            r->error = probe_strdup_printf("unsupported group: %s", said);
            free(said);
        }
        goto out;
    }
    r->ok = 1;
    memcpy(r->version, seen.version, sizeof r->version);
    memcpy(r->cipher, seen.cipher, sizeof r->cipher);
    memcpy(r->group, seen.group, sizeof r->group);
    r->hello_seen = seen.hello_seen;
    r->hrr = seen.hrr;

out:
    if (h) curl_easy_cleanup(h); /* closes the connection */
    curl_slist_free_all(connect_to);
    free(entry);
    free(url);
    free(host);
    free(name);
}

/* ------------------------------------------------------------------ main loop */

int main(void) {
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        fprintf(stderr, "%s: curl_global_init failed: %s\n", PROGRAM, curl_easy_strerror(rc));
        return 1;
    }
    static const probe_stack stack = {"tlsmatrix-libcurl-probe", hello, handshake};
    int status = probe_main(&stack);
    curl_global_cleanup();
    return status;
}
