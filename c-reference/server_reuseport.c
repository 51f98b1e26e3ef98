/*
 * server_reuseport.c - TCP echo server, N epoll loops on one port (SO_REUSEPORT).
 *
 *   cc -std=c11 -Wall -Wextra -pthread server_reuseport.c -o server_reuseport
 *   ./server_reuseport [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-n N]
 *
 * server_epoll.c once per core: N threads (-n, default the number of online
 * CPUs), each with its own listening socket and its own epoll loop, as nginx
 * does with `listen ... reuseport`. Every socket sets SO_REUSEPORT before
 * bind (Linux 3.9), so all N bind the same address and port, and the kernel
 * spreads the new connections over them (by a hash of the client's address
 * and port): each connection belongs to one loop from its accept to its
 * close, and the loops share nothing but stdout, so no lock is taken
 * between them. One epoll loop is one core at most; N of them use N.
 * (Several threads in epoll_wait on one shared listening socket would all
 * wake for each connection, the thundering herd that accept avoids; one
 * socket per loop avoids it.) Every loop runs server_epoll's rules with
 * server_epoll's code: the functions from set_nonblocking to run_loop are
 * server_epoll.c's, byte for byte (tests/c_helpers.rs checks it). The
 * contract is SPEC.md; the Rust twin is src/bin/server_reuseport.rs, and
 * `diff -u server_epoll.c server_reuseport.c` shows what reuseport changes.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* SO_REUSEPORT, which POSIX does not name */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 1024                  /* recv buffer; also the longest piece echoed */
#define BACKLOG SOMAXCONN              /* connections the kernel queues before accept */
#define DRAIN_SECONDS 2                /* how long to read what a client sends after quit */
#define PEER_SIZE sizeof "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"
#define ESCAPED_SIZE (4 * BUF_SIZE + 1) /* every byte may become \xHH */
#define STDOUT_SIZE 8192 /* stdout's buffer: more than the longest log line (a piece escaped, 4096 bytes) */
#define ACCEPT_PAUSE_MS 100            /* out of descriptors: stop watching the listener this long */
#define MAX_EVENTS 128                 /* ready sockets one epoll_wait returns at most */
#define READS_PER_WAKEUP 16            /* full reads of one client before the others' turn */
#define MAX_COUNT 1024 /* -n: the most threads, children or loops */

static const char *const prog = "server_reuseport";
static const char usage[] = "usage: server_reuseport [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-n N]\n";

struct options {
    struct sockaddr_storage bind_addr; /* -b and -p: an IPv4 or IPv6 address, and the port */
    unsigned idle_timeout; /* seconds */
    bool quiet;
    unsigned count; /* -n: the loops */
};

/* -n's default: a loop per online CPU (at least 1, at most MAX_COUNT). */
static unsigned default_count(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        return 1;
    return cpus > MAX_COUNT ? MAX_COUNT : (unsigned)cpus;
}

/* Where a client is in its session; it says what epoll waits for. */
enum phase {
    READING,  /* waiting for bytes: EPOLLIN */
    SENDING,  /* an echo not all sent: EPOLLOUT, and no EPOLLIN until it is */
    DRAINING, /* after quit: FIN sent, reading and discarding until EOF (SPEC rule 5) */
};

/*
 * What the server keeps of one client between two waits: what a thread of
 * server.c keeps on its stack. About 1.1 KiB, most of it the buffer; the
 * echo is sent straight from the buffer, so there is no second one.
 */
struct client {
    int fd;
    enum phase phase;
    bool mid_line;           /* a piece of the current line was already echoed */
    bool at_eof;             /* the client's end of stream came: close after this echo */
    char buf[BUF_SIZE];
    size_t used;             /* bytes in buf */
    size_t start;            /* buf[0..start] is framed: echoed or being echoed */
    size_t send_from;        /* the echo not yet sent is buf[send_from..send_to] */
    size_t send_to;
    int64_t deadline;        /* monotonic ms: the idle timeout, or the end of the drain */
    char peer[PEER_SIZE];
    struct client *older, *newer; /* neighbours in its deadline list */
};

/* Clients in the order their deadlines fall due: the nearest at the head. */
struct deadlines {
    struct client *head, *tail;
};

/*
 * Every client: the epoll instance that watches their sockets (its events
 * point at the struct client, or are NULL for the listening socket), and two
 * deadline lists, one per length of timeout, so that each stays in order.
 */
struct clients {
    int epfd;
    struct deadlines idle;     /* READING and SENDING: the idle timeout */
    struct deadlines draining; /* DRAINING: the drain after quit */
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

/* ------------------------------------------------------------------------ */
/* What epoll adds: non-blocking sockets, deadlines, a client as a struct.  */

/* O_NONBLOCK: from now on a call that would wait fails with EAGAIN instead. */
static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -1;
    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

/* Milliseconds on the monotonic clock, which never jumps when the date is set. */
static int64_t monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Non-blocking, and no Nagle delay on the echo. */
static int configure_client(int fd)
{
    /* step: configure */
    int on = 1;
    if (set_nonblocking(fd) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
        return -1;
    return 0;
}

/* The deadline list a client is in: its phase says which timeout runs. */
static struct deadlines *deadlines_of(struct clients *all, enum phase phase)
{
    return phase == DRAINING ? &all->draining : &all->idle;
}

/* A client whose deadline was just set goes to the tail: it falls due last. */
static void append(struct deadlines *list, struct client *c)
{
    c->older = list->tail;
    c->newer = NULL;
    if (list->tail != NULL)
        list->tail->newer = c;
    else
        list->head = c;
    list->tail = c;
}

static void unlink_client(struct deadlines *list, struct client *c)
{
    if (c->older != NULL)
        c->older->newer = c->newer;
    else
        list->head = c->newer;
    if (c->newer != NULL)
        c->newer->older = c->older;
    else
        list->tail = c->older;
}

/*
 * Tell the kernel what the client waits for (EPOLL_CTL_ADD, or _MOD when it
 * changes): to read, or, with an echo unsent, to send. Level-triggered, as
 * poll is: epoll_wait reports the socket for as long as it is readable (or
 * writable), so a read that leaves bytes behind is simply reported again.
 * Edge-triggered (EPOLLET) would report only the change, once: every ready
 * socket would have to be read or written until EAGAIN before waiting again,
 * or its remaining bytes would never be reported, and the bounded re-reads
 * that keep one client from starving the others would need a list of their
 * own of the sockets left unfinished.
 */
static int watch(int epfd, struct client *c, int op)
{
    struct epoll_event event = {.events = c->phase == SENDING ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    return epoll_ctl(epfd, op, c->fd, &event);
}

/* Stops watching the client, closes its socket and frees it. */
static void remove_client(struct clients *all, struct client *c)
{
    /* step: close */
    unlink_client(deadlines_of(all, c->phase), c);
    epoll_ctl(all->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

/* The listening socket in the watched set again (op EPOLL_CTL_ADD), or out of it (_DEL). */
static int watch_listener(int epfd, int listen_fd, int op)
{
    struct epoll_event event = {.events = EPOLLIN, .data.ptr = NULL};
    return epoll_ctl(epfd, op, listen_fd, &event);
}

/* accept(2) until the queue is empty (EAGAIN): several may wait at once. */
static void accept_clients(int listen_fd, struct clients *all, const struct options *opt,
                           int64_t now, int64_t *listener_paused_until)
{
    for (;;) {
        /* step: accept */
        struct sockaddr_storage addr; /* room for either family */
        socklen_t len = sizeof addr;
        int fd = accept(listen_fd, (struct sockaddr *)&addr, &len);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return; /* not now: no connection is waiting */
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: accept: %s\n", prog, strerror(errno));
            /* Out of descriptors: the pending connection stays queued and the
             * listener stays readable; not watching it for a while keeps
             * epoll_wait from waking at once, again and again, while clients
             * still are. */
            watch_listener(all->epfd, listen_fd, EPOLL_CTL_DEL);
            *listener_paused_until = now + ACCEPT_PAUSE_MS;
            return;
        }
        char peer[PEER_SIZE];
        format_addr((struct sockaddr *)&addr, peer);
        printf("[%s] connected\n", peer);
        struct client *c = NULL;
        if (configure_client(fd) < 0 || (c = malloc(sizeof *c)) == NULL) {
            printf("[%s] error: %s\n", peer, strerror(errno));
            close(fd);
            continue;
        }
        *c = (struct client){.fd = fd, .phase = READING,
                             .deadline = now + 1000 * (int64_t)opt->idle_timeout};
        memcpy(c->peer, peer, sizeof c->peer);
        if (watch(all->epfd, c, EPOLL_CTL_ADD) < 0) {
            printf("[%s] error: %s\n", peer, strerror(errno));
            close(fd);
            free(c);
            continue;
        }
        append(&all->idle, c);
    }
}

/* Log one line or piece (unless -q) and make it the echo to send. */
static void echo_piece(struct client *c, size_t from, size_t len, const struct options *opt)
{
    if (!opt->quiet) {
        char text[ESCAPED_SIZE];
        bool has_newline = c->buf[from + len - 1] == '\n';
        escape(c->buf + from, has_newline ? len - 1 : len, text);
        printf("[%s] recv: %s\n", c->peer, text);
    }
    c->send_from = from;
    c->send_to = from + len;
}

/* After quit: FIN now (after the last echo), close later (SPEC rule 5). */
static void start_lingering_close(struct client *c, const struct options *opt, int64_t now)
{
    /* step: shutdown */
    /* Closing with bytes unread would send RST, which throws away the echoes
     * still queued; so only the sending side is closed, and whatever the
     * client still sends is read and discarded until its EOF or the deadline. */
    shutdown(c->fd, SHUT_WR);
    unsigned seconds = opt->idle_timeout < DRAIN_SECONDS ? opt->idle_timeout : DRAIN_SECONDS;
    c->deadline = now + 1000 * (int64_t)seconds;
    c->phase = DRAINING;
}

/*
 * Sends what is unsent, then frames the next line or piece and sends it,
 * until the buffer holds no whole line or the socket takes no more. Returns
 * false when the session has ended (logged); the caller closes the socket.
 */
static bool echo_lines(struct client *c, const struct options *opt, int64_t now)
{
    for (;;) {
        if (c->send_from < c->send_to) {
            /* step: send */
            /* MSG_NOSIGNAL: a vanished peer gives EPIPE, not a process-killing SIGPIPE. */
            ssize_t n = send(c->fd, c->buf + c->send_from, c->send_to - c->send_from, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    c->phase = SENDING; /* not now: the socket buffer is full; EPOLLOUT says when */
                    return true;
                }
                if (errno == EINTR)
                    continue;
                printf("[%s] error: %s\n", c->peer, strerror(errno));
                return false;
            }
            c->send_from += (size_t)n;
            c->deadline = now + 1000 * (int64_t)opt->idle_timeout; /* progress */
            continue;
        }

        /* step: framing */
        char *newline = memchr(c->buf + c->start, '\n', c->used - c->start);
        if (newline != NULL) {
            size_t len = (size_t)(newline - (c->buf + c->start)) + 1;
            if (!c->mid_line && is_quit(c->buf + c->start, len)) {
                printf("[%s] quit\n", c->peer);
                start_lingering_close(c, opt, now);
                return true;
            }
            echo_piece(c, c->start, len, opt);
            c->start += len;
            c->mid_line = false;
        } else if (c->used - c->start == BUF_SIZE) {
            /* A full buffer without '\n': echo it as a piece; nothing is dropped. */
            echo_piece(c, c->start, BUF_SIZE, opt);
            c->start += BUF_SIZE;
            c->mid_line = true;
        } else if (c->at_eof && c->used > c->start) {
            /* EOF: echo what is pending, then close. */
            echo_piece(c, c->start, c->used - c->start, opt);
            c->start = c->used;
        } else if (c->at_eof) {
            printf("[%s] disconnected\n", c->peer);
            return false;
        } else {
            /* No whole line: keep the rest at the front for the next recv. */
            memmove(c->buf, c->buf + c->start, c->used - c->start);
            c->used -= c->start;
            c->start = 0;
            c->phase = READING;
            return true;
        }
    }
}

/* After quit, the lingering close: reads and discards; only the client's
 * EOF (or an error) ends it before the deadline. Returns false at the end. */
static bool drain(struct client *c)
{
    /* step: drain */
    char discard[BUF_SIZE];
    ssize_t n = recv(c->fd, discard, sizeof discard, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return true; /* not now */
    return n > 0;
}

/* A client epoll says can go on (an event): the call it waited for. Returns
 * false when the session has ended. */
static bool serve_ready_client(struct client *c, const struct options *opt, int64_t now)
{
    switch (c->phase) {
    case SENDING:
        return echo_lines(c, opt, now);
    case DRAINING:
        return drain(c);
    case READING:
        break;
    }
    /* A read that filled all the room it was given leaves more behind, most
     * likely: read again now rather than ask the kernel again first (nginx,
     * libuv and tokio do so too), a bounded number of times so that one fast
     * client cannot keep the others waiting. A short read ends the turn. */
    for (int reads = 0; reads < READS_PER_WAKEUP; reads++) {
        /* step: recv */
        /* The unframed bytes are at the front of buf (echo_lines moved them). */
        size_t room = sizeof c->buf - c->used;
        ssize_t n = recv(c->fd, c->buf + c->used, room, 0);

        /* step: recv result */
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return true; /* not now, after all: wait again */
        if (n < 0) {
            printf("[%s] error: %s\n", c->peer, strerror(errno));
            return false;
        }
        c->deadline = now + 1000 * (int64_t)opt->idle_timeout; /* progress */
        if (n == 0)
            c->at_eof = true;
        c->used += (size_t)n;
        if (!echo_lines(c, opt, now))
            return false;
        if ((size_t)n < room || c->phase != READING)
            return true;
    }
    return true;
}

/* A client whose deadline has passed: what it was waiting for decides the log line. */
static void expire_client(const struct client *c, const struct options *opt)
{
    /* step: deadline */
    switch (c->phase) {
    case READING: /* the blocking servers' recv fails with EAGAIN after SO_RCVTIMEO */
        printf("[%s] idle for %u s, closing\n", c->peer, opt->idle_timeout);
        break;
    case SENDING: /* and their send after SO_SNDTIMEO without progress */
        printf("[%s] error: %s\n", c->peer, strerror(EAGAIN));
        break;
    case DRAINING: /* the lingering close is over: close quietly */
        break;
    }
}

/* After a client's turn: what it waits for, and its deadline, as they now are. */
static void update_client(struct clients *all, struct client *c, enum phase was, int64_t deadline)
{
    if ((was == SENDING) != (c->phase == SENDING) && watch(all->epfd, c, EPOLL_CTL_MOD) < 0) {
        printf("[%s] error: %s\n", c->peer, strerror(errno));
        c->phase = was; /* it is still in the list of this phase */
        remove_client(all, c);
        return;
    }
    /* Progress, or the drain begun: the client now falls due last. */
    if (c->deadline != deadline || deadlines_of(all, was) != deadlines_of(all, c->phase)) {
        unlink_client(deadlines_of(all, was), c);
        append(deadlines_of(all, c->phase), c);
    }
}

/* Every client whose deadline has passed: the heads of the lists, up to the first that has not. */
static void expire_clients(struct clients *all, struct deadlines *list, const struct options *opt,
                           int64_t now)
{
    while (list->head != NULL && list->head->deadline <= now) {
        expire_client(list->head, opt);
        remove_client(all, list->head);
    }
}

/* How long epoll_wait may wait: until the nearest deadline (-1: no deadline, forever). */
static int wait_timeout(const struct clients *all, int64_t listener_paused_until, int64_t now)
{
    /* step: timeout */
    /* The heads of the lists: the nearest deadlines, without a look at any other client. */
    int64_t nearest = listener_paused_until != 0 ? listener_paused_until : INT64_MAX;
    if (all->idle.head != NULL && all->idle.head->deadline < nearest)
        nearest = all->idle.head->deadline;
    if (all->draining.head != NULL && all->draining.head->deadline < nearest)
        nearest = all->draining.head->deadline;
    if (nearest == INT64_MAX)
        return -1;
    if (nearest <= now)
        return 0;
    return nearest - now > INT_MAX ? INT_MAX : (int)(nearest - now);
}

/*
 * A listening socket made ready for its loop: non-blocking, and watched by
 * a new epoll instance, which is returned.
 */
static int open_loop(int listen_fd)
{
    /* step: non-blocking */
    if (set_nonblocking(listen_fd) < 0)
        die("fcntl O_NONBLOCK");

    /* step: epoll_create1 */
    /* CLOEXEC: a program this one might start does not inherit the instance. */
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    if (watch_listener(epfd, listen_fd, EPOLL_CTL_ADD) < 0)
        die("epoll_ctl");
    return epfd;
}

/*
 * The loop of one epoll instance (from open_loop) over the listening socket
 * and the clients it accepts, for as long as the server runs. Everything it
 * keeps is its own (all, events): server_reuseport.c runs one per thread.
 */
static _Noreturn void run_loop(int listen_fd, int epfd, const struct options *opt)
{
    struct clients all = {.epfd = epfd};
    int64_t listener_paused_until = 0; /* 0: the listener is watched */
    struct epoll_event events[MAX_EVENTS];

    for (;;) {
        /* step: epoll_wait */
        /* The kernel knows what each socket waits for (watch says it when it
         * changes): one call, however many clients, returns the ready ones.
         * The listener comes back after its pause. */
        int64_t now = monotonic_ms();
        if (listener_paused_until != 0 && now >= listener_paused_until) {
            if (watch_listener(all.epfd, listen_fd, EPOLL_CTL_ADD) < 0)
                die("epoll_ctl");
            listener_paused_until = 0;
        }
        int timeout = wait_timeout(&all, listener_paused_until, now);
        int ready = epoll_wait(all.epfd, events, MAX_EVENTS, timeout);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }

        /* step: events */
        /* Each event says a socket can go on, also EPOLLHUP or EPOLLERR when
         * not asked for: the recv or send it leads to then reports what
         * happened. A client appears at most once among them, and only its
         * own turn can end it, so every pointer here is still valid. */
        now = monotonic_ms();
        for (int i = 0; i < ready; i++) {
            struct client *c = events[i].data.ptr;
            if (c == NULL) {
                accept_clients(listen_fd, &all, opt, now, &listener_paused_until);
                continue;
            }
            enum phase was = c->phase;
            int64_t deadline = c->deadline;
            if (serve_ready_client(c, opt, now))
                update_client(&all, c, was, deadline);
            else
                remove_client(&all, c);
        }
        expire_clients(&all, &all.idle, opt, now);
        expire_clients(&all, &all.draining, opt, now);
    }
}

/*
 * open_listener with SO_REUSEPORT, for one loop: socket, SO_REUSEADDR,
 * SO_REUSEPORT, bind to addr, listen; addr then holds where it listens
 * (with -p 0, the kernel's port, which the next sockets bind).
 */
static int open_reuseport_listener(struct sockaddr_storage *addr)
{
    /* step: socket */
    int fd = socket(addr->ss_family, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");

    /* step: setsockopt */
    /* Restart at once on the same port, even with old connections in TIME_WAIT. */
    int on = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0)
        die("setsockopt SO_REUSEADDR");
    /* Every socket with SO_REUSEPORT set before bind may bind the same
       address and port (of the same user); the kernel spreads the new
       connections over them. */
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) < 0)
        die("setsockopt SO_REUSEPORT");
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

/* One loop: its listening socket and its epoll instance. */
struct loop {
    int listen_fd;
    int epfd;
    const struct options *opt;
};

static void *loop_thread(void *arg)
{
    const struct loop *loop = arg;
    run_loop(loop->listen_fd, loop->epfd, loop->opt);
}

int main(int argc, char **argv)
{
    static struct options opt; /* the loops' threads read it for as long as they run */
    parse_options(argc, argv, &opt);
    /* One whole line per write, also into a pipe: the buffer holds the
       longest line, so no line is written in two. */
    static char stdout_buffer[STDOUT_SIZE];
    setvbuf(stdout, stdout_buffer, _IOLBF, sizeof stdout_buffer);

    start_shutdown_thread();

    /* step: listeners */
    /* Every socket and its loop before the listening line, so that an
       error (bind: Address already in use) comes before it. With -p 0 the
       first socket gets the kernel's port, and the others bind that one:
       listen_addr holds it from the first on. */
    struct loop *loops = calloc(opt.count, sizeof *loops);
    if (loops == NULL)
        die("calloc");
    struct sockaddr_storage listen_addr = opt.bind_addr;
    for (unsigned i = 0; i < opt.count; i++) {
        loops[i].listen_fd = open_reuseport_listener(&listen_addr);
        loops[i].epfd = open_loop(loops[i].listen_fd);
        loops[i].opt = &opt;
    }

    /* step: loop threads */
    /* A thread for each loop but the first, which main runs; all of them
       before the listening line, which says the server is ready. */
    for (unsigned i = 1; i < opt.count; i++) {
        pthread_t thread;
        if ((errno = pthread_create(&thread, NULL, loop_thread, &loops[i])) != 0)
            die("pthread_create");
    }

    char where[PEER_SIZE];
    format_addr((struct sockaddr *)&listen_addr, where);
    printf("listening on %s (%u epoll loops, SO_REUSEPORT, idle timeout %u s)\n", where, opt.count,
           opt.idle_timeout);
    run_loop(loops[0].listen_fd, loops[0].epfd, &opt);
}
