// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The protocol core of sealined (handshake.h): Documentation/handshake.rst
 * for one line, as a state machine that turns received messages, operator
 * answers and the clock into actions.
 *
 * Layout: one engine per line holds the handshake in progress (or the one
 * that just ended, lingering to answer late copies) in "cur", a "spare"
 * run in which a new first message from the peer is processed before it
 * may replace cur, the current key's handshake (its Noise CipherStates,
 * for REKEY_REQUEST), the line's epochs, the last 8 hsids, the last NAK
 * that refused a first message, and the rekey/retry timers. All secrets
 * are in one block of secure memory (struct hs_secrets).
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

#include <gcrypt.h>
#include <linux/sealine.h>

#include "crypto.h"
#include "handshake.h"
#include "hs_common.h"
#include "noise.h"

/* Sealed messages: envelope, seq, ciphertext, tag. */
#define SEALED_LEN(p)	(SL_HS_SEALED_AD_LEN + (p) + SL_NOISE_TAG_LEN)

/* Labels of the derived values (handshake.rst, "Cryptography"). */
#define PROLOGUE	"sealine"
#define L_COMMIT	"sealine v1 commit"
#define L_SAS		"sealine v2 SAS"
#define L_LTK		"sealine v1 LTK"
#define L_KEYS		"sealine v1 kernel keys"

#define SAS_ATTEMPTS	3

/* ---- State ------------------------------------------------------- */

enum state {
	ST_IDLE = 0,
	ST_I_WAIT_RESP,
	ST_I_WAIT_DONE,
	ST_R_WAIT_CONF,
	ST_P_WAIT_EPH,
	ST_P_WAIT_FINISH,
	ST_P_SHOW_SAS,
	ST_P_WAIT_DONE,
	ST_R_WAIT_REVEAL,
	ST_R_TYPE_SAS,
	ST_R_WAIT_CONFIRM,
	ST_ENDED,
};

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

/* The secrets of one handshake. */
struct run_secrets {
	struct sl_noise_hs noise;
	struct sl_noise_cipher c_i2r, c_r2i;
	uint8_t kk[2 * SL_HS_KEY_LEN];	/* k_i2r || k_r2i */
	uint8_t ltk[SL_HS_KEY_LEN];	/* pairing: derived; session: psk */
	uint8_t e[SL_HS_KEY_LEN];	/* our ephemeral private key */
};

struct hs_secrets {
	uint8_t s[SL_HS_KEY_LEN];		/* our static private key */
	struct run_secrets run[2];
	struct sl_noise_cipher key_i2r, key_r2i;	/* current key's */
	struct sl_noise_cipher snap_i2r, snap_r2i;	/* sl_hs_action_failed */
	uint8_t peer_ltk[SL_HS_KEY_LEN];	/* the peer we connect to */
	uint8_t snap_peer_ltk[SL_HS_KEY_LEN];
};

struct run {
	enum state st;
	enum sl_hs_kind kind;
	bool initiator;
	uint32_t hsid;
	uint8_t ver;
	uint64_t started, deadline, linger_until;

	/* Retransmission of out (initiator). */
	uint64_t tx_at;
	uint32_t rto0, rto;
	unsigned int sends;
	bool unlimited;

	/* The last message sent and the last one accepted. */
	uint8_t out[SL_HS_MAX_MSG];
	size_t out_len;
	uint8_t in[SL_HS_MAX_MSG];
	size_t in_len;
	bool answered;			/* out is the reply to in */
	uint64_t replied_at;		/* out last sent as a reply */

	bool have_peer;
	char peer[SL_ACCOUNT_LEN + 1];
	uint8_t peer_static[SL_HS_KEY_LEN];

	/* Session. */
	uint8_t cipher;
	uint32_t epoch;

	/* Pairing: what the SAS covers (sl_hs_pair_sas()). */
	uint8_t first[40];			/* PAIR_COMMIT, prologue */
	uint8_t e_r[SL_HS_KEY_LEN], e_i[SL_HS_KEY_LEN];
	char sas[SL_SAS_LEN + 1];
	unsigned int sas_misses;
	bool sas_ok;				/* R: typed right */
	bool confirm_in;			/* R: PAIR_CONFIRM authentic */
	bool alert;				/* failure is an alert */
	uint8_t nak_detail;			/* of the NAK that ends it */
	uint8_t nak_ver[2];			/* a received NAK's range */
	bool ver_retried;			/* restarted after NAK VERSION */

	unsigned int auth_failures;
	bool keys_out;		/* kk handed out: wipe on the next call */
	struct run_secrets *sec;
};

/*
 * A sealed message on the current key (REKEY_REQUEST, SESSION_CLOSE),
 * resent on its own timer, at most SL_HS_MAX_SENDS times.
 */
struct resend {
	bool active;
	uint8_t msg[24];
	uint64_t tx_at;
	uint32_t rto;
	unsigned int sends;
};

/* The handshake that made the current key. */
struct key_rec {
	bool valid;
	bool initiator;
	uint32_t hsid;
	uint8_t ver;
	uint32_t epoch;
	uint8_t cipher;
	char peer[SL_ACCOUNT_LEN + 1];
	uint64_t done_at;
	enum sl_hs_kind kind;

	/* Sealed messages on the key's CipherStates after the handshake
	 * (REKEY_REQUEST, SESSION_CLOSE): the last seq accepted in the
	 * direction we receive, and the next one we send on c_i2r (the
	 * handshake itself used seq 0 each way). */
	uint8_t rx_last;
	uint8_t tx_next;
	/* Initiator: the last REKEY_REQUEST read (its copies). */
	uint8_t rr_in[24];
	bool rr_in_valid;

	/* Responder: its REKEY_REQUEST. */
	struct resend rr;
};

/* What sl_hs_action_failed() restores. */
struct line_state {
	uint32_t epoch_next, epoch_cur, epoch_prev, epoch_staged;
	bool keyed;
	struct key_rec key;
	bool have_peer;
	char peer[SL_ACCOUNT_LEN + 1];
	uint8_t peer_static[SL_HS_KEY_LEN];
	uint64_t rekey_at, start_at;
	enum sl_hs_kind start_kind;
	uint32_t rekey_backoff, retry_backoff;
};

/* The operator's pairing window (sl_hs_pair()). */
struct pair_window {
	bool open;
	bool initiate, respond;
	uint64_t until;
	uint8_t waiting;		/* last PAIR_WAIT reason, 0: none */
};

struct sl_hs {
	char account[SL_ACCOUNT_LEN + 1];
	uint8_t s_pub[SL_HS_KEY_LEN];
	uint8_t ver_min, ver_max;
	uint8_t ciphers[SL_HS_MAX_CIPHERS];
	unsigned int n_ciphers;
	uint8_t offered;		/* bit c-1 per cipher c */
	unsigned int baud;
	uint32_t rekey_interval;	/* UINT32_MAX: never */
	bool direct_line, pair_enabled;
	bool have_expected;
	char expected[SL_ACCOUNT_LEN + 1];
	sl_hs_peer_fn peer_fn;
	sl_hs_key_epoch_fn key_epoch_fn;
	sl_hs_pair_allowed_fn pair_allowed_fn;
	void *ctx;
	sl_hs_random_fn test_random;
	void *test_ctx;

	struct hs_secrets *sec;
	struct run runs[2];
	struct run *cur, *spare;

	struct line_state ls, snap;
	/* Key actions of the last batch, replayed by action_failed. */
	struct {
		enum sl_hs_act type;
		uint32_t epoch;
	} batch[4];
	unsigned int n_batch;
	uint32_t batch_hsid;
	bool batch_done;	/* the batch completed a handshake */

	struct pair_window win;
	struct resend close;
	uint64_t last_nak_at;
	bool nak_sent;

	uint32_t recent[SL_HS_RECENT_HSIDS];
	unsigned int n_recent, recent_pos;

	struct {
		bool valid;
		uint32_t hsid;
		uint8_t in[SL_HS_MAX_MSG];
		size_t in_len;
		uint8_t nak[SL_HS_NAK_LEN];
		uint64_t until;
	} refusal;

	struct {
		uint64_t rx, tx, dropped, auth_failures, naks_sent,
			 naks_received, completed, failed;
	} stats;
};

/* ---- Small helpers ----------------------------------------------- */

static int get_random(struct sl_hs *hs, uint8_t *buf, size_t len)
{
	return sl_hs_random(hs->test_random, hs->test_ctx, buf, len);
}

/* A fresh ephemeral private key into priv (secure memory). */
static int new_ephemeral(struct sl_hs *hs, uint8_t priv[SL_HS_KEY_LEN])
{
	uint8_t pub[SL_HS_KEY_LEN];

	if (hs->test_random)
		return get_random(hs, priv, SL_HS_KEY_LEN);
	return sl_x25519_keypair(priv, pub);
}

/* RTO0 = max(1 s, 4 x 10 x (wire bytes of both) / baud), in ms. */
static uint32_t rto0(const struct sl_hs *hs, size_t msg, size_t reply)
{
	return sl_hs_rto0(hs->baud, msg, reply, UINT32_MAX / 4);
}

static bool in_progress(const struct run *r)
{
	return r->st != ST_IDLE && r->st != ST_ENDED;
}

static bool lingering(const struct run *r, uint64_t now)
{
	return r->st == ST_ENDED && now < r->linger_until;
}

/* Waiting for the reply to its own first message. */
static bool first_wait(const struct run *r)
{
	return r->st == ST_I_WAIT_RESP || r->st == ST_P_WAIT_EPH;
}

/* The SAS step: an operator is (or both are) involved. */
static bool operator_step(const struct run *r)
{
	return r->st == ST_P_SHOW_SAS || r->st == ST_P_WAIT_DONE ||
	       r->st == ST_R_TYPE_SAS || r->st == ST_R_WAIT_CONFIRM;
}

static uint16_t busy_mask(const struct line_state *ls)
{
	uint16_t m = 0;

	if (ls->epoch_cur)
		m |= (uint16_t)(1u << (ls->epoch_cur & 15));
	if (ls->epoch_prev)
		m |= (uint16_t)(1u << (ls->epoch_prev & 15));
	return m;
}

static void recent_add(struct sl_hs *hs, uint32_t hsid)
{
	for (unsigned int i = 0; i < hs->n_recent; i++)
		if (hs->recent[i] == hsid)
			return;
	hs->recent[hs->recent_pos] = hsid;
	hs->recent_pos = (hs->recent_pos + 1) % SL_HS_RECENT_HSIDS;
	if (hs->n_recent < SL_HS_RECENT_HSIDS)
		hs->n_recent++;
}

static bool recent_has(const struct sl_hs *hs, uint32_t hsid)
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
		err = get_random(hs, b, sizeof(b));
		if (err)
			return err;
		*hsid = sl_get32(b);
		if (*hsid && !recent_has(hs, *hsid))
			return 0;
	}
	return -EIO;
}

/* The wipe of a run's secrets and the reset of everything else. */
static void run_clear(struct run *r)
{
	struct run_secrets *sec = r->sec;

	sl_wipe(sec, sizeof(*sec));
	memset(r, 0, sizeof(*r));
	r->sec = sec;
}

/* ---- Actions ----------------------------------------------------- */

static struct sl_hs_action *push(struct sl_hs_actions *out,
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

static void act_send(struct sl_hs *hs, struct sl_hs_actions *out,
		     const uint8_t *msg, size_t len)
{
	struct sl_hs_action *a = push(out, SL_HS_ACT_SEND);

	memcpy(a->send.msg, msg, len);
	a->send.len = len;
	a->send.type = msg[1];
	hs->stats.tx++;
}

static void note_batch(struct sl_hs *hs, enum sl_hs_act type, uint32_t epoch)
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

static void act_stage(struct sl_hs *hs, struct sl_hs_actions *out,
		      struct run *r, const uint8_t *tx, const uint8_t *rx)
{
	struct sl_hs_action *a = push(out, SL_HS_ACT_STAGE_KEY);

	a->stage.cipher = r->cipher;
	a->stage.epoch = r->epoch;
	a->stage.tx = tx;
	a->stage.rx = rx;
	r->keys_out = true;
	apply_stage(&hs->ls, r->epoch);
	note_batch(hs, SL_HS_ACT_STAGE_KEY, r->epoch);
}

static void act_activate(struct sl_hs *hs, struct sl_hs_actions *out,
			 uint32_t epoch)
{
	push(out, SL_HS_ACT_ACTIVATE_KEY)->activate.epoch = epoch;
	apply_activate(&hs->ls, epoch);
	note_batch(hs, SL_HS_ACT_ACTIVATE_KEY, epoch);
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
static void send_nak(struct sl_hs *hs, struct sl_hs_actions *out,
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
		act_send(hs, out, nak, SL_HS_NAK_LEN);
		hs->last_nak_at = now;
		hs->nak_sent = true;
		hs->stats.naks_sent++;
	}
	a = push(out, SL_HS_ACT_NAK);
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

/* Resend a NAK's bytes (a copy of the refused message), one a second. */
static bool resend_nak(struct sl_hs *hs, struct sl_hs_actions *out,
		       uint64_t now, const uint8_t *nak)
{
	if (hs->nak_sent && now - hs->last_nak_at < SL_HS_NAK_INTERVAL_MS)
		return false;
	act_send(hs, out, nak, SL_HS_NAK_LEN);
	hs->last_nak_at = now;
	hs->nak_sent = true;
	hs->stats.naks_sent++;
	return true;
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

enum end_flags {
	END_NO_RETRY = 1u << 0,
	END_QUIET = 1u << 1,	/* no FAILED: it goes on under a new hsid */
	/* A pairing that the operator's window outlives: not answered,
	 * peer not armed, or replaced by the peer's crossing pairing. */
	END_WINDOW = 1u << 2,
};

/* The operator's pairing is over: no retry, nothing armed. */
static void window_close(struct sl_hs *hs)
{
	hs->win.open = false;
	if (hs->ls.start_kind == SL_HS_PAIR)
		hs->ls.start_at = 0;
}

/* Tell the operator once per reason what the pairing waits for. */
static void pair_wait(struct sl_hs *hs, struct sl_hs_actions *out,
		      uint8_t reason)
{
	struct sl_hs_action *a;

	if (hs->win.waiting == reason)
		return;
	hs->win.waiting = reason;
	a = push(out, SL_HS_ACT_PAIR_WAIT);
	a->wait.reason = reason;
	a->wait.until = hs->win.until;
}

/*
 * The end of a handshake that did not complete: FAILED, the run lingers
 * to answer copies, its secrets are wiped, retries are scheduled.
 */
static void end_failed(struct sl_hs *hs, struct sl_hs_actions *out,
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
			pair_wait(hs, out, reason);
	} else if (!(flags & END_QUIET) && r->kind == SL_HS_PAIR) {
		window_close(hs);
	}
	if (!(flags & END_QUIET))
		a = push(out, SL_HS_ACT_FAILED);
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
	else	/* kk goes on the next call, when SET_KEY has it */
		sl_wipe(&sec->noise, sizeof(sec->noise));
}

/* The end of a handshake with a NAK of ours. */
static void fail_nak(struct sl_hs *hs, struct sl_hs_actions *out,
		     struct run *r, uint64_t now, uint8_t reason,
		     uint8_t ref_type, const char *text)
{
	uint8_t nak[SL_HS_NAK_LEN];
	bool alert = r->alert || reason == SL_NAK_SAS_MISMATCH ||
		     reason == SL_NAK_IDENTITY_MISMATCH;

	send_nak(hs, out, now, r->hsid, r->ver, reason, r->nak_detail, ref_type,
		 true, alert, r->have_peer ? r->peer : NULL, nak);
	/* A copy of the refused message gets the same NAK. */
	memcpy(r->out, nak, sizeof(nak));
	r->out_len = sizeof(nak);
	r->answered = !r->initiator;
	r->replied_at = 0;		/* NAKs have their own limit */
	end_failed(hs, out, r, now, reason, false, text, 0);
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
static void begin(struct sl_hs *hs, struct sl_hs_actions *out)
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
static int finish(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	uint64_t t = 0;

	(void)now;
	if (in_progress(r)) {
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

static int drop(struct sl_hs *hs, struct sl_hs_actions *out, const char *why)
{
	hs->stats.dropped++;
	out->dropped = why;
	return 0;
}

/* ---- Starting as initiator --------------------------------------- */

static void arm_tx(struct sl_hs *hs, struct run *r, uint64_t now,
		   size_t reply_len, bool unlimited)
{
	r->rto0 = rto0(hs, r->out_len, reply_len);
	r->rto = r->rto0;
	r->sends = 1;
	r->unlimited = unlimited;
	r->tx_at = now + r->rto;
}

/*
 * Makes the spare run the current one (the old one is wiped) and records
 * its hsid.
 */
static void promote_spare(struct sl_hs *hs)
{
	struct run *old = hs->cur;

	hs->cur = hs->spare;
	hs->spare = old;
	/* The old run's kernel keys may still be in a STAGE_KEY action of
	 * this very call: begin() wipes them with the rest next time. */
	if (!old->keys_out)
		run_clear(old);
	recent_add(hs, hs->cur->hsid);
}

static int start_pair(struct sl_hs *hs, struct run *r, uint64_t now)
{
	uint8_t pub[SL_HS_KEY_LEN];
	struct sl_chunk c[2];
	int err;

	err = new_ephemeral(hs, r->sec->e);
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
	arm_tx(hs, r, now, 38, false);
	return 0;
}

static int start_session(struct sl_hs *hs, struct run *r, uint64_t now)
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
	err = new_ephemeral(hs, r->sec->e);
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
	arm_tx(hs, r, now, 63, false);
	return 0;
}

/*
 * A new handshake as initiator in the spare run, then current, written
 * in version ver (our highest, unless a VERSION NAK restarts it).
 */
static int start_ver(struct sl_hs *hs, enum sl_hs_kind kind, uint8_t ver,
		     uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->spare;
	int err;

	if (in_progress(hs->cur))
		return -EBUSY;
	run_clear(r);
	r->kind = kind;
	r->initiator = true;
	r->ver = ver;
	r->started = now;
	r->deadline = now + SL_HS_DEADLINE_MS;
	err = new_hsid(hs, &r->hsid);
	if (!err)
		err = kind == SL_HS_PAIR ? start_pair(hs, r, now) :
					   start_session(hs, r, now);
	if (err) {
		run_clear(r);
		return err;
	}
	hs->ls.start_at = 0;
	if (kind == SL_HS_REKEY)
		hs->ls.rekey_at = 0;
	promote_spare(hs);
	act_send(hs, out, r->out, r->out_len);
	return 0;
}

static int start(struct sl_hs *hs, enum sl_hs_kind kind, uint64_t now,
		 struct sl_hs_actions *out)
{
	return start_ver(hs, kind, hs->ver_max, now, out);
}

static enum sl_hs_kind session_kind(const struct sl_hs *hs)
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

int sl_hs_pair(struct sl_hs *hs, const struct sl_hs_pair_opts *o,
	       uint64_t now, struct sl_hs_actions *out)
{
	int err = 0;

	begin(hs, out);
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
		if (o->initiate && start(hs, SL_HS_PAIR, now, out)) {
			hs->ls.start_at = now;
			hs->ls.start_kind = SL_HS_PAIR;
		}
	}
	finish(hs, now, out);
	return err;
}

int sl_hs_pair_end(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->cur;

	begin(hs, out);
	window_close(hs);
	if (in_progress(r) && r->kind == SL_HS_PAIR) {
		r->nak_detail = SL_REFUSED_OPERATOR;
		fail_nak(hs, out, r, now, SL_NAK_REFUSED, 0,
			 "the operator left the pairing");
	}
	return finish(hs, now, out);
}

int sl_hs_connect(struct sl_hs *hs, const struct sl_hs_peer *peer,
		  uint64_t now, struct sl_hs_actions *out)
{
	int err;

	begin(hs, out);
	if (in_progress(hs->cur)) {
		err = -EBUSY;
	} else {
		err = set_peer(hs, peer);
		if (!err) {
			hs->ls.retry_backoff = 0;
			err = start(hs, SL_HS_SESSION, now, out);
		}
	}
	finish(hs, now, out);
	return err;
}

/* ---- Completion -------------------------------------------------- */

static void act_done(struct sl_hs *hs, struct sl_hs_actions *out,
		     struct run *r, uint64_t now)
{
	struct sl_hs_action *a = push(out, SL_HS_ACT_DONE);

	if (r->kind == SL_HS_PAIR)
		window_close(hs);

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

static int derive(const struct sl_noise_hs *n, const char *label,
		  uint8_t *out, size_t len)
{
	return sl_hkdf(out, len, n->ss.ck, SL_NOISE_HASH_LEN, n->ss.h,
		       SL_NOISE_HASH_LEN, label, strlen(label));
}

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
		err = derive(&r->sec->noise, L_LTK, r->sec->ltk, SL_HS_KEY_LEN);
	sl_noise_hs_wipe(&r->sec->noise);
	return err;
}

static int session_values(struct run *r)
{
	int err = sl_noise_split(&r->sec->noise, &r->sec->c_i2r,
				 &r->sec->c_r2i);

	if (!err)
		err = derive(&r->sec->noise, L_KEYS, r->sec->kk,
			     sizeof(r->sec->kk));
	sl_noise_hs_wipe(&r->sec->noise);
	return err;
}

/* ---- Responder: first messages ----------------------------------- */

/*
 * m is accepted as the last message received; answered: the reply that
 * follows (at once, so replied_at is now) answers its copies.
 */
static void accept_in(struct run *r, const uint8_t *m, size_t len,
		      bool answered, uint64_t now)
{
	memcpy(r->in, m, len);
	r->in_len = len;
	r->answered = answered;
	r->replied_at = answered ? now : 0;
}

/* Outcome of processing a first message in the spare run. */
struct verdict {
	uint8_t reason;		/* SL_NAK_*: refuse with this, or 0 */
	const char *text;
	bool alert;
};

static int pair_respond(struct sl_hs *hs, struct run *r, const uint8_t *m,
			struct verdict *v)
{
	uint8_t prologue[7 + 40];
	struct sl_noise_keys k = { .s = hs->sec->s, .e = r->sec->e };
	size_t n;
	int err;

	(void)v;
	memcpy(r->first, m, sizeof(r->first));
	err = new_ephemeral(hs, r->sec->e);
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

static int session_respond(struct sl_hs *hs, struct run *r, const uint8_t *m,
			   struct verdict *v)
{
	uint8_t prologue[7 + 8], payload[9], pl[8];
	struct sl_hs_peer p;
	uint32_t their_next, e_out;
	uint16_t their_busy;
	bool found = false;
	size_t n;
	int err;

	err = new_ephemeral(hs, r->sec->e);
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

/* Refuses a first message that starts no handshake of ours. */
static void refuse(struct sl_hs *hs, struct sl_hs_actions *out, uint64_t now,
		   const uint8_t *m, size_t len, uint8_t ver, uint8_t reason,
		   bool alert, const char *peer)
{
	uint32_t hsid = sl_get32(m + 2);

	send_nak(hs, out, now, hsid, ver, reason, 0, m[1], false, alert, peer,
		 hs->refusal.nak);
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
		return drop(hs, out, "copy of a message not answered (yet)");
	if (r->replied_at && now - r->replied_at < r->rto0 / 2)
		return drop(hs, out, "copy too soon after the last answer");
	if (r->out[1] == SL_MSG_NAK) {
		if (!resend_nak(hs, out, now, r->out))
			return drop(hs, out, "copy: NAK rate limit");
	} else {
		act_send(hs, out, r->out, r->out_len);
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

	if (get_random(hs, b, 2))
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
			return drop(hs, out, "copy: NAK rate limit");
		return 0;
	}

	/* 3a: a handshake id seen on this line lately. */
	if (recent_has(hs, hsid)) {
		if ((in_progress(cur) || lingering(cur, now)) &&
		    cur->hsid == hsid && !cur->initiator &&
		    cur->in_len == len && !memcmp(cur->in, m, len))
			return answer_copy(hs, out, cur, now);
		/* Perhaps both ends picked the same hsid for crossing first
		 * messages: decided below, if it passes step 3. */
		if (in_progress(cur) && cur->initiator && first_wait(cur) &&
		    cur->hsid == hsid &&
		    !(cur->out_len == len && !memcmp(cur->out, m, len)))
			same_hsid = true;
		else
			return drop(hs, out, "replayed first message");
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
	if (operator_step(cur)) {
		refuse(hs, out, now, m, len, v, SL_NAK_BUSY, false, NULL);
		return 0;
	}
	if (type == SL_MSG_PAIR_COMMIT && !hs->pair_enabled &&
	    !(hs->win.open && hs->win.respond && now < hs->win.until)) {
		refuse(hs, out, now, m, len, v, SL_NAK_NOT_ARMED, false, NULL);
		return 0;
	}

	/* 3d: processed, in the spare run. */
	run_clear(r);
	r->hsid = hsid;
	r->ver = v;
	r->started = now;
	r->deadline = now + SL_HS_DEADLINE_MS;
	err = type == SL_MSG_PAIR_COMMIT ? pair_respond(hs, r, m, &vd) :
					   session_respond(hs, r, m, &vd);
	if (err || vd.reason) {
		char peer[SL_ACCOUNT_LEN + 1];
		bool known = r->have_peer;

		memcpy(peer, r->peer, sizeof(peer));
		run_clear(r);
		refuse(hs, out, now, m, len, v,
		       err ? SL_NAK_INTERNAL : vd.reason, vd.alert,
		       known ? peer : NULL);
		return 0;
	}
	accept_in(r, m, len, true, now);
	r->rto0 = rto0(hs, len, r->out_len);

	if (same_hsid) {
		/* Both restart after a random 0.5 to 2 s. */
		run_clear(r);
		end_failed(hs, out, cur, now, SL_NAK_NONE, false,
			   "first messages crossed with equal hsid: "
			   "restarting", END_NO_RETRY | END_WINDOW);
		return restart_jitter(hs, now);
	}
	if (in_progress(cur)) {
		if (cur->initiator && first_wait(cur)) {
			if (!theirs_wins(cur, r)) {
				recent_add(hs, hsid);
				run_clear(r);
				return drop(hs, out,
					    "crossing first message: ours wins");
			}
			end_failed(hs, out, cur, now, SL_NAK_NONE, false,
				   "first messages crossed: the peer's wins, "
				   "answering it", END_NO_RETRY | END_WINDOW);
		} else {
			end_failed(hs, out, cur, now, SL_NAK_NONE, false,
				   "replaced by a new handshake from the peer",
				   END_NO_RETRY | END_WINDOW);
		}
	}
	if (type == SL_MSG_SESSION_INIT) {
		hs->ls.key.rr.active = false;
		hs->ls.start_at = 0;
	}
	promote_spare(hs);
	act_send(hs, out, hs->cur->out, hs->cur->out_len);
	return 0;
}

/* ---- Later messages ---------------------------------------------- */

static uint8_t expected_type(const struct run *r)
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

static int auth_failed(struct sl_hs *hs, struct sl_hs_actions *out,
		       struct run *r)
{
	r->auth_failures++;
	hs->stats.auth_failures++;
	return drop(hs, out, "failed authentication");
}


static void internal(struct sl_hs *hs, struct sl_hs_actions *out,
		     struct run *r, uint64_t now)
{
	fail_nak(hs, out, r, now, SL_NAK_INTERNAL, 0,
		 "local failure (secure memory or crypto)");
}

/* The account in a handshake's payload: 12 digits, and the expected. */
static bool check_account(struct sl_hs *hs, struct sl_hs_actions *out,
			  struct run *r, uint64_t now, const uint8_t *acct,
			  uint8_t ref_type)
{
	if (!sl_is_account(acct)) {
		fail_nak(hs, out, r, now, SL_NAK_BAD_MESSAGE, ref_type,
			 "the peer's account is not 12 digits");
		return false;
	}
	sl_copy_account(r->peer, acct);
	r->have_peer = true;
	if (!memcmp(acct, hs->account, SL_ACCOUNT_LEN) ||
	    !memcmp(r->peer_static, hs->s_pub, SL_HS_KEY_LEN)) {
		fail_nak(hs, out, r, now, SL_NAK_BAD_MESSAGE, ref_type,
			 "the peer claims our own account or key");
		return false;
	}
	if (hs->have_expected &&
	    memcmp(acct, hs->expected, SL_ACCOUNT_LEN)) {
		fail_nak(hs, out, r, now, SL_NAK_IDENTITY_MISMATCH, ref_type,
			 "the peer's account is not the expected one");
		return false;
	}
	return true;
}

static int on_pair_ephemeral(struct sl_hs *hs, struct run *r,
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
			return auth_failed(hs, out, r);
		internal(hs, out, r, now);
		return 0;
	}
	/* e_I is in the Noise state now; a forged PAIR_EPHEMERAL dropped
	 * above needed it kept for the genuine one. */
	sl_wipe(r->sec->e, sizeof(r->sec->e));
	memcpy(r->e_r, m + 6, SL_HS_KEY_LEN);
	accept_in(r, m, len, true, now);
	memcpy(r->out, msg, 6 + n);
	r->out_len = 6 + n;
	r->st = ST_P_WAIT_FINISH;
	arm_tx(hs, r, now, 82, false);
	act_send(hs, out, r->out, r->out_len);
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
		auth_failed(hs, out, r);
		return false;
	}
	if (err || n != SL_ACCOUNT_LEN) {
		internal(hs, out, r, now);
		return false;
	}
	memcpy(r->peer_static, r->sec->noise.rs, SL_HS_KEY_LEN);
	accept_in(r, m, len, answered, now);
	if (!check_account(hs, out, r, now, acct, m[1]))
		return false;
	if (hs->pair_allowed_fn &&
	    hs->pair_allowed_fn(hs->ctx, r->peer, r->peer_static) == -EEXIST) {
		r->nak_detail = SL_REFUSED_ALREADY_PAIRED;
		fail_nak(hs, out, r, now, SL_NAK_REFUSED, m[1],
			 "a pairing with this account is stored already, and "
			 "the operator did not ask to replace it");
		return false;
	}
	return true;
}

/* The operator's prompt of the SAS step we are in, if any. */
static void push_prompt(struct sl_hs_actions *out, const struct run *r)
{
	struct sl_hs_action *a;

	if (r->st == ST_P_SHOW_SAS) {
		a = push(out, SL_HS_ACT_SHOW_SAS);
		memcpy(a->sas.sas, r->sas, sizeof(a->sas.sas));
	} else if (r->st == ST_R_TYPE_SAS) {
		a = push(out, SL_HS_ACT_ASK_SAS);
		a->sas.attempts_left = SAS_ATTEMPTS - r->sas_misses;
	} else {
		return;
	}
	memcpy(a->sas.peer_account, r->peer, sizeof(a->sas.peer_account));
	memcpy(a->sas.peer_static, r->peer_static, SL_HS_KEY_LEN);
	a->sas.deadline = r->deadline;
}

static int on_pair_reveal(struct sl_hs *hs, struct run *r, const uint8_t *m,
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
		internal(hs, out, r, now);
		return 0;
	}
	if (!sl_ct_memeq(c, r->first + 8, sizeof(c))) {
		r->alert = true;
		accept_in(r, m, len, true, now);
		fail_nak(hs, out, r, now, SL_NAK_BAD_MESSAGE,
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
		internal(hs, out, r, now);
		return 0;
	}
	memcpy(r->out, msg, 6 + n);
	r->out_len = 6 + n;
	r->st = ST_R_TYPE_SAS;
	r->deadline = now + SL_HS_SAS_TIMEOUT_MS;
	act_send(hs, out, r->out, r->out_len);
	push_prompt(out, r);
	return 0;
}

static int on_pair_finish(struct sl_hs *hs, struct run *r, const uint8_t *m,
			  size_t len, uint64_t now, struct sl_hs_actions *out)
{
	if (!read_identity(hs, out, r, m, len, false, now))
		return 0;
	if (pairing_values(r)) {
		internal(hs, out, r, now);
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
	struct sl_hs_action *a = push(out, SL_HS_ACT_STORE_PEER);

	memcpy(a->store.account, r->peer, sizeof(a->store.account));
	memcpy(a->store.static_pub, r->peer_static, SL_HS_KEY_LEN);
	a->store.ltk = r->sec->ltk;
	note_batch(hs, SL_HS_ACT_STORE_PEER, 0);
}

/* R: right SAS typed and PAIR_CONFIRM in: store, PAIR_DONE. */
static void pair_complete_r(struct sl_hs *hs, struct run *r, uint64_t now,
			    struct sl_hs_actions *out)
{
	uint8_t msg[SL_HS_MAX_MSG];

	if (sl_hs_seal(msg, r->ver, SL_MSG_PAIR_DONE, r->hsid, 0,
		     r->sec->c_r2i.k, NULL, 0)) {
		internal(hs, out, r, now);
		return;
	}
	act_store(hs, out, r);
	memcpy(r->out, msg, SEALED_LEN(0));
	r->out_len = SEALED_LEN(0);
	r->answered = true;
	r->replied_at = now;
	act_send(hs, out, r->out, r->out_len);
	act_done(hs, out, r, now);
	sl_wipe(&r->sec->c_i2r, sizeof(r->sec->c_i2r));
	sl_wipe(&r->sec->c_r2i, sizeof(r->sec->c_r2i));
}

static int on_pair_confirm(struct sl_hs *hs, struct run *r, const uint8_t *m,
			   size_t len, uint64_t now, struct sl_hs_actions *out)
{
	uint8_t none[1];

	if (sl_hs_open(m, len, r->sec->c_i2r.k, none))
		return auth_failed(hs, out, r);
	/* No reply until the operator typed the SAS: copies are ignored. */
	accept_in(r, m, len, false, now);
	r->confirm_in = true;
	if (r->st == ST_R_WAIT_CONFIRM)
		pair_complete_r(hs, r, now, out);
	return 0;
}

static int on_pair_done(struct sl_hs *hs, struct run *r, const uint8_t *m,
			size_t len, uint64_t now, struct sl_hs_actions *out)
{
	uint8_t none[1];

	if (sl_hs_open(m, len, r->sec->c_r2i.k, none))
		return auth_failed(hs, out, r);
	accept_in(r, m, len, false, now);
	act_store(hs, out, r);
	act_done(hs, out, r, now);
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

static int on_session_resp(struct sl_hs *hs, struct run *r, const uint8_t *m,
			   size_t len, uint64_t now, struct sl_hs_actions *out)
{
	uint8_t pl[9], msg[SL_HS_MAX_MSG];
	uint32_t e, their_cur, f = hs->ls.epoch_staged;
	uint16_t mask = busy_mask(&hs->ls);
	size_t n;
	int err;

	err = sl_noise_read(&r->sec->noise, m + 6, 57, pl, sizeof(pl), &n);
	if (err == -EBADMSG || err == -EKEYREJECTED)
		return auth_failed(hs, out, r);
	if (err || n != sizeof(pl)) {
		internal(hs, out, r, now);
		return 0;
	}
	accept_in(r, m, len, false, now);
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
		fail_nak(hs, out, r, now, SL_NAK_BAD_MESSAGE,
			 SL_MSG_SESSION_RESP,
			 "SESSION_RESP: a cipher we did not offer");
		return 0;
	}
	if (!e || e < hs->ls.epoch_next || (mask & (1u << (e & 15)))) {
		fail_nak(hs, out, r, now, SL_NAK_BAD_MESSAGE,
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
		internal(hs, out, r, now);
		return 0;
	}
	if (activate_f)
		act_activate(hs, out, f);
	act_stage(hs, out, r, r->sec->kk, r->sec->kk + SL_HS_KEY_LEN);
	memcpy(r->out, msg, SEALED_LEN(0));
	r->out_len = SEALED_LEN(0);
	r->st = ST_I_WAIT_DONE;
	arm_tx(hs, r, now, SEALED_LEN(0), false);
	act_send(hs, out, r->out, r->out_len);
	return 0;
}

static int on_session_confirm(struct sl_hs *hs, struct run *r,
			      const uint8_t *m, size_t len, uint64_t now,
			      struct sl_hs_actions *out)
{
	uint8_t none[1], msg[SL_HS_MAX_MSG];

	if (sl_hs_open(m, len, r->sec->c_i2r.k, none))
		return auth_failed(hs, out, r);
	if (sl_hs_seal(msg, r->ver, SL_MSG_SESSION_DONE, r->hsid, 0,
		     r->sec->c_r2i.k, NULL, 0)) {
		internal(hs, out, r, now);
		return 0;
	}
	accept_in(r, m, len, true, now);
	act_stage(hs, out, r, r->sec->kk + SL_HS_KEY_LEN, r->sec->kk);
	act_activate(hs, out, r->epoch);
	memcpy(r->out, msg, SEALED_LEN(0));
	r->out_len = SEALED_LEN(0);
	act_send(hs, out, r->out, r->out_len);
	act_done(hs, out, r, now);
	key_installed(hs, r, now);
	return 0;
}

/* I: R has activated E (SESSION_DONE, or the kernel says so). */
static void session_complete_i(struct sl_hs *hs, struct run *r, uint64_t now,
			       struct sl_hs_actions *out)
{
	act_activate(hs, out, r->epoch);
	act_done(hs, out, r, now);
	key_installed(hs, r, now);
}

static int on_session_done(struct sl_hs *hs, struct run *r, const uint8_t *m,
			   size_t len, uint64_t now, struct sl_hs_actions *out)
{
	uint8_t none[1];

	if (sl_hs_open(m, len, r->sec->c_r2i.k, none))
		return auth_failed(hs, out, r);
	accept_in(r, m, len, false, now);
	session_complete_i(hs, r, now, out);
	return 0;
}

static int handle_next(struct sl_hs *hs, const uint8_t *m, size_t len,
		       uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	uint8_t type = m[1];

	if (!(in_progress(r) || lingering(r, now)) || r->hsid != sl_get32(m + 2))
		return drop(hs, out, "no handshake with this hsid");
	if (r->in_len == len && !memcmp(r->in, m, len)) {
		if (r->initiator)
			return drop(hs, out, "copy of a message already read");
		return answer_copy(hs, out, r, now);
	}
	if (r->st == ST_ENDED)
		return drop(hs, out, "handshake ended");
	if (m[0] != r->ver)
		return drop(hs, out, "not the negotiated version");
	if (type != expected_type(r))
		return drop(hs, out, "not the message expected next");
	if (len != sl_hs_msg_len(type))
		return drop(hs, out, "wrong length");
	if (sealed_type(type) && m[6] != 0)
		return drop(hs, out, "seq not the next");

	switch (type) {
	case SL_MSG_PAIR_EPHEMERAL:
		return on_pair_ephemeral(hs, r, m, len, now, out);
	case SL_MSG_PAIR_REVEAL:
		return on_pair_reveal(hs, r, m, len, now, out);
	case SL_MSG_PAIR_FINISH:
		return on_pair_finish(hs, r, m, len, now, out);
	case SL_MSG_PAIR_CONFIRM:
		return on_pair_confirm(hs, r, m, len, now, out);
	case SL_MSG_PAIR_DONE:
		return on_pair_done(hs, r, m, len, now, out);
	case SL_MSG_SESSION_RESP:
		return on_session_resp(hs, r, m, len, now, out);
	case SL_MSG_SESSION_CONFIRM:
		return on_session_confirm(hs, r, m, len, now, out);
	case SL_MSG_SESSION_DONE:
		return on_session_done(hs, r, m, len, now, out);
	}
	return drop(hs, out, "not the message expected next");
}

/* ---- NAK received ------------------------------------------------ */

static int handle_nak(struct sl_hs *hs, const uint8_t *m, size_t len,
		      uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	struct sl_hs_action *a;
	uint8_t reason, v;

	if (len < SL_HS_NAK_LEN)
		return drop(hs, out, "NAK too short");
	if (!(in_progress(r) || lingering(r, now)) || r->hsid != sl_get32(m + 2))
		return drop(hs, out, "NAK for no handshake of ours");
	reason = m[6];
	hs->stats.naks_received++;
	a = push(out, SL_HS_ACT_NAK);
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
	if (!in_progress(r))
		return 0;	/* logged; the handshake had ended */

	/*
	 * A version NAK to our first message: once, in the common one. Only
	 * this handshake: the next starts in our highest version again.
	 */
	if (reason == SL_NAK_VERSION && r->initiator && first_wait(r)) {
		v = common_version(hs, m[8], m[9]);
		if (v && v != r->ver && !r->ver_retried) {
			enum sl_hs_kind kind = r->kind;
			int err;

			end_failed(hs, out, r, now, reason, true,
				   "version NAK: starting again in the common "
				   "version", END_NO_RETRY | END_QUIET);
			err = start_ver(hs, kind, v, now, out);
			if (!err)
				hs->cur->ver_retried = true;
			return err;
		}
	}
	a->nak.ended = true;
	r->nak_detail = m[7];
	r->nak_ver[0] = m[8];
	r->nak_ver[1] = m[9];
	end_failed(hs, out, r, now, reason, true, "the peer refused (NAK)",
		   reason == SL_NAK_NOT_ARMED && r->initiator &&
		   first_wait(r) ? END_WINDOW : 0);
	return 0;
}

/* ---- REKEY_REQUEST ----------------------------------------------- */

static int start_rekey(struct sl_hs *hs, uint64_t now,
		       struct sl_hs_actions *out)
{
	if (in_progress(hs->cur))
		return -EBUSY;
	return start(hs, session_kind(hs), now, out);
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
	x->rto = rto0(hs, sizeof(x->msg), 64);
	x->tx_at = now + x->rto;
	act_send(hs, out, x->msg, sizeof(x->msg));
	return 0;
}

static void resend_due(struct sl_hs *hs, struct sl_hs_actions *out,
		       struct resend *x, uint64_t now)
{
	if (!x->active || now < x->tx_at)
		return;
	if (x->sends >= SL_HS_MAX_SENDS) {
		x->active = false;
		return;
	}
	act_send(hs, out, x->msg, sizeof(x->msg));
	x->sends++;
	x->rto = x->rto >= SL_HS_RTO_MAX_MS / 2 ? SL_HS_RTO_MAX_MS : x->rto * 2;
	x->tx_at = now + x->rto;
}

static int handle_rekey_request(struct sl_hs *hs, const uint8_t *m,
				size_t len, uint64_t now,
				struct sl_hs_actions *out)
{
	struct key_rec *k = &hs->ls.key;
	const char *why;
	uint8_t pl[1];

	if (!k->valid || !k->initiator)
		return drop(hs, out, "REKEY_REQUEST for no key of ours");
	if (!(k->rr_in_valid && len == sizeof(k->rr_in) &&
	      !memcmp(k->rr_in, m, len))) {
		why = open_on_key(hs, m, len, pl);
		if (why)
			return drop(hs, out, why);
		if (pl[0] < 1 || pl[0] > 3)
			return drop(hs, out, "REKEY_REQUEST: bad reason");
		memcpy(k->rr_in, m, len);
		k->rr_in_valid = true;
	}
	if (in_progress(hs->cur))
		return drop(hs, out, "REKEY_REQUEST: a handshake is running");
	if (now < k->done_at + SL_HS_REKEY_HOLDOFF_MS)
		return drop(hs, out, "REKEY_REQUEST within 10 s of a rekey");
	return start_rekey(hs, now, out);
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
	if (in_progress(hs->cur) && hs->cur->kind != SL_HS_PAIR)
		end_failed(hs, out, hs->cur, now, SL_NAK_NONE, false, why,
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

static int handle_session_close(struct sl_hs *hs, const uint8_t *m,
				size_t len, uint64_t now,
				struct sl_hs_actions *out)
{
	struct sl_hs_action *a;
	const char *why;
	bool initiator;
	uint8_t pl[1];

	why = open_on_key(hs, m, len, pl);
	if (why)
		return drop(hs, out, why);
	if (pl[0] < SL_CLOSE_REVOKED || pl[0] > SL_CLOSE_NOT_AUTHORISED)
		return drop(hs, out, "SESSION_CLOSE: bad reason");
	a = push(out, SL_HS_ACT_CLEAR_KEYS);
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

	begin(hs, out);
	if (reason < SL_CLOSE_REVOKED || reason > SL_CLOSE_NOT_AUTHORISED)
		err = -EINVAL;
	else if (!hs->ls.key.valid)
		err = -ENOTCONN;
	else
		err = send_on_key(hs, out, now, SL_MSG_SESSION_CLOSE, reason,
				  &hs->close);
	if (err != -EINVAL)
		forget_key(hs, out, now, "the session was closed", false);
	finish(hs, now, out);
	return err;
}

/* ---- Entry points ------------------------------------------------ */

int sl_hs_input(struct sl_hs *hs, const uint8_t *msg, size_t len,
		uint64_t now, struct sl_hs_actions *out)
{
	uint8_t type;

	begin(hs, out);
	hs->stats.rx++;
	if (!msg || len < SL_HS_ENVELOPE_LEN) {
		drop(hs, out, "shorter than an envelope");
		goto done;
	}
	type = msg[1];
	if (!sl_hs_msg_len(type)) {
		drop(hs, out, "reserved type");
		goto done;
	}
	if (type == SL_MSG_NAK)
		handle_nak(hs, msg, len, now, out);
	else if (type == SL_MSG_PAIR_COMMIT || type == SL_MSG_SESSION_INIT ||
		 type == SL_MSG_CALL_HELLO)
		handle_first(hs, msg, len, now, out);
	else if (type == SL_MSG_REKEY_REQUEST)
		handle_rekey_request(hs, msg, len, now, out);
	else if (type == SL_MSG_SESSION_CLOSE)
		handle_session_close(hs, msg, len, now, out);
	else
		handle_next(hs, msg, len, now, out);
done:
	return finish(hs, now, out);
}

static uint8_t awaited(const struct run *r)
{
	if (r->st == ST_P_SHOW_SAS || (r->st == ST_R_TYPE_SAS && r->confirm_in))
		return 0;	/* an operator */
	return expected_type(r);
}

static void deadline(struct sl_hs *hs, struct run *r, uint64_t now,
		     struct sl_hs_actions *out)
{
	uint32_t epoch;

	/* I: SESSION_DONE may be all that was lost. */
	if (r->st == ST_I_WAIT_DONE && hs->key_epoch_fn &&
	    !hs->key_epoch_fn(hs->ctx, &epoch) && epoch == r->epoch) {
		session_complete_i(hs, r, now, out);
		return;
	}
	/* Nobody answered an operator's PAIR_COMMIT: waiting goes on. */
	if (r->kind == SL_HS_PAIR && r->initiator && first_wait(r) &&
	    hs->win.open) {
		end_failed(hs, out, r, now, SL_NAK_TIMEOUT, false,
			   "no answer to PAIR_COMMIT", END_WINDOW);
		return;
	}
	fail_nak(hs, out, r, now, SL_NAK_TIMEOUT, awaited(r),
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
		session_complete_i(hs, r, now, out);
		return;
	}
	if (!r->unlimited && r->sends >= SL_HS_MAX_SENDS) {
		r->tx_at = 0;
		return;
	}
	act_send(hs, out, r->out, r->out_len);
	r->sends++;
	r->rto = r->rto >= SL_HS_RTO_MAX_MS / 2 ? SL_HS_RTO_MAX_MS :
						  r->rto * 2;
	if (r->rto < r->rto0)
		r->rto = r->rto0;
	r->tx_at = !r->unlimited && r->sends >= SL_HS_MAX_SENDS ? 0 :
		   now + r->rto;
}

/* The operator's time is up and no pairing is in progress. */
static void window_expired(struct sl_hs *hs, uint64_t now,
			   struct sl_hs_actions *out)
{
	struct sl_hs_action *a = push(out, SL_HS_ACT_FAILED);

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
	window_close(hs);
}

int sl_hs_timer(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	struct key_rec *k = &hs->ls.key;

	begin(hs, out);
	if (in_progress(r)) {
		if (now >= r->deadline)
			deadline(hs, r, now, out);
		else if (r->tx_at && now >= r->tx_at)
			retransmit(hs, r, now, out);
	}
	resend_due(hs, out, &k->rr, now);
	resend_due(hs, out, &hs->close, now);
	if (hs->win.open && !in_progress(hs->cur) && now >= hs->win.until)
		window_expired(hs, now, out);
	if (!in_progress(hs->cur) && hs->ls.start_at &&
	    now >= hs->ls.start_at) {
		enum sl_hs_kind kind = hs->ls.start_kind;

		hs->ls.start_at = 0;
		if (kind == SL_HS_PAIR ? hs->win.open && hs->win.initiate :
					 hs->ls.have_peer)
			start(hs, kind == SL_HS_PAIR ? kind : session_kind(hs),
			      now, out);
	}
	if (!in_progress(hs->cur) && k->valid && k->initiator &&
	    hs->ls.rekey_at && now >= hs->ls.rekey_at) {
		hs->ls.rekey_at = 0;
		start_rekey(hs, now, out);
	}
	return finish(hs, now, out);
}

int sl_hs_sas_confirm(struct sl_hs *hs, bool match, uint64_t now,
		      struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	int err = 0;

	begin(hs, out);
	/* Either operator may refuse during the SAS step. */
	if (!match && operator_step(r)) {
		r->nak_detail = SL_REFUSED_OPERATOR;
		fail_nak(hs, out, r, now, SL_NAK_REFUSED,
			 r->initiator ? SL_MSG_PAIR_FINISH : SL_MSG_PAIR_REVEAL,
			 "the operator refused the pairing");
		goto done;
	}
	if (r->st != ST_P_SHOW_SAS) {
		err = -EINVAL;
		goto done;
	}
	if (sl_hs_seal(r->out, r->ver, SL_MSG_PAIR_CONFIRM, r->hsid, 0,
		     r->sec->c_i2r.k, NULL, 0)) {
		internal(hs, out, r, now);
		goto done;
	}
	r->out_len = SEALED_LEN(0);
	r->st = ST_P_WAIT_DONE;
	arm_tx(hs, r, now, SEALED_LEN(0), true);
	act_send(hs, out, r->out, r->out_len);
done:
	finish(hs, now, out);
	return err;
}

int sl_hs_pair_prompt(struct sl_hs *hs, uint64_t now,
		      struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	int err = 0;

	begin(hs, out);
	if (!in_progress(r) || r->kind != SL_HS_PAIR)
		err = -ENOENT;
	else
		push_prompt(out, r);
	finish(hs, now, out);
	return err;
}

int sl_hs_sas_typed(struct sl_hs *hs, const char *typed, uint64_t now,
		    struct sl_hs_actions *out)
{
	struct run *r = hs->cur;
	char norm[SL_SAS_LEN + 1];
	int err = 0;

	begin(hs, out);
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
			fail_nak(hs, out, r, now, SL_NAK_SAS_MISMATCH,
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
	finish(hs, now, out);
	return err;
}

int sl_hs_rekey_needed(struct sl_hs *hs, uint8_t limit, uint64_t now,
		       struct sl_hs_actions *out)
{
	struct key_rec *k = &hs->ls.key;
	int err = 0;

	begin(hs, out);
	if (!k->valid) {
		err = -ENOTCONN;
	} else if (k->initiator) {
		/* Now, or as soon as the handshake in progress ends. */
		hs->ls.rekey_at = now;
		if (!in_progress(hs->cur)) {
			hs->ls.rekey_at = 0;
			err = start_rekey(hs, now, out);
		}
	} else {
		err = send_rekey_request(hs, limit >= 1 && limit <= 2 ?
					 limit : 3, now, out);
	}
	finish(hs, now, out);
	return err;
}

int sl_hs_key_expired(struct sl_hs *hs, uint64_t now,
		      struct sl_hs_actions *out)
{
	struct key_rec *k = &hs->ls.key;
	int err = 0;

	begin(hs, out);
	hs->ls.keyed = false;
	if (k->valid && k->initiator) {
		hs->ls.rekey_at = 0;
		if (in_progress(hs->cur)) {
			hs->ls.start_at = now;
			hs->ls.start_kind = SL_HS_SESSION;
		} else if (hs->ls.have_peer) {
			err = start(hs, SL_HS_SESSION, now, out);
		}
	} else if (k->valid) {
		err = send_rekey_request(hs, 2, now, out);
	}
	finish(hs, now, out);
	return err;
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

	begin(hs, out);
	/* If it completed in that list, it failed after all. */
	if (was_done)
		hs->stats.completed--;
	r->tx_at = 0;
	fail_nak(hs, out, r, now, SL_NAK_INTERNAL, 0,
		 type == SL_HS_ACT_STORE_PEER ? "storing the peer failed" :
		 "installing the key failed");
	return finish(hs, now, out);
}

int sl_hs_abort(struct sl_hs *hs, uint64_t now, struct sl_hs_actions *out)
{
	begin(hs, out);
	if (in_progress(hs->cur))
		end_failed(hs, out, hs->cur, now, SL_NAK_NONE, false,
			   "aborted (line down or operator)", END_NO_RETRY);
	hs->ls.start_at = 0;
	hs->ls.key.rr.active = false;
	return finish(hs, now, out);
}

void sl_hs_get_status(const struct sl_hs *hs, uint64_t now,
		      struct sl_hs_status *st)
{
	const struct run *r = hs->cur;

	memset(st, 0, sizeof(*st));
	st->state = state_names[r->st];
	st->busy = in_progress(r);
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
