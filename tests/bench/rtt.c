// SPDX-License-Identifier: GPL-2.0
/*
 * rtt - round-trip time of single keystrokes (or short messages) across a
 * line and back.
 *
 * Usage: rtt [-n COUNT] [-w WARMUP] [-g GAP_MS] [-b BYTES] [-t TIMEOUT_MS]
 *            [-o FILE] A B
 *
 * Opens the ttys A and B raw (see benchtty.h; baud rates are left alone),
 * or connects them over TCP when both are "tcp:NETNS:ADDR:PORT" (see
 * benchnet.h: B listens, A connects, TCP_NODELAY on both), and,
 * WARMUP + COUNT times: waits GAP_MS (an idle typist), writes a message
 * of BYTES bytes (default 1: a keystroke) to A in one write(), waits for
 * all of it on B, writes it back to B at once (the echo), and waits for
 * all of it on A. One process plays both ends, so the echo costs no extra
 * scheduling and both one-way times come from the same CLOCK_MONOTONIC:
 *   a2b  write() on A returns ... last byte read on B
 *   b2a  write() on B returns ... last byte read on A
 *   rtt  write() on A called ... last byte read on A
 * The first WARMUP messages are not counted.
 *
 * Prints one line of key=value pairs (times in microseconds): count, and
 * for each of rtt, a2b and b2a: _med (median), _p90 (nearest rank),
 * _min, _max, _mean. With -o, also writes every counted message to FILE,
 * one line "RTT A2B B2A" in microseconds (for pooling several runs).
 * Exits 0 on success, 1 if a message did not come back whole within
 * TIMEOUT_MS (default 2000), came back changed, or an extra byte
 * arrived; 2 on usage or I/O errors.
 */
#include "benchnet.h"

#include <getopt.h>
#include <poll.h>

/* The largest message: what a terminal line might carry at once. */
#define RTT_MAX_BYTES 4096

/*
 * Wait up to timeout_ms for len bytes on fd; 0 ok, -1 timeout, -2 error
 * (or end of file).
 */
static int read_n(int fd, unsigned char *buf, size_t len, int timeout_ms)
{
	int64_t deadline = bt_now_ns() + (int64_t)timeout_ms * 1000000;
	size_t got = 0;

	while (got < len) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - bt_now_ns();
		ssize_t n;
		int pr;

		if (left <= 0)
			return -1;
		pr = poll(&p, 1, (int)(left / 1000000) + 1);
		if (pr < 0 && errno != EINTR)
			return -2;
		if (pr <= 0)
			continue;
		n = read(fd, buf + got, len - got);
		if (n > 0)
			got += (size_t)n;
		else if (n == 0 || (errno != EINTR && errno != EAGAIN))
			return -2;
	}
	return 0;
}

static int write_n(int fd, const unsigned char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -1;
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void stats(const char *name, int64_t *v, unsigned long n)
{
	double sum = 0, med;
	unsigned long i, r90;

	qsort(v, n, sizeof(*v), cmp_i64);
	for (i = 0; i < n; i++)
		sum += (double)v[i];
	med = n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2;
	r90 = (n * 9 + 9) / 10;	/* nearest rank: ceil(0.9 n) */
	printf(" %s_med=%.1f %s_p90=%.1f %s_min=%.1f %s_max=%.1f %s_mean=%.1f",
	       name, med / 1e3, name, (double)v[r90 - 1] / 1e3,
	       name, (double)v[0] / 1e3, name, (double)v[n - 1] / 1e3,
	       name, sum / (double)n / 1e3);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: rtt [-n COUNT] [-w WARMUP] [-g GAP_MS] [-b BYTES] [-t TIMEOUT_MS] [-o FILE] A B\n"
		"  defaults: -n 100 -w 5 -g 20 -b 1 -t 2000; BYTES at most %d\n"
		"  A and B: two ttys, or two ends tcp:NETNS:ADDR:PORT (B listens)\n",
		RTT_MAX_BYTES);
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long count = 100, warmup = 5, gap_ms = 20, timeout_ms = 2000, i;
	static unsigned char msg[RTT_MAX_BYTES], got[RTT_MAX_BYTES];
	unsigned long size = 1;
	int64_t *rtt, *a2b, *b2a;
	const char *samples = NULL;
	int a, b, opt, r;

	while ((opt = getopt(argc, argv, "n:w:g:b:t:o:h")) != -1) {
		switch (opt) {
		case 'n':
			count = bt_parse_size("count", optarg);
			break;
		case 'w':
			warmup = bt_parse_size("warm-up count", optarg);
			break;
		case 'g':
			gap_ms = bt_parse_size("gap", optarg);
			break;
		case 'b':
			size = bt_parse_size("message size", optarg);
			break;
		case 't':
			timeout_ms = bt_parse_size("timeout", optarg);
			break;
		case 'o':
			samples = optarg;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || !count || !timeout_ms || timeout_ms > 600000 ||
	    gap_ms > 60000 || !size || size > RTT_MAX_BYTES)
		usage();

	bt_open_pair(argv[optind], argv[optind + 1], &a, &b);
	rtt = calloc(count, sizeof(*rtt));
	a2b = calloc(count, sizeof(*a2b));
	b2a = calloc(count, sizeof(*b2a));
	if (!rtt || !a2b || !b2a) {
		perror("calloc");
		return 2;
	}

	for (i = 0; i < warmup + count; i++) {
		int64_t t0, t1, t2, t3, t4;
		struct timespec gap = {
			.tv_sec = (time_t)(gap_ms / 1000),
			.tv_nsec = (long)(gap_ms % 1000) * 1000000,
		};
		unsigned long j;

		/* printable, and different in every message */
		for (j = 0; j < size; j++)
			msg[j] = (unsigned char)('a' + (i + j) % 26);
		while (nanosleep(&gap, &gap) && errno == EINTR)
			;
		t0 = bt_now_ns();
		if (write_n(a, msg, size)) {
			perror("write A");
			return 2;
		}
		t1 = bt_now_ns();
		r = read_n(b, got, size, (int)timeout_ms);
		t2 = bt_now_ns();
		if (r) {
			fprintf(stderr, "rtt: message %lu: %s on B\n", i,
				r == -1 ? "not all of it within the timeout" : strerror(errno));
			return r == -1 ? 1 : 2;
		}
		if (memcmp(got, msg, size)) {
			fprintf(stderr, "rtt: message %lu: B got other bytes than A sent\n", i);
			return 1;
		}
		if (write_n(b, got, size)) {
			perror("write B");
			return 2;
		}
		t3 = bt_now_ns();
		r = read_n(a, got, size, (int)timeout_ms);
		t4 = bt_now_ns();
		if (r) {
			fprintf(stderr, "rtt: message %lu: %s on A\n", i,
				r == -1 ? "no whole echo within the timeout" : strerror(errno));
			return r == -1 ? 1 : 2;
		}
		if (memcmp(got, msg, size)) {
			fprintf(stderr, "rtt: message %lu: A got another echo than it sent\n", i);
			return 1;
		}
		if (i >= warmup) {
			rtt[i - warmup] = t4 - t0;
			a2b[i - warmup] = t2 - t1;
			b2a[i - warmup] = t4 - t3;
		}
	}

	/* Nothing else may arrive on either end. */
	{
		struct pollfd p[2] = {
			{ .fd = a, .events = POLLIN },
			{ .fd = b, .events = POLLIN },
		};

		r = poll(p, 2, 200);
		if (r > 0) {
			fprintf(stderr, "rtt: extra bytes arrived on %s\n",
				p[0].revents ? argv[optind] : argv[optind + 1]);
			return 1;
		}
	}

	if (samples) {
		FILE *f = fopen(samples, "w");

		if (!f) {
			fprintf(stderr, "rtt: %s: %s\n", samples, strerror(errno));
			return 2;
		}
		for (i = 0; i < count; i++)
			fprintf(f, "%.1f %.1f %.1f\n", (double)rtt[i] / 1e3,
				(double)a2b[i] / 1e3, (double)b2a[i] / 1e3);
		if (fclose(f)) {
			fprintf(stderr, "rtt: %s: %s\n", samples, strerror(errno));
			return 2;
		}
	}

	printf("count=%lu", count);
	stats("rtt", rtt, count);
	stats("a2b", a2b, count);
	stats("b2a", b2a, count);
	printf("\n");
	free(rtt);
	free(a2b);
	free(b2a);
	close(a);
	close(b);
	return 0;
}
