// SPDX-License-Identifier: GPL-2.0
/*
 * bulk - time a one-way bulk transfer between two ttys of the same machine
 * and check that it arrived byte-exact.
 *
 * Usage: bulk [-n BYTES] [-s SEED] [-c CHUNK] [-i MS] [-t SECONDS] [-x MS]
 *             SRC DST
 *
 * Opens SRC and DST raw (see benchtty.h; baud rates are left alone), or
 * connects them over TCP when both are "tcp:NETNS:ADDR:PORT" (see
 * benchnet.h: DST listens on ADDR:PORT in its namespace, SRC connects
 * from its own; the connection is made before the clock starts), then
 * a writer thread writes BYTES bytes of a seeded pseudo-random stream to
 * SRC in CHUNK-byte write()s (blocking, as cat would) while the main
 * thread reads DST and compares every byte with the same stream as it
 * arrives. With -i it sleeps MS milliseconds after each read(): fewer,
 * larger reads, a reader that does not wake for every few bytes (arrival
 * times are then up to MS late). Both ttys stay open until the last byte
 * has arrived (closing a serial port may discard what its UART still
 * holds). After the last byte it waits -x MS milliseconds more: any
 * further byte is an error.
 *
 * On success prints one line of key=value pairs and exits 0:
 *   bytes        BYTES
 *   elapsed_s    first write() call to the arrival of the last byte
 *   first_s      first write() call to the arrival of the first byte
 *   goodput_Bps  bytes / elapsed_s (what a user of the transfer sees)
 *   steady_Bps   the rate once data flows, without the start-up latency:
 *                the least-squares slope of bytes received over time,
 *                one point per read() (robust against a late first or
 *                last read, which a frame-sized delivery makes likely)
 *   writes_s     time until the writer's last write() returned
 *   reads        number of read() calls that returned data
 * Exits 1 if a byte differs, a byte is missing after SECONDS (default 120)
 * or an extra byte arrives; 2 on usage or I/O errors.
 */
#include "benchnet.h"

#include <getopt.h>
#include <poll.h>
#include <pthread.h>

struct writer {
	int fd;
	unsigned long bytes;
	size_t chunk;
	uint64_t seed;
	int64_t done_ns;
	int err;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct bt_stream st;
	unsigned long sent = 0;
	unsigned char *buf;

	buf = malloc(w->chunk);
	if (!buf) {
		w->err = ENOMEM;
		return NULL;
	}
	bt_stream_init(&st, w->seed);
	while (sent < w->bytes) {
		size_t n = w->bytes - sent < w->chunk ? w->bytes - sent : w->chunk;
		size_t off = 0, i;

		for (i = 0; i < n; i++)
			buf[i] = bt_stream_byte(&st);
		while (off < n) {
			ssize_t r = write(w->fd, buf + off, n - off);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				w->err = errno;
				free(buf);
				return NULL;
			}
			off += (size_t)r;
		}
		sent += n;
	}
	w->done_ns = bt_now_ns();
	free(buf);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bulk [-n BYTES] [-s SEED] [-c CHUNK] [-i MS] [-t SECONDS] [-x MS] SRC DST\n"
		"  BYTES and CHUNK take K and M suffixes (x1024); defaults:\n"
		"  -n 256K -s 1 -c 4096 -i 0 -t 120 -x 200\n"
		"  SRC and DST: two ttys, or two ends tcp:NETNS:ADDR:PORT (DST listens)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned long bytes = 256 * 1024, got = 0, reads = 0;
	double st_t = 0, st_b = 0, st_tt = 0, st_tb = 0;	/* regression sums */
	unsigned long timeout_s = 120, extra_ms = 200, interval_ms = 0;
	struct writer w = { .chunk = 4096, .seed = 1 };
	int64_t t0, t_first = 0, t_last = 0, deadline;
	static unsigned char buf[65536];
	struct bt_stream st;
	pthread_t thread;
	int src, dst, opt, rc = 0;

	while ((opt = getopt(argc, argv, "n:s:c:i:t:x:h")) != -1) {
		switch (opt) {
		case 'n':
			bytes = bt_parse_size("byte count", optarg);
			break;
		case 's':
			w.seed = bt_parse_size("seed", optarg);
			break;
		case 'c':
			w.chunk = bt_parse_size("chunk size", optarg);
			break;
		case 'i':
			interval_ms = bt_parse_size("read interval", optarg);
			break;
		case 't':
			timeout_s = bt_parse_size("timeout", optarg);
			break;
		case 'x':
			extra_ms = bt_parse_size("extra wait", optarg);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || !bytes || !w.chunk || !timeout_s ||
	    interval_ms > 10000)
		usage();

	bt_open_pair(argv[optind], argv[optind + 1], &src, &dst);
	w.fd = src;
	w.bytes = bytes;
	bt_stream_init(&st, w.seed);

	t0 = bt_now_ns();
	deadline = t0 + (int64_t)timeout_s * 1000000000;
	errno = pthread_create(&thread, NULL, writer_main, &w);
	if (errno) {
		perror("pthread_create");
		return 2;
	}

	while (got < bytes) {
		struct pollfd p = { .fd = dst, .events = POLLIN };
		int64_t left = deadline - bt_now_ns();
		ssize_t n;
		size_t i;
		int pr;

		if (left <= 0) {
			fprintf(stderr, "bulk: timed out after %lu s: %lu of %lu bytes arrived\n",
				timeout_s, got, bytes);
			rc = 1;
			goto out;
		}
		pr = poll(&p, 1, (int)(left / 1000000) + 1);
		if (pr < 0 && errno != EINTR) {
			perror("poll");
			rc = 2;
			goto out;
		}
		if (pr <= 0)
			continue;
		n = read(dst, buf, bytes - got < sizeof(buf) ? bytes - got : sizeof(buf));
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("read");
			rc = 2;
			goto out;
		}
		if (n == 0) {
			fprintf(stderr, "bulk: end of file on %s after %lu bytes\n",
				argv[optind + 1], got);
			rc = 2;
			goto out;
		}
		t_last = bt_now_ns();
		if (!reads) {
			t_first = t_last;
		}
		reads++;
		for (i = 0; i < (size_t)n; i++) {
			unsigned char want = bt_stream_byte(&st);

			if (buf[i] != want) {
				fprintf(stderr, "bulk: byte %zu differs: sent 0x%02x, received 0x%02x\n",
					got + i, want, buf[i]);
				rc = 1;
				goto out;
			}
		}
		got += (unsigned long)n;
		{
			/* seconds since the first read, bytes so far */
			double x = (double)(t_last - t_first) / 1e9, y = (double)got;

			st_t += x;
			st_b += y;
			st_tt += x * x;
			st_tb += x * y;
		}
		if (interval_ms && got < bytes) {
			struct timespec ts = {
				.tv_sec = (time_t)(interval_ms / 1000),
				.tv_nsec = (long)(interval_ms % 1000) * 1000000,
			};

			while (nanosleep(&ts, &ts) && errno == EINTR)
				;
		}
	}

	/* Nothing more may come. */
	for (;;) {
		struct pollfd p = { .fd = dst, .events = POLLIN };
		int pr = poll(&p, 1, (int)extra_ms);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr > 0) {
			ssize_t n = read(dst, buf, sizeof(buf));

			fprintf(stderr, "bulk: %zd extra byte(s) after the %lu expected\n",
				n, bytes);
			rc = 1;
		}
		break;
	}

out:
	if (rc) {
		/* Unblock a writer stuck on a dead line, then leave. */
		if (!bt_is_tcp(argv[optind]))
			tcflush(src, TCOFLUSH);
		pthread_cancel(thread);
	}
	pthread_join(thread, NULL);
	if (!rc && w.err) {
		fprintf(stderr, "bulk: write to %s: %s\n", argv[optind], strerror(w.err));
		rc = 2;
	}
	if (!rc) {
		double el = (double)(t_last - t0) / 1e9, nr = (double)reads;
		double den = nr * st_tt - st_t * st_t;

		printf("bytes=%lu elapsed_s=%.6f first_s=%.6f goodput_Bps=%.1f steady_Bps=%.1f writes_s=%.6f reads=%lu\n",
		       bytes, el, (double)(t_first - t0) / 1e9, (double)bytes / el,
		       reads > 1 && den > 0 ? (nr * st_tb - st_t * st_b) / den : 0.0,
		       (double)(w.done_ns - t0) / 1e9, reads);
	}
	close(src);
	close(dst);
	return rc;
}
