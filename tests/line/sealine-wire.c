// SPDX-License-Identifier: GPL-2.0
/*
 * sealine-wire - the host "line" between two QEMU UARTs.
 *
 * Connects as a client to two unix stream sockets served by QEMU (socket
 * chardevs of guest UARTs A and B) and relays bytes both ways, optionally
 * pacing them at a baud rate and injecting faults (bit flips, drops,
 * inserted bytes, delay, replayed frames). A third, optional socket (the
 * guest's control UART) carries text commands that change all of that at
 * run time. See usage() for the manual.
 *
 * Structure: each direction (a2b: A -> B, b2a: B -> A) owns a queue of
 * bytes with the time each may leave. Bytes read from the source go
 * through fault injection into the queue; the queue is flushed to the
 * destination when bytes are due (delay) and the line is free (pacing,
 * 10 bits per byte). One poll() loop drives everything; nothing sleeps
 * or busy-waits.
 *
 * "mitm on" hands every control frame to a man in the middle (mitm.c,
 * sealined's own handshake core with keys of its own) instead of
 * relaying it; its answers are queued like any other bytes.
 *
 * Why one file of about 1,600 lines: it is one program whose parts
 * (options, the two queues, pacing, fault injection, the control
 * commands) all act on the same struct wire inside one poll() loop; the
 * man in the middle, the only part with a concern of its own, is already
 * in mitm.c and grind.c.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mitm.h"

#define NSEC_PER_SEC	UINT64_C(1000000000)
#define NSEC_PER_MSEC	UINT64_C(1000000)

#define RING_FRAMES	32		/* frames remembered for replay */
#define FRAME_MAX	16384		/* longer "frames" are not frames */
#define READ_CHUNK	4096
#define QUEUE_SOFT_MAX	(1u << 20)	/* stop reading above this backlog */
#define PACED_AHEAD_MS	100		/* paced: default read-ahead in line time */
#define PACED_MIN_QUEUE	64
#define MIN_PACED_SLEEP_NS UINT64_C(1000000)	/* paced: wake at most every 1 ms */
#define CTL_LINE_MAX	256
#define MAX_BAUD	100000000UL
#define OUTAGE_MAX_MS	600000UL	/* "outage": at most 10 minutes */
#define GARBAGE_MAX	65536UL		/* "garbage": at most 64 KiB at once */

enum { A2B, B2A, NDIR };

/* Classes of control frames for ctlstats, by handshake message type. */
enum { HS_PAIR, HS_SESSION, HS_OTHER, HS_NCLASS };
static const char *const hs_class_name[HS_NCLASS] = { "pair", "session", "other" };
/* COBS-encoded control frame: code byte, header 0x50, version, type: the
 * header, version and type are never 0, so they are bytes 1..3. */
#define CTL_HDR		0x50

struct qent {
	uint64_t ready;		/* CLOCK_MONOTONIC ns before which it may not leave */
	uint8_t byte;
};

struct frame {
	uint8_t *data;		/* including the trailing 0x00 delimiter */
	size_t len;
};

struct dir {
	const char *name;
	int *src, *dst;		/* endpoint fds (shared with the other direction) */

	/* queue of bytes waiting to leave towards dst (ring buffer) */
	struct qent *q;
	size_t qcap, qhead, qlen;
	uint64_t last_ready;

	/* settings */
	unsigned long baud;	/* 0: not paced */
	unsigned long flip_n, drop_n, insert_n, delay_ms;
	unsigned long buffer;	/* paced read-ahead in bytes, 0: automatic */
	unsigned long flip_cnt, drop_cnt, insert_cnt;
	unsigned int replay_k;	/* armed one-shot replay, 0 if none */
	bool replay_all;
	uint64_t outage_until;	/* input dropped until then (ns), 0: none */

	/* frames seen on the input, newest at ring[(ring_head - 1) % N] */
	uint8_t cur[FRAME_MAX];
	size_t cur_len;
	bool cur_overflow;
	struct frame ring[RING_FRAMES];
	size_t ring_head, ring_n;

	/* pacing: the line is busy until next_free */
	uint64_t next_free;
	bool blocked;		/* last write hit EAGAIN or was partial */

	uint64_t rng;
	int rec_fd;

	bool eof;		/* source closed */
	bool dead;		/* destination closed: drop everything */

	uint64_t in, out, flipped, dropped, inserted, frames, replayed;
	/* sealined's handshake messages seen on the input (ctlstats):
	 * count and wire bytes (with the delimiter) per class */
	uint64_t hs_msgs[HS_NCLASS], hs_bytes[HS_NCLASS];
};

static struct dir dirs[NDIR];
static int fd_a = -1, fd_b = -1, fd_ctl = -1;
static bool verbose;
static uint64_t t_start;
static uint64_t seed = 1;
static uint64_t initial_seed;

/* The settings a "reset" goes back to: those of the command line. */
struct settings {
	unsigned long baud, flip_n, drop_n, insert_n, delay_ms, buffer;
	unsigned int replay_k;
	bool replay_all;
};
static struct settings initial[NDIR];

static char ctl_in[CTL_LINE_MAX + 1];	/* the line being assembled */
static size_t ctl_in_len;
static bool ctl_in_overlong;
static char ctl_raw[4096];	/* received, not yet parsed */
static size_t ctl_raw_len;
static char *ctl_out;
static size_t ctl_out_len, ctl_out_cap;
static bool drain_pending;	/* a "drain" command waits for empty queues */

static volatile sig_atomic_t got_signal;

/* "mitm on": control frames go to the man in the middle (mitm.c). */
static struct sl_mitm *mitm;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void __attribute__((format(printf, 1, 2))) logmsg(const char *fmt, ...)
{
	uint64_t t = now_ns() - t_start;
	va_list ap;

	fprintf(stderr, "[%5" PRIu64 ".%03" PRIu64 "] ", t / NSEC_PER_SEC,
		(t % NSEC_PER_SEC) / NSEC_PER_MSEC);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((noreturn, format(printf, 1, 2))) fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("sealine-wire: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		fatal("out of memory");
	return p;
}

/* ------------------------------------------------------------ randomness */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint32_t rnd(struct dir *d)
{
	return (uint32_t)(splitmix64(&d->rng) >> 32);
}

static void reseed(uint64_t s)
{
	seed = s;
	for (int i = 0; i < NDIR; i++)
		dirs[i].rng = s ^ (0xA5A5A5A500000000ULL * (uint64_t)(i + 1));
}

static struct settings get_settings(const struct dir *d)
{
	return (struct settings){
		.baud = d->baud, .flip_n = d->flip_n, .drop_n = d->drop_n,
		.insert_n = d->insert_n, .delay_ms = d->delay_ms,
		.buffer = d->buffer, .replay_k = d->replay_k,
		.replay_all = d->replay_all,
	};
}

/* Back to the state after start-up: settings, seed, counters; bytes still
 * queued and the frames remembered for replay are dropped.
 */
static void mitm_free_quiet(void);

static void reset_all(void)
{
	mitm_free_quiet();
	for (int i = 0; i < NDIR; i++) {
		struct dir *d = &dirs[i];
		const struct settings *st = &initial[i];

		d->baud = st->baud;
		d->flip_n = st->flip_n;
		d->drop_n = st->drop_n;
		d->insert_n = st->insert_n;
		d->delay_ms = st->delay_ms;
		d->buffer = st->buffer;
		d->replay_k = st->replay_k;
		d->replay_all = st->replay_all;
		d->outage_until = 0;
		d->flip_cnt = d->drop_cnt = d->insert_cnt = 0;
		d->qlen = 0;
		d->qhead = 0;
		d->last_ready = 0;
		d->next_free = 0;
		d->cur_len = 0;
		d->cur_overflow = false;
		for (int f = 0; f < RING_FRAMES; f++) {
			free(d->ring[f].data);
			d->ring[f].data = NULL;
			d->ring[f].len = 0;
		}
		d->ring_head = d->ring_n = 0;
		d->in = d->out = d->flipped = d->dropped = 0;
		d->inserted = d->frames = d->replayed = 0;
		memset(d->hs_msgs, 0, sizeof(d->hs_msgs));
		memset(d->hs_bytes, 0, sizeof(d->hs_bytes));
	}
	reseed(initial_seed);
}

/* ------------------------------------------------------------ queue */

static void q_push(struct dir *d, uint8_t byte, uint64_t ready)
{
	if (d->dead)
		return;
	if (d->qlen == d->qcap) {
		size_t ncap = d->qcap ? d->qcap * 2 : 4096;
		struct qent *nq = xmalloc(ncap * sizeof(*nq));

		for (size_t i = 0; i < d->qlen; i++)
			nq[i] = d->q[(d->qhead + i) % d->qcap];
		free(d->q);
		d->q = nq;
		d->qcap = ncap;
		d->qhead = 0;
	}
	/* bytes never overtake each other, whatever the delay changes do */
	if (ready < d->last_ready)
		ready = d->last_ready;
	d->last_ready = ready;
	d->q[(d->qhead + d->qlen) % d->qcap] = (struct qent){ .ready = ready, .byte = byte };
	d->qlen++;
}

/*
 * How many bytes a direction holds before it stops reading its source.
 * Unpaced: plenty (the bytes leave at once anyway, except with delay).
 * Paced: the bytes of the delay plus a small read-ahead, so that back
 * pressure reaches the sending UART as on a real line.
 */
static size_t q_limit(const struct dir *d)
{
	size_t per_sec, ahead;

	if (!d->baud)
		return QUEUE_SOFT_MAX;
	per_sec = d->baud / 10;
	ahead = d->buffer;
	if (!ahead) {
		ahead = per_sec * PACED_AHEAD_MS / 1000;
		if (ahead < PACED_MIN_QUEUE)
			ahead = PACED_MIN_QUEUE;
	}
	if (ahead > QUEUE_SOFT_MAX)
		ahead = QUEUE_SOFT_MAX;
	return ahead + per_sec * d->delay_ms / 1000;
}

/* Read again only once the queue is down to this: reading in big chunks
 * keeps the number of wake-ups low (and the schedule independent of how
 * fast this process gets the CPU).
 */
static size_t q_low(const struct dir *d)
{
	size_t lim = q_limit(d);

	return d->baud ? lim - (lim + 3) / 4 : lim - 1;
}

static uint64_t byte_ns(const struct dir *d)
{
	/* 8N1: start bit, 8 data bits, stop bit */
	return (10 * NSEC_PER_SEC + d->baud / 2) / d->baud;
}

/* ------------------------------------------------------------ faults */

static void frame_done(struct dir *d, uint64_t ready)
{
	struct frame *f;

	if (d->cur_overflow || d->cur_len == 0) {
		/* a lone delimiter or an over-long run: not a frame */
		d->cur_len = 0;
		d->cur_overflow = false;
		return;
	}
	d->cur[d->cur_len++] = 0x00;
	if (d->cur_len >= 5 && d->cur[0] >= 4 && d->cur[1] == CTL_HDR) {
		uint8_t type = d->cur[3];
		int c = type >= 0x10 && type <= 0x1f ? HS_PAIR :
			type >= 0x20 && type <= 0x2f ? HS_SESSION : HS_OTHER;

		d->hs_msgs[c]++;
		d->hs_bytes[c] += d->cur_len;
	}
	f = &d->ring[d->ring_head];
	free(f->data);
	f->data = xmalloc(d->cur_len);
	memcpy(f->data, d->cur, d->cur_len);
	f->len = d->cur_len;
	d->ring_head = (d->ring_head + 1) % RING_FRAMES;
	if (d->ring_n < RING_FRAMES)
		d->ring_n++;
	d->cur_len = 0;
	d->frames++;

	if (d->replay_all) {
		for (size_t i = 0; i < f->len; i++)
			q_push(d, f->data[i], ready);
		d->replayed++;
		if (verbose)
			logmsg("%s: replayed frame %" PRIu64 " (%zu bytes)",
			       d->name, d->frames, f->len);
	}
	if (d->replay_k && d->ring_n >= d->replay_k) {
		size_t idx = (d->ring_head + RING_FRAMES - d->replay_k) % RING_FRAMES;
		struct frame *r = &d->ring[idx];

		for (size_t i = 0; i < r->len; i++)
			q_push(d, r->data[i], ready);
		d->replayed++;
		logmsg("%s: replayed frame %u back (%zu bytes)", d->name,
		       d->replay_k, r->len);
		d->replay_k = 0;
	}
}

/* One byte from the source: faults, then the queue, then frame tracking
 * (which may queue replayed frames after the delimiter).
 */
/* ------------------------------------------------------------ mitm */

static void mitm_emit(void *ctx, int towards, const uint8_t *wire, size_t len)
{
	struct dir *d = &dirs[towards == SL_MITM_LEG_A ? B2A : A2B];
	uint64_t now = now_ns();

	(void)ctx;
	for (size_t i = 0; i < len; i++)
		q_push(d, wire[i], now);
}

static void mitm_log(void *ctx, const char *text)
{
	(void)ctx;
	logmsg("mitm: %s", text);
}

/* Queue the frame bytes held back so far, unchanged. */
static void mitm_release(struct dir *d, uint64_t now)
{
	for (size_t i = 0; i < d->cur_len; i++)
		q_push(d, d->cur[i], now);
	d->cur_len = 0;
}

/*
 * With the man in the middle on, a direction holds each frame back until
 * its delimiter: a control frame goes to the MITM, anything else is
 * relayed unchanged (no faults: one experiment at a time). An over-long
 * run is relayed as it comes.
 */
static void mitm_byte(struct dir *d, uint8_t c, uint64_t now)
{
	if (c != 0x00) {
		if (d->cur_overflow) {
			q_push(d, c, now);
		} else if (d->cur_len < FRAME_MAX - 1) {
			d->cur[d->cur_len++] = c;
		} else {
			mitm_release(d, now);
			q_push(d, c, now);
			d->cur_overflow = true;
		}
		return;
	}
	if (!d->cur_overflow && d->cur_len &&
	    sl_mitm_frame(mitm, d == &dirs[A2B] ? SL_MITM_LEG_A : SL_MITM_LEG_B,
			  d->cur, d->cur_len, now / NSEC_PER_MSEC)) {
		d->cur_len = 0;
		d->frames++;
		return;
	}
	mitm_release(d, now);
	q_push(d, 0x00, now);
	d->cur_overflow = false;
}

static void mitm_stop(void)
{
	uint64_t now = now_ns();

	if (!mitm)
		return;
	sl_mitm_free(mitm);
	mitm = NULL;
	for (int i = 0; i < NDIR; i++) {
		mitm_release(&dirs[i], now);
		dirs[i].cur_overflow = false;
	}
	logmsg("mitm: off");
}

static void input_byte(struct dir *d, uint8_t c, uint64_t now)
{
	uint64_t ready = now + d->delay_ms * NSEC_PER_MSEC;
	uint8_t orig = c;
	bool drop = false;

	d->in++;
	if (mitm) {
		mitm_byte(d, c, now);
		return;
	}
	if (d->drop_n && ++d->drop_cnt >= d->drop_n) {
		d->drop_cnt = 0;
		drop = true;
	}
	if (d->outage_until) {
		if (now < d->outage_until)
			drop = true;
		else
			d->outage_until = 0;
	}
	if (d->flip_n && ++d->flip_cnt >= d->flip_n) {
		d->flip_cnt = 0;
		if (!drop) {
			c ^= (uint8_t)(1u << (rnd(d) % 8));
			d->flipped++;
			if (verbose)
				logmsg("%s: flipped byte %" PRIu64 " %02x -> %02x",
				       d->name, d->in, orig, c);
		}
	}
	if (drop) {
		d->dropped++;
		if (verbose)
			logmsg("%s: dropped byte %" PRIu64 " %02x", d->name, d->in, c);
	} else {
		q_push(d, c, ready);
	}
	if (d->insert_n && ++d->insert_cnt >= d->insert_n) {
		uint8_t r = (uint8_t)rnd(d);

		d->insert_cnt = 0;
		q_push(d, r, ready);
		d->inserted++;
		if (verbose)
			logmsg("%s: inserted %02x after byte %" PRIu64, d->name, r, d->in);
	}

	if (orig == 0x00) {
		frame_done(d, ready);
	} else if (!d->cur_overflow) {
		if (d->cur_len < FRAME_MAX - 1)
			d->cur[d->cur_len++] = orig;
		else
			d->cur_overflow = true;
	}
}

/* ------------------------------------------------------------ I/O */

static bool io_gone(int err)
{
	return err == EPIPE || err == ECONNRESET || err == ENOTCONN;
}

static void do_read(struct dir *d)
{
	uint8_t buf[READ_CHUNK];
	size_t want = READ_CHUNK, lim = q_limit(d);
	ssize_t n;
	uint64_t now;

	if (d->qlen >= lim)
		want = 1;
	else if (lim - d->qlen < want)
		want = lim - d->qlen;
	n = read(*d->src, buf, want);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		if (!io_gone(errno))
			logmsg("%s: read: %s", d->name, strerror(errno));
		n = 0;
	}
	if (n == 0) {
		logmsg("%s: source closed", d->name);
		d->eof = true;
		return;
	}
	now = now_ns();
	for (ssize_t i = 0; i < n; i++)
		input_byte(d, buf[i], now);
}

static void do_write(struct dir *d)
{
	uint8_t buf[READ_CHUNK];
	uint64_t starts[READ_CHUNK];
	uint64_t now = now_ns(), t, bt = d->baud ? byte_ns(d) : 0;
	size_t n = 0;
	ssize_t w;

	if (d->dead) {
		d->qlen = 0;
		return;
	}
	if (!d->qlen)
		return;
	if (d->baud && d->blocked && d->next_free < now) {
		/* the receiver held us up: the line was idle meanwhile, it
		 * does not get to burst the backlog afterwards
		 */
		d->next_free = now;
	}
	t = d->next_free;
	while (n < d->qlen && n < READ_CHUNK) {
		const struct qent *e = &d->q[(d->qhead + n) % d->qcap];
		uint64_t start = e->ready;

		if (start > now)
			break;
		if (d->baud) {
			if (start < t)
				start = t;
			if (start > now)
				break;
			starts[n] = start;
			t = start + bt;
		}
		buf[n++] = e->byte;
	}
	if (!n)
		return;
	w = write(*d->dst, buf, n);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			d->blocked = true;
			return;
		}
		if (!io_gone(errno))
			logmsg("%s: write: %s", d->name, strerror(errno));
		logmsg("%s: destination closed", d->name);
		d->dead = true;
		d->qlen = 0;
		return;
	}
	d->blocked = (size_t)w < n;
	if (d->rec_fd >= 0 && w > 0) {
		/* best effort: a full disk must not stop the line */
		if (write(d->rec_fd, buf, (size_t)w) != w)
			logmsg("%s: recording: %s", d->name, strerror(errno));
	}
	d->qhead = (d->qhead + (size_t)w) % d->qcap;
	d->qlen -= (size_t)w;
	d->out += (uint64_t)w;
	if (d->baud && w > 0)
		d->next_free = starts[w - 1] + bt;
}

/* When the head of the queue may leave (0 if now, UINT64_MAX if never). */
static uint64_t next_due(const struct dir *d, uint64_t now)
{
	const struct qent *e;
	uint64_t t;

	if (!d->qlen || d->dead || d->blocked)
		return UINT64_MAX;
	e = &d->q[d->qhead];
	t = e->ready;
	if (d->baud && d->next_free > t)
		t = d->next_free;
	if (t <= now)
		return 0;
	if (d->baud && t - now < MIN_PACED_SLEEP_NS)
		t = now + MIN_PACED_SLEEP_NS;
	return t;
}

/* ------------------------------------------------------------ control */

static void ctl_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ctl_reply(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	logmsg("ctl: -> %s", line);
	line[n++] = '\n';
	if (fd_ctl < 0)
		return;
	if (ctl_out_len + (size_t)n > ctl_out_cap) {
		size_t ncap = (ctl_out_len + (size_t)n) * 2;
		char *p = realloc(ctl_out, ncap);

		if (!p)
			fatal("out of memory");
		ctl_out = p;
		ctl_out_cap = ncap;
	}
	memcpy(ctl_out + ctl_out_len, line, (size_t)n);
	ctl_out_len += (size_t)n;
}

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!strcmp(s, "off")) {
		*out = 0;
		return true;
	}
	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* Direction word -> bit mask (1: a2b, 2: b2a), 0 if not one. */
/* 2 * len hex digits into out: 0, or -1 if they are not. */
static int hex_to_bytes(const char *hex, uint8_t *out, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned int v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
		    !isxdigit((unsigned char)hex[2 * i]) ||
		    !isxdigit((unsigned char)hex[2 * i + 1]))
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

static int parse_dir(const char *s)
{
	if (!strcmp(s, "a2b"))
		return 1;
	if (!strcmp(s, "b2a"))
		return 2;
	if (!strcmp(s, "both"))
		return 3;
	return 0;
}

static void format_stats(char *buf, size_t len, int mask)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < NDIR; i++) {
		const struct dir *d = &dirs[i];

		if (!(mask & (1 << i)))
			continue;
		off += (size_t)snprintf(buf + off, len - off,
			"%s%s in=%" PRIu64 " out=%" PRIu64 " queued=%zu frames=%" PRIu64
			" flipped=%" PRIu64 " dropped=%" PRIu64 " inserted=%" PRIu64
			" replayed=%" PRIu64, off ? " " : "", d->name, d->in, d->out,
			d->qlen, d->frames, d->flipped, d->dropped, d->inserted,
			d->replayed);
		if (off >= len)
			break;
	}
}

static void format_settings(char *buf, size_t len, int mask)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int i = 0; i < NDIR; i++) {
		const struct dir *d = &dirs[i];

		if (!(mask & (1 << i)))
			continue;
		off += (size_t)snprintf(buf + off, len - off,
			"%s%s pace=%lu flip=%lu drop=%lu insert=%lu delay=%lu replay=%u replay-all=%s buffer=%lu",
			off ? " " : "", d->name, d->baud, d->flip_n, d->drop_n,
			d->insert_n, d->delay_ms, d->replay_k,
			d->replay_all ? "on" : "off", d->buffer);
		if (off >= len)
			break;
	}
}

static const char ctl_help[] =
	"commands: ping | help | show [DIR] | stats [DIR] | ctlstats [DIR] | reset-stats | "
	"pace [DIR] BAUD | buffer [DIR] BYTES | flip [DIR] N | drop [DIR] N | insert [DIR] N | "
	"delay [DIR] MS | outage [DIR] MS | garbage [DIR] N | replay [DIR] K | "
	"replay-all [DIR] on|off | "
	"clean [DIR] | reset | seed N | drain | mitm on ACCOUNT_A ACCOUNT_B | mitm off | "
	"mitm status; DIR is a2b, b2a or both (default both); "
	"0 or off disables";

/* Run one command line; the reply goes to the control socket and the log.
 * Returns false on an error reply.
 */
static bool run_command(char *line)
{
	char *argv[8];
	int argc = 0, mask = 3;
	char *tok, *save = NULL;
	unsigned long v;
	char buf[1024];
	const char *cmd;

	for (char *p = line; *p; p++) {
		if ((unsigned char)*p < 0x20 && *p != '\t') {
			ctl_reply("err control characters in command");
			return false;
		}
	}
	for (tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (argc == (int)(sizeof(argv) / sizeof(argv[0]))) {
			ctl_reply("err too many words");
			return false;
		}
		argv[argc++] = tok;
	}
	if (!argc)
		return true;
	cmd = argv[0];
	logmsg("ctl: <- %s%s%s%s%s%s%s", cmd, argc > 1 ? " " : "", argc > 1 ? argv[1] : "",
	       argc > 2 ? " " : "", argc > 2 ? argv[2] : "", argc > 3 ? " " : "",
	       argc > 3 ? argv[3] : "");

	/* optional direction word after the command */
	if (argc >= 2 && parse_dir(argv[1])) {
		mask = parse_dir(argv[1]);
		for (int i = 1; i < argc - 1; i++)
			argv[i] = argv[i + 1];
		argc--;
	}

	if (!strcmp(cmd, "ping")) {
		ctl_reply("ok pong");
	} else if (!strcmp(cmd, "help")) {
		ctl_reply("ok %s", ctl_help);
	} else if (!strcmp(cmd, "show")) {
		format_settings(buf, sizeof(buf), mask);
		ctl_reply("ok %s", buf);
	} else if (!strcmp(cmd, "stats")) {
		format_stats(buf, sizeof(buf), mask);
		ctl_reply("ok %s", buf);
	} else if (!strcmp(cmd, "ctlstats")) {
		size_t o = 0;

		for (int i = 0; i < NDIR; i++) {
			if (!(mask & (1 << i)))
				continue;
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%s", o ? " " : "",
					      dirs[i].name);
			for (int c = 0; c < HS_NCLASS && o < sizeof(buf); c++)
				o += (size_t)snprintf(buf + o, sizeof(buf) - o, " %s=%" PRIu64 "/%" PRIu64,
						      hs_class_name[c], dirs[i].hs_msgs[c],
						      dirs[i].hs_bytes[c]);
		}
		ctl_reply("ok %s", buf);
	} else if (!strcmp(cmd, "reset-stats")) {
		for (int i = 0; i < NDIR; i++) {
			struct dir *d = &dirs[i];

			if (!(mask & (1 << i)))
				continue;
			d->in = d->out = d->flipped = d->dropped =
				d->inserted = d->frames = d->replayed = 0;
			memset(d->hs_msgs, 0, sizeof(d->hs_msgs));
			memset(d->hs_bytes, 0, sizeof(d->hs_bytes));
		}
		ctl_reply("ok reset-stats");
	} else if (!strcmp(cmd, "drain")) {
		if (argc != 1) {
			ctl_reply("err usage: drain");
			return false;
		}
		drain_pending = true;	/* answered from the main loop */
	} else if (!strcmp(cmd, "reset")) {
		if (argc != 1 || mask != 3) {
			ctl_reply("err usage: reset");
			return false;
		}
		reset_all();
		format_settings(buf, sizeof(buf), 3);
		ctl_reply("ok reset %s", buf);
	} else if (!strcmp(cmd, "mitm")) {
		char why[256] = "";

		bool on = argc >= 2 && !strcmp(argv[1], "on");

		if (mask != 3 || argc < 1 ||
		    (argc >= 2 && !on && strcmp(argv[1], "off") &&
		     strcmp(argv[1], "status")) ||
		    (on && argc != 4 && (argc != 7 || strcmp(argv[4], "grind"))) ||
		    (argc >= 2 && !on && argc != 2)) {
			ctl_reply("err usage: mitm on ACCOUNT_A ACCOUNT_B [grind N PUBKEY_B] | mitm off | mitm status");
			return false;
		}
		if (argc == 2 && !strcmp(argv[1], "off")) {
			mitm_stop();
			ctl_reply("ok mitm=off");
		} else if (on) {
			struct sl_mitm *m;
			uint8_t b_pub[32];
			unsigned long n = 0;
			char *end = NULL;

			if (argc == 7) {
				n = strtoul(argv[5], &end, 10);
				if (!*argv[5] || *end || !n ||
				    n > SL_MITM_GRIND_MAX ||
				    strlen(argv[6]) != 64 ||
				    hex_to_bytes(argv[6], b_pub, 32)) {
					ctl_reply("err mitm: grind takes N (1 to %u) and B's static public key (64 hex digits)",
						  SL_MITM_GRIND_MAX);
					return false;
				}
			}
			m = sl_mitm_new(argv[2], argv[3], mitm_emit, mitm_log,
					NULL, why, sizeof(why));
			if (!m) {
				ctl_reply("err mitm: %s", why);
				return false;
			}
			if (n)
				sl_mitm_grind(m, (unsigned int)n, b_pub);
			mitm_stop();
			mitm = m;
			for (int i = 0; i < NDIR; i++) {
				/* a frame half through: relayed as it began */
				dirs[i].cur_len = 0;
				dirs[i].cur_overflow = true;
			}
			logmsg("mitm: on, posing as %s towards A and as %s towards B",
			       argv[3], argv[2]);
			sl_mitm_status(mitm, buf, sizeof(buf));
			ctl_reply("ok %s", buf);
		} else if (mitm) {
			sl_mitm_status(mitm, buf, sizeof(buf));
			ctl_reply("ok %s", buf);
		} else {
			ctl_reply("ok mitm=off");
		}
	} else if (!strcmp(cmd, "seed")) {
		unsigned long long s;
		char *end;

		if (argc != 2 || !*argv[1] || *argv[1] == '-') {
			ctl_reply("err usage: seed N");
			return false;
		}
		errno = 0;
		s = strtoull(argv[1], &end, 0);
		if (errno || *end) {
			ctl_reply("err bad seed '%s'", argv[1]);
			return false;
		}
		reseed(s);
		ctl_reply("ok seed %llu", s);
	} else if (!strcmp(cmd, "clean")) {
		if (argc != 1) {
			ctl_reply("err usage: clean [DIR]");
			return false;
		}
		for (int i = 0; i < NDIR; i++) {
			struct dir *d = &dirs[i];

			if (!(mask & (1 << i)))
				continue;
			d->flip_n = d->drop_n = d->insert_n = d->delay_ms = 0;
			d->flip_cnt = d->drop_cnt = d->insert_cnt = 0;
			d->replay_k = 0;
			d->replay_all = false;
			d->outage_until = 0;
		}
		format_settings(buf, sizeof(buf), mask);
		ctl_reply("ok %s", buf);
	} else if (!strcmp(cmd, "replay-all")) {
		bool on;

		if (argc != 2) {
			ctl_reply("err usage: replay-all [DIR] on|off");
			return false;
		}
		if (!strcmp(argv[1], "on") || !strcmp(argv[1], "1"))
			on = true;
		else if (!strcmp(argv[1], "off") || !strcmp(argv[1], "0"))
			on = false;
		else {
			ctl_reply("err replay-all wants on or off, not '%s'", argv[1]);
			return false;
		}
		for (int i = 0; i < NDIR; i++)
			if (mask & (1 << i))
				dirs[i].replay_all = on;
		format_settings(buf, sizeof(buf), mask);
		ctl_reply("ok %s", buf);
	} else if (!strcmp(cmd, "pace") || !strcmp(cmd, "buffer") ||
		   !strcmp(cmd, "flip") || !strcmp(cmd, "drop") ||
		   !strcmp(cmd, "insert") || !strcmp(cmd, "delay") || !strcmp(cmd, "replay") ||
		   !strcmp(cmd, "outage") || !strcmp(cmd, "garbage")) {
		bool once = !strcmp(cmd, "outage") || !strcmp(cmd, "garbage");
		unsigned long max = !strcmp(cmd, "pace") ? MAX_BAUD :
				    !strcmp(cmd, "buffer") ? QUEUE_SOFT_MAX :
				    !strcmp(cmd, "delay") ? 600000 :
				    !strcmp(cmd, "outage") ? OUTAGE_MAX_MS :
				    !strcmp(cmd, "garbage") ? GARBAGE_MAX :
				    !strcmp(cmd, "replay") ? RING_FRAMES : ULONG_MAX;
		uint64_t now = now_ns();

		if (argc != 2) {
			ctl_reply("err usage: %s [DIR] %s", cmd,
				  !strcmp(cmd, "pace") ? "BAUD" :
				  !strcmp(cmd, "delay") || !strcmp(cmd, "outage") ? "MS" :
				  !strcmp(cmd, "buffer") ? "BYTES" :
				  !strcmp(cmd, "replay") ? "K" : "N");
			return false;
		}
		if (!parse_ulong(argv[1], max, &v)) {
			ctl_reply("err %s: bad number '%s' (0..%lu)", cmd, argv[1], max);
			return false;
		}
		for (int i = 0; i < NDIR; i++) {
			struct dir *d = &dirs[i];

			if (!(mask & (1 << i)))
				continue;
			if (!strcmp(cmd, "pace")) {
				d->baud = v;
				d->next_free = 0;
			} else if (!strcmp(cmd, "buffer")) {
				d->buffer = v;
			} else if (!strcmp(cmd, "flip")) {
				d->flip_n = v;
				d->flip_cnt = 0;
			} else if (!strcmp(cmd, "drop")) {
				d->drop_n = v;
				d->drop_cnt = 0;
			} else if (!strcmp(cmd, "insert")) {
				d->insert_n = v;
				d->insert_cnt = 0;
			} else if (!strcmp(cmd, "delay")) {
				d->delay_ms = v;
			} else if (!strcmp(cmd, "outage")) {
				d->outage_until = v ? now + v * NSEC_PER_MSEC : 0;
			} else if (!strcmp(cmd, "garbage")) {
				/* After what is queued, as a burst of noise would
				 * arrive; not itself faulted, and not part of a frame.
				 */
				for (unsigned long n = 0; n < v; n++)
					q_push(d, (uint8_t)rnd(d), now + d->delay_ms * NSEC_PER_MSEC);
				d->inserted += v;
			} else {
				d->replay_k = (unsigned int)v;
			}
		}
		if (once) {
			ctl_reply("ok %s %lu%s", cmd, v, !strcmp(cmd, "outage") ? " ms" : " bytes");
		} else {
			format_settings(buf, sizeof(buf), mask);
			ctl_reply("ok %s", buf);
		}
	} else {
		ctl_reply("err unknown command '%s' (try help)", cmd);
		return false;
	}
	return true;
}

static void ctl_close(const char *why)
{
	logmsg("control: %s, closing it", why);
	close(fd_ctl);
	fd_ctl = -1;
	ctl_out_len = 0;
}

/*
 * Run the complete lines received so far, in order. While a drain is
 * pending, later commands wait, so replies keep the order of commands.
 */
static void ctl_process(void)
{
	size_t i = 0;

	while (i < ctl_raw_len && !drain_pending) {
		char c = ctl_raw[i++];

		if (c == '\r')
			continue;
		if (c == '\n') {
			if (ctl_in_overlong) {
				ctl_reply("err line too long");
			} else {
				ctl_in[ctl_in_len] = '\0';
				run_command(ctl_in);
			}
			ctl_in_len = 0;
			ctl_in_overlong = false;
			continue;
		}
		if (ctl_in_len < CTL_LINE_MAX)
			ctl_in[ctl_in_len++] = c;
		else
			ctl_in_overlong = true;
	}
	memmove(ctl_raw, ctl_raw + i, ctl_raw_len - i);
	ctl_raw_len -= i;
}

static void ctl_read(void)
{
	ssize_t n;

	if (ctl_raw_len == sizeof(ctl_raw))
		return;		/* a drain is pending and the peer keeps talking */
	n = read(fd_ctl, ctl_raw + ctl_raw_len, sizeof(ctl_raw) - ctl_raw_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		ctl_close(n ? strerror(errno) : "closed by peer");
		return;
	}
	ctl_raw_len += (size_t)n;
	ctl_process();
}

static void ctl_write(void)
{
	ssize_t w;

	if (fd_ctl < 0 || !ctl_out_len)
		return;
	w = write(fd_ctl, ctl_out, ctl_out_len);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		ctl_close(strerror(errno));
		return;
	}
	memmove(ctl_out, ctl_out + w, ctl_out_len - (size_t)w);
	ctl_out_len -= (size_t)w;
}

/* ------------------------------------------------------------ setup */

/* One attempt: the connected, non-blocking fd, or -1 if nobody listens yet. */
static int connect_unix(const char *path, const char *what)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, fl;

	if (strlen(path) >= sizeof(sa.sun_path))
		fatal("%s socket path too long (max %zu): %s", what,
		      sizeof(sa.sun_path) - 1, path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (errno != ENOENT && errno != ECONNREFUSED && errno != EAGAIN)
			fatal("connect %s socket %s: %s", what, path, strerror(errno));
		close(fd);
		return -1;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		fatal("fcntl: %s", strerror(errno));
	logmsg("%s: connected to %s", what, path);
	return fd;
}

static void connect_all(const char *pa, const char *pb, const char *pc, unsigned int timeout)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout * NSEC_PER_SEC;

	/* QEMU with server=on,wait=on creates its sockets one after the
	 * other, each only once the previous one has a client: try them all
	 * in every round.
	 */
	while (fd_a < 0 || fd_b < 0 || (pc && fd_ctl < 0)) {
		if (fd_a < 0)
			fd_a = connect_unix(pa, "A");
		if (fd_b < 0)
			fd_b = connect_unix(pb, "B");
		if (pc && fd_ctl < 0)
			fd_ctl = connect_unix(pc, "control");
		if (fd_a >= 0 && fd_b >= 0 && (!pc || fd_ctl >= 0))
			break;
		if (got_signal)
			exit(1);
		if (now_ns() >= deadline)
			fatal("gave up after %u s waiting for %s to accept", timeout,
			      fd_a < 0 ? pa : fd_b < 0 ? pb : pc);
		usleep(20000);
	}
}

static int open_record(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s.raw", dir, name) >= sizeof(path))
		fatal("--record path too long");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fatal("cannot create %s: %s", path, strerror(errno));
	return fd;
}

static void on_signal(int sig)
{
	got_signal = sig;
}

static void usage(FILE *f)
{
	fputs(
"NAME\n"
"    sealine-wire - relay, pace and corrupt a serial line between two QEMU UARTs\n"
"\n"
"SYNOPSIS\n"
"    sealine-wire -a SOCK_A -b SOCK_B [-c SOCK_CTL] [OPTIONS]\n"
"\n"
"DESCRIPTION\n"
"    Connects as a client to the unix stream sockets SOCK_A and SOCK_B (QEMU\n"
"    socket chardevs with server=on, one per guest UART) and relays every\n"
"    byte both ways: a2b is A -> B, b2a is B -> A. It retries connecting\n"
"    until the sockets accept or --connect-timeout passes. Each direction can\n"
"    be paced at a baud rate and given faults. Settings come from the\n"
"    options below and at run time from text commands on SOCK_CTL.\n"
"    When either line socket closes (QEMU exited) it delivers what is\n"
"    still queued to the other side and exits with status 0. SIGINT and\n"
"    SIGTERM end it at once, also with status 0. Final counters go to\n"
"    stderr, as does a log of every command.\n"
"\n"
"    Faults work on the bytes as they arrive from the source, counted from\n"
"    the moment the fault is set; every Nth means bytes N, 2N, 3N, ...:\n"
"      flip N     flip one random bit of every Nth byte\n"
"      drop N     drop every Nth byte\n"
"      insert N   insert one random byte after every Nth byte\n"
"      delay MS   hold every byte MS milliseconds (order is kept)\n"
"      outage MS  once: drop every byte that arrives in the next MS\n"
"                 milliseconds, as a line that goes silent (radio fade,\n"
"                 unplugged cable) and comes back\n"
"      garbage N  once: N random bytes (0x00 included) after what is\n"
"                 queued, as a burst of noise on the line\n""      replay K   once: after the next frame delimiter, send again a copy of\n"
"                 the K-th most recent complete frame (1 = the frame that\n"
"                 delimiter just ended), with its 0x00 delimiter; waits\n"
"                 until K frames have been seen\n"
"      replay-all every complete frame is sent twice\n"
"    Frames are the byte runs ended by 0x00 (COBS framing); empty runs and\n"
"    runs longer than 16383 bytes are not frames. Frames are taken from the\n"
"    input before faults, so replays are clean copies. Inserted and\n"
"    replayed bytes are not themselves faulted. A dropped byte is not\n"
"    flipped.\n"
"\n"
"    Pacing: QEMU moves bytes over sockets as fast as it can. With pace BAUD\n"
"    a direction delivers at most BAUD/10 bytes per second (8N1: 10 bits a\n"
"    byte), scheduled on CLOCK_MONOTONIC without drift. While paced it reads\n"
"    only a little ahead of the line (buffer: by default 100 ms of line\n"
"    time, at least 64 bytes, plus what the delay holds), so back pressure\n"
"    reaches QEMU and the sending guest UART as on a real line: a writer in\n"
"    the guest blocks at about the line rate. QEMU's socket holds a few\n"
"    hundred more bytes (QEMU writes each byte alone), and closing the sending\n"
"    tty while the line is backed up discards what its UART FIFO still\n"
"    holds (the kernel waits only for the FIFO time at the tty's own baud\n"
"    rate); keep the sending tty open until the data has arrived, or set a\n"
"    large buffer (e.g. buffer 1048576) so the guest never sees back\n"
"    pressure. Pacing only slows bytes down; unpaced directions relay at\n"
"    once.\n"
"\n"
"OPTIONS\n"
"    -a, --sock-a PATH          socket of line end A (guest ttyS1 in vm-run)\n"
"    -b, --sock-b PATH          socket of line end B (guest ttyS2 in vm-run)\n"
"    -c, --control PATH         socket of the control channel (guest ttyS3)\n"
"    -t, --connect-timeout SEC  how long to retry connecting (default 30)\n"
"    -r, --record DIR           write every byte delivered to B into\n"
"                               DIR/a2b.raw and to A into DIR/b2a.raw (after\n"
"                               faults: what the receiving UART got)\n"
"    -p, --pace BAUD            pace both directions (0: no pacing, default)\n"
"    -s, --seed N               seed of the random choices (default 1): the\n"
"                               same seed and input give the same output\n"
"    -e, --cmd COMMAND          run a control COMMAND at start, e.g.\n"
"                               --cmd 'flip a2b 500'; repeatable, in order\n"
"    -v, --verbose              log every injected fault\n"
"    -h, --help                 show this manual\n"
"\n"
"CONTROL COMMANDS\n"
"    One per line on SOCK_CTL (CR is ignored, at most 256 characters). Each\n"
"    gets exactly one reply line, \"ok ...\" or \"err <reason>\". DIR is a2b,\n"
"    b2a or both; when left out it means both. N, MS, BAUD: 0 or \"off\"\n"
"    turns the feature off.\n"
"      ping                      ok pong\n"
"      help                      ok <one-line command summary>\n"
"      show [DIR]                ok <settings of each direction>\n"
"      stats [DIR]               ok a2b in=N out=N queued=N frames=N flipped=N\n"
"                                dropped=N inserted=N replayed=N b2a ...\n"
"                                (in: bytes read from the source, out: bytes\n"
"                                delivered, frames: frames seen on input)\n"
"      ctlstats [DIR]            ok a2b pair=M/B session=M/B other=M/B b2a ...\n"
"                                sealined's handshake messages (control frames)\n"
"                                seen on the input since the last reset-stats:\n"
"                                M messages in B wire bytes (delimiters\n"
"                                included), pairing (types 0x10-0x1f), session\n"
"                                and rekey (0x20-0x2f), other (NAK, call set-up)\n"
"      reset-stats [DIR]         zero the counters\n"
"      pace [DIR] BAUD           pace at BAUD (10 bits per byte)\n"
"      buffer [DIR] BYTES        paced read-ahead (0: automatic, 100 ms)\n"
"      flip [DIR] N              flip a random bit in every Nth byte\n"
"      drop [DIR] N              drop every Nth byte\n"
"      insert [DIR] N            insert a random byte after every Nth byte\n"
"      delay [DIR] MS            delay every byte MS ms (max 600000)\n"
"      outage [DIR] MS           drop what arrives in the next MS ms (max\n"
"                                600000, once; counted as dropped)\n"
"      garbage [DIR] N           send N random bytes now (max 65536, once;\n"
"                                counted as inserted)\n""      replay [DIR] K            arm a one-shot replay of frame K (1..32)\n"
"      replay-all [DIR] on|off   send every frame twice\n"
"      clean [DIR]               all faults off (flip, drop, insert, delay,\n"
"                                outage, replay, replay-all); pace and\n"
"                                buffer stay\n"
"      reset                     back to the start-up state (the options'\n"
"                                settings and seed), counters zeroed, queued\n"
"                                bytes and remembered frames dropped;\n"
"                                vm-run's guest runner sends it before each\n"
"                                test\n"
"      seed N                    restart the random choices from seed N\n"
"      drain                     reply \"ok drained\" once nothing is queued\n"
"                                in either direction\n"
"      mitm on ACCOUNT_A ACCOUNT_B\n"
"                                become a man in the middle of sealined's\n"
"                                handshakes: every control frame is taken\n"
"                                off the line (data frames are relayed,\n"
"                                faults are not applied meanwhile) and\n"
"                                answered by two handshake engines of\n"
"                                sealined's own core with keys of their own:\n"
"                                leg A answers A as responder, posing as\n"
"                                ACCOUNT_B; leg B, started when A sends\n"
"                                PAIR_COMMIT, pairs with B as initiator,\n"
"                                posing as ACCOUNT_A. Both sides complete\n"
"                                their Noise exchange with the MITM's keys;\n"
"                                only the SAS can tell. The log (\"mitm: \")\n"
"                                shows every message, each leg's completed\n"
"                                DH exchange and leg B's SAS\n"
"      mitm on ACCOUNT_A ACCOUNT_B grind N PUBKEY_B\n"
"                                the same, and grind the SAS as an attacker\n"
"                                who knows B's static public key (64 hex\n"
"                                digits): A's PAIR_REVEAL and B's\n"
"                                PAIR_EPHEMERAL are held back until both\n"
"                                came, N static keys are tried on each leg,\n"
"                                and the pair giving both operators the same\n"
"                                code is used if there is one (mitm.h)\n"
"      mitm status               ok mitm=on legA rx=N tx=N dh=yes|no peer=ACCT\n"
"                                end=... legB ... sas=CODE end=...; grinding\n"
"                                adds grind=N ground=yes|no v2_equal=yes|no\n"
"                                v1_pairs=N\n"
"      mitm off                  relay again (reset also turns it off)\n"
"    Replies to setting commands show the resulting settings, e.g.\n"
"    \"ok a2b pace=0 flip=500 drop=0 insert=0 delay=0 replay=0 replay-all=off\n"
"    buffer=0\".\n"
"\n"
"EXIT STATUS\n"
"    0 when a line socket closed or on SIGINT/SIGTERM, 1 on errors (could not\n"
"    connect, I/O error), 2 on bad usage or a bad --cmd.\n"
"\n"
"EXAMPLE\n"
"    sealine-wire -a /tmp/vm/lineA -b /tmp/vm/lineB -c /tmp/vm/ctl \\\n"
"        --record out --pace 9600 --cmd 'drop b2a 1000'\n",
	      f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sock-a", required_argument, NULL, 'a' },
		{ "sock-b", required_argument, NULL, 'b' },
		{ "control", required_argument, NULL, 'c' },
		{ "connect-timeout", required_argument, NULL, 't' },
		{ "record", required_argument, NULL, 'r' },
		{ "pace", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "cmd", required_argument, NULL, 'e' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *pa = NULL, *pb = NULL, *pc = NULL, *rec = NULL;
	char **cmds = xmalloc(sizeof(char *) * (size_t)argc);
	int ncmds = 0, opt;
	unsigned long timeout = 30, pace = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t block, orig;
	uint64_t drain_deadline = 0;

	t_start = now_ns();
	while ((opt = getopt_long(argc, argv, "a:b:c:t:r:p:s:e:vh", opts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			pa = optarg;
			break;
		case 'b':
			pb = optarg;
			break;
		case 'c':
			pc = optarg;
			break;
		case 'r':
			rec = optarg;
			break;
		case 'e':
			cmds[ncmds++] = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case 't':
			if (!parse_ulong(optarg, 86400, &timeout) || !timeout) {
				fprintf(stderr, "sealine-wire: bad --connect-timeout '%s'\n", optarg);
				return 2;
			}
			break;
		case 'p':
			if (!parse_ulong(optarg, MAX_BAUD, &pace)) {
				fprintf(stderr, "sealine-wire: bad --pace '%s' (0..%lu)\n", optarg, MAX_BAUD);
				return 2;
			}
			break;
		case 's': {
			char *end;

			errno = 0;
			seed = strtoull(optarg, &end, 0);
			if (errno || *end || !*optarg || *optarg == '-') {
				fprintf(stderr, "sealine-wire: bad --seed '%s'\n", optarg);
				return 2;
			}
			break;
		}
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "Try 'sealine-wire --help'.\n");
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "sealine-wire: unexpected argument '%s'\nTry 'sealine-wire --help'.\n",
			argv[optind]);
		return 2;
	}
	if (!pa || !pb) {
		fprintf(stderr, "sealine-wire: --sock-a and --sock-b are required\nTry 'sealine-wire --help'.\n");
		return 2;
	}

	dirs[A2B] = (struct dir){ .name = "a2b", .src = &fd_a, .dst = &fd_b, .rec_fd = -1 };
	dirs[B2A] = (struct dir){ .name = "b2a", .src = &fd_b, .dst = &fd_a, .rec_fd = -1 };
	reseed(seed);
	for (int i = 0; i < NDIR; i++)
		dirs[i].baud = pace;
	for (int i = 0; i < ncmds; i++) {
		char line[CTL_LINE_MAX + 1];

		if (strlen(cmds[i]) > CTL_LINE_MAX) {
			fprintf(stderr, "sealine-wire: --cmd too long: %s\n", cmds[i]);
			return 2;
		}
		strcpy(line, cmds[i]);
		if (!run_command(line)) {
			fprintf(stderr, "sealine-wire: --cmd '%s' failed\n", cmds[i]);
			return 2;
		}
	}
	free(cmds);
	initial_seed = seed;
	for (int i = 0; i < NDIR; i++)
		initial[i] = get_settings(&dirs[i]);
	if (drain_pending) {
		fprintf(stderr, "sealine-wire: drain is not useful in --cmd\n");
		return 2;
	}
	if (rec) {
		dirs[A2B].rec_fd = open_record(rec, "a2b");
		dirs[B2A].rec_fd = open_record(rec, "b2a");
	}

	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);

	logmsg("sealine-wire: seed %" PRIu64 ", waiting for %s, %s%s%s", seed, pa, pb,
	       pc ? ", " : "", pc ? pc : "");
	connect_all(pa, pb, pc, (unsigned int)timeout);
	{
		char buf[512];

		format_settings(buf, sizeof(buf), 3);
		logmsg("relaying; %s", buf);
	}

	/* From here signals are only delivered inside ppoll(): no races. */
	sigprocmask(SIG_BLOCK, &block, &orig);
	for (;;) {
		struct pollfd pfd[3];
		struct timespec ts, *tsp = NULL;
		uint64_t now, due = UINT64_MAX;
		int np = 0, ia = -1, ib = -1, ic = -1, r;
		bool closing = dirs[A2B].eof || dirs[B2A].eof;

		if (mitm)
			sl_mitm_timer(mitm, now_ns() / NSEC_PER_MSEC);
		for (int i = 0; i < NDIR; i++)
			do_write(&dirs[i]);
		ctl_write();

		if (closing) {
			bool empty = true;

			for (int i = 0; i < NDIR; i++)
				if (dirs[i].qlen && !dirs[i].dead)
					empty = false;
			if (!drain_deadline)
				drain_deadline = now_ns() + 10 * NSEC_PER_SEC;
			if (empty || now_ns() > drain_deadline)
				break;
		}
		if (drain_pending && !dirs[A2B].qlen && !dirs[B2A].qlen) {
			drain_pending = false;
			ctl_reply("ok drained");
			ctl_process();	/* commands that came meanwhile */
			ctl_write();
		}
		if (got_signal)
			break;

		now = now_ns();
		for (int i = 0; i < NDIR; i++) {
			uint64_t t = next_due(&dirs[i], now);

			if (t < due)
				due = t;
		}
		if (mitm && sl_mitm_next_timer(mitm)) {
			uint64_t t = sl_mitm_next_timer(mitm) * NSEC_PER_MSEC;

			if (t < due)
				due = t <= now ? now : t;
		}
		if (due != UINT64_MAX) {
			uint64_t dt = due > now ? due - now : 0;

			ts.tv_sec = (time_t)(dt / NSEC_PER_SEC);
			ts.tv_nsec = (long)(dt % NSEC_PER_SEC);
			tsp = &ts;
		}

		/* endpoint A: read for a2b, write for b2a (and the same for B) */
		for (int e = 0; e < 2; e++) {
			struct dir *rd = &dirs[e == 0 ? A2B : B2A];
			struct dir *wr = &dirs[e == 0 ? B2A : A2B];
			short ev = 0;

			if (!closing && !rd->eof && rd->qlen <= q_low(rd))
				ev |= POLLIN;
			if (wr->blocked && wr->qlen && !wr->dead)
				ev |= POLLOUT;
			if (!ev)
				continue;
			pfd[np] = (struct pollfd){ .fd = e == 0 ? fd_a : fd_b, .events = ev };
			if (e == 0)
				ia = np++;
			else
				ib = np++;
		}
		if (fd_ctl >= 0) {
			short ev = 0;

			if (ctl_raw_len < sizeof(ctl_raw))
				ev |= POLLIN;
			if (ctl_out_len)
				ev |= POLLOUT;
			if (ev) {
				pfd[np] = (struct pollfd){ .fd = fd_ctl, .events = ev };
				ic = np++;
			}
		}
		if (closing && !tsp) {
			/* waiting for a blocked destination while closing */
			ts = (struct timespec){ .tv_sec = 0, .tv_nsec = 100000000 };
			tsp = &ts;
		}
		r = ppoll(pfd, (nfds_t)np, tsp, &orig);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll: %s", strerror(errno));
		}
		for (int e = 0; e < 2; e++) {
			int idx = e == 0 ? ia : ib;
			struct dir *rd = &dirs[e == 0 ? A2B : B2A];
			struct dir *wr = &dirs[e == 0 ? B2A : A2B];

			if (idx < 0)
				continue;
			if (pfd[idx].revents & POLLOUT)
				wr->blocked = false;
			if (pfd[idx].revents & (POLLIN | POLLHUP | POLLERR)) {
				if (pfd[idx].events & POLLIN) {
					do_read(rd);
				} else if (pfd[idx].revents & (POLLHUP | POLLERR)) {
					wr->dead = true;
					wr->qlen = 0;
					rd->eof = true;
				}
			}
		}
		if (ic >= 0) {
			if (pfd[ic].revents & POLLOUT)
				ctl_write();
			if (fd_ctl >= 0 && pfd[ic].revents & (POLLIN | POLLHUP | POLLERR))
				ctl_read();
		}
	}

	if (got_signal)
		logmsg("signal %d, exiting", (int)got_signal);
	mitm_stop();
	for (int i = 0; i < NDIR; i++) {
		char buf[512];

		format_stats(buf, sizeof(buf), 1 << i);
		logmsg("final: %s", buf);
		if (dirs[i].qlen && !dirs[i].dead)
			logmsg("%s: %zu queued bytes not delivered", dirs[i].name, dirs[i].qlen);
		if (dirs[i].rec_fd >= 0)
			close(dirs[i].rec_fd);
	}
	return 0;
}

/* reset: the man in the middle goes, what it held back goes with it. */
static void mitm_free_quiet(void)
{
	if (mitm) {
		sl_mitm_free(mitm);
		mitm = NULL;
		logmsg("mitm: off (reset)");
	}
}
