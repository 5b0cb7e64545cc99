/*
 * epoll_floor: the floor for scripts/compare.sh, an HTTP server in C that does the least
 * work possible, so that the CPU time per request of the Rust servers can be set against
 * what the kernel alone costs.
 *
 * N threads (--threads, default 2), each with its own SO_REUSEPORT listener and its own
 * epoll fd; non-blocking sockets, level-triggered. Each connection has an 8 KiB buffer:
 * every complete request head (up to "\r\n\r\n") in it is answered with the same fixed
 * 13-byte "Hello, World!" response as tokio_http, all the answers to one read in one
 * write; a partial head is kept for the next read. Like tokio_http it parses nothing else:
 * any request, HTTP/1.0 or 1.1, is answered and the connection kept open. A connection is
 * closed on EOF, on an error, on a head larger than the buffer, and when the socket does
 * not take a whole write (a client that does not read: the floor buffers no output).
 *
 * Prints "listening on http://IP:PORT (epoll floor)" first, and exits with status 0 on
 * SIGTERM or SIGINT. IPv4 only.
 *
 * Build: gcc -O2 -Wall -Wextra -pthread -o epoll_floor scripts/epoll_floor.c
 * Usage: epoll_floor [--addr IP:PORT] [--threads N]   (default 127.0.0.1:8080, 2 threads)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define RESPONSE "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!"
#define RESPONSE_LEN (sizeof(RESPONSE) - 1)
#define BATCH 64 /* responses written per send() at most */
#define BUF_SIZE 8192

struct conn {
    int fd;
    size_t len; /* bytes of buf filled */
    char buf[BUF_SIZE];
};

static char responses[BATCH * RESPONSE_LEN]; /* RESPONSE, BATCH times */

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* A non-blocking SO_REUSEPORT listener on addr (whose port may be 0). */
static int listen_on(const struct sockaddr_in *addr) {
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket");
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        die("setsockopt");
    if (bind(fd, (const struct sockaddr *)addr, sizeof *addr) < 0) die("bind");
    if (listen(fd, 4096) < 0) die("listen");
    return fd;
}

static int close_conn(struct conn *c) {
    close(c->fd); /* also removes it from the epoll set */
    free(c);
    return -1;
}

/* Read what is there, answer every complete head, keep the rest. 0: keep, -1: closed. */
static int on_readable(struct conn *c) {
    ssize_t n = read(c->fd, c->buf + c->len, BUF_SIZE - c->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    if (n <= 0) return close_conn(c);
    c->len += (size_t)n;
    size_t start = 0, count = 0;
    char *end;
    while ((end = memmem(c->buf + start, c->len - start, "\r\n\r\n", 4)) != NULL) {
        start = (size_t)(end - c->buf) + 4;
        count++;
    }
    if (count == 0 && c->len == BUF_SIZE) return close_conn(c); /* head too large */
    memmove(c->buf, c->buf + start, c->len - start);
    c->len -= start;
    while (count > 0) {
        size_t k = count < BATCH ? count : BATCH;
        size_t want = k * RESPONSE_LEN;
        if (send(c->fd, responses, want, MSG_NOSIGNAL) != (ssize_t)want) return close_conn(c);
        count -= k;
    }
    return 0;
}

static void *serve(void *arg) {
    int lfd = *(int *)arg, one = 1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}; /* NULL: the listener */
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) die("epoll_ctl");
    struct epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct conn *c = events[i].data.ptr;
            if (c != NULL) {
                on_readable(c); /* EOF and errors show up as a failed read */
                continue;
            }
            int fd;
            while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = malloc(sizeof *c);
                if (c == NULL) {
                    close(fd);
                    continue;
                }
                c->fd = fd;
                c->len = 0;
                ev.events = EPOLLIN;
                ev.data.ptr = c;
                if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) close_conn(c);
            }
        }
    }
    return NULL;
}

static void usage(const char *argv0) {
    fprintf(stderr, "usage: %s [--addr IP:PORT] [--threads N]\n", argv0);
    exit(2);
}

int main(int argc, char **argv) {
    const char *addr_arg = "127.0.0.1:8080";
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--addr") == 0 && i + 1 < argc) {
            addr_arg = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
            if (threads < 1) usage(argv[0]);
        } else {
            usage(argv[0]);
        }
    }
    char host[64];
    const char *colon = strrchr(addr_arg, ':');
    struct sockaddr_in addr = {.sin_family = AF_INET};
    if (colon == NULL || (size_t)(colon - addr_arg) >= sizeof host) usage(argv[0]);
    memcpy(host, addr_arg, (size_t)(colon - addr_arg));
    host[colon - addr_arg] = '\0';
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) usage(argv[0]);
    addr.sin_port = htons((unsigned short)atoi(colon + 1));

    for (size_t i = 0; i < BATCH; i++) memcpy(responses + i * RESPONSE_LEN, RESPONSE, RESPONSE_LEN);

    /* The threads inherit this mask: only main takes SIGTERM/SIGINT, in sigwait. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    /* The first listener picks the port (when 0); the others bind the same one. */
    int *lfds = calloc((size_t)threads, sizeof *lfds);
    if (lfds == NULL) die("calloc");
    socklen_t len = sizeof addr;
    lfds[0] = listen_on(&addr);
    if (getsockname(lfds[0], (struct sockaddr *)&addr, &len) < 0) die("getsockname");
    for (int i = 1; i < threads; i++) lfds[i] = listen_on(&addr);
    printf("listening on http://%s:%d (epoll floor)\n", host, ntohs(addr.sin_port));
    fflush(stdout);

    for (int i = 0; i < threads; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, serve, &lfds[i]) != 0) die("pthread_create");
    }
    int sig;
    sigwait(&stop, &sig);
    return 0;
}
