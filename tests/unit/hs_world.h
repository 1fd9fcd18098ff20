/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The world in which the tests of the handshake engine (test_hs_wire.c,
 * test_hs_pair.c, test_hs_session.c, test_hs_robust.c) drive
 * agent/proto/hs_*.c end to end in one process: two (or, for a man in the
 * middle, four) engines joined by a simulated line that can lose,
 * duplicate, replay, reorder or damage messages, each with a simulated
 * kernel (the next/cur/prev key slots, SET_KEY's epoch rule, promotion on
 * the peer's keepalive), a key store and an operator, on a virtual clock;
 * the filters tests put on the line; the scan for accounts in clear.
 *
 * Header-only, like check.h, so that its checks count into the cases of
 * the program that includes it; every function is static inline, since
 * no program uses all of them.
 *
 * HS_DEBUG=1 prints every action and every drop with the virtual time.
 */
#ifndef SEALINE_TEST_HS_WORLD_H
#define SEALINE_TEST_HS_WORLD_H

#include <errno.h>
#include <string.h>

#include <linux/sealine.h>

#include "check.h"
#include "crypto.h"
#include "handshake.h"
#include "noise.h"
#include "agent_test.h"

/* ---- The simulated line, kernels, key stores, operators --------- */

#define MAX_SIDES	4
#define MAX_PEERS	8
#define QLEN		1024
#define LOG_MAX		4096
#define MSG_ROOM	(SL_HS_MAX_MSG + 256)

struct kslot {
	bool used;
	uint32_t epoch;
	uint8_t cipher;
	uint8_t tx[32], rx[32];
	uint32_t hsid;
	uint8_t courier_tx[32], courier_rx[32];	/* the courier's, with it */
};

struct kernel {
	struct kslot next, cur, prev;
	unsigned int stages, activations, promotions;
};

struct stored {
	bool used;
	char account[13];
	uint8_t pub[32];
	uint8_t *ltk;
	uint8_t *ss;		/* DH(own static, its static), if cached */
	enum sl_hs_peer_status status;
};

struct side {
	const char *name;
	struct sl_hs *hs;
	struct sl_hs_config cfg;
	uint8_t *s_priv;
	uint8_t s_pub[32];
	char account[13];
	struct kernel k;
	struct stored peers[MAX_PEERS];
	int route;			/* where its messages go */

	/* Operator. */
	char sas_shown[6];
	bool show_pending, ask_pending;
	uint64_t op_at;
	unsigned int op_delay;
	int op_confirm;			/* 1 yes, 0 no, -1 never */
	int type_from;			/* types the SAS this side shows, */
	const char *typed[4];		/* or these, in turn */
	int n_typed, typed_i;
	bool never_types;

	/* What happened. */
	int n_done, n_failed, n_stage, n_activate, n_store, n_show, n_ask;
	int n_wait, n_clear;
	uint8_t wait_reason, clear_reason;
	uint8_t shown_static[32];	/* the peer key a prompt showed */
	int n_nak_sent, n_nak_rx, n_sent;
	struct sl_hs_result done, failed;
	struct sl_hs_nak_info nak_sent, nak_rx;
	uint8_t stored_ltk[32];
	uint64_t next_timer;

	/* Faults. */
	int fail_stage, fail_store;

	/* Scripted randomness (vectors), else check_rand(). */
	uint8_t rnd[512];
	size_t rnd_n, rnd_pos;
	bool rnd_overrun;
};

struct qmsg {
	int to;
	bool keepalive;
	uint32_t epoch;
	uint8_t key[32];
	uint8_t b[MSG_ROOM];
	size_t len;
};

enum { DELIVER, DROP, DUPLICATE };

struct world {
	int n;
	struct side s[MAX_SIDES];
	uint64_t now;
	struct qmsg q[QLEN];
	unsigned int qh, qt;
	struct {
		int from;
		uint8_t b[MSG_ROOM];
		size_t len;
	} log[LOG_MAX];
	int n_log;
	int (*filter)(struct world *w, int from, struct qmsg *m, void *ctx);
	void *fctx;
	bool forbid_keys;	/* a STAGE/ACTIVATE/STORE now is a failure */
	bool mute;		/* SENDs are logged, not delivered */
	bool no_operators;
	void (*pre_deliver)(struct qmsg *m);
};

static struct world W;

static inline int side_rand(void *ctx, uint8_t *buf, size_t len)
{
	struct side *s = ctx;

	for (size_t i = 0; i < len; i++) {
		if (s->rnd_pos < s->rnd_n)
			buf[i] = s->rnd[s->rnd_pos++];
		else {
			if (s->rnd_n)
				s->rnd_overrun = true;
			buf[i] = (uint8_t)check_rand();
		}
	}
	return 0;
}

static inline void script_rand(struct side *s, const char *hex)
{
	s->rnd_n += unhex(s->rnd + s->rnd_n, sizeof(s->rnd) - s->rnd_n, hex);
}

static inline int peer_fn(void *ctx, unsigned int index, struct sl_hs_peer *p)
{
	struct side *s = ctx;
	unsigned int n = 0;

	for (int i = 0; i < MAX_PEERS; i++) {
		if (!s->peers[i].used)
			continue;
		if (n++ != index)
			continue;
		memcpy(p->account, s->peers[i].account, 12);
		memcpy(p->static_pub, s->peers[i].pub, 32);
		p->ltk = s->peers[i].ltk;
		p->ss = s->peers[i].ss;
		p->status = s->peers[i].status;
		return 0;
	}
	return -ENOENT;
}

static inline int key_epoch_fn(void *ctx, uint32_t *epoch)
{
	struct side *s = ctx;

	if (!s->k.cur.used)
		return -ENOKEY;
	*epoch = s->k.cur.epoch;
	return 0;
}

static inline void side_init(struct side *s, int i, const char *account)
{
	memset(s, 0, sizeof(*s));
	s->name = (const char *[]){ "A", "B", "C", "D" }[i];
	s->route = i ^ 1;
	s->type_from = -1;
	s->op_confirm = 1;
	s->op_delay = 2000;
	s->s_priv = sl_secure_alloc(32);
	if (!s->s_priv || sl_x25519_keypair(s->s_priv, s->s_pub))
		abort();
	snprintf(s->account, sizeof(s->account), "%s", account);
	memcpy(s->cfg.account, s->account, 12);
	s->cfg.static_priv = s->s_priv;
	s->cfg.peer_fn = peer_fn;
	s->cfg.key_epoch_fn = key_epoch_fn;
	s->cfg.ctx = s;
	s->cfg.test_random = side_rand;
	s->cfg.test_ctx = s;
}

static inline void world_init(int n)
{
	static const char *const accounts[] = {
		"123456789012", "210987654321", "555000111222", "999888777666"
	};

	memset(&W, 0, sizeof(W));
	W.n = n;
	W.now = 1000000;
	for (int i = 0; i < n; i++)
		side_init(&W.s[i], i, accounts[i]);
}

static inline bool side_start(struct side *s)
{
	int err = 1;

	s->hs = sl_hs_new(&s->cfg, &err);
	return CHECKF(s->hs && !err, "sl_hs_new(%s): %d", s->name, err);
}

static inline void world_start(void)
{
	for (int i = 0; i < W.n; i++)
		side_start(&W.s[i]);
}

static inline void world_free(void)
{
	for (int i = 0; i < W.n; i++) {
		struct side *s = &W.s[i];

		sl_hs_free(s->hs);
		s->hs = NULL;
		sl_secure_free(s->s_priv, 32);
		for (int p = 0; p < MAX_PEERS; p++) {
			sl_secure_free(s->peers[p].ltk, 32);
			sl_secure_free(s->peers[p].ss, 32);
		}
		sl_wipe(&s->k, sizeof(s->k));
	}
	memset(&W, 0, sizeof(W));
}

/* Puts b's identity into a's store with ltk. */
static inline void give_peer(int a, int b, const uint8_t *ltk,
			     enum sl_hs_peer_status status)
{
	struct side *s = &W.s[a];

	for (int p = 0; p < MAX_PEERS; p++) {
		struct stored *st = &s->peers[p];

		if (st->used && strcmp(st->account, W.s[b].account))
			continue;
		if (!st->ltk)
			st->ltk = sl_secure_alloc(32);
		st->used = true;
		memcpy(st->account, W.s[b].account, 13);
		memcpy(st->pub, W.s[b].s_pub, 32);
		memcpy(st->ltk, ltk, 32);
		st->status = status;
		return;
	}
	abort();
}

/* a and b paired already: the same random LTK in both stores. */
static inline void provision(int a, int b)
{
	uint8_t ltk[32];

	check_fill_random(ltk, 32);
	give_peer(a, b, ltk, SL_PEER_AUTHORISED);
	give_peer(b, a, ltk, SL_PEER_AUTHORISED);
	sl_wipe(ltk, 32);
}

static inline struct sl_hs_peer peer_of(int a, int b)
{
	struct sl_hs_peer p = { 0 };

	for (int i = 0; i < MAX_PEERS; i++)
		if (W.s[a].peers[i].used &&
		    !strcmp(W.s[a].peers[i].account, W.s[b].account)) {
			memcpy(p.account, W.s[a].peers[i].account, 12);
			memcpy(p.static_pub, W.s[a].peers[i].pub, 32);
			p.ltk = W.s[a].peers[i].ltk;
			p.status = W.s[a].peers[i].status;
		}
	return p;
}

/* ---- Kernel model ------------------------------------------------ */

static inline void enqueue(struct qmsg *m)
{
	if (W.qt - W.qh >= QLEN)
		abort();
	W.q[W.qt++ % QLEN] = *m;
}

static inline int kernel_set_key(struct side *s, const struct sl_hs_action *a)
{
	struct kernel *k = &s->k;
	uint32_t low = a->stage.epoch & 15;

	if (s->fail_stage) {
		s->fail_stage--;
		return -ENOMEM;
	}
	if ((k->cur.used && (k->cur.epoch & 15) == low) ||
	    (k->prev.used && (k->prev.epoch & 15) == low))
		return -EEXIST;
	CHECK(memcmp(a->stage.tx, a->stage.rx, 32));
	CHECK(a->stage.courier_tx && a->stage.courier_rx);
	CHECK(memcmp(a->stage.courier_tx, a->stage.courier_rx, 32));
	CHECK(memcmp(a->stage.courier_tx, a->stage.tx, 32));
	CHECK(memcmp(a->stage.courier_rx, a->stage.rx, 32));
	CHECK(a->stage.hsid != 0);
	k->next.used = true;
	k->next.hsid = a->stage.hsid;
	memcpy(k->next.courier_tx, a->stage.courier_tx, 32);
	memcpy(k->next.courier_rx, a->stage.courier_rx, 32);
	k->next.epoch = a->stage.epoch;
	k->next.cipher = a->stage.cipher;
	memcpy(k->next.tx, a->stage.tx, 32);
	memcpy(k->next.rx, a->stage.rx, 32);
	k->stages++;
	return 0;
}

static inline void promote(struct side *s)
{
	struct kernel *k = &s->k;
	struct qmsg m = { 0 };

	k->prev = k->cur;
	k->cur = k->next;
	memset(&k->next, 0, sizeof(k->next));
	k->promotions++;
	/* The keepalive under the new key, to the peer. */
	m.to = s->route;
	m.keepalive = true;
	m.epoch = k->cur.epoch;
	memcpy(m.key, k->cur.tx, 32);
	m.len = 0;
	if (!W.filter || W.filter(&W, (int)(s - W.s), &m, W.fctx) != DROP)
		enqueue(&m);
}

static inline int kernel_activate(struct side *s, uint32_t epoch)
{
	struct kernel *k = &s->k;

	if (k->cur.used && k->cur.epoch == epoch)
		return 0;
	if (!k->next.used)
		return -ENOKEY;
	if (k->next.epoch != epoch)
		return -ESTALE;
	k->activations++;
	promote(s);
	return 0;
}

/* A keepalive (or any frame) under epoch with the sender's tx key. */
static inline void kernel_frame(struct side *s, const struct qmsg *m)
{
	struct kernel *k = &s->k;

	if (k->next.used && (k->next.epoch & 15) == (m->epoch & 15) &&
	    !memcmp(k->next.rx, m->key, 32)) {
		k->prev = k->cur;
		k->cur = k->next;
		memset(&k->next, 0, sizeof(k->next));
		k->promotions++;
	}
}

/* ---- Carrying out actions ---------------------------------------- */

static inline void apply(int i, struct sl_hs_actions *out);

static inline void fail_action(int i, enum sl_hs_act type, int err)
{
	struct sl_hs_actions out;

	CHECK_EQ(sl_hs_action_failed(W.s[i].hs, type, err, W.now, &out), 0);
	apply(i, &out);
}

static inline void store_peer(struct side *s, const struct sl_hs_action *a)
{
	struct stored *st = NULL;

	for (int p = 0; p < MAX_PEERS && !st; p++)
		if (s->peers[p].used &&
		    !strcmp(s->peers[p].account, a->store.account))
			st = &s->peers[p];
	for (int p = 0; p < MAX_PEERS && !st; p++)
		if (!s->peers[p].used)
			st = &s->peers[p];
	if (!st)
		abort();
	if (!st->ltk)
		st->ltk = sl_secure_alloc(32);
	st->used = true;
	snprintf(st->account, 13, "%s", a->store.account);
	memcpy(st->pub, a->store.static_pub, 32);
	memcpy(st->ltk, a->store.ltk, 32);
	st->status = SL_PEER_AUTHORISED;
	memcpy(s->stored_ltk, a->store.ltk, 32);
}

static inline bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

static inline void apply(int i, struct sl_hs_actions *out)
{
	struct side *s = &W.s[i];
	const uint8_t *handed[12];
	int n_handed = 0;

	CHECKF(out->n <= SL_HS_MAX_ACTIONS, "%u actions", out->n);
	s->next_timer = out->next_timer;
	if (getenv("HS_DEBUG")) {
		if (out->dropped && !W.mute)
			printf("  %8llu %s: dropped: %s\n",
			       (unsigned long long)W.now, s->name, out->dropped);
		for (unsigned int j = 0; j < out->n; j++)
			if (!W.mute || out->a[j].type != SL_HS_ACT_SEND)
				printf("  %8llu %s%s: action %d %s %s\n",
				       (unsigned long long)W.now, s->name,
				       W.mute ? " (mutant)" : "",
				       out->a[j].type,
				       out->a[j].type == SL_HS_ACT_SEND ?
				       sl_hs_msg_name(out->a[j].send.type) : "",
				       out->a[j].type >= SL_HS_ACT_DONE ?
				       out->a[j].result.text : "");
	}
	for (unsigned int j = 0; j < out->n; j++) {
		struct sl_hs_action *a = &out->a[j];
		struct qmsg m = { 0 };
		int err, verdict;

		switch (a->type) {
		case SL_HS_ACT_SEND:
			CHECK(a->send.len >= 6 && a->send.len <= SL_HS_MAX_MSG);
			CHECK_EQ(a->send.type, a->send.msg[1]);
			s->n_sent++;
			if (W.n_log < LOG_MAX) {
				W.log[W.n_log].from = i;
				memcpy(W.log[W.n_log].b, a->send.msg,
				       a->send.len);
				W.log[W.n_log].len = a->send.len;
				W.n_log++;
			}
			if (W.mute)
				break;
			m.to = s->route;
			memcpy(m.b, a->send.msg, a->send.len);
			m.len = a->send.len;
			verdict = W.filter ? W.filter(&W, i, &m, W.fctx) :
					     DELIVER;
			if (verdict != DROP)
				enqueue(&m);
			if (verdict == DUPLICATE)
				enqueue(&m);
			break;
		case SL_HS_ACT_SHOW_SAS:
			CHECK(!W.forbid_keys);
			s->n_show++;
			memcpy(s->sas_shown, a->sas.sas, 6);
			CHECK_EQ(strlen(a->sas.sas), 5);
			CHECK(a->sas.deadline > W.now);
			memcpy(s->shown_static, a->sas.peer_static, 32);
			s->show_pending = true;
			s->op_at = W.now + s->op_delay;
			break;
		case SL_HS_ACT_ASK_SAS:
			s->n_ask++;
			CHECK(a->sas.deadline > W.now);
			CHECK(a->sas.attempts_left >= 1 &&
			      a->sas.attempts_left <= 3);
			memcpy(s->shown_static, a->sas.peer_static, 32);
			s->ask_pending = true;
			s->op_at = W.now + s->op_delay;
			break;
		case SL_HS_ACT_PAIR_WAIT:
			s->n_wait++;
			s->wait_reason = a->wait.reason;
			CHECK(a->wait.until > W.now);
			break;
		case SL_HS_ACT_CLEAR_KEYS:
			s->n_clear++;
			s->clear_reason = a->close.reason;
			/* As the daemon does: CLEAR_KEYS. */
			memset(&s->k.next, 0, sizeof(s->k.next));
			memset(&s->k.cur, 0, sizeof(s->k.cur));
			memset(&s->k.prev, 0, sizeof(s->k.prev));
			break;
		case SL_HS_ACT_STAGE_KEY:
			CHECKF(!W.forbid_keys, "%s: STAGE_KEY", s->name);
			s->n_stage++;
			handed[n_handed++] = a->stage.tx;
			handed[n_handed++] = a->stage.rx;
			handed[n_handed++] = a->stage.courier_tx;
			handed[n_handed++] = a->stage.courier_rx;
			err = kernel_set_key(s, a);
			if (err) {
				fail_action(i, a->type, err);
				return;
			}
			break;
		case SL_HS_ACT_ACTIVATE_KEY:
			CHECKF(!W.forbid_keys, "%s: ACTIVATE_KEY", s->name);
			s->n_activate++;
			err = kernel_activate(s, a->activate.epoch);
			if (err) {
				fail_action(i, a->type, err);
				return;
			}
			break;
		case SL_HS_ACT_STORE_PEER:
			CHECKF(!W.forbid_keys, "%s: STORE_PEER", s->name);
			s->n_store++;
			handed[n_handed++] = a->store.ltk;
			if (s->fail_store) {
				s->fail_store--;
				fail_action(i, a->type, -EIO);
				return;
			}
			store_peer(s, a);
			break;
		case SL_HS_ACT_NAK:
			if (a->nak.sent) {
				s->n_nak_sent++;
				s->nak_sent = a->nak;
			} else {
				s->n_nak_rx++;
				s->nak_rx = a->nak;
			}
			break;
		case SL_HS_ACT_DONE:
			s->n_done++;
			s->done = a->result;
			s->show_pending = s->ask_pending = false;
			break;
		case SL_HS_ACT_FAILED:
			s->n_failed++;
			s->failed = a->result;
			s->show_pending = s->ask_pending = false;
			break;
		default:
			CHECKF(0, "unknown action %d", a->type);
		}
	}
	/* The key material the actions pointed to is wiped now. */
	sl_hs_actions_done(s->hs);
	for (int h = 0; h < n_handed; h++)
		CHECKF(all_zero(handed[h], 32), "%s: key %d not wiped",
		       s->name, h);
}

/* ---- Driving ----------------------------------------------------- */

static inline void input(int i, const uint8_t *m, size_t len)
{
	struct sl_hs_actions out;

	CHECK_EQ(sl_hs_input(W.s[i].hs, m, len, W.now, &out), 0);
	apply(i, &out);
}

static inline bool deliver_one(void)
{
	struct qmsg m;

	if (W.qh == W.qt)
		return false;
	m = W.q[W.qh++ % QLEN];
	if (W.pre_deliver && !m.keepalive)
		W.pre_deliver(&m);
	if (m.keepalive)
		kernel_frame(&W.s[m.to], &m);
	else
		input(m.to, m.b, m.len);
	return true;
}

static inline void operator_act(int i)
{
	struct side *s = &W.s[i];
	struct sl_hs_actions out;
	int err;

	if (s->show_pending && s->op_confirm >= 0) {
		s->show_pending = false;
		CHECK_EQ(sl_hs_sas_confirm(s->hs, s->op_confirm == 1, W.now,
					   &out), 0);
		apply(i, &out);
	} else if (s->ask_pending && !s->never_types) {
		const char *t;

		s->ask_pending = false;
		if (s->typed_i < s->n_typed)
			t = s->typed[s->typed_i++];
		else if (s->type_from >= 0)
			t = W.s[s->type_from].sas_shown;
		else
			return;
		err = sl_hs_sas_typed(s->hs, t, W.now, &out);
		if (err == -EINVAL) {	/* not a SAS: asked again */
			s->ask_pending = true;
			s->op_at = W.now + 1000;
			return;
		}
		CHECK_EQ(err, 0);
		apply(i, &out);
	}
}

static inline bool op_waiting(const struct side *s)
{
	if (W.no_operators)
		return false;
	return (s->show_pending && s->op_confirm >= 0) ||
	       (s->ask_pending && !s->never_types &&
		(s->typed_i < s->n_typed ||
		 (s->type_from >= 0 && W.s[s->type_from].sas_shown[0])));
}

/*
 * Runs until nothing is left to do or for at most limit ms of virtual
 * time: messages first, then operators and timers in time order.
 */
static inline void run(uint64_t limit)
{
	uint64_t end = W.now + limit;

	for (int steps = 0; steps < 100000; steps++) {
		uint64_t t = 0;
		int who = -1;
		bool op = false;

		if (deliver_one())
			continue;
		for (int i = 0; i < W.n; i++) {
			struct side *s = &W.s[i];

			if (s->hs && s->next_timer &&
			    (!t || s->next_timer < t)) {
				t = s->next_timer;
				who = i;
				op = false;
			}
			if (s->hs && op_waiting(s) && (!t || s->op_at < t)) {
				t = s->op_at;
				who = i;
				op = true;
			}
		}
		if (who < 0 || t > end)
			return;
		if (t > W.now)
			W.now = t;
		if (op) {
			operator_act(who);
		} else {
			struct sl_hs_actions out;

			CHECK_EQ(sl_hs_timer(W.s[who].hs, W.now, &out), 0);
			apply(who, &out);
		}
	}
	CHECKF(0, "run: no end after 100000 steps");
}

/* Both kernels hold the same current key, mirrored. */
static inline bool keys_match(int a, int b)
{
	struct kernel *ka = &W.s[a].k, *kb = &W.s[b].k;

	return CHECK(ka->cur.used && kb->cur.used) &&
	       CHECK_EQ(ka->cur.epoch, kb->cur.epoch) &&
	       CHECK_EQ(ka->cur.cipher, kb->cur.cipher) &&
	       CHECK(!memcmp(ka->cur.tx, kb->cur.rx, 32)) &&
	       CHECK(!memcmp(ka->cur.rx, kb->cur.tx, 32)) &&
	       CHECK(memcmp(ka->cur.tx, ka->cur.rx, 32)) &&
	       CHECK_EQ(ka->cur.hsid, kb->cur.hsid) &&
	       CHECK(!memcmp(ka->cur.courier_tx, kb->cur.courier_rx, 32)) &&
	       CHECK(!memcmp(ka->cur.courier_rx, kb->cur.courier_tx, 32));
}

static inline void start_session(int a, int b)
{
	struct sl_hs_actions out;
	struct sl_hs_peer p = peer_of(a, b);

	CHECK_EQ(sl_hs_connect(W.s[a].hs, &p, W.now, &out), 0);
	apply(a, &out);
}

/* Side a's operator waits to pair (sealctl pair): initiate, respond. */
static inline void open_window(int a, bool initiate, bool respond, uint64_t ms)
{
	struct sl_hs_actions out;
	struct sl_hs_pair_opts o = {
		.initiate = initiate,
		.respond = respond,
		.until = W.now + ms,
	};

	CHECK_EQ(sl_hs_pair(W.s[a].hs, &o, W.now, &out), 0);
	apply(a, &out);
}

/* Side a's operator starts a pairing as its initiator. */
static inline void start_pairing(int a)
{
	open_window(a, true, false, SL_HS_PAIR_WAIT_MS);
}

/* The usual pairing set-up: A initiates, B armed; operators behave. */
static inline void pairing_world(void)
{
	world_init(2);
	W.s[1].cfg.pair_enabled = true;
	W.s[1].type_from = 0;
	W.s[1].op_delay = 1000;
	world_start();
}

/* A keyed line: A and B provisioned and one session done. */
static inline bool keyed_world(void)
{
	world_init(2);
	provision(0, 1);
	world_start();
	start_session(0, 1);
	run(60000);
	return CHECK_EQ(W.s[0].n_done, 1) && CHECK_EQ(W.s[1].n_done, 1) &&
	       keys_match(0, 1);
}

static inline const char *sent_type_name(int idx)
{
	return sl_hs_msg_name(W.log[idx].b[1]);
}

static inline int count_sent(int from, uint8_t type)
{
	int n = 0;

	for (int i = 0; i < W.n_log; i++)
		if (W.log[i].from == from && W.log[i].b[1] == type)
			n++;
	return n;
}

static inline int find_sent(int from, uint8_t type, int nth)
{
	for (int i = 0; i < W.n_log; i++)
		if ((from < 0 || W.log[i].from == from) &&
		    W.log[i].b[1] == type && nth-- == 0)
			return i;
	return -1;
}

/* ---- Accounts never in clear ------------------------------------- */

static inline bool contains(const uint8_t *h, size_t hn, const uint8_t *n,
			    size_t nn)
{
	for (size_t i = 0; i + nn <= hn; i++)
		if (!memcmp(h + i, n, nn))
			return true;
	return false;
}

/*
 * Every message sent so far, scanned for the account in ASCII, as a
 * 40-bit and a 64-bit integer in both byte orders, and in packed BCD in
 * both nibble orders.
 */
static inline void scan_log_for(const char *acct)
{
	uint8_t pat[7][12];
	size_t plen[7] = { 12, 5, 5, 8, 8, 6, 6 };
	uint64_t v = strtoull(acct, NULL, 10);

	memcpy(pat[0], acct, 12);
	for (int i = 0; i < 5; i++) {
		pat[1][i] = (uint8_t)(v >> (8 * (4 - i)));
		pat[2][i] = (uint8_t)(v >> (8 * i));
	}
	for (int i = 0; i < 8; i++) {
		pat[3][i] = (uint8_t)(v >> (8 * (7 - i)));
		pat[4][i] = (uint8_t)(v >> (8 * i));
	}
	for (int i = 0; i < 6; i++) {
		int hi = acct[2 * i] - '0', lo = acct[2 * i + 1] - '0';

		pat[5][i] = (uint8_t)(hi << 4 | lo);
		pat[6][i] = (uint8_t)(lo << 4 | hi);
	}
	for (int m = 0; m < W.n_log; m++)
		for (int p = 0; p < 7; p++)
			CHECKF(!contains(W.log[m].b, W.log[m].len, pat[p],
					 plen[p]),
			       "account %s (form %d) in sent message %d (%s)",
			       acct, p, m, sent_type_name(m));
}

static inline void scan_log(void)
{
	CHECK(W.n_log > 0);
	for (int i = 0; i < W.n; i++)
		scan_log_for(W.s[i].account);
}

/* ---- Filters on the line ----------------------------------------- */

struct drop_ctx {
	int from;
	uint8_t type;		/* 0: the keepalive */
	int skip, count;	/* let skip pass, then drop count */
	int dropped;
	bool all;		/* every message of from */
};

static inline int drop_filter(struct world *w, int from, struct qmsg *m,
			      void *ctx)
{
	struct drop_ctx *c = ctx;

	(void)w;
	if (c->from >= 0 && from != c->from)
		return DELIVER;
	if (c->all) {
		c->dropped++;
		return DROP;
	}
	if (m->keepalive ? c->type != 0 : m->b[1] != c->type)
		return DELIVER;
	if (c->skip > 0) {
		c->skip--;
		return DELIVER;
	}
	if (c->count > 0) {
		c->count--;
		c->dropped++;
		return DROP;
	}
	return DELIVER;
}

struct multi_drop {
	struct drop_ctx d[4];
	int n;
};

static inline int multi_filter(struct world *w, int from, struct qmsg *m,
			       void *ctx)
{
	struct multi_drop *md = ctx;

	for (int i = 0; i < md->n; i++)
		if (drop_filter(w, from, m, &md->d[i]) == DROP)
			return DROP;
	return DELIVER;
}

/* ---- Each program's start ---------------------------------------- */

/* The seed, a secure pool for four engines and their peers at once, and
 * the baseline that secure_memory_not_leaked compares against. */
static inline void world_setup(int argc, char **argv)
{
	check_init(argc, argv);
	init_or_die(256 * 1024);
	secmem_measure_baseline();
}

#endif /* SEALINE_TEST_HS_WORLD_H */
