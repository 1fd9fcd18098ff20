// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The handshake engine's input (handshake.h, hs_internal.h): the checks
 * of step 3 on a peer's first message, which the spare run then
 * processes (hs_pair.c, hs_session.c) before it may replace the current
 * one; a later message to the handler of the state it is expected in;
 * a NAK received; and sl_hs_input(), which sorts them.
 */
#include <string.h>

#include "hs_internal.h"

/* ---- Responder: first messages ----------------------------------- */

/*
 * m is accepted as the last message received; answered: the reply that
 * follows (at once, so replied_at is now) answers its copies.
 */
void hs_accept_in(struct run *r, const uint8_t *m, size_t len,
		  bool answered, uint64_t now)
{
	memcpy(r->in, m, len);
	r->in_len = len;
	r->answered = answered;
	r->replied_at = answered ? now : 0;
}

/* Resend a NAK's bytes (a copy of the refused message), one a second. */
static bool resend_nak(struct sl_hs *hs, struct sl_hs_actions *out,
		       uint64_t now, const uint8_t *nak)
{
	if (hs->nak_sent && now - hs->last_nak_at < SL_HS_NAK_INTERVAL_MS)
		return false;
	hs_act_send(hs, out, nak, SL_HS_NAK_LEN);
	hs->last_nak_at = now;
	hs->nak_sent = true;
	hs->stats.naks_sent++;
	return true;
}

/* Refuses a first message that starts no handshake of ours. */
static void refuse(struct sl_hs *hs, struct sl_hs_actions *out, uint64_t now,
		   const uint8_t *m, size_t len, uint8_t ver, uint8_t reason,
		   bool alert, const char *peer)
{
	uint32_t hsid = sl_get32(m + 2);

	hs_send_nak(hs, out, now, hsid, ver, reason, 0, m[1], false, alert,
		    peer, hs->refusal.nak);
	hs->refusal.valid = true;
	hs->refusal.hsid = hsid;
	hs->refusal.in_len = len <= SL_HS_MAX_MSG ? len : 0;
	memcpy(hs->refusal.in, m, hs->refusal.in_len);
	hs->refusal.until = now + SL_HS_LINGER_MS;
	/* Not a handshake: its hsid does not join the recent ones, so a
	 * forged first message cannot block a genuine one with its hsid. */
}

/* The highest version in both ranges, 0 if none. */
static uint8_t common_version(const struct sl_hs *hs, uint8_t lo, uint8_t hi)
{
	return sl_hs_common_version(hs->ver_min, hs->ver_max, lo, hi);
}

/* A copy of the message a responder answered: the same reply again. */
static int answer_copy(struct sl_hs *hs, struct sl_hs_actions *out,
		       struct run *r, uint64_t now)
{
	if (r->initiator || !r->answered || !r->out_len)
		return hs_drop(hs, out, "copy of a message not answered (yet)");
	if (r->replied_at && now - r->replied_at < r->rto0 / 2)
		return hs_drop(hs, out, "copy too soon after the last answer");
	if (r->out[1] == SL_MSG_NAK) {
		if (!resend_nak(hs, out, now, r->out))
			return hs_drop(hs, out, "copy: NAK rate limit");
	} else {
		hs_act_send(hs, out, r->out, r->out_len);
	}
	r->replied_at = now;
	return 0;
}

/*
 * Two first messages crossed: does the peer's (in the spare run) beat
 * ours? A session beats a rekey, else the higher hsid.
 */
static bool theirs_wins(const struct run *ours, const struct run *theirs)
{
	if (ours->kind != SL_HS_PAIR && theirs->kind != SL_HS_PAIR &&
	    ours->kind != theirs->kind)
		return theirs->kind == SL_HS_SESSION;
	return theirs->hsid > ours->hsid;
}

static int restart_jitter(struct sl_hs *hs, uint64_t now)
{
	uint8_t b[2];

	if (hs_random(hs, b, 2))
		b[0] = b[1] = 0;
	hs->ls.start_at = now + 500 + (uint32_t)(b[0] << 8 | b[1]) % 1501;
	hs->ls.start_kind = hs->cur->kind;
	return 0;
}

static int handle_first(struct sl_hs *hs, const uint8_t *m, size_t len,
			uint64_t now, struct sl_hs_actions *out)
{
	uint8_t type = m[1], v;
	uint32_t hsid = sl_get32(m + 2);
	struct run *cur = hs->cur, *r = hs->spare;
	struct verdict vd = { 0 };
	bool same_hsid = false;
	int err;

	/* A copy of the first message refused last: the same NAK. */
	if (hs->refusal.valid && now < hs->refusal.until &&
	    hs->refusal.hsid == hsid && hs->refusal.in_len == len &&
	    !memcmp(hs->refusal.in, m, len)) {
		if (!resend_nak(hs, out, now, hs->refusal.nak))
			return hs_drop(hs, out, "copy: NAK rate limit");
		return 0;
	}

	/* 3a: a handshake id seen on this line lately. */
	if (hs_recent_has(hs, hsid)) {
		if ((hs_in_progress(cur) || hs_lingering(cur, now)) &&
		    cur->hsid == hsid && !cur->initiator &&
		    cur->in_len == len && !memcmp(cur->in, m, len))
			return answer_copy(hs, out, cur, now);
		/* Perhaps both ends picked the same hsid for crossing first
		 * messages: decided below, if it passes step 3. */
		if (hs_in_progress(cur) && cur->initiator &&
		    hs_first_wait(cur) && cur->hsid == hsid &&
		    !(cur->out_len == len && !memcmp(cur->out, m, len)))
			same_hsid = true;
		else
			return hs_drop(hs, out, "replayed first message");
	}

	/* 3b: versions. */
	if (len < 8) {
		refuse(hs, out, now, m, len, 0, SL_NAK_BAD_MESSAGE, false,
		       NULL);
		return 0;
	}
	v = common_version(hs, m[6], m[7]);
	if (!v || m[0] != v) {
		refuse(hs, out, now, m, len, 0, SL_NAK_VERSION, false, NULL);
		return 0;
	}

	/* 3c: length, role, state. */
	if (len != sl_hs_msg_len(type)) {
		refuse(hs, out, now, m, len, v, SL_NAK_BAD_MESSAGE, false,
		       NULL);
		return 0;
	}
	if (type == SL_MSG_CALL_HELLO) {
		refuse(hs, out, now, m, len, v, SL_NAK_NOT_AUTHORISED, false,
		       NULL);
		return 0;
	}
	if (hs_operator_step(cur)) {
		refuse(hs, out, now, m, len, v, SL_NAK_BUSY, false, NULL);
		return 0;
	}
	if (type == SL_MSG_PAIR_COMMIT && !hs->pair_enabled &&
	    !(hs->win.open && hs->win.respond && now < hs->win.until)) {
		refuse(hs, out, now, m, len, v, SL_NAK_NOT_ARMED, false, NULL);
		return 0;
	}

	/* 3d: processed, in the spare run. */
	hs_run_clear(r);
	r->hsid = hsid;
	r->ver = v;
	r->started = now;
	r->deadline = now + SL_HS_DEADLINE_MS;
	err = type == SL_MSG_PAIR_COMMIT ? hs_pair_respond(hs, r, m, &vd) :
					   hs_session_respond(hs, r, m, &vd);
	if (err || vd.reason) {
		char peer[SL_ACCOUNT_LEN + 1];
		bool known = r->have_peer;

		memcpy(peer, r->peer, sizeof(peer));
		hs_run_clear(r);
		refuse(hs, out, now, m, len, v,
		       err ? SL_NAK_INTERNAL : vd.reason, vd.alert,
		       known ? peer : NULL);
		return 0;
	}
	hs_accept_in(r, m, len, true, now);
	r->rto0 = hs_rto0(hs, len, r->out_len);

	if (same_hsid) {
		/* Both restart after a random 0.5 to 2 s. */
		hs_run_clear(r);
		hs_end_failed(hs, out, cur, now, SL_NAK_NONE, false,
			      "first messages crossed with equal hsid: "
			      "restarting", END_NO_RETRY | END_WINDOW);
		return restart_jitter(hs, now);
	}
	if (hs_in_progress(cur)) {
		if (cur->initiator && hs_first_wait(cur)) {
			if (!theirs_wins(cur, r)) {
				hs_recent_add(hs, hsid);
				hs_run_clear(r);
				return hs_drop(hs, out, "crossing first "
					       "message: ours wins");
			}
			hs_end_failed(hs, out, cur, now, SL_NAK_NONE, false,
				      "first messages crossed: the peer's "
				      "wins, answering it",
				      END_NO_RETRY | END_WINDOW);
		} else {
			hs_end_failed(hs, out, cur, now, SL_NAK_NONE, false,
				      "replaced by a new handshake from the "
				      "peer", END_NO_RETRY | END_WINDOW);
		}
	}
	if (type == SL_MSG_SESSION_INIT) {
		hs->ls.key.rr.active = false;
		hs->ls.start_at = 0;
	}
	hs_promote_spare(hs);
	hs_act_send(hs, out, hs->cur->out, hs->cur->out_len);
	return 0;
}

/* ---- Later messages ---------------------------------------------- */

uint8_t hs_expected_type(const struct run *r)
{
	switch (r->st) {
	case ST_I_WAIT_RESP:	return SL_MSG_SESSION_RESP;
	case ST_I_WAIT_DONE:	return SL_MSG_SESSION_DONE;
	case ST_R_WAIT_CONF:	return SL_MSG_SESSION_CONFIRM;
	case ST_P_WAIT_EPH:	return SL_MSG_PAIR_EPHEMERAL;
	case ST_P_WAIT_FINISH:	return SL_MSG_PAIR_FINISH;
	case ST_P_WAIT_DONE:	return SL_MSG_PAIR_DONE;
	case ST_R_WAIT_REVEAL:	return SL_MSG_PAIR_REVEAL;
	case ST_R_TYPE_SAS:	return r->confirm_in ? 0 : SL_MSG_PAIR_CONFIRM;
	case ST_R_WAIT_CONFIRM:	return SL_MSG_PAIR_CONFIRM;
	default:		return 0;
	}
}

static bool sealed_type(uint8_t type)
{
	return type == SL_MSG_PAIR_CONFIRM || type == SL_MSG_PAIR_DONE ||
	       type == SL_MSG_SESSION_CONFIRM || type == SL_MSG_SESSION_DONE;
}

static int handle_next(struct sl_hs *hs, const uint8_t *m, size_t len,
		       uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	uint8_t type = m[1];

	if (!(hs_in_progress(r) || hs_lingering(r, now)) ||
	    r->hsid != sl_get32(m + 2))
		return hs_drop(hs, out, "no handshake with this hsid");
	if (r->in_len == len && !memcmp(r->in, m, len)) {
		if (r->initiator)
			return hs_drop(hs, out,
				       "copy of a message already read");
		return answer_copy(hs, out, r, now);
	}
	if (r->st == ST_ENDED)
		return hs_drop(hs, out, "handshake ended");
	if (m[0] != r->ver)
		return hs_drop(hs, out, "not the negotiated version");
	if (type != hs_expected_type(r))
		return hs_drop(hs, out, "not the message expected next");
	if (len != sl_hs_msg_len(type))
		return hs_drop(hs, out, "wrong length");
	if (sealed_type(type) && m[6] != 0)
		return hs_drop(hs, out, "seq not the next");

	switch (type) {
	case SL_MSG_PAIR_EPHEMERAL:
		return hs_on_pair_ephemeral(hs, r, m, len, now, out);
	case SL_MSG_PAIR_REVEAL:
		return hs_on_pair_reveal(hs, r, m, len, now, out);
	case SL_MSG_PAIR_FINISH:
		return hs_on_pair_finish(hs, r, m, len, now, out);
	case SL_MSG_PAIR_CONFIRM:
		return hs_on_pair_confirm(hs, r, m, len, now, out);
	case SL_MSG_PAIR_DONE:
		return hs_on_pair_done(hs, r, m, len, now, out);
	case SL_MSG_SESSION_RESP:
		return hs_on_session_resp(hs, r, m, len, now, out);
	case SL_MSG_SESSION_CONFIRM:
		return hs_on_session_confirm(hs, r, m, len, now, out);
	case SL_MSG_SESSION_DONE:
		return hs_on_session_done(hs, r, m, len, now, out);
	}
	return hs_drop(hs, out, "not the message expected next");
}

/* ---- NAK received ------------------------------------------------ */

static int handle_nak(struct sl_hs *hs, const uint8_t *m, size_t len,
		      uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	struct sl_hs_action *a;
	uint8_t reason, v;

	if (len < SL_HS_NAK_LEN)
		return hs_drop(hs, out, "NAK too short");
	if (!(hs_in_progress(r) || hs_lingering(r, now)) ||
	    r->hsid != sl_get32(m + 2))
		return hs_drop(hs, out, "NAK for no handshake of ours");
	reason = m[6];
	hs->stats.naks_received++;
	a = hs_push(out, SL_HS_ACT_NAK);
	a->nak.hsid = r->hsid;
	a->nak.reason = reason;
	a->nak.detail = m[7];
	a->nak.ver_min = m[8];
	a->nak.ver_max = m[9];
	a->nak.ref_type = m[10];
	if (r->have_peer)
		memcpy(a->nak.peer_account, r->peer, sizeof(r->peer));
	a->nak.alert = reason == SL_NAK_SAS_MISMATCH ||
		       reason == SL_NAK_IDENTITY_MISMATCH;
	if (!hs_in_progress(r))
		return 0;	/* logged; the handshake had ended */

	/*
	 * A version NAK to our first message: once, in the common one. Only
	 * this handshake: the next starts in our highest version again.
	 */
	if (reason == SL_NAK_VERSION && r->initiator && hs_first_wait(r)) {
		v = common_version(hs, m[8], m[9]);
		if (v && v != r->ver && !r->ver_retried) {
			enum sl_hs_kind kind = r->kind;
			int err;

			hs_end_failed(hs, out, r, now, reason, true,
				      "version NAK: starting again in the "
				      "common version",
				      END_NO_RETRY | END_QUIET);
			err = hs_start_ver(hs, kind, v, now, out);
			if (!err)
				hs->cur->ver_retried = true;
			return err;
		}
	}
	a->nak.ended = true;
	r->nak_detail = m[7];
	r->nak_ver[0] = m[8];
	r->nak_ver[1] = m[9];
	hs_end_failed(hs, out, r, now, reason, true, "the peer refused (NAK)",
		      reason == SL_NAK_NOT_ARMED && r->initiator &&
		      hs_first_wait(r) ? END_WINDOW : 0);
	return 0;
}

/* ---- Entry points ------------------------------------------------ */

int sl_hs_input(struct sl_hs *hs, const uint8_t *msg, size_t len,
		uint64_t now, struct sl_hs_actions *out)
{
	uint8_t type;

	hs_begin(hs, out);
	hs->stats.rx++;
	if (!msg || len < SL_HS_ENVELOPE_LEN) {
		hs_drop(hs, out, "shorter than an envelope");
		goto done;
	}
	type = msg[1];
	if (!sl_hs_msg_len(type)) {
		hs_drop(hs, out, "reserved type");
		goto done;
	}
	if (type == SL_MSG_NAK)
		handle_nak(hs, msg, len, now, out);
	else if (type == SL_MSG_PAIR_COMMIT || type == SL_MSG_SESSION_INIT ||
		 type == SL_MSG_CALL_HELLO)
		handle_first(hs, msg, len, now, out);
	else if (type == SL_MSG_REKEY_REQUEST)
		hs_handle_rekey_request(hs, msg, len, now, out);
	else if (type == SL_MSG_SESSION_CLOSE)
		hs_handle_session_close(hs, msg, len, now, out);
	else
		handle_next(hs, msg, len, now, out);
done:
	return hs_finish(hs, now, out);
}
