/*
 * server_prefork.c - TCP echo server, N processes forked before any client.
 *
 *   cc -std=c11 -Wall -Wextra -pthread server_prefork.c -o server_prefork
 *   ./server_prefork [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-n N]
 *
 * TCP carries a byte stream, not messages: this server frames it into lines
 * (bytes up to and including '\n') and echoes each one back. A line that is
 * exactly "quit" ends the session. Before any client, the server forks N
 * children (-n, default 16), as Stevens' UNP ch. 30 serv02 and Apache's
 * prefork: each blocks in accept(2) on the listening socket they all
 * inherited and serves one client at a time with server_single's echo loop,
 * so no process is forked per client (server_fork.c forks one for each). At
 * most N clients are served at once; the next ones wait in the backlog. The
 * parent only watches: a child that dies is replaced at once (and logged),
 * SIGINT or SIGTERM end every child and then the server. The contract is
 * SPEC.md; the Rust twin is src/bin/server_prefork.rs.
 *
 * No accept lock. UNP serv03/serv04 put a lock (fcntl or a mutex) around
 * accept, because on some kernels every process blocked in accept on the
 * socket woke for each connection and all but one went back to sleep: the
 * thundering herd. Linux queues a blocking accept as an exclusive waiter
 * (inet_csk_wait_for_connect, WQ_FLAG_EXCLUSIVE): one connection wakes one
 * child. Measured here by scripts/accept-herd.py: 1,000 sessions one after
 * another wake the children 2.2 times a session with 16 of them in accept,
 * 2.0 times with one (a herd would be 16 times as many).
 *
 * Every log line reaches stdout through one thread of the parent, as in
 * server_fork.c: the server's stdout, the parent's and every child's, is a
 * socket that keeps each write(2) one message, and the relay thread writes
 * each message to the real stdout (see "The log" below).
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 1024                  /* recv buffer; also the longest piece echoed */
#define BACKLOG SOMAXCONN              /* connections the kernel queues before accept */
#define DRAIN_SECONDS 2                /* how long to read what a client sends after quit */
#define PEER_SIZE sizeof "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535"
#define ESCAPED_SIZE (4 * BUF_SIZE + 1) /* every byte may become \xHH */
#define STDOUT_SIZE 8192 /* stdout's buffer, and the relay's: more than the longest log line (a piece escaped, 4096 bytes) */
#define MAX_COUNT 1024 /* -n: the most threads, children or loops */

static const char *const prog = "server_prefork";
static const char usage[] = "usage: server_prefork [-b ADDR] [-p PORT] [-t SECONDS] [-q] [-n N]\n";

struct options {
    struct sockaddr_storage bind_addr; /* -b and -p: an IPv4 or IPv6 address, and the port */
    unsigned idle_timeout; /* seconds */
    bool quiet;
    unsigned count; /* -n: the children */
};

/* -n's default: 16 children, each serving one client at a time. */
static unsigned default_count(void)
{
    return 16;
}

/*
 * The server's children by PID, the ones not reaped yet: what it ends at
 * shutdown. main adds a child (fork), the signal thread removes it (reap),
 * both with the lock held. A PID stays in the list until waitpid has reaped
 * it, and until then the kernel keeps it for the child (a zombie if it has
 * exited): kill never reaches a stranger that got the PID later.
 */
static struct {
    pthread_mutex_t lock;
    pid_t *pids;
    size_t count;
    size_t capacity;
} children = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* SIGINT, SIGTERM and SIGCHLD: blocked in the server, taken by the signal thread. */
static sigset_t server_signals;

/*
 * The log. The children share the parent's stdout, and one write(2) of a
 * line is not enough to keep it whole there: a pipe takes a write whole only
 * up to PIPE_BUF (4096 bytes), a `recv:` line of 1024 undisplayable bytes is
 * 4,117, and when the pipe is full a longer write goes in parts, with another
 * child's line between them. A lock shared by the processes, held around each
 * write, would keep the lines apart, but not whole: a child killed while it
 * waits, its line half written into a full pipe, leaves the half there.
 * So no child writes stdout. The server's stdout (fd 1, which the children
 * inherit) is one end of a socketpair of type SOCK_SEQPACKET, which keeps
 * message boundaries: each write(2) is one message, queued whole or not at
 * all (a child killed while it waits for room queues nothing), and each
 * read(2) takes one message. One thread of the parent, the relay, reads the
 * other end and copies each message to the real stdout: one writer, at any
 * line length, pipe, file or terminal. The parent's own lines (`connected`)
 * take the same way, so the log keeps the order of the events: a session's
 * `quit`, written by its child before it closes the connection, comes before
 * the `connected` of a client that came after.
 * children_end is fd 1's socket, and what shut_down ends the log on;
 * relay_end and stdout_fd (the real stdout) are the relay's.
 */
static struct {
    int children_end;
    int relay_end;
    int stdout_fd;
} log_socket;

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

/* What a child needs to serve, set by main before the first fork: the
   signal thread forks the children that replace the dead ones. */
static struct {
    int listen_fd;
    const struct options *opt;
    pid_t server_pid;
} serving;

/*
 * The child: a copy of the server made by fork, with one thread, the one that
 * called fork (main, or the signal thread for a replacement); the others are
 * not copied. It serves one client after another, each to its end, as
 * server_single's main loop does, until it is killed; it never returns.
 *
 * In the child of a process with threads POSIX allows only async-signal-safe
 * calls (recv, send, close, _exit, ...), because a lock that another thread
 * held at the fork stays locked in the child, with no thread left to unlock
 * it. serve_client also calls printf and strerror, which take locks (stdio's,
 * the locale's); that is safe here because at the fork the other threads hold
 * no lock: a fork is made with children.lock held, by main (which then only
 * waits in pause) or by the signal thread (which does all its work with
 * children.lock); the relay takes no lock, it reads and writes with read(2)
 * and write(2).
 */
static _Noreturn void serve_in_child(void)
{
    /* step: child */
    /* If the server dies, even by SIGKILL, the kernel sends this child SIGKILL.
       If it died before that was asked, this child's parent is already another. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != serving.server_pid)
        _exit(1);
    /* As any program: Ctrl-C (sent to the whole process group) or kill ends it. */
    pthread_sigmask(SIG_UNBLOCK, &server_signals, NULL);

    for (;;) {
        char peer[PEER_SIZE];
        /* Every child blocks here, in accept on the one listening socket. */
        int fd = accept_client(serving.listen_fd, peer);
        printf("[%s] connected\n", peer);
        if (configure_client(fd, serving.opt->idle_timeout) < 0) {
            printf("[%s] error: %s\n", peer, strerror(errno));
            close(fd);
            continue;
        }
        /* Serve this client to the end; the next one waits in the backlog
           (or in another child's accept). */
        serve_client(fd, peer, serving.opt);
        /* step: close */
        close(fd);
    }
}

/* Room for one more PID, so that nothing can fail after fork. children.lock held. */
static int reserve_child(void)
{
    if (children.count < children.capacity)
        return 0;
    size_t capacity = children.capacity == 0 ? 64 : 2 * children.capacity;
    pid_t *pids = realloc(children.pids, capacity * sizeof *pids);
    if (pids == NULL)
        return -1;
    children.pids = pids;
    children.capacity = capacity;
    return 0;
}

/* One more child, its PID in the list; -1 (errno set) if it cannot be
   forked. children.lock held: the PID is in the list before the signal
   thread can reap it. */
static pid_t fork_child(void)
{
    /* step: fork */
    pid_t pid = reserve_child() < 0 ? -1 : fork();
    if (pid == 0)
        serve_in_child(); /* does not return */
    if (pid > 0)
        children.pids[children.count++] = pid;
    return pid;
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

/* Reaps every child that has exited and forks one in its place, so that
   opt.count children wait in accept; logged: which child, how it ended,
   which one replaced it. One SIGCHLD may stand for several exits (a pending
   signal is not counted), so waitpid until none is left to reap: 0 (the
   others still run) or -1 (ECHILD, no child at all). children.lock held. */
static void reap_children(void)
{
    /* step: reap */
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        size_t i = 0;
        while (i < children.count && children.pids[i] != pid)
            i++;
        if (i == children.count)
            continue; /* not one of the server's (a process it did not fork) */
        children.pids[i] = children.pids[--children.count];
        char how[32];
        if (WIFSIGNALED(status))
            snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
        else
            snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
        pid_t replacement = fork_child();
        if (replacement < 0)
            printf("child %d %s, not replaced: %s\n", (int)pid, how, strerror(errno));
        else
            printf("child %d %s, replaced by %d\n", (int)pid, how, (int)replacement);
    }
}

/* Ends every child, waits for each, then ends the log: the relay writes the
   lines still queued, then `shutting down`, and ends the server. children.lock
   held, for good: main cannot fork again. No signal can interrupt waitpid
   here (EINTR): every signal the server takes is blocked and has no handler.
   Each child is waited for by its PID, not waitpid(-1) until ECHILD: a
   process may have children it did not fork (`./server_fork > >(tee log)`:
   bash forks tee, then execs the server in that child), and tee ends only
   when the server's stdout closes, after this. */
static _Noreturn void shut_down(void)
{
    /* step: kill */
    /* SIGKILL: a child has nothing to clean up (the kernel closes its socket
       either way), and no child can block, ignore or, stopped, hold it off. */
    for (size_t i = 0; i < children.count; i++)
        kill(children.pids[i], SIGKILL);
    for (size_t i = 0; i < children.count; i++)
        waitpid(children.pids[i], NULL, 0);
    /* step: end log */
    /* Every child's lines are queued (the children are gone): an empty
       message after them, for which the relay's read returns 0, as at the
       end of a stream. Not shutdown(SHUT_WR): main may still print a
       `connected`, and a write to a shut socket raises SIGPIPE. */
    send(log_socket.children_end, "", 0, MSG_NOSIGNAL);
    for (;;)
        pause(); /* the relay ends the server */
}

static void *wait_for_signals(void *arg)
{
    (void)arg;
    for (;;) {
        int sig;
        int err = sigwait(&server_signals, &sig);
        pthread_mutex_lock(&children.lock);
        /* sigwait fails only for a bad set; either way the server stops. */
        if (err != 0 || sig != SIGCHLD)
            shut_down();
        reap_children();
        pthread_mutex_unlock(&children.lock);
    }
}

/*
 * SIGINT, SIGTERM and SIGCHLD are blocked in every thread (new threads
 * inherit the mask) and taken by one thread with sigwait: no handler, no
 * flag, no race, and no recv or accept is ever interrupted by them.
 */
static void start_signal_thread(void)
{
    /* step: signals */
    /* A parent may have started the server with SIGCHLD ignored (that is
       inherited across exec), and then the kernel reaps the children itself:
       waitpid would find none, and the list would keep their PIDs. */
    signal(SIGCHLD, SIG_DFL);
    sigemptyset(&server_signals);
    sigaddset(&server_signals, SIGINT);
    sigaddset(&server_signals, SIGTERM);
    sigaddset(&server_signals, SIGCHLD);
    if ((errno = pthread_sigmask(SIG_BLOCK, &server_signals, NULL)) != 0)
        die("pthread_sigmask");

    /* step: signal thread */
    pthread_t thread;
    if ((errno = pthread_create(&thread, NULL, wait_for_signals, NULL)) != 0)
        die("pthread_create");
}

/* The log's socketpair (see "The log"), made the server's stdout; before
   the signal thread, which ends the log. */
static void open_log(void)
{
    /* step: log socket */
    /* The real stdout first: with fd 1 closed, socketpair could take it. */
    log_socket.stdout_fd = dup(STDOUT_FILENO);
    if (log_socket.stdout_fd < 0)
        die("dup stdout");
    int ends[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, ends) < 0)
        die("socketpair");
    /* Every line printed from here on, by main or a child, is one message
       to the relay (stdout is line-buffered into STDOUT_SIZE bytes: one
       write(2) per line). */
    if (dup2(ends[0], STDOUT_FILENO) < 0)
        die("dup2");
    log_socket.children_end = ends[0];
    log_socket.relay_end = ends[1];
}

/* write(2) until every byte is written: a pipe may take a part of a long
   line, and a signal may interrupt the call. */
static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * The relay: each line, one message, to the real stdout, until shut_down
 * ends the log; the only writer there, one write(2) per line (and the rest
 * of it after a short one). An error writing stdout is not the relay's to
 * report: a closed pipe raises SIGPIPE, which ends the server, as any other.
 */
static void *relay_log(void *arg)
{
    (void)arg;
    static char line[STDOUT_SIZE];
    ssize_t n;
    /* step: relay */
    while ((n = read(log_socket.relay_end, line, sizeof line)) > 0)
        write_all(log_socket.stdout_fd, line, (size_t)n);
    if (n < 0)
        die("read");
    write_all(log_socket.stdout_fd, "shutting down\n", strlen("shutting down\n"));
    exit(0);
}

/* After start_signal_thread: the relay inherits its blocked signals. */
static void start_log_relay(void)
{
    /* step: relay thread */
    pthread_t thread;
    if ((errno = pthread_create(&thread, NULL, relay_log, NULL)) != 0)
        die("pthread_create");
}

int main(int argc, char **argv)
{
    static struct options opt; /* the children read it, and so do their replacements */
    parse_options(argc, argv, &opt);
    /* One whole line per write(2), one message to the relay (see "The log"):
       the buffer holds the longest line, so no line is written in two. */
    static char stdout_buffer[STDOUT_SIZE];
    setvbuf(stdout, stdout_buffer, _IOLBF, sizeof stdout_buffer);

    open_log();
    start_signal_thread();
    start_log_relay();

    struct sockaddr_storage listen_addr;
    serving.listen_fd = open_listener(&opt, &listen_addr);
    serving.opt = &opt;
    serving.server_pid = getpid();

    /* step: prefork */
    /* Every child before any client: the listening socket is open, so a
       client that comes now waits in the backlog for the first child's
       accept. */
    pthread_mutex_lock(&children.lock);
    for (unsigned i = 0; i < opt.count; i++)
        if (fork_child() < 0)
            die("fork");
    pthread_mutex_unlock(&children.lock);

    char where[PEER_SIZE];
    format_addr((struct sockaddr *)&listen_addr, where);
    printf("listening on %s (%u prefork processes, idle timeout %u s)\n", where, opt.count,
           opt.idle_timeout);
    /* The children serve; the signal thread replaces them and ends them. */
    for (;;)
        pause();
}
