/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The TSP's side of a hand-over (Documentation/store-and-forward.rst,
 * "T as the receiver"): one envelope from a sender into the spool,
 * through the courier's transfer protocol (xfer.h's recipient engine),
 * answered with a signed acceptance once it is durable.
 *
 * A hand-over never opens the envelope: it checks only what needs no key
 * (the header's magic and version, a size an envelope can have, the
 * TSP's limits and the sender's quota) and writes the ciphertext as it
 * arrives, each chunk made durable before the engine acknowledges it.
 * Whatever the sender claims beyond that (that the envelope is for the
 * account it named at call setup, that its chunks authenticate) only the
 * recipient can check, at delivery.
 *
 * The daemon feeds it the plaintexts of COURIER messages of the leg (it
 * seals and opens them with the leg's courier keys) and sends what
 * output() gives. Two clocks: now, the engine's monotonic milliseconds;
 * wall_ms, the store's epoch milliseconds.
 *
 *	sl_tsp_deposit_new(&d, &cfg, offer, len, now, wall_ms)
 *	sl_tsp_deposit_input(d, msg, len, now, wall_ms)	each later message
 *	sl_tsp_deposit_output(d, now, buf)		until it returns 0
 *	sl_tsp_deposit_next_timer(d), sl_tsp_deposit_finished(d, now)
 *	sl_tsp_deposit_free(d)
 */
#ifndef SEALINE_AGENT_DEPOSIT_H
#define SEALINE_AGENT_DEPOSIT_H

#include "sign.h"
#include "tspspool.h"
#include "xfer.h"

/* The acceptance's text (store-and-forward.rst, "The acceptance"). */
#define SL_TSP_ACCEPTANCE_MAX		640
#define SL_TSP_ACCEPTANCE_MAGIC		"sealine-acceptance 1"
/* The account whose identity-key derivation T's signing key uses. */
#define SL_TSP_SIGN_ACCOUNT		"000000000000"

struct sl_tsp_deposit_cfg {
	struct sl_tsp_spool *sp;
	const char *sender;		/* authenticated by call setup */
	const char *recipient;		/* named at call setup, checked */
	int64_t not_before_ms;		/* 0: none */
	int window;			/* SL_TSP_WINDOW_NONE: none */
	int64_t delay_ms;		/* random delivery delay, drawn by T */
	const struct sl_sign_key *key;	/* T's signing key */
};

struct sl_tsp_deposit_status {
	bool decided;			/* accepted or refused */
	uint8_t code;			/* 0 accepted, else a refusal */
	uint64_t sid;			/* its spool row, if any */
	uint64_t resumed_at;		/* the chunk the transfer began at */
	char detail[SL_XFER_DETAIL_MAX + 1];
	struct sl_xrecv_status xfer;
};

struct sl_tsp_deposit;

/* From an OFFER: -EINVAL if it is none (drop it), -ENOMEM. The offer is
 * decided at once (ANSWER or RESULT in the output). */
int sl_tsp_deposit_new(struct sl_tsp_deposit **d,
		       const struct sl_tsp_deposit_cfg *cfg,
		       const uint8_t *offer, size_t len, uint64_t now,
		       int64_t wall_ms);
void sl_tsp_deposit_free(struct sl_tsp_deposit *d);
int sl_tsp_deposit_input(struct sl_tsp_deposit *d, const uint8_t *msg,
			 size_t len, uint64_t now, int64_t wall_ms);
size_t sl_tsp_deposit_output(struct sl_tsp_deposit *d, uint64_t now,
			     uint8_t *buf);
uint64_t sl_tsp_deposit_next_timer(const struct sl_tsp_deposit *d);
bool sl_tsp_deposit_finished(const struct sl_tsp_deposit *d, uint64_t now);
void sl_tsp_deposit_get_status(const struct sl_tsp_deposit *d,
			       struct sl_tsp_deposit_status *st);

/*
 * The acceptance of a held (or later) row, signed with key: its length,
 * or a negative errno (-ENOSPC if len is too small). It depends on the
 * row and the key only (Ed25519 signatures are deterministic), so the
 * acceptance sent again for a duplicate is the first one, byte for byte.
 */
int sl_tsp_acceptance(char *out, size_t len, const struct sl_tsp_spool_row *r,
		      const struct sl_sign_key *key);

/* The non-delivery notice (store-and-forward.rst, "Receipts and notices
 * back to the sender") of an expired or bounced row, signed with key:
 * its length or a negative errno (-EINVAL for another state). Built from
 * the row each time it is sent: the row holds nothing to keep secret. */
#define SL_TSP_NOTICE_MAGIC		"sealine-notice 1"
int sl_tsp_notice(char *out, size_t len, const struct sl_tsp_spool_row *r,
		  const struct sl_sign_key *key);

#endif
