/* The HTTP side: libmicrohttpd daemon, request life cycle, recording. */
#ifndef PS_SERVER_H
#define PS_SERVER_H

#include <microhttpd.h>
#include <stdbool.h>
#include <sys/socket.h>

struct server_config {
        const char *bind;
        unsigned int port;
        unsigned int threads;
        unsigned int connection_limit;
        unsigned int hang_ms; /* how long a "hang" holds its connection */
        bool verbose;
};

/* Parses an IPv4 or IPv6 literal; returns -1 if it is neither. */
int server_parse_addr(const char *host, unsigned int port,
                      struct sockaddr_storage *ss, socklen_t *len);

struct MHD_Daemon *server_start(const struct server_config *cfg,
                                unsigned int *bound_port);

/* Answers or drops every delayed request, then stops the daemon. */
void server_stop(struct MHD_Daemon *daemon);

#endif
