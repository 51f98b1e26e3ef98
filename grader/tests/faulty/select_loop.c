/* select_loop.c: correct, written differently from the project's servers:
 * every client in one select(2) loop, non-blocking sockets, an output buffer
 * per client (no reading while it holds bytes), idle deadlines by time().
 * A test fixture of the grader (grader/tests/). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAXC 200

struct client {
    int fd;
    char line[1024];
    size_t len;
    char out[4096];
    size_t out_len, out_off;
    double last;
    int quitting, shut;
};

static struct client cl[MAXC];

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void drop(struct client *c) {
    close(c->fd);
    c->fd = -1;
}

static void queue(struct client *c, const char *p, size_t n) {
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void take(struct client *c, const char *buf, ssize_t n) {
    for (ssize_t i = 0; i < n && !c->quitting; i++) {
        c->line[c->len++] = buf[i];
        if (buf[i] == '\n' || c->len == sizeof c->line) {
            int quit = buf[i] == '\n' && ((c->len == 5 && !memcmp(c->line, "quit\n", 5)) ||
                                          (c->len == 6 && !memcmp(c->line, "quit\r\n", 6)));
            if (quit) {
                c->quitting = 1; /* the FIN goes once the echoes before it are sent */
            } else {
                queue(c, c->line, c->len);
            }
            c->len = 0;
        }
    }
}

int main(int argc, char **argv) {
    int port = 8080, timeout = 5, opt;
    while ((opt = getopt(argc, argv, "p:t:")) != -1) {
        if (opt == 'p') port = atoi(optarg);
        if (opt == 't') timeout = atoi(optarg);
    }
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, SOMAXCONN) < 0) {
        perror("bind");
        return 1;
    }
    fcntl(s, F_SETFL, O_NONBLOCK);
    for (int i = 0; i < MAXC; i++) cl[i].fd = -1;
    printf("select loop on %d\n", port);
    fflush(stdout);
    for (;;) {
        fd_set r, w;
        FD_ZERO(&r);
        FD_ZERO(&w);
        FD_SET(s, &r);
        int maxfd = s;
        for (int i = 0; i < MAXC; i++) {
            if (cl[i].fd < 0) continue;
            if (cl[i].out_len > cl[i].out_off) FD_SET(cl[i].fd, &w);
            else FD_SET(cl[i].fd, &r);
            if (cl[i].fd > maxfd) maxfd = cl[i].fd;
        }
        struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
        if (select(maxfd + 1, &r, &w, NULL, &tv) < 0) continue;
        double t = now();
        if (FD_ISSET(s, &r)) {
            int c;
            while ((c = accept(s, NULL, NULL)) >= 0) {
                int i = 0;
                while (i < MAXC && cl[i].fd >= 0) i++;
                if (i == MAXC) {
                    close(c);
                    continue;
                }
                fcntl(c, F_SETFL, O_NONBLOCK);
                memset(&cl[i], 0, sizeof cl[i]);
                cl[i].fd = c;
                cl[i].last = t;
            }
        }
        for (int i = 0; i < MAXC; i++) {
            struct client *c = &cl[i];
            if (c->fd < 0) continue;
            if (FD_ISSET(c->fd, &w)) {
                ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
                if (n < 0 && errno != EAGAIN) {
                    drop(c);
                    continue;
                }
                if (n > 0) {
                    c->out_off += n;
                    c->last = t;
                }
                if (c->out_off == c->out_len) c->out_off = c->out_len = 0;
            } else if (FD_ISSET(c->fd, &r)) {
                char buf[1024];
                ssize_t n = recv(c->fd, buf, sizeof buf, 0);
                if (n == 0 || (n < 0 && errno != EAGAIN)) {
                    if (n == 0 && c->len && !c->quitting) queue(c, c->line, c->len);
                    if (c->out_len) send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
                    drop(c);
                    continue;
                }
                if (n > 0) {
                    c->last = t;
                    take(c, buf, n);
                }
            }
            if (c->fd >= 0 && c->quitting && !c->shut && c->out_len == 0) {
                shutdown(c->fd, SHUT_WR);
                c->shut = 1;
            }
            if (c->fd >= 0 && t - c->last > (c->quitting ? 2 : timeout)) drop(c);
        }
    }
}
