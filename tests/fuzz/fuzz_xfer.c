// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target for the courier's transfer protocol and channel
 * (agent/proto/xfer.c, cchan.c): the input is a program that runs a real
 * sender and a real recipient against each other and, between them,
 * lets the fuzzer drop, change, repeat or invent messages, move the
 * clock, and play the recipient's daemon (verify chunks, give a result,
 * refuse). Whatever happens:
 *
 *   - no engine crashes, reads or writes out of bounds, or leaks;
 *   - every message an engine hands out fits a courier message;
 *   - the recipient hands its daemon chunks in order, each once, each
 *     of the length the offer implies, and only what the sender sent
 *     (compared with the envelope);
 *   - the channel opens only what the other side sealed, once.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "cchan.h"
#include "crypto.h"
#include "xfer.h"

#define ENV_MAX	(SL_XFER_HEADER_LEN + 3 * SL_XFER_CHUNK_WIRE)

static uint8_t env[ENV_MAX];
static uint64_t env_size;

static int env_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	(void)ctx;
	FUZZ_ASSERT(off + len <= env_size);
	memcpy(buf, env + off, len);
	return 0;
}

struct prog {
	const uint8_t *p;
	size_t n;
};

static uint8_t take(struct prog *g)
{
	uint8_t v;

	if (!g->n)
		return 0;
	v = *g->p++;
	g->n--;
	return v;
}

static bool initialised;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct prog g = { data, size };
	struct sl_xsend *xs = NULL;
	struct sl_xrecv *xr = NULL;
	struct sl_cchan *ca, *cb;
	uint8_t k1[32], k2[32];
	uint8_t out[SL_CCHAN_MAX_PLAIN], wire[SL_CCHAN_MAX_MSG];
	uint8_t plain[SL_CCHAN_MAX_MSG];
	uint64_t now = 1000, next_chunk = 0;
	bool pending = false;		/* a chunk taken, not done */
	struct sl_xsend_cfg cfg = { .read = env_read };

	if (!initialised) {
		char why[100];

		if (sl_crypto_init(0, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why)))
			abort();
		initialised = true;
	}
	/* The envelope: its size from the program, bytes a pattern. */
	env_size = SL_XFER_HEADER_LEN + 16 +
		   ((uint64_t)take(&g) << 10 | take(&g)) % (ENV_MAX - SL_XFER_HEADER_LEN - 15);
	for (uint64_t i = 0; i < env_size; i++)
		env[i] = (uint8_t)(i * 131 + (i >> 8));
	cfg.id = 0x01020304;
	cfg.size = env_size;
	cfg.header = env;
	cfg.piece = (uint16_t)(take(&g) % 2 ? 0 :
			       SL_XFER_PIECE_MIN + take(&g) * 6);
	if (cfg.piece > SL_XFER_PIECE_MAX)
		cfg.piece = SL_XFER_PIECE_MAX;
	FUZZ_ASSERT(sl_xsend_new(&xs, &cfg, now) == 0);

	ca = sl_cchan_new();
	cb = sl_cchan_new();
	FUZZ_ASSERT(ca && cb);
	memset(k1, 0x11, 32);
	memset(k2, 0x22, 32);
	FUZZ_ASSERT(!sl_cchan_stage(ca, 7, 1, k1, k2));
	FUZZ_ASSERT(!sl_cchan_stage(cb, 7, 1, k2, k1));
	FUZZ_ASSERT(!sl_cchan_activate(ca, 1) && !sl_cchan_activate(cb, 1));

	while (g.n) {
		uint8_t op = take(&g);
		size_t n, wl, pl;
		int err;

		switch (op % 10) {
		case 0:		/* the clock */
			now += (uint64_t)take(&g) * 100 + 1;
			break;
		case 1:		/* sender -> recipient, maybe changed */
		case 2: {
			uint8_t how = op % 10 == 2 ? take(&g) : 0;

			n = sl_xsend_output(xs, now, out);
			FUZZ_ASSERT(n <= SL_CCHAN_MAX_PLAIN);
			if (!n)
				break;
			FUZZ_ASSERT(!sl_cchan_seal(ca, wire, &wl, out, n));
			if (how & 1)
				wire[take(&g) % wl] ^= (uint8_t)(take(&g) | 1);
			if (how & 2)
				break;			/* lost */
			err = sl_cchan_open(cb, plain, &pl, wire, wl);
			if (how & 1) {
				FUZZ_ASSERT(err);	/* changed: refused */
				break;
			}
			FUZZ_ASSERT(!err && pl == n && !memcmp(plain, out, n));
			if (plain[0] == SL_XFER_OFFER && !xr) {
				FUZZ_ASSERT(!sl_xrecv_new(&xr, plain, pl, now));
				FUZZ_ASSERT(sl_xrecv_offer(xr)->size == env_size);
				break;
			}
			if (xr)
				sl_xrecv_input(xr, plain, pl, now);
			break;
		}
		case 3:		/* recipient -> sender */
			if (!xr)
				break;
			n = sl_xrecv_output(xr, now, out);
			FUZZ_ASSERT(n <= SL_CCHAN_MAX_PLAIN);
			if (n && !(take(&g) & 7))
				break;			/* lost */
			if (n)
				sl_xsend_input(xs, out, n, now);
			break;
		case 4: {	/* the recipient's daemon: verify, store */
			const uint8_t *buf;
			uint64_t idx;

			if (!xr)
				break;
			if (pending) {
				sl_xrecv_chunk_done(xr, now);
				pending = false;
				next_chunk++;
			} else if (sl_xrecv_take_chunk(xr, &idx, &buf, &n)) {
				FUZZ_ASSERT(idx == next_chunk);
				FUZZ_ASSERT(n == sl_xfer_chunk_len(env_size, idx));
				FUZZ_ASSERT(!memcmp(buf, env + SL_XFER_HEADER_LEN +
						    idx * SL_XFER_CHUNK_WIRE, n));
				pending = true;
			}
			break;
		}
		case 5:		/* the daemon decides on the offer */
			if (!xr)
				break;
			if (take(&g) & 1) {
				struct sl_xrecv_status st;

				sl_xrecv_accept(xr, take(&g) % 4, now);
				sl_xrecv_get_status(xr, &st);
				if (!pending)
					next_chunk = st.durable;
			} else {
				sl_xrecv_refuse(xr, take(&g), "no", now);
			}
			break;
		case 6:		/* a result */
			if (xr)
				sl_xrecv_result(xr, take(&g), "receipt", 7, now);
			break;
		case 7: {	/* invented plaintext to either engine */
			uint8_t m[64];
			size_t len = take(&g) % sizeof(m);

			for (size_t i = 0; i < len; i++)
				m[i] = take(&g);
			if (len >= 5 && take(&g) & 1) {
				m[1] = 1, m[2] = 2, m[3] = 3, m[4] = 4;
			}
			sl_xsend_input(xs, m, len, now);
			if (xr)
				sl_xrecv_input(xr, m, len, now);
			break;
		}
		case 8: {	/* raw bytes to the channel */
			uint8_t m[80];
			size_t len = take(&g) % sizeof(m);

			for (size_t i = 0; i < len; i++)
				m[i] = take(&g);
			if (len > 6 && take(&g) & 1) {
				m[0] = 2, m[1] = SL_MSG_COURIER;
				m[2] = m[3] = m[4] = 0, m[5] = 7;
			}
			FUZZ_ASSERT(sl_cchan_open(cb, plain, &pl, m, len) != 0);
			break;
		}
		case 9:		/* the sender gives up, or the queue is full */
			if (take(&g) & 1)
				sl_xsend_abort(xs, 1, now);
			else
				sl_xsend_unsent(xs, now);
			break;
		}
		(void)sl_xsend_next_timer(xs);
		if (xr) {
			(void)sl_xrecv_next_timer(xr);
			if (sl_xrecv_finished(xr, now)) {
				sl_xrecv_free(xr);
				xr = NULL;
				next_chunk = 0;
				pending = false;
			}
		}
	}
	sl_xsend_free(xs);
	sl_xrecv_free(xr);
	sl_cchan_free(ca);
	sl_cchan_free(cb);
	return 0;
}
