/* SPDX-License-Identifier: GPL-2.0 */
/*
 * benchnet.h - the two ends of a benchmark transfer (bulk.c, rtt.c): a
 * pair of ttys, or a TCP connection between two network namespaces, so
 * that sealine, the bare line and what a user might run instead (pppd +
 * TCP, pppd + WireGuard + TCP) are timed by the same program.
 *
 * An end is a tty path, or "tcp:NETNS:ADDR:PORT": a TCP connection to the
 * IPv4 address ADDR, port PORT, made from the network namespace NETNS
 * (the name "ip netns add" gave it, /run/netns/NETNS; empty for the
 * program's own namespace). Both ends of a pair name the same ADDR:PORT:
 * the second end listens there, inside its namespace, and the first
 * connects to it from inside its own. One process then holds both sockets
 * (setns() changes only where a new socket is made), with TCP_NODELAY
 * set, as an interactive program sets it. Header-only; every function is
 * static.
 */
#ifndef SEALINE_BENCHNET_H
#define SEALINE_BENCHNET_H

#include "benchtty.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

/* How long setting up the connection may take: a few SYNs on a noisy line. */
#define BT_TCP_SETUP_MS 30000
#define BT_TCP_PREFIX "tcp:"

struct bt_tcp_end {
	char netns[256];
	struct sockaddr_in addr;
};

static inline int bt_is_tcp(const char *spec)
{
	return !strncmp(spec, BT_TCP_PREFIX, strlen(BT_TCP_PREFIX));
}

/* Parse "tcp:NETNS:ADDR:PORT" into *end, or exit with status 2. */
static inline void bt_parse_tcp(const char *spec, struct bt_tcp_end *end)
{
	const char *ns = spec + strlen(BT_TCP_PREFIX), *addr, *port;
	char host[INET_ADDRSTRLEN];
	unsigned long p;
	char *stop;

	addr = strchr(ns, ':');
	port = addr ? strrchr(addr + 1, ':') : NULL;
	if (!addr || !port || (size_t)(addr - ns) >= sizeof(end->netns) ||
	    (size_t)(port - addr - 1) >= sizeof(host))
		goto bad;
	memset(end, 0, sizeof(*end));
	memcpy(end->netns, ns, (size_t)(addr - ns));
	memcpy(host, addr + 1, (size_t)(port - addr - 1));
	host[port - addr - 1] = '\0';
	errno = 0;
	p = strtoul(port + 1, &stop, 10);
	if (errno || stop == port + 1 || *stop || !p || p > 65535)
		goto bad;
	end->addr.sin_family = AF_INET;
	end->addr.sin_port = htons((uint16_t)p);
	if (inet_pton(AF_INET, host, &end->addr.sin_addr) != 1)
		goto bad;
	return;
bad:
	fprintf(stderr, "bad TCP end '%s': want tcp:NETNS:ADDR:PORT (NETNS may be empty, ADDR an IPv4 address)\n",
		spec);
	exit(2);
}

/*
 * A TCP socket made in network namespace NETNS (empty: this one); the
 * calling thread is back in the namespace ORIG when it returns. Exits
 * with status 2 on failure.
 */
static inline int bt_tcp_socket_in(const char *netns, int orig)
{
	char path[300];
	int ns, fd, saved;

	if (!*netns)
		goto make;
	snprintf(path, sizeof(path), "/run/netns/%s", netns);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET)) {
		fprintf(stderr, "network namespace %s: %s\n", path, strerror(errno));
		exit(2);
	}
	close(ns);
make:
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	saved = errno;
	if (*netns && setns(orig, CLONE_NEWNET)) {
		perror("setns back to the program's own network namespace");
		exit(2);
	}
	if (fd < 0) {
		fprintf(stderr, "socket in namespace '%s': %s\n", netns, strerror(saved));
		exit(2);
	}
	return fd;
}

/* Wait up to BT_TCP_SETUP_MS for EVENTS on fd, or exit with status 2. */
static inline void bt_tcp_wait(int fd, short events, const char *what)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	do
		r = poll(&p, 1, BT_TCP_SETUP_MS);
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		fprintf(stderr, "%s: %s\n", what, r ? strerror(errno) : "timed out");
		exit(2);
	}
}

static inline void bt_tcp_nodelay(int fd)
{
	int one = 1;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		perror("TCP_NODELAY");
		exit(2);
	}
}

/* Connect A to B across namespaces; *fa and *fb are blocking sockets. */
static inline void bt_tcp_pair(const char *a, const char *b, int *fa, int *fb)
{
	struct bt_tcp_end ea, eb;
	int orig, lis, one = 1, err = 0;
	socklen_t len = sizeof(err);

	bt_parse_tcp(a, &ea);
	bt_parse_tcp(b, &eb);
	if (ea.addr.sin_addr.s_addr != eb.addr.sin_addr.s_addr ||
	    ea.addr.sin_port != eb.addr.sin_port) {
		fprintf(stderr, "TCP ends '%s' and '%s' name different addresses: both name the listening end's\n",
			a, b);
		exit(2);
	}
	orig = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0) {
		perror("/proc/self/ns/net");
		exit(2);
	}
	lis = bt_tcp_socket_in(eb.netns, orig);
	if (setsockopt(lis, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lis, (struct sockaddr *)&eb.addr, sizeof(eb.addr)) || listen(lis, 1)) {
		fprintf(stderr, "listen on %s: %s\n", b, strerror(errno));
		exit(2);
	}
	*fa = bt_tcp_socket_in(ea.netns, orig);
	close(orig);
	/* non-blocking connect: a dead link must not hang the benchmark */
	if (fcntl(*fa, F_SETFL, O_NONBLOCK) ||
	    (connect(*fa, (struct sockaddr *)&ea.addr, sizeof(ea.addr)) && errno != EINPROGRESS)) {
		fprintf(stderr, "connect from %s: %s\n", a, strerror(errno));
		exit(2);
	}
	bt_tcp_wait(*fa, POLLOUT, "connect");
	if (getsockopt(*fa, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
		fprintf(stderr, "connect from %s: %s\n", a, strerror(err ? err : errno));
		exit(2);
	}
	bt_tcp_wait(lis, POLLIN, "accept");
	*fb = accept4(lis, NULL, NULL, SOCK_CLOEXEC);
	if (*fb < 0 || fcntl(*fa, F_SETFL, 0)) {
		fprintf(stderr, "accept on %s: %s\n", b, strerror(errno));
		exit(2);
	}
	close(lis);
	bt_tcp_nodelay(*fa);
	bt_tcp_nodelay(*fb);
}

/*
 * Open the ends A (the sender, the one who types) and B (the receiver,
 * the one who echoes): both ttys (raw, see bt_open_raw; B is opened
 * first, so that nothing A's open provokes is lost) or both TCP. Exits
 * with status 2 on failure.
 */
static inline void bt_open_pair(const char *a, const char *b, int *fa, int *fb)
{
	if (bt_is_tcp(a) != bt_is_tcp(b)) {
		fprintf(stderr, "'%s' and '%s': both ends are ttys or both are TCP\n", a, b);
		exit(2);
	}
	if (bt_is_tcp(a)) {
		bt_tcp_pair(a, b, fa, fb);
		return;
	}
	*fb = bt_open_raw(b);
	*fa = bt_open_raw(a);
}

#endif /* SEALINE_BENCHNET_H */
