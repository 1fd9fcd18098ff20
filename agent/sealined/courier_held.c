// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Store and forward, the recipient's side (Documentation/store-and-forward.rst,
 * "The delivery call"): the TSP calls us to deliver an envelope a sender
 * handed to it. The dialer answers, runs call setup without the line
 * discipline and asks here at CALL_OFFER (its held-delivery flag); once T
 * says connected, T is this line's courier peer under the leg's courier
 * keys, and the envelope is received exactly as from a peer on a direct
 * line (courier_line.c: the same OFFER checks, spool, unpacking, inbox,
 * receipt), with the dialer framing the messages.
 *
 * What R knows of the sender at the offer is T's word: the account T
 * names. So the offer is taken only from a peer we have paired with and
 * authorise (the rules of a direct delivery; anything else is refused
 * NOT_AUTHORISED, which bounces the envelope at T at once), and the
 * envelope's header, which only the sender's static key and our LTK open,
 * must then name that same sender (courier_line.c, on_offer()).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "courier_internal.h"
#include "crypto.h"
#include "dialer.h"
#include "keystore.h"
#include "lines_internal.h"
#include "log.h"

static void held_up(void *ctx, int64_t now)
{
	struct sl_cline *cl = ctx;
	uint8_t keys[SL_CALL_COURIER_KEYS_LEN];
	uint32_t hsid = 0;
	int ret;

	sl_cchan_clear(cl->ch);
	ret = sl_dialer_held_keys(cl->line->dial, keys, &hsid,
				  &cl->held_tracking);
	/* We are E on this leg: we send under k_e2t, open under k_t2e. */
	if (!ret)
		ret = sl_cchan_stage(cl->ch, hsid, 1, keys,
				     keys + SEALINE_KEY_LEN);
	if (!ret)
		ret = sl_cchan_activate(cl->ch, 1);
	sl_wipe(keys, sizeof(keys));
	if (ret) {
		sl_log(LOG_ERR, "%s: the held delivery's courier channel cannot be set up: %s",
		       sl_line_tty(cl->line), strerror(ret < 0 ? -ret : ret));
		sl_cchan_clear(cl->ch);
		sl_dialer_hangup(cl->line->dial, "no courier channel for the held delivery",
				 now);
		return;
	}
	cl->held = true;
}

static void held_control(void *ctx, const uint8_t *msg, size_t len,
			 int64_t now)
{
	struct sl_cline *cl = ctx;

	if (cl->held)
		sl_cline_input(cl->owner, cl, msg, len, now);
}

static void held_ended(void *ctx, const char *why, int64_t now)
{
	struct sl_cline *cl = ctx;

	sl_log(LOG_INFO, "%s: held delivery from %s (tracking %016" PRIx64 ") over: %s",
	       sl_line_tty(cl->line), cl->held_from, cl->held_tracking, why);
	if (cl->held)
		sl_cline_down(cl->owner, cl, why, now);
	cl->held = false;
	memset(cl->held_from, 0, sizeof(cl->held_from));
	cl->held_tracking = 0;
}

static const struct sl_dialer_leg_ops held_ops = {
	.up = held_up,
	.control = held_control,
	.ended = held_ended,
};

uint8_t sl_cheld_offer(void *ctx, struct sl_line *line, const char *sender,
		       const struct sl_dialer_leg_ops **leg, void **leg_ctx,
		       char *why, size_t why_len)
{
	struct sl_courier *c = ctx;
	const struct sl_peer *p = sl_ks_find(c->ks, sender);
	struct sl_cline *cl;

	if (!c->conf.receive) {
		snprintf(why, why_len, "this installation takes no envelopes ([courier] receive = no)");
		return SL_NAK_NOT_AUTHORISED;
	}
	if (!p || !p->has_pub || !p->ltk) {
		snprintf(why, why_len, "%s is not a peer this installation has paired with",
			 sender);
		return SL_NAK_NOT_AUTHORISED;
	}
	if (!sl_ks_peer_allowed(p)) {
		snprintf(why, why_len, "%s is not authorised here (revoked or not authorised: sealctl peers)",
			 sender);
		return SL_NAK_NOT_AUTHORISED;
	}
	cl = sl_cline_get(c, line);
	if (!cl) {
		snprintf(why, why_len, "out of memory");
		return SL_NAK_REFUSED;
	}
	if (cl->xr || cl->xs || cl->held) {
		/* Not after a call on this line: its end cleared them. */
		snprintf(why, why_len, "the line's courier is busy");
		return SL_NAK_REFUSED;
	}
	snprintf(cl->held_from, sizeof(cl->held_from), "%s", sender);
	*leg = &held_ops;
	*leg_ctx = cl;
	return SL_NAK_NONE;
}
