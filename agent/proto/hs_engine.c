// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The protocol core of sealined (handshake.h): Documentation/handshake.rst
 * for one line, as a state machine that turns received messages, operator
 * answers and the clock into actions.
 *
 * This file: the engine's life, its actions and the end of a handshake,
 * starting one as initiator, the timer and the status. hs_internal.h
 * names the engine's other files and holds the state they share.
 *
 * Where handshake.rst leaves a choice, this code decides:
 *
 *  - A refused first message starts no handshake: its hsid does not join
 *    "the last 8 handshakes" (step 3a); a copy of the last refused one
 *    gets the same NAK (for 30 s). So a forged first message cannot make
 *    a genuine one with its hsid look like a replay.
 *  - Equal hsids of crossing first messages are recognised only for a
 *    message that passes step 3 (for SESSION_INIT: authentic), so a
 *    damaged message with our own hsid cannot abort our handshake.
 *  - A pairing crossing a session is settled by the hsid rule. A peer's
 *    first message that would be refused is refused, and ours goes on.
 *  - A new first message that passes step 3 replaces any handshake not
 *    in its SAS step, an initiator's past its first message included (the
 *    peer has evidently abandoned it); in the SAS step it gets BUSY.
 *  - REKEY_REQUEST is resent at most 5 times like any message; a copy
 *    arriving after the 10 s hold-off (which follows any completed
 *    session or rekey) counts as a request.
 *  - A responder answers a copy at most once per RTO0/2 counted from its
 *    reply itself, so a copy the line duplicated gets no second answer.
 *  - After a pairing the initiator starts the session itself (the state
 *    machine's "DONE: start a session"), through a zero-delay timer.
 *  - A peer claiming our own account or static key is BAD_MESSAGE.
 *  - Only what an honest peer never produces is flagged as a possible
 *    man-in-the-middle alert: a broken commitment, three wrong codes
 *    typed (NAK SAS_MISMATCH, sent or received) and IDENTITY_MISMATCH.
 *    A timeout, an operator saying no or leaving, a peer not armed are
 *    failures, not alerts.
 *  - The operator's pairing window (sl_hs_pair()) outlives the pairings
 *    tried in it: one that the peer did not answer, refused as not
 *    armed, or replaced by a crossing pairing of its own ends quietly
 *    (no FAILED) and, for an initiator, is tried again 3 s later.
 *  - A VERSION NAK changes only the handshake it answers (its restart):
 *    the next handshake is written in our highest version again, so a
 *    forged NAK cannot pin a line to an older version.
 *  - Every version in a test range uses version 2's layouts and SAS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/sealine.h>

#include "hs_internal.h"

/* ---- State ------------------------------------------------------- */

static const char *const state_names[] = {
	[ST_IDLE] = "idle",
	[ST_I_WAIT_RESP] = "I_WAIT_RESP",
	[ST_I_WAIT_DONE] = "I_WAIT_DONE",
	[ST_R_WAIT_CONF] = "R_WAIT_CONF",
	[ST_P_WAIT_EPH] = "P_WAIT_EPH",
	[ST_P_WAIT_FINISH] = "P_WAIT_FINISH",
	[ST_P_SHOW_SAS] = "P_SHOW_SAS",
	[ST_P_WAIT_DONE] = "P_WAIT_DONE",
	[ST_R_WAIT_REVEAL] = "R_WAIT_REVEAL",
	[ST_R_TYPE_SAS] = "R_TYPE_SAS",
	[ST_R_WAIT_CONFIRM] = "R_WAIT_CONFIRM",
	[ST_ENDED] = "ended",
};

/* ---- Small helpers ----------------------------------------------- */

/* A fresh ephemeral private key into priv (secure memory). */
int hs_new_ephemeral(struct sl_hs *hs, uint8_t priv[SL_HS_KEY_LEN])
{
	uint8_t pub[SL_HS_KEY_LEN];

	if (hs->test_random)
		return hs_random(hs, priv, SL_HS_KEY_LEN);
	return sl_x25519_keypair(priv, pub);
}

void hs_recent_add(struct sl_hs *hs, uint32_t hsid)
{
	for (unsigned int i = 0; i < hs->n_recent; i++)
		if (hs->recent[i] == hsid)
			return;
	hs->recent[hs->recent_pos] = hsid;
	hs->recent_pos = (hs->recent_pos + 1) % SL_HS_RECENT_HSIDS;
	if (hs->n_recent < SL_HS_RECENT_HSIDS)
		hs->n_recent++;
}

bool hs_recent_has(const struct sl_hs *hs, uint32_t hsid)
{
	for (unsigned int i = 0; i < hs->n_recent; i++)
		if (hs->recent[i] == hsid)
			return true;
	return false;
}

static int new_hsid(struct sl_hs *hs, uint32_t *hsid)
{
	uint8_t b[4];
	int err;

	for (int tries = 0; tries < 64; tries++) {
		err = hs_random(hs, b, sizeof(b));
		if (err)
			return err;
		*hsid = sl_get32(b);
		if (*hsid && !hs_recent_has(hs, *hsid))
			return 0;
	}
	return -EIO;
}

/* The wipe of a run's secrets and the reset of everything else. */
void hs_run_clear(struct run *r)
{
	struct run_secrets *sec = r->sec;

	sl_wipe(sec, sizeof(*sec));
	memset(r, 0, sizeof(*r));
	r->sec = sec;
}

int hs_derive(const struct sl_noise_hs *n, const char *label,
	      uint8_t *out, size_t len)
{
	return sl_hkdf(out, len, n->ss.ck, SL_NOISE_HASH_LEN, n->ss.h,
		       SL_NOISE_HASH_LEN, label, strlen(label));
}

/* ---- Actions ----------------------------------------------------- */

struct sl_hs_action *hs_push(struct sl_hs_actions *out,
			     enum sl_hs_act type)
{
	static _Thread_local struct sl_hs_action overflow;
	struct sl_hs_action *a;

	/* Cannot happen: no path makes more than SL_HS_MAX_ACTIONS. */
	if (out->n >= SL_HS_MAX_ACTIONS) {
		a = &overflow;
	} else {
		a = &out->a[out->n++];
	}
	memset(a, 0, sizeof(*a));
	a->type = type;
	return a;
}

void hs_act_send(struct sl_hs *hs, struct sl_hs_actions *out,
		 const uint8_t *msg, size_t len)
{
	struct sl_hs_action *a = hs_push(out, SL_HS_ACT_SEND);

	memcpy(a->send.msg, msg, len);
	a->send.len = len;
	a->send.type = msg[1];
	hs->stats.tx++;
}

void hs_note_batch(struct sl_hs *hs, enum sl_hs_act type, uint32_t epoch)
{
	if (hs->n_batch < sizeof(hs->batch) / sizeof(hs->batch[0])) {
		hs->batch[hs->n_batch].type = type;
		hs->batch[hs->n_batch].epoch = epoch;
		hs->n_batch++;
	}
	hs->batch_hsid = hs->cur->hsid;
}

static void apply_stage(struct line_state *ls, uint32_t epoch)
{
	ls->epoch_staged = epoch;
	if (epoch >= ls->epoch_next)
		ls->epoch_next = epoch == UINT32_MAX ? UINT32_MAX : epoch + 1;
}

static void apply_activate(struct line_state *ls, uint32_t epoch)
{
	if (ls->epoch_cur == epoch)
		return;
	ls->epoch_prev = ls->epoch_cur;
	ls->epoch_cur = epoch;
	if (ls->epoch_staged == epoch)
		ls->epoch_staged = 0;
}

/*
 * The keys of a session (the run's kk and cc, both directions i2r || r2i)
 * go out in our own direction: tx is what we send under.
 */
void hs_act_stage(struct sl_hs *hs, struct sl_hs_actions *out,
		  struct run *r)
{
	struct sl_hs_action *a = hs_push(out, SL_HS_ACT_STAGE_KEY);
	size_t tx = r->initiator ? 0 : SL_HS_KEY_LEN;
	size_t rx = r->initiator ? SL_HS_KEY_LEN : 0;

	a->stage.cipher = r->cipher;
	a->stage.epoch = r->epoch;
	a->stage.hsid = r->hsid;
	a->stage.tx = r->sec->kk + tx;
	a->stage.rx = r->sec->kk + rx;
	a->stage.courier_tx = r->sec->cc + tx;
	a->stage.courier_rx = r->sec->cc + rx;
	r->keys_out = true;
	apply_stage(&hs->ls, r->epoch);
	hs_note_batch(hs, SL_HS_ACT_STAGE_KEY, r->epoch);
}

void hs_act_activate(struct sl_hs *hs, struct sl_hs_actions *out,
		     uint32_t epoch)
{
	hs_push(out, SL_HS_ACT_ACTIVATE_KEY)->activate.epoch = epoch;
	apply_activate(&hs->ls, epoch);
	hs_note_batch(hs, SL_HS_ACT_ACTIVATE_KEY, epoch);
}

static void fill_result(struct sl_hs_result *res, const struct run *r,
			uint64_t now)
{
	res->kind = r->kind;
	res->initiator = r->initiator;
	res->hsid = r->hsid;
	res->version = r->ver;
	if (r->have_peer)
		memcpy(res->peer_account, r->peer, sizeof(res->peer_account));
	res->elapsed_ms = now >= r->started ? now - r->started : 0;
	res->auth_failures = r->auth_failures;
}

/*
 * A NAK: its bytes into nak (SL_HS_NAK_LEN), a SEND unless one went out
 * less than a second ago, and its log record.
 */
void hs_send_nak(struct sl_hs *hs, struct sl_hs_actions *out,
		 uint64_t now, uint32_t hsid, uint8_t ver, uint8_t reason,
		 uint8_t detail, uint8_t ref_type, bool ended, bool alert,
		 const char *peer, uint8_t nak[SL_HS_NAK_LEN])
{
	struct sl_hs_action *a;
	bool limited = hs->nak_sent &&
		       now - hs->last_nak_at < SL_HS_NAK_INTERVAL_MS;

	sl_hs_envelope(nak, ver ? ver : hs->ver_max, SL_MSG_NAK, hsid);
	nak[6] = reason;
	nak[7] = detail;
	nak[8] = hs->ver_min;
	nak[9] = hs->ver_max;
	nak[10] = ref_type;
	if (!limited) {
		hs_act_send(hs, out, nak, SL_HS_NAK_LEN);
		hs->last_nak_at = now;
		hs->nak_sent = true;
		hs->stats.naks_sent++;
	}
	a = hs_push(out, SL_HS_ACT_NAK);
	a->nak.sent = true;
	a->nak.ended = ended;
	a->nak.rate_limited = limited;
	a->nak.alert = alert;
	a->nak.hsid = hsid;
	a->nak.reason = reason;
	a->nak.detail = detail;
	a->nak.ver_min = hs->ver_min;
	a->nak.ver_max = hs->ver_max;
	a->nak.ref_type = ref_type;
	if (peer)
		memcpy(a->nak.peer_account, peer, SL_ACCOUNT_LEN + 1);
}

static bool operator_reason(uint8_t reason)
{
	switch (reason) {
	case SL_NAK_VERSION:
	case SL_NAK_UNKNOWN_PEER:
	case SL_NAK_REVOKED:
	case SL_NAK_NOT_AUTHORISED:
	case SL_NAK_SAS_MISMATCH:
	case SL_NAK_IDENTITY_MISMATCH:
		return true;
	}
	return false;
}

static uint32_t backoff_next(uint32_t cur, uint32_t first)
{
	if (!cur)
		return first;
	return cur >= SL_HS_RETRY_MAX_MS / 2 ? SL_HS_RETRY_MAX_MS : cur * 2;
}

/*
 * The end of a handshake that did not complete: FAILED, the run lingers
 * to answer copies, its secrets are wiped, retries are scheduled.
 */
void hs_end_failed(struct sl_hs *hs, struct sl_hs_actions *out,
		   struct run *r, uint64_t now, uint8_t reason,
		   bool remote, const char *text, unsigned int flags)
{
	struct sl_hs_action quiet = { 0 };
	struct sl_hs_action *a = &quiet;
	struct run_secrets *sec = r->sec;

	if ((flags & END_WINDOW) && r->kind == SL_HS_PAIR && hs->win.open &&
	    now < hs->win.until) {
		flags |= END_QUIET | END_NO_RETRY;
		if (hs->win.initiate) {
			hs->ls.start_at = now + SL_HS_PAIR_RETRY_MS;
			if (hs->ls.start_at > hs->win.until)
				hs->ls.start_at = hs->win.until;
			hs->ls.start_kind = SL_HS_PAIR;
		}
		if (reason == SL_NAK_NOT_ARMED || reason == SL_NAK_TIMEOUT)
			hs_pair_wait(hs, out, reason);
	} else if (!(flags & END_QUIET) && r->kind == SL_HS_PAIR) {
		hs_window_close(hs);
	}
	if (!(flags & END_QUIET))
		a = hs_push(out, SL_HS_ACT_FAILED);
	fill_result(&a->result, r, now);
	a->result.reason = reason;
	a->result.detail = r->nak_detail;
	a->result.ver_min = remote ? r->nak_ver[0] : hs->ver_min;
	a->result.ver_max = remote ? r->nak_ver[1] : hs->ver_max;
	a->result.remote = remote;
	a->result.alert = r->alert || reason == SL_NAK_SAS_MISMATCH ||
			  reason == SL_NAK_IDENTITY_MISMATCH;
	a->result.text = text;
	if (!(flags & END_QUIET))
		hs->stats.failed++;

	if (r->initiator && !(flags & END_NO_RETRY)) {
		if (r->kind == SL_HS_REKEY && hs->ls.key.valid &&
		    hs->ls.key.initiator) {
			hs->ls.rekey_backoff = backoff_next(
				hs->ls.rekey_backoff, SL_HS_REKEY_RETRY_MS);
			hs->ls.rekey_at = now + hs->ls.rekey_backoff;
			a->result.retry_at = hs->ls.rekey_at;
		} else if (r->kind == SL_HS_SESSION && hs->direct_line &&
			   (!operator_reason(reason) || remote) &&
			   hs->ls.have_peer) {
			/* A NAK that needs an operator may be forged (NAKs
			 * are unauthenticated): it slows the retries to the
			 * longest interval, it never stops them. */
			hs->ls.retry_backoff = operator_reason(reason) ?
				SL_HS_RETRY_MAX_MS :
				backoff_next(hs->ls.retry_backoff,
					     SL_HS_RETRY_MS);
			hs->ls.start_at = now + hs->ls.retry_backoff;
			hs->ls.start_kind = SL_HS_SESSION;
			a->result.retry_at = hs->ls.start_at;
		}
	}

	r->st = ST_ENDED;
	r->tx_at = 0;
	r->linger_until = now + SL_HS_LINGER_MS;
	if (!r->keys_out)
		sl_wipe(sec, sizeof(*sec));
	else	/* kk and cc go on the next call, when SET_KEY has them */
		sl_wipe(&sec->noise, sizeof(sec->noise));
}

/* The end of a handshake with a NAK of ours. */
void hs_fail_nak(struct sl_hs *hs, struct sl_hs_actions *out,
		 struct run *r, uint64_t now, uint8_t reason,
		 uint8_t ref_type, const char *text)
{
	uint8_t nak[SL_HS_NAK_LEN];
	bool alert = r->alert || reason == SL_NAK_SAS_MISMATCH ||
		     reason == SL_NAK_IDENTITY_MISMATCH;

	hs_send_nak(hs, out, now, r->hsid, r->ver, reason, r->nak_detail,
		    ref_type, true, alert, r->have_peer ? r->peer : NULL, nak);
	/* A copy of the refused message gets the same NAK. */
	memcpy(r->out, nak, sizeof(nak));
	r->out_len = sizeof(nak);
	r->answered = !r->initiator;
	r->replied_at = 0;		/* NAKs have their own limit */
	hs_end_failed(hs, out, r, now, reason, false, text, 0);
}

int hs_auth_failed(struct sl_hs *hs, struct sl_hs_actions *out,
		   struct run *r)
{
	r->auth_failures++;
	hs->stats.auth_failures++;
	return hs_drop(hs, out, "failed authentication");
}

void hs_fail_internal(struct sl_hs *hs, struct sl_hs_actions *out,
		      struct run *r, uint64_t now)
{
	hs_fail_nak(hs, out, r, now, SL_NAK_INTERNAL, 0,
		    "local failure (secure memory or crypto)");
}

/* ---- Engine life ------------------------------------------------- */

static int set_ciphers(struct sl_hs *hs, const uint8_t *c)
{
	hs->n_ciphers = 0;
	hs->offered = 0;
	for (int i = 0; i < SL_HS_MAX_CIPHERS && c[i]; i++) {
		if (c[i] != SEALINE_CIPHER_CHACHA20POLY1305 &&
		    c[i] != SEALINE_CIPHER_AES256GCM)
			return -EINVAL;
		if (hs->offered & (1u << (c[i] - 1)))
			return -EINVAL;
		hs->ciphers[hs->n_ciphers++] = c[i];
		hs->offered |= (uint8_t)(1u << (c[i] - 1));
	}
	if (!hs->n_ciphers) {
		hs->ciphers[hs->n_ciphers++] = SEALINE_CIPHER_CHACHA20POLY1305;
		hs->offered = 1;
	}
	return 0;
}

struct sl_hs *sl_hs_new(const struct sl_hs_config *cfg, int *errp)
{
	struct sl_hs *hs;
	int err = -EINVAL;

	if (!cfg || !cfg->static_priv || !sl_is_account(cfg->account))
		goto fail0;
	if ((cfg->ver_min || cfg->ver_max) &&
	    (!cfg->ver_min || cfg->ver_min > cfg->ver_max))
		goto fail0;
	if (cfg->expected_peer && !sl_is_account(cfg->expected_peer))
		goto fail0;
	err = -ENOMEM;
	hs = calloc(1, sizeof(*hs));
	if (!hs)
		goto fail0;
	hs->sec = sl_secure_alloc(sizeof(*hs->sec));
	if (!hs->sec)
		goto fail1;

	sl_copy_account(hs->account, cfg->account);
	memcpy(hs->sec->s, cfg->static_priv, SL_HS_KEY_LEN);
	err = sl_x25519_public(hs->s_pub, hs->sec->s);
	if (err)
		goto fail2;
	hs->ver_min = cfg->ver_min ? cfg->ver_min : SL_HS_VERSION;
	hs->ver_max = cfg->ver_max ? cfg->ver_max : SL_HS_VERSION;
	err = set_ciphers(hs, cfg->ciphers);
	if (err)
		goto fail2;
	hs->ls.epoch_next = cfg->epoch_next ? cfg->epoch_next : 1;
	hs->ls.epoch_cur = cfg->epoch_cur;
	hs->ls.epoch_prev = cfg->epoch_prev;
	hs->ls.epoch_staged = cfg->epoch_staged;
	hs->baud = cfg->baud;
	hs->rekey_interval = cfg->rekey_interval_ms ? cfg->rekey_interval_ms :
				SL_HS_REKEY_INTERVAL_MS;
	hs->direct_line = cfg->direct_line;
	hs->pair_enabled = cfg->pair_enabled;
	if (cfg->expected_peer) {
		hs->have_expected = true;
		sl_copy_account(hs->expected, cfg->expected_peer);
	}
	hs->peer_fn = cfg->peer_fn;
	hs->key_epoch_fn = cfg->key_epoch_fn;
	hs->pair_allowed_fn = cfg->pair_allowed_fn;
	hs->ctx = cfg->ctx;
	hs->test_random = cfg->test_random;
	hs->test_ctx = cfg->test_ctx;

	hs->runs[0].sec = &hs->sec->run[0];
	hs->runs[1].sec = &hs->sec->run[1];
	hs->cur = &hs->runs[0];
	hs->spare = &hs->runs[1];
	if (errp)
		*errp = 0;
	return hs;
fail2:
	sl_secure_free(hs->sec, sizeof(*hs->sec));
fail1:
	free(hs);
fail0:
	if (errp)
		*errp = err;
	return NULL;
}

void sl_hs_free(struct sl_hs *hs)
{
	if (!hs)
		return;
	sl_secure_free(hs->sec, sizeof(*hs->sec));
	sl_wipe(hs, sizeof(*hs));
	free(hs);
}

int sl_hs_set_expected_peer(struct sl_hs *hs, const char *account)
{
	if (!account) {
		hs->have_expected = false;
		return 0;
	}
	if (!sl_is_account(account))
		return -EINVAL;
	hs->have_expected = true;
	sl_copy_account(hs->expected, account);
	return 0;
}

/* Kernel keys and LTKs that actions pointed to: gone. */
static void wipe_handed_out(struct sl_hs *hs)
{
	for (int i = 0; i < 2; i++) {
		struct run *r = &hs->runs[i];

		if (r->keys_out) {
			sl_wipe(r->sec->kk, sizeof(r->sec->kk));
			sl_wipe(r->sec->cc, sizeof(r->sec->cc));
			r->keys_out = false;
			if (r->st == ST_ENDED)
				sl_wipe(r->sec, sizeof(*r->sec));
		}
		/* A pairing's LTK is wiped once stored (or abandoned). */
		if (r->st == ST_ENDED)
			sl_wipe(r->sec->ltk, sizeof(r->sec->ltk));
	}
}

void sl_hs_actions_done(struct sl_hs *hs)
{
	if (hs)
		wipe_handed_out(hs);
}

/*
 * Every call starts here: the kernel keys handed out by the previous call
 * are wiped (SET_KEY has them), and the line state is saved for
 * sl_hs_action_failed().
 */
void hs_begin(struct sl_hs *hs, struct sl_hs_actions *out)
{
	wipe_handed_out(hs);
	hs->snap = hs->ls;
	hs->sec->snap_i2r = hs->sec->key_i2r;
	hs->sec->snap_r2i = hs->sec->key_r2i;
	memcpy(hs->sec->snap_peer_ltk, hs->sec->peer_ltk, SL_HS_KEY_LEN);
	hs->n_batch = 0;
	hs->batch_done = false;
	memset(out, 0, sizeof(*out));
}

/* Every call ends here: when to call sl_hs_timer() next. */
int hs_finish(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	uint64_t t = 0;

	(void)now;
	if (hs_in_progress(r)) {
		t = sl_min_timer(t, r->deadline);
		t = sl_min_timer(t, r->tx_at);
	} else {
		t = sl_min_timer(t, hs->ls.start_at);
		if (hs->ls.key.valid && hs->ls.key.initiator)
			t = sl_min_timer(t, hs->ls.rekey_at);
		if (hs->win.open)
			t = sl_min_timer(t, hs->win.until);
	}
	if (hs->ls.key.rr.active)
		t = sl_min_timer(t, hs->ls.key.rr.tx_at);
	if (hs->close.active)
		t = sl_min_timer(t, hs->close.tx_at);
	out->next_timer = t;
	if (hs->refusal.valid && now >= hs->refusal.until)
		hs->refusal.valid = false;
	return 0;
}

int hs_drop(struct sl_hs *hs, struct sl_hs_actions *out, const char *why)
{
	hs->stats.dropped++;
	out->dropped = why;
	return 0;
}

/* ---- Starting as initiator --------------------------------------- */

void hs_arm_tx(struct sl_hs *hs, struct run *r, uint64_t now,
	       size_t reply_len, bool unlimited)
{
	r->rto0 = hs_rto0(hs, r->out_len, reply_len);
	r->rto = r->rto0;
	r->sends = 1;
	r->unlimited = unlimited;
	r->tx_at = now + r->rto;
}

/*
 * Makes the spare run the current one (the old one is wiped) and records
 * its hsid.
 */
void hs_promote_spare(struct sl_hs *hs)
{
	struct run *old = hs->cur;

	hs->cur = hs->spare;
	hs->spare = old;
	/* The old run's kernel keys may still be in a STAGE_KEY action of
	 * this very call: hs_begin() wipes them with the rest next time. */
	if (!old->keys_out)
		hs_run_clear(old);
	hs_recent_add(hs, hs->cur->hsid);
}

/*
 * A new handshake as initiator in the spare run, then current, written
 * in version ver (our highest, unless a VERSION NAK restarts it).
 */
int hs_start_ver(struct sl_hs *hs, enum sl_hs_kind kind, uint8_t ver,
		 uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->spare;
	int err;

	if (hs_in_progress(hs->cur))
		return -EBUSY;
	hs_run_clear(r);
	r->kind = kind;
	r->initiator = true;
	r->ver = ver;
	r->started = now;
	r->deadline = now + SL_HS_DEADLINE_MS;
	err = new_hsid(hs, &r->hsid);
	if (!err)
		err = kind == SL_HS_PAIR ? hs_start_pair(hs, r, now) :
					   hs_start_session(hs, r, now);
	if (err) {
		hs_run_clear(r);
		return err;
	}
	hs->ls.start_at = 0;
	if (kind == SL_HS_REKEY)
		hs->ls.rekey_at = 0;
	hs_promote_spare(hs);
	hs_act_send(hs, out, r->out, r->out_len);
	return 0;
}

int hs_start(struct sl_hs *hs, enum sl_hs_kind kind, uint64_t now,
	     struct sl_hs_actions *out)
{
	return hs_start_ver(hs, kind, hs->ver_max, now, out);
}

/* ---- Completion -------------------------------------------------- */

void hs_act_done(struct sl_hs *hs, struct sl_hs_actions *out,
		 struct run *r, uint64_t now)
{
	struct sl_hs_action *a = hs_push(out, SL_HS_ACT_DONE);

	if (r->kind == SL_HS_PAIR)
		hs_window_close(hs);

	fill_result(&a->result, r, now);
	if (r->kind != SL_HS_PAIR) {
		a->result.epoch = r->epoch;
		a->result.cipher = r->cipher;
	}
	a->result.text = "completed";
	hs->stats.completed++;
	hs->batch_done = true;
	r->st = ST_ENDED;
	r->tx_at = 0;
	r->linger_until = now + SL_HS_LINGER_MS;
}

/* ---- Entry points ------------------------------------------------ */

static uint8_t awaited(const struct run *r)
{
	if (r->st == ST_P_SHOW_SAS || (r->st == ST_R_TYPE_SAS && r->confirm_in))
		return 0;	/* an operator */
	return hs_expected_type(r);
}

static void deadline(struct sl_hs *hs, struct run *r, uint64_t now,
		     struct sl_hs_actions *out)
{
	uint32_t epoch;

	/* I: SESSION_DONE may be all that was lost. */
	if (r->st == ST_I_WAIT_DONE && hs->key_epoch_fn &&
	    !hs->key_epoch_fn(hs->ctx, &epoch) && epoch == r->epoch) {
		hs_session_complete_i(hs, r, now, out);
		return;
	}
	/* Nobody answered an operator's PAIR_COMMIT: waiting goes on. */
	if (r->kind == SL_HS_PAIR && r->initiator && hs_first_wait(r) &&
	    hs->win.open) {
		hs_end_failed(hs, out, r, now, SL_NAK_TIMEOUT, false,
			      "no answer to PAIR_COMMIT", END_WINDOW);
		return;
	}
	hs_fail_nak(hs, out, r, now, SL_NAK_TIMEOUT, awaited(r),
		    r->kind == SL_HS_PAIR && r->sas[0] ?
		    "no decision on the code in time" :
		    "deadline: no answer in time");
}

static void retransmit(struct sl_hs *hs, struct run *r, uint64_t now,
		       struct sl_hs_actions *out)
{
	uint32_t epoch;

	if (r->st == ST_I_WAIT_DONE && hs->key_epoch_fn &&
	    !hs->key_epoch_fn(hs->ctx, &epoch) && epoch == r->epoch) {
		hs_session_complete_i(hs, r, now, out);
		return;
	}
	if (!r->unlimited && r->sends >= SL_HS_MAX_SENDS) {
		r->tx_at = 0;
		return;
	}
	hs_act_send(hs, out, r->out, r->out_len);
	r->sends++;
	r->rto = r->rto >= SL_HS_RTO_MAX_MS / 2 ? SL_HS_RTO_MAX_MS :
						  r->rto * 2;
	if (r->rto < r->rto0)
		r->rto = r->rto0;
	r->tx_at = !r->unlimited && r->sends >= SL_HS_MAX_SENDS ? 0 :
		   now + r->rto;
}

int sl_hs_timer(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	struct key_rec *k = &hs->ls.key;

	hs_begin(hs, out);
	if (hs_in_progress(r)) {
		if (now >= r->deadline)
			deadline(hs, r, now, out);
		else if (r->tx_at && now >= r->tx_at)
			retransmit(hs, r, now, out);
	}
	hs_resend_due(hs, out, &k->rr, now);
	hs_resend_due(hs, out, &hs->close, now);
	if (hs->win.open && !hs_in_progress(hs->cur) && now >= hs->win.until)
		hs_window_expired(hs, now, out);
	if (!hs_in_progress(hs->cur) && hs->ls.start_at &&
	    now >= hs->ls.start_at) {
		enum sl_hs_kind kind = hs->ls.start_kind;

		hs->ls.start_at = 0;
		if (kind == SL_HS_PAIR ? hs->win.open && hs->win.initiate :
					 hs->ls.have_peer)
			hs_start(hs, kind == SL_HS_PAIR ? kind :
					 hs_session_kind(hs), now, out);
	}
	if (!hs_in_progress(hs->cur) && k->valid && k->initiator &&
	    hs->ls.rekey_at && now >= hs->ls.rekey_at) {
		hs->ls.rekey_at = 0;
		hs_start_rekey(hs, now, out);
	}
	return hs_finish(hs, now, out);
}

int sl_hs_action_failed(struct sl_hs *hs, enum sl_hs_act type, int err,
			uint64_t now, struct sl_hs_actions *out)
{
	struct line_state ls = hs->snap;
	struct run *r = hs->cur;
	unsigned int n = hs->n_batch;
	struct sl_noise_cipher *i2r, *r2i;

	bool was_done = hs->batch_done;

	(void)err;
	if (type != SL_HS_ACT_STAGE_KEY && type != SL_HS_ACT_ACTIVATE_KEY &&
	    type != SL_HS_ACT_STORE_PEER)
		return -EINVAL;
	/* Only the list of the last call, from the handshake it was for. */
	if (!n || r->hsid != hs->batch_hsid)
		return -EINVAL;

	/* The line as it was before the failed batch, plus the key actions
	 * that succeeded before the failing one. */
	i2r = sl_secure_alloc(sizeof(*i2r));
	r2i = sl_secure_alloc(sizeof(*r2i));
	if (!i2r || !r2i) {
		sl_secure_free(i2r, sizeof(*i2r));
		sl_secure_free(r2i, sizeof(*r2i));
		return -ENOMEM;
	}
	*i2r = hs->sec->snap_i2r;
	*r2i = hs->sec->snap_r2i;
	hs->ls = ls;
	hs->sec->key_i2r = *i2r;
	hs->sec->key_r2i = *r2i;
	memcpy(hs->sec->peer_ltk, hs->sec->snap_peer_ltk, SL_HS_KEY_LEN);
	sl_secure_free(i2r, sizeof(*i2r));
	sl_secure_free(r2i, sizeof(*r2i));
	for (unsigned int i = 0; i < n && hs->batch[i].type != type; i++) {
		if (hs->batch[i].type == SL_HS_ACT_STAGE_KEY)
			apply_stage(&hs->ls, hs->batch[i].epoch);
		else if (hs->batch[i].type == SL_HS_ACT_ACTIVATE_KEY)
			apply_activate(&hs->ls, hs->batch[i].epoch);
	}

	hs_begin(hs, out);
	/* If it completed in that list, it failed after all. */
	if (was_done)
		hs->stats.completed--;
	r->tx_at = 0;
	hs_fail_nak(hs, out, r, now, SL_NAK_INTERNAL, 0,
		    type == SL_HS_ACT_STORE_PEER ? "storing the peer failed" :
		    "installing the key failed");
	return hs_finish(hs, now, out);
}

int sl_hs_abort(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out)
{
	hs_begin(hs, out);
	if (hs_in_progress(hs->cur))
		hs_end_failed(hs, out, hs->cur, now, SL_NAK_NONE, false,
			      "aborted (line down or operator)", END_NO_RETRY);
	hs->ls.start_at = 0;
	hs->ls.key.rr.active = false;
	return hs_finish(hs, now, out);
}

void sl_hs_get_status(const struct sl_hs *hs, uint64_t now,
		      struct sl_hs_status *st)
{
	const struct run *r = hs->cur;

	memset(st, 0, sizeof(*st));
	st->state = state_names[r->st];
	st->busy = hs_in_progress(r);
	st->kind = r->kind;
	st->initiator = r->initiator;
	st->hsid = r->hsid;
	if (r->have_peer)
		memcpy(st->peer_account, r->peer, sizeof(st->peer_account));
	st->keyed = hs->ls.keyed;
	st->key_initiator = hs->ls.key.valid && hs->ls.key.initiator;
	st->epoch_cur = hs->ls.epoch_cur;
	st->epoch_prev = hs->ls.epoch_prev;
	st->epoch_staged = hs->ls.epoch_staged;
	st->epoch_next = hs->ls.epoch_next;
	if (hs->ls.key.valid) {
		st->cipher = hs->ls.key.cipher;
		memcpy(st->key_peer, hs->ls.key.peer, sizeof(st->key_peer));
	}
	st->pair_armed = hs->pair_enabled ||
			 (hs->win.open && hs->win.respond && now < hs->win.until);
	st->pair_until = hs->win.open ? hs->win.until : 0;
	st->rx = hs->stats.rx;
	st->tx = hs->stats.tx;
	st->dropped = hs->stats.dropped;
	st->auth_failures = hs->stats.auth_failures;
	st->naks_sent = hs->stats.naks_sent;
	st->naks_received = hs->stats.naks_received;
	st->completed = hs->stats.completed;
	st->failed = hs->stats.failed;
}
