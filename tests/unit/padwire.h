/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A leg's wire for the padding tests (test_tspdeposit, test_tspdelivery):
 * one direction of a line to the TSP without the exchange. Every
 * transfer message goes through what the real ends do to it: sealed by
 * the courier's channel (cchan.c) under the leg's keys, framed as a
 * control frame by the kernel's framing code (lib/rawline.c,
 * kmod/frame.c) into the line's output queue; the bytes of that queue
 * are the bytes on the wire, counted here; then decoded and opened again
 * on the other side. The count is the line's, not an engine's counter.
 */
#ifndef SEALINE_TEST_PADWIRE_H
#define SEALINE_TEST_PADWIRE_H

#include <string.h>

#include <gcrypt.h>

#include "byteq.h"
#include "cchan.h"
#include "rawline.h"

struct padwire {
	struct sl_cchan *tx, *rx;	/* the two ends of one direction */
	struct sl_byteq q;		/* the sender's line output */
	struct sl_rawline rl;		/* the receiver's decoder */
	uint64_t bytes;			/* on the wire, framed */
	uint64_t messages;
	uint8_t *out;			/* the message decoded, opened */
	size_t out_len;
};

static inline bool padwire_open(struct padwire *w)
{
	uint8_t k[2][SEALINE_KEY_LEN];

	memset(w, 0, sizeof(*w));
	gcry_randomize(k, sizeof(k), GCRY_STRONG_RANDOM);
	w->tx = sl_cchan_new();
	w->rx = sl_cchan_new();
	sl_byteq_init(&w->q, SL_OUTQ_MAX);
	sl_rawline_init(&w->rl);
	return w->tx && w->rx &&
	       !sl_cchan_stage(w->tx, 0x7ad, 1, k[0], k[1]) &&
	       !sl_cchan_activate(w->tx, 1) &&
	       !sl_cchan_stage(w->rx, 0x7ad, 1, k[1], k[0]) &&
	       !sl_cchan_activate(w->rx, 1);
}

static inline void padwire_close(struct padwire *w)
{
	sl_cchan_free(w->tx);
	sl_cchan_free(w->rx);
	sl_byteq_free(&w->q);
}

static inline void padwire_got(void *ctx, const uint8_t *msg, size_t len)
{
	struct padwire *w = ctx;
	size_t n;

	if (!sl_cchan_open(w->rx, w->out, &n, msg, len))
		w->out_len = n;
}

/* Carry one plaintext message across: into out (SL_CCHAN_MAX_MSG
 * bytes), its length returned (0 if it did not arrive intact). */
static inline size_t padwire_carry(struct padwire *w, const uint8_t *plain,
				   size_t len, uint8_t *out)
{
	uint8_t sealed[SL_CCHAN_MAX_MSG];
	const uint8_t *p;
	size_t n, have;

	if (sl_cchan_seal(w->tx, sealed, &n, plain, len) ||
	    sl_rawline_send(&w->q, sealed, n))
		return 0;
	w->messages++;
	w->out = out;
	w->out_len = 0;
	while ((have = sl_byteq_peek(&w->q, &p))) {	/* a ring: in parts */
		w->bytes += have;
		sl_rawline_decode(&w->rl, p, have, padwire_got, w);
		sl_byteq_consume(&w->q, have);
	}
	return w->out_len;
}

#endif
