/* busy_idle.c: waits for clients and bytes by retrying a non-blocking accept and recv at once (EAGAIN): a core spins while nothing happens
 * A test fixture of the grader (grader/tests/): written the way a student
 * writes the assignment, with one classic mistake. Not an example to copy. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <time.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int port = 8080, timeout = 5;

static void send_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return;
        p += k;
        n -= (size_t)k;
    }
}

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    char buf[1024], line[8192];
    size_t len = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double last = ts.tv_sec + ts.tv_nsec / 1e9;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EAGAIN) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            if (ts.tv_sec + ts.tv_nsec / 1e9 - last <= timeout) continue;
            /* one last look: the thread may have been asleep while bytes came */
            n = recv(fd, buf, sizeof buf, 0);
            if (n < 0 && errno == EAGAIN) break;
        }
        if (n <= 0) break;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        last = ts.tv_sec + ts.tv_nsec / 1e9;
        for (ssize_t i = 0; i < n; i++) {
            if (len < sizeof line) line[len++] = buf[i];
            if (buf[i] == '\n' || len == sizeof line) {
                if ((len == 5 && memcmp(line, "quit\n", 5) == 0) || (len == 6 && memcmp(line, "quit\r\n", 6) == 0)) {
                    fcntl(fd, F_SETFL, 0);
                    shutdown(fd, SHUT_WR);
                    struct timeval two = {.tv_sec = 2};
                    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &two, sizeof two);
                    while (recv(fd, buf, sizeof buf, 0) > 0) {
                    }
                    close(fd);
                    return NULL;
                }
                send_all(fd, line, len);
                len = 0;
            }
        }
    }
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    int opt;
    while ((opt = getopt(argc, argv, "p:t:")) != -1) {
        if (opt == 'p') port = atoi(optarg);
        if (opt == 't') timeout = atoi(optarg);
    }
    
    int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 128) < 0) {
        perror("bind");
        return 1;
    }
    printf("server on port %d\n", port);
    fflush(stdout);
    fcntl(s, F_SETFL, O_NONBLOCK);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue; /* EAGAIN: no client yet, ask again at once */
        fcntl(c, F_SETFL, 0);
        pthread_t t;
        pthread_create(&t, NULL, serve, (void *)(long)c);
        pthread_detach(t);
    }
}
