/* client_pieces.c: a line client that prints each recv as it comes ("echo:
 * " and the piece): a line that comes back in pieces shows as several.
 * A test fixture of the grader (grader/tests/). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *host = argc > 1 ? argv[1] : "127.0.0.1";
    int port = argc > 2 ? atoi(argv[2]) : 8080;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
        perror("connect");
        return 1;
    }
    printf("connected to %s:%d\n", host, port);
    fflush(stdout);
    char line[8192], buf[8192];
    while (fgets(line, sizeof line, stdin)) {
        send(s, line, strlen(line), 0);
        if (strcmp(line, "quit\n") == 0) break;
        ssize_t n = recv(s, buf, sizeof buf - 1, 0);
        if (n <= 0) {
            printf("server closed the connection\n");
            return 1;
        }
        buf[n] = 0;
        printf("echo: %s%s", buf, buf[n - 1] == '\n' ? "" : "\n");
        fflush(stdout);
    }
    printf("closing connection\n");
    close(s);
    return 0;
}
