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

#include "crypto.h"
#include "frame.h"
#include "handshake.h"
#include "mitm.h"

#define LOG_MAX 256

struct leg {
	const char *name;		/* "leg A" */
	char side;			/* 'A' or 'B': the real party */
	int towards;			/* SL_MITM_LEG_* its messages go to */
	struct sl_hs *hs;
	uint8_t *priv;			/* this leg's static key (secure) */
	uint64_t next_timer;
	bool dh_done;			/* the Noise XX exchange completed */
	char peer[SL_ACCOUNT_LEN + 1];	/* account the real party claimed */
	char sas[6];			/* leg B: the SAS B's daemon expects */
	char end[64];			/* how it ended, "" while running */
	unsigned int rx, tx;
};

struct sl_mitm {
	struct leg leg[2];
	sl_mitm_emit_fn emit;
	sl_mitm_log_fn log;
	void *ctx;
	bool b_started;
	struct sl_hs_actions out;	/* the engines' last list */
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

/* A handshake message as the kernel would frame it: COBS and 0x00. */
static void send_msg(struct sl_mitm *m, struct leg *l, const uint8_t *msg,
		     size_t len)
{
	uint8_t raw[SEALINE_HDR_LEN + SL_HS_MAX_MSG + SEALINE_CRC_LEN];
	uint8_t wire[1 + sizeof(raw) + sizeof(raw) / 254 + 2];
	size_t n = 0;

	if (len > SL_HS_MAX_MSG)
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
		}
	}
	if (o->dropped)
		say(m, "%s: message dropped: %s", l->name, o->dropped);
	l->next_timer = o->next_timer;
	sl_hs_actions_done(l->hs);
	sl_wipe(&m->out, sizeof(m->out));
}

static int leg_init(struct leg *l, const char *name, char side, int towards,
		    const char *claim, bool responder, char *err,
		    size_t err_len)
{
	struct sl_hs_config c = { 0 };
	uint8_t pub[SL_X25519_KEY_LEN];
	int ret;

	l->name = name;
	l->side = side;
	l->towards = towards;
	l->priv = sl_secure_alloc(SL_X25519_KEY_LEN);
	if (!l->priv) {
		snprintf(err, err_len, "no secure memory");
		return -ENOMEM;
	}
	ret = sl_x25519_keypair(l->priv, pub);
	if (ret) {
		snprintf(err, err_len, "X25519 key generation failed");
		return ret;
	}
	memcpy(c.account, claim, SL_ACCOUNT_LEN);
	c.static_priv = l->priv;
	c.pair_enabled = responder;
	c.rekey_interval_ms = UINT32_MAX;
	c.peer_fn = no_peers;
	l->hs = sl_hs_new(&c, &ret);
	if (!l->hs) {
		snprintf(err, err_len, "handshake engine: %s", strerror(-ret));
		return ret;
	}
	return 0;
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
	/* Towards A we pose as B, towards B as A. */
	if (leg_init(&m->leg[SL_MITM_LEG_A], "leg A", 'A', SL_MITM_LEG_A,
		     account_b, true, err, err_len) ||
	    leg_init(&m->leg[SL_MITM_LEG_B], "leg B", 'B', SL_MITM_LEG_B,
		     account_a, false, err, err_len)) {
		sl_mitm_free(m);
		return NULL;
	}
	return m;
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
	sl_hs_input(l->hs, f.body, f.body_len, now_ms, &m->out);
	run(m, l);
	/* A's pairing starts ours towards B. */
	if (from == SL_MITM_LEG_A && !m->b_started && f.body_len >= 2 &&
	    f.body[1] == SL_MSG_PAIR_COMMIT) {
		struct leg *b = &m->leg[SL_MITM_LEG_B];

		m->b_started = true;
		say(m, "leg B: A starts a pairing: starting ours towards B");
		if (sl_hs_pair(b->hs, now_ms, &m->out))
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

void sl_mitm_status(const struct sl_mitm *m, char *buf, size_t len)
{
	const struct leg *a = &m->leg[SL_MITM_LEG_A], *b = &m->leg[SL_MITM_LEG_B];

	snprintf(buf, len,
		 "mitm=on legA rx=%u tx=%u dh=%s peer=%s end=%s legB rx=%u tx=%u dh=%s peer=%s sas=%s end=%s",
		 a->rx, a->tx, a->dh_done ? "yes" : "no",
		 a->peer[0] ? a->peer : "-", a->end[0] ? a->end : "-",
		 b->rx, b->tx, b->dh_done ? "yes" : "no",
		 b->peer[0] ? b->peer : "-", b->sas[0] ? b->sas : "-",
		 b->end[0] ? b->end : "-");
}
