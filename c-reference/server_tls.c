/*
 * server_tls.c - TLS echo server, one thread per client.
 *
 *   cc -std=c11 -Wall -Wextra -pthread server_tls.c -o server_tls $(pkg-config --cflags --libs openssl)
 *   ./server_tls [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-c CERT] [-k KEY]
 *
 * server.c with TLS between it and its clients, over OpenSSL's libssl: the
 * same lines, framed and echoed by the same rules, but inside TLS records,
 * so that what crosses the network is unreadable to anyone without the
 * session's keys. After accept, a handshake proves the server holds the
 * private key of its certificate and agrees the keys; SSL_read and SSL_write
 * then take the place of recv and send. `diff -u server.c server_tls.c` is
 * the lesson. The contract is SPEC.md ("TLS"); the Rust twin is
 * tls/src/bin/server_tls.rs.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 1024                  /* recv buffer; also the longest piece echoed */
#define BACKLOG SOMAXCONN              /* connections the kernel queues before accept */
#define DRAIN_SECONDS 2                /* how long to read what a client sends after quit */
#define THREAD_STACK_SIZE (64 * 1024)  /* the echo loop needs ~6 KiB; keep idle clients cheap */
#define PEER_SIZE sizeof "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"
#define ESCAPED_SIZE (4 * BUF_SIZE + 1) /* every byte may become \xHH */
#define STDOUT_SIZE 8192 /* stdout's buffer: more than the longest log line (a piece escaped, 4096 bytes) */

#define WHAT_SIZE 4096 /* "certificate PATH" in an error message */

static const char *const prog = "server_tls";
static const char usage[] =
    "usage: server_tls [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-c CERT] [-k KEY]\n";

struct options {
    struct sockaddr_storage bind_addr; /* -b and -p: an IPv4 or IPv6 address, and the port */
    unsigned idle_timeout; /* seconds */
    bool quiet;
    const char *cert_file; /* -c: the certificate chain, PEM */
    const char *key_file;  /* -k: its private key, PEM */
};

/* What a client thread owns: malloc'd by main, freed by the thread. */
struct client {
    int fd;
    char peer[PEER_SIZE];
    const struct options *opt;
    SSL_CTX *ctx; /* shared by every thread: libssl locks what it changes */
};

/* "prog: what: strerror(errno)" and exit 1, as netcat does. */
static void die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
    exit(1);
}

/* A bad command line: say what is wrong, show the usage, exit 2. */
static void usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: ", prog);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    exit(2);
}

/* Digits only, within [min, max]: strtol alone would take " 8", "+8" and "8x". */
static bool parse_number(const char *s, unsigned min, unsigned max, unsigned *out)
{
    size_t len = strlen(s);
    if (len == 0 || len > 9 || strspn(s, "0123456789") != len)
        return false;
    unsigned long value = strtoul(s, NULL, 10);
    if (value < min || value > max)
        return false;
    *out = (unsigned)value;
    return true;
}

/* A numeric IPv4 or IPv6 address, as inet_pton(3) reads it; the port stays 0. */
static bool parse_bind_addr(const char *text, struct sockaddr_storage *addr)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)addr;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)addr;
    memset(addr, 0, sizeof *addr);
    if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        return true;
    }
    return false;
}

/* The port of an IPv4 or IPv6 address, in network byte order in both. */
static in_port_t *port_of(struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET6)
        return &((struct sockaddr_in6 *)addr)->sin6_port;
    return &((struct sockaddr_in *)addr)->sin_port;
}

/* How many bytes of the storage bind(2) reads: the size of its family's struct. */
static socklen_t addr_len(const struct sockaddr_storage *addr)
{
    return addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static void parse_tls_options(int argc, char **argv, struct options *opt)
{
    unsigned port = 8443;
    parse_bind_addr("0.0.0.0", &opt->bind_addr);
    opt->idle_timeout = 5;
    opt->quiet = false;
    opt->cert_file = "build/tls/server.pem";
    opt->key_file = "build/tls/server.key";

    /* '+': stop at the first operand (POSIX); ':': report a missing value as ':'. */
    int c;
    opterr = 0;
    while ((c = getopt(argc, argv, "+:b:p:t:qc:k:h")) != -1) {
        switch (c) {
        case 'b':
            if (!parse_bind_addr(optarg, &opt->bind_addr))
                usage_error("bad address: %s", optarg);
            break;
        case 'p':
            if (!parse_number(optarg, 0, 65535, &port))
                usage_error("bad port: %s", optarg);
            break;
        case 't':
            if (!parse_number(optarg, 1, 3600, &opt->idle_timeout))
                usage_error("bad timeout: %s", optarg);
            break;
        case 'q':
            opt->quiet = true;
            break;
        case 'c':
            opt->cert_file = optarg;
            break;
        case 'k':
            opt->key_file = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        case ':':
            usage_error("option -%s needs a value", (char[]){(char)optopt, '\0'});
            break;
        default: /* '?' */
            usage_error("unknown option -%s", (char[]){(char)optopt, '\0'});
        }
    }
    if (optind < argc)
        usage_error("unexpected argument: %s", argv[optind]);
    *port_of(&opt->bind_addr) = htons((uint16_t)port);
}

/*
 * "a.b.c.d:port" or "[v6addr]:port", the form every log line and error
 * message uses. An IPv4 client of an IPv6 socket arrives as ::ffff:a.b.c.d
 * (IPv4-mapped) and is shown as the IPv4 address it is.
 */
static void format_addr(const struct sockaddr *addr, char *out)
{
    char ip[INET6_ADDRSTRLEN];
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)addr;
        unsigned port = ntohs(v6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) {
            inet_ntop(AF_INET, &v6->sin6_addr.s6_addr[12], ip, sizeof ip);
            snprintf(out, PEER_SIZE, "%s:%u", ip, port);
        } else {
            inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
            snprintf(out, PEER_SIZE, "[%s]:%u", ip, port);
        }
    } else {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        snprintf(out, PEER_SIZE, "%s:%u", ip, (unsigned)ntohs(v4->sin_port));
    }
}

/*
 * The length of the UTF-8 sequence at s (at most len bytes) if it is well
 * formed (shortest form, no surrogate, at most U+10FFFF) and its character is
 * text a terminal shows: U+00A0 and up, less the invisible characters that
 * hide or reorder text. 0 for anything else.
 */
static size_t printable_utf8(const unsigned char *s, size_t len)
{
    static const uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000}; /* by length */
    size_t n;
    uint32_t c;
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2, c = s[0] & 0x1f;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        n = 3, c = s[0] & 0x0f;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4, c = s[0] & 0x07;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < smallest[n] || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
        return 0;
    if (c < 0xa0 || c == 0xad || (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
        (c >= 0x2060 && c <= 0x206f) || c == 0xfeff)
        return 0;
    return n;
}

/*
 * Text as text, every other byte made visible: printable ASCII and printable
 * UTF-8 as they are; \\ \t \r \n; any other byte as \xHH. A peer's bytes
 * never reach the terminal raw (no escape sequences, no reordering).
 */
static void escape(const char *data, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)data[i];
        size_t text_len = b >= 0x80 ? printable_utf8((const unsigned char *)data + i, len - i) : 0;
        if (text_len > 0) {
            memcpy(out, data + i, text_len);
            out += text_len;
            i += text_len - 1;
            continue;
        }
        switch (b) {
        case '\\': *out++ = '\\'; *out++ = '\\'; break;
        case '\t': *out++ = '\\'; *out++ = 't'; break;
        case '\r': *out++ = '\\'; *out++ = 'r'; break;
        case '\n': *out++ = '\\'; *out++ = 'n'; break;
        default:
            if (b >= 0x20 && b <= 0x7e) {
                *out++ = (char)b;
            } else {
                *out++ = '\\'; *out++ = 'x';
                *out++ = hex[b >> 4]; *out++ = hex[b & 0xf];
            }
        }
    }
    *out = '\0';
}

/* A whole line "quit\n" or "quit\r\n". */
static bool is_quit(const char *line, size_t len)
{
    return (len == 5 && memcmp(line, "quit\n", 5) == 0) ||
           (len == 6 && memcmp(line, "quit\r\n", 6) == 0);
}

/* The text of an OpenSSL error code; a system error (a missing file) carries an errno. */
static const char *error_reason(unsigned long code)
{
    if (ERR_SYSTEM_ERROR(code))
        return strerror(ERR_GET_REASON(code));
    const char *reason = ERR_reason_error_string(code);
    return reason != NULL ? reason : "unknown error";
}

/*
 * Why a TLS call failed: the reason of the first error in OpenSSL's queue
 * (a bad record, the peer's alert, an old protocol version), else the
 * system's (errno), else the timeout. Empties the queue: the next call on
 * this thread must start with none, or SSL_get_error would misreport it.
 */
static const char *tls_reason(SSL *ssl, int ret)
{
    int saved_errno = errno;
    int err = SSL_get_error(ssl, ret);
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code != 0)
        return error_reason(code);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return "timed out"; /* SO_RCVTIMEO or SO_SNDTIMEO expired */
    if (err == SSL_ERROR_SYSCALL && saved_errno != 0)
        return strerror(saved_errno);
    return "unexpected end of stream";
}

/* "prog: what: REASON" from OpenSSL's error queue, and exit 1. */
static void tls_die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, error_reason(ERR_get_error()));
    exit(1);
}

/*
 * SSL_write(3): a record (or more) on the wire. The socket blocks and
 * partial writes are off (libssl's default), so it writes all of len or
 * fails. Returns what SSL_write returned: <= 0 is a failure.
 */
static int tls_write(SSL *ssl, const char *data, size_t len)
{
    /* step: send */
    int n;
    do {
        errno = 0;
        n = SSL_write(ssl, data, (int)len);
    } while (n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_WANT_WRITE && errno == EINTR);
    return n;
}

/* SSL_read(3), retried when a signal interrupts it; <= 0: SSL_get_error says why. */
static int tls_read(SSL *ssl, char *buf, size_t len)
{
    /* step: recv */
    int n;
    do {
        errno = 0;
        n = SSL_read(ssl, buf, (int)len);
    } while (n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ && errno == EINTR);
    return n;
}

/* recv(2), retried when a signal interrupts it. */
static ssize_t recv_retry(int fd, char *buf, size_t len)
{
    /* step: recv */
    ssize_t n;
    do {
        n = recv(fd, buf, len, 0);
    } while (n < 0 && errno == EINTR);
    return n;
}

/*
 * After quit: a FIN after the last echo (shutdown), then read and drop what
 * the client still sends until its end of stream, or DRAIN_SECONDS (at most
 * the idle timeout). Closing at once while the client's bytes are unread, or
 * still coming, makes the kernel answer with RST, and an RST throws away
 * every echo not yet delivered (nginx calls this a lingering close). The
 * caller closes the socket.
 */
static void lingering_close(int fd, unsigned idle_timeout)
{
    /* step: shutdown */
    unsigned drain = idle_timeout < DRAIN_SECONDS ? idle_timeout : DRAIN_SECONDS;
    struct timeval timeout = {.tv_sec = (time_t)drain, .tv_usec = 0};
    if (shutdown(fd, SHUT_WR) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0)
        return;
    struct timespec now, deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += drain;
    char discard[BUF_SIZE];
    /* The client's FIN, an error, or drain seconds of silence end it; so
     * does a client that is still sending when the deadline has passed. */
    do {
        if (recv_retry(fd, discard, sizeof discard) <= 0)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec < deadline.tv_sec ||
             (now.tv_sec == deadline.tv_sec && now.tv_nsec < deadline.tv_nsec));
}

/* Log one line or piece (unless -q), then echo it; SSL_write's result. */
static int tls_echo_piece(SSL *ssl, const char *peer, const char *data, size_t len,
                          const struct options *opt)
{
    if (!opt->quiet) {
        char text[ESCAPED_SIZE];
        bool has_newline = data[len - 1] == '\n';
        escape(data, has_newline ? len - 1 : len, text);
        printf("[%s] recv: %s\n", peer, text);
    }
    return tls_write(ssl, data, len);
}

/*
 * The echo loop of server.c over TLS: the same framing and log lines, with
 * SSL_read and SSL_write for recv and send. Returns when the session ends,
 * logging why. The caller frees the session and closes the socket.
 */
static void serve_tls_client(SSL *ssl, int fd, const char *peer, const struct options *opt)
{
    char buf[BUF_SIZE];
    size_t used = 0;        /* bytes in buf not yet echoed */
    bool mid_line = false;  /* a piece of the current line was already echoed */

    for (;;) {
        /* step: recv result */
        int n = tls_read(ssl, buf + used, sizeof buf - used);
        int err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, n);
        if (err == SSL_ERROR_ZERO_RETURN) {
            /* close_notify, or EOF without it: echo what is pending, then close. */
            int ret = used > 0 ? tls_echo_piece(ssl, peer, buf, used, opt) : 1;
            if (ret <= 0)
                printf("[%s] error: %s\n", peer, tls_reason(ssl, ret));
            else
                printf("[%s] disconnected\n", peer);
            return;
        }
        if (err == SSL_ERROR_WANT_READ) {
            /* SO_RCVTIMEO expired: say goodbye with close_notify, not a bare FIN. */
            printf("[%s] idle for %u s, closing\n", peer, opt->idle_timeout);
            SSL_shutdown(ssl);
            return;
        }
        if (err != SSL_ERROR_NONE) {
            printf("[%s] error: %s\n", peer, tls_reason(ssl, n));
            return;
        }
        used += (size_t)n;

        /* step: framing */
        size_t start = 0;
        char *newline;
        while ((newline = memchr(buf + start, '\n', used - start)) != NULL) {
            size_t len = (size_t)(newline - (buf + start)) + 1;
            if (!mid_line && is_quit(buf + start, len)) {
                printf("[%s] quit\n", peer);
                /* close_notify first: the client knows the stream ended whole. */
                SSL_shutdown(ssl);
                lingering_close(fd, opt->idle_timeout);
                return;
            }
            int ret = tls_echo_piece(ssl, peer, buf + start, len, opt);
            if (ret <= 0) {
                printf("[%s] error: %s\n", peer, tls_reason(ssl, ret));
                return;
            }
            mid_line = false;
            start += len;
        }
        memmove(buf, buf + start, used - start);
        used -= start;

        if (used == sizeof buf) {
            /* A full buffer without '\n': echo it as a piece; nothing is dropped. */
            int ret = tls_echo_piece(ssl, peer, buf, used, opt);
            if (ret <= 0) {
                printf("[%s] error: %s\n", peer, tls_reason(ssl, ret));
                return;
            }
            used = 0;
            mid_line = true;
        }
    }
}

/*
 * The handshake, in the client's thread: a client that stalls in it holds
 * up no one else, and the idle timeout (SO_RCVTIMEO, set before) ends it.
 */
static void *tls_client_thread(void *arg)
{
    struct client *client = arg;
    /* step: handshake */
    SSL *ssl = SSL_new(client->ctx);
    if (ssl == NULL) {
        printf("[%s] error: TLS handshake: %s\n", client->peer, "out of memory");
    } else {
        SSL_set_fd(ssl, client->fd);
        int ret = SSL_accept(ssl);
        if (ret == 1)
            serve_tls_client(ssl, client->fd, client->peer, client->opt);
        else
            printf("[%s] error: TLS handshake: %s\n", client->peer, tls_reason(ssl, ret));
        SSL_free(ssl);
    }
    /* step: close */
    close(client->fd);
    free(client);
    return NULL;
}

/* socket, SO_REUSEADDR, bind, listen; returns the socket and where it listens. */
static int open_listener(const struct options *opt, struct sockaddr_storage *addr)
{
    *addr = opt->bind_addr;
    /* step: socket */
    int fd = socket(addr->ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");

    /* step: setsockopt */
    /* Restart at once on the same port, even with old connections in TIME_WAIT. */
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
        die("setsockopt SO_REUSEADDR");
    /* An IPv6 socket takes IPv4 clients too (as ::ffff:a.b.c.d) when
     * IPV6_V6ONLY is 0; say so, whatever the system's default. */
    int off = 0;
    if (addr->ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0)
        die("setsockopt IPV6_V6ONLY");

    /* step: bind */
    if (bind(fd, (struct sockaddr *)addr, addr_len(addr)) < 0) {
        char where[PEER_SIZE];
        char what[sizeof "bind " + PEER_SIZE];
        format_addr((struct sockaddr *)addr, where);
        snprintf(what, sizeof what, "bind %s", where);
        die(what);
    }
    /* step: listen */
    if (listen(fd, BACKLOG) < 0)
        die("listen");

    /* step: getsockname */
    /* With -p 0 the kernel chose the port: ask which. */
    socklen_t len = sizeof *addr;
    if (getsockname(fd, (struct sockaddr *)addr, &len) < 0)
        die("getsockname");
    return fd;
}

static void *wait_for_shutdown(void *arg)
{
    const sigset_t *shutdown_signals = arg;
    int sig;
    sigwait(shutdown_signals, &sig);
    printf("shutting down\n");
    exit(0);
}

/*
 * SIGINT and SIGTERM are blocked in every thread (new threads inherit the
 * mask) and taken by one thread with sigwait: no handler, no flag, no race,
 * and no recv or accept is ever interrupted by them.
 */
static void start_shutdown_thread(void)
{
    /* step: signals */
    static sigset_t shutdown_signals;
    sigemptyset(&shutdown_signals);
    sigaddset(&shutdown_signals, SIGINT);
    sigaddset(&shutdown_signals, SIGTERM);
    if ((errno = pthread_sigmask(SIG_BLOCK, &shutdown_signals, NULL)) != 0)
        die("pthread_sigmask");

    /* step: shutdown thread */
    pthread_t thread;
    if ((errno = pthread_create(&thread, NULL, wait_for_shutdown, &shutdown_signals)) != 0)
        die("pthread_create");
}

/* accept(2), retried on EINTR; other errors (EMFILE...) are logged and paused on. */
static int accept_client(int listen_fd, char *peer)
{
    /* step: accept */
    for (;;) {
        struct sockaddr_storage addr; /* room for either family */
        socklen_t len = sizeof addr;
        int fd = accept(listen_fd, (struct sockaddr *)&addr, &len);
        if (fd >= 0) {
            format_addr((struct sockaddr *)&addr, peer);
            return fd;
        }
        if (errno == EINTR)
            continue;
        fprintf(stderr, "%s: accept: %s\n", prog, strerror(errno));
        /* Out of descriptors: the pending connection stays queued; do not spin. */
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 100 * 1000 * 1000}, NULL);
    }
}

/* The idle timeout on both directions, and no Nagle delay on the echo. */
static int configure_client(int fd, unsigned idle_timeout)
{
    /* step: configure */
    struct timeval timeout = {.tv_sec = (time_t)idle_timeout, .tv_usec = 0};
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
        return -1;
    return 0;
}

/*
 * The server's TLS context: TLS 1.2 at least, its certificate chain and the
 * private key that proves it owns it. No session tickets: they let a client
 * resume a later session, which these clients never do.
 */
static SSL_CTX *tls_server_context(const struct options *opt)
{
    /* step: context */
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        tls_die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A client's EOF without close_notify is "disconnected", as in server.c. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_num_tickets(ctx, 0);

    /* step: certificate */
    char what[WHAT_SIZE];
    snprintf(what, sizeof what, "certificate %s", opt->cert_file);
    if (SSL_CTX_use_certificate_chain_file(ctx, opt->cert_file) != 1)
        tls_die(what);
    snprintf(what, sizeof what, "key %s", opt->key_file);
    if (SSL_CTX_use_PrivateKey_file(ctx, opt->key_file, SSL_FILETYPE_PEM) != 1)
        tls_die(what);
    return ctx;
}

int main(int argc, char **argv)
{
    struct options opt;
    parse_tls_options(argc, argv, &opt);
    /* One whole line per write, also into a pipe: the buffer holds the
       longest line, so no line is written in two. */
    static char stdout_buffer[STDOUT_SIZE];
    setvbuf(stdout, stdout_buffer, _IOLBF, sizeof stdout_buffer);

    /* libssl writes with write(2), which has no MSG_NOSIGNAL: a vanished
       client must give EPIPE, not a process-killing SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    SSL_CTX *ctx = tls_server_context(&opt);

    start_shutdown_thread();

    struct sockaddr_storage listen_addr;
    int listen_fd = open_listener(&opt, &listen_addr);
    char where[PEER_SIZE];
    format_addr((struct sockaddr *)&listen_addr, where);
    printf("listening on %s (TLS, thread per client, idle timeout %u s)\n", where, opt.idle_timeout);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE);

    for (;;) {
        char peer[PEER_SIZE];
        int fd = accept_client(listen_fd, peer);
        printf("[%s] connected\n", peer);
        if (configure_client(fd, opt.idle_timeout) < 0) {
            printf("[%s] error: %s\n", peer, strerror(errno));
            close(fd);
            continue;
        }

        /* The thread gets its own copy: the next accept must not overwrite it. */
        struct client *client = malloc(sizeof *client);
        if (client == NULL) {
            printf("[%s] error: %s\n", peer, strerror(errno));
            close(fd);
            continue;
        }
        client->fd = fd;
        memcpy(client->peer, peer, sizeof client->peer);
        client->opt = &opt;
        client->ctx = ctx;

        /* step: thread */
        pthread_t thread;
        int err = pthread_create(&thread, &attr, tls_client_thread, client);
        if (err != 0) {
            /* EAGAIN (too many threads): lose this one connection, not the server. */
            printf("[%s] error: %s\n", peer, strerror(err));
            close(fd);
            free(client);
        }
    }
}
