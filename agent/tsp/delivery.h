/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The TSP's side of a delivery (Documentation/store-and-forward.rst,
 * "The delivery call"): one held envelope from the spool to its
 * recipient through the courier's transfer protocol (xfer.h's sender
 * engine), and what the outcome does to the spool's row.
 *
 * The daemon begins it when it dials the recipient (the attempt counts
 * from then: sl_tsp_spool_deliver_begin()), feeds it the plaintexts of
 * COURIER messages once the leg is keyed, sends what output() gives, and
 * ends it with sl_tsp_delivery_finish() (the transfer ended or the call
 * did) or sl_tsp_delivery_call_failed() (the call never got that far).
 *
 * A receipt is taken only if it is well formed, its signature verifies
 * under the key it names, and it is for exactly this envelope (id, hash,
 * size) between exactly these accounts; anything else is a failed
 * attempt. The sender verifies the key itself when it collects it.
 */
#ifndef SEALINE_AGENT_DELIVERY_H
#define SEALINE_AGENT_DELIVERY_H

#include "tspspool.h"
#include "xfer.h"

/* Reasons of the attempts that fail before or outside a refusal. */
#define SL_TSP_REASON_CUT		"CUT"		/* the call dropped */
#define SL_TSP_REASON_BAD_RECEIPT	"BAD_RECEIPT"	/* not this envelope's */

struct sl_tsp_delivery_cfg {
	struct sl_tsp_spool *sp;
	uint64_t sid;
	uint32_t xfer_id;	/* random, non-zero */
	uint16_t piece;		/* 0: SL_XFER_PIECE_DEFAULT */
};

struct sl_tsp_delivery;

/*
 * Begin an attempt: the row delivering (attempts + 1) and a sender engine
 * on its file. -ESTALE: the row is not held (delivered, or another
 * attempt runs); -EUCLEAN: its file is gone.
 */
int sl_tsp_delivery_new(struct sl_tsp_delivery **d,
			const struct sl_tsp_delivery_cfg *cfg, uint64_t now,
			int64_t wall_ms);
void sl_tsp_delivery_free(struct sl_tsp_delivery *d);
int sl_tsp_delivery_input(struct sl_tsp_delivery *d, const uint8_t *msg,
			  size_t len, uint64_t now);
size_t sl_tsp_delivery_output(struct sl_tsp_delivery *d, uint64_t now,
			      uint8_t *buf);
uint64_t sl_tsp_delivery_next_timer(const struct sl_tsp_delivery *d);
bool sl_tsp_delivery_finished(const struct sl_tsp_delivery *d, uint64_t now);
void sl_tsp_delivery_get_status(const struct sl_tsp_delivery *d,
				struct sl_xsend_status *st);

/*
 * The attempt is over (the transfer ended, or the call did): delivered
 * with a receipt (or REPLAY with the first one); a refusal for good
 * bounces it; a retryable one, a bad receipt or a cut transfer retries
 * (DAMAGED twice bounces: the sender's ciphertext is bad). *state: the
 * row's state after it. Frees nothing: free d after.
 */
int sl_tsp_delivery_finish(struct sl_tsp_delivery *d, int64_t wall_ms,
			   enum sl_tsp_spool_state *state);
/*
 * The call did not reach a transfer: reason (BUSY, NO_ANSWER, or the
 * recipient's NAK); for_good (the recipient refused the sender at call
 * setup: NOT_AUTHORISED) bounces, anything else retries.
 */
int sl_tsp_delivery_call_failed(struct sl_tsp_delivery *d, const char *reason,
				bool for_good, int64_t wall_ms,
				enum sl_tsp_spool_state *state);

#endif
