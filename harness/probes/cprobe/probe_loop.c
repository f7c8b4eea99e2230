/*
 * The probe contract's JSON-lines loop shared by the C probes: see probe_loop.h.
 */
#define _GNU_SOURCE
#include "probe_loop.h"

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

static const char *program = "tlsmatrix-c-probe";

static void oom(void) {
    fprintf(stderr, "%s: out of memory\n", program);
    exit(70);
}

/* ------------------------------------------------------------------ small helpers */


double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* growable string buffer */
static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { oom(); }
    b->p = p; b->cap = cap;
}
void buf_add(buf_t *b, const char *s, size_t n) {
    buf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}
void buf_puts(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }
void buf_printf(buf_t *b, const char *fmt, ...) {
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
void buf_jstr(buf_t *b, const char *s) {
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
enum { F_ID, F_HOST, F_PORT, F_SERVERNAME, F_CA_FILE, F_TLS_VERSION, F_TIMEOUT_MS, F_CLIENT_CERT, F_CLIENT_KEY,
       F_GROUP_CODES, F_KEY_SHARE_CODES, F_COUNT };
static const char *const FIELD_NAMES[F_COUNT] = {"id", "host", "port", "servername", "ca_file", "tls_version", "timeout_ms",
                                                   "client_cert_file", "client_key_file", "group_codes",
                                                   "key_share_codes"};

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

/* ------------------------------------------------------------------ output */

static void emit(buf_t *b) {
    buf_puts(b, "\n");
    fwrite(b->p, 1, b->len, stdout);
    fflush(stdout);
    b->len = 0;
    b->p[0] = '\0';
}

char *probe_strdup_printf(const char *fmt, ...) {
    va_list ap;
    char probe[1];
    va_start(ap, fmt);
    int n = vsnprintf(probe, sizeof probe, fmt, ap); /* length only */
    va_end(ap);
    if (n < 0) n = 0;
    char *s = malloc((size_t)n + 1);
    if (!s) oom();
    s[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

void probe_saw_handshake(probe_result *r, const unsigned char *msg, size_t len) {
    /* RFC 8446 4.1.3: a HelloRetryRequest is a ServerHello whose random is SHA-256("HelloRetryRequest") */
    static const unsigned char hrr_random[32] = {
        0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
        0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};
    if (len < 1 || msg[0] != 2) return; /* not a ServerHello */
    r->hello_seen = 1;
    /* type (1), length (3), legacy_version (2), then the random */
    if (len >= 6 + sizeof hrr_random && !memcmp(msg + 6, hrr_random, sizeof hrr_random)) r->hrr = 1;
}

static void write_result(buf_t *out, const jv_t *id, const probe_result *r, double elapsed) {
    buf_puts(out, "{\"id\": ");
    if (id->kind == JV_STR || id->kind == JV_NUM) buf_add(out, id->raw, id->raw_len);
    else buf_puts(out, "null");
    buf_printf(out, ", \"ok\": %s, \"error\": ", r->ok ? "true" : "false");
    buf_jstr(out, r->ok ? NULL : r->error);
    if (!r->ok && r->error_detail) { buf_puts(out, ", \"error_detail\": "); buf_jstr(out, r->error_detail); }
    buf_puts(out, ", \"negotiated\": ");
    if (r->ok) {
        const char *fields[][2] = {{"version", r->version}, {"cipher", r->cipher}, {"group", r->group},
                                   {"sigalg", r->sigalg}};
        for (size_t k = 0; k < 4; k++) {
            buf_printf(out, "%s\"%s\": ", k ? ", " : "{", fields[k][0]);
            buf_jstr(out, fields[k][1][0] ? fields[k][1] : NULL);
        }
        buf_printf(out, ", \"hrr\": %s}", !r->hello_seen ? "null" : r->hrr ? "true" : "false");
    } else {
        buf_puts(out, "null");
    }
    buf_printf(out, ", \"elapsed_ms\": %.3f}", elapsed);
    emit(out);
}

/* ------------------------------------------------------------------ network */

int probe_wait_fd(int fd, int want_write, double deadline) {
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

static int connect_failed(probe_result *r, int fd, const probe_job *job, int e, const char *prefix) {
    r->error = probe_strdup_printf("%sconnect to %s:%d: %s", prefix, job->host, job->port, strerror(e));
    r->error_detail = probe_strdup_printf("errno=%d", e);
    if (fd >= 0) close(fd);
    return -1;
}

int probe_tcp_connect(const probe_job *job, probe_result *r) {
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", job->port);
    int gai = getaddrinfo(job->host, portstr, &hints, &ai);
    if (gai != 0 || !ai) {
        r->error = probe_strdup_printf("getaddrinfo %s: %s", job->host, gai_strerror(gai));
        r->error_detail = probe_strdup_printf("getaddrinfo=%d", gai);
        return -1;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(ai);
        r->error = probe_strdup_printf("socket: %s", strerror(e));
        r->error_detail = probe_strdup_printf("errno=%d", e);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (rc == 0) return fd;
    if (errno != EINPROGRESS) return connect_failed(r, fd, job, errno, "");
    int w = probe_wait_fd(fd, 1, job->deadline);
    if (w == 0) return connect_failed(r, fd, job, ETIMEDOUT, "timeout: ");
    int e = 0;
    socklen_t el = sizeof e;
    if (w < 0) e = errno;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) != 0) e = errno;
    if (e != 0) return connect_failed(r, fd, job, e, "");
    return fd;
}

/* ------------------------------------------------------------------ jobs */

static int is_ip_literal(const char *s) {
    unsigned char tmp[16];
    return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

static const char *str_field(const jv_t *f) { return f->kind == JV_STR ? f->str : NULL; }

/* "group_codes" / "key_share_codes": [4588, 29] -> codes[*n]; NULL or the contract's "probe: ..." error */
static char *code_list(const jv_t *f, const char *name, unsigned int codes[16], int *n) {
    if (f->kind == JV_MISSING || f->kind == JV_NULL) return NULL;
    if (f->kind != JV_OTHER || f->raw_len < 2 || f->raw[0] != '[')
        return probe_strdup_printf("probe: %s must be a list of code points", name);
    const char *s = f->raw + 1, *end = f->raw + f->raw_len - 1;
    while (s < end) {
        while (s < end && (*s == ' ' || *s == ',')) s++;
        if (s >= end) break;
        char *stop;
        long v = strtol(s, &stop, 10);
        if (stop == s || v < 0 || v > 0xffff || *n == 16)
            return probe_strdup_printf("probe: %s holds %.*s", name, (int)f->raw_len, f->raw);
        codes[(*n)++] = (unsigned int)v;
        s = stop;
    }
    return NULL;
}

/* fills *job from the parsed fields; NULL or the contract's "probe: ..." error */
static char *validate_job(jv_t *f, probe_job *job) {
    memset(job, 0, sizeof *job);
    job->ca_file = str_field(&f[F_CA_FILE]);
    job->host = str_field(&f[F_HOST]);
    job->servername = str_field(&f[F_SERVERNAME]);
    job->tls_version = str_field(&f[F_TLS_VERSION]);
    if (!job->ca_file) return probe_strdup_printf("probe: cannot load CA file: ca_file missing or not a string");
    if (!job->host || !job->servername || f[F_PORT].kind != JV_NUM || f[F_PORT].num < 1 || f[F_PORT].num > 65535)
        return probe_strdup_printf("probe: invalid job: host, servername (strings) and port (1-65535) are required");
    if (f[F_TLS_VERSION].kind != JV_NULL && f[F_TLS_VERSION].kind != JV_MISSING &&
        !(job->tls_version && (!strcmp(job->tls_version, "1.2") || !strcmp(job->tls_version, "1.3"))))
        return probe_strdup_printf("probe: unknown tls_version %.*s", (int)f[F_TLS_VERSION].raw_len,
                                   f[F_TLS_VERSION].raw);
    job->client_cert_file = str_field(&f[F_CLIENT_CERT]);
    job->client_key_file = str_field(&f[F_CLIENT_KEY]);
    if (!job->client_cert_file != !job->client_key_file)
        return probe_strdup_printf("probe: client_cert_file and client_key_file go together");
    job->port = (int)f[F_PORT].num;
    job->servername_is_ip = is_ip_literal(job->servername);
    job->timeout_ms = f[F_TIMEOUT_MS].kind == JV_NUM && f[F_TIMEOUT_MS].num >= 1 ? f[F_TIMEOUT_MS].num : 10000;
    char *error = code_list(&f[F_GROUP_CODES], "group_codes", job->groups, &job->n_groups);
    return error ? error : code_list(&f[F_KEY_SHARE_CODES], "key_share_codes", job->key_shares, &job->n_key_shares);
}

static void answer_line(const probe_stack *stack, buf_t *out, const char *line, size_t len) {
    double start = now_ms();
    jv_t f[F_COUNT];
    memset(f, 0, sizeof f);
    jp_t p = {line, 0, len, NULL};
    probe_result r;
    memset(&r, 0, sizeof r);
    if (memchr(line, '\0', len) || parse_job(&p, f) < 0) {
        r.error = probe_strdup_printf("probe: invalid job line: %s at offset %zu", p.err ? p.err : "NUL byte in line", p.i);
        f[F_ID].kind = JV_MISSING;
    } else {
        probe_job job;
        r.error = validate_job(f, &job);
        if (!r.error) {
            job.deadline = start + job.timeout_ms;
            stack->handshake(&job, &r);
            if (!r.ok && !r.error) r.error = probe_strdup_printf("probe: %s gave no error text", stack->program);
        }
    }
    write_result(out, &f[F_ID], &r, now_ms() - start);
    free(r.error);
    free(r.error_detail);
    job_free(f);
}

int probe_main(const probe_stack *stack) {
    program = stack->program;
    signal(SIGPIPE, SIG_IGN);
    buf_t out = {0};
    buf_reserve(&out, 512);
    stack->hello(&out);
    emit(&out);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) len--;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t')) k++;
        if (k < len) answer_line(stack, &out, line, len); /* blank lines are skipped */
    }
    free(line);
    free(out.p);
    return 0;
}
