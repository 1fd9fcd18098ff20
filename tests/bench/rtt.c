// SPDX-License-Identifier: GPL-2.0
/*
 * rtt - round-trip time of single keystrokes across a line and back.
 *
 * Usage: rtt [-n COUNT] [-w WARMUP] [-g GAP_MS] [-t TIMEOUT_MS] [-o FILE] A B
 *
 * Opens the ttys A and B raw (see benchtty.h; baud rates are left alone)
 * and, WARMUP + COUNT times: waits GAP_MS (an idle typist), writes one
 * byte to A, waits for it on B, writes it back to B at once (the echo),
 * and waits for it on A. One process plays both ends, so the echo costs
 * no extra scheduling and both one-way times come from the same
 * CLOCK_MONOTONIC:
 *   a2b  write() on A returns ... byte read on B
 *   b2a  write() on B returns ... byte read on A
 *   rtt  write() on A called ... byte read on A
 * The first WARMUP keystrokes are not counted.
 *
 * Prints one line of key=value pairs (times in microseconds): count, and
 * for each of rtt, a2b and b2a: _med (median), _p90 (nearest rank),
 * _min, _max, _mean. With -o, also writes every counted keystroke to FILE,
 * one line "RTT A2B B2A" in microseconds (for pooling several runs).
 * Exits 0 on success, 1 if a byte did not come back
 * within TIMEOUT_MS (default 2000), came back changed, or an extra byte
 * arrived; 2 on usage or I/O errors.
 */
#include "benchtty.h"

#include <getopt.h>
#include <poll.h>

/* Wait up to timeout_ms for one byte on fd; 0 ok, -1 timeout, -2 error. */
static int read_one(int fd, unsigned char *c, int timeout_ms)
{
	int64_t deadline = bt_now_ns() + (int64_t)timeout_ms * 1000000;

	for (;;) {
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
		n = read(fd, c, 1);
		if (n == 1)
			return 0;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -2;
		if (n == 0)
			return -2;
	}
}

static int write_one(int fd, unsigned char c)
{
	for (;;) {
		ssize_t n = write(fd, &c, 1);

		if (n == 1)
			return 0;
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -1;
	}
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
		"usage: rtt [-n COUNT] [-w WARMUP] [-g GAP_MS] [-t TIMEOUT_MS] [-o FILE] A B\n"
		"  defaults: -n 100 -w 5 -g 20 -t 2000\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long count = 100, warmup = 5, gap_ms = 20, timeout_ms = 2000, i;
	int64_t *rtt, *a2b, *b2a;
	const char *samples = NULL;
	int a, b, opt, r;

	while ((opt = getopt(argc, argv, "n:w:g:t:o:h")) != -1) {
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
	    gap_ms > 60000)
		usage();

	a = bt_open_raw(argv[optind]);
	b = bt_open_raw(argv[optind + 1]);
	rtt = calloc(count, sizeof(*rtt));
	a2b = calloc(count, sizeof(*a2b));
	b2a = calloc(count, sizeof(*b2a));
	if (!rtt || !a2b || !b2a) {
		perror("calloc");
		return 2;
	}

	for (i = 0; i < warmup + count; i++) {
		unsigned char key = (unsigned char)('a' + i % 26), c = 0;
		int64_t t0, t1, t2, t3, t4;
		struct timespec gap = {
			.tv_sec = (time_t)(gap_ms / 1000),
			.tv_nsec = (long)(gap_ms % 1000) * 1000000,
		};

		while (nanosleep(&gap, &gap) && errno == EINTR)
			;
		t0 = bt_now_ns();
		if (write_one(a, key)) {
			perror("write A");
			return 2;
		}
		t1 = bt_now_ns();
		r = read_one(b, &c, (int)timeout_ms);
		t2 = bt_now_ns();
		if (r == 0 && c != key) {
			fprintf(stderr, "rtt: keystroke %lu: sent 0x%02x, B got 0x%02x\n", i, key, c);
			return 1;
		}
		if (r) {
			fprintf(stderr, "rtt: keystroke %lu: %s on B\n", i,
				r == -1 ? "no byte within the timeout" : strerror(errno));
			return r == -1 ? 1 : 2;
		}
		if (write_one(b, c)) {
			perror("write B");
			return 2;
		}
		t3 = bt_now_ns();
		r = read_one(a, &c, (int)timeout_ms);
		t4 = bt_now_ns();
		if (r == 0 && c != key) {
			fprintf(stderr, "rtt: keystroke %lu: echoed 0x%02x, A got 0x%02x\n", i, key, c);
			return 1;
		}
		if (r) {
			fprintf(stderr, "rtt: keystroke %lu: %s on A\n", i,
				r == -1 ? "no echo within the timeout" : strerror(errno));
			return r == -1 ? 1 : 2;
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
