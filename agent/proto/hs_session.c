// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Sessions and rekeys in the handshake engine (handshake.h,
 * hs_internal.h; Documentation/handshake.rst, "Sessions"): SESSION_INIT
 * and the responder's answer to it, the SESSION_* messages that follow
 * and the key they install, then the sealed messages on that key:
 * REKEY_REQUEST and SESSION_CLOSE.
 */
#include <errno.h>
#include <string.h>

#include "hs_internal.h"

/* ---- Starting as initiator --------------------------------------- */

static uint16_t busy_mask(const struct line_state *ls)
{
	uint16_t m = 0;

	if (ls->epoch_cur)
		m |= (uint16_t)(1u << (ls->epoch_cur & 15));
	if (ls->epoch_prev)
		m |= (uint16_t)(1u << (ls->epoch_prev & 15));
	return m;
}

int hs_start_session(struct sl_hs *hs, struct run *r, uint64_t now)
{
	uint8_t prologue[7 + 8], payload[8];
	struct sl_noise_keys k = {
		.s = hs->sec->s,
		.e = r->sec->e,
		.rs = hs->ls.peer_static,
		.psk = hs->sec->peer_ltk,
	};
	size_t n;
	int err;

	if (!hs->ls.have_peer)
		return -EINVAL;
	r->have_peer = true;
	memcpy(r->peer, hs->ls.peer, sizeof(r->peer));
	memcpy(r->peer_static, hs->ls.peer_static, SL_HS_KEY_LEN);
	err = hs_new_ephemeral(hs, r->sec->e);
	if (err)
		return err;
	sl_hs_envelope(r->out, r->ver, SL_MSG_SESSION_INIT, r->hsid);
	r->out[6] = hs->ver_min;
	r->out[7] = hs->ver_max;
	memcpy(prologue, PROLOGUE, 7);
	memcpy(prologue + 7, r->out, 8);
	err = sl_noise_hs_init(&r->sec->noise, SL_NOISE_KKPSK0, true,
			       prologue, sizeof(prologue), &k);
	sl_wipe(r->sec->e, sizeof(r->sec->e));	/* the Noise state has it */
	if (err)
		return err;
	payload[0] = r->kind == SL_HS_REKEY ? 2 : 1;
	payload[1] = hs->offered;
	sl_put32(payload + 2, hs->ls.epoch_next);
	payload[6] = (uint8_t)(busy_mask(&hs->ls) >> 8);
	payload[7] = (uint8_t)busy_mask(&hs->ls);
	err = sl_noise_write(&r->sec->noise, payload, sizeof(payload),
			     r->out + 8, sizeof(r->out) - 8, &n);
	if (err)
		return err;
	r->out_len = 8 + n;
	r->st = ST_I_WAIT_RESP;
	hs_arm_tx(hs, r, now, 63, false);
	return 0;
}

enum sl_hs_kind hs_session_kind(const struct sl_hs *hs)
{
	return hs->ls.keyed && hs->ls.key.valid ? SL_HS_REKEY : SL_HS_SESSION;
}

/* The line's peer for sessions and rekeys. */
static int set_peer(struct sl_hs *hs, const struct sl_hs_peer *p)
{
	if (!p || !p->ltk || !sl_is_account(p->account))
		return -EINVAL;
	hs->ls.have_peer = true;
	sl_copy_account(hs->ls.peer, p->account);
	memcpy(hs->ls.peer_static, p->static_pub, SL_HS_KEY_LEN);
	memcpy(hs->sec->peer_ltk, p->ltk, SL_HS_KEY_LEN);
	return 0;
}

int sl_hs_connect(struct sl_hs *hs, const struct sl_hs_peer *peer,
		  uint64_t now, struct sl_hs_actions *out)
{
	int err;

	hs_begin(hs, out);
	if (hs_in_progress(hs->cur)) {
		err = -EBUSY;
	} else {
		err = set_peer(hs, peer);
		if (!err) {
			hs->ls.retry_backoff = 0;
			err = hs_start(hs, SL_HS_SESSION, now, out);
		}
	}
	hs_finish(hs, now, out);
	return err;
}

/* ---- Completion -------------------------------------------------- */

/* A session or rekey completed: its key is current, on both sides. */
static void key_installed(struct sl_hs *hs, struct run *r, uint64_t now)
{
	struct key_rec *k = &hs->ls.key;

	memset(k, 0, sizeof(*k));
	k->valid = true;
	k->initiator = r->initiator;
	k->hsid = r->hsid;
	k->ver = r->ver;
	k->epoch = r->epoch;
	k->cipher = r->cipher;
	k->kind = r->kind;
	memcpy(k->peer, r->peer, sizeof(k->peer));
	k->done_at = now;
	k->tx_next = 1;		/* SESSION_CONFIRM/DONE were seq 0 */
	hs->sec->key_i2r = r->sec->c_i2r;
	hs->sec->key_r2i = r->sec->c_r2i;
	hs->ls.keyed = true;
	hs->ls.retry_backoff = 0;
	hs->ls.rekey_backoff = 0;
	hs->ls.start_at = 0;
	hs->ls.rekey_at = 0;
	if (r->initiator && hs->rekey_interval != UINT32_MAX)
		hs->ls.rekey_at = now + hs->rekey_interval;
	/* The responder's peer, for its own sessions after a key loss. */
	if (!r->initiator && r->have_peer) {
		hs->ls.have_peer = true;
		memcpy(hs->ls.peer, r->peer, sizeof(hs->ls.peer));
		memcpy(hs->ls.peer_static, r->peer_static, SL_HS_KEY_LEN);
		memcpy(hs->sec->peer_ltk, r->sec->ltk, SL_HS_KEY_LEN);
	}
}

/* ---- The derived values ------------------------------------------ */

static int session_values(struct run *r)
{
	int err = sl_noise_split(&r->sec->noise, &r->sec->c_i2r,
				 &r->sec->c_r2i);

	if (!err)
		err = hs_derive(&r->sec->noise, L_KEYS, r->sec->kk,
				sizeof(r->sec->kk));
	if (!err)
		err = hs_derive(&r->sec->noise, L_COURIER, r->sec->cc,
				sizeof(r->sec->cc));
	sl_noise_hs_wipe(&r->sec->noise);
	return err;
}

/* ---- Responder: first message ------------------------------------ */

/*
 * E: the smallest epoch >= both epoch_next whose low 4 bits are in
 * neither busy mask; 0 if there is none.
 */
static uint32_t choose_epoch(uint32_t a, uint32_t b, uint16_t mask)
{
	uint32_t e = a > b ? a : b;

	if (mask == 0xffff)
		return 0;
	while (mask & (1u << (e & 15))) {
		if (e == UINT32_MAX)
			return 0;
		e++;
	}
	return e;
}

int hs_session_respond(struct sl_hs *hs, struct run *r, const uint8_t *m,
		       struct verdict *v)
{
	uint8_t prologue[7 + 8], payload[9], pl[8];
	struct sl_hs_peer p;
	uint32_t their_next, e_out;
	uint16_t their_busy;
	bool found = false;
	size_t n;
	int err;

	err = hs_new_ephemeral(hs, r->sec->e);
	if (err)
		return err;
	memcpy(prologue, PROLOGUE, 7);
	memcpy(prologue + 7, m, 8);
	/* es = DH(s_R, e_I) is the same whoever sent it: once. A low-order
	 * e_I opens under nobody. */
	err = sl_x25519(r->sec->kk, hs->sec->s, m + 8);
	if (err == -EKEYREJECTED)
		goto none;
	if (err)
		return err;

	/* Which peer: the one under whose LTK and keys it opens. */
	for (unsigned int i = 0; hs->peer_fn && !found; i++) {
		struct sl_noise_keys k = {
			.s = hs->sec->s, .e = r->sec->e, .es = r->sec->kk,
		};

		memset(&p, 0, sizeof(p));
		err = hs->peer_fn(hs->ctx, i, &p);
		if (err == -ENOENT)
			break;
		if (err)
			return err;
		if (!p.ltk || !sl_is_account(p.account))
			continue;
		k.rs = p.static_pub;
		k.psk = p.ltk;
		k.ss = p.ss;
		err = sl_noise_hs_init(&r->sec->noise, SL_NOISE_KKPSK0, false,
				       prologue, sizeof(prologue), &k);
		if (err)
			return err;
		err = sl_noise_read(&r->sec->noise, m + 8, 56, pl, sizeof(pl),
				    &n);
		if (!err && n == sizeof(pl)) {
			found = true;
			memcpy(r->sec->ltk, p.ltk, SL_HS_KEY_LEN);
		} else if (err && err != -EBADMSG && err != -EKEYREJECTED) {
			return err;
		}
	}
none:
	sl_wipe(r->sec->kk, sizeof(r->sec->kk));	/* es */
	sl_wipe(r->sec->e, sizeof(r->sec->e));
	if (!found) {
		v->reason = SL_NAK_UNKNOWN_PEER;
		v->text = "SESSION_INIT opens under no stored peer: pair first";
		return 0;
	}
	r->have_peer = true;
	sl_copy_account(r->peer, p.account);
	memcpy(r->peer_static, p.static_pub, SL_HS_KEY_LEN);
	if (p.status == SL_PEER_REVOKED) {
		v->reason = SL_NAK_REVOKED;
		v->text = "session from a revoked peer";
		return 0;
	}
	if (p.status != SL_PEER_AUTHORISED) {
		v->reason = SL_NAK_NOT_AUTHORISED;
		v->text = "session from a peer not on the authorised list";
		return 0;
	}
	if (hs->have_expected && memcmp(r->peer, hs->expected,
					SL_ACCOUNT_LEN)) {
		v->reason = SL_NAK_IDENTITY_MISMATCH;
		v->text = "session from another account than the expected one";
		v->alert = true;
		return 0;
	}

	/* Authentic: its content. */
	if (pl[0] != 1 && pl[0] != 2) {
		v->reason = SL_NAK_BAD_MESSAGE;
		v->text = "SESSION_INIT: bad kind";
		return 0;
	}
	r->kind = pl[0] == 2 ? SL_HS_REKEY : SL_HS_SESSION;
	for (unsigned int i = 0; i < hs->n_ciphers && !r->cipher; i++)
		if (pl[1] & (1u << (hs->ciphers[i] - 1)))
			r->cipher = hs->ciphers[i];
	their_next = sl_get32(pl + 2);
	their_busy = (uint16_t)(pl[6] << 8 | pl[7]);
	if (!r->cipher) {
		v->reason = SL_NAK_BAD_MESSAGE;
		v->text = "SESSION_INIT: no common cipher";
		return 0;
	}
	r->epoch = their_next ? choose_epoch(their_next, hs->ls.epoch_next,
					     their_busy | busy_mask(&hs->ls)) :
				0;
	if (!r->epoch) {
		v->reason = SL_NAK_BAD_MESSAGE;
		v->text = "SESSION_INIT: no usable epoch";
		return 0;
	}

	sl_hs_envelope(r->out, r->ver, SL_MSG_SESSION_RESP, r->hsid);
	payload[0] = r->cipher;
	sl_put32(payload + 1, r->epoch);
	e_out = hs->ls.epoch_cur;
	sl_put32(payload + 5, e_out);
	err = sl_noise_write(&r->sec->noise, payload, sizeof(payload),
			     r->out + 6, sizeof(r->out) - 6, &n);
	if (err)
		return err;
	r->out_len = 6 + n;
	err = session_values(r);
	if (err)
		return err;
	r->st = ST_R_WAIT_CONF;
	return 0;
}

/* ---- Later messages ---------------------------------------------- */

int hs_on_session_resp(struct sl_hs *hs, struct run *r, const uint8_t *m,
		       size_t len, uint64_t now, struct sl_hs_actions *out)
{
	uint8_t pl[9], msg[SL_HS_MAX_MSG];
	uint32_t e, their_cur, f = hs->ls.epoch_staged;
	uint16_t mask = busy_mask(&hs->ls);
	size_t n;
	int err;

	err = sl_noise_read(&r->sec->noise, m + 6, 57, pl, sizeof(pl), &n);
	if (err == -EBADMSG || err == -EKEYREJECTED)
		return hs_auth_failed(hs, out, r);
	if (err || n != sizeof(pl)) {
		hs_fail_internal(hs, out, r, now);
		return 0;
	}
	hs_accept_in(r, m, len, false, now);
	r->cipher = pl[0];
	e = sl_get32(pl + 1);
	their_cur = sl_get32(pl + 5);
	/* A leftover F that R activated: activate it first (it becomes
	 * current, the current one previous). */
	bool activate_f = f && their_cur == f && f != hs->ls.epoch_cur;

	if (activate_f)
		mask = (uint16_t)(1u << (f & 15) |
				  (hs->ls.epoch_cur ?
				   1u << (hs->ls.epoch_cur & 15) : 0));
	if (r->cipher < 1 || r->cipher > 8 ||
	    !(hs->offered & (1u << (r->cipher - 1)))) {
		hs_fail_nak(hs, out, r, now, SL_NAK_BAD_MESSAGE,
			    SL_MSG_SESSION_RESP,
			    "SESSION_RESP: a cipher we did not offer");
		return 0;
	}
	if (!e || e < hs->ls.epoch_next || (mask & (1u << (e & 15)))) {
		hs_fail_nak(hs, out, r, now, SL_NAK_BAD_MESSAGE,
			    SL_MSG_SESSION_RESP,
			    "SESSION_RESP: an epoch we cannot stage");
		return 0;
	}
	r->epoch = e;
	err = session_values(r);
	if (!err)
		err = sl_hs_seal(msg, r->ver, SL_MSG_SESSION_CONFIRM, r->hsid, 0,
			       r->sec->c_i2r.k, NULL, 0);
	if (err) {
		hs_fail_internal(hs, out, r, now);
		return 0;
	}
	if (activate_f)
		hs_act_activate(hs, out, f);
	hs_act_stage(hs, out, r);
	memcpy(r->out, msg, SEALED_LEN(0));
	r->out_len = SEALED_LEN(0);
	r->st = ST_I_WAIT_DONE;
	hs_arm_tx(hs, r, now, SEALED_LEN(0), false);
	hs_act_send(hs, out, r->out, r->out_len);
	return 0;
}

int hs_on_session_confirm(struct sl_hs *hs, struct run *r,
			  const uint8_t *m, size_t len, uint64_t now,
			  struct sl_hs_actions *out)
{
	uint8_t none[1], msg[SL_HS_MAX_MSG];

	if (sl_hs_open(m, len, r->sec->c_i2r.k, none))
		return hs_auth_failed(hs, out, r);
	if (sl_hs_seal(msg, r->ver, SL_MSG_SESSION_DONE, r->hsid, 0,
		     r->sec->c_r2i.k, NULL, 0)) {
		hs_fail_internal(hs, out, r, now);
		return 0;
	}
	hs_accept_in(r, m, len, true, now);
	hs_act_stage(hs, out, r);
	hs_act_activate(hs, out, r->epoch);
	memcpy(r->out, msg, SEALED_LEN(0));
	r->out_len = SEALED_LEN(0);
	hs_act_send(hs, out, r->out, r->out_len);
	hs_act_done(hs, out, r, now);
	key_installed(hs, r, now);
	return 0;
}

/* I: R has activated E (SESSION_DONE, or the kernel says so). */
void hs_session_complete_i(struct sl_hs *hs, struct run *r, uint64_t now,
			   struct sl_hs_actions *out)
{
	hs_act_activate(hs, out, r->epoch);
	hs_act_done(hs, out, r, now);
	key_installed(hs, r, now);
}

int hs_on_session_done(struct sl_hs *hs, struct run *r, const uint8_t *m,
		       size_t len, uint64_t now, struct sl_hs_actions *out)
{
	uint8_t none[1];

	if (sl_hs_open(m, len, r->sec->c_r2i.k, none))
		return hs_auth_failed(hs, out, r);
	hs_accept_in(r, m, len, false, now);
	hs_session_complete_i(hs, r, now, out);
	return 0;
}

/* ---- REKEY_REQUEST ----------------------------------------------- */

int hs_start_rekey(struct sl_hs *hs, uint64_t now,
		   struct sl_hs_actions *out)
{
	if (hs_in_progress(hs->cur))
		return -EBUSY;
	return hs_start(hs, hs_session_kind(hs), now, out);
}

/*
 * A sealed message from the peer on the current key (REKEY_REQUEST,
 * SESSION_CLOSE): the direction we receive on, a seq above the last one
 * accepted in it. NULL and its 1-byte payload in pl, or why it is dropped.
 */
static const char *open_on_key(struct sl_hs *hs, const uint8_t *m,
			       size_t len, uint8_t pl[1])
{
	struct key_rec *k = &hs->ls.key;
	const struct sl_noise_cipher *c = k->initiator ? &hs->sec->key_r2i :
							 &hs->sec->key_i2r;

	if (!k->valid || k->hsid != sl_get32(m + 2))
		return "for no key of ours";
	if (len != 24 || m[0] != k->ver)
		return "length or version";
	if (m[6] <= k->rx_last)
		return "old seq";
	if (sl_hs_open(m, len, c->k, pl)) {
		hs->stats.auth_failures++;
		return "failed authentication";
	}
	k->rx_last = m[6];
	return NULL;
}

/*
 * A sealed message of ours on the current key, its first copy sent, the
 * rest on x's timer. -ERANGE after 255 of them on one key.
 */
static int send_on_key(struct sl_hs *hs, struct sl_hs_actions *out,
		       uint64_t now, uint8_t type, uint8_t payload,
		       struct resend *x)
{
	struct key_rec *k = &hs->ls.key;
	const struct sl_noise_cipher *c = k->initiator ? &hs->sec->key_i2r :
							 &hs->sec->key_r2i;
	int err;

	if (k->tx_next == 0)
		return -ERANGE;
	err = sl_hs_seal(x->msg, k->ver, type, k->hsid, k->tx_next, c->k,
			 &payload, 1);
	if (err)
		return err;
	k->tx_next++;
	x->active = true;
	x->sends = 1;
	x->rto = hs_rto0(hs, sizeof(x->msg), 64);
	x->tx_at = now + x->rto;
	hs_act_send(hs, out, x->msg, sizeof(x->msg));
	return 0;
}

void hs_resend_due(struct sl_hs *hs, struct sl_hs_actions *out,
		   struct resend *x, uint64_t now)
{
	if (!x->active || now < x->tx_at)
		return;
	if (x->sends >= SL_HS_MAX_SENDS) {
		x->active = false;
		return;
	}
	hs_act_send(hs, out, x->msg, sizeof(x->msg));
	x->sends++;
	x->rto = x->rto >= SL_HS_RTO_MAX_MS / 2 ? SL_HS_RTO_MAX_MS : x->rto * 2;
	x->tx_at = now + x->rto;
}

int hs_handle_rekey_request(struct sl_hs *hs, const uint8_t *m,
			    size_t len, uint64_t now,
			    struct sl_hs_actions *out)
{
	struct key_rec *k = &hs->ls.key;
	const char *why;
	uint8_t pl[1];

	if (!k->valid || !k->initiator)
		return hs_drop(hs, out, "REKEY_REQUEST for no key of ours");
	if (!(k->rr_in_valid && len == sizeof(k->rr_in) &&
	      !memcmp(k->rr_in, m, len))) {
		why = open_on_key(hs, m, len, pl);
		if (why)
			return hs_drop(hs, out, why);
		if (pl[0] < 1 || pl[0] > 3)
			return hs_drop(hs, out, "REKEY_REQUEST: bad reason");
		memcpy(k->rr_in, m, len);
		k->rr_in_valid = true;
	}
	if (hs_in_progress(hs->cur))
		return hs_drop(hs, out,
			       "REKEY_REQUEST: a handshake is running");
	if (now < k->done_at + SL_HS_REKEY_HOLDOFF_MS)
		return hs_drop(hs, out, "REKEY_REQUEST within 10 s of a rekey");
	return hs_start_rekey(hs, now, out);
}

static int send_rekey_request(struct sl_hs *hs, uint8_t reason,
			      uint64_t now, struct sl_hs_actions *out)
{
	struct key_rec *k = &hs->ls.key;

	if (k->rr.active)
		return 0;		/* one is on its way */
	return send_on_key(hs, out, now, SL_MSG_REKEY_REQUEST, reason, &k->rr);
}

/* ---- SESSION_CLOSE ----------------------------------------------- */

/*
 * The current key is gone: no rekey, no REKEY_REQUEST, and a session
 * handshake in progress ends (it could otherwise install a key with the
 * peer just closed). keep_peer: the peer closed it, and may allow us
 * again; else we closed it, and never connect to that peer by ourselves.
 */
static void forget_key(struct sl_hs *hs, struct sl_hs_actions *out,
		       uint64_t now, const char *why, bool keep_peer)
{
	if (hs_in_progress(hs->cur) && hs->cur->kind != SL_HS_PAIR)
		hs_end_failed(hs, out, hs->cur, now, SL_NAK_NONE, false, why,
			      END_NO_RETRY);
	memset(&hs->ls.key, 0, sizeof(hs->ls.key));
	hs->ls.keyed = false;
	hs->ls.start_at = 0;
	hs->ls.rekey_at = 0;
	sl_wipe(&hs->sec->key_i2r, sizeof(hs->sec->key_i2r));
	sl_wipe(&hs->sec->key_r2i, sizeof(hs->sec->key_r2i));
	if (keep_peer)
		return;
	hs->ls.have_peer = false;
	sl_wipe(hs->sec->peer_ltk, sizeof(hs->sec->peer_ltk));
}

int hs_handle_session_close(struct sl_hs *hs, const uint8_t *m,
			    size_t len, uint64_t now,
			    struct sl_hs_actions *out)
{
	struct sl_hs_action *a;
	const char *why;
	bool initiator;
	uint8_t pl[1];

	why = open_on_key(hs, m, len, pl);
	if (why)
		return hs_drop(hs, out, why);
	if (pl[0] < SL_CLOSE_REVOKED || pl[0] > SL_CLOSE_NOT_AUTHORISED)
		return hs_drop(hs, out, "SESSION_CLOSE: bad reason");
	a = hs_push(out, SL_HS_ACT_CLEAR_KEYS);
	a->close.reason = pl[0];
	memcpy(a->close.peer_account, hs->ls.key.peer,
	       sizeof(a->close.peer_account));
	initiator = hs->ls.key.initiator;
	forget_key(hs, out, now, "the peer closed the session", true);
	/* Its operator may allow us again (sealctl peers authorise): a
	 * direct line's initiator tries again, at the longest interval. */
	if (initiator && hs->direct_line && hs->ls.have_peer) {
		hs->ls.retry_backoff = SL_HS_RETRY_MAX_MS;
		hs->ls.start_at = now + SL_HS_RETRY_MAX_MS;
		hs->ls.start_kind = SL_HS_SESSION;
	}
	return 0;
}

int sl_hs_close(struct sl_hs *hs, uint8_t reason, uint64_t now,
		struct sl_hs_actions *out)
{
	int err = 0;

	hs_begin(hs, out);
	if (reason < SL_CLOSE_REVOKED || reason > SL_CLOSE_NOT_AUTHORISED)
		err = -EINVAL;
	else if (!hs->ls.key.valid)
		err = -ENOTCONN;
	else
		err = send_on_key(hs, out, now, SL_MSG_SESSION_CLOSE, reason,
				  &hs->close);
	if (err != -EINVAL)
		forget_key(hs, out, now, "the session was closed", false);
	hs_finish(hs, now, out);
	return err;
}

/* ---- Entry points ------------------------------------------------ */

int sl_hs_rekey_needed(struct sl_hs *hs, uint8_t limit, uint64_t now,
		       struct sl_hs_actions *out)
{
	struct key_rec *k = &hs->ls.key;
	int err = 0;

	hs_begin(hs, out);
	if (!k->valid) {
		err = -ENOTCONN;
	} else if (k->initiator) {
		/* Now, or as soon as the handshake in progress ends. */
		hs->ls.rekey_at = now;
		if (!hs_in_progress(hs->cur)) {
			hs->ls.rekey_at = 0;
			err = hs_start_rekey(hs, now, out);
		}
	} else {
		err = send_rekey_request(hs, limit >= 1 && limit <= 2 ?
					 limit : 3, now, out);
	}
	hs_finish(hs, now, out);
	return err;
}

int sl_hs_key_expired(struct sl_hs *hs, uint64_t now,
		      struct sl_hs_actions *out)
{
	struct key_rec *k = &hs->ls.key;
	int err = 0;

	hs_begin(hs, out);
	hs->ls.keyed = false;
	if (k->valid && k->initiator) {
		hs->ls.rekey_at = 0;
		if (hs_in_progress(hs->cur)) {
			hs->ls.start_at = now;
			hs->ls.start_kind = SL_HS_SESSION;
		} else if (hs->ls.have_peer) {
			err = hs_start(hs, SL_HS_SESSION, now, out);
		}
	} else if (k->valid) {
		err = send_rekey_request(hs, 2, now, out);
	}
	hs_finish(hs, now, out);
	return err;
}
