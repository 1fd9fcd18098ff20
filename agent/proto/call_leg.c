// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Call setup through a TSP, the TSP's side (call.h, struct sl_tsp_leg):
 * T, the Noise_XK responder on one leg, whose decisions the TSP daemon
 * makes. What both sides share, and the choices where handshake.rst
 * leaves one, are in call.c.
 */
#include <errno.h>
#include <string.h>

#include "call_internal.h"

enum leg_state {
	T_WAIT_HELLO = 0,
	T_WAIT_AUTH,
	T_DECIDE,
	T_DIALLING,
	T_WAIT_ACCEPT,
	T_ACCEPTED,
	T_CONNECTED,
	T_ENDED,
};

static const char *const leg_state_names[] = {
	[T_WAIT_HELLO] = "WAIT_HELLO",
	[T_WAIT_AUTH] = "WAIT_AUTH",
	[T_DECIDE] = "DECIDE",
	[T_DIALLING] = "DIALLING",
	[T_WAIT_ACCEPT] = "WAIT_ACCEPT",
	[T_ACCEPTED] = "ACCEPTED",
	[T_CONNECTED] = "CONNECTED",
	[T_ENDED] = "ended",
};

struct sl_tsp_leg {
	uint8_t ver_min, ver_max;
	unsigned int baud;
	sl_call_random_fn test_random;
	void *test_ctx;

	enum leg_state st;
	uint32_t hsid;
	uint8_t ver;
	enum sl_call_purpose purpose;
	uint8_t offer_flags;
	uint64_t deadline;

	uint8_t hello[SL_CALL_HELLO_LEN];	/* the one answered */
	uint8_t reply[SL_CALL_REPLY_LEN];
	uint8_t auth[SL_CALL_MAX_MSG];		/* the authentic one */
	size_t auth_len;
	uint8_t accept[SL_CALL_ACCEPT_LEN];
	bool have_accept;
	/* The last message sent after CALL_AUTH (status, offer, NAK): the
	 * answer to copies of CALL_AUTH and CALL_ACCEPT. */
	uint8_t last[SL_CALL_OFFER_LEN];
	size_t last_len;
	uint64_t replied_at;
	uint8_t t2e_seq;			/* next */
	uint64_t tracking_id;

	/* The last refused CALL_HELLO and its NAK. */
	uint8_t refused[SL_CALL_HELLO_LEN];
	size_t refused_len;
	uint8_t refused_nak[SL_HS_NAK_LEN];

	unsigned int auth_failures;
	struct nak_limit nak;

	struct hs_block *hs;		/* until CALL_AUTH is read */
	struct key_block *keys;		/* from then on */
};

const char *sl_tsp_leg_state(const struct sl_tsp_leg *leg)
{
	return leg ? leg_state_names[leg->st] : "none";
}

struct sl_tsp_leg *sl_tsp_leg_new(const struct sl_tsp_config *cfg, int *err)
{
	struct sl_tsp_leg *leg;
	uint8_t lo, hi;
	int e = -EINVAL;

	if (!cfg || !cfg->static_priv)
		goto fail;
	lo = cfg->ver_min;
	hi = cfg->ver_max;
	if (call_check_versions(&lo, &hi))
		goto fail;
	e = -ENOMEM;
	leg = calloc(1, sizeof(*leg));
	if (!leg)
		goto fail;
	leg->hs = call_hs_alloc(cfg->static_priv);
	if (!leg->hs)
		goto free_leg;
	leg->ver_min = lo;
	leg->ver_max = hi;
	leg->baud = cfg->baud;
	leg->test_random = cfg->test_random;
	leg->test_ctx = cfg->test_ctx;
	if (err)
		*err = 0;
	return leg;

free_leg:
	free(leg);
fail:
	if (err)
		*err = e;
	return NULL;
}

static void leg_wipe(struct sl_tsp_leg *leg)
{
	call_hs_release(&leg->hs);
	call_keys_release(&leg->keys);
	leg->deadline = 0;
}

void sl_tsp_leg_free(struct sl_tsp_leg *leg)
{
	if (!leg)
		return;
	leg_wipe(leg);
	sl_wipe(leg, sizeof(*leg));
	free(leg);
}

static int leg_finish(struct sl_tsp_leg *leg, struct sl_call_actions *out)
{
	if (leg->st != T_ENDED)
		out->next_timer = leg->deadline;
	return 0;
}

static void leg_failed(struct sl_tsp_leg *leg, struct sl_call_actions *out,
		       uint8_t reason, uint8_t detail, bool remote,
		       const char *text)
{
	call_act_failed(out, leg->hsid, leg->purpose, leg->tracking_id,
			leg->auth_failures, reason, detail, remote, text);
	leg->st = T_ENDED;
	leg_wipe(leg);
}

/* Our NAK ends the leg; a copy of the refused message gets it again. */
static void leg_nak(struct sl_tsp_leg *leg, struct sl_call_actions *out,
		    uint64_t now, uint8_t reason, uint8_t detail,
		    uint8_t ref_type)
{
	call_build_nak(leg->last, leg->ver, leg->hsid, reason, detail,
		       leg->ver_min, leg->ver_max, ref_type);
	leg->last_len = SL_HS_NAK_LEN;
	call_emit_nak(out, &leg->nak, now, leg->last, true);
	leg->st = T_ENDED;
	leg_wipe(leg);
}

/* A first message refused: it starts nothing. */
static void refuse_hello(struct sl_tsp_leg *leg, struct sl_call_actions *out,
			 uint64_t now, const uint8_t *m, size_t len,
			 uint8_t reason)
{
	uint8_t ver = len >= 8 ? sl_hs_common_version(leg->ver_min, leg->ver_max,
						m[6], m[7]) : 0;

	call_build_nak(leg->refused_nak, ver ? ver : leg->ver_max,
		       sl_get32(m + 2), reason, 0, leg->ver_min, leg->ver_max,
		       SL_MSG_CALL_HELLO);
	call_emit_nak(out, &leg->nak, now, leg->refused_nak, false);
	leg->refused_len = len <= sizeof(leg->refused) ? len : 0;
	memcpy(leg->refused, m, leg->refused_len);
}

/* An exact copy of what we answered: the same bytes again, rate-limited. */
static int answer_copy(struct sl_tsp_leg *leg, struct sl_call_actions *out,
		       uint64_t now, const uint8_t *reply, size_t len,
		       uint32_t rto)
{
	if (!len)
		return call_drop(out, "copy of a message not answered yet");
	if (reply[1] == SL_MSG_NAK) {
		if (leg->nak.sent &&
		    now - leg->nak.last < SL_HS_NAK_INTERVAL_MS)
			return call_drop(out, "copy: NAK rate limit");
		leg->nak.last = now;
		leg->nak.sent = true;
	} else if (leg->replied_at && now - leg->replied_at < rto / 2) {
		return call_drop(out, "copy too soon after the last answer");
	}
	call_act_send(out, reply, len);
	leg->replied_at = now;
	return 0;
}

static int on_hello(struct sl_tsp_leg *leg, const uint8_t *m, size_t len,
		    uint64_t now, struct sl_call_actions *out)
{
	uint8_t prologue[PROLOGUE_LEN + 8], v;
	struct hs_block *b;
	struct sl_noise_keys k = { 0 };
	size_t plen, n;
	int err;

	if (leg->refused_len == len && !memcmp(leg->refused, m, len)) {
		answer_copy(leg, out, now, leg->refused_nak, SL_HS_NAK_LEN,
			    0);
		return 0;
	}
	if (leg->st != T_WAIT_HELLO && sl_get32(m + 2) == leg->hsid) {
		if (len == SL_CALL_HELLO_LEN && !memcmp(leg->hello, m, len)) {
			if (leg->st != T_WAIT_AUTH)
				return call_drop(out, "copy of CALL_HELLO "
						 "after CALL_AUTH");
			return answer_copy(leg, out, now, leg->reply,
					   SL_CALL_REPLY_LEN,
					   call_rto0(leg->baud, len,
						     SL_CALL_REPLY_LEN));
		}
		return call_drop(out, "CALL_HELLO replayed with this hsid");
	}
	if (leg->st != T_WAIT_HELLO && leg->st != T_WAIT_AUTH)
		return call_drop(out,
				 "CALL_HELLO on a leg already authenticated");
	if (len < 8) {
		refuse_hello(leg, out, now, m, len, SL_NAK_BAD_MESSAGE);
		return 0;
	}
	v = sl_hs_common_version(leg->ver_min, leg->ver_max, m[6], m[7]);
	if (!v || m[0] != v) {
		refuse_hello(leg, out, now, m, len, SL_NAK_VERSION);
		return 0;
	}
	if (len != SL_CALL_HELLO_LEN || !sl_get32(m + 2)) {
		refuse_hello(leg, out, now, m, len, SL_NAK_BAD_MESSAGE);
		return 0;
	}

	/* A fresh handshake; the current one stays until this opens. */
	b = call_hs_alloc(leg->hs->s);
	if (!b)
		return call_drop(out, "secure memory exhausted");
	k.s = b->s;
	if (leg->test_random) {
		if (sl_hs_random(leg->test_random, leg->test_ctx, b->e,
			       SL_HS_KEY_LEN))
			goto release;
		k.e = b->e;
	}
	memcpy(prologue, PROLOGUE, PROLOGUE_LEN);
	memcpy(prologue + PROLOGUE_LEN, m, 8);
	err = sl_noise_hs_init(&b->noise, SL_NOISE_XK, false, prologue,
			       sizeof(prologue), &k);
	sl_wipe(b->e, sizeof(b->e));
	if (err)
		goto release;
	if (sl_noise_read(&b->noise, m + 8, len - 8, NULL, 0, &plen)) {
		leg->auth_failures++;
		call_hs_release(&b);
		return call_drop(out, "CALL_HELLO does not authenticate");
	}
	sl_hs_envelope(leg->reply, v, SL_MSG_CALL_REPLY, sl_get32(m + 2));
	if (sl_noise_write(&b->noise, NULL, 0, leg->reply + 6,
			   sizeof(leg->reply) - 6, &n) ||
	    n != SL_CALL_REPLY_LEN - 6)
		goto release;
	call_hs_release(&leg->hs);
	leg->hs = b;
	leg->hsid = sl_get32(m + 2);
	leg->ver = v;
	memcpy(leg->hello, m, len);
	leg->st = T_WAIT_AUTH;
	leg->deadline = now + SL_CALL_DEADLINE_MS;
	leg->replied_at = now;
	call_act_send(out, leg->reply, SL_CALL_REPLY_LEN);
	return 0;

release:
	call_hs_release(&b);
	return call_drop(out, "cannot answer CALL_HELLO (internal)");
}

static int on_auth(struct sl_tsp_leg *leg, const uint8_t *m, size_t len,
		   uint64_t now, struct sl_call_actions *out)
{
	uint8_t pl[AUTH_PAYLOAD_CALL];
	struct sl_call_action *a;
	uint8_t purpose;
	size_t plen;

	if (leg->auth_len) {
		if (len == leg->auth_len && !memcmp(leg->auth, m, len))
			return answer_copy(leg, out, now, leg->last,
					   leg->last_len,
					   call_rto0(leg->baud, len,
						     SL_CALL_OFFER_LEN));
		return call_drop(out,
				 "another CALL_AUTH after the authentic one");
	}
	if (leg->st != T_WAIT_AUTH)
		return call_drop(out, "CALL_AUTH not expected now");
	if (len != SL_CALL_AUTH_CALL_LEN && len != SL_CALL_AUTH_ANSWER_LEN)
		return call_drop(out, "CALL_AUTH of a wrong length");
	if (sl_noise_read(&leg->hs->noise, m + 6, len - 6, pl, sizeof(pl),
			  &plen)) {
		leg->auth_failures++;
		return call_drop(out, "CALL_AUTH does not authenticate");
	}
	/* Authentic: from here on the leg belongs to this call. */
	memcpy(leg->auth, m, len);
	leg->auth_len = len;
	purpose = pl[0];
	if (!call_auth_payload_len(purpose) ||
	    plen != call_auth_payload_len(purpose) ||
	    !sl_is_account(pl + 1) ||
	    (call_purpose_names_peer(purpose) && !sl_is_account(pl + 13))) {
		sl_wipe(pl, sizeof(pl));
		leg_nak(leg, out, now, SL_NAK_BAD_MESSAGE, 0,
			SL_MSG_CALL_AUTH);
		leg_failed(leg, out, SL_NAK_BAD_MESSAGE, 0, false,
			   "CALL_AUTH: bad purpose or account digits");
		return 0;
	}
	leg->keys = sl_secure_alloc(sizeof(*leg->keys));
	if (!leg->keys ||
	    sl_noise_split(&leg->hs->noise, &leg->keys->e2t,
			   &leg->keys->t2e) ||
	    (purpose != SL_CALL_PURPOSE_CALL &&
	     call_courier_derive(&leg->hs->noise, leg->keys))) {
		sl_wipe(pl, sizeof(pl));
		leg_nak(leg, out, now, SL_NAK_INTERNAL, 0, SL_MSG_CALL_AUTH);
		leg_failed(leg, out, SL_NAK_INTERNAL, 0, false,
			   "secure memory exhausted");
		return 0;
	}
	leg->purpose = purpose;
	a = call_push(out, SL_CALL_ACT_AUTHENTICATED);
	a->hsid = leg->hsid;
	a->purpose = purpose;
	memcpy(a->static_pub, leg->hs->noise.rs, SL_HS_KEY_LEN);
	sl_copy_account(a->account, pl + 1);
	if (call_purpose_names_peer(purpose))
		sl_copy_account(a->peer, pl + 13);
	sl_wipe(pl, sizeof(pl));
	/* T's static key, ephemeral, ck: done. */
	call_hs_release(&leg->hs);
	leg->st = T_DECIDE;
	leg->deadline = 0;	/* the daemon's time now */
	return 0;
}

static int on_accept(struct sl_tsp_leg *leg, const uint8_t *m, size_t len,
		     uint64_t now, struct sl_call_actions *out)
{
	uint8_t none[1];

	if (leg->have_accept) {
		if (len == SL_CALL_ACCEPT_LEN && !memcmp(leg->accept, m, len) &&
		    leg->st == T_CONNECTED)
			return answer_copy(leg, out, now, leg->last,
					   leg->last_len,
					   call_rto0(leg->baud, len,
						     SL_CALL_STATUS_LEN));
		return call_drop(out,
				 "CALL_ACCEPT copy, nothing to answer yet");
	}
	if (leg->st != T_WAIT_ACCEPT)
		return call_drop(out, "CALL_ACCEPT not expected now");
	if (len != SL_CALL_ACCEPT_LEN)
		return call_drop(out, "CALL_ACCEPT of a wrong length");
	if (m[6] != 0)
		return call_drop(out, "CALL_ACCEPT with a seq other than 0");
	if (sl_hs_open(m, len, leg->keys->e2t.k, none)) {
		leg->auth_failures++;
		return call_drop(out, "CALL_ACCEPT does not authenticate");
	}
	memcpy(leg->accept, m, len);
	leg->have_accept = true;
	leg->st = T_ACCEPTED;
	leg->deadline = 0;
	call_push(out, SL_CALL_ACT_ACCEPTED)->tracking_id = leg->tracking_id;
	out->a[out->n - 1].hsid = leg->hsid;
	return 0;
}

static int leg_on_nak(struct sl_tsp_leg *leg, const uint8_t *m, size_t len,
		      struct sl_call_actions *out)
{
	if (len < SL_HS_NAK_LEN)
		return call_drop(out, "NAK too short");
	if (leg->st == T_WAIT_HELLO || sl_get32(m + 2) != leg->hsid)
		return call_drop(out, "NAK for no handshake of this leg");
	if (leg->st == T_CONNECTED)
		return call_drop(out, "NAK after CONNECTED is end to end");
	call_log_nak_in(out, m, true);
	leg_failed(leg, out, m[6], m[7], true, "E refused (NAK)");
	return 0;
}

int sl_tsp_leg_input(struct sl_tsp_leg *leg, const uint8_t *m, size_t len,
		     uint64_t now, struct sl_call_actions *out)
{
	if (!leg || !out)
		return -EINVAL;
	call_begin(out);
	if (!m || len < SL_HS_ENVELOPE_LEN)
		call_drop(out, "shorter than an envelope");
	else if (!sl_hs_msg_len(m[1]))
		call_drop(out, "reserved type");
	else if (m[1] == SL_MSG_CALL_HELLO)
		on_hello(leg, m, len, now, out);
	else if (leg->st == T_ENDED && !(m[1] == SL_MSG_CALL_AUTH &&
					 leg->last_len))
		call_drop(out, "the leg is over");
	else if (m[1] == SL_MSG_NAK)
		leg_on_nak(leg, m, len, out);
	else if (m[1] != SL_MSG_CALL_AUTH && m[1] != SL_MSG_CALL_ACCEPT)
		call_drop(out, "not a message for the TSP");
	else if (leg->st == T_WAIT_HELLO || sl_get32(m + 2) != leg->hsid)
		call_drop(out, "another hsid");
	else if (m[0] != leg->ver)
		call_drop(out, "not the negotiated version");
	else if (m[1] == SL_MSG_CALL_AUTH)
		on_auth(leg, m, len, now, out);
	else
		on_accept(leg, m, len, now, out);
	return leg_finish(leg, out);
}

int sl_tsp_leg_timer(struct sl_tsp_leg *leg, uint64_t now,
		     struct sl_call_actions *out)
{
	uint8_t ref;

	if (!leg || !out)
		return -EINVAL;
	call_begin(out);
	if (leg->st != T_ENDED && leg->deadline && now >= leg->deadline) {
		ref = leg->st == T_WAIT_ACCEPT ? SL_MSG_CALL_ACCEPT :
						 SL_MSG_CALL_AUTH;
		leg_nak(leg, out, now, SL_NAK_TIMEOUT, 0, ref);
		leg_failed(leg, out, SL_NAK_TIMEOUT, 0, false,
			   ref == SL_MSG_CALL_AUTH ?
			   "deadline: no CALL_AUTH in time" :
			   "deadline: the offer was not accepted in time");
	}
	return leg_finish(leg, out);
}

int sl_tsp_leg_refuse(struct sl_tsp_leg *leg, uint8_t reason,
		      uint8_t detail, uint64_t now,
		      struct sl_call_actions *out)
{
	if (!leg || !out)
		return -EINVAL;
	call_begin(out);
	if (leg->st == T_WAIT_HELLO || leg->st == T_CONNECTED ||
	    leg->st == T_ENDED || !reason ||
	    (reason > SL_NAK_IDENTITY_MISMATCH &&
	     reason != SL_NAK_UNAVAILABLE) || detail > 2)
		return -EINVAL;
	leg_nak(leg, out, now, reason, detail,
		leg->st == T_WAIT_ACCEPT || leg->st == T_ACCEPTED ?
		SL_MSG_CALL_ACCEPT : SL_MSG_CALL_AUTH);
	return leg_finish(leg, out);
}

/* CALL_STATUS or CALL_OFFER under c_t2e, kept as the answer to copies. */
static int leg_send_sealed(struct sl_tsp_leg *leg, uint8_t type,
			   const uint8_t *pl, size_t plen, uint64_t now,
			   struct sl_call_actions *out)
{
	size_t len = SL_HS_SEALED_AD_LEN + plen + SL_NOISE_TAG_LEN;
	int err;

	err = sl_hs_seal(leg->last, leg->ver, type, leg->hsid, leg->t2e_seq,
		   leg->keys->t2e.k, pl, plen);
	if (err)
		return err;
	leg->t2e_seq++;
	leg->last_len = len;
	leg->replied_at = now;
	call_act_send(out, leg->last, len);
	return 0;
}

static int leg_status(struct sl_tsp_leg *leg, uint8_t status, uint64_t now,
		      struct sl_call_actions *out)
{
	uint8_t pl[STATUS_PAYLOAD];

	pl[0] = status;
	call_put64(pl + 1, leg->tracking_id);
	return leg_send_sealed(leg, SL_MSG_CALL_STATUS, pl, sizeof(pl), now,
			       out);
}

int sl_tsp_leg_dialling(struct sl_tsp_leg *leg, uint64_t tracking_id,
			uint64_t now, struct sl_call_actions *out)
{
	int err;

	if (!leg || !out)
		return -EINVAL;
	call_begin(out);
	if (leg->st != T_DECIDE || leg->purpose != SL_CALL_PURPOSE_CALL)
		return -EINVAL;
	leg->tracking_id = tracking_id;
	err = leg_status(leg, SL_CALL_STATUS_DIALLING, now, out);
	if (err)
		return err;
	leg->st = T_DIALLING;
	return leg_finish(leg, out);
}

static int leg_offer(struct sl_tsp_leg *leg, const char *caller,
		     uint64_t tracking_id, uint8_t flags, uint64_t now,
		     struct sl_call_actions *out)
{
	uint8_t pl[OFFER_PAYLOAD];
	int err;

	if (!leg || !out)
		return -EINVAL;
	call_begin(out);
	if (leg->st != T_DECIDE || leg->purpose != SL_CALL_PURPOSE_ANSWER ||
	    !call_is_account_str(caller))
		return -EINVAL;
	leg->tracking_id = tracking_id;
	memcpy(pl, caller, SL_ACCOUNT_LEN);
	call_put64(pl + SL_ACCOUNT_LEN, tracking_id);
	pl[SL_ACCOUNT_LEN + 8] = flags;
	leg->offer_flags = flags;
	err = leg_send_sealed(leg, SL_MSG_CALL_OFFER, pl, sizeof(pl), now,
			      out);
	sl_wipe(pl, sizeof(pl));
	if (err)
		return err;
	leg->st = T_WAIT_ACCEPT;
	leg->deadline = now + SL_CALL_OFFER_WAIT_MS;
	return leg_finish(leg, out);
}

int sl_tsp_leg_offer(struct sl_tsp_leg *leg, const char *caller,
		     uint64_t tracking_id, uint64_t now,
		     struct sl_call_actions *out)
{
	return leg_offer(leg, caller, tracking_id, 0, now, out);
}

int sl_tsp_leg_offer_held(struct sl_tsp_leg *leg, const char *sender,
			  uint64_t tracking_id, uint64_t now,
			  struct sl_call_actions *out)
{
	return leg_offer(leg, sender, tracking_id, SL_CALL_OFFER_HELD, now,
			 out);
}

int sl_tsp_leg_connected(struct sl_tsp_leg *leg, uint64_t now,
			 struct sl_call_actions *out)
{
	int err;

	if (!leg || !out)
		return -EINVAL;
	call_begin(out);
	if (leg->st != T_DIALLING && leg->st != T_ACCEPTED)
		return -EINVAL;
	err = leg_status(leg, SL_CALL_STATUS_CONNECTED, now, out);
	if (err)
		return err;
	leg->st = T_CONNECTED;
	/* Only "ended" is still sealed; copies are answered by bytes. */
	sl_wipe(&leg->keys->e2t, sizeof(leg->keys->e2t));
	/* An answerer's courier keys serve a held delivery only. */
	if (leg->purpose == SL_CALL_PURPOSE_ANSWER &&
	    !(leg->offer_flags & SL_CALL_OFFER_HELD)) {
		sl_wipe(leg->keys->courier, sizeof(leg->keys->courier));
		leg->keys->has_courier = false;
	}
	return leg_finish(leg, out);
}

int sl_tsp_leg_end(struct sl_tsp_leg *leg, uint64_t now,
		   struct sl_call_actions *out)
{
	int err;

	if (!leg || !out)
		return -EINVAL;
	call_begin(out);
	if (!leg->keys || leg->st == T_DECIDE || leg->st == T_ENDED)
		return -EINVAL;
	err = leg_status(leg, SL_CALL_STATUS_ENDED, now, out);
	leg->st = T_ENDED;
	leg_wipe(leg);
	return err;
}

int sl_tsp_leg_deposit(struct sl_tsp_leg *leg, uint64_t tracking_id,
		       uint64_t now, struct sl_call_actions *out)
{
	int err;

	if (!leg || !out)
		return -EINVAL;
	call_begin(out);
	if (leg->st != T_DECIDE || (leg->purpose != SL_CALL_PURPOSE_DEPOSIT &&
				    leg->purpose != SL_CALL_PURPOSE_COLLECT))
		return -EINVAL;
	leg->tracking_id = tracking_id;
	err = leg_status(leg, SL_CALL_STATUS_DEPOSIT, now, out);
	if (err)
		return err;
	/* As after "connected": copies of CALL_AUTH are answered by
	 * bytes, only "ended" is still sealed. */
	leg->st = T_CONNECTED;
	sl_wipe(&leg->keys->e2t, sizeof(leg->keys->e2t));
	return leg_finish(leg, out);
}

int sl_tsp_leg_courier_keys(const struct sl_tsp_leg *leg,
			    uint8_t out[SL_CALL_COURIER_KEYS_LEN])
{
	if (!leg || leg->st != T_CONNECTED || !leg->keys ||
	    !leg->keys->has_courier)
		return -EINVAL;
	memcpy(out, leg->keys->courier, SL_CALL_COURIER_KEYS_LEN);
	return 0;
}
