// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Pairing in the handshake engine (handshake.h, hs_internal.h;
 * Documentation/handshake.rst, "Pairing"): the operator's pairing window
 * (sl_hs_pair()), PAIR_COMMIT and the responder's answer to it, the
 * PAIR_* messages that follow, and the SAS step in which the operators
 * compare and type the code.
 */
#include <errno.h>
#include <string.h>

#include "hs_internal.h"

#define SAS_ATTEMPTS	3

/* ---- The operator's window --------------------------------------- */

/* The operator's pairing is over: no retry, nothing armed. */
void hs_window_close(struct sl_hs *hs)
{
	hs->win.open = false;
	if (hs->ls.start_kind == SL_HS_PAIR)
		hs->ls.start_at = 0;
}

/* Tell the operator once per reason what the pairing waits for. */
void hs_pair_wait(struct sl_hs *hs, struct sl_hs_actions *out,
		  uint8_t reason)
{
	struct sl_hs_action *a;

	if (hs->win.waiting == reason)
		return;
	hs->win.waiting = reason;
	a = hs_push(out, SL_HS_ACT_PAIR_WAIT);
	a->wait.reason = reason;
	a->wait.until = hs->win.until;
}

int sl_hs_pair(struct sl_hs *hs, const struct sl_hs_pair_opts *o,
	       uint64_t now, struct sl_hs_actions *out)
{
	int err = 0;

	hs_begin(hs, out);
	if (!o || (!o->initiate && !o->respond) || o->until <= now) {
		err = -EINVAL;
	} else if (hs->win.open) {
		err = -EALREADY;
	} else {
		hs->win = (struct pair_window){
			.open = true,
			.initiate = o->initiate,
			.respond = o->respond,
			.until = o->until,
		};
		/* Now, or once the handshake in progress ends (timer). */
		if (o->initiate && hs_start(hs, SL_HS_PAIR, now, out)) {
			hs->ls.start_at = now;
			hs->ls.start_kind = SL_HS_PAIR;
		}
	}
	hs_finish(hs, now, out);
	return err;
}

int sl_hs_pair_end(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->cur;

	hs_begin(hs, out);
	hs_window_close(hs);
	if (hs_in_progress(r) && r->kind == SL_HS_PAIR) {
		r->nak_detail = SL_REFUSED_OPERATOR;
		hs_fail_nak(hs, out, r, now, SL_NAK_REFUSED, 0,
			    "the operator left the pairing");
	}
	return hs_finish(hs, now, out);
}

/* The operator's time is up and no pairing is in progress. */
void hs_window_expired(struct sl_hs *hs, uint64_t now,
		       struct sl_hs_actions *out)
{
	struct sl_hs_action *a = hs_push(out, SL_HS_ACT_FAILED);

	a->result.kind = SL_HS_PAIR;
	a->result.initiator = hs->win.initiate;
	a->result.reason = SL_NAK_TIMEOUT;
	a->result.text = hs->win.waiting == SL_NAK_NOT_ARMED ?
			 "the other side's operator did not start pairing in "
			 "time" :
			 hs->win.waiting == SL_NAK_TIMEOUT ?
			 "the other side never answered" :
			 "no pairing started in time";
	(void)now;
	hs->stats.failed++;
	hs_window_close(hs);
}

/* ---- Starting as initiator --------------------------------------- */

int hs_start_pair(struct sl_hs *hs, struct run *r, uint64_t now)
{
	uint8_t pub[SL_HS_KEY_LEN];
	struct sl_chunk c[2];
	int err;

	err = hs_new_ephemeral(hs, r->sec->e);
	if (!err)
		err = sl_x25519_public(pub, r->sec->e);
	if (err)
		return err;
	sl_hs_envelope(r->out, r->ver, SL_MSG_PAIR_COMMIT, r->hsid);
	r->out[6] = hs->ver_min;
	r->out[7] = hs->ver_max;
	c[0] = (struct sl_chunk){ L_COMMIT, strlen(L_COMMIT) };
	c[1] = (struct sl_chunk){ pub, sizeof(pub) };
	err = sl_sha256_chunks(r->out + 8, c, 2);
	if (err)
		return err;
	r->out_len = 40;
	memcpy(r->first, r->out, 40);
	memcpy(r->e_i, pub, SL_HS_KEY_LEN);
	r->st = ST_P_WAIT_EPH;
	hs_arm_tx(hs, r, now, 38, false);
	return 0;
}

/* ---- The derived values ------------------------------------------ */

int sl_hs_pair_sas(char sas[6], const uint8_t commit_msg[40],
		   const uint8_t e_r[32], const uint8_t e_i[32])
{
	uint8_t hash[SL_SHA256_LEN];
	struct sl_chunk c[4] = {
		{ L_SAS, strlen(L_SAS) },
		{ commit_msg, 40 },
		{ e_r, SL_HS_KEY_LEN },
		{ e_i, SL_HS_KEY_LEN },
	};
	int err;

	err = sl_sha256_chunks(hash, c, 4);
	if (!err)
		sl_sas_from_hash(sas, hash);
	return err;
}

static int pairing_values(struct run *r)
{
	int err;

	err = sl_hs_pair_sas(r->sas, r->first, r->e_r, r->e_i);
	if (err)
		return err;
	/* XX's Noise initiator is R: c1 is R to I. */
	err = sl_noise_split(&r->sec->noise, &r->sec->c_r2i, &r->sec->c_i2r);
	if (!err)
		err = hs_derive(&r->sec->noise, L_LTK, r->sec->ltk,
				SL_HS_KEY_LEN);
	sl_noise_hs_wipe(&r->sec->noise);
	return err;
}

/* ---- Responder: first message ------------------------------------ */

int hs_pair_respond(struct sl_hs *hs, struct run *r, const uint8_t *m,
		    struct verdict *v)
{
	uint8_t prologue[7 + 40];
	struct sl_noise_keys k = { .s = hs->sec->s, .e = r->sec->e };
	size_t n;
	int err;

	(void)v;
	memcpy(r->first, m, sizeof(r->first));
	err = hs_new_ephemeral(hs, r->sec->e);
	if (err)
		return err;
	memcpy(prologue, PROLOGUE, 7);
	memcpy(prologue + 7, m, 40);
	/* XX with the roles reversed: R is the Noise initiator. */
	err = sl_noise_hs_init(&r->sec->noise, SL_NOISE_XX, true, prologue,
			       sizeof(prologue), &k);
	sl_wipe(r->sec->e, sizeof(r->sec->e));
	if (err)
		return err;
	sl_hs_envelope(r->out, r->ver, SL_MSG_PAIR_EPHEMERAL, r->hsid);
	err = sl_noise_write(&r->sec->noise, NULL, 0, r->out + 6,
			     sizeof(r->out) - 6, &n);
	if (err)
		return err;
	r->out_len = 6 + n;
	memcpy(r->e_r, r->out + 6, SL_HS_KEY_LEN);
	r->kind = SL_HS_PAIR;
	r->st = ST_R_WAIT_REVEAL;
	return 0;
}

/* ---- Later messages ---------------------------------------------- */

/* The account in a handshake's payload: 12 digits, and the expected. */
static bool check_account(struct sl_hs *hs, struct sl_hs_actions *out,
			  struct run *r, uint64_t now, const uint8_t *acct,
			  uint8_t ref_type)
{
	if (!sl_is_account(acct)) {
		hs_fail_nak(hs, out, r, now, SL_NAK_BAD_MESSAGE, ref_type,
			    "the peer's account is not 12 digits");
		return false;
	}
	sl_copy_account(r->peer, acct);
	r->have_peer = true;
	if (!memcmp(acct, hs->account, SL_ACCOUNT_LEN) ||
	    !memcmp(r->peer_static, hs->s_pub, SL_HS_KEY_LEN)) {
		hs_fail_nak(hs, out, r, now, SL_NAK_BAD_MESSAGE, ref_type,
			    "the peer claims our own account or key");
		return false;
	}
	if (hs->have_expected &&
	    memcmp(acct, hs->expected, SL_ACCOUNT_LEN)) {
		hs_fail_nak(hs, out, r, now, SL_NAK_IDENTITY_MISMATCH, ref_type,
			    "the peer's account is not the expected one");
		return false;
	}
	return true;
}

int hs_on_pair_ephemeral(struct sl_hs *hs, struct run *r,
			 const uint8_t *m, size_t len, uint64_t now,
			 struct sl_hs_actions *out)
{
	uint8_t prologue[7 + 40], none[1];
	struct sl_noise_keys k = { .s = hs->sec->s, .e = r->sec->e };
	uint8_t msg[SL_HS_MAX_MSG];
	size_t n;
	int err;

	memcpy(prologue, PROLOGUE, 7);
	memcpy(prologue + 7, r->first, 40);
	err = sl_noise_hs_init(&r->sec->noise, SL_NOISE_XX, false, prologue,
			       sizeof(prologue), &k);
	if (!err)
		err = sl_noise_read(&r->sec->noise, m + 6, 32, none,
				    sizeof(none), &n);
	if (!err) {
		sl_hs_envelope(msg, r->ver, SL_MSG_PAIR_REVEAL, r->hsid);
		err = sl_noise_write(&r->sec->noise,
				     (const uint8_t *)hs->account,
				     SL_ACCOUNT_LEN, msg + 6, sizeof(msg) - 6,
				     &n);
	}
	if (err) {
		sl_noise_hs_wipe(&r->sec->noise);
		if (err == -EBADMSG || err == -EKEYREJECTED)
			return hs_auth_failed(hs, out, r);
		hs_fail_internal(hs, out, r, now);
		return 0;
	}
	/* e_I is in the Noise state now; a forged PAIR_EPHEMERAL dropped
	 * above needed it kept for the genuine one. */
	sl_wipe(r->sec->e, sizeof(r->sec->e));
	memcpy(r->e_r, m + 6, SL_HS_KEY_LEN);
	hs_accept_in(r, m, len, true, now);
	memcpy(r->out, msg, 6 + n);
	r->out_len = 6 + n;
	r->st = ST_P_WAIT_FINISH;
	hs_arm_tx(hs, r, now, 82, false);
	hs_act_send(hs, out, r->out, r->out_len);
	return 0;
}

/*
 * The XX message that carries its sender's static key and account
 * (PAIR_REVEAL, PAIR_FINISH: the Noise body follows the envelope): read
 * it, keep the key, accept the message and check the account. false when
 * it was dropped or the pairing failed (the actions say which).
 */
static bool read_identity(struct sl_hs *hs, struct sl_hs_actions *out,
			  struct run *r, const uint8_t *m, size_t len,
			  bool answered, uint64_t now)
{
	uint8_t acct[SL_ACCOUNT_LEN];
	size_t n;
	int err;

	err = sl_noise_read(&r->sec->noise, m + SL_HS_ENVELOPE_LEN,
			    len - SL_HS_ENVELOPE_LEN, acct, sizeof(acct), &n);
	if (err == -EBADMSG || err == -EKEYREJECTED) {
		hs_auth_failed(hs, out, r);
		return false;
	}
	if (err || n != SL_ACCOUNT_LEN) {
		hs_fail_internal(hs, out, r, now);
		return false;
	}
	memcpy(r->peer_static, r->sec->noise.rs, SL_HS_KEY_LEN);
	hs_accept_in(r, m, len, answered, now);
	if (!check_account(hs, out, r, now, acct, m[1]))
		return false;
	if (hs->pair_allowed_fn &&
	    hs->pair_allowed_fn(hs->ctx, r->peer, r->peer_static) == -EEXIST) {
		r->nak_detail = SL_REFUSED_ALREADY_PAIRED;
		hs_fail_nak(hs, out, r, now, SL_NAK_REFUSED, m[1],
			    "a pairing with this account is stored already, "
			    "and the operator did not ask to replace it");
		return false;
	}
	return true;
}

/* The operator's prompt of the SAS step we are in, if any. */
static void push_prompt(struct sl_hs_actions *out, const struct run *r)
{
	struct sl_hs_action *a;

	if (r->st == ST_P_SHOW_SAS) {
		a = hs_push(out, SL_HS_ACT_SHOW_SAS);
		memcpy(a->sas.sas, r->sas, sizeof(a->sas.sas));
	} else if (r->st == ST_R_TYPE_SAS) {
		a = hs_push(out, SL_HS_ACT_ASK_SAS);
		a->sas.attempts_left = SAS_ATTEMPTS - r->sas_misses;
	} else {
		return;
	}
	memcpy(a->sas.peer_account, r->peer, sizeof(a->sas.peer_account));
	memcpy(a->sas.peer_static, r->peer_static, SL_HS_KEY_LEN);
	a->sas.deadline = r->deadline;
}

int hs_on_pair_reveal(struct sl_hs *hs, struct run *r, const uint8_t *m,
		      size_t len, uint64_t now, struct sl_hs_actions *out)
{
	uint8_t c[SL_SHA256_LEN];
	uint8_t msg[SL_HS_MAX_MSG];
	struct sl_chunk ch[2] = {
		{ L_COMMIT, strlen(L_COMMIT) },
		{ m + 6, SL_HS_KEY_LEN },
	};
	size_t n;
	int err;

	/* The commitment, before any DH. */
	err = sl_sha256_chunks(c, ch, 2);
	if (err) {
		hs_fail_internal(hs, out, r, now);
		return 0;
	}
	if (!sl_ct_memeq(c, r->first + 8, sizeof(c))) {
		r->alert = true;
		hs_accept_in(r, m, len, true, now);
		hs_fail_nak(hs, out, r, now, SL_NAK_BAD_MESSAGE,
			    SL_MSG_PAIR_REVEAL,
			    "broken commitment: PAIR_REVEAL's key is not the "
			    "one committed to (possible man in the middle)");
		return 0;
	}
	memcpy(r->e_i, m + 6, SL_HS_KEY_LEN);
	if (!read_identity(hs, out, r, m, len, true, now))
		return 0;
	sl_hs_envelope(msg, r->ver, SL_MSG_PAIR_FINISH, r->hsid);
	err = sl_noise_write(&r->sec->noise, (const uint8_t *)hs->account,
			     SL_ACCOUNT_LEN, msg + 6, sizeof(msg) - 6, &n);
	if (!err)
		err = pairing_values(r);
	if (err) {
		hs_fail_internal(hs, out, r, now);
		return 0;
	}
	memcpy(r->out, msg, 6 + n);
	r->out_len = 6 + n;
	r->st = ST_R_TYPE_SAS;
	r->deadline = now + SL_HS_SAS_TIMEOUT_MS;
	hs_act_send(hs, out, r->out, r->out_len);
	push_prompt(out, r);
	return 0;
}

int hs_on_pair_finish(struct sl_hs *hs, struct run *r, const uint8_t *m,
		      size_t len, uint64_t now, struct sl_hs_actions *out)
{
	if (!read_identity(hs, out, r, m, len, false, now))
		return 0;
	if (pairing_values(r)) {
		hs_fail_internal(hs, out, r, now);
		return 0;
	}
	r->st = ST_P_SHOW_SAS;
	r->tx_at = 0;
	r->deadline = now + SL_HS_SAS_TIMEOUT_MS;
	push_prompt(out, r);
	return 0;
}

static void act_store(struct sl_hs *hs, struct sl_hs_actions *out,
		      struct run *r)
{
	struct sl_hs_action *a = hs_push(out, SL_HS_ACT_STORE_PEER);

	memcpy(a->store.account, r->peer, sizeof(a->store.account));
	memcpy(a->store.static_pub, r->peer_static, SL_HS_KEY_LEN);
	a->store.ltk = r->sec->ltk;
	hs_note_batch(hs, SL_HS_ACT_STORE_PEER, 0);
}

/* R: right SAS typed and PAIR_CONFIRM in: store, PAIR_DONE. */
static void pair_complete_r(struct sl_hs *hs, struct run *r, uint64_t now,
			    struct sl_hs_actions *out)
{
	uint8_t msg[SL_HS_MAX_MSG];

	if (sl_hs_seal(msg, r->ver, SL_MSG_PAIR_DONE, r->hsid, 0,
		     r->sec->c_r2i.k, NULL, 0)) {
		hs_fail_internal(hs, out, r, now);
		return;
	}
	act_store(hs, out, r);
	memcpy(r->out, msg, SEALED_LEN(0));
	r->out_len = SEALED_LEN(0);
	r->answered = true;
	r->replied_at = now;
	hs_act_send(hs, out, r->out, r->out_len);
	hs_act_done(hs, out, r, now);
	sl_wipe(&r->sec->c_i2r, sizeof(r->sec->c_i2r));
	sl_wipe(&r->sec->c_r2i, sizeof(r->sec->c_r2i));
}

int hs_on_pair_confirm(struct sl_hs *hs, struct run *r, const uint8_t *m,
		       size_t len, uint64_t now, struct sl_hs_actions *out)
{
	uint8_t none[1];

	if (sl_hs_open(m, len, r->sec->c_i2r.k, none))
		return hs_auth_failed(hs, out, r);
	/* No reply until the operator typed the SAS: copies are ignored. */
	hs_accept_in(r, m, len, false, now);
	r->confirm_in = true;
	if (r->st == ST_R_WAIT_CONFIRM)
		pair_complete_r(hs, r, now, out);
	return 0;
}

int hs_on_pair_done(struct sl_hs *hs, struct run *r, const uint8_t *m,
		    size_t len, uint64_t now, struct sl_hs_actions *out)
{
	uint8_t none[1];

	if (sl_hs_open(m, len, r->sec->c_r2i.k, none))
		return hs_auth_failed(hs, out, r);
	hs_accept_in(r, m, len, false, now);
	act_store(hs, out, r);
	hs_act_done(hs, out, r, now);
	/* The new peer is the line's; a session follows at once. */
	hs->ls.have_peer = true;
	memcpy(hs->ls.peer, r->peer, sizeof(hs->ls.peer));
	memcpy(hs->ls.peer_static, r->peer_static, SL_HS_KEY_LEN);
	memcpy(hs->sec->peer_ltk, r->sec->ltk, SL_HS_KEY_LEN);
	hs->ls.start_at = now;
	hs->ls.start_kind = SL_HS_SESSION;
	hs->ls.retry_backoff = 0;
	sl_wipe(&r->sec->c_i2r, sizeof(r->sec->c_i2r));
	sl_wipe(&r->sec->c_r2i, sizeof(r->sec->c_r2i));
	return 0;
}

/* ---- The SAS step ------------------------------------------------ */

int sl_hs_sas_confirm(struct sl_hs *hs, bool match, uint64_t now,
		      struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	int err = 0;

	hs_begin(hs, out);
	/* Either operator may refuse during the SAS step. */
	if (!match && hs_operator_step(r)) {
		r->nak_detail = SL_REFUSED_OPERATOR;
		hs_fail_nak(hs, out, r, now, SL_NAK_REFUSED,
			    r->initiator ? SL_MSG_PAIR_FINISH :
					   SL_MSG_PAIR_REVEAL,
			    "the operator refused the pairing");
		goto done;
	}
	if (r->st != ST_P_SHOW_SAS) {
		err = -EINVAL;
		goto done;
	}
	if (sl_hs_seal(r->out, r->ver, SL_MSG_PAIR_CONFIRM, r->hsid, 0,
		     r->sec->c_i2r.k, NULL, 0)) {
		hs_fail_internal(hs, out, r, now);
		goto done;
	}
	r->out_len = SEALED_LEN(0);
	r->st = ST_P_WAIT_DONE;
	hs_arm_tx(hs, r, now, SEALED_LEN(0), true);
	hs_act_send(hs, out, r->out, r->out_len);
done:
	hs_finish(hs, now, out);
	return err;
}

int sl_hs_pair_prompt(struct sl_hs *hs, uint64_t now,
		      struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	int err = 0;

	hs_begin(hs, out);
	if (!hs_in_progress(r) || r->kind != SL_HS_PAIR)
		err = -ENOENT;
	else
		push_prompt(out, r);
	hs_finish(hs, now, out);
	return err;
}

int sl_hs_sas_typed(struct sl_hs *hs, const char *typed, uint64_t now,
		    struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	char norm[SL_SAS_LEN + 1];
	int err = 0;

	hs_begin(hs, out);
	if (r->st != ST_R_TYPE_SAS) {
		err = -EALREADY;
		goto done;
	}
	if (!typed || sl_sas_normalize(norm, typed)) {
		err = -EINVAL;
		goto done;
	}
	if (!sl_ct_memeq(norm, r->sas, SL_SAS_LEN)) {
		if (++r->sas_misses >= SAS_ATTEMPTS) {
			r->alert = true;
			hs_fail_nak(hs, out, r, now, SL_NAK_SAS_MISMATCH,
				    SL_MSG_PAIR_CONFIRM,
				    "the code typed differs from this side's 3 "
				    "times");
			goto done;
		}
		push_prompt(out, r);
		goto done;
	}
	r->sas_ok = true;
	if (r->confirm_in) {
		r->st = ST_R_WAIT_CONFIRM;
		pair_complete_r(hs, r, now, out);
	} else {
		r->st = ST_R_WAIT_CONFIRM;
	}
done:
	sl_wipe(norm, sizeof(norm));
	hs_finish(hs, now, out);
	return err;
}
