/*
 * server_pool.c - TCP echo server, a fixed pool of threads fed by accept.
 *
 *   cc -std=c11 -Wall -Wextra -pthread server_pool.c -o server_pool
 *   ./server_pool [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-n N]
 *
 * TCP carries a byte stream, not messages: this server frames it into lines
 * (bytes up to and including '\n') and echoes each one back. A line that is
 * exactly "quit" ends the session. N threads (-n, default 16) are started
 * before any client, as in Stevens' UNP ch. 30 serv08: the main thread
 * accepts and puts each connection in a queue of at most N, a mutex and two
 * condition variables; a thread of the pool takes it and runs
 * server_single's echo loop. While the queue is full the main thread waits,
 * and accepts nothing: the next clients wait in the listen backlog. So the
 * threads do not grow with the clients (server.c starts one per client).
 * The contract is SPEC.md; the Rust twin is src/bin/server_pool.rs.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#define PEER_SIZE sizeof "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"
#define ESCAPED_SIZE (4 * BUF_SIZE + 1) /* every byte may become \xHH */
#define STDOUT_SIZE 8192 /* stdout's buffer: more than the longest log line (a piece escaped, 4096 bytes) */
#define MAX_COUNT 1024 /* -n: the most threads, children or loops */

static const char *const prog = "server_pool";
static const char usage[] = "usage: server_pool [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-n N]\n";

struct options {
    struct sockaddr_storage bind_addr; /* -b and -p: an IPv4 or IPv6 address, and the port */
    unsigned idle_timeout; /* seconds */
    bool quiet;
    unsigned count; /* -n: the threads of the pool */
};

/* -n's default: 16 threads, each serving one client at a time. */
static unsigned default_count(void)
{
    return 16;
}

/* A connection accepted by main, waiting for a thread of the pool. */
struct connection {
    int fd;
    char peer[PEER_SIZE];
};

/*
 * The queue from main to the pool (UNP serv08's clifd array, bounded): a ring
 * of at most opt.count connections. main waits on not_full, a thread on
 * not_empty; both with the lock held.
 */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    struct connection *ring;
    size_t capacity;
    size_t head;  /* the oldest connection */
    size_t count; /* connections queued */
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER,
           .not_empty = PTHREAD_COND_INITIALIZER,
           .not_full = PTHREAD_COND_INITIALIZER};

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

static void parse_options(int argc, char **argv, struct options *opt)
{
    unsigned port = 8080;
    parse_bind_addr("0.0.0.0", &opt->bind_addr);
    opt->idle_timeout = 5;
    opt->quiet = false;
    opt->count = default_count();

    /* '+': stop at the first operand (POSIX); ':': report a missing value as ':'. */
    int c;
    opterr = 0;
    while ((c = getopt(argc, argv, "+:b:p:t:qn:h")) != -1) {
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
        case 'n':
            if (!parse_number(optarg, 1, MAX_COUNT, &opt->count))
                usage_error("bad number: %s", optarg);
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

/* send(2) until every byte is written: a short write is not an error. */
static int send_all(int fd, const char *data, size_t len)
{
    /* step: send */
    while (len > 0) {
        /* MSG_NOSIGNAL: a vanished peer gives EPIPE, not a process-killing SIGPIPE. */
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
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

/* Log one line or piece (unless -q), then echo it. */
static int echo_piece(int fd, const char *peer, const char *data, size_t len,
                      const struct options *opt)
{
    if (!opt->quiet) {
        char text[ESCAPED_SIZE];
        bool has_newline = data[len - 1] == '\n';
        escape(data, has_newline ? len - 1 : len, text);
        printf("[%s] recv: %s\n", peer, text);
    }
    return send_all(fd, data, len);
}

/*
 * The echo loop: a function of one connected socket, as Stevens' str_echo.
 * Frames the stream into lines and echoes each; returns when the session
 * ends, logging why. The caller closes the socket.
 */
static void serve_client(int fd, const char *peer, const struct options *opt)
{
    char buf[BUF_SIZE];
    size_t used = 0;        /* bytes in buf not yet echoed */
    bool mid_line = false;  /* a piece of the current line was already echoed */

    for (;;) {
        /* step: recv result */
        ssize_t n = recv_retry(fd, buf + used, sizeof buf - used);
        if (n == 0) {
            /* EOF: echo what is pending, then close. */
            if (used > 0 && echo_piece(fd, peer, buf, used, opt) < 0)
                printf("[%s] error: %s\n", peer, strerror(errno));
            else
                printf("[%s] disconnected\n", peer);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                printf("[%s] idle for %u s, closing\n", peer, opt->idle_timeout);
            else
                printf("[%s] error: %s\n", peer, strerror(errno));
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
                lingering_close(fd, opt->idle_timeout);
                return;
            }
            if (echo_piece(fd, peer, buf + start, len, opt) < 0) {
                printf("[%s] error: %s\n", peer, strerror(errno));
                return;
            }
            mid_line = false;
            start += len;
        }
        memmove(buf, buf + start, used - start);
        used -= start;

        if (used == sizeof buf) {
            /* A full buffer without '\n': echo it as a piece; nothing is dropped. */
            if (echo_piece(fd, peer, buf, used, opt) < 0) {
                printf("[%s] error: %s\n", peer, strerror(errno));
                return;
            }
            used = 0;
            mid_line = true;
        }
    }
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

/* main's side: wait while the queue is full, then queue the connection. */
static void put_connection(int fd, const char *peer)
{
    /* step: queue */
    pthread_mutex_lock(&queue.lock);
    while (queue.count == queue.capacity)
        pthread_cond_wait(&queue.not_full, &queue.lock);
    struct connection *slot = &queue.ring[(queue.head + queue.count) % queue.capacity];
    slot->fd = fd;
    memcpy(slot->peer, peer, sizeof slot->peer);
    queue.count++;
    pthread_cond_signal(&queue.not_empty);
    pthread_mutex_unlock(&queue.lock);
}

/* A thread's side: wait for a connection, and take it out of the queue. */
static struct connection take_connection(void)
{
    pthread_mutex_lock(&queue.lock);
    while (queue.count == 0)
        pthread_cond_wait(&queue.not_empty, &queue.lock);
    struct connection taken = queue.ring[queue.head];
    queue.head = (queue.head + 1) % queue.capacity;
    queue.count--;
    pthread_cond_signal(&queue.not_full);
    pthread_mutex_unlock(&queue.lock);
    return taken;
}

/* A thread of the pool: one connection after another, each to its end. */
static void *pool_thread(void *arg)
{
    const struct options *opt = arg;
    for (;;) {
        struct connection c = take_connection();
        printf("[%s] connected\n", c.peer);
        if (configure_client(c.fd, opt->idle_timeout) < 0)
            printf("[%s] error: %s\n", c.peer, strerror(errno));
        else
            serve_client(c.fd, c.peer, opt);
        /* step: close */
        close(c.fd);
    }
    return NULL;
}

/* The queue's ring and the N threads, before any client. */
static void start_pool(const struct options *opt)
{
    /* step: pool */
    queue.capacity = opt->count;
    queue.ring = calloc(queue.capacity, sizeof *queue.ring);
    if (queue.ring == NULL)
        die("calloc");
    for (unsigned i = 0; i < opt->count; i++) {
        pthread_t thread;
        if ((errno = pthread_create(&thread, NULL, pool_thread, (void *)opt)) != 0)
            die("pthread_create");
    }
}

int main(int argc, char **argv)
{
    static struct options opt; /* the threads read it for as long as they run */
    parse_options(argc, argv, &opt);
    /* One whole line per write, also into a pipe: the buffer holds the
       longest line, so no line is written in two. */
    static char stdout_buffer[STDOUT_SIZE];
    setvbuf(stdout, stdout_buffer, _IOLBF, sizeof stdout_buffer);

    start_shutdown_thread();

    struct sockaddr_storage listen_addr;
    int listen_fd = open_listener(&opt, &listen_addr);
    start_pool(&opt);
    char where[PEER_SIZE];
    format_addr((struct sockaddr *)&listen_addr, where);
    printf("listening on %s (pool of %u threads, idle timeout %u s)\n", where, opt.count,
           opt.idle_timeout);

    for (;;) {
        char peer[PEER_SIZE];
        int fd = accept_client(listen_fd, peer);
        /* A thread logs `connected` when it takes the connection; while
           the queue is full, main waits here and the next clients wait in
           the backlog. */
        put_connection(fd, peer);
    }
}
