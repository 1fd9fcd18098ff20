// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A dial-up line without the line discipline (dialer.h): its control
 * frames framed here with the kernel's framing code (rawline.h). Three
 * cases: a leg we place to the TSP itself (a hand-over or a collection,
 * its engine the courier's: safleg.h), an answer's call setup until the
 * offer says what the call is, and a held delivery the TSP makes to us,
 * where T is the courier peer under the leg's courier keys.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "cchan.h"
#include "clock.h"
#include "dialer.h"
#include "dialer_internal.h"
#include "log.h"
#include "modem.h"

/* After CONNECT, no discipline: control frames framed here. */
void sl_dialer_frame_here(struct sl_dialer *d)
{
	d->framed = true;
	sl_rawline_init(&d->rl);
	sl_byteq_drop(&d->leg_out);
}

/* A leg to the TSP is up: framed here, no discipline. */
void sl_dialer_leg_up(struct sl_dialer *d, int64_t now)
{
	sl_dialer_set_state(d, DL_LEG);
	sl_dialer_frame_here(d);
	sl_log(LOG_INFO, "%s: connected to the TSP for a leg of store and forward",
	       sl_dialer_tty(d));
	d->leg->up(d->leg_ctx, now);
}

/* A control frame of our own call setup on a line without the
 * discipline: call setup's, or (a held delivery) the courier's. */
static void framed_control(struct sl_dialer *d, const uint8_t *msg,
			   size_t len, int64_t now)
{
	struct sl_call_actions out;

	if (len < 2)
		return;
	if (sl_cchan_is_courier(msg, len)) {
		if (d->st == DL_LEG && d->leg) {
			d->held_heard = now;
			d->leg->control(d->leg_ctx, msg, len, now);
		}
		return;
	}
	if ((sl_call_msg_is_setup(msg[1]) || msg[1] == SL_MSG_NAK) &&
	    sl_call_input(d->call, msg, len, (uint64_t)now, &out) == 0)
		sl_dialer_call_actions(d, &out, now);
}

static void leg_msg(void *ctx, const uint8_t *msg, size_t len)
{
	struct sl_dialer *d = ctx;

	/* A leg we placed runs its own call setup (safleg.h). */
	if (d->call)
		framed_control(d, msg, len, sl_now_ms());
	else if (d->leg)
		d->leg->control(d->leg_ctx, msg, len, sl_now_ms());
}

/* Data bytes of the leg: control frames, or the modem's NO CARRIER. */
void sl_dialer_leg_data(struct sl_dialer *d, const uint8_t *buf, size_t n,
			int64_t now)
{
	size_t off = 0;

	while (off < n && d->framed) {
		struct sl_modem_events ev;
		size_t used = sl_modem_data_scan(&d->modem, buf + off, n - off,
						 &ev);
		/* NO CARRIER's own bytes are no frame: the decoder drops
		 * them as a damaged one at worst. */
		sl_rawline_decode(&d->rl, buf + off, used, leg_msg, d);
		off += used;
		if (ev.n)
			sl_dialer_modem_events(d, &ev, now);
		if (!used)
			break;
	}
}

int sl_dialer_leg_send(struct sl_dialer *d, const uint8_t *msg, size_t len)
{
	int ret;

	if (!d->framed || d->fd < 0)
		return -ENOTCONN;
	ret = sl_rawline_send(&d->leg_out, msg, len);
	if (ret)
		return ret;
	if (sl_byteq_flush(&d->leg_out, d->fd) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

int sl_dialer_held_keys(const struct sl_dialer *d, uint8_t *keys,
			uint32_t *hsid, uint64_t *tracking)
{
	if (d->st != DL_LEG || !d->call)
		return -EINVAL;
	*hsid = d->held_hsid;
	*tracking = d->tracking;
	return sl_call_courier_keys(d->call, keys);
}

int sl_dialer_leg(struct sl_dialer *d, const struct sl_dialer_leg_ops *ops,
		  void *ctx, int64_t now, char *err, size_t err_len)
{
	struct sl_modem_events ev;
	int ret;

	if (d->st != DL_IDLE) {
		snprintf(err, err_len, "%s is %s, not idle", sl_dialer_tty(d),
			 sl_dialer_state_name(d->st));
		return -EBUSY;
	}
	if (!d->base->has_tsp_key || !d->base->tsp_number[0]) {
		snprintf(err, err_len, "%s has no tsp_number and tsp_key",
			 sl_dialer_tty(d));
		return -EINVAL;
	}
	ret = sl_modem_dial(&d->modem, d->base->tsp_number, now, &ev);
	if (ret) {
		snprintf(err, err_len, "the modem cannot dial: %s", strerror(-ret));
		return ret;
	}
	d->caller = true;
	d->caller_leg = true;
	d->leg = ops;
	d->leg_ctx = ctx;
	sl_dialer_set_state(d, DL_DIALLING);
	sl_log(LOG_INFO, "%s: dialling the TSP for a leg of store and forward",
	       sl_dialer_tty(d));
	sl_dialer_modem_events(d, &ev, now);
	return 0;
}

/* T offers the delivery of an envelope sender handed to it. */
void sl_dialer_offer_held(struct sl_dialer *d, const char *sender, int64_t now)
{
	const struct sl_dialer_leg_ops *leg = NULL;
	char why[160] = "this sealined takes no held deliveries";
	void *ctx = NULL;
	uint8_t reason = SL_NAK_REFUSED;

	if (d->ops->held)
		reason = d->ops->held(d->ctx, sender, &leg, &ctx, why,
				      sizeof(why));
	if (reason == SL_NAK_NONE && !leg)
		reason = SL_NAK_REFUSED;
	sl_log(LOG_NOTICE, "%s: the TSP offers a held delivery from %s (tracking %016" PRIx64 "): %s%s (%s)",
	       sl_dialer_tty(d), sender, d->tracking,
	       reason == SL_NAK_NONE ? "accepted" : "refused, ",
	       reason == SL_NAK_NONE ? "" : why,
	       reason == SL_NAK_NONE ? "the courier takes it" :
	       sl_nak_reason_name(reason));
	if (reason == SL_NAK_NONE) {
		d->leg = leg;
		d->leg_ctx = ctx;
	}
	sl_dialer_offer_reply(d, reason, now);
}

void sl_dialer_held_connected(struct sl_dialer *d, uint32_t hsid, int64_t now)
{
	/* T is the courier peer: the leg stays framed here, no discipline,
	 * no session. */
	if (!d->leg || !d->framed) {
		sl_dialer_end_call(d, "a held delivery connected that nobody took",
				   now);
		return;
	}
	d->held_hsid = hsid;
	d->held_heard = now;
	sl_dialer_set_state(d, DL_LEG);
	sl_log(LOG_NOTICE, "%s: the TSP delivers an envelope from %s (tracking %016" PRIx64 ")",
	       sl_dialer_tty(d), d->peer, d->tracking);
	d->leg->up(d->leg_ctx, now);
}
