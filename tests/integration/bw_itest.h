/* Helpers for integration tests: real redis-server processes on free
 * loopback ports in temp dirs. */
#ifndef BW_ITEST_H
#define BW_ITEST_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bw_util.h"

/* A port that was free a moment ago (bind to 0, read it, close). */
static inline int bw_itest_free_port(void) {
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
        getsockname(fd, (struct sockaddr *)&sa, &len))
        abort();
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static inline bool bw_itest_port_open(int port) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok;

    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* Start redis-server on port with extra "--key value" args (NULL-ended);
 * returns its pid once it accepts connections. */
static inline pid_t bw_itest_redis_start(int port, const char *dir, const char *const *extra) {
    char portstr[16];
    const char *argv[32];
    int k = 0;
    pid_t pid;

    snprintf(portstr, sizeof(portstr), "%d", port);
    argv[k++] = "redis-server";
    argv[k++] = "--port";
    argv[k++] = portstr;
    argv[k++] = "--bind";
    argv[k++] = "127.0.0.1";
    argv[k++] = "--dir";
    argv[k++] = dir;
    argv[k++] = "--save";
    argv[k++] = "";
    argv[k++] = "--daemonize";
    argv[k++] = "no";
    argv[k++] = "--loglevel";
    argv[k++] = "warning";
    for (int i = 0; extra && extra[i] && k < 30; i++)
        argv[k++] = extra[i];
    argv[k] = NULL;
    if ((pid = fork()) == 0) {
        freopen("/dev/null", "w", stdout);
        execvp("redis-server", (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 200 && !bw_itest_port_open(port); i++)
        bw_sleep_ms(25);
    return pid;
}

static inline void bw_itest_kill(pid_t pid, int sig) {
    if (pid > 0) {
        kill(pid, sig);
        waitpid(pid, NULL, 0);
    }
}

#endif
