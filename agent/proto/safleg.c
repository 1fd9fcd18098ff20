// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The endpoint's side of a leg to the TSP (safleg.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>

#include "cchan.h"
#include "crypto.h"
#include "safleg.h"
#include "wire.h"

struct sl_safleg {
	struct sl_safleg_cfg cfg;
	uint8_t header[SL_XFER_HEADER_LEN];	/* cfg.xfer.header's copy */
	struct sl_call *call;
	uint64_t call_timer;
	struct sl_cchan *ch;
	struct sl_xsend *xs;
	bool xs_done;			/* its outcome is in st.xfer */
	uint32_t note_ids[SL_SAFLEG_NOTES_MAX];
	unsigned int n_note_ids;
	struct sl_safleg_status st;
};

static void leg_fail(struct sl_safleg *leg, uint8_t nak, uint8_t detail,
		     bool remote, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void leg_fail(struct sl_safleg *leg, uint8_t nak, uint8_t detail,
		     bool remote, const char *fmt, ...)
{
	va_list ap;

	if (leg->st.state == SL_SAFLEG_FAILED || leg->st.state == SL_SAFLEG_ENDED)
		return;
	leg->st.state = SL_SAFLEG_FAILED;
	leg->st.nak = nak;
	leg->st.nak_detail = detail;
	leg->st.nak_remote = remote;
	va_start(ap, fmt);
	vsnprintf(leg->st.why, sizeof(leg->st.why), fmt, ap);
	va_end(ap);
	/* Nothing more goes out: the keys go now. */
	sl_cchan_free(leg->ch);
	leg->ch = NULL;
}

/* 0, or the line's -ENOBUFS (its queue is full: the caller holds back). */
static int courier_out(struct sl_safleg *leg, const uint8_t *plain,
		       size_t len)
{
	uint8_t msg[SL_CCHAN_MAX_MSG];
	size_t n;
	int ret;

	if (!leg->ch)
		return 0;
	ret = sl_cchan_seal(leg->ch, msg, &n, plain, len);
	if (ret) {
		leg_fail(leg, SL_NAK_NONE, 0, false,
			 "a courier message cannot be sealed: %s", strerror(-ret));
		return 0;
	}
	ret = leg->cfg.send(leg->cfg.ctx, msg, n);
	return ret == -ENOBUFS ? ret : 0;
}

int sl_safleg_courier_send(struct sl_safleg *leg, const uint8_t *plain,
			   size_t len)
{
	uint8_t msg[SL_CCHAN_MAX_MSG];
	size_t n;
	int ret;

	if (!leg->ch)
		return -ENOTCONN;
	ret = sl_cchan_seal(leg->ch, msg, &n, plain, len);
	if (ret)
		return ret;
	return leg->cfg.send(leg->cfg.ctx, msg, n);
}

/* What the transfer has to send, and its outcome once it has one. */
static void xfer_pump(struct sl_safleg *leg, uint64_t now)
{
	uint8_t buf[SL_CCHAN_MAX_PLAIN];
	size_t n;

	if (!leg->xs || leg->xs_done)
		return;
	/* A full line queue takes the message back: it goes again shortly
	 * (a PAD as well; a burst of padding must not be lost, or the
	 * line would show the envelope's size). */
	while (leg->ch && (n = sl_xsend_output(leg->xs, now, buf))) {
		if (courier_out(leg, buf, n) == -ENOBUFS) {
			sl_xsend_unsent(leg->xs, now);
			break;
		}
	}
	sl_xsend_get_status(leg->xs, &leg->st.xfer);
	if (sl_xsend_finished(leg->xs, now))
		leg->xs_done = true;
}

/* T took the leg: the channel under its keys, the transfer. */
static void taken(struct sl_safleg *leg, const struct sl_call_action *a,
		  uint64_t now)
{
	uint8_t keys[SL_CALL_COURIER_KEYS_LEN];
	struct sl_xsend_cfg xc = leg->cfg.xfer;
	int ret;

	leg->st.tracking = a->tracking_id;
	if (sl_call_courier_keys(leg->call, keys)) {
		leg_fail(leg, SL_NAK_NONE, 0, false, "no courier keys for the leg");
		return;
	}
	leg->ch = sl_cchan_new();
	/* E sends under k_e2t, opens under k_t2e. */
	if (!leg->ch ||
	    sl_cchan_stage(leg->ch, a->hsid, 1, keys, keys + SEALINE_KEY_LEN) ||
	    sl_cchan_activate(leg->ch, 1)) {
		sl_wipe(keys, sizeof(keys));
		leg_fail(leg, SL_NAK_NONE, 0, false,
			 "the leg's courier channel cannot be set up");
		return;
	}
	sl_wipe(keys, sizeof(keys));
	leg->st.state = SL_SAFLEG_COURIER;
	if (leg->cfg.purpose != SL_CALL_PURPOSE_DEPOSIT || !xc.size)
		return;
	if (!xc.id) {
		gcry_create_nonce(&xc.id, sizeof(xc.id));
		xc.id |= 1;
	}
	/* Through T: padded to the bucket (store-and-forward.rst). */
	if (!xc.pad_to)
		xc.pad_to = sl_xfer_bucket(xc.size);
	ret = sl_xsend_new(&leg->xs, &xc, now);
	if (ret) {
		leg_fail(leg, SL_NAK_NONE, 0, false,
			 "the transfer cannot start: %s", strerror(-ret));
		return;
	}
	leg->st.xfer_started = true;
	xfer_pump(leg, now);
}

static void call_actions(struct sl_safleg *leg,
			 const struct sl_call_actions *out, uint64_t now)
{
	leg->call_timer = out->next_timer;
	for (unsigned int i = 0; i < out->n; ++i) {
		const struct sl_call_action *a = &out->a[i];

		if (leg->st.state == SL_SAFLEG_FAILED ||
		    leg->st.state == SL_SAFLEG_ENDED)
			return;
		switch (a->type) {
		case SL_CALL_ACT_SEND:
			leg->cfg.send(leg->cfg.ctx, a->msg, a->len);
			break;
		case SL_CALL_ACT_DEPOSIT:
			taken(leg, a, now);
			break;
		case SL_CALL_ACT_ENDED:
			leg->st.state = SL_SAFLEG_ENDED;
			sl_cchan_free(leg->ch);
			leg->ch = NULL;
			break;
		case SL_CALL_ACT_FAILED:
			leg_fail(leg, a->reason, a->detail, a->remote, "%s",
				 a->text ? a->text : a->reason ?
				 sl_nak_reason_name(a->reason) : "call setup failed");
			break;
		case SL_CALL_ACT_OFFER:
		case SL_CALL_ACT_DIALLING:
		case SL_CALL_ACT_CONNECTED:
			/* Not for purposes 3 and 4: the engine ends them. */
			leg_fail(leg, SL_NAK_NONE, 0, false,
				 "the TSP answered a deposit or collection as a call");
			break;
		default:
			break;
		}
	}
}

/* A NOTE: stored by the caller (once per leg), then acknowledged. */
static void note_in(struct sl_safleg *leg, const uint8_t *p, size_t n)
{
	uint8_t ack[SL_XFER_NOTE_ACK_LEN] = { SL_XFER_NOTE_ACK };
	uint32_t id;
	bool seen = false;

	if (n < SL_XFER_NOTE_HDR || p[5] < SL_XFER_NOTE_RECEIPT ||
	    p[5] > SL_XFER_NOTE_NOTICE) {
		leg->st.notes_refused++;
		return;
	}
	id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
	     (uint32_t)p[3] << 8 | p[4];
	for (unsigned int i = 0; i < leg->n_note_ids; ++i)
		seen |= leg->note_ids[i] == id;
	if (!seen) {
		if (leg->cfg.note(leg->cfg.ctx, p[5],
				  (const char *)p + SL_XFER_NOTE_HDR,
				  n - SL_XFER_NOTE_HDR)) {
			leg->st.notes_refused++;
			return;
		}
		if (leg->n_note_ids < SL_SAFLEG_NOTES_MAX)
			leg->note_ids[leg->n_note_ids++] = id;
		leg->st.notes++;
	}
	memcpy(ack + 1, p + 1, 4);
	courier_out(leg, ack, sizeof(ack));
}

static void courier_in(struct sl_safleg *leg, const uint8_t *msg, size_t len,
		       uint64_t now)
{
	uint8_t p[SL_CCHAN_MAX_MSG];
	size_t n;

	/* Before T took the leg nothing is sealed for us; a message that
	 * does not open (noise, a replay) is dropped, as on any channel. */
	if (!leg->ch || sl_cchan_open(leg->ch, p, &n, msg, len) || !n)
		return;
	if (p[0] == SL_XFER_NOTE)
		note_in(leg, p, n);
	else if (leg->xs && !leg->xs_done)
		sl_xsend_input(leg->xs, p, n, now);
	else if (leg->cfg.other)
		leg->cfg.other(leg->cfg.ctx, p, n);
	sl_wipe(p, n);
	xfer_pump(leg, now);
}

void sl_safleg_input(struct sl_safleg *leg, const uint8_t *msg, size_t len,
		     uint64_t now)
{
	struct sl_call_actions out;

	if (len < 2 || sl_safleg_over(leg))
		return;
	if (sl_cchan_is_courier(msg, len)) {
		courier_in(leg, msg, len, now);
		return;
	}
	if ((sl_call_msg_is_setup(msg[1]) || msg[1] == SL_MSG_NAK) &&
	    !sl_call_input(leg->call, msg, len, now, &out))
		call_actions(leg, &out, now);
}

void sl_safleg_timer(struct sl_safleg *leg, uint64_t now)
{
	struct sl_call_actions out;

	if (sl_safleg_over(leg))
		return;
	if (leg->call_timer && now >= leg->call_timer) {
		leg->call_timer = 0;
		if (!sl_call_timer(leg->call, now, &out))
			call_actions(leg, &out, now);
	}
	xfer_pump(leg, now);
}

uint64_t sl_safleg_next_timer(const struct sl_safleg *leg)
{
	uint64_t t = leg->call_timer, x;

	if (sl_safleg_over(leg))
		return 0;
	if (leg->xs && !leg->xs_done) {
		x = sl_xsend_next_timer(leg->xs);
		if (x && (!t || x < t))
			t = x;
	}
	return t;
}

bool sl_safleg_over(const struct sl_safleg *leg)
{
	return leg->st.state == SL_SAFLEG_ENDED ||
	       leg->st.state == SL_SAFLEG_FAILED;
}

void sl_safleg_get_status(const struct sl_safleg *leg,
			  struct sl_safleg_status *st)
{
	*st = leg->st;
	if (leg->xs)
		sl_xsend_get_status(leg->xs, &st->xfer);
}

int sl_safleg_new(struct sl_safleg **out, const struct sl_safleg_cfg *cfg,
		  uint64_t now)
{
	struct sl_call_config cc = {
		.static_priv = cfg->static_priv, .tsp_pub = cfg->tsp_pub,
		.baud = cfg->baud,
	};
	struct sl_call_actions acts;
	struct sl_safleg *leg;
	int err = 0;

	*out = NULL;
	if (!cfg->send || !cfg->note ||
	    (cfg->purpose != SL_CALL_PURPOSE_DEPOSIT &&
	     cfg->purpose != SL_CALL_PURPOSE_COLLECT))
		return -EINVAL;
	leg = calloc(1, sizeof(*leg));
	if (!leg)
		return -ENOMEM;
	leg->cfg = *cfg;
	if (cfg->xfer.size) {
		if (!cfg->xfer.header) {
			free(leg);
			return -EINVAL;
		}
		memcpy(leg->header, cfg->xfer.header, sizeof(leg->header));
		leg->cfg.xfer.header = leg->header;
	}
	leg->st.state = SL_SAFLEG_SETUP;
	memcpy(cc.account, cfg->account, SL_ACCOUNT_LEN);
	leg->call = sl_call_new(&cc, &err);
	if (!leg->call) {
		free(leg);
		return err ? err : -ENOMEM;
	}
	err = sl_call_start(leg->call, cfg->purpose,
			    cfg->purpose == SL_CALL_PURPOSE_DEPOSIT ?
			    leg->cfg.recipient : NULL, now, &acts);
	if (err) {
		sl_safleg_free(leg);
		return err;
	}
	*out = leg;
	call_actions(leg, &acts, now);
	return 0;
}

void sl_safleg_free(struct sl_safleg *leg)
{
	if (!leg)
		return;
	sl_call_free(leg->call);
	sl_cchan_free(leg->ch);
	sl_xsend_free(leg->xs);
	free(leg);
}
