/*
 * client_udp.c - line client for the UDP echo server.
 *
 *   cc -std=c11 -Wall -Wextra client_udp.c -o client_udp
 *   ./client_udp [-t SECONDS] [HOST [PORT]]
 *
 * Sends each line of stdin as one datagram and waits for it to come back.
 * Nothing brings a lost datagram back, so a line may get no reply (it says
 * so and goes on with the next one), and an echo may come after its wait is
 * over (it is shown as late). The socket is connected (Stevens UNP 8.11):
 * no handshake is sent, but the kernel then keeps only the server's
 * datagrams and reports "port unreachable" as ECONNREFUSED. "quit" or the
 * end of stdin ends the client; there is no session to end, so nothing is
 * sent. The contract is SPEC.md ("UDP"); the Rust twin is
 * src/bin/client_udp.rs, and client.c is the same client over TCP.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define BUF_SIZE 1024 /* bytes per read(2) of stdin */
#define DATAGRAM_SIZE 65536 /* more than the largest UDP payload: no echo is cut */
#define MAX_DATAGRAM_V4 65507 /* 65,535 less the IPv4 header (20) and the UDP header (8) */
#define MAX_DATAGRAM_V6 65527 /* 65,535 less the UDP header: IPv6 counts its own header apart */
#define PEER_SIZE sizeof "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"

static const char *const prog = "client_udp";
static const char usage[] = "usage: client_udp [-t SECONDS] [HOST [PORT]]\n";

struct options {
    const char *host;
    unsigned port;
    unsigned reply_timeout; /* seconds */
};

/*
 * Bytes read from stdin and not yet sent. The client reads stdin with read(2)
 * into this buffer, not with stdio, as client.c does (there for poll(2));
 * the same code reads lines of any length.
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

/* client.c's options; the wait is shorter (1 s): a lost datagram is normal here. */
static void parse_udp_client_options(int argc, char **argv, struct options *opt)
{
    opt->host = "127.0.0.1";
    opt->port = 8080;
    opt->reply_timeout = 1;

    /* '+': stop at the first operand (POSIX); ':': report a missing value as ':'. */
    int c;
    opterr = 0;
    while ((c = getopt(argc, argv, "+:t:h")) != -1) {
        switch (c) {
        case 't':
            if (!parse_number(optarg, 1, 3600, &opt->reply_timeout))
                usage_error("bad timeout: %s", optarg);
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
 * getaddrinfo(3) for HOST, any family, datagram sockets, then each address
 * in the order given until a socket connects. connect(2) on a datagram
 * socket sends nothing: it fixes the peer (send needs no address, recv
 * takes only the server's datagrams) and lets the kernel report the ICMP
 * errors that come back. Returns the socket; server_addr says which
 * address it is connected to, max_datagram the largest line it can carry.
 */
static int connect_udp(const struct options *opt, char *server_addr, size_t *max_datagram)
{
    /* step: resolve */
    char service[sizeof "65535"];
    snprintf(service, sizeof service, "%u", opt->port);
    struct addrinfo hints, *found;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    int err = getaddrinfo(opt->host, service, &hints, &found);
    if (err != 0) {
        fprintf(stderr, "%s: resolve %s: %s\n", prog, opt->host, gai_strerror(err));
        exit(1);
    }

    int fd = -1;
    char what[sizeof "connect " + PEER_SIZE] = "connect";
    for (struct addrinfo *ai = found; ai != NULL && fd < 0; ai = ai->ai_next) {
        format_addr(ai->ai_addr, server_addr);
        *max_datagram = ai->ai_family == AF_INET6 ? MAX_DATAGRAM_V6 : MAX_DATAGRAM_V4;
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

/* "echo: TEXT" or "late: TEXT": the datagram without one final '\n', escaped. */
static void print_datagram(const char *label, const char *data, size_t len)
{
    char *text = malloc(4 * len + 1);
    if (text == NULL)
        die("malloc");
    escape(data, len > 0 && data[len - 1] == '\n' ? len - 1 : len, text);
    printf("%s: %s\n", label, text);
    free(text);
}

/*
 * Wait for the echo of one datagram. Any other datagram is the echo of an
 * earlier line that missed its wait: shown as late, and the wait goes on
 * (each recv waits the whole timeout again). No datagram in time: this
 * line's echo, or the line itself, was lost; say so and go on.
 */
static void receive_datagram_echo(int fd, const char *sent, size_t len, unsigned reply_timeout)
{
    /* step: echo */
    static char buf[DATAGRAM_SIZE];
    for (;;) {
        ssize_t n = recv_retry(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                die("recv"); /* ECONNREFUSED: port unreachable, no server there */
            printf("no reply within %u s\n", reply_timeout);
            return;
        }
        if ((size_t)n == len && memcmp(buf, sent, len) == 0) {
            print_datagram("echo", buf, len);
            return;
        }
        print_datagram("late", buf, (size_t)n);
    }
}

/*
 * Send one line as one datagram and wait for its echo. A datagram is sent
 * whole or not at all: no loop for a short send, no pieces; a line that does
 * not fit in one is not sent.
 */
static void echo_datagram(int fd, const char *line, size_t len, size_t max_datagram,
                          unsigned reply_timeout)
{
    if (len > max_datagram) {
        printf("line too long for one datagram\n");
        return;
    }
    /* step: send */
    ssize_t n;
    do {
        n = send(fd, line, len, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        die("send");
    receive_datagram_echo(fd, line, len, reply_timeout);
}

int main(int argc, char **argv)
{
    struct options opt;
    parse_udp_client_options(argc, argv, &opt);
    setvbuf(stdout, NULL, _IOLBF, 0); /* one whole line per write, also into a pipe */

    char server_addr[PEER_SIZE];
    size_t max_datagram = 0;
    int fd = connect_udp(&opt, server_addr, &max_datagram);
    printf("sending to %s (UDP)\n", server_addr);

    bool interactive = isatty(STDIN_FILENO);
    bool prompt_showing = false; /* "> " on the screen, the cursor after it */
    struct input in = {0};
    for (;;) {
        size_t len = find_line(&in);
        if (len == 0 && in.eof)
            break; /* end of stdin */
        if (len == 0) {
            if (interactive && in.len == 0) {
                fputs("> ", stdout);
                fflush(stdout);
                prompt_showing = true;
            }
            /* No connection to watch while the user types: just read. */
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
        echo_datagram(fd, in.data, len, max_datagram, opt.reply_timeout);
        consume(&in, len);
    }

    /* step: close */
    /* Nothing to send: the server keeps no session, so there is none to end. */
    if (prompt_showing)
        putchar('\n');
    close(fd);
    free(in.data);
    return 0;
}
