// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Call setup through a TSP (call.h): the CALL_* messages of
 * Documentation/handshake.rst on one leg, for the endpoint E (Noise_XK
 * initiator, struct sl_call) and for the TSP T (responder, struct
 * sl_tsp_leg).
 *
 * Memory: each engine has at most two blocks of secure memory. "hs"
 * (struct hs_block: the Noise HandshakeState, our static key, a test
 * ephemeral) exists only until CALL_AUTH is written (E) or read (T);
 * "keys" (struct key_block: c_e2t and c_t2e, and for store and
 * forward's purposes 3 and 4 the leg's courier keys) from then on. At
 * CONNECTED (or deposit) the c_e2t key is wiped too on both sides; c_t2e
 * stays, because T seals and E opens the in-band "ended" with it. So a bridged call costs each
 * side one small block, and T can keep hundreds of legs.
 *
 * This file: what both sides share. call_endpoint.c is E's engine,
 * call_leg.c T's; call_internal.h is their own header.
 *
 * Where handshake.rst leaves a choice, this code decides:
 *
 *  - T has no deadline before CALL_HELLO (the daemon's answer timer
 *    covers a silent caller); 20 s from CALL_HELLO for CALL_AUTH, and
 *    20 s from CALL_OFFER for CALL_ACCEPT. Between AUTHENTICATED and its
 *    decision the daemon owns the time (dialling takes up to 60 s).
 *  - A refused CALL_HELLO starts nothing on T (its hsid is not
 *    remembered), so a forged one cannot block a genuine one; a copy of
 *    the refused one gets the same NAK.
 *  - A new authentic CALL_HELLO replaces a T leg's unauthenticated
 *    handshake (the endpoint restarted, e.g. after a VERSION NAK); after
 *    an authentic CALL_AUTH the leg belongs to that call and further
 *    CALL_HELLOs are dropped.
 *  - E accepts an authentic "ended" in any state that has c_t2e, before
 *    CONNECTED too (T ends a leg whose other leg hung up during the
 *    offer). After CONNECTED it accepts nothing else, and sends no NAK:
 *    the line then carries the end-to-end handshake.
 *  - E checks that "connected" carries the tracking id of "dialling" or
 *    of the offer; another one is BAD_MESSAGE.
 */
#include <errno.h>
#include <string.h>

#include "call_internal.h"

_Static_assert(sizeof(struct hs_block) <= SL_CALL_SECMEM_HS,
	       "SL_CALL_SECMEM_HS too small");
_Static_assert(sizeof(struct key_block) <= SL_CALL_SECMEM_KEYS,
	       "SL_CALL_SECMEM_KEYS too small");

/* ---- Helpers shared by both sides -------------------------------- */

bool sl_call_msg_is_setup(uint8_t type)
{
	return type >= SL_MSG_CALL_HELLO && type <= SL_MSG_CALL_ACCEPT;
}

void call_put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

uint64_t call_get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* A NUL-terminated 12-digit account. */
bool call_is_account_str(const char *s)
{
	return s && strnlen(s, SL_ACCOUNT_LEN + 1) == SL_ACCOUNT_LEN &&
	       sl_is_account(s);
}

/* RTO0 = max(1 s, 4 x 10 x (wire bytes of both) / baud), in ms. */
uint32_t call_rto0(unsigned int baud, size_t msg, size_t reply)
{
	return sl_hs_rto0(baud, msg, reply, SL_CALL_DEADLINE_MS);
}

int call_check_versions(uint8_t *lo, uint8_t *hi)
{
	if (!*lo && !*hi)
		*lo = *hi = SL_HS_VERSION;
	if (!*lo || *lo > *hi)
		return -EINVAL;
	return 0;
}

struct sl_call_action *call_push(struct sl_call_actions *out,
				 enum sl_call_act type)
{
	static _Thread_local struct sl_call_action overflow;
	struct sl_call_action *a;

	/* Cannot happen: no path makes more than SL_CALL_MAX_ACTIONS. */
	if (out->n >= SL_CALL_MAX_ACTIONS)
		a = &overflow;
	else
		a = &out->a[out->n++];
	memset(a, 0, sizeof(*a));
	a->type = type;
	return a;
}

void call_begin(struct sl_call_actions *out)
{
	out->n = 0;
	out->next_timer = 0;
	out->dropped = NULL;
}

int call_drop(struct sl_call_actions *out, const char *why)
{
	out->dropped = why;
	return 0;
}

void call_act_send(struct sl_call_actions *out, const uint8_t *m,
		   size_t len)
{
	struct sl_call_action *a = call_push(out, SL_CALL_ACT_SEND);

	memcpy(a->msg, m, len);
	a->len = len;
	a->msg_type = m[1];
}

void call_build_nak(uint8_t nak[SL_HS_NAK_LEN], uint8_t ver, uint32_t hsid,
		    uint8_t reason, uint8_t detail, uint8_t lo, uint8_t hi,
		    uint8_t ref_type)
{
	sl_hs_envelope(nak, ver, SL_MSG_NAK, hsid);
	nak[6] = reason;
	nak[7] = detail;
	nak[8] = lo;
	nak[9] = hi;
	nak[10] = ref_type;
}

/* SEND (unless rate-limited) and the NAK's log record. */
void call_emit_nak(struct sl_call_actions *out, struct nak_limit *lim,
		   uint64_t now, const uint8_t nak[SL_HS_NAK_LEN],
		   bool ended)
{
	struct sl_call_action *a;
	bool limited = lim->sent && now - lim->last < SL_HS_NAK_INTERVAL_MS;

	if (!limited) {
		call_act_send(out, nak, SL_HS_NAK_LEN);
		lim->last = now;
		lim->sent = true;
	}
	a = call_push(out, SL_CALL_ACT_NAK);
	a->sent = true;
	a->ended = ended;
	a->rate_limited = limited;
	a->hsid = sl_get32(nak + 2);
	a->reason = nak[6];
	a->detail = nak[7];
	a->ver_min = nak[8];
	a->ver_max = nak[9];
	a->ref_type = nak[10];
}

/* The FAILED record that ends an engine; a refusal by the other side
 * (remote) is not authenticated. */
void call_act_failed(struct sl_call_actions *out, uint32_t hsid,
		     enum sl_call_purpose purpose, uint64_t tracking_id,
		     unsigned int auth_failures, uint8_t reason,
		     uint8_t detail, bool remote, const char *text)
{
	struct sl_call_action *a = call_push(out, SL_CALL_ACT_FAILED);

	a->hsid = hsid;
	a->purpose = purpose;
	a->reason = reason;
	a->detail = detail;
	a->remote = remote;
	a->unauthenticated = remote;
	a->auth_failures = auth_failures;
	a->tracking_id = tracking_id;
	a->text = text;
}

/* A NAK received: its log record (the caller decides what it ends). */
struct sl_call_action *call_log_nak_in(struct sl_call_actions *out,
				       const uint8_t *m, bool ended)
{
	struct sl_call_action *a = call_push(out, SL_CALL_ACT_NAK);

	a->ended = ended;
	a->unauthenticated = true;
	a->hsid = sl_get32(m + 2);
	a->reason = m[6];
	a->detail = m[7];
	a->ver_min = m[8];
	a->ver_max = m[9];
	a->ref_type = m[10];
	return a;
}

struct hs_block *call_hs_alloc(const uint8_t *s)
{
	struct hs_block *b = sl_secure_alloc(sizeof(*b));

	if (b)
		memcpy(b->s, s, SL_HS_KEY_LEN);
	return b;
}

void call_hs_release(struct hs_block **b)
{
	sl_secure_free(*b, sizeof(**b));
	*b = NULL;
}

void call_keys_release(struct key_block **k)
{
	sl_secure_free(*k, sizeof(**k));
	*k = NULL;
}

int call_courier_derive(const struct sl_noise_hs *hs, struct key_block *k)
{
	int ret = sl_hkdf(k->courier, sizeof(k->courier), hs->ss.ck,
			  sizeof(hs->ss.ck), hs->ss.h, sizeof(hs->ss.h),
			  SL_CALL_COURIER_LABEL, strlen(SL_CALL_COURIER_LABEL));

	k->has_courier = !ret;
	return ret;
}

size_t call_auth_payload_len(uint8_t purpose)
{
	switch (purpose) {
	case SL_CALL_PURPOSE_CALL:
	case SL_CALL_PURPOSE_DEPOSIT:
		return AUTH_PAYLOAD_CALL;
	case SL_CALL_PURPOSE_ANSWER:
	case SL_CALL_PURPOSE_COLLECT:
		return AUTH_PAYLOAD_ANSWER;
	default:
		return 0;
	}
}

bool call_purpose_names_peer(uint8_t purpose)
{
	return purpose == SL_CALL_PURPOSE_CALL ||
	       purpose == SL_CALL_PURPOSE_DEPOSIT;
}
