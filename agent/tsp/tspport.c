// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Where a TSP line is (tsp_internal.h, enum tl_port): a serial port of
 * this machine, or a port of a terminal server reached over TCP, raw
 * (the bytes as they are) or with Telnet and RFC 2217's Com Port Control
 * (telnet.h), as ser2net serves them. The line's state machine
 * (tspline.c) sees one file descriptor either way; this file opens it,
 * decodes and escapes Telnet, and knows how each kind hangs up.
 *
 * A terminal server's port is named in [tsp] lines as
 * [NAME=]rfc2217://HOST:PORT or [NAME=]tcp://HOST:PORT (HOST a name, an
 * IPv4 address or an IPv6 one in brackets). Its name in records and
 * bindings is NAME, else HOST-PORT with every character a line name
 * cannot hold made '-'. HOST is resolved when the TSP starts, before its
 * loop runs, so a slow DNS never stalls calls; connect() is non-blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>

#include "log.h"
#include "tsp_internal.h"

int sl_tspd_port_parse(struct tsp_line *l, const char *spec, char *err,
		       size_t err_len)
{
	const char *url = strstr(spec, "://"), *eq = strchr(spec, '=');
	const char *scheme = eq && eq < url ? eq + 1 : spec, *host, *colon;
	char hostbuf[256], port[16], name[sizeof(hostbuf) + sizeof(port) + 1];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	size_t hn;
	int r;

	if (!strncmp(scheme, "rfc2217://", 10))
		l->port = TL_PORT_RFC2217;
	else if (!strncmp(scheme, "tcp://", 6))
		l->port = TL_PORT_TCP;
	else {
		snprintf(err, err_len, "'%s' is not rfc2217://HOST:PORT or tcp://HOST:PORT",
			 spec);
		return -EINVAL;
	}
	host = url + 3;
	colon = strrchr(host, ':');
	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(port) ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1)) {
		snprintf(err, err_len, "'%s' needs a numeric port (HOST:PORT)", spec);
		return -EINVAL;
	}
	hn = (size_t)(colon - host);
	if (hn >= 2 && host[0] == '[' && host[hn - 1] == ']') {
		host++;
		hn -= 2;
	}
	if (!hn || hn >= sizeof(hostbuf)) {
		snprintf(err, err_len, "'%s' has no usable host", spec);
		return -EINVAL;
	}
	memcpy(hostbuf, host, hn);
	hostbuf[hn] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (eq && eq < url) {
		snprintf(name, sizeof(name), "%.*s", (int)(eq - spec), spec);
	} else {
		snprintf(name, sizeof(name), "%s-%s", hostbuf, port);
		for (char *c = name; *c; ++c)
			if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-", *c))
				*c = '-';
	}
	if (!sl_tsp_line_valid(name)) {
		snprintf(err, err_len, "'%s': the line name '%.80s' is not 1 to %d of A-Z a-z 0-9 . _ - (give one: NAME=%s)",
			 spec, name, SL_TSP_LINE_MAX, scheme);
		return -EINVAL;
	}
	memcpy(l->name, name, strlen(name) + 1);
	snprintf(l->path, sizeof(l->path), "%s", scheme);
	r = getaddrinfo(hostbuf, port, &hints, &ai);
	if (r) {
		snprintf(err, err_len, "'%s': cannot resolve %s: %s", spec, hostbuf,
			 gai_strerror(r));
		return -EHOSTUNREACH;
	}
	memcpy(&l->addr, ai->ai_addr, ai->ai_addrlen);
	l->addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

int sl_tspd_port_open(struct tsp_line *l, char *err, size_t err_len)
{
	int fd, one = 1;

	if (l->port == TL_PORT_TTY) {
		int bits, ret = sl_modem_open_tty(l->path, l->t->cfg->tsp.baud,
						  false, &l->fd, err, err_len);

		if (ret) {
			l->fd = -1;
			return ret;
		}
		l->has_dtr = !ioctl(l->fd, TIOCMGET, &bits);
		return 0;
	}
	fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		snprintf(err, err_len, "socket: %s", strerror(errno));
		return -errno;
	}
	/* Control frames are small and the modem waits for them. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&l->addr, l->addr_len) < 0 &&
	    errno != EINPROGRESS) {
		snprintf(err, err_len, "connecting to %s: %s", l->path,
			 strerror(errno));
		close(fd);
		return -errno;
	}
	l->fd = fd;
	l->has_dtr = false;	/* hung up by closing the connection */
	l->connecting = true;
	if (l->port == TL_PORT_RFC2217) {
		if (!l->tn)
			l->tn = calloc(1, sizeof(*l->tn));
		if (!l->tn) {
			snprintf(err, err_len, "out of memory");
			sl_tspd_port_close(l);
			return -ENOMEM;
		}
		sl_telnet_init(l->tn);
		sl_byteq_init(&l->wire, SL_TSP_WIRE_MAX);
	}
	return 0;
}

int sl_tspd_port_connected(struct tsp_line *l, char *err, size_t err_len)
{
	int e = 0;
	socklen_t len = sizeof(e);

	if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
		e = errno;
	if (e) {
		snprintf(err, err_len, "connecting to %s: %s", l->path,
			 strerror(e));
		return -e;
	}
	l->connecting = false;
	if (l->port == TL_PORT_RFC2217 &&
	    sl_telnet_open(l->tn, &l->wire, true, l->t->cfg->tsp.baud)) {
		snprintf(err, err_len, "%s: Telnet negotiation does not fit",
			 l->path);
		return -ENOBUFS;
	}
	return 0;
}

size_t sl_tspd_port_input(struct tsp_line *l, uint8_t *buf, size_t n)
{
	if (l->port != TL_PORT_RFC2217)
		return n;
	n = sl_telnet_decode(l->tn, buf, n, buf, &l->wire);
	if (sl_byteq_len(&l->wire))
		sl_tspd_port_flush(l);
	return n;
}

/* Telnet: move data from l->out to the wire, escaped, as room allows. */
static size_t escape_out(struct tsp_line *l)
{
	uint8_t esc[SL_TELNET_ESCAPED(SL_TSP_READ_CHUNK / 2)];
	size_t moved = 0;

	while (sl_byteq_len(&l->out)) {
		const uint8_t *p;
		size_t n = sl_byteq_peek(&l->out, &p), room = sl_byteq_room(&l->wire);

		if (n > SL_TSP_READ_CHUNK / 2)
			n = SL_TSP_READ_CHUNK / 2;
		if (SL_TELNET_ESCAPED(n) > room)
			n = room / 2;
		if (!n)
			break;
		if (sl_byteq_push(&l->wire, esc, sl_telnet_escape(p, n, esc)))
			break;
		sl_byteq_consume(&l->out, n);
		moved += n;
	}
	return moved;
}

ssize_t sl_tspd_port_flush(struct tsp_line *l)
{
	ssize_t w;
	size_t moved;

	if (l->connecting)
		return 0;
	if (l->port != TL_PORT_RFC2217)
		return sl_byteq_flush(&l->out, l->fd);
	moved = escape_out(l);
	w = sl_byteq_flush(&l->wire, l->fd);
	if (w < 0)
		return w;
	/* Room made on the wire takes more of the line's output. */
	if (w > 0 && sl_byteq_len(&l->out)) {
		moved += escape_out(l);
		w = sl_byteq_flush(&l->wire, l->fd);
		if (w < 0)
			return w;
	}
	return (ssize_t)moved;
}

bool sl_tspd_port_pending(const struct tsp_line *l)
{
	return sl_byteq_len(&l->out) ||
	       (l->port == TL_PORT_RFC2217 && sl_byteq_len(&l->wire));
}

void sl_tspd_port_hangup(struct tsp_line *l)
{
	if (l->port != TL_PORT_RFC2217 || l->fd < 0 || l->connecting)
		return;
	/* What was queued is moot; DTR off goes out first and alone. */
	sl_byteq_drop(&l->wire);
	if (!sl_telnet_set_dtr(&l->wire, false))
		sl_byteq_flush(&l->wire, l->fd);
}

void sl_tspd_port_close(struct tsp_line *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	l->connecting = false;
	if (l->port == TL_PORT_RFC2217)
		sl_byteq_free(&l->wire);
}
