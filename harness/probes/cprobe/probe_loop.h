/*
 * The probe contract's JSON-lines loop for the C probes (docs/probe-contract.md, "Client probes"),
 * shared by wolfSSL, GnuTLS, NSS and libcurl: each stack's probe.c supplies only its hello and one
 * handshake. Only libc; the JSON reader handles what the contract sends (one flat object per line;
 * nested values are skipped), the writer escapes strings.
 *
 * Build: gcc -O2 -Wall -I../cprobe -o OUT probe.c ../cprobe/probe_loop.c -l<stack>
 */
#ifndef TLSMATRIX_PROBE_LOOP_H
#define TLSMATRIX_PROBE_LOOP_H

#include <stddef.h>

/* growable string buffer (always NUL-terminated) */
typedef struct { char *p; size_t len, cap; } buf_t;
void buf_add(buf_t *b, const char *s, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_jstr(buf_t *b, const char *s); /* a JSON string literal, or null for NULL */

/* one validated job: the loop answers invalid lines itself and never calls the stack for them */
typedef struct {
    const char *host, *servername, *ca_file;
    const char *tls_version;                        /* NULL (client defaults), "1.2" or "1.3" */
    const char *client_cert_file, *client_key_file; /* NULL unless both are sent (mTLS) */
    int port;
    int servername_is_ip;                           /* an IP literal: checked against IP SANs, no SNI */
    int n_groups;                                   /* key-exchange groups to offer (0: the stack's own) */
    unsigned int groups[16];                        /* their IANA code points, in preference order */
    int n_key_shares;                               /* of them, those to send a key share for (0: the stack's) */
    unsigned int key_shares[16];
    double timeout_ms, deadline;                    /* deadline: now_ms() clock, connect + handshake */
} probe_job;

/* what a handshake fills in; strings are malloc'd (probe_strdup_printf), freed by the loop */
typedef struct {
    int ok;
    char *error;        /* the stack's own text, unedited (required when !ok) */
    char *error_detail; /* optional second rendering (codes, alert numbers) */
    char version[32], cipher[96], group[48], sigalg[64]; /* negotiated; "" = unknown */
    int hello_seen;     /* the probe watched the server's ServerHello(s): hrr is known (else null) */
    int hrr;            /* a HelloRetryRequest came */
} probe_result;

/* a received handshake message, type byte first (OpenSSL's and wolfSSL's message callbacks): a
 * ServerHello sets hello_seen, one with RFC 8446's HelloRetryRequest random sets hrr */
void probe_saw_handshake(probe_result *r, const unsigned char *msg, size_t len);

typedef struct {
    const char *program;                                  /* for stderr messages */
    void (*hello)(buf_t *b);                              /* appends {"hello": {...}} (no newline) */
    void (*handshake)(const probe_job *job, probe_result *r);
} probe_stack;

/* reads jobs from stdin until EOF, one answer line per job; returns the exit status */
int probe_main(const probe_stack *stack);

double now_ms(void); /* CLOCK_MONOTONIC in milliseconds */
char *probe_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 ready, 0 deadline passed, -1 error (errno) */
int probe_wait_fd(int fd, int want_write, double deadline);
/* a non-blocking TCP connection to job->host:port within the deadline, or -1 with r->error set
 * ("connect to H:P: <strerror>", "timeout: connect to ...", "getaddrinfo H: ...") */
int probe_tcp_connect(const probe_job *job, probe_result *r);

#endif
