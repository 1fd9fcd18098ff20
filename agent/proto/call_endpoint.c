// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Call setup through a TSP, the endpoint's side (call.h, struct sl_call):
 * E, the Noise_XK initiator of a leg, as a caller or as an answerer.
 * What both sides share, and the choices where handshake.rst leaves one,
 * are in call.c.
 */
#include <errno.h>
#include <string.h>

#include "call_internal.h"

enum call_state {
	C_IDLE = 0,
	C_WAIT_REPLY,
	C_WAIT_STATUS,		/* caller: CALL_AUTH sent */
	C_DIALLING,
	C_WAIT_OFFER,		/* answerer: CALL_AUTH sent */
	C_DECIDE,		/* answerer: the daemon decides */
	C_WAIT_CONNECTED,	/* answerer: CALL_ACCEPT sent */
	C_CONNECTED,
	C_ENDED,
};

static const char *const call_state_names[] = {
	[C_IDLE] = "idle",
	[C_WAIT_REPLY] = "WAIT_REPLY",
	[C_WAIT_STATUS] = "WAIT_STATUS",
	[C_DIALLING] = "DIALLING",
	[C_WAIT_OFFER] = "WAIT_OFFER",
	[C_DECIDE] = "DECIDE",
	[C_WAIT_CONNECTED] = "WAIT_CONNECTED",
	[C_CONNECTED] = "CONNECTED",
	[C_ENDED] = "ended",
};

struct sl_call {
	char account[SL_ACCOUNT_LEN + 1];
	uint8_t tsp_pub[SL_HS_KEY_LEN];
	uint8_t ver_min, ver_max, ver_write;
	bool ver_retried;
	unsigned int baud;
	sl_call_random_fn test_random;
	void *test_ctx;

	enum call_state st;
	enum sl_call_purpose purpose;
	char recipient[SL_ACCOUNT_LEN + 1];	/* caller */
	char caller[SL_ACCOUNT_LEN + 1];	/* answerer, from the offer */
	uint32_t hsid;
	uint8_t ver;
	uint64_t deadline;

	/* Retransmission of out. */
	uint8_t out[SL_CALL_MAX_MSG];
	size_t out_len;
	uint64_t tx_at;
	uint32_t rto0, rto;
	unsigned int sends;
	bool unlimited;			/* while T dials */

	/* The last sealed message accepted from T, and its seq. */
	uint8_t in[SL_CALL_OFFER_LEN];
	size_t in_len;
	int last_seq;			/* -1: none yet */

	uint64_t tracking_id;
	bool have_tracking;
	uint8_t offer_flags;		/* answerer: SL_CALL_OFFER_HELD */
	unsigned int auth_failures;
	struct nak_limit nak;

	struct hs_block *hs;		/* until CALL_AUTH is written */
	struct key_block *keys;		/* from then on */
};

int sl_call_courier_keys(const struct sl_call *c,
			 uint8_t out[SL_CALL_COURIER_KEYS_LEN])
{
	if (!c || c->st != C_CONNECTED || !c->keys || !c->keys->has_courier)
		return -EINVAL;
	memcpy(out, c->keys->courier, SL_CALL_COURIER_KEYS_LEN);
	return 0;
}

const char *sl_call_state(const struct sl_call *c)
{
	return c ? call_state_names[c->st] : "none";
}

struct sl_call *sl_call_new(const struct sl_call_config *cfg, int *err)
{
	struct sl_call *c;
	uint8_t lo, hi;
	int e = -EINVAL;

	if (!cfg || !cfg->static_priv || !cfg->tsp_pub ||
	    !sl_is_account(cfg->account))
		goto fail;
	lo = cfg->ver_min;
	hi = cfg->ver_max;
	if (call_check_versions(&lo, &hi))
		goto fail;
	e = -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->hs = call_hs_alloc(cfg->static_priv);
	if (!c->hs)
		goto free_call;
	sl_copy_account(c->account, cfg->account);
	memcpy(c->tsp_pub, cfg->tsp_pub, SL_HS_KEY_LEN);
	c->ver_min = lo;
	c->ver_max = hi;
	c->ver_write = hi;
	c->baud = cfg->baud;
	c->test_random = cfg->test_random;
	c->test_ctx = cfg->test_ctx;
	c->last_seq = -1;
	if (err)
		*err = 0;
	return c;

free_call:
	free(c);
fail:
	if (err)
		*err = e;
	return NULL;
}

/* Everything secret goes; what is left is the log's. */
static void call_wipe(struct sl_call *c)
{
	call_hs_release(&c->hs);
	call_keys_release(&c->keys);
	sl_wipe(c->out, sizeof(c->out));
	sl_wipe(c->in, sizeof(c->in));
	c->out_len = c->in_len = 0;
	c->tx_at = 0;
	c->deadline = 0;
}

void sl_call_free(struct sl_call *c)
{
	if (!c)
		return;
	call_wipe(c);
	sl_wipe(c, sizeof(*c));
	free(c);
}

static int call_finish(struct sl_call *c, struct sl_call_actions *out)
{
	if (c->st != C_IDLE && c->st != C_ENDED && c->st != C_CONNECTED)
		out->next_timer = sl_min_timer(c->deadline, c->tx_at);
	return 0;
}

static void arm_tx(struct sl_call *c, uint64_t now, size_t reply_len)
{
	c->rto0 = call_rto0(c->baud, c->out_len, reply_len);
	c->rto = c->rto0;
	c->sends = 1;
	c->unlimited = false;
	c->tx_at = now + c->rto;
}

static void call_failed(struct sl_call *c, struct sl_call_actions *out,
			uint8_t reason, uint8_t detail, bool remote,
			const char *text)
{
	call_act_failed(out, c->hsid, c->purpose, c->tracking_id,
			c->auth_failures, reason, detail, remote, text);
	c->st = C_ENDED;
	call_wipe(c);
}

/* Our NAK ends the setup. */
static void call_fail_nak(struct sl_call *c, struct sl_call_actions *out,
			  uint64_t now, uint8_t reason, uint8_t detail,
			  uint8_t ref_type, const char *text)
{
	uint8_t nak[SL_HS_NAK_LEN];

	call_build_nak(nak, c->ver, c->hsid, reason, detail, c->ver_min,
		       c->ver_max, ref_type);
	call_emit_nak(out, &c->nak, now, nak, true);
	call_failed(c, out, reason, detail, false, text);
}

/* CALL_HELLO, new hsid and ephemeral, written in ver_write. */
static int send_hello(struct sl_call *c, uint64_t now,
		      struct sl_call_actions *out)
{
	uint8_t prologue[PROLOGUE_LEN + 8], b[4];
	struct sl_noise_keys k = { .s = c->hs->s, .rs = c->tsp_pub };
	size_t n;
	int err;

	do {
		err = sl_hs_random(c->test_random, c->test_ctx, b, sizeof(b));
		if (err)
			return err;
		c->hsid = sl_get32(b);
	} while (!c->hsid);
	if (c->test_random) {
		err = sl_hs_random(c->test_random, c->test_ctx, c->hs->e,
				 SL_HS_KEY_LEN);
		if (err)
			return err;
		k.e = c->hs->e;
	}
	c->ver = c->ver_write;
	sl_hs_envelope(c->out, c->ver, SL_MSG_CALL_HELLO, c->hsid);
	c->out[6] = c->ver_min;
	c->out[7] = c->ver_max;
	memcpy(prologue, PROLOGUE, PROLOGUE_LEN);
	memcpy(prologue + PROLOGUE_LEN, c->out, 8);
	sl_wipe(&c->hs->noise, sizeof(c->hs->noise));
	err = sl_noise_hs_init(&c->hs->noise, SL_NOISE_XK, true, prologue,
			       sizeof(prologue), &k);
	sl_wipe(c->hs->e, sizeof(c->hs->e));	/* the Noise state has it */
	if (!err)
		err = sl_noise_write(&c->hs->noise, NULL, 0, c->out + 8,
				     sizeof(c->out) - 8, &n);
	if (err)
		return err;
	c->out_len = 8 + n;
	c->st = C_WAIT_REPLY;
	c->deadline = now + SL_CALL_DEADLINE_MS;
	arm_tx(c, now, SL_CALL_REPLY_LEN);
	call_act_send(out, c->out, c->out_len);
	return 0;
}

int sl_call_start(struct sl_call *c, enum sl_call_purpose purpose,
		  const char *recipient, uint64_t now,
		  struct sl_call_actions *out)
{
	int err;

	if (!c || !out)
		return -EINVAL;
	call_begin(out);
	if (c->st != C_IDLE)
		return -EBUSY;
	if (!call_auth_payload_len((uint8_t)purpose))
		return -EINVAL;
	if (call_purpose_names_peer((uint8_t)purpose)) {
		if (!call_is_account_str(recipient) ||
		    !memcmp(recipient, c->account, SL_ACCOUNT_LEN))
			return -EINVAL;
		sl_copy_account(c->recipient, recipient);
	} else if (recipient) {
		return -EINVAL;
	}
	if (!c->hs)
		return -EINVAL;
	c->purpose = purpose;
	err = send_hello(c, now, out);
	if (err) {
		out->n = 0;
		call_failed(c, out, SL_NAK_INTERNAL, 0, false,
			    "cannot write CALL_HELLO");
	}
	call_finish(c, out);
	return err;
}

static int on_nak(struct sl_call *c, const uint8_t *m, size_t len,
		  uint64_t now, struct sl_call_actions *out)
{
	uint8_t v;
	int err;

	if (len < SL_HS_NAK_LEN)
		return call_drop(out, "NAK too short");
	if (sl_get32(m + 2) != c->hsid)
		return call_drop(out, "NAK for another hsid");
	if (c->st == C_CONNECTED)
		return call_drop(out, "NAK after CONNECTED is end to end");

	/* VERSION to our CALL_HELLO: once, in the common version. */
	if (m[6] == SL_NAK_VERSION && c->st == C_WAIT_REPLY) {
		v = sl_hs_common_version(c->ver_min, c->ver_max, m[8], m[9]);
		if (v && v != c->ver && !c->ver_retried) {
			call_log_nak_in(out, m, false);
			c->ver_retried = true;
			c->ver_write = v;
			err = send_hello(c, now, out);
			if (err)
				call_failed(c, out, SL_NAK_INTERNAL, 0, false,
					    "cannot write CALL_HELLO");
			return 0;
		}
	}
	call_log_nak_in(out, m, true);
	call_failed(c, out, m[6], m[7], true, "the TSP refused the call");
	return 0;
}

static int on_reply(struct sl_call *c, const uint8_t *m, size_t len,
		    uint64_t now, struct sl_call_actions *out)
{
	uint8_t payload[AUTH_PAYLOAD_CALL];
	size_t plen, n;
	int err;

	if (c->st != C_WAIT_REPLY)
		return call_drop(out, "CALL_REPLY not expected now");
	if (len != SL_CALL_REPLY_LEN)
		return call_drop(out, "CALL_REPLY of a wrong length");
	if (sl_noise_read(&c->hs->noise, m + 6, len - 6, NULL, 0, &plen)) {
		c->auth_failures++;
		return call_drop(out, "CALL_REPLY does not authenticate");
	}
	c->keys = sl_secure_alloc(sizeof(*c->keys));
	if (!c->keys) {
		err = -ENOMEM;
		goto internal;
	}
	payload[0] = (uint8_t)c->purpose;
	memcpy(payload + 1, c->account, SL_ACCOUNT_LEN);
	plen = call_auth_payload_len((uint8_t)c->purpose);
	if (call_purpose_names_peer((uint8_t)c->purpose))
		memcpy(payload + 13, c->recipient, SL_ACCOUNT_LEN);
	sl_hs_envelope(c->out, c->ver, SL_MSG_CALL_AUTH, c->hsid);
	err = sl_noise_write(&c->hs->noise, payload, plen, c->out + 6,
			     sizeof(c->out) - 6, &n);
	sl_wipe(payload, sizeof(payload));
	if (!err)
		err = sl_noise_split(&c->hs->noise, &c->keys->e2t,
				     &c->keys->t2e);
	if (!err && c->purpose != SL_CALL_PURPOSE_CALL)
		err = call_courier_derive(&c->hs->noise, c->keys);
	if (err)
		goto internal;
	call_hs_release(&c->hs);	/* static key, ephemeral, ck: done */
	c->out_len = 6 + n;
	c->st = c->purpose == SL_CALL_PURPOSE_ANSWER ? C_WAIT_OFFER :
						       C_WAIT_STATUS;
	arm_tx(c, now, c->purpose == SL_CALL_PURPOSE_ANSWER ?
		       SL_CALL_OFFER_LEN : SL_CALL_STATUS_LEN);
	call_act_send(out, c->out, c->out_len);
	return 0;

internal:
	call_fail_nak(c, out, now, SL_NAK_INTERNAL, 0, 0,
		      err == -ENOMEM ? "secure memory exhausted" :
				       "cannot write CALL_AUTH");
	return 0;
}

static void call_connected(struct sl_call *c, struct sl_call_actions *out)
{
	struct sl_call_action *a = call_push(out, SL_CALL_ACT_CONNECTED);

	a->tracking_id = c->tracking_id;
	a->purpose = c->purpose;
	a->hsid = c->hsid;
	a->flags = c->offer_flags;
	memcpy(a->account, c->purpose == SL_CALL_PURPOSE_CALL ?
			   c->recipient : c->caller, SL_ACCOUNT_LEN + 1);
	c->st = C_CONNECTED;
	c->tx_at = 0;
	c->deadline = 0;
	/* Only "ended" may still come: keep c_t2e, nothing else (and the
	 * courier keys of a held delivery). */
	sl_wipe(&c->keys->e2t, sizeof(c->keys->e2t));
	if (!(c->offer_flags & SL_CALL_OFFER_HELD)) {
		sl_wipe(c->keys->courier, sizeof(c->keys->courier));
		c->keys->has_courier = false;
	}
	sl_wipe(c->out, sizeof(c->out));
	c->out_len = 0;
}

static int on_status(struct sl_call *c, const uint8_t *pl, uint64_t now,
		     struct sl_call_actions *out)
{
	struct sl_call_action *a;
	uint64_t tid = call_get64(pl + 1);

	switch (pl[0]) {
	case SL_CALL_STATUS_ENDED:
		a = call_push(out, SL_CALL_ACT_ENDED);
		a->tracking_id = tid;
		a->purpose = c->purpose;
		a->hsid = c->hsid;
		c->st = C_ENDED;
		call_wipe(c);
		return 0;
	case SL_CALL_STATUS_DEPOSIT:
		if (c->st != C_WAIT_STATUS ||
		    (c->purpose != SL_CALL_PURPOSE_DEPOSIT &&
		     c->purpose != SL_CALL_PURPOSE_COLLECT))
			break;
		c->tracking_id = tid;
		c->have_tracking = true;
		a = call_push(out, SL_CALL_ACT_DEPOSIT);
		a->tracking_id = tid;
		a->purpose = c->purpose;
		a->hsid = c->hsid;
		sl_copy_account(a->account, c->recipient);
		c->st = C_CONNECTED;
		c->tx_at = 0;
		c->deadline = 0;
		/* Only "ended" may still come on the call's keys. */
		sl_wipe(&c->keys->e2t, sizeof(c->keys->e2t));
		sl_wipe(c->out, sizeof(c->out));
		c->out_len = 0;
		return 0;
	case SL_CALL_STATUS_DIALLING:
		if (c->st != C_WAIT_STATUS || c->purpose != SL_CALL_PURPOSE_CALL)
			break;
		c->tracking_id = tid;
		c->have_tracking = true;
		a = call_push(out, SL_CALL_ACT_DIALLING);
		a->tracking_id = tid;
		a->hsid = c->hsid;
		sl_copy_account(a->account, c->recipient);
		c->st = C_DIALLING;
		c->deadline = now + SL_CALL_DIALLING_MS;
		/* T answers a CALL_AUTH copy with its last status, so a
		 * lost "connected" is recovered. */
		c->unlimited = true;
		c->tx_at = now + SL_CALL_DIAL_RESEND_MS;
		return 0;
	case SL_CALL_STATUS_CONNECTED:
		if ((c->st != C_WAIT_STATUS && c->st != C_DIALLING &&
		     c->st != C_WAIT_CONNECTED) ||
		    c->purpose == SL_CALL_PURPOSE_DEPOSIT ||
		    c->purpose == SL_CALL_PURPOSE_COLLECT)
			break;
		if (c->have_tracking && tid != c->tracking_id)
			break;
		c->tracking_id = tid;
		c->have_tracking = true;
		call_connected(c, out);
		return 0;
	}
	call_fail_nak(c, out, now, SL_NAK_BAD_MESSAGE, 0, SL_MSG_CALL_STATUS,
		      "CALL_STATUS with an invalid status or tracking id");
	return 0;
}

static int on_offer(struct sl_call *c, const uint8_t *pl, uint64_t now,
		    struct sl_call_actions *out)
{
	struct sl_call_action *a;

	if (!sl_is_account(pl) ||
	    (pl[SL_ACCOUNT_LEN + 8] & ~SL_CALL_OFFER_HELD)) {
		call_fail_nak(c, out, now, SL_NAK_BAD_MESSAGE, 0,
			      SL_MSG_CALL_OFFER,
			      "CALL_OFFER: the caller's account is not 12 "
			      "digits, or unknown flags");
		return 0;
	}
	c->offer_flags = pl[SL_ACCOUNT_LEN + 8];
	sl_copy_account(c->caller, pl);
	c->tracking_id = call_get64(pl + SL_ACCOUNT_LEN);
	c->have_tracking = true;
	a = call_push(out, SL_CALL_ACT_OFFER);
	a->tracking_id = c->tracking_id;
	a->hsid = c->hsid;
	a->flags = c->offer_flags;
	sl_copy_account(a->account, c->caller);
	c->st = C_DECIDE;
	c->tx_at = 0;		/* nothing to resend while the daemon decides */
	return 0;
}

static int on_sealed(struct sl_call *c, const uint8_t *m, size_t len,
		     uint64_t now, struct sl_call_actions *out)
{
	uint8_t pl[OFFER_PAYLOAD];
	uint8_t type = m[1];
	size_t want = type == SL_MSG_CALL_STATUS ? SL_CALL_STATUS_LEN :
						   SL_CALL_OFFER_LEN;
	int err;

	if (!c->keys)
		return call_drop(out, "sealed message before CALL_AUTH");
	if (type == SL_MSG_CALL_OFFER && c->st != C_WAIT_OFFER)
		return call_drop(out, "CALL_OFFER not expected now");
	if (len != want)
		return call_drop(out, "sealed message of a wrong length");
	if (c->in_len == len && !memcmp(c->in, m, len))
		return call_drop(out, "duplicate of the last message");
	if (c->last_seq >= 0 && m[6] <= c->last_seq)
		return call_drop(out, "seq not above the last accepted");
	err = sl_hs_open(m, len, c->keys->t2e.k, pl);
	if (err) {
		c->auth_failures++;
		return call_drop(out, "sealed message does not authenticate");
	}
	memcpy(c->in, m, len);
	c->in_len = len;
	c->last_seq = m[6];
	if (c->st == C_CONNECTED && pl[0] != SL_CALL_STATUS_ENDED) {
		sl_wipe(pl, sizeof(pl));
		return call_drop(out,
				 "after CONNECTED only \"ended\" is expected");
	}
	if (type == SL_MSG_CALL_STATUS)
		err = on_status(c, pl, now, out);
	else
		err = on_offer(c, pl, now, out);
	sl_wipe(pl, sizeof(pl));
	return err;
}

int sl_call_input(struct sl_call *c, const uint8_t *m, size_t len,
		  uint64_t now, struct sl_call_actions *out)
{
	if (!c || !out)
		return -EINVAL;
	call_begin(out);
	if (!m || len < SL_HS_ENVELOPE_LEN)
		call_drop(out, "shorter than an envelope");
	else if (!sl_hs_msg_len(m[1]))
		call_drop(out, "reserved type");
	else if (c->st == C_IDLE || c->st == C_ENDED)
		call_drop(out, "no call setup in progress");
	else if (m[1] == SL_MSG_NAK)
		on_nak(c, m, len, now, out);
	else if (m[1] != SL_MSG_CALL_REPLY && m[1] != SL_MSG_CALL_STATUS &&
		 m[1] != SL_MSG_CALL_OFFER)
		call_drop(out, "not a message for a call endpoint");
	else if (sl_get32(m + 2) != c->hsid)
		call_drop(out, "another hsid");
	else if (m[0] != c->ver)
		call_drop(out, "not the negotiated version");
	else if (m[1] == SL_MSG_CALL_REPLY)
		on_reply(c, m, len, now, out);
	else
		on_sealed(c, m, len, now, out);
	return call_finish(c, out);
}

static uint8_t call_awaited(const struct sl_call *c)
{
	switch (c->st) {
	case C_WAIT_REPLY:
		return SL_MSG_CALL_REPLY;
	case C_WAIT_OFFER:
		return SL_MSG_CALL_OFFER;
	case C_DECIDE:
		return 0;
	default:
		return SL_MSG_CALL_STATUS;
	}
}

int sl_call_timer(struct sl_call *c, uint64_t now,
		  struct sl_call_actions *out)
{
	if (!c || !out)
		return -EINVAL;
	call_begin(out);
	if (c->st == C_IDLE || c->st == C_ENDED || c->st == C_CONNECTED)
		return call_finish(c, out);
	if (c->deadline && now >= c->deadline) {
		call_fail_nak(c, out, now, SL_NAK_TIMEOUT, 0, call_awaited(c),
			      c->st == C_DIALLING ?
			      "the recipient's leg did not connect in time" :
			      "deadline: no answer from T in time");
	} else if (c->tx_at && now >= c->tx_at) {
		call_act_send(out, c->out, c->out_len);
		c->sends++;
		if (c->unlimited) {
			c->tx_at = now + SL_CALL_DIAL_RESEND_MS;
		} else {
			c->rto = c->rto >= SL_HS_RTO_MAX_MS / 2 ?
				 SL_HS_RTO_MAX_MS : c->rto * 2;
			c->tx_at = c->sends >= SL_HS_MAX_SENDS ? 0 :
				   now + c->rto;
		}
	}
	return call_finish(c, out);
}

int sl_call_offer_reply(struct sl_call *c, bool accept, uint8_t reason,
			uint8_t detail, uint64_t now,
			struct sl_call_actions *out)
{
	int err;

	if (!c || !out)
		return -EINVAL;
	call_begin(out);
	if (c->st != C_DECIDE ||
	    (!accept && (!reason || reason > SL_NAK_IDENTITY_MISMATCH)))
		return -EINVAL;
	if (!accept) {
		call_fail_nak(c, out, now, reason, detail, SL_MSG_CALL_OFFER,
			      "we refused the offered call");
		return call_finish(c, out);
	}
	err = sl_hs_seal(c->out, c->ver, SL_MSG_CALL_ACCEPT, c->hsid, 0,
		   c->keys->e2t.k, NULL, 0);
	if (err) {
		call_fail_nak(c, out, now, SL_NAK_INTERNAL, 0, 0,
			      "cannot seal CALL_ACCEPT");
		return call_finish(c, out);
	}
	c->out_len = SL_CALL_ACCEPT_LEN;
	c->st = C_WAIT_CONNECTED;
	arm_tx(c, now, SL_CALL_STATUS_LEN);
	call_act_send(out, c->out, c->out_len);
	return call_finish(c, out);
}

int sl_call_abort(struct sl_call *c, uint64_t now,
		  struct sl_call_actions *out)
{
	(void)now;
	if (!c || !out)
		return -EINVAL;
	call_begin(out);
	if (c->st != C_ENDED && c->st != C_IDLE && c->st != C_CONNECTED)
		call_failed(c, out, SL_NAK_NONE, 0, false,
			    "call setup aborted (line down or cancelled)");
	c->st = C_ENDED;
	call_wipe(c);
	return 0;
}
