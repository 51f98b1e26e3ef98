/*
 * client_tls.c - line client for the TLS echo server.
 *
 *   cc -std=c11 -Wall -Wextra client_tls.c -o client_tls $(pkg-config --cflags --libs openssl)
 *   ./client_tls [-t SECONDS] [-C CAFILE] [HOST [PORT]]
 *
 * client.c with TLS: after connect, a handshake in which the client checks
 * that the server's certificate is signed by a CA it trusts (CAFILE), is
 * still valid, and names HOST; only then does it send a line, and it never
 * falls back to plaintext. SSL_read and SSL_write take the place of recv and
 * send. With SSLKEYLOGFILE set it appends the session's secrets there, so
 * that Wireshark can decrypt a capture. `diff -u client.c client_tls.c` is
 * the lesson. The contract is SPEC.md ("TLS"); the Rust twin is
 * tls/src/bin/client_tls.rs.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define BUF_SIZE 1024 /* bytes per read(2) of stdin and per recv(2) of an echo */
#define PEER_SIZE sizeof "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"

static const char *const prog = "client_tls";
static const char usage[] = "usage: client_tls [-t SECONDS] [-C CAFILE] [HOST [PORT]]\n";

struct options {
    const char *host;
    unsigned port;
    unsigned reply_timeout; /* seconds */
    const char *ca_file; /* -C: the certificates this client trusts, PEM */
};

static FILE *keylog; /* SSLKEYLOGFILE, opened for appending; NULL without it */

/*
 * Bytes read from stdin and not yet sent. The client reads stdin with read(2)
 * into this buffer, not with stdio: poll(2) sees only what the kernel holds,
 * so lines that stdio had already read ahead would wait for an input that
 * never comes ("printf 'a\nb\nquit\n' | ./client" would hang after "a").
 */
struct input {
    char *data;
    size_t len;
    size_t cap;
    size_t scanned; /* bytes at the start known to hold no '\n' */
    bool eof;
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

static void parse_tls_options(int argc, char **argv, struct options *opt)
{
    opt->host = "127.0.0.1";
    opt->port = 8443;
    opt->reply_timeout = 5;
    opt->ca_file = "build/tls/ca.pem";

    /* '+': stop at the first operand (POSIX); ':': report a missing value as ':'. */
    int c;
    opterr = 0;
    while ((c = getopt(argc, argv, "+:t:C:h")) != -1) {
        switch (c) {
        case 't':
            if (!parse_number(optarg, 1, 3600, &opt->reply_timeout))
                usage_error("bad timeout: %s", optarg);
            break;
        case 'C':
            opt->ca_file = optarg;
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
        opt->host = argv[optind++];
    if (optind < argc) {
        if (!parse_number(argv[optind], 1, 65535, &opt->port))
            usage_error("bad port: %s", argv[optind]);
        optind++;
    }
    if (optind < argc)
        usage_error("unexpected argument: %s", argv[optind]);
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

/*
 * A record that held no data (a session ticket some servers send after the
 * handshake): SSL_read returns with nothing, as this client turns libssl's
 * auto-retry off so that a ticket cannot hold it in a read. Not a timeout.
 */
static bool no_data(SSL *ssl, int ret)
{
    return SSL_get_error(ssl, ret) == SSL_ERROR_WANT_READ && errno != EAGAIN;
}

/*
 * getaddrinfo(3) for HOST, any family, then each address in the order given
 * until one connects (Beej's loop: "localhost" may give ::1 and 127.0.0.1).
 * Returns the connected socket; server_addr says which address answered.
 */
static int connect_to(const struct options *opt, char *server_addr)
{
    /* step: resolve */
    char service[sizeof "65535"];
    snprintf(service, sizeof service, "%u", opt->port);
    struct addrinfo hints, *found;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int err = getaddrinfo(opt->host, service, &hints, &found);
    if (err != 0) {
        fprintf(stderr, "%s: resolve %s: %s\n", prog, opt->host, gai_strerror(err));
        exit(1);
    }

    int fd = -1;
    char what[sizeof "connect " + PEER_SIZE] = "connect";
    for (struct addrinfo *ai = found; ai != NULL && fd < 0; ai = ai->ai_next) {
        format_addr(ai->ai_addr, server_addr);
        /* step: socket */
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            snprintf(what, sizeof what, "socket");
            continue;
        }
        /* step: connect */
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            err = errno;
            snprintf(what, sizeof what, "connect %s", server_addr);
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(found);
    if (fd < 0) {
        errno = err; /* the last address's failure */
        die(what);
    }

    /* step: setsockopt */
    /* An echo that does not come within the timeout fails recv with EAGAIN. */
    struct timeval timeout = {.tv_sec = (time_t)opt->reply_timeout, .tv_usec = 0};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) < 0)
        die("setsockopt SO_RCVTIMEO");
    return fd;
}

/* libssl's keylog callback: one line of the NSS key log format per secret. */
static void write_keylog(const SSL *ssl, const char *line)
{
    (void)ssl;
    fprintf(keylog, "%s\n", line);
    fflush(keylog);
}

/*
 * The client's TLS context: TLS 1.2 at least, the CAs it trusts, and
 * SSL_VERIFY_PEER, without which libssl would accept any certificate and
 * the encryption would protect nothing against a man in the middle.
 */
static SSL_CTX *tls_client_context(const struct options *opt)
{
    /* step: context */
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        tls_die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    /* A server's EOF without close_notify reads as "server closed the connection". */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_clear_mode(ctx, SSL_MODE_AUTO_RETRY);

    /* step: trust */
    char what[sizeof "CA file " + 4096];
    snprintf(what, sizeof what, "CA file %s", opt->ca_file);
    if (SSL_CTX_load_verify_locations(ctx, opt->ca_file, NULL) != 1)
        tls_die(what);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);

    /* step: key log */
    const char *keylog_file = getenv("SSLKEYLOGFILE");
    if (keylog_file != NULL) {
        keylog = fopen(keylog_file, "a");
        if (keylog == NULL)
            die(keylog_file);
        SSL_CTX_set_keylog_callback(ctx, write_keylog);
    }
    return ctx;
}

/*
 * The handshake on the connected socket. The certificate must name HOST: an
 * IP address is checked against the certificate's IP addresses, a name
 * against its DNS names (and sent as SNI, so a server of many names knows
 * which is meant). A failure ends the client: no plaintext fallback.
 */
static SSL *tls_handshake(SSL_CTX *ctx, int fd, const struct options *opt, const char *server_addr)
{
    /* step: handshake */
    SSL *ssl = SSL_new(ctx);
    if (ssl == NULL)
        tls_die("SSL_new");
    SSL_set_fd(ssl, fd);
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, opt->host) != 1) {
        ERR_clear_error(); /* not an IP address: a name */
        SSL_set_tlsext_host_name(ssl, opt->host);
        X509_VERIFY_PARAM_set1_host(param, opt->host, 0);
    }
    int ret = SSL_connect(ssl);
    if (ret != 1) {
        long verify = SSL_get_verify_result(ssl);
        const char *reason = tls_reason(ssl, ret);
        if (verify != X509_V_OK)
            fprintf(stderr, "%s: TLS handshake with %s: %s: %s\n", prog, server_addr, reason,
                    X509_verify_cert_error_string(verify));
        else
            fprintf(stderr, "%s: TLS handshake with %s: %s\n", prog, server_addr, reason);
        exit(1);
    }
    return ssl;
}

/* Length of the first whole line in the input, '\n' included, or 0 if there
 * is none yet. At the end of stdin a last line without '\n' gets one. Only
 * the bytes not yet searched are searched: a long line arrives 1024 bytes a
 * read, and searching it all again each time would be quadratic. */
static size_t find_line(struct input *in)
{
    if (in->len == 0)
        return 0;
    char *newline = memchr(in->data + in->scanned, '\n', in->len - in->scanned);
    if (newline != NULL)
        return (size_t)(newline - in->data) + 1;
    in->scanned = in->len;
    if (in->eof && in->len > 0) {
        in->data[in->len++] = '\n'; /* read_input always leaves room for it */
        return in->len;
    }
    return 0;
}

/* One read(2) of stdin into the input buffer; returns how many bytes came. */
static size_t read_input(struct input *in)
{
    if (in->cap - in->len < BUF_SIZE + 1) {
        size_t cap = 2 * in->cap + BUF_SIZE + 1;
        char *data = realloc(in->data, cap);
        if (data == NULL)
            die("realloc");
        in->data = data;
        in->cap = cap;
    }
    ssize_t n;
    do {
        n = read(STDIN_FILENO, in->data + in->len, BUF_SIZE);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        die("read stdin");
    if (n == 0)
        in->eof = true;
    in->len += (size_t)n;
    return (size_t)n;
}

/* Drop the first len bytes of the input: that line is done. */
static void consume(struct input *in, size_t len)
{
    memmove(in->data, in->data + len, in->len - len);
    in->len -= len;
    in->scanned = 0;
}

/*
 * Between echoes the server has nothing to say but TLS's own messages, so a
 * readable socket holding data means it closed the connection (after its
 * idle timeout, say) or broke the protocol. A record with no data (a session
 * ticket) is kept by libssl, and the wait goes on. If the prompt is showing,
 * the message starts a line of its own.
 */
static void tls_server_gone(SSL *ssl, bool prompt_showing)
{
    char byte;
    int n = tls_read(ssl, &byte, 1);
    if (n <= 0 && no_data(ssl, n))
        return;
    if (prompt_showing)
        putchar('\n');
    if (n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) {
        printf("server closed the connection\n");
        exit(1);
    }
    if (n <= 0) {
        fprintf(stderr, "%s: recv: %s\n", prog, tls_reason(ssl, n));
        exit(1);
    }
    fprintf(stderr, "%s: unexpected data from server\n", prog);
    exit(1);
}

/* Wait until stdin has input; notice at once if the server goes away. */
static void tls_wait_for_input(SSL *ssl, int fd, bool prompt_showing)
{
    /* step: poll */
    struct pollfd fds[2] = {
        {.fd = STDIN_FILENO, .events = POLLIN},
        {.fd = fd, .events = POLLIN},
    };
    for (;;) {
        int n = poll(fds, 2, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (fds[1].revents != 0)
            tls_server_gone(ssl, prompt_showing);
        if (fds[0].revents != 0)
            return;
    }
}

/* Read back the echo of one piece: exactly len bytes, the bytes sent. */
static void tls_receive_echo(SSL *ssl, const char *sent, size_t len, unsigned reply_timeout)
{
    /* step: echo */
    char buf[BUF_SIZE];
    size_t received = 0;
    while (received < len) {
        int n = tls_read(ssl, buf, len - received);
        if (n <= 0 && no_data(ssl, n))
            continue;
        if (n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) {
            printf("server closed the connection\n");
            exit(1);
        }
        if (n <= 0 && SSL_get_error(ssl, n) == SSL_ERROR_WANT_READ) {
            printf("no reply within %u s\n", reply_timeout);
            exit(1);
        }
        if (n <= 0) {
            fprintf(stderr, "%s: recv: %s\n", prog, tls_reason(ssl, n));
            exit(1);
        }
        if (memcmp(buf, sent + received, (size_t)n) != 0) {
            fprintf(stderr, "%s: echo mismatch\n", prog);
            exit(1);
        }
        received += (size_t)n;
    }
}

/* "prog: send: REASON" and exit 1. */
static void tls_send(SSL *ssl, const char *data, size_t len)
{
    int n = tls_write(ssl, data, len);
    if (n <= 0) {
        fprintf(stderr, "%s: send: %s\n", prog, tls_reason(ssl, n));
        exit(1);
    }
}

/*
 * Send one line, check its echo, print it. A line longer than BUF_SIZE goes
 * in pieces of BUF_SIZE bytes, each echo read before the next piece is sent,
 * as the server echoes every full BUF_SIZE piece. Sending it all first would
 * deadlock once the line outgrows the socket buffers: the server stops
 * reading while it cannot send its echo, and we would not be reading either.
 */
static void tls_echo_line(SSL *ssl, const char *line, size_t len, unsigned reply_timeout)
{
    for (size_t sent = 0; sent < len;) {
        size_t piece = len - sent < BUF_SIZE ? len - sent : BUF_SIZE;
        tls_send(ssl, line + sent, piece);
        tls_receive_echo(ssl, line + sent, piece, reply_timeout);
        sent += piece;
    }

    char *text = malloc(4 * len + 1);
    if (text == NULL)
        die("malloc");
    escape(line, len - 1, text);
    printf("echo: %s\n", text);
    free(text);
}

int main(int argc, char **argv)
{
    struct options opt;
    parse_tls_options(argc, argv, &opt);
    setvbuf(stdout, NULL, _IOLBF, 0); /* one whole line per write, also into a pipe */
    /* libssl writes with write(2), which has no MSG_NOSIGNAL: a vanished
       server must give EPIPE, not a process-killing SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    SSL_CTX *ctx = tls_client_context(&opt);

    char server_addr[PEER_SIZE];
    int fd = connect_to(&opt, server_addr);
    SSL *ssl = tls_handshake(ctx, fd, &opt, server_addr);
    printf("connected to %s (%s, %s)\n", server_addr, SSL_get_version(ssl), SSL_get_cipher_name(ssl));

    bool interactive = isatty(STDIN_FILENO);
    bool prompt_showing = false; /* "> " on the screen, the cursor after it */
    struct input in = {0};
    for (;;) {
        size_t len = find_line(&in);
        if (len == 0 && in.eof)
            break; /* end of stdin: say quit */
        if (len == 0) {
            if (interactive && in.len == 0) {
                fputs("> ", stdout);
                fflush(stdout);
                prompt_showing = true;
            }
            tls_wait_for_input(ssl, fd, prompt_showing);
            size_t n = read_input(&in);
            /* Enter ends the prompt's line; Ctrl-D leaves the cursor on it. */
            if (prompt_showing && n > 0)
                prompt_showing = in.data[in.len - 1] != '\n';
            continue;
        }
        if (prompt_showing) {
            /* Ctrl-D after a partial line: the cursor is still on the prompt's line. */
            putchar('\n');
            prompt_showing = false;
        }
        if (is_quit(in.data, len))
            break;
        tls_echo_line(ssl, in.data, len, opt.reply_timeout);
        consume(&in, len);
    }

    /* step: close */
    tls_send(ssl, "quit\n", 5);
    if (prompt_showing)
        putchar('\n');
    printf("closing connection\n");
    /* close_notify, then wait (at most the reply timeout) for the server's:
       both sides know the stream ended whole, and no byte is left unread to
       make the kernel answer the server with RST. */
    if (SSL_shutdown(ssl) == 0)
        SSL_shutdown(ssl);
    ERR_clear_error();
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    free(in.data);
    return 0;
}
