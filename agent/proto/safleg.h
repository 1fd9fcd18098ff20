/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The endpoint's side of a leg to the TSP itself
 * (Documentation/store-and-forward.rst): call setup with purpose 3
 * (deposit: hand an envelope over) or 4 (collect), then, under the leg's
 * courier keys, the courier's channel (cchan.h) with the transfer's
 * sender (xfer.h) for a deposit, and the NOTEs T sends (receipts and
 * notices held for us), each acknowledged once the caller stored it,
 * until T's authentic CALL_STATUS ended.
 *
 * An engine without I/O, as the ones it drives: the caller frames the
 * control messages on its line (a raw line: no line discipline is
 * needed, the leg carries control frames only), feeds every control
 * message it receives to sl_safleg_input(), calls the timer, and hangs up
 * once sl_safleg_over(). sealined (courier_tsp.c) and the test endpoint
 * tests/tsp/sim-courier run this same code.
 *
 *	sl_safleg_new(&leg, &cfg, now)		CALL_HELLO goes out
 *	sl_safleg_input(leg, msg, len, now)	each control message
 *	sl_safleg_timer(leg, now)		at sl_safleg_next_timer()
 *	sl_safleg_get_status(leg, &st)		the outcome so far
 *	sl_safleg_free(leg)			wipes the leg's keys
 */
#ifndef SEALINE_AGENT_SAFLEG_H
#define SEALINE_AGENT_SAFLEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "call.h"
#include "handshake.h"
#include "xfer.h"

/* NOTEs remembered per leg, so that a copy is acknowledged again
 * without being stored twice (T sends at most 32 per call). */
#define SL_SAFLEG_NOTES_MAX	64

enum sl_safleg_state {
	SL_SAFLEG_SETUP = 1,	/* call setup with T */
	SL_SAFLEG_COURIER,	/* T took the leg: transfer, NOTEs */
	SL_SAFLEG_ENDED,	/* T said ended: hang up */
	SL_SAFLEG_FAILED,	/* call setup or the channel failed */
};

struct sl_safleg_cfg {
	char account[SL_ACCOUNT_LEN + 1];	/* ours */
	const uint8_t *static_priv;		/* ours (copied by call setup) */
	const uint8_t *tsp_pub;			/* T's pinned static key */
	unsigned int baud;			/* call setup's RTO; 0: unknown */
	enum sl_call_purpose purpose;		/* DEPOSIT or COLLECT */
	char recipient[SL_ACCOUNT_LEN + 1];	/* DEPOSIT: whom it is for */
	/*
	 * DEPOSIT: the transfer (id, size, header, read, ctx, schedule; id
	 * 0: one is drawn; the header is copied). size 0: no transfer
	 * starts, the caller offers by hand with sl_safleg_courier_send()
	 * (a test's lie).
	 */
	struct sl_xsend_cfg xfer;
	/* One control message for the line: 0 or a negative errno. */
	int (*send)(void *ctx, const uint8_t *msg, size_t len);
	/*
	 * A NOTE not seen before on this leg (kind SL_XFER_NOTE_*, its text):
	 * 0 once the caller stored it (or had it already): acknowledged;
	 * anything else: not acknowledged (T sends it again next time).
	 */
	int (*note)(void *ctx, uint8_t kind, const char *text, size_t len);
	/* A courier message the leg does not take itself; may be NULL. */
	void (*other)(void *ctx, const uint8_t *plain, size_t len);
	void *ctx;
};

struct sl_safleg_status {
	enum sl_safleg_state state;
	uint64_t tracking;		/* the leg's call record at T */
	/* FAILED: the NAK (SL_NAK_NONE if none), whether T sent it, what
	 * it was about (SL_NAK_DETAIL_*), and what happened, for people. */
	uint8_t nak, nak_detail;
	bool nak_remote;
	char why[160];
	bool xfer_started;
	struct sl_xsend_status xfer;	/* DEPOSIT, once started */
	unsigned int notes;		/* stored and acknowledged */
	unsigned int notes_refused;	/* not stored: not acknowledged */
};

struct sl_safleg;

/* Starts call setup (CALL_HELLO sent through cfg->send): 0, -EINVAL for a
 * bad configuration, -ENOMEM. */
int sl_safleg_new(struct sl_safleg **leg, const struct sl_safleg_cfg *cfg,
		  uint64_t now);
/* Wipes the call's and the channel's keys and frees. NULL is fine. */
void sl_safleg_free(struct sl_safleg *leg);

/* A control message received on the line (call setup's or COURIER). */
void sl_safleg_input(struct sl_safleg *leg, const uint8_t *msg, size_t len,
		     uint64_t now);
void sl_safleg_timer(struct sl_safleg *leg, uint64_t now);
uint64_t sl_safleg_next_timer(const struct sl_safleg *leg);

/* A courier message of the caller's own under the leg's keys: 0,
 * -ENOTCONN before T took the leg, or cchan's error. */
int sl_safleg_courier_send(struct sl_safleg *leg, const uint8_t *plain,
			   size_t len);

/* Whether the leg is over (ended or failed): hang up. */
bool sl_safleg_over(const struct sl_safleg *leg);
void sl_safleg_get_status(const struct sl_safleg *leg,
			  struct sl_safleg_status *st);

#endif
