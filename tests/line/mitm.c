// SPDX-License-Identifier: GPL-2.0
/*
 * The man in the middle of sealine-wire's "mitm" mode: two handshake
 * engines of sealined's own protocol core, one per leg, each with a
 * static key of its own. See mitm.h.
 *
 * Reusing the real core, not a copy of its steps, is what keeps this
 * honest: each leg runs the exact protocol its side expects, so A and B
 * each complete a genuine Noise exchange (A's daemon opens leg A's
 * PAIR_FINISH, B's daemon leg B's PAIR_REVEAL) with keys they have never
 * seen, and the only thing left to catch the substitution is the SAS.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>

#include "crypto.h"
#include "frame.h"
#include "grind.h"
#include "handshake.h"
#include "mitm.h"

#define LOG_MAX 256

struct leg {
	const char *name;		/* "leg A" */
	char side;			/* 'A' or 'B': the real party */
	int towards;			/* SL_MITM_LEG_* its messages go to */
	const char *claim;		/* the account we claim on this leg */
	struct sl_hs *hs;
	uint8_t *priv;			/* this leg's static key (secure) */
	uint64_t next_timer;
	bool dh_done;			/* the Noise XX exchange completed */
	char peer[SL_ACCOUNT_LEN + 1];	/* account the real party claimed */
	char sas[6];			/* leg B: the SAS B's daemon expects */
	char end[64];			/* how it ended, "" while running */
	unsigned int rx, tx;

	/*
	 * The randomness this leg's pairing drew (its hsid, its ephemeral
	 * key), recorded so that an engine with the static key chosen later
	 * replays the very same pairing up to that point; replay: draw from
	 * the record instead.
	 */
	uint8_t rnd[64];
	size_t rnd_n, rnd_pos;
	bool replay, suppress;

	/* Grinding: the pairing's first message and the reply held back
	 * (leg A: A's PAIR_REVEAL; leg B: B's PAIR_EPHEMERAL). */
	uint8_t commit[40];
	bool have_commit;
	uint8_t held[SL_HS_MAX_MSG];
	size_t held_len;
};

struct sl_mitm {
	struct leg leg[2];
	sl_mitm_emit_fn emit;
	sl_mitm_log_fn log;
	void *ctx;
	bool b_started;
	struct sl_hs_actions out;	/* the engines' last list */

	/* Grinding (sl_mitm_grind()). */
	unsigned int grind_n;
	uint8_t b_pub[SL_X25519_KEY_LEN];
	char b_account[SL_ACCOUNT_LEN + 1];
	bool ground;
	struct sl_mitm_grind_result result;
};

static void say(struct sl_mitm *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void say(struct sl_mitm *m, const char *fmt, ...)
{
	char text[LOG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	m->log(m->ctx, text);
}

/* No stored peers: the legs only ever pair. */
static int no_peers(void *ctx, unsigned int index, struct sl_hs_peer *peer)
{
	(void)ctx;
	(void)index;
	(void)peer;
	return -ENOENT;
}

/* The legs' randomness: recorded, or replayed (struct leg, rnd). */
static int leg_random(void *ctx, uint8_t *buf, size_t len)
{
	struct leg *l = ctx;

	if (l->replay) {
		if (l->rnd_pos + len > l->rnd_n)
			return -EIO;
		memcpy(buf, l->rnd + l->rnd_pos, len);
		l->rnd_pos += len;
		return 0;
	}
	gcry_randomize(buf, len, GCRY_STRONG_RANDOM);
	if (l->rnd_n + len <= sizeof(l->rnd)) {
		memcpy(l->rnd + l->rnd_n, buf, len);
		l->rnd_n += len;
	}
	return 0;
}

/* A handshake message as the kernel would frame it: COBS and 0x00. */
static void send_msg(struct sl_mitm *m, struct leg *l, const uint8_t *msg,
		     size_t len)
{
	uint8_t raw[SEALINE_HDR_LEN + SL_HS_MAX_MSG + SEALINE_CRC_LEN];
	uint8_t wire[1 + sizeof(raw) + sizeof(raw) / 254 + 2];
	size_t n = 0;

	if (len > SL_HS_MAX_MSG || l->suppress)
		return;
	/* As the kernel does after attach: a receiver discards what comes
	 * before its first delimiter, so the first frame gets one ahead. */
	if (!l->tx)
		wire[n++] = 0x00;
	n += sealine_cobs_encode(raw, sealine_control_build(raw, msg, len),
				 wire + n);
	wire[n++] = 0x00;
	l->tx++;
	say(m, "%s: -> %c %s (%zu bytes)", l->name, l->side,
	    sl_hs_msg_name(msg[1]), len);
	m->emit(m->ctx, l->towards, wire, n);
}

/* Carry out a leg's list, as sealined would, minus the kernel and store. */
static void run(struct sl_mitm *m, struct leg *l)
{
	const struct sl_hs_actions *o = &m->out;

	for (unsigned int i = 0; i < o->n; i++) {
		const struct sl_hs_action *a = &o->a[i];

		switch (a->type) {
		case SL_HS_ACT_SEND:
			/* Our own PAIR_COMMIT towards B: what grinding
			 * needs of leg B. */
			if (a->send.type == SL_MSG_PAIR_COMMIT) {
				memcpy(l->commit, a->send.msg, 40);
				l->have_commit = true;
			}
			send_msg(m, l, a->send.msg, a->send.len);
			break;
		case SL_HS_ACT_SHOW_SAS:
			/* Leg B: we are its initiator, so we see its SAS. */
			l->dh_done = true;
			memcpy(l->peer, a->sas.peer_account, sizeof(l->peer));
			memcpy(l->sas, a->sas.sas, sizeof(l->sas));
			say(m, "%s: Noise XX complete with %c (account %s): every DH with our keys; %c's SAS is %s",
			    l->name, l->side, l->peer, l->side, l->sas);
			break;
		case SL_HS_ACT_ASK_SAS:
			/* Leg A: we are its responder; A shows A's SAS. */
			l->dh_done = true;
			memcpy(l->peer, a->sas.peer_account, sizeof(l->peer));
			say(m, "%s: Noise XX complete with %c (account %s): every DH with our keys; %c's operator now reads its SAS",
			    l->name, l->side, l->peer, l->side);
			break;
		case SL_HS_ACT_STAGE_KEY:
		case SL_HS_ACT_ACTIVATE_KEY:
			say(m, "%s: key epoch %u (not installed: no kernel here)",
			    l->name, a->type == SL_HS_ACT_STAGE_KEY ?
			    a->stage.epoch : a->activate.epoch);
			break;
		case SL_HS_ACT_STORE_PEER:
			say(m, "%s: %c's operator was fooled: paired with %s",
			    l->name, l->side, a->store.account);
			break;
		case SL_HS_ACT_NAK:
			say(m, "%s: NAK %s %c: %s (refusing %s)", l->name,
			    a->nak.sent ? "sent to" : "received from", l->side,
			    sl_nak_reason_name(a->nak.reason),
			    sl_hs_msg_name(a->nak.ref_type));
			break;
		case SL_HS_ACT_DONE:
			snprintf(l->end, sizeof(l->end), "done");
			say(m, "%s: %s completed with %c", l->name,
			    a->result.kind == SL_HS_PAIR ? "pairing" : "session",
			    l->side);
			break;
		case SL_HS_ACT_FAILED:
			snprintf(l->end, sizeof(l->end), "failed:%s%s",
				 sl_nak_reason_name(a->result.reason),
				 a->result.remote ? "(theirs)" : "");
			say(m, "%s: %s failed: %s (%s)", l->name,
			    a->result.kind == SL_HS_PAIR ? "pairing" : "session",
			    a->result.text ? a->result.text : "",
			    sl_nak_reason_name(a->result.reason));
			break;
		case SL_HS_ACT_PAIR_WAIT:
		case SL_HS_ACT_CLEAR_KEYS:
			break;
		}
	}
	if (o->dropped)
		say(m, "%s: message dropped: %s", l->name, o->dropped);
	l->next_timer = o->next_timer;
	sl_hs_actions_done(l->hs);
	sl_wipe(&m->out, sizeof(m->out));
}

/*
 * The leg's engine, with static key priv (copied) or a fresh one: leg A
 * answers A's pairing (pairing enabled), leg B starts one towards B.
 */
static int leg_engine(struct leg *l, const uint8_t *priv, char *err,
		      size_t err_len)
{
	struct sl_hs_config c = { 0 };
	uint8_t pub[SL_X25519_KEY_LEN];
	int ret;

	sl_hs_free(l->hs);
	l->hs = NULL;
	if (priv)
		memcpy(l->priv, priv, SL_X25519_KEY_LEN);
	else if (sl_x25519_keypair(l->priv, pub)) {
		snprintf(err, err_len, "X25519 key generation failed");
		return -EIO;
	}
	memcpy(c.account, l->claim, SL_ACCOUNT_LEN);
	c.static_priv = l->priv;
	c.pair_enabled = l->towards == SL_MITM_LEG_A;
	c.rekey_interval_ms = UINT32_MAX;
	c.peer_fn = no_peers;
	c.test_random = leg_random;
	c.test_ctx = l;
	l->hs = sl_hs_new(&c, &ret);
	if (!l->hs) {
		snprintf(err, err_len, "handshake engine: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

static int leg_init(struct leg *l, const char *name, char side, int towards,
		    const char *claim, char *err, size_t err_len)
{
	l->name = name;
	l->side = side;
	l->towards = towards;
	l->claim = claim;
	l->priv = sl_secure_alloc(SL_X25519_KEY_LEN);
	if (!l->priv) {
		snprintf(err, err_len, "no secure memory");
		return -ENOMEM;
	}
	return leg_engine(l, NULL, err, err_len);
}

static bool account_ok(const char *s)
{
	if (!s || strlen(s) != SL_ACCOUNT_LEN)
		return false;
	for (size_t i = 0; i < SL_ACCOUNT_LEN; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

struct sl_mitm *sl_mitm_new(const char *account_a, const char *account_b,
			    sl_mitm_emit_fn emit, sl_mitm_log_fn log,
			    void *ctx, char *err, size_t err_len)
{
	struct sl_mitm *m;

	if (!account_ok(account_a) || !account_ok(account_b)) {
		snprintf(err, err_len, "accounts must be 12 digits each");
		return NULL;
	}
	if (sl_crypto_init(0, SL_CRYPTO_QUIET_SECMEM, err, err_len))
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	m->emit = emit;
	m->log = log;
	m->ctx = ctx;
	memcpy(m->b_account, account_b, SL_ACCOUNT_LEN);
	/* Towards A we pose as B, towards B as A. */
	snprintf(m->result.claim_a, sizeof(m->result.claim_a), "%s", account_b);
	snprintf(m->result.claim_b, sizeof(m->result.claim_b), "%s", account_a);
	if (leg_init(&m->leg[SL_MITM_LEG_A], "leg A", 'A', SL_MITM_LEG_A,
		     m->result.claim_a, err, err_len) ||
	    leg_init(&m->leg[SL_MITM_LEG_B], "leg B", 'B', SL_MITM_LEG_B,
		     m->result.claim_b, err, err_len)) {
		sl_mitm_free(m);
		return NULL;
	}
	return m;
}

int sl_mitm_grind(struct sl_mitm *m, unsigned int n,
		  const uint8_t b_pub[SL_X25519_KEY_LEN])
{
	if (!n || n > SL_MITM_GRIND_MAX || m->b_started)
		return -EINVAL;
	m->grind_n = n;
	memcpy(m->b_pub, b_pub, SL_X25519_KEY_LEN);
	return 0;
}

void sl_mitm_free(struct sl_mitm *m)
{
	if (!m)
		return;
	for (int i = 0; i < 2; i++) {
		sl_hs_free(m->leg[i].hs);
		sl_secure_free(m->leg[i].priv, SL_X25519_KEY_LEN);
	}
	sl_wipe(m, sizeof(*m));
	free(m);
}

/* Feed one message to a leg's engine and carry out what it asks. */
static void feed(struct sl_mitm *m, struct leg *l, const uint8_t *msg,
		 size_t len, uint64_t now_ms)
{
	sl_hs_input(l->hs, msg, len, now_ms, &m->out);
	run(m, l);
}

/*
 * Both legs are where the static keys get chosen (A revealed, B answered
 * our commitment): grind, then rebuild each leg's engine with the key
 * chosen, replaying its pairing so far, and let the held messages in.
 */
static void grind_and_go(struct sl_mitm *m, uint64_t now_ms)
{
	struct leg *a = &m->leg[SL_MITM_LEG_A], *b = &m->leg[SL_MITM_LEG_B];
	struct sl_mitm_grind_result *res = &m->result;
	struct sl_grind_in in[2] = {
		{ .leg_b = false }, { .leg_b = true },
	};
	struct sl_grind_leg g[2] = { 0 };
	struct sl_grind_keys k;
	struct sl_hs_pair_opts o = { .initiate = true };
	char err[128];
	int ret;

	m->ground = true;
	/* Our ephemeral keys are the first 32 bytes each engine drew for
	 * them: leg A's only draw, leg B's after its 4-byte hsid. */
	memcpy(in[0].commit, a->commit, 40);
	memcpy(in[0].reply, a->held, a->held_len);
	memcpy(in[0].e_priv, a->rnd, SL_X25519_KEY_LEN);
	memcpy(in[0].claim, a->claim, SL_ACCOUNT_LEN);
	memcpy(in[1].commit, b->commit, 40);
	memcpy(in[1].reply, b->held, b->held_len);
	memcpy(in[1].e_priv, b->rnd + 4, SL_X25519_KEY_LEN);
	memcpy(in[1].claim, b->claim, SL_ACCOUNT_LEN);
	memcpy(in[1].b_pub, m->b_pub, SL_X25519_KEY_LEN);
	memcpy(in[1].b_account, m->b_account, SL_ACCOUNT_LEN);

	res->n = m->grind_n;
	ret = sl_grind_keys_new(&k, m->grind_n);
	if (!ret)
		ret = sl_grind_leg(&g[0], &in[0], &k);
	if (!ret)
		ret = sl_grind_leg(&g[1], &in[1], &k);
	if (ret) {
		say(m, "grind: failed (%s): going on without", strerror(-ret));
		res->ia = res->ib = 0;
	} else {
		res->found_new = sl_grind_match(&g[0], &g[1], false, &res->ia,
						&res->ib, &res->pairs_new);
		res->found_old = sl_grind_match(&g[0], &g[1], true,
						&res->old_ia, &res->old_ib,
						&res->pairs_old);
		memcpy(res->sas_new_a, g[0].sas_new, 6);
		memcpy(res->sas_new_b, g[1].sas_new, 6);
		if (!res->found_new) {
			/* Nothing to win against version 2: take the pair
			 * that would have fooled version 1, if any. */
			res->ia = res->found_old ? res->old_ia : 0;
			res->ib = res->found_old ? res->old_ib : 0;
		}
		if (!sl_grind_pick(&g[0], &in[0], &k, res->ia))
			memcpy(res->finish_a, g[0].sent, sizeof(res->finish_a));
		if (!sl_grind_pick(&g[1], &in[1], &k, res->ib)) {
			memcpy(res->reveal_b, g[1].sent, sizeof(res->reveal_b));
			memcpy(res->predicted_b, g[1].predicted,
			       sizeof(res->predicted_b));
		}
		res->done = true;
		say(m, "grind: %u static keys per leg: v2 codes %s (leg A) and %s (leg B), %s; v1 codes would have agreed for %llu pairs",
		    m->grind_n, g[0].sas_new, g[1].sas_new,
		    res->found_new ? "EQUAL" : "different whatever the keys",
		    (unsigned long long)res->pairs_old);
	}

	/* Leg B: the same commitment again (not sent), then B's reply. */
	b->replay = true;
	b->rnd_pos = 0;
	b->suppress = true;
	ret = leg_engine(b, ret ? NULL : k.priv[res->ib], err, sizeof(err));
	if (!ret) {
		o.until = now_ms + SL_HS_PAIR_WAIT_MS;
		if (sl_hs_pair(b->hs, &o, now_ms, &m->out))
			say(m, "leg B: cannot replay the pairing");
		else
			run(m, b);
	}
	b->suppress = false;
	if (!ret)
		feed(m, b, b->held, b->held_len, now_ms);
	/* Leg A: A's commitment again (our reply not sent), then A's
	 * reveal. */
	a->replay = true;
	a->rnd_pos = 0;
	a->suppress = true;
	if (!ret)
		ret = leg_engine(a, k.n ? k.priv[res->ia] : NULL, err,
				 sizeof(err));
	if (!ret)
		feed(m, a, a->commit, 40, now_ms);
	a->suppress = false;
	if (!ret)
		feed(m, a, a->held, a->held_len, now_ms);
	else
		say(m, "grind: %s", err);
	a->replay = b->replay = false;
	sl_grind_leg_free(&g[0]);
	sl_grind_leg_free(&g[1]);
	sl_grind_keys_free(&k);
}

/* Grinding: hold back what decides a leg's static key until both do. */
static bool hold(struct sl_mitm *m, struct leg *l, const uint8_t *msg,
		 size_t len, uint64_t now_ms)
{
	uint8_t want = l->towards == SL_MITM_LEG_A ? SL_MSG_PAIR_REVEAL :
						     SL_MSG_PAIR_EPHEMERAL;

	if (!m->grind_n || m->ground || len < 2 || msg[1] != want ||
	    len > sizeof(l->held))
		return false;
	if (!l->held_len) {
		memcpy(l->held, msg, len);
		l->held_len = len;
		say(m, "%s: %s held back for grinding", l->name,
		    sl_hs_msg_name(want));
	}
	if (m->leg[0].held_len && m->leg[1].held_len)
		grind_and_go(m, now_ms);
	return true;
}

bool sl_mitm_frame(struct sl_mitm *m, int from, const uint8_t *wire,
		   size_t len, uint64_t now_ms)
{
	uint8_t buf[SEALINE_FRAME_MAX_WIRE];
	struct sealine_frame f;
	struct leg *l = &m->leg[from];
	long raw;

	if (!len || len > sizeof(buf))
		return false;
	memcpy(buf, wire, len);
	raw = sealine_cobs_decode(buf, len);
	if (raw <= 0 || sealine_frame_parse(buf, (size_t)raw, &f) ||
	    f.type != SEALINE_FRAME_CONTROL)
		return false;
	l->rx++;
	say(m, "%s: <- %c %s (%zu bytes)", l->name, l->side,
	    f.body_len >= 2 ? sl_hs_msg_name(f.body[1]) : "?", f.body_len);
	if (hold(m, l, f.body, f.body_len, now_ms))
		return true;
	/* A's first PAIR_COMMIT: what grinding needs of leg A. */
	if (from == SL_MITM_LEG_A && !m->b_started && f.body_len == 40 &&
	    f.body[1] == SL_MSG_PAIR_COMMIT) {
		memcpy(l->commit, f.body, 40);
		l->have_commit = true;
		l->rnd_n = 0;
	}
	feed(m, l, f.body, f.body_len, now_ms);
	/* A's pairing starts ours towards B. */
	if (from == SL_MITM_LEG_A && !m->b_started && f.body_len >= 2 &&
	    f.body[1] == SL_MSG_PAIR_COMMIT) {
		struct leg *b = &m->leg[SL_MITM_LEG_B];
		struct sl_hs_pair_opts o = {
			.initiate = true,
			.until = now_ms + SL_HS_PAIR_WAIT_MS,
		};

		m->b_started = true;
		b->rnd_n = 0;
		say(m, "leg B: A starts a pairing: starting ours towards B");
		if (sl_hs_pair(b->hs, &o, now_ms, &m->out))
			say(m, "leg B: cannot start a pairing");
		else
			run(m, b);
	}
	return true;
}

void sl_mitm_timer(struct sl_mitm *m, uint64_t now_ms)
{
	for (int i = 0; i < 2; i++) {
		struct leg *l = &m->leg[i];

		if (!l->next_timer || l->next_timer > now_ms)
			continue;
		l->next_timer = 0;
		sl_hs_timer(l->hs, now_ms, &m->out);
		run(m, l);
	}
}

uint64_t sl_mitm_next_timer(const struct sl_mitm *m)
{
	uint64_t a = m->leg[0].next_timer, b = m->leg[1].next_timer;

	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

const struct sl_mitm_grind_result *sl_mitm_grind_result(const struct sl_mitm *m)
{
	return &m->result;
}

void sl_mitm_status(const struct sl_mitm *m, char *buf, size_t len)
{
	const struct leg *a = &m->leg[SL_MITM_LEG_A], *b = &m->leg[SL_MITM_LEG_B];
	const struct sl_mitm_grind_result *r = &m->result;
	char grind[96] = "";

	if (m->grind_n)
		snprintf(grind, sizeof(grind),
			 " grind=%u ground=%s v2_equal=%s v1_pairs=%llu",
			 m->grind_n, r->done ? "yes" : "no",
			 r->found_new ? "yes" : "no",
			 (unsigned long long)r->pairs_old);
	snprintf(buf, len,
		 "mitm=on legA rx=%u tx=%u dh=%s peer=%s end=%s legB rx=%u tx=%u dh=%s peer=%s sas=%s end=%s%s",
		 a->rx, a->tx, a->dh_done ? "yes" : "no",
		 a->peer[0] ? a->peer : "-", a->end[0] ? a->end : "-",
		 b->rx, b->tx, b->dh_done ? "yes" : "no",
		 b->peer[0] ? b->peer : "-", b->sas[0] ? b->sas : "-",
		 b->end[0] ? b->end : "-", grind);
}
