/*
 * server_udp.c - UDP echo server, one socket for every client.
 *
 *   cc -std=c11 -Wall -Wextra -pthread server_udp.c -o server_udp
 *   ./server_udp [-b ADDR] [-p PORT] [-q]
 *
 * UDP carries datagrams, not a stream: each recvfrom(2) returns one whole
 * datagram and the address it came from, and sendto(2) sends it back there
 * as one datagram. There is no connection, so there is no listen, no accept,
 * no framing, no quit and no idle timeout, and one socket serves every
 * client (Stevens UNP 8.3, udpserv01). Nothing brings a lost datagram back:
 * the client notices and goes on. The contract is SPEC.md ("UDP"); the Rust
 * twin is src/bin/server_udp.rs, and server_single.c is the same echo over
 * TCP.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DATAGRAM_SIZE 65536 /* more than the largest UDP payload (65,527 bytes over IPv6): none is cut */
#define PEER_SIZE sizeof "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"
#define ESCAPED_SIZE (4 * DATAGRAM_SIZE + 1) /* every byte may become \xHH */
#define STDOUT_SIZE (ESCAPED_SIZE + PEER_SIZE + sizeof "[] recv: \n") /* the longest log line */

static const char *const prog = "server_udp";
static const char usage[] = "usage: server_udp [-b ADDR] [-p PORT] [-q]\n";

struct options {
    struct sockaddr_storage bind_addr; /* -b and -p: an IPv4 or IPv6 address, and the port */
    bool quiet;
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

/* The TCP servers' options less -t: with no connection there is nothing to time out. */
static void parse_udp_server_options(int argc, char **argv, struct options *opt)
{
    unsigned port = 8080;
    parse_bind_addr("0.0.0.0", &opt->bind_addr);
    opt->quiet = false;

    /* '+': stop at the first operand (POSIX); ':': report a missing value as ':'. */
    int c;
    opterr = 0;
    while ((c = getopt(argc, argv, "+:b:p:qh")) != -1) {
        switch (c) {
        case 'b':
            if (!parse_bind_addr(optarg, &opt->bind_addr))
                usage_error("bad address: %s", optarg);
            break;
        case 'p':
            if (!parse_number(optarg, 0, 65535, &port))
                usage_error("bad port: %s", optarg);
            break;
        case 'q':
            opt->quiet = true;
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

/* recvfrom(2), retried when a signal interrupts it: one whole datagram and its sender. */
static ssize_t recvfrom_retry(int fd, char *buf, size_t len, struct sockaddr_storage *from,
                              socklen_t *from_len)
{
    /* step: recvfrom */
    ssize_t n;
    do {
        *from_len = sizeof *from;
        n = recvfrom(fd, buf, len, 0, (struct sockaddr *)from, from_len);
    } while (n < 0 && errno == EINTR);
    return n;
}

/* The recv: line of one datagram (unless -q): without one final '\n', and empty for an empty one. */
static void log_datagram(const char *peer, const char *data, size_t len, const struct options *opt)
{
    if (opt->quiet)
        return;
    static char text[ESCAPED_SIZE];
    bool has_newline = len > 0 && data[len - 1] == '\n';
    escape(data, has_newline ? len - 1 : len, text);
    printf("[%s] recv: %s\n", peer, text);
}

/*
 * The echo loop: every datagram, from whichever client, goes back to its
 * sender as one datagram, as Stevens' dg_echo. A failed sendto concerns that
 * one datagram (a full send queue drops it, as the network might); the loop
 * goes on.
 */
static void serve_datagrams(int fd, const struct options *opt)
{
    static char buf[DATAGRAM_SIZE];
    for (;;) {
        struct sockaddr_storage from; /* room for either family */
        socklen_t from_len;
        ssize_t n = recvfrom_retry(fd, buf, sizeof buf, &from, &from_len);
        if (n < 0)
            die("recvfrom"); /* not a client's doing: an unconnected socket hears no ICMP errors */

        char peer[PEER_SIZE];
        format_addr((struct sockaddr *)&from, peer);
        log_datagram(peer, buf, (size_t)n, opt);

        /* step: sendto */
        /* One call: a datagram is sent whole or not at all, never in part. */
        if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, from_len) < 0)
            printf("[%s] error: %s\n", peer, strerror(errno));
    }
}

/*
 * socket, bind: a datagram socket is ready once it has an address. No
 * SO_REUSEADDR (there is no TIME_WAIT to wait out, and on a UDP socket it
 * would let a second server bind the same port and take half the datagrams),
 * no listen (there are no connections to queue). Returns the socket and
 * where it is bound.
 */
static int open_udp_socket(const struct options *opt, struct sockaddr_storage *addr)
{
    *addr = opt->bind_addr;
    /* step: socket */
    int fd = socket(addr->ss_family, SOCK_DGRAM, 0);
    if (fd < 0)
        die("socket");

    /* step: setsockopt */
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

int main(int argc, char **argv)
{
    struct options opt;
    parse_udp_server_options(argc, argv, &opt);
    /* One whole line per write, also into a pipe: the buffer holds the
       longest line, so no line is written in two. */
    static char stdout_buffer[STDOUT_SIZE];
    setvbuf(stdout, stdout_buffer, _IOLBF, sizeof stdout_buffer);

    start_shutdown_thread();

    struct sockaddr_storage bound_addr;
    int fd = open_udp_socket(&opt, &bound_addr);
    char where[PEER_SIZE];
    format_addr((struct sockaddr *)&bound_addr, where);
    printf("listening on %s (UDP, one socket)\n", where);

    /* No accept: every client's datagrams arrive on this one socket. */
    serve_datagrams(fd, &opt);
}
