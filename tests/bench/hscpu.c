// SPDX-License-Identifier: GPL-2.0
/*
 * hscpu - the CPU cost of sealined's session handshake, without a line:
 * two engines of the protocol core (agent/proto/hs_*.c), initiator and
 * responder, run SESSION_INIT .. SESSION_DONE in one process, the
 * messages handed over in memory. Run in the VM by tests/bench/
 * handshake.sh, it tells how much of a session's time on the line is
 * computation (under TCG, emulated); on the host, what it costs natively.
 *
 *	hscpu [N]	N sessions (default 20), each with fresh engines (as
 *			after a daemon restart) and fresh ephemeral keys
 *
 * Prints "session_ms=MEDIAN session_min_ms=MIN first_ms=T x25519_ms=MEDIAN
 * n=N": wall time of a whole session (both sides' work, nothing else
 * running), the first one (which pays for libgcrypt's first use of its
 * random generators in a new process, as a restarted daemon does) and
 * one X25519 operation. Exit status 1 if a session fails.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "handshake.h"

#define MAX_RUNS	1000
#define MAX_STEPS	32

static const char ACCT_I[] = "314159265358", ACCT_R[] = "271828182845";
static uint8_t pub_i[32], pub_r[32];
static uint8_t *priv_i, *priv_r, *ltk;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void fill(struct sl_hs_peer *p, const char *acct, const uint8_t *pub)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->account, acct, SL_ACCOUNT_LEN);
	memcpy(p->static_pub, pub, 32);
	p->ltk = ltk;
	p->status = SL_PEER_AUTHORISED;
}

/* The responder knows one peer: the initiator. */
static int r_peers(void *ctx, unsigned int index, struct sl_hs_peer *p)
{
	(void)ctx;
	if (index)
		return -ENOENT;
	fill(p, ACCT_I, pub_i);
	return 0;
}

static struct sl_hs *engine(const char *acct, const uint8_t *priv,
			    uint32_t epoch, bool responder)
{
	struct sl_hs_config c = { 0 };
	struct sl_hs *hs;
	int err;

	memcpy(c.account, acct, SL_ACCOUNT_LEN);
	c.static_priv = priv;
	c.epoch_next = epoch;
	c.direct_line = true;
	if (responder)
		c.peer_fn = r_peers;
	hs = sl_hs_new(&c, &err);
	if (!hs) {
		fprintf(stderr, "hscpu: sl_hs_new: %s\n", strerror(-err));
		exit(1);
	}
	return hs;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One session; true if both sides reported DONE. */
static bool session(uint32_t epoch)
{
	struct sl_hs *i = engine(ACCT_I, priv_i, epoch, false);
	struct sl_hs *r = engine(ACCT_R, priv_r, epoch, true);
	static struct sl_hs_actions out, next;
	struct sl_hs_peer peer;
	struct sl_hs *to = r;
	int done = 0;
	uint64_t t = 1000;

	fill(&peer, ACCT_R, pub_r);
	if (sl_hs_connect(i, &peer, t, &out))
		return false;
	for (int step = 0; step < MAX_STEPS && done < 2; step++) {
		struct sl_hs *from = to == r ? i : r;
		bool sent = false;

		next.n = 0;
		for (unsigned int k = 0; k < out.n; k++) {
			const struct sl_hs_action *a = &out.a[k];

			if (a->type == SL_HS_ACT_DONE)
				done++;
			if (a->type == SL_HS_ACT_FAILED)
				return false;
			if (a->type == SL_HS_ACT_SEND && !sent) {
				sent = true;
				sl_hs_input(to, a->send.msg, a->send.len, ++t, &next);
			}
		}
		sl_hs_actions_done(from);
		if (!sent)
			break;
		out = next;
		to = from;
	}
	sl_hs_free(i);
	sl_hs_free(r);
	return done >= 2;
}

int main(int argc, char **argv)
{
	static double s[MAX_RUNS], x[MAX_RUNS];
	double first;
	uint8_t shared[32];
	char why[256];
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20;

	if (argc > 2 || n < 1 || n > MAX_RUNS) {
		fprintf(stderr, "usage: hscpu [N]   (1..%d sessions, default 20)\n",
			MAX_RUNS);
		return 2;
	}
	if (sl_crypto_init(0, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why))) {
		fprintf(stderr, "hscpu: %s\n", why);
		return 1;
	}
	priv_i = sl_secure_alloc(32);
	priv_r = sl_secure_alloc(32);
	ltk = sl_secure_alloc(32);
	if (!priv_i || !priv_r || !ltk ||
	    sl_x25519_keypair(priv_i, pub_i) || sl_x25519_keypair(priv_r, pub_r)) {
		fprintf(stderr, "hscpu: key set-up failed\n");
		return 1;
	}
	/* any 32 random bytes make an LTK */
	if (sl_x25519_keypair(ltk, shared)) {
		fprintf(stderr, "hscpu: key set-up failed\n");
		return 1;
	}
	for (long k = 0; k < n; k++) {
		double t0 = now_ms();

		if (!session((uint32_t)(k + 1))) {
			fprintf(stderr, "hscpu: session %ld failed\n", k + 1);
			return 1;
		}
		s[k] = now_ms() - t0;
		t0 = now_ms();
		if (sl_x25519(shared, priv_i, pub_r)) {
			fprintf(stderr, "hscpu: X25519 failed\n");
			return 1;
		}
		x[k] = now_ms() - t0;
	}
	sl_wipe(shared, sizeof(shared));
	first = s[0];
	qsort(s, (size_t)n, sizeof(s[0]), cmp);
	qsort(x, (size_t)n, sizeof(x[0]), cmp);
	printf("session_ms=%.2f session_min_ms=%.2f first_ms=%.2f x25519_ms=%.3f n=%ld\n",
	       s[n / 2], s[0], first, x[n / 2], n);
	sl_secure_free(priv_i, 32);
	sl_secure_free(priv_r, 32);
	sl_secure_free(ltk, 32);
	return 0;
}
