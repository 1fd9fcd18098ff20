// SPDX-License-Identifier: GPL-2.0
/*
 * ex_line.c - the lines of sealine-exchange: each line's output queue (bytes
 * towards its endpoint, paced at 10 bits per byte during a paced call),
 * the data-mode path of a call (+++ detection, impairments, frames kept
 * for replay), and the endpoints themselves (QEMU socket or pty: connect,
 * open, read, write, going away).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "exchange.h"

/* ------------------------------------------------------------ output queue */

void ex_q_push(struct line *l, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	if (!l->up)
		return;	/* nobody there to hear it */
	if (l->qlen + n > l->qcap) {
		size_t ncap = l->qcap ? l->qcap : 4096;
		uint8_t *nq;

		while (ncap < l->qlen + n)
			ncap *= 2;
		nq = ex_xmalloc(ncap);
		for (size_t i = 0; i < l->qlen; i++)
			nq[i] = l->q[(l->qhead + i) % l->qcap];
		free(l->q);
		l->q = nq;
		l->qcap = ncap;
		l->qhead = 0;
	}
	if (!l->qlen && l->paced) {
		/* an idle line does not save up time for a burst */
		uint64_t now = ex_now_ns();

		if (l->next_free < now)
			l->next_free = now;
	}
	for (size_t i = 0; i < n; i++)
		l->q[(l->qhead + l->qlen + i) % l->qcap] = p[i];
	l->qlen += n;
}

void ex_q_puts(struct line *l, const char *s)
{
	ex_q_push(l, s, strlen(s));
}

/* How much may wait for this line before its peer is not read any more:
 * paced, a tenth of a second of line time, so back pressure reaches the
 * sender as on a real line.
 */
static size_t q_limit(const struct line *l)
{
	size_t ahead;

	if (!l->paced)
		return QUEUE_UNPACED_MAX;
	ahead = l->speed / 10 * PACED_AHEAD_MS / 1000;
	return ahead < PACED_MIN_QUEUE ? PACED_MIN_QUEUE : ahead;
}

static uint64_t byte_ns(const struct line *l)
{
	/* 8N1: start bit, 8 data bits, stop bit */
	return (10 * NSEC_PER_SEC + l->speed / 2) / l->speed;
}

/* ------------------------------------------------------------ data mode */
/* True with probability rate / 1e6. */
static bool chance(struct line *l, unsigned long rate)
{
	return rate && ex_splitmix64(&l->rng) % RATE_MAX < rate;
}

static void frame_done(struct line *l)
{
	struct frame *f;

	if (l->cur_over || !l->cur_len) {
		l->cur_len = 0;
		l->cur_over = false;
		return;
	}
	l->cur[l->cur_len++] = 0x00;
	f = &l->ring[l->ring_head];
	free(f->data);
	f->data = ex_xmalloc(l->cur_len);
	memcpy(f->data, l->cur, l->cur_len);
	f->len = l->cur_len;
	l->ring_head = (l->ring_head + 1) % RING_FRAMES;
	if (l->ring_n < RING_FRAMES)
		l->ring_n++;
	l->cur_len = 0;
	if (l->replay_k && l->ring_n >= l->replay_k) {
		struct frame *r = &l->ring[(l->ring_head + RING_FRAMES - l->replay_k) % RING_FRAMES];

		ex_q_push(l->peer, r->data, r->len);
		l->replayed++;
		ex_event("replay line=%s to=%s back=%u bytes=%zu", l->id, l->peer->id,
		      l->replay_k, r->len);
		l->replay_k = 0;
	}
}

static void data_byte(struct line *l, uint8_t c, uint64_t now)
{
	uint64_t guard = (uint64_t)l->s[S_GUARD] * NSEC_PER_SEC / 50;
	uint8_t orig = c;

	/* +++ with a guard time of silence before, between and after */
	if (c == l->s[S_ESCAPE] && l->s[S_ESCAPE] <= 127 &&
	    ((l->plus == 0 && now - l->last_rx >= guard) ||
	     (l->plus > 0 && l->plus < 3 && now - l->last_plus <= guard))) {
		l->plus++;
		l->last_plus = now;
		l->t_escape = l->plus == 3 ? now + guard : 0;
		if (l->plus == 3 && !l->t_escape)
			l->t_escape = 1;
	} else {
		l->plus = 0;
		l->t_escape = 0;
	}
	l->last_rx = now;

	l->call_sent++;
	if (chance(l, l->drop)) {
		l->dropped++;
	} else {
		if (chance(l, l->flip)) {
			c ^= (uint8_t)(1u << (ex_splitmix64(&l->rng) % 8));
			l->flipped++;
		}
		ex_q_push(l->peer, &c, 1);
	}
	if (chance(l, l->insert)) {
		uint8_t r = (uint8_t)ex_splitmix64(&l->rng);

		ex_q_push(l->peer, &r, 1);
		l->inserted++;
	}

	if (!l->cur)
		l->cur = ex_xmalloc(FRAME_MAX);
	if (orig == 0x00)
		frame_done(l);
	else if (!l->cur_over && l->cur_len < FRAME_MAX - 1)
		l->cur[l->cur_len++] = orig;
	else
		l->cur_over = true;
}

/* ------------------------------------------------------------ endpoints */

/* The endpoint went away (socket closed, pty slave closed): a modem
 * whose DTE drops DTR (&D2) hangs up; over a socket or a pty DTR cannot
 * be seen, so the closing stands for it whatever &D says.
 */
void ex_endpoint_down(struct line *l, uint64_t now)
{
	ex_event("down line=%s", l->id);
	if (l->st == ST_ONLINE || l->st == ST_ONLINE_CMD)
		ex_end_call(l, "close");
	else if (l->st == ST_DIALING)
		ex_abort_dial(l, "close", false);
	else if (l->st == ST_OFFHOOK)
		l->st = ST_IDLE;
	l->up = false;
	l->qlen = 0;
	l->cmd_len = 0;
	l->cmd_overflow = false;
	l->blocked = false;
	if (l->kind == K_PTY) {
		l->recheck = now + PTY_RECHECK_MS * NSEC_PER_MSEC;
	} else {
		close(l->fd);
		l->fd = -1;
		l->gone = true;
	}
}

void ex_endpoint_up(struct line *l)
{
	l->up = true;
	l->blocked = false;
	l->qlen = 0;
	ex_event("up line=%s", l->id);
}

static void capture(int fd, const uint8_t *buf, size_t n)
{
	/* best effort: a full disk must not stop the exchange */
	if (fd >= 0 && write(fd, buf, n) != (ssize_t)n)
		fprintf(stderr, "sealine-exchange: capture write: %s\n", strerror(errno));
}

/* May the endpoint of l be read now? Not while its peer's queue is full. */
bool ex_may_read(const struct line *l)
{
	if (!l->up)
		return false;
	if (l->st == ST_ONLINE)
		return l->peer->qlen < q_limit(l->peer);
	return true;
}

void ex_do_read(struct line *l)
{
	uint8_t buf[READ_CHUNK];
	size_t want = READ_CHUNK;
	ssize_t n;
	uint64_t now;

	if (l->st == ST_ONLINE) {
		size_t lim = q_limit(l->peer);

		if (l->peer->qlen >= lim)
			return;
		if (lim - l->peer->qlen < want)
			want = lim - l->peer->qlen;
	}
	n = read(l->fd, buf, want);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	now = ex_now_ns();
	if (n <= 0) {
		ex_endpoint_down(l, now);
		return;
	}
	l->rx += (uint64_t)n;
	capture(l->cap_tx, buf, (size_t)n);
	for (ssize_t i = 0; i < n; i++) {
		/* the mode may change within a chunk (+++ does not: it
		 * takes effect after the guard time)
		 */
		if (l->st == ST_ONLINE)
			data_byte(l, buf[i], now);
		else
			ex_modem_byte(l, buf[i]);
	}
}

void ex_do_write(struct line *l, uint64_t now)
{
	size_t n = l->qlen, first;
	ssize_t w;

	if (!n || !l->up)
		return;
	if (l->paced) {
		uint64_t bt = byte_ns(l), k;

		if (l->blocked && l->next_free < now)
			l->next_free = now;	/* no burst after a stall */
		if (l->next_free > now)
			return;
		k = (now - l->next_free) / bt + 1;
		if (k < n)
			n = (size_t)k;
	}
	first = l->qcap - l->qhead;
	if (n > first)
		n = first;
	w = write(l->fd, l->q + l->qhead, n);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			l->blocked = true;
			return;
		}
		if (l->kind == K_PTY && errno == EIO)
			return;	/* the slave closed: the next read tells */
		ex_endpoint_down(l, now);
		return;
	}
	l->blocked = (size_t)w < n;
	capture(l->cap_rx, l->q + l->qhead, (size_t)w);
	l->qhead = (l->qhead + (size_t)w) % l->qcap;
	l->qlen -= (size_t)w;
	l->tx += (uint64_t)w;
	if (l->paced)
		l->next_free += (uint64_t)w * byte_ns(l);
}

int ex_connect_unix(struct line *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	strcpy(sa.sun_path, l->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		ex_fatal("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (errno != ENOENT && errno != ECONNREFUSED && errno != EAGAIN)
			ex_fatal("line %s: connect %s: %s", l->id, l->path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!ex_set_nonblock(fd))
		ex_fatal("fcntl: %s", strerror(errno));
	return fd;
}

void ex_open_pty(struct line *l)
{
	struct termios tio;
	const char *name;

	l->fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (l->fd < 0)
		ex_fatal("posix_openpt: %s", strerror(errno));
	if (grantpt(l->fd) || unlockpt(l->fd) || !(name = ptsname(l->fd)))
		ex_fatal("pty for line %s: %s", l->id, strerror(errno));
	/* raw, 8N1, no echo: termios set on the master applies to the slave */
	if (tcgetattr(l->fd, &tio))
		ex_fatal("tcgetattr: %s", strerror(errno));
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	if (tcsetattr(l->fd, TCSANOW, &tio))
		ex_fatal("tcsetattr: %s", strerror(errno));
	if (!ex_set_nonblock(l->fd))
		ex_fatal("fcntl: %s", strerror(errno));
	if (unlink(l->path) && errno != ENOENT)
		ex_fatal("line %s: cannot replace %s: %s", l->id, l->path, strerror(errno));
	if (symlink(name, l->path))
		ex_fatal("line %s: symlink %s -> %s: %s", l->id, l->path, name, strerror(errno));
	l->recheck = 0;
}

/* A pty nobody has open reports POLLHUP at once: it is polled on its own,
 * every PTY_RECHECK_MS, until someone opens it.
 */
void ex_pty_check(struct line *l, uint64_t now)
{
	struct pollfd p = { .fd = l->fd, .events = POLLIN };

	if (poll(&p, 1, 0) < 0)
		return;
	if (p.revents & POLLHUP) {
		l->recheck = now + PTY_RECHECK_MS * NSEC_PER_MSEC;
		return;
	}
	ex_endpoint_up(l);
}

