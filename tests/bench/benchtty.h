/* SPDX-License-Identifier: GPL-2.0 */
/*
 * benchtty.h - small helpers shared by the sealine benchmark tools
 * (bulk.c, rtt.c): open a tty in raw mode, read CLOCK_MONOTONIC, parse
 * numbers. Header-only; every function is static.
 */
#ifndef SEALINE_BENCHTTY_H
#define SEALINE_BENCHTTY_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Nanoseconds on CLOCK_MONOTONIC. */
static inline int64_t bt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Open PATH read/write as a raw 8-bit tty: no echo, no line editing, no
 * signals, no flow control, CLOCAL (so the open does not wait for carrier)
 * and VMIN=1/VTIME=0. The baud rate is left as it is. Queued input is
 * discarded. Returns the blocking fd, or exits with status 2.
 */
static inline int bt_open_raw(const char *path)
{
	struct termios t;
	int fd, fl;

	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	if (tcgetattr(fd, &t)) {
		fprintf(stderr, "tcgetattr %s: %s\n", path, strerror(errno));
		exit(2);
	}
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cflag &= ~(tcflag_t)(CRTSCTS | HUPCL);
	t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &t)) {
		fprintf(stderr, "tcsetattr %s: %s\n", path, strerror(errno));
		exit(2);
	}
	tcflush(fd, TCIFLUSH);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)) {
		fprintf(stderr, "fcntl %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

/* A non-negative integer with an optional K/M suffix (x1024), or exit 2. */
static inline unsigned long bt_parse_size(const char *what, const char *s)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *s == '-')
		goto bad;
	if (*end == 'K' || *end == 'k') {
		v *= 1024;
		end++;
	} else if (*end == 'M' || *end == 'm') {
		v *= 1024 * 1024;
		end++;
	}
	if (*end)
		goto bad;
	return v;
bad:
	fprintf(stderr, "bad %s '%s'\n", what, s);
	exit(2);
}

/*
 * The benchmark's test data: a reproducible byte stream (xorshift64*),
 * so that sender and checker need no file and a receiver can verify every
 * byte as it arrives.
 */
struct bt_stream {
	uint64_t s;
	uint64_t word;
	unsigned int left;
};

static inline void bt_stream_init(struct bt_stream *st, uint64_t seed)
{
	st->s = seed ? seed : 0x9e3779b97f4a7c15ULL;
	st->left = 0;
}

static inline unsigned char bt_stream_byte(struct bt_stream *st)
{
	unsigned char b;

	if (!st->left) {
		st->s ^= st->s >> 12;
		st->s ^= st->s << 25;
		st->s ^= st->s >> 27;
		st->word = st->s * 0x2545f4914f6cdd1dULL;
		st->left = 8;
	}
	b = (unsigned char)st->word;
	st->word >>= 8;
	st->left--;
	return b;
}

#endif /* SEALINE_BENCHTTY_H */
