/*
 * wolfSSL client probe for tlsmatrix (docs/probe-contract.md, "Client probes").
 *
 * Build (Debian bookworm: apt-get install -y libwolfssl-dev):
 *   gcc -O2 -Wall -o OUT/tlsmatrix-wolfssl-probe harness/probes/wolfssl/probe.c -lwolfssl
 *
 * JSON lines on stdin/stdout: a hello line first, then one answer per job line, stdout flushed
 * per line; EOF on stdin -> exit 0. Only libc and libwolfssl; the JSON reader below is our own
 * and handles what the contract sends (one flat object per line; nested values are skipped).
 *
 * Per job: a fresh WOLFSSL_CTX whose only trust anchors are the job's CA file
 * (wolfSSL_CTX_load_verify_locations; wolfSSL_CTX_load_system_CA_certs is never called),
 * SSL_VERIFY_PEER, name check (wolfSSL_check_domain_name for DNS names, SNI via wolfSSL_UseSNI;
 * wolfSSL_X509_VERIFY_PARAM_set1_ip_asc for IP literals, no SNI), version pinned through the
 * method, a non-blocking socket and select() against one deadline for connect + handshake.
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/version.h>
#include <wolfssl/error-ssl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ small helpers */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* growable string buffer */
typedef struct { char *p; size_t len, cap; } buf_t;

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { fputs("tlsmatrix-wolfssl-probe: out of memory\n", stderr); exit(70); }
    b->p = p; b->cap = cap;
}
static void buf_add(buf_t *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
static void buf_puts(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }
static void buf_printf(buf_t *b, const char *fmt, ...) {
    va_list ap;
    char probe[1];
    va_start(ap, fmt);
    int n = vsnprintf(probe, sizeof probe, fmt, ap); /* length only */
    va_end(ap);
    if (n < 0) return;
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
/* JSON string literal (or null for NULL) */
static void buf_jstr(buf_t *b, const char *s) {
    if (!s) { buf_puts(b, "null"); return; }
    buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        default:
            if (*p < 0x20) buf_printf(b, "\\u%04x", *p);
            else buf_add(b, (const char *)p, 1);
        }
    }
    buf_puts(b, "\"");
}

/* ------------------------------------------------------------------ tiny JSON reader */

typedef enum { JV_MISSING = 0, JV_NULL, JV_BOOL, JV_NUM, JV_STR, JV_OTHER } jv_kind;
typedef struct {
    jv_kind kind;
    char *str;          /* JV_STR: decoded UTF-8 (NUL-terminated; an embedded \u0000 is refused) */
    double num;         /* JV_NUM */
    const char *raw;    /* start of the value's JSON text in the line */
    size_t raw_len;
} jv_t;

typedef struct {
    const char *s;
    size_t i, n;
    const char *err;
} jp_t;

static void jp_ws(jp_t *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\r' || p->s[p->i] == '\n')) p->i++;
}
static int jp_fail(jp_t *p, const char *msg) { if (!p->err) p->err = msg; return -1; }

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
static int jp_hex4(jp_t *p, unsigned *out) {
    if (p->i + 4 > p->n) return jp_fail(p, "truncated \\u escape");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + k]);
        if (h < 0) return jp_fail(p, "invalid \\u escape");
        v = v * 16 + (unsigned)h;
    }
    p->i += 4;
    *out = v;
    return 0;
}
static void utf8_put(buf_t *b, unsigned cp) {
    char t[4];
    if (cp < 0x80) { t[0] = (char)cp; buf_add(b, t, 1); }
    else if (cp < 0x800) { t[0] = (char)(0xC0 | (cp >> 6)); t[1] = (char)(0x80 | (cp & 0x3F)); buf_add(b, t, 2); }
    else if (cp < 0x10000) { t[0] = (char)(0xE0 | (cp >> 12)); t[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); t[2] = (char)(0x80 | (cp & 0x3F)); buf_add(b, t, 3); }
    else { t[0] = (char)(0xF0 | (cp >> 18)); t[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); t[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); t[3] = (char)(0x80 | (cp & 0x3F)); buf_add(b, t, 4); }
}
/* at '"'; decodes into *out (malloc'd) when out != NULL */
static int jp_string(jp_t *p, char **out) {
    buf_t b = {0};
    buf_reserve(&b, 0);
    b.p[0] = '\0';
    p->i++; /* opening quote */
    for (;;) {
        if (p->i >= p->n) { free(b.p); return jp_fail(p, "unterminated string"); }
        unsigned char c = (unsigned char)p->s[p->i++];
        if (c == '"') break;
        if (c < 0x20) { free(b.p); return jp_fail(p, "control character in string"); }
        if (c != '\\') { buf_add(&b, (const char *)&c, 1); continue; }
        if (p->i >= p->n) { free(b.p); return jp_fail(p, "unterminated escape"); }
        char e = p->s[p->i++];
        switch (e) {
        case '"': buf_add(&b, "\"", 1); break;
        case '\\': buf_add(&b, "\\", 1); break;
        case '/': buf_add(&b, "/", 1); break;
        case 'b': buf_add(&b, "\b", 1); break;
        case 'f': buf_add(&b, "\f", 1); break;
        case 'n': buf_add(&b, "\n", 1); break;
        case 'r': buf_add(&b, "\r", 1); break;
        case 't': buf_add(&b, "\t", 1); break;
        case 'u': {
            unsigned cp;
            if (jp_hex4(p, &cp) < 0) { free(b.p); return -1; }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->i + 2 > p->n || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') { free(b.p); return jp_fail(p, "lone surrogate"); }
                p->i += 2;
                if (jp_hex4(p, &lo) < 0) { free(b.p); return -1; }
                if (lo < 0xDC00 || lo > 0xDFFF) { free(b.p); return jp_fail(p, "lone surrogate"); }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                free(b.p); return jp_fail(p, "lone surrogate");
            }
            if (cp == 0) { free(b.p); return jp_fail(p, "\\u0000 in string"); }
            utf8_put(&b, cp);
            break;
        }
        default: free(b.p); return jp_fail(p, "invalid escape");
        }
    }
    if (out) *out = b.p; else free(b.p);
    return 0;
}
static int jp_value(jp_t *p, jv_t *v, int depth);
static int jp_container(jp_t *p, char close, int depth) {
    if (depth > 64) return jp_fail(p, "nesting too deep");
    p->i++; /* '[' or '{' */
    jp_ws(p);
    if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
    for (;;) {
        jp_ws(p);
        if (close == '}') {
            if (p->i >= p->n || p->s[p->i] != '"') return jp_fail(p, "expected object key");
            if (jp_string(p, NULL) < 0) return -1;
            jp_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') return jp_fail(p, "expected ':'");
            p->i++;
        }
        jv_t tmp = {0};
        if (jp_value(p, &tmp, depth + 1) < 0) return -1;
        free(tmp.str);
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
        if (p->i < p->n && p->s[p->i] == close) { p->i++; return 0; }
        return jp_fail(p, "expected ',' or closing bracket");
    }
}
static int jp_lit(jp_t *p, const char *lit) {
    size_t l = strlen(lit);
    if (p->i + l > p->n || memcmp(p->s + p->i, lit, l) != 0) return jp_fail(p, "invalid literal");
    p->i += l;
    return 0;
}
static int jp_value(jp_t *p, jv_t *v, int depth) {
    jp_ws(p);
    if (p->i >= p->n) return jp_fail(p, "unexpected end of line");
    size_t start = p->i;
    char c = p->s[p->i];
    int rc;
    if (c == '"') { v->kind = JV_STR; rc = jp_string(p, &v->str); }
    else if (c == '{') { v->kind = JV_OTHER; rc = jp_container(p, '}', depth); }
    else if (c == '[') { v->kind = JV_OTHER; rc = jp_container(p, ']', depth); }
    else if (c == 'n') { v->kind = JV_NULL; rc = jp_lit(p, "null"); }
    else if (c == 't') { v->kind = JV_BOOL; rc = jp_lit(p, "true"); }
    else if (c == 'f') { v->kind = JV_BOOL; rc = jp_lit(p, "false"); }
    else if (c == '-' || (c >= '0' && c <= '9')) {
        size_t j = p->i;
        if (p->s[j] == '-') j++;
        if (j >= p->n || !(p->s[j] >= '0' && p->s[j] <= '9')) return jp_fail(p, "invalid number");
        if (p->s[j] == '0') j++; else while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
        if (j < p->n && p->s[j] == '.') {
            j++;
            if (j >= p->n || !(p->s[j] >= '0' && p->s[j] <= '9')) return jp_fail(p, "invalid number");
            while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
        }
        if (j < p->n && (p->s[j] == 'e' || p->s[j] == 'E')) {
            j++;
            if (j < p->n && (p->s[j] == '+' || p->s[j] == '-')) j++;
            if (j >= p->n || !(p->s[j] >= '0' && p->s[j] <= '9')) return jp_fail(p, "invalid number");
            while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9') j++;
        }
        char tmp[64];
        size_t l = j - p->i;
        if (l >= sizeof tmp) return jp_fail(p, "number too long");
        memcpy(tmp, p->s + p->i, l);
        tmp[l] = '\0';
        v->kind = JV_NUM;
        v->num = strtod(tmp, NULL);
        p->i = j;
        rc = 0;
    } else return jp_fail(p, "unexpected character");
    if (rc < 0) return -1;
    v->raw = p->s + start;
    v->raw_len = p->i - start;
    return 0;
}

/* the fields of a job */
enum { F_ID, F_HOST, F_PORT, F_SERVERNAME, F_CA_FILE, F_TLS_VERSION, F_TIMEOUT_MS, F_COUNT };
static const char *const FIELD_NAMES[F_COUNT] = {"id", "host", "port", "servername", "ca_file", "tls_version", "timeout_ms"};

static void job_free(jv_t *f) {
    for (int k = 0; k < F_COUNT; k++) { free(f[k].str); f[k].str = NULL; }
}
/* parses one line holding a JSON object; returns 0 or -1 with p->err */
static int parse_job(jp_t *p, jv_t *f) {
    memset(f, 0, sizeof(jv_t) * F_COUNT);
    jp_ws(p);
    if (p->i >= p->n || p->s[p->i] != '{') return jp_fail(p, "a job must be a JSON object");
    p->i++;
    jp_ws(p);
    if (p->i < p->n && p->s[p->i] == '}') { p->i++; goto tail; }
    for (;;) {
        jp_ws(p);
        if (p->i >= p->n || p->s[p->i] != '"') return jp_fail(p, "expected object key");
        char *key = NULL;
        if (jp_string(p, &key) < 0) return -1;
        jp_ws(p);
        if (p->i >= p->n || p->s[p->i] != ':') { free(key); return jp_fail(p, "expected ':'"); }
        p->i++;
        jv_t v = {0};
        if (jp_value(p, &v, 1) < 0) { free(key); return -1; }
        int slot = -1;
        for (int k = 0; k < F_COUNT; k++) if (strcmp(key, FIELD_NAMES[k]) == 0) slot = k;
        free(key);
        if (slot >= 0) { free(f[slot].str); f[slot] = v; } else free(v.str);
        jp_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
        if (p->i < p->n && p->s[p->i] == '}') { p->i++; break; }
        return jp_fail(p, "expected ',' or '}'");
    }
tail:
    jp_ws(p);
    if (p->i != p->n) return jp_fail(p, "trailing characters after the object");
    return 0;
}

/* ------------------------------------------------------------------ hello */

static void emit(buf_t *b) {
    buf_puts(b, "\n");
    fwrite(b->p, 1, b->len, stdout);
    fflush(stdout);
    b->len = 0;
    b->p[0] = '\0';
}

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

static void write_hello(buf_t *b) {
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
    emit(b);
}

/* ------------------------------------------------------------------ one job */

typedef struct {
    int ok;
    char *error;         /* malloc'd */
    char *error_detail;  /* malloc'd or NULL */
    char neg_version[32], neg_cipher[96], neg_group[48];
} result_t;

static char *xstrdup_printf(const char *fmt, ...) {
    va_list ap;
    char probe[1];
    va_start(ap, fmt);
    int n = vsnprintf(probe, sizeof probe, fmt, ap); /* length only */
    va_end(ap);
    if (n < 0) n = 0;
    char *s = malloc((size_t)n + 1);
    if (!s) { fputs("tlsmatrix-wolfssl-probe: out of memory\n", stderr); exit(70); }
    s[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static const char *wolf_err_text(int err, char *buf) {
    /* wolfSSL_ERR_error_string takes the (negative) wolfSSL error code as unsigned long */
    return wolfSSL_ERR_error_string((unsigned long)(long)err, buf);
}

/* waits until fd is readable/writable or the deadline passes; 1 ready, 0 timeout, -1 error */
static int wait_fd(int fd, int want_write, double deadline) {
    for (;;) {
        double left = deadline - now_ms();
        if (left <= 0) return 0;
        fd_set fs;
        FD_ZERO(&fs);
        FD_SET(fd, &fs);
        struct timeval tv;
        tv.tv_sec = (time_t)(left / 1000);
        tv.tv_usec = (suseconds_t)((left - tv.tv_sec * 1000.0) * 1000);
        int r = select(fd + 1, want_write ? NULL : &fs, want_write ? &fs : NULL, NULL, &tv);
        if (r > 0) return 1;
        if (r == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

static int is_ip_literal(const char *s) {
    unsigned char tmp[16];
    return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

static void run_job(jv_t *f, result_t *r) {
    memset(r, 0, sizeof *r);
    const char *ca_file = f[F_CA_FILE].kind == JV_STR ? f[F_CA_FILE].str : NULL;
    const char *host = f[F_HOST].kind == JV_STR ? f[F_HOST].str : NULL;
    const char *servername = f[F_SERVERNAME].kind == JV_STR ? f[F_SERVERNAME].str : NULL;
    const char *version = f[F_TLS_VERSION].kind == JV_STR ? f[F_TLS_VERSION].str : NULL;
    double start = now_ms();

    if (!ca_file) { r->error = xstrdup_printf("probe: cannot load CA file: ca_file missing or not a string"); return; }
    if (!host || !servername || f[F_PORT].kind != JV_NUM || f[F_PORT].num < 1 || f[F_PORT].num > 65535) {
        r->error = xstrdup_printf("probe: invalid job: host, servername (strings) and port (1-65535) are required");
        return;
    }
    if (f[F_TLS_VERSION].kind != JV_NULL && f[F_TLS_VERSION].kind != JV_MISSING &&
        !(version && (!strcmp(version, "1.2") || !strcmp(version, "1.3")))) {
        r->error = xstrdup_printf("probe: unknown tls_version %.*s", (int)f[F_TLS_VERSION].raw_len, f[F_TLS_VERSION].raw);
        return;
    }
    double timeout_ms = f[F_TIMEOUT_MS].kind == JV_NUM && f[F_TIMEOUT_MS].num >= 1 ? f[F_TIMEOUT_MS].num : 10000;
    double deadline = start + timeout_ms;
    int port = (int)f[F_PORT].num;
    int ip_name = is_ip_literal(servername);
    char ebuf[WOLFSSL_MAX_ERROR_SZ > 256 ? WOLFSSL_MAX_ERROR_SZ : 256];

    WOLFSSL_METHOD *method = !version ? wolfSSLv23_client_method()
                           : !strcmp(version, "1.2") ? wolfTLSv1_2_client_method()
                           : wolfTLSv1_3_client_method();
    WOLFSSL_CTX *ctx = method ? wolfSSL_CTX_new(method) : NULL;
    if (!ctx) {
        r->error = xstrdup_printf("probe: wolfSSL_CTX_new failed for tls_version %s (method compiled out?)", version ? version : "null");
        return;
    }
    WOLFSSL *ssl = NULL;
    int fd = -1;
    if (!version) wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);

    wolfSSL_ERR_clear_error();
    int rc = wolfSSL_CTX_load_verify_locations(ctx, ca_file, NULL);
    if (rc != WOLFSSL_SUCCESS) {
        /* the return is just WOLFSSL_FAILURE; the reason is in the error queue (as a positive
         * number), or nowhere when the file cannot be opened at all */
        unsigned long qe = wolfSSL_ERR_get_error();
        wolfSSL_ERR_clear_error();
        if (qe != 0) {
            r->error = xstrdup_printf("probe: cannot load CA file '%s': %s", ca_file,
                                      wolfSSL_ERR_error_string(qe, ebuf));
            r->error_detail = xstrdup_printf("%ld", -(long)qe);
        } else {
            FILE *fp = fopen(ca_file, "rb");
            int e = fp ? 0 : errno;
            if (fp) fclose(fp);
            r->error = xstrdup_printf("probe: cannot load CA file '%s': %s", ca_file,
                                      e ? strerror(e) : "wolfSSL_CTX_load_verify_locations failed");
            if (e) r->error_detail = xstrdup_printf("errno=%d", e);
        }
        goto out;
    }
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);

    ssl = wolfSSL_new(ctx);
    if (!ssl) { r->error = xstrdup_printf("probe: wolfSSL_new failed"); goto out; }
    if (ip_name) {
        /* IP literal: matched against IP SANs by the handshake's verification; no SNI. */
        WOLFSSL_X509_VERIFY_PARAM *param = wolfSSL_get0_param(ssl);
        if (!param || wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(param, servername) != WOLFSSL_SUCCESS) {
            r->error = xstrdup_printf("probe: wolfSSL_X509_VERIFY_PARAM_set1_ip_asc(%s) failed", servername);
            goto out;
        }
    } else {
        if (wolfSSL_check_domain_name(ssl, servername) != WOLFSSL_SUCCESS) {
            r->error = xstrdup_printf("probe: wolfSSL_check_domain_name(%s) failed", servername);
            goto out;
        }
        if (wolfSSL_UseSNI(ssl, WOLFSSL_SNI_HOST_NAME, servername, (unsigned short)strlen(servername)) != WOLFSSL_SUCCESS) {
            r->error = xstrdup_printf("probe: wolfSSL_UseSNI(%s) failed", servername);
            goto out;
        }
    }

    /* TCP connect, non-blocking */
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", port);
    int gai = getaddrinfo(host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        r->error = xstrdup_printf("getaddrinfo %s: %s", host, gai_strerror(gai));
        r->error_detail = xstrdup_printf("getaddrinfo=%d", gai);
        goto out;
    }
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(ai);
        r->error = xstrdup_printf("socket: %s", strerror(e));
        r->error_detail = xstrdup_printf("errno=%d", e);
        goto out;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
    rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc != 0 && errno != EINPROGRESS) {
        int e = errno;
        r->error = xstrdup_printf("connect to %s:%d: %s", host, port, strerror(e));
        r->error_detail = xstrdup_printf("errno=%d", e);
        goto out;
    }
    if (rc != 0) {
        int w = wait_fd(fd, 1, deadline);
        if (w == 0) {
            r->error = xstrdup_printf("timeout: connect to %s:%d: %s", host, port, strerror(ETIMEDOUT));
            r->error_detail = xstrdup_printf("errno=%d", ETIMEDOUT);
            goto out;
        }
        int e = 0;
        socklen_t el = sizeof e;
        if (w < 0) e = errno;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0) e = errno;
        if (e != 0) {
            r->error = xstrdup_printf("connect to %s:%d: %s", host, port, strerror(e));
            r->error_detail = xstrdup_printf("errno=%d", e);
            goto out;
        }
    }

    /* TLS handshake */
    if (wolfSSL_set_fd(ssl, fd) != WOLFSSL_SUCCESS) { r->error = xstrdup_printf("probe: wolfSSL_set_fd failed"); goto out; }
    for (;;) {
        rc = wolfSSL_connect(ssl);
        if (rc == WOLFSSL_SUCCESS) break;
        int err = wolfSSL_get_error(ssl, rc);
        if (err == WOLFSSL_ERROR_WANT_READ || err == WOLFSSL_ERROR_WANT_WRITE) {
            int w = wait_fd(fd, err == WOLFSSL_ERROR_WANT_WRITE, deadline);
            if (w > 0) continue;
            if (w == 0) {
                /* wolfSSL_get_error gives the OpenSSL-style WANT_READ/WRITE (2/3); the library's
                 * own code and text for that state are WANT_READ (-323) / WANT_WRITE (-327). */
                int code = err == WOLFSSL_ERROR_WANT_WRITE ? WANT_WRITE : WANT_READ;
                r->error = xstrdup_printf("timeout: wolfSSL_connect not finished within %.0f ms: %s",
                                          timeout_ms, wolf_err_text(code, ebuf));
                r->error_detail = xstrdup_printf("%d", code);
            } else {
                int e = errno;
                r->error = xstrdup_printf("select: %s", strerror(e));
                r->error_detail = xstrdup_printf("errno=%d", e);
            }
            goto out;
        }
        r->error = xstrdup_printf("%s", wolf_err_text(err, ebuf));
        WOLFSSL_ALERT_HISTORY ah;
        memset(&ah, 0, sizeof ah);
        if (err == FATAL_ERROR && wolfSSL_get_alert_history(ssl, &ah) == WOLFSSL_SUCCESS && ah.last_rx.code > 0)
            r->error_detail = xstrdup_printf("%d alert=%d", err, ah.last_rx.code); /* received alert */
        else
            r->error_detail = xstrdup_printf("%d", err);
        goto out;
    }
    r->ok = 1;
    const char *s;
    if ((s = wolfSSL_get_version(ssl))) snprintf(r->neg_version, sizeof r->neg_version, "%s", s);
    if ((s = wolfSSL_get_cipher_name(ssl))) snprintf(r->neg_cipher, sizeof r->neg_cipher, "%s", s);
    if ((s = wolfSSL_get_curve_name(ssl))) snprintf(r->neg_group, sizeof r->neg_group, "%s", s);
    wolfSSL_shutdown(ssl); /* one non-blocking attempt: sends close_notify */

out:
    if (ssl) wolfSSL_free(ssl);
    if (fd >= 0) close(fd);
    wolfSSL_CTX_free(ctx);
}

/* ------------------------------------------------------------------ main loop */

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
        fputs("tlsmatrix-wolfssl-probe: wolfSSL_Init failed\n", stderr);
        return 1;
    }
    buf_t out = {0};
    buf_reserve(&out, 512);
    write_hello(&out);

    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k == len) continue; /* blank line */

        double start = now_ms();
        jv_t f[F_COUNT];
        memset(f, 0, sizeof f);
        jp_t p = {line, 0, len, NULL};
        if (memchr(line, '\0', len) || parse_job(&p, f) < 0) {
            if (!p.err) p.err = "NUL byte in line";
            buf_puts(&out, "{\"id\": null, \"ok\": false, \"error\": ");
            char *msg = xstrdup_printf("probe: invalid job line: %s at offset %zu", p.err, p.i);
            buf_jstr(&out, msg);
            free(msg);
            buf_puts(&out, ", \"negotiated\": null, \"elapsed_ms\": 0}");
            emit(&out);
            job_free(f);
            continue;
        }
        result_t r;
        run_job(f, &r);
        double elapsed = now_ms() - start;

        buf_puts(&out, "{\"id\": ");
        if (f[F_ID].kind == JV_STR || f[F_ID].kind == JV_NUM) buf_add(&out, f[F_ID].raw, f[F_ID].raw_len);
        else buf_puts(&out, "null");
        buf_printf(&out, ", \"ok\": %s, \"error\": ", r.ok ? "true" : "false");
        buf_jstr(&out, r.error);
        if (r.error_detail) { buf_puts(&out, ", \"error_detail\": "); buf_jstr(&out, r.error_detail); }
        buf_puts(&out, ", \"negotiated\": ");
        if (r.ok) {
            buf_puts(&out, "{\"version\": ");
            buf_jstr(&out, r.neg_version[0] ? r.neg_version : NULL);
            buf_puts(&out, ", \"cipher\": ");
            buf_jstr(&out, r.neg_cipher[0] ? r.neg_cipher : NULL);
            buf_puts(&out, ", \"group\": ");
            buf_jstr(&out, r.neg_group[0] ? r.neg_group : NULL);
            buf_puts(&out, ", \"sigalg\": null}");
        } else {
            buf_puts(&out, "null");
        }
        buf_printf(&out, ", \"elapsed_ms\": %.3f}", elapsed);
        emit(&out);
        free(r.error);
        free(r.error_detail);
        job_free(f);
    }
    free(line);
    free(out.p);
    wolfSSL_Cleanup();
    return 0;
}
