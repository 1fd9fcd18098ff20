// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of the dialer (agent/sealined/dialer.c, demand.c) seen
 * through its seam (struct sl_dialer_ops), without a modem.
 */
#include <errno.h>
#include <poll.h>

#include "check.h"
#include "dialer.h"
#include "ipc.h"
#include "lines.h"
#include "daemon_test.h"

/* One turn of sealined's loop for a lone dialer. */
static void dialer_turn(struct sl_dialer *d)
{
	struct pollfd pfd;

	sl_dialer_pollfd(d, &pfd);
	if (pfd.fd >= 0 && poll(&pfd, 1, 20) > 0)
		sl_dialer_ready(d, pfd.revents, sl_now_ms());
}

static bool dialer_status_has(struct sl_dialer *d, const char *want)
{
	struct sl_ipc_builder b;

	sl_ipc_build(&b, "line");
	sl_dialer_status(d, &b);
	return strstr(b.buf, want) != NULL;
}

/* The demand link of a dial-up line whose modem is not there (its port
 * stays down, so nothing dials): made, held, bounded, removed. */
/* A dialer's line, as far as the dialer sees it (dialer.h): no call. */
static int nocall_send(void *ctx, const uint8_t *msg, size_t len)
{
	(void)ctx;
	(void)msg;
	(void)len;
	return -ENOTCONN;
}

static void nocall_attached(void *ctx, int64_t now_ms)
{
	(void)ctx;
	(void)now_ms;
}

static void nocall_connected(void *ctx, const char *peer, bool caller,
			     int64_t now_ms)
{
	(void)ctx;
	(void)peer;
	(void)caller;
	(void)now_ms;
	CHECKF(0, "a call connected without a modem");
}

static void nocall_over(void *ctx, const char *why, int64_t now_ms)
{
	(void)ctx;
	(void)why;
	(void)now_ms;
}

static bool nocall_keyed(void *ctx, uint32_t *index)
{
	(void)ctx;
	*index = 0;
	return false;
}

static const struct sl_dialer_ops nocall_ops = {
	.send_control = nocall_send,
	.attached = nocall_attached,
	.connected = nocall_connected,
	.over = nocall_over,
	.keyed = nocall_keyed,
};

TEST(dialer_demand_link)
{
	struct sl_config *cfg = new_cfg();
	struct sl_keystore ks;
	struct sl_dialer *d = NULL;
	char text[PATH_MAX + 512], err[1024], link[PATH_MAX], target[PATH_MAX];
	char want[64];
	uint8_t buf[4096];
	size_t total = 0;
	struct stat st;
	ssize_t n;
	int fd;

	path_in(link, sizeof(link), "dod/ttyUSB97.line");
	snprintf(text, sizeof(text), "[line ttyUSB97]\nmodem = yes\n"
		 "tsp_number = 5550100\ntsp_key = 0102030405060708090a0b0c"
		 "0d0e0f101112131415161718191a1b1c1d1e1f20\n"
		 "dial_on_demand = 210987654321\ndemand_link = %s\n", link);
	if (!CHECKF(!parse(cfg, text, err, sizeof(err)), "%s", err))
		goto out;
	memset(&ks, 0, sizeof(ks));
	if (!CHECK_EQ(sl_dialer_new(&cfg->lines[0], &ks, &nocall_ops, NULL,
				    sl_now_ms(), &d), 0))
		goto out;
	/* A link to a pty that only root may open, its directory made. */
	n = readlink(link, target, sizeof(target) - 1);
	if (CHECK(n > 0)) {
		target[n] = '\0';
		CHECKF(!strncmp(target, "/dev/pts/", 9), "%s", target);
	}
	if (CHECK(!stat(link, &st)))
		CHECKF((st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
	CHECK(dialer_status_has(d, "dial_on_demand=210987654321"));
	CHECK(dialer_status_has(d, "idle_hangup=300"));
	CHECK(dialer_status_has(d, "demand_waiting=0"));

	/* A write with no call (and no modem) waits in the buffer. */
	fd = open(link, O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (!CHECK(fd >= 0))
		goto out;
	memset(buf, 0x5a, sizeof(buf));
	CHECK_EQ(write(fd, buf, 100), 100);
	for (int i = 0; i < 5; ++i)
		dialer_turn(d);
	CHECK(dialer_status_has(d, "demand_waiting=100"));
	CHECK(dialer_status_has(d, "call_state=down"));
	/* Bounded: once it holds SL_DIALER_DEMAND_BUF the application's
	 * writes stop (the pty's own buffer fills, then EAGAIN). */
	for (int i = 0; i < 2000; ++i) {
		n = write(fd, buf, sizeof(buf));
		if (n > 0)
			total += (size_t)n;
		dialer_turn(d);
		if (n < 0 && errno == EAGAIN && i > 100)
			break;
	}
	snprintf(want, sizeof(want), "demand_waiting=%d", SL_DIALER_DEMAND_BUF);
	CHECKF(dialer_status_has(d, want), "wrote %zu", total);
	CHECK(total + 100 >= SL_DIALER_DEMAND_BUF);
	CHECKF(total < 4 * SL_DIALER_DEMAND_BUF, "wrote %zu", total);
	close(fd);
	sl_dialer_free(d);
	d = NULL;
	CHECK(lstat(link, &st) && errno == ENOENT);

	/* A stale link is replaced; anything else is left alone. */
	CHECK(!symlink("/nonexistent", link));
	if (CHECK_EQ(sl_dialer_new(&cfg->lines[0], &ks, &nocall_ops, NULL,
				   sl_now_ms(), &d), 0)) {
		n = readlink(link, target, sizeof(target) - 1);
		CHECK(n > 9 && !strncmp(target, "/dev/pts/", 9));
		sl_dialer_free(d);
		d = NULL;
	}
	write_file(link, "mine\n", 0644);
	CHECK_EQ(sl_dialer_new(&cfg->lines[0], &ks, &nocall_ops, NULL,
			       sl_now_ms(), &d), -EEXIST);
	CHECK(!lstat(link, &st) && S_ISREG(st.st_mode));
	unlink(link);
out:
	sl_dialer_free(d);
	free(cfg);
}

int main(int argc, char **argv)
{
	daemon_test_start(argc, argv, "test_dialer");
	RUN(dialer_demand_link);
	return daemon_test_finish();
}
