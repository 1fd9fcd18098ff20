// SPDX-License-Identifier: GPL-2.0
/*
 * The protocol core of sealined (agent/handshake.c) driven end to end in
 * one process: two (or, for a man in the middle, four) engines joined by
 * a simulated line that can lose, duplicate, replay, reorder or damage
 * messages, each with a simulated kernel (the next/cur/prev key slots,
 * SET_KEY's epoch rule, promotion on the peer's keepalive), a key store
 * and an operator, on a virtual clock.
 *
 * Fixed vectors: tests/vectors/handshake_v2.py, an independent Python
 * implementation of Documentation/handshake.rst, generated the expected
 * messages and keys of a pairing, a session and a rekey from the inputs
 * below; the C engines must reproduce them byte for byte.
 *
 * HS_DEBUG=1 prints every action and every drop with the virtual time.
 */
#include <errno.h>
#include <string.h>

#include <linux/sealine.h>

#include "check.h"
#include "crypto.h"
#include "handshake.h"
#include "noise.h"
#include "agent_test.h"

/* ---- Vectors (tests/vectors/handshake_v2.py --c) ---------------- */

/* pairing */
static const char *const vec_pairing_msgs[] = {
	/* PAIR_COMMIT */
	"02105ea11e0102024a51ed9b4c80f5ac006d633d7df740c5052a0bb6"
	"06fc74a925318971abf50547",
	/* PAIR_EPHEMERAL */
	"02115ea11e012bbc16e8ae801fab32655058dc35be4d06ef79c0c5af"
	"e5423f191ef5586a107b",
	/* PAIR_REVEAL */
	"02125ea11e01304680c85360d56167e3e627ceb27bacec6f709dc2f2"
	"c5068c80fca373739942bbfb5f2eb19fd2db454425ce558bdc22cb8d"
	"6d536f1be28ab3bad92bd1ea2fcc5f8513a8a1bb6cc24f5ec10ea4b4"
	"9f7e55c63e3ecce60517024e6919a15314049c114d2198a8a067ad1a"
	"8899",
	/* PAIR_FINISH */
	"02135ea11e01962b1e5c73bfe754f9373e5a05b9d5d0fdae017b811b"
	"764eb751c7a7ef543822de4e5e848d4fdfe3ea6ad18047bfa18f899d"
	"da558d5e284f0578b134c5bab18e239bde9247c29bbb216b7c80",
	/* PAIR_CONFIRM */
	"02145ea11e0100e0624c2ca51c539abd53fceb853e888c",
	/* PAIR_DONE */
	"02155ea11e0100beea2533dcccdd30f867bf54d620be56",
};
/* session */
static const char *const vec_session_msgs[] = {
	/* SESSION_INIT */
	"02205ea11e02020226635c7014774649e3ddce739b66501343c6e62f"
	"3046a7cc0495e94b6888a146fcc7ee12fddf96b6accb3e8b01879757"
	"6a862ece5203855b",
	/* SESSION_RESP */
	"02215ea11e027cbefe02271d04b2482d795da63c28a6911acb8c930a"
	"d6c59b9f7fa17463573b2e2dd6989b5601d5197856e1a3871eec89db"
	"9c47c164e52c53",
	/* SESSION_CONFIRM */
	"02225ea11e02002f887b14706251da21514d0833aa3913",
	/* SESSION_DONE */
	"02235ea11e02002035e41508df515399bf49ece41e1a6e",
};
/* rekey */
static const char *const vec_rekey_msgs[] = {
	/* SESSION_INIT */
	"02205ea11e0302026f977d696b6dbf83fabd749586a88549201ee402"
	"2aafe0e230ae3d54cb8a205d3fdfe316fc265ec81f7460f792e528b7"
	"328e1b923ba8b767",
	/* SESSION_RESP */
	"02215ea11e03b51cb27ea62ff48e13fb4533c985e5d9316aa8f5c319"
	"27681d1dab856fca34484e6994a8bc4284ae58fdfbd7d8c432c81cd9"
	"4d2edb87ffdfa1",
	/* SESSION_CONFIRM */
	"02225ea11e03004d3dbf213561542e50844d06a975f52a",
	/* SESSION_DONE */
	"02235ea11e0300c21a060315ee29168fcba8f10e84c83c",
};
#define VEC_SAS "A4PG4"
#define VEC_LTK "6d259b03be072ae001d0d52e0ebac558c52090c78b1d1001de348918efeb4d26"
#define VEC_SESSION_K_I2R "3421a31591f2a4fc5396457c91eca7a64094adddecde64969dc52a6be8131ff7"
#define VEC_SESSION_K_R2I "a1318a15976ddcfe004f1eee7f89ed179426357fe9c57253879e466548ccdf83"
#define VEC_SESSION_EPOCH 1
#define VEC_SESSION_CIPHER 2
#define VEC_REKEY_K_I2R "8d9d16bc888e21e5b60157f6e41c15ab51aef0524393f0d006e11bf9d5e5c0e4"
#define VEC_REKEY_K_R2I "72db3b479a852028f8db752f00ea165b0f09ffc25f8c40c11cee76ad70d5a6a3"
#define VEC_REKEY_EPOCH 2
#define VEC_REKEY_CIPHER 2

/* The vectors' inputs: every key is SHA-256("sealine test vector " label). */
#define VEC_ACCOUNT_I	"123456789012"
#define VEC_ACCOUNT_R	"210987654321"

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

static int side_rand(void *ctx, uint8_t *buf, size_t len)
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

static void script_rand(struct side *s, const char *hex)
{
	s->rnd_n += unhex(s->rnd + s->rnd_n, sizeof(s->rnd) - s->rnd_n, hex);
}

/* The vector inputs: SHA-256("sealine test vector " label). */
static void vec_key(uint8_t out[32], const char *label)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "sealine test vector %s", label);
	if (sl_sha256(out, buf, strlen(buf)))
		abort();
}

static int peer_fn(void *ctx, unsigned int index, struct sl_hs_peer *p)
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

static int key_epoch_fn(void *ctx, uint32_t *epoch)
{
	struct side *s = ctx;

	if (!s->k.cur.used)
		return -ENOKEY;
	*epoch = s->k.cur.epoch;
	return 0;
}

static void side_init(struct side *s, int i, const char *account)
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

static void world_init(int n)
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

/* The vectors' static keys. */
static void use_vector_statics(void)
{
	vec_key(W.s[0].s_priv, "I static");
	vec_key(W.s[1].s_priv, "R static");
	for (int i = 0; i < 2; i++)
		if (sl_x25519_public(W.s[i].s_pub, W.s[i].s_priv))
			abort();
	memcpy(W.s[0].cfg.account, VEC_ACCOUNT_I, 12);
	memcpy(W.s[1].cfg.account, VEC_ACCOUNT_R, 12);
	snprintf(W.s[0].account, 13, "%s", VEC_ACCOUNT_I);
	snprintf(W.s[1].account, 13, "%s", VEC_ACCOUNT_R);
}

static bool side_start(struct side *s)
{
	int err = 1;

	s->hs = sl_hs_new(&s->cfg, &err);
	return CHECKF(s->hs && !err, "sl_hs_new(%s): %d", s->name, err);
}

static void world_start(void)
{
	for (int i = 0; i < W.n; i++)
		side_start(&W.s[i]);
}

static void world_free(void)
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
static void give_peer(int a, int b, const uint8_t *ltk,
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
static void provision(int a, int b)
{
	uint8_t ltk[32];

	check_fill_random(ltk, 32);
	give_peer(a, b, ltk, SL_PEER_AUTHORISED);
	give_peer(b, a, ltk, SL_PEER_AUTHORISED);
	sl_wipe(ltk, 32);
}

static struct sl_hs_peer peer_of(int a, int b)
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

static void enqueue(struct qmsg *m)
{
	if (W.qt - W.qh >= QLEN)
		abort();
	W.q[W.qt++ % QLEN] = *m;
}

static int kernel_set_key(struct side *s, const struct sl_hs_action *a)
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
	k->next.used = true;
	k->next.epoch = a->stage.epoch;
	k->next.cipher = a->stage.cipher;
	memcpy(k->next.tx, a->stage.tx, 32);
	memcpy(k->next.rx, a->stage.rx, 32);
	k->stages++;
	return 0;
}

static void promote(struct side *s)
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

static int kernel_activate(struct side *s, uint32_t epoch)
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
static void kernel_frame(struct side *s, const struct qmsg *m)
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

static void apply(int i, struct sl_hs_actions *out);

static void fail_action(int i, enum sl_hs_act type, int err)
{
	struct sl_hs_actions out;

	CHECK_EQ(sl_hs_action_failed(W.s[i].hs, type, err, W.now, &out), 0);
	apply(i, &out);
}

static void store_peer(struct side *s, const struct sl_hs_action *a)
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

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

static void apply(int i, struct sl_hs_actions *out)
{
	struct side *s = &W.s[i];
	const uint8_t *handed[8];
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

static void input(int i, const uint8_t *m, size_t len)
{
	struct sl_hs_actions out;

	CHECK_EQ(sl_hs_input(W.s[i].hs, m, len, W.now, &out), 0);
	apply(i, &out);
}

static bool deliver_one(void)
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

static void operator_act(int i)
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

static bool op_waiting(const struct side *s)
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
static void run(uint64_t limit)
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
static bool keys_match(int a, int b)
{
	struct kernel *ka = &W.s[a].k, *kb = &W.s[b].k;

	return CHECK(ka->cur.used && kb->cur.used) &&
	       CHECK_EQ(ka->cur.epoch, kb->cur.epoch) &&
	       CHECK_EQ(ka->cur.cipher, kb->cur.cipher) &&
	       CHECK(!memcmp(ka->cur.tx, kb->cur.rx, 32)) &&
	       CHECK(!memcmp(ka->cur.rx, kb->cur.tx, 32)) &&
	       CHECK(memcmp(ka->cur.tx, ka->cur.rx, 32));
}

static void start_session(int a, int b)
{
	struct sl_hs_actions out;
	struct sl_hs_peer p = peer_of(a, b);

	CHECK_EQ(sl_hs_connect(W.s[a].hs, &p, W.now, &out), 0);
	apply(a, &out);
}

/* Side a's operator waits to pair (sealctl pair): initiate, respond. */
static void open_window(int a, bool initiate, bool respond, uint64_t ms)
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
static void start_pairing(int a)
{
	open_window(a, true, false, SL_HS_PAIR_WAIT_MS);
}

/* The usual pairing set-up: A initiates, B armed; operators behave. */
static void pairing_world(void)
{
	world_init(2);
	W.s[1].cfg.pair_enabled = true;
	W.s[1].type_from = 0;
	W.s[1].op_delay = 1000;
	world_start();
}

/* A keyed line: A and B provisioned and one session done. */
static bool keyed_world(void)
{
	world_init(2);
	provision(0, 1);
	world_start();
	start_session(0, 1);
	run(60000);
	return CHECK_EQ(W.s[0].n_done, 1) && CHECK_EQ(W.s[1].n_done, 1) &&
	       keys_match(0, 1);
}

static const char *sent_type_name(int idx)
{
	return sl_hs_msg_name(W.log[idx].b[1]);
}

static int count_sent(int from, uint8_t type)
{
	int n = 0;

	for (int i = 0; i < W.n_log; i++)
		if (W.log[i].from == from && W.log[i].b[1] == type)
			n++;
	return n;
}

static int find_sent(int from, uint8_t type, int nth)
{
	for (int i = 0; i < W.n_log; i++)
		if ((from < 0 || W.log[i].from == from) &&
		    W.log[i].b[1] == type && nth-- == 0)
			return i;
	return -1;
}

/* ---- Accounts never in clear ------------------------------------- */

static bool contains(const uint8_t *h, size_t hn, const uint8_t *n,
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
static void scan_log_for(const char *acct)
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

static void scan_log(void)
{
	CHECK(W.n_log > 0);
	for (int i = 0; i < W.n; i++)
		scan_log_for(W.s[i].account);
}

/* ---- Tests: tables and configuration ------------------------------ */

TEST(message_table)
{
	static const struct {
		uint8_t type;
		size_t len;
	} t[] = {
		{ 0x01, 11 }, { 0x10, 40 }, { 0x11, 38 }, { 0x12, 114 },
		{ 0x13, 82 }, { 0x14, 23 }, { 0x15, 23 }, { 0x20, 64 },
		{ 0x21, 63 }, { 0x22, 23 }, { 0x23, 23 }, { 0x24, 24 },
		{ 0x25, 24 }, { 0x30, 56 }, { 0x31, 54 }, { 0x32, 95 }, { 0x33, 32 },
		{ 0x34, 43 }, { 0x35, 23 },
	};
	int reserved = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		CHECKF(sl_hs_msg_len(t[i].type) == t[i].len, "type 0x%02x",
		       t[i].type);
	for (int ty = 0; ty < 256; ty++)
		if (!sl_hs_msg_len((uint8_t)ty)) {
			reserved++;
			CHECK(!strcmp(sl_hs_msg_name((uint8_t)ty), "reserved"));
		}
	CHECK_EQ(reserved, 256 - 19);
	CHECK(!strcmp(sl_hs_msg_name(0x12), "PAIR_REVEAL"));
	CHECK(!strcmp(sl_nak_reason_name(SL_NAK_SAS_MISMATCH),
		      "SAS_MISMATCH"));
	CHECK(!strcmp(sl_nak_reason_name(14), "IDENTITY_MISMATCH"));
	CHECK(!strcmp(sl_nak_reason_name(15), "NOT_ARMED"));
	CHECK(!strcmp(sl_nak_reason_name(16), "REFUSED"));
	CHECK(!strcmp(sl_hs_msg_name(0x25), "SESSION_CLOSE"));
	CHECK(!strcmp(sl_nak_reason_name(99), "unknown"));
}

TEST(config_checked)
{
	struct sl_hs_config c;
	uint8_t *priv = sl_secure_alloc(32);
	int err;

	check_fill_random(priv, 32);
#define BAD(mod) do {							\
		memset(&c, 0, sizeof(c));				\
		memcpy(c.account, "123456789012", 12);			\
		c.static_priv = priv;					\
		mod;							\
		err = 0;						\
		CHECK(sl_hs_new(&c, &err) == NULL);			\
		CHECK_EQ(err, -EINVAL);					\
	} while (0)
	BAD(c.account[3] = 'x');
	BAD(c.static_priv = NULL);
	BAD((c.ver_min = 2, c.ver_max = 1));
	BAD((c.ver_min = 0, c.ver_max = 1));
	BAD(c.ciphers[0] = 3);
	BAD((c.ciphers[0] = 1, c.ciphers[1] = 1));
	BAD(c.expected_peer = "12345");
#undef BAD
	memset(&c, 0, sizeof(c));
	memcpy(c.account, "123456789012", 12);
	c.static_priv = priv;
	struct sl_hs *hs = sl_hs_new(&c, &err);

	CHECK(hs && !err);
	sl_hs_free(hs);
	sl_hs_free(NULL);
	sl_secure_free(priv, 32);
}

/* ---- Tests: fixed vectors ----------------------------------------- */

static void script_key(struct side *s, const char *label)
{
	uint8_t k[32];
	char hex[65];

	vec_key(k, label);
	script_rand(s, tohex(hex, k, 32));
}

TEST(vectors_pairing_session_rekey)
{
	static const char *const *const msgs[] = {
		vec_pairing_msgs, vec_session_msgs, vec_rekey_msgs
	};
	static const int counts[] = { 6, 4, 4 };
	struct sl_hs_actions out;
	struct side *a, *b;
	int idx = 0;

	world_init(2);
	use_vector_statics();
	a = &W.s[0];
	b = &W.s[1];
	b->cfg.pair_enabled = true;
	b->type_from = 0;
	b->op_delay = 1000;		/* R types first, then I confirms */
	a->op_delay = 2000;
	a->cfg.ciphers[0] = SEALINE_CIPHER_CHACHA20POLY1305;
	a->cfg.ciphers[1] = SEALINE_CIPHER_AES256GCM;
	b->cfg.ciphers[0] = SEALINE_CIPHER_AES256GCM;
	b->cfg.ciphers[1] = SEALINE_CIPHER_CHACHA20POLY1305;
	script_rand(a, "5ea11e01");
	script_key(a, "I pairing e");
	script_rand(a, "5ea11e02");
	script_key(a, "I session e");
	script_rand(a, "5ea11e03");
	script_key(a, "I rekey e");
	script_key(b, "R pairing e");
	script_key(b, "R session e");
	script_key(b, "R rekey e");
	world_start();

	/* Pairing, then the session it starts by itself. */
	start_pairing(0);
	run(600000);
	CHECK(!strcmp(a->sas_shown, VEC_SAS));
	CHECK_EQ(a->n_store, 1);
	CHECK_EQ(b->n_store, 1);
	CHECK_HEX(a->stored_ltk, 32, VEC_LTK);
	CHECK_HEX(b->stored_ltk, 32, VEC_LTK);
	CHECK_EQ(a->n_done, 2);
	CHECK_EQ(b->n_done, 2);
	CHECK_EQ(a->done.kind, SL_HS_SESSION);
	CHECK_EQ(a->done.epoch, VEC_SESSION_EPOCH);
	CHECK_EQ(a->done.cipher, VEC_SESSION_CIPHER);
	keys_match(0, 1);
	CHECK_HEX(a->k.cur.tx, 32, VEC_SESSION_K_I2R);
	CHECK_HEX(a->k.cur.rx, 32, VEC_SESSION_K_R2I);

	/* The rekey (the kernel's REKEY_NEEDED on the initiator). */
	CHECK_EQ(sl_hs_rekey_needed(a->hs, SEALINE_LIMIT_AGE, W.now, &out), 0);
	apply(0, &out);
	run(60000);
	CHECK_EQ(a->n_done, 3);
	CHECK_EQ(b->n_done, 3);
	CHECK_EQ(b->done.kind, SL_HS_REKEY);
	CHECK_EQ(b->done.epoch, VEC_REKEY_EPOCH);
	keys_match(0, 1);
	CHECK_EQ(a->k.cur.cipher, VEC_REKEY_CIPHER);
	CHECK_HEX(a->k.cur.tx, 32, VEC_REKEY_K_I2R);
	CHECK_HEX(b->k.cur.tx, 32, VEC_REKEY_K_R2I);
	CHECK_HEX(a->k.prev.tx, 32, VEC_SESSION_K_I2R);
	CHECK_HEX(b->k.prev.tx, 32, VEC_SESSION_K_R2I);

	/* Every message, in order, byte for byte. */
	CHECK_EQ(W.n_log, 6 + 4 + 4);
	for (int t = 0; t < 3; t++)
		for (int i = 0; i < counts[t] && idx < W.n_log; i++, idx++)
			CHECKF(CHECK_HEX(W.log[idx].b, W.log[idx].len,
					 msgs[t][i]),
			       "message %d (%s)", idx, sent_type_name(idx));
	CHECK(!a->rnd_overrun && a->rnd_pos == a->rnd_n);
	CHECK(!b->rnd_overrun && b->rnd_pos == b->rnd_n);
	scan_log();
	world_free();
}

/*
 * The SAS depends only on what is fixed before either side sees the
 * other's contribution (PAIR_COMMIT, e_R, e_I): with the same hsid and
 * ephemeral keys, any other static key or account on either side, sent
 * after the reveal, gives both sides the very same code. (With the
 * version 1 SAS over the whole transcript, a man in the middle who
 * picks his static keys after the reveal could grind it.)
 */
TEST(pairing_sas_ignores_identities)
{
	static const char *const accts[] = { "111122223333", "444455556666" };

	for (int variant = 0; variant < 5; variant++) {
		struct side *a, *b;

		world_init(2);
		use_vector_statics();
		a = &W.s[0];
		b = &W.s[1];
		b->cfg.pair_enabled = true;
		b->type_from = 0;
		if (variant == 1 || variant == 2) {
			struct side *x = variant == 1 ? a : b;

			check_fill_random(x->s_priv, 32);
			sl_x25519_public(x->s_pub, x->s_priv);
		} else if (variant == 3 || variant == 4) {
			struct side *x = variant == 3 ? a : b;

			memcpy(x->cfg.account, accts[variant - 3], 12);
			snprintf(x->account, 13, "%s", accts[variant - 3]);
		}
		script_rand(a, "5ea11e01");
		script_key(a, "I pairing e");
		script_key(b, "R pairing e");
		world_start();
		start_pairing(0);
		run(600000);
		CHECKF(!strcmp(a->sas_shown, VEC_SAS), "variant %d: SAS %s",
		       variant, a->sas_shown);
		CHECKF(a->n_store == 1 && b->n_store == 1,
		       "variant %d: B typed A's code and it matched", variant);
		CHECK_EQ(b->n_ask, 1);
		world_free();
	}
}

/* ---- Tests: pairing ---------------------------------------------- */

TEST(pairing_success)
{
	struct side *a, *b;

	pairing_world();
	a = &W.s[0];
	b = &W.s[1];
	start_pairing(0);
	run(600000);
	CHECK_EQ(a->n_show, 1);
	CHECK_EQ(b->n_ask, 1);
	CHECK_EQ(a->n_store, 1);
	CHECK_EQ(b->n_store, 1);
	CHECK_MEM(a->stored_ltk, b->stored_ltk, 32);
	/* Each stored the other's account and static key. */
	CHECK(!strcmp(a->peers[0].account, b->account));
	CHECK(!strcmp(b->peers[0].account, a->account));
	CHECK_MEM(a->peers[0].pub, b->s_pub, 32);
	CHECK_MEM(b->peers[0].pub, a->s_pub, 32);
	/* The session that follows keys the line. */
	CHECK_EQ(a->n_done, 2);
	CHECK_EQ(b->n_done, 2);
	CHECK_EQ(a->done.kind, SL_HS_SESSION);
	CHECK(a->done.initiator && !b->done.initiator);
	keys_match(0, 1);
	CHECK_EQ(a->n_failed + b->n_failed, 0);
	CHECK_EQ(a->n_nak_sent + b->n_nak_sent, 0);
	scan_log();
	world_free();
}

/* PAIR_CONFIRM arrives while R's operator is still typing: kept. */
TEST(pairing_confirm_before_typing)
{
	pairing_world();
	W.s[0].op_delay = 500;
	W.s[1].op_delay = 30000;	/* I's copies come meanwhile */
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[0].n_store, 1);
	CHECK_EQ(W.s[1].n_store, 1);
	CHECK(count_sent(0, SL_MSG_PAIR_CONFIRM) > 1);	/* resent */
	CHECK_EQ(count_sent(1, SL_MSG_PAIR_DONE), 1);
	keys_match(0, 1);
	world_free();
}

TEST(pairing_wrong_sas_typed)
{
	struct side *a, *b;

	pairing_world();
	a = &W.s[0];
	b = &W.s[1];
	/* An entry that is no SAS is asked again and does not count. */
	b->typed[0] = "h0w?";
	b->typed[1] = "22222";
	b->typed[2] = "33333";
	b->typed[3] = "44444";
	b->n_typed = 4;
	b->type_from = -1;
	start_pairing(0);
	run(600000);
	CHECK(strcmp(a->sas_shown, "22222") && strcmp(a->sas_shown, "33333") &&
	      strcmp(a->sas_shown, "44444"));
	CHECK_EQ(b->n_ask, 3);
	CHECK_EQ(a->n_store + b->n_store, 0);
	CHECK_EQ(b->n_nak_sent, 1);
	CHECK_EQ(b->nak_sent.reason, SL_NAK_SAS_MISMATCH);
	CHECK(b->nak_sent.alert);
	CHECK_EQ(b->n_failed, 1);
	CHECK(b->failed.alert && !b->failed.remote);
	CHECK_EQ(a->n_failed, 1);
	CHECK_EQ(a->failed.reason, SL_NAK_SAS_MISMATCH);
	CHECK(a->failed.alert && a->failed.remote);
	CHECK_EQ(a->n_done + b->n_done, 0);
	CHECK(!a->k.cur.used && !b->k.cur.used);
	scan_log();
	world_free();
}

TEST(pairing_sas_retyped)
{
	pairing_world();
	W.s[1].typed[0] = "22222";
	W.s[1].typed[1] = "rbw-3f";	/* valid, wrong, normalised */
	W.s[1].n_typed = 2;
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[1].n_ask, 3);
	CHECK_EQ(W.s[0].n_store, 1);
	CHECK_EQ(W.s[1].n_store, 1);
	keys_match(0, 1);
	world_free();
}

TEST(pairing_operator_refuses)
{
	pairing_world();
	W.s[0].op_confirm = 0;
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 0);
	/* An operator saying no is a refusal, not evidence of an attack. */
	CHECK_EQ(W.s[0].nak_sent.reason, SL_NAK_REFUSED);
	CHECK_EQ(W.s[0].nak_sent.detail, SL_REFUSED_OPERATOR);
	CHECK(!W.s[0].nak_sent.alert && !W.s[0].failed.alert);
	CHECK_EQ(W.s[1].n_failed, 1);
	CHECK_EQ(W.s[1].failed.reason, SL_NAK_REFUSED);
	CHECK_EQ(W.s[1].failed.detail, SL_REFUSED_OPERATOR);
	CHECK(!W.s[1].failed.alert && W.s[1].failed.remote);
	world_free();
}

/* R's operator refuses (or leaves) instead of typing. */
TEST(pairing_responder_refuses)
{
	struct sl_hs_actions out;

	pairing_world();
	W.s[1].never_types = true;
	W.s[0].op_confirm = -1;
	start_pairing(0);
	run(5000);
	CHECK(W.s[1].ask_pending);
	CHECK_EQ(sl_hs_sas_confirm(W.s[1].hs, true, W.now, &out), -EINVAL);
	CHECK_EQ(sl_hs_sas_confirm(W.s[1].hs, false, W.now, &out), 0);
	apply(1, &out);
	run(600000);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_REFUSED);
	CHECK(!W.s[1].failed.alert);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_REFUSED);
	CHECK(W.s[0].failed.remote && !W.s[0].failed.alert);
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 0);
	world_free();
}

/*
 * A man in the middle with its own DH keys runs one pairing with A (as
 * R) and one with B (as I). The SAS A shows is not the one B's pairing
 * needs: B's operator types what A's reads and it fails; A's operator,
 * told so, refuses. Nothing is stored by A or B.
 */
TEST(pairing_mitm_sas_differs)
{
	struct side *a, *m1, *m2, *b;

	world_init(4);
	a = &W.s[0];
	m1 = &W.s[1];
	m2 = &W.s[2];
	b = &W.s[3];
	m1->cfg.pair_enabled = true;
	m1->never_types = true;
	b->cfg.pair_enabled = true;
	b->type_from = 0;		/* hears A's operator */
	a->op_confirm = 0;		/* ...who hears "wrong" */
	a->op_delay = 60000;
	m2->op_confirm = 1;
	world_start();
	start_pairing(0);
	start_pairing(2);
	run(600000);
	CHECK(a->sas_shown[0] && m2->sas_shown[0]);
	CHECKF(strcmp(a->sas_shown, m2->sas_shown), "SAS %s on both legs",
	       a->sas_shown);
	CHECK_EQ(b->n_ask, 3);
	CHECK_EQ(b->n_store, 0);
	CHECK_EQ(a->n_store, 0);
	CHECK_EQ(b->failed.reason, SL_NAK_SAS_MISMATCH);
	CHECK(b->failed.alert);
	/* A's operator, told the code was wrong, said no. */
	CHECK_EQ(a->failed.reason, SL_NAK_REFUSED);
	CHECK(!a->k.cur.used && !b->k.cur.used);
	world_free();
}

struct swap_ctx {
	uint8_t type;
	int done;
	uint8_t key[32];
	size_t off;
};

/* Replaces 32 bytes at off of the first message of a type. */
static int swap_filter(struct world *w, int from, struct qmsg *m, void *ctx)
{
	struct swap_ctx *c = ctx;

	(void)w;
	(void)from;
	if (!m->keepalive && m->b[1] == c->type && !c->done) {
		memcpy(m->b + c->off, c->key, 32);
		c->done = 1;
	}
	return DELIVER;
}

/* PAIR_REVEAL with another key than the one committed to. */
TEST(pairing_commitment_broken)
{
	struct swap_ctx c = { .type = SL_MSG_PAIR_REVEAL, .off = 6 };
	uint8_t priv[32];

	sl_x25519_keypair(priv, c.key);
	sl_wipe(priv, 32);
	pairing_world();
	W.filter = swap_filter;
	W.fctx = &c;
	start_pairing(0);
	run(600000);
	CHECK(c.done);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_BAD_MESSAGE);
	CHECK_EQ(W.s[1].nak_sent.ref_type, SL_MSG_PAIR_REVEAL);
	CHECK(W.s[1].nak_sent.alert && W.s[1].failed.alert);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_BAD_MESSAGE);
	CHECK(W.s[0].failed.remote);
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 0);
	CHECK_EQ(W.s[0].n_show + W.s[1].n_ask, 0);
	world_free();
}

/* A forged PAIR_EPHEMERAL (unauthenticated) wins the race: I goes on
 * with it, R cannot read PAIR_REVEAL, nothing is stored. */
TEST(pairing_forged_ephemeral)
{
	struct swap_ctx c = { .type = SL_MSG_PAIR_EPHEMERAL, .off = 6 };
	uint8_t priv[32];

	sl_x25519_keypair(priv, c.key);
	sl_wipe(priv, 32);
	pairing_world();
	W.filter = swap_filter;
	W.fctx = &c;
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 0);
	CHECK_EQ(W.s[0].n_show + W.s[1].n_ask, 0);
	CHECK_EQ(W.s[1].failed.reason, SL_NAK_TIMEOUT);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_TIMEOUT);
	CHECK(W.s[0].failed.auth_failures == 0);
	CHECK(W.s[1].failed.auth_failures >= 1);
	world_free();
}

/*
 * A's operator first (role initiator), B's not there: B answers NAK
 * NOT_ARMED, A tells its operator once and tries again every 3 s, no
 * failure. B's operator comes (responder): the next try pairs.
 */
TEST(pairing_waits_for_other_operator)
{
	world_init(2);
	W.s[1].type_from = 0;
	W.s[0].cfg.direct_line = true;
	world_start();
	start_pairing(0);
	run(10000);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_NOT_ARMED);
	CHECK_EQ(W.s[1].nak_sent.ref_type, SL_MSG_PAIR_COMMIT);
	CHECK(!W.s[1].nak_sent.alert);
	CHECK_EQ(W.s[0].n_failed, 0);
	CHECK_EQ(W.s[0].n_wait, 1);		/* said once */
	CHECK_EQ(W.s[0].wait_reason, SL_NAK_NOT_ARMED);
	CHECK(count_sent(0, SL_MSG_PAIR_COMMIT) >= 3);
	CHECK_EQ(W.s[1].n_ask, 0);

	open_window(1, false, true, SL_HS_PAIR_WAIT_MS);
	run(600000);
	CHECK_EQ(W.s[0].n_store, 1);
	CHECK_EQ(W.s[1].n_store, 1);
	CHECK_EQ(W.s[0].n_failed + W.s[1].n_failed, 0);
	keys_match(0, 1);

	/* Both windows closed with the pairing: nothing armed, no retry. */
	{
		struct sl_hs_status st;

		sl_hs_get_status(W.s[1].hs, W.now, &st);
		CHECK(!st.pair_armed && !st.pair_until);
	}
	W.n_log = 0;
	run(60000);
	CHECK_EQ(count_sent(0, SL_MSG_PAIR_COMMIT), 0);
	world_free();
}

static int lost_filter(struct world *w, int from, struct qmsg *m, void *ctx)
{
	(void)w;
	(void)from;
	(void)m;
	(void)ctx;
	return DROP;
}

/* The operator's time runs out: one FAILED (TIMEOUT, no alert). */
TEST(pairing_other_operator_never_comes)
{
	world_init(2);
	world_start();
	open_window(0, true, true, 20000);
	run(60000);
	CHECK_EQ(W.s[0].n_failed, 1);
	CHECK_EQ(W.s[0].failed.kind, SL_HS_PAIR);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_TIMEOUT);
	CHECK(!W.s[0].failed.alert);
	CHECK(W.now >= 1000000 + 20000);
	CHECK_EQ(W.s[0].wait_reason, SL_NAK_NOT_ARMED);
	/* No answer at all: the same, said as such. */
	W.filter = lost_filter;		/* nothing answers */
	W.s[0].n_wait = 0;
	open_window(0, true, false, 60000);
	run(120000);
	CHECK_EQ(W.s[0].n_failed, 2);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_TIMEOUT);
	CHECK_EQ(W.s[0].wait_reason, SL_NAK_TIMEOUT);
	CHECK(!W.s[0].failed.alert);
	world_free();
}

/* The operator leaves: nothing stays armed, no more PAIR_COMMITs. */
TEST(pairing_operator_leaves)
{
	struct sl_hs_actions out;

	world_init(2);
	world_start();
	open_window(1, true, true, SL_HS_PAIR_WAIT_MS);
	run(10000);
	CHECK_EQ(sl_hs_pair_end(W.s[1].hs, W.now, &out), 0);
	apply(1, &out);
	CHECK_EQ(W.s[1].n_failed, 0);
	W.n_log = 0;
	run(30000);
	CHECK_EQ(count_sent(1, SL_MSG_PAIR_COMMIT), 0);
	/* A's operator now: B is not armed. */
	start_pairing(0);
	run(5000);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_NOT_ARMED);
	CHECK_EQ(W.s[1].n_ask, 0);
	world_free();

	/* Leaving in the SAS step refuses the pairing on both sides. */
	pairing_world();
	W.s[1].never_types = true;
	W.s[0].op_confirm = -1;
	start_pairing(0);
	run(5000);
	CHECK(W.s[1].ask_pending);
	CHECK_EQ(sl_hs_pair_end(W.s[0].hs, W.now, &out), 0);
	apply(0, &out);
	run(600000);
	CHECK_EQ(W.s[0].nak_sent.reason, SL_NAK_REFUSED);
	CHECK_EQ(W.s[1].failed.reason, SL_NAK_REFUSED);
	CHECK(!W.s[0].failed.alert && !W.s[1].failed.alert);
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 0);
	world_free();
}

/*
 * role = auto on both sides, as the admin guide says: each operator runs
 * sealctl pair, in either order or at once. The protocol decides who
 * shows the code; neither operator is told of a failure.
 */
static void auto_roles(uint64_t a_at, uint64_t b_at, bool same_hsid)
{
	uint64_t t0;
	int shower;

	world_init(2);
	world_start();
	t0 = W.now;
	if (same_hsid) {
		script_rand(&W.s[0], "77777777");
		script_rand(&W.s[1], "77777777");
	}
	for (int k = 0; k < 2; k++) {
		int i = (a_at <= b_at) == (k == 0) ? 0 : 1;
		uint64_t at = t0 + (i ? b_at : a_at);

		if (at > W.now)
			run(at - W.now);
		if (at > W.now)
			W.now = at;
		open_window(i, true, true, SL_HS_PAIR_WAIT_MS);
	}
	/* The operator who sees a code reads it; the other types it. */
	run(30000);
	shower = W.s[0].n_show ? 0 : 1;
	CHECKF(W.s[shower].n_show == 1 && W.s[!shower].n_ask == 1,
	       "show %d/%d ask %d/%d", W.s[0].n_show, W.s[1].n_show,
	       W.s[0].n_ask, W.s[1].n_ask);
	W.s[!shower].type_from = shower;
	run(600000);
	CHECK_EQ(W.s[0].n_store, 1);
	CHECK_EQ(W.s[1].n_store, 1);
	CHECK_EQ(W.s[0].n_failed + W.s[1].n_failed, 0);
	keys_match(0, 1);
	world_free();
}

TEST(pairing_auto_roles_any_order)
{
	auto_roles(0, 40000, false);	/* A first, B 40 s later */
	auto_roles(25000, 0, false);	/* B first */
	auto_roles(0, 0, false);	/* both at once: commits cross */
	auto_roles(0, 1, false);
	auto_roles(0, 0, true);		/* ...even with equal hsids */
}

/*
 * A stored (or revoked) peer is never replaced silently: the pairing is
 * refused before any code is shown, with NAK REFUSED "already paired",
 * unless the operator asked to replace it.
 */
static int allowed_ctx_verdict;
static char allowed_seen[13];

static int pair_allowed(void *ctx, const char *account, const uint8_t *pub)
{
	(void)ctx;
	(void)pub;
	memcpy(allowed_seen, account, 12);
	return allowed_ctx_verdict;
}

TEST(pairing_never_replaces_silently)
{
	for (int side = 0; side < 2; side++) {
		pairing_world();
		sl_hs_free(W.s[side].hs);
		W.s[side].cfg.pair_allowed_fn = pair_allowed;
		allowed_ctx_verdict = -EEXIST;
		side_start(&W.s[side]);
		start_pairing(0);
		run(600000);
		CHECK(!strcmp(allowed_seen, W.s[!side].account));
		CHECK_EQ(W.s[side].nak_sent.reason, SL_NAK_REFUSED);
		CHECK_EQ(W.s[side].nak_sent.detail, SL_REFUSED_ALREADY_PAIRED);
		CHECK_EQ(W.s[!side].failed.reason, SL_NAK_REFUSED);
		CHECK_EQ(W.s[!side].failed.detail, SL_REFUSED_ALREADY_PAIRED);
		CHECK(!W.s[0].failed.alert && !W.s[1].failed.alert);
		/* The refusing side never shows a code. (R reaches its SAS
		 * step one message before I can refuse.) */
		CHECK_EQ(side ? W.s[1].n_ask : W.s[0].n_show, 0);
		CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 0);
		world_free();
	}
	/* Allowed (--replace, or no record): it pairs. */
	pairing_world();
	sl_hs_free(W.s[1].hs);
	W.s[1].cfg.pair_allowed_fn = pair_allowed;
	allowed_ctx_verdict = 0;
	side_start(&W.s[1]);
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 2);
	/* The prompts showed the key the peer claimed. */
	CHECK_MEM(W.s[0].shown_static, W.s[1].s_pub, 32);
	CHECK_MEM(W.s[1].shown_static, W.s[0].s_pub, 32);
	world_free();
}

/* An operator joins a pairing that pairing = yes answered without one. */
TEST(pairing_operator_joins)
{
	struct sl_hs_actions out;

	pairing_world();
	W.s[1].never_types = true;
	start_pairing(0);
	run(5000);
	CHECK_EQ(W.s[1].n_ask, 1);
	W.s[1].ask_pending = false;	/* nobody saw it */
	CHECK_EQ(sl_hs_pair_prompt(W.s[1].hs, W.now, &out), 0);
	apply(1, &out);
	CHECK_EQ(W.s[1].n_ask, 2);
	W.s[1].never_types = false;
	run(600000);
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 2);
	CHECK_EQ(sl_hs_pair_prompt(W.s[1].hs, W.now, &out), -ENOENT);
	world_free();
}

TEST(pairing_expected_identity)
{
	/* Through a TSP, A called another account than B's. */
	pairing_world();
	sl_hs_set_expected_peer(W.s[0].hs, "999999999999");
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[0].nak_sent.reason, SL_NAK_IDENTITY_MISMATCH);
	CHECK(W.s[0].nak_sent.alert && W.s[0].failed.alert);
	CHECK_EQ(W.s[0].n_show, 0);
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 0);
	world_free();

	/* T announced another caller to B. */
	pairing_world();
	CHECK_EQ(sl_hs_set_expected_peer(W.s[1].hs, "999999999999"), 0);
	CHECK_EQ(sl_hs_set_expected_peer(W.s[1].hs, "9999"), -EINVAL);
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_IDENTITY_MISMATCH);
	CHECK_EQ(W.s[1].nak_sent.ref_type, SL_MSG_PAIR_REVEAL);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_IDENTITY_MISMATCH);
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 0);
	world_free();
}

TEST(pairing_sas_timeout)
{
	pairing_world();
	W.no_operators = true;
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 0);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_TIMEOUT);
	CHECK_EQ(W.s[1].failed.reason, SL_NAK_TIMEOUT);
	/* Nobody deciding is no evidence of an attack. */
	CHECK(!W.s[0].failed.alert && !W.s[1].failed.alert);
	/* 180 s after PAIR_FINISH. */
	CHECK(W.s[0].failed.elapsed_ms >= SL_HS_SAS_TIMEOUT_MS);
	CHECK(W.s[0].failed.elapsed_ms < SL_HS_SAS_TIMEOUT_MS + 1000);
	world_free();
}

/* A first message while an operator compares the SAS: BUSY. */
TEST(busy_during_sas)
{
	world_init(3);
	W.s[1].cfg.pair_enabled = true;
	W.s[1].type_from = 0;
	W.s[1].op_delay = 20000;
	W.s[0].op_delay = 21000;
	W.s[2].route = 1;
	provision(2, 1);
	world_start();
	start_pairing(0);
	run(5000);
	CHECK(W.s[1].ask_pending);
	start_session(2, 1);
	run(1);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_BUSY);
	CHECK_EQ(W.s[1].nak_sent.ref_type, SL_MSG_SESSION_INIT);
	run(600000);
	CHECK_EQ(W.s[0].n_store, 1);
	CHECK_EQ(W.s[1].n_store, 1);
	keys_match(0, 1);
	world_free();
}

/* ---- Tests: sessions and rekeys ----------------------------------- */

TEST(session_fresh_keys)
{
	uint8_t tx1[32], rx1[32];

	if (!keyed_world())
		goto out;
	CHECK_EQ(W.s[0].done.kind, SL_HS_SESSION);
	CHECK_EQ(W.s[0].done.epoch, 1);
	CHECK_EQ(W.s[0].done.cipher, SEALINE_CIPHER_CHACHA20POLY1305);
	CHECK(!strcmp(W.s[0].done.peer_account, W.s[1].account));
	CHECK(!strcmp(W.s[1].done.peer_account, W.s[0].account));
	memcpy(tx1, W.s[0].k.cur.tx, 32);
	memcpy(rx1, W.s[0].k.cur.rx, 32);

	/* The next connection: new engines, empty kernels, same stores. */
	for (int i = 0; i < 2; i++) {
		sl_hs_free(W.s[i].hs);
		memset(&W.s[i].k, 0, sizeof(W.s[i].k));
		side_start(&W.s[i]);
	}
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[0].n_done, 2);
	keys_match(0, 1);
	CHECK(memcmp(W.s[0].k.cur.tx, tx1, 32));
	CHECK(memcmp(W.s[0].k.cur.rx, rx1, 32));
	CHECK(memcmp(W.s[0].k.cur.tx, rx1, 32));
	CHECK_EQ(W.s[0].n_nak_sent + W.s[1].n_nak_sent, 0);
	scan_log();
out:
	world_free();
}

/* Responder's cipher preference, the initiator's offer. */
TEST(session_cipher_choice)
{
	world_init(2);
	provision(0, 1);
	W.s[0].cfg.ciphers[0] = SEALINE_CIPHER_AES256GCM;
	W.s[1].cfg.ciphers[0] = SEALINE_CIPHER_CHACHA20POLY1305;
	W.s[1].cfg.ciphers[1] = SEALINE_CIPHER_AES256GCM;
	world_start();
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[1].done.cipher, SEALINE_CIPHER_AES256GCM);
	keys_match(0, 1);
	world_free();

	/* No common cipher: BAD_MESSAGE. */
	world_init(2);
	provision(0, 1);
	W.s[0].cfg.ciphers[0] = SEALINE_CIPHER_AES256GCM;
	world_start();
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_BAD_MESSAGE);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_BAD_MESSAGE);
	CHECK_EQ(W.s[0].n_stage + W.s[1].n_stage, 0);
	world_free();
}

/* Epoch choice avoids both sides' busy low bits and clashes. */
TEST(session_epoch_choice)
{
	world_init(2);
	provision(0, 1);
	/* A's kernel: 17 current, 3 previous; B's: 33 current. */
	W.s[0].cfg.epoch_next = 18;
	W.s[0].cfg.epoch_cur = 17;
	W.s[0].cfg.epoch_prev = 3;
	W.s[1].cfg.epoch_next = 34;
	W.s[1].cfg.epoch_cur = 33;
	W.s[0].k.cur = (struct kslot){ .used = true, .epoch = 17 };
	W.s[0].k.prev = (struct kslot){ .used = true, .epoch = 3 };
	W.s[1].k.cur = (struct kslot){ .used = true, .epoch = 33 };
	W.s[0].k.cur.tx[0] = 1;
	W.s[1].k.cur.tx[0] = 2;
	world_start();
	start_session(0, 1);
	run(60000);
	/* >= 34, low bits not 1 (17, 33) nor 3: 34 (low 2). */
	CHECK_EQ(W.s[1].done.epoch, 34);
	keys_match(0, 1);
	CHECK_EQ(W.s[0].k.prev.epoch, 17);
	world_free();

	world_init(2);
	provision(0, 1);
	W.s[0].cfg.epoch_next = 5;
	W.s[0].cfg.epoch_cur = 4;
	W.s[0].cfg.epoch_prev = 21;	/* low 5 */
	W.s[1].cfg.epoch_next = 2;
	W.s[1].cfg.epoch_cur = 6;
	W.s[0].k.cur = (struct kslot){ .used = true, .epoch = 4 };
	W.s[0].k.prev = (struct kslot){ .used = true, .epoch = 21 };
	W.s[1].k.cur = (struct kslot){ .used = true, .epoch = 6 };
	world_start();
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[1].done.epoch, 7);
	keys_match(0, 1);
	world_free();
}

/* Twenty rekeys on the timer: epochs wrap their low 4 bits cleanly. */
TEST(rekey_on_timer)
{
	if (!keyed_world())
		goto out;
	for (uint32_t e = 2; e <= 21 && !check_failing(); e++) {
		uint8_t old_tx[32];

		memcpy(old_tx, W.s[0].k.cur.tx, 32);
		run(SL_HS_REKEY_INTERVAL_MS + 30000);
		CHECK_EQ(W.s[0].n_done, (int)e);
		CHECK_EQ(W.s[1].n_done, (int)e);
		CHECK_EQ(W.s[1].done.kind, SL_HS_REKEY);
		CHECK(W.s[0].done.initiator);
		keys_match(0, 1);
		CHECK_EQ(W.s[0].k.cur.epoch, e);
		CHECK_EQ(W.s[0].k.prev.epoch, e - 1);
		CHECK_EQ(W.s[1].k.prev.epoch, e - 1);
		CHECK_MEM(W.s[0].k.prev.tx, old_tx, 32);
		CHECK(memcmp(W.s[0].k.cur.tx, old_tx, 32));
	}
	CHECK_EQ(W.s[0].n_failed + W.s[1].n_failed, 0);
out:
	world_free();
}

TEST(rekey_requested_by_responder)
{
	struct sl_hs_actions out;
	uint64_t first;

	if (!keyed_world())
		goto out;
	/* Only the key's initiator rekeys; the responder asks. */
	CHECK_EQ(sl_hs_rekey_needed(W.s[1].hs, SEALINE_LIMIT_MESSAGES, W.now,
				    &out), 0);
	apply(1, &out);
	CHECK_EQ(count_sent(1, SL_MSG_REKEY_REQUEST), 1);
	run(60000);
	CHECK_EQ(W.s[0].n_done, 2);
	CHECK_EQ(W.s[1].done.kind, SL_HS_REKEY);
	CHECK(W.s[0].done.initiator);
	keys_match(0, 1);
	CHECK_EQ(W.s[0].k.cur.epoch, 2);
	first = W.now;

	/* Asked again at once: ignored for 10 s, then a copy counts. */
	CHECK_EQ(sl_hs_rekey_needed(W.s[1].hs, SEALINE_LIMIT_AGE, W.now,
				    &out), 0);
	apply(1, &out);
	run(60000);
	CHECK_EQ(W.s[0].n_done, 3);
	CHECK(W.s[0].done.hsid != 0);
	CHECK(W.now >= first + SL_HS_REKEY_HOLDOFF_MS);
	CHECK(count_sent(1, SL_MSG_REKEY_REQUEST) >= 3);
	keys_match(0, 1);
	/* Each request has its own seq. */
	int i1 = find_sent(1, SL_MSG_REKEY_REQUEST, 0);
	int i2 = find_sent(1, SL_MSG_REKEY_REQUEST, 1);

	CHECK(i1 >= 0 && i2 >= 0 && W.log[i1].b[6] == 1);
	CHECK(i2 >= 0 && W.log[i2].b[6] == 1);	/* new key: seq 1 again */
out:
	world_free();
}

TEST(rekey_request_forged)
{
	uint8_t m[24];
	struct sl_hs_actions out;

	if (!keyed_world())
		goto out;
	/* A copy of what B would send, with a bad tag or from the wrong
	 * side: dropped. */
	memcpy(m, W.log[find_sent(1, SL_MSG_SESSION_DONE, 0)].b, 6);
	m[1] = SL_MSG_REKEY_REQUEST;
	m[6] = 1;
	check_fill_random(m + 7, 17);
	CHECK_EQ(sl_hs_input(W.s[0].hs, m, 24, W.now, &out), 0);
	CHECK(out.dropped && out.n == 0);
	CHECK_EQ(sl_hs_input(W.s[1].hs, m, 24, W.now, &out), 0);
	CHECK(out.dropped && out.n == 0);
	m[6] = 0;
	CHECK_EQ(sl_hs_input(W.s[0].hs, m, 24, W.now, &out), 0);
	CHECK(out.dropped && out.n == 0);
	/* The initiator does not ask: it rekeys. */
	CHECK_EQ(sl_hs_rekey_needed(W.s[0].hs, 0, W.now, &out), 0);
	apply(0, &out);
	CHECK_EQ(count_sent(0, SL_MSG_REKEY_REQUEST), 0);
	run(60000);
	CHECK_EQ(W.s[0].k.cur.epoch, 2);
	keys_match(0, 1);
out:
	world_free();
}

struct drop_ctx {
	int from;
	uint8_t type;		/* 0: the keepalive */
	int skip, count;	/* let skip pass, then drop count */
	int dropped;
	bool all;		/* every message of from */
};

static int drop_filter(struct world *w, int from, struct qmsg *m, void *ctx)
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

/* R activated the rekey; SESSION_DONE lost, the keepalive arrived: I's
 * kernel has promoted E, which GET_LINE tells at the next RTO. */
/*
 * A peer revoked, forgotten or no longer authorised is told with an
 * authentic SESSION_CLOSE, from either side of the key: it clears its
 * keys at once (CLEAR_KEYS) instead of writing into a key nobody reads,
 * and starts no rekey or retry of its own. The first copy lost: the
 * resend gets through. Forged or replayed copies change nothing.
 */
TEST(session_close_both_directions)
{
	struct drop_ctx d = { .type = SL_MSG_SESSION_CLOSE, .count = 1 };

	for (int closer = 0; closer < 2; closer++) {
		struct sl_hs_actions out;
		struct sl_hs_status st;
		int other = !closer, i;
		uint8_t copy[24];

		if (!keyed_world())
			break;
		d.from = closer;
		d.count = 1;
		W.filter = drop_filter;
		W.fctx = &d;
		CHECK_EQ(sl_hs_close(W.s[closer].hs, SL_CLOSE_REVOKED, W.now,
				     &out), 0);
		apply(closer, &out);
		/* The daemon clears its own keys. */
		memset(&W.s[closer].k, 0, sizeof(W.s[closer].k));
		run(30000);
		/* Not acknowledged: resent on its timer, 5 copies at most. */
		CHECK_EQ(count_sent(closer, SL_MSG_SESSION_CLOSE),
			 SL_HS_MAX_SENDS);
		CHECK_EQ(W.s[other].n_clear, 1);
		CHECK_EQ(W.s[other].clear_reason, SL_CLOSE_REVOKED);
		CHECK(!W.s[other].k.cur.used);
		sl_hs_get_status(W.s[other].hs, W.now, &st);
		CHECK(!st.keyed);
		sl_hs_get_status(W.s[closer].hs, W.now, &st);
		CHECK(!st.keyed);
		CHECK_EQ(sl_hs_close(W.s[closer].hs, SL_CLOSE_REVOKED, W.now,
				     &out), -ENOTCONN);
		/* A replayed copy is dropped; nobody rekeys or retries. */
		i = find_sent(closer, SL_MSG_SESSION_CLOSE, 0);
		memcpy(copy, W.log[i].b, sizeof(copy));
		CHECK_EQ(sl_hs_input(W.s[other].hs, copy, 24, W.now, &out), 0);
		CHECK(out.dropped && out.n == 0);
		W.n_log = 0;
		run(SL_HS_REKEY_INTERVAL_MS + SL_HS_RETRY_MAX_MS);
		CHECK_EQ(W.n_log, 0);
		CHECK_EQ(W.s[other].n_clear, 1);
		world_free();
	}

	/* Forged: a bad tag, the wrong direction, an old seq. */
	if (keyed_world()) {
		struct sl_hs_actions out;
		uint8_t m[24];

		memcpy(m, W.log[find_sent(1, SL_MSG_SESSION_DONE, 0)].b, 6);
		m[1] = SL_MSG_SESSION_CLOSE;
		for (int seq = 0; seq < 3; seq++) {
			m[6] = (uint8_t)seq;
			check_fill_random(m + 7, 17);
			for (int i = 0; i < 2; i++) {
				CHECK_EQ(sl_hs_input(W.s[i].hs, m, 24, W.now,
						     &out), 0);
				CHECK(out.dropped && out.n == 0);
			}
		}
		CHECK(W.s[0].k.cur.used && W.s[1].k.cur.used);
		CHECK_EQ(W.s[0].n_clear + W.s[1].n_clear, 0);
		CHECK_EQ(sl_hs_close(W.s[0].hs, 0, W.now, &out), -EINVAL);
		CHECK(W.s[0].k.cur.used);
	}
	world_free();
}

TEST(session_done_lost_keepalive_seen)
{
	struct drop_ctx d = { .from = 1, .type = SL_MSG_SESSION_DONE,
			      .count = 100 };
	struct sl_hs_actions out;

	if (!keyed_world())
		goto out;
	W.filter = drop_filter;
	W.fctx = &d;
	CHECK_EQ(sl_hs_rekey_needed(W.s[0].hs, 0, W.now, &out), 0);
	apply(0, &out);
	run(60000);
	CHECK(d.dropped >= 1);
	CHECK_EQ(W.s[0].n_done, 2);
	/* Completed on GET_LINE at the first RTO, without resending. */
	CHECK_EQ(count_sent(0, SL_MSG_SESSION_CONFIRM), 2);
	CHECK_EQ(W.s[0].n_failed, 0);
	keys_match(0, 1);
	CHECK_EQ(W.s[0].k.cur.epoch, 2);
out:
	world_free();
}

struct multi_drop {
	struct drop_ctx d[4];
	int n;
};

static int multi_filter(struct world *w, int from, struct qmsg *m, void *ctx)
{
	struct multi_drop *md = ctx;

	for (int i = 0; i < md->n; i++)
		if (drop_filter(w, from, m, &md->d[i]) == DROP)
			return DROP;
	return DELIVER;
}

/*
 * R activated; every SESSION_DONE and the keepalive are lost: I fails at
 * its deadline with E staged ("leftover F"). The next rekey's
 * SESSION_RESP says R's current epoch is F: I activates F first.
 */
TEST(leftover_staged_epoch_activated)
{
	struct multi_drop md = { .n = 2 };
	struct sl_hs_actions out;

	md.d[0] = (struct drop_ctx){ .from = 1, .type = SL_MSG_SESSION_DONE,
				     .count = 1000 };
	md.d[1] = (struct drop_ctx){ .from = 1, .type = 0, .count = 1 };
	if (!keyed_world())
		goto out;
	W.filter = multi_filter;
	W.fctx = &md;
	CHECK_EQ(sl_hs_rekey_needed(W.s[0].hs, 0, W.now, &out), 0);
	apply(0, &out);
	run(SL_HS_DEADLINE_MS + 1000);
	CHECK_EQ(W.s[0].n_failed, 1);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_TIMEOUT);
	CHECK_EQ(W.s[0].failed.kind, SL_HS_REKEY);
	CHECK(W.s[0].failed.retry_at != 0);
	/* I: 1 current, 2 staged; R: 2 current. */
	CHECK_EQ(W.s[0].k.cur.epoch, 1);
	CHECK(W.s[0].k.next.used && W.s[0].k.next.epoch == 2);
	CHECK_EQ(W.s[1].k.cur.epoch, 2);
	CHECK_EQ(W.s[1].n_done, 2);

	/* The retry, 30 s later, with the line working again. */
	W.filter = NULL;
	run(SL_HS_REKEY_RETRY_MS + 30000);
	CHECK_EQ(W.s[0].n_done, 2);
	CHECK_EQ(W.s[1].n_done, 3);
	CHECK_EQ(W.s[0].k.cur.epoch, 3);
	CHECK_EQ(W.s[0].k.prev.epoch, 2);
	CHECK_EQ(W.s[1].k.prev.epoch, 2);
	keys_match(0, 1);
	CHECK_MEM(W.s[0].k.prev.tx, W.s[1].k.prev.rx, 32);
out:
	world_free();
}

/* R never activated (SESSION_CONFIRM lost): E stays staged on I, and the
 * next rekey's key replaces it. */
TEST(leftover_staged_epoch_replaced)
{
	struct drop_ctx d = { .from = 0, .type = SL_MSG_SESSION_CONFIRM,
			      .count = 1000 };
	struct sl_hs_actions out;

	if (!keyed_world())
		goto out;
	W.filter = drop_filter;
	W.fctx = &d;
	CHECK_EQ(sl_hs_rekey_needed(W.s[0].hs, 0, W.now, &out), 0);
	apply(0, &out);
	run(SL_HS_DEADLINE_MS + 1000);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_TIMEOUT);
	CHECK_EQ(W.s[1].n_stage, 0 + 1);	/* only the first session's */
	CHECK(W.s[0].k.next.used && W.s[0].k.next.epoch == 2);
	CHECK_EQ(W.s[1].k.cur.epoch, 1);
	W.filter = NULL;
	run(SL_HS_REKEY_RETRY_MS + 30000);
	CHECK_EQ(W.s[0].n_done, 2);
	CHECK_EQ(W.s[0].k.cur.epoch, 3);
	CHECK_EQ(W.s[0].k.prev.epoch, 1);
	keys_match(0, 1);
out:
	world_free();
}

/* ---- Tests: refusals --------------------------------------------- */

static void refused_session(const uint8_t *b_ltk, bool b_has_peer,
			    enum sl_hs_peer_status status, uint8_t reason)
{
	uint8_t ltk[32];

	world_init(2);
	W.s[0].cfg.direct_line = true;
	check_fill_random(ltk, 32);
	give_peer(0, 1, ltk, SL_PEER_AUTHORISED);
	if (b_has_peer)
		give_peer(1, 0, b_ltk ? b_ltk : ltk, status);
	world_start();
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[1].n_nak_sent, 1);
	CHECK_EQ(W.s[1].nak_sent.reason, reason);
	CHECK_EQ(W.s[1].nak_sent.ref_type, SL_MSG_SESSION_INIT);
	CHECK_EQ(W.s[1].n_failed, 0);		/* no handshake of B's */
	CHECK_EQ(W.s[0].n_failed, 1);
	CHECK_EQ(W.s[0].failed.reason, reason);
	CHECK(W.s[0].failed.remote);
	/* It needs an operator, but the NAK may be forged: the longest
	 * retry interval, not never. */
	CHECK_EQ(W.s[0].failed.retry_at,
		 W.now - W.s[0].failed.elapsed_ms + SL_HS_RETRY_MAX_MS);
	CHECK_EQ(W.s[0].n_stage + W.s[1].n_stage, 0);
	CHECK_EQ(count_sent(0, SL_MSG_SESSION_INIT), 1);
	if (reason == SL_NAK_REVOKED || reason == SL_NAK_NOT_AUTHORISED)
		CHECK(!strcmp(W.s[1].nak_sent.peer_account, W.s[0].account));
	scan_log();
	world_free();
}

TEST(session_refused)
{
	uint8_t wrong[32];

	check_fill_random(wrong, 32);
	refused_session(wrong, true, SL_PEER_AUTHORISED, SL_NAK_UNKNOWN_PEER);
	refused_session(NULL, false, SL_PEER_AUTHORISED, SL_NAK_UNKNOWN_PEER);
	refused_session(NULL, true, SL_PEER_REVOKED, SL_NAK_REVOKED);
	refused_session(NULL, true, SL_PEER_NOT_AUTHORISED,
			SL_NAK_NOT_AUTHORISED);
}

/* B's key store caches ss = DH(s_B, s_peer) for each peer. */
static void cache_ss(int b, bool wrong)
{
	for (int p = 0; p < MAX_PEERS; p++) {
		struct stored *st = &W.s[b].peers[p];

		if (!st->used)
			continue;
		st->ss = sl_secure_alloc(32);
		if (!st->ss || sl_x25519(st->ss, W.s[b].s_priv, st->pub))
			abort();
		if (wrong)
			st->ss[0] ^= 1;
	}
}

/* R tries every stored peer until one opens the message. */
TEST(session_peer_among_many)
{
	uint8_t ltk[32];

	for (int variant = 0; variant < 3; variant++) {
		world_init(4);
		/* B knows C and D (with other keys) before A. */
		for (int i = 2; i < 4; i++) {
			check_fill_random(ltk, 32);
			give_peer(1, i, ltk, SL_PEER_AUTHORISED);
		}
		provision(0, 1);
		if (variant)	/* with the ss cache, right or wrong */
			cache_ss(1, variant == 2);
		world_start();
		start_session(0, 1);
		run(60000);
		if (variant == 2) {
			/* A wrong cached ss: it opens under no peer. */
			CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_UNKNOWN_PEER);
			CHECK_EQ(W.s[1].n_done, 0);
		} else {
			CHECK_EQ(W.s[1].n_done, 1);
			CHECK(!strcmp(W.s[1].done.peer_account,
				      W.s[0].account));
			keys_match(0, 1);
		}
		world_free();
	}
}

/* A direct line retries a failed session, 5 s doubling. */
TEST(session_retry_direct_line)
{
	struct drop_ctx d = { .from = 0, .all = true };

	world_init(2);
	provision(0, 1);
	W.s[0].cfg.direct_line = true;
	world_start();
	W.filter = drop_filter;
	W.fctx = &d;
	start_session(0, 1);
	run(SL_HS_DEADLINE_MS + 100);
	CHECK_EQ(W.s[0].n_failed, 1);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_TIMEOUT);
	CHECK_EQ(W.s[0].failed.retry_at, W.now + SL_HS_RETRY_MS);
	W.filter = NULL;
	run(60000);
	CHECK_EQ(W.s[0].n_done, 1);
	keys_match(0, 1);
	world_free();
}

/* ---- Tests: authentic messages with invalid content (step 6) ------ */

/* Captures (and drops) what one side sends. */
struct capture {
	int from;
	uint8_t b[SL_HS_MAX_MSG];
	size_t len;
	int n;
};

static int capture_filter(struct world *w, int from, struct qmsg *m,
			  void *ctx)
{
	struct capture *c = ctx;

	(void)w;
	if (from != c->from || m->keepalive)
		return DELIVER;
	memcpy(c->b, m->b, m->len);
	c->len = m->len;
	c->n++;
	return DROP;
}

/* A Noise handshake state built by hand, in secure memory. */
static struct sl_noise_hs *forge(enum sl_noise_pattern pat, bool initiator,
				 const uint8_t *prologue, size_t plen,
				 const uint8_t *s, const uint8_t *rs,
				 const uint8_t *psk)
{
	struct sl_noise_hs *n = sl_secure_alloc(sizeof(*n));
	struct sl_noise_keys k = { .s = s, .rs = rs, .psk = psk };

	if (!n || sl_noise_hs_init(n, pat, initiator, prologue, plen, &k))
		abort();
	return n;
}

/* A's SESSION_INIT to B, written by hand with payload pl. */
static void forged_session_init(const uint8_t pl[8], uint8_t reason,
				const char *expected)
{
	uint8_t m[64] = { SL_HS_VERSION, SL_MSG_SESSION_INIT, 0x77, 0x66, 0x55,
			  0x44, SL_HS_VERSION, SL_HS_VERSION };
	uint8_t prologue[15];
	struct sl_noise_hs *n;
	size_t len;

	world_init(2);
	provision(0, 1);
	world_start();
	if (expected)
		sl_hs_set_expected_peer(W.s[1].hs, expected);
	memcpy(prologue, "sealine", 7);
	memcpy(prologue + 7, m, 8);
	n = forge(SL_NOISE_KKPSK0, true, prologue, 15, W.s[0].s_priv,
		  W.s[1].s_pub, W.s[0].peers[0].ltk);
	CHECK_EQ(sl_noise_write(n, pl, 8, m + 8, 56, &len), 0);
	sl_secure_free(n, sizeof(*n));
	W.forbid_keys = true;
	input(1, m, 64);
	W.forbid_keys = false;
	CHECK_EQ(W.s[1].n_nak_sent, 1);
	CHECK_EQ(W.s[1].nak_sent.reason, reason);
	CHECK_EQ(W.s[1].nak_sent.ref_type, SL_MSG_SESSION_INIT);
	CHECK(!strcmp(W.s[1].nak_sent.peer_account, W.s[0].account));
	world_free();
}

TEST(session_init_invalid_content)
{
	static const uint8_t kind3[8] = { 3, 1, 0, 0, 0, 1, 0, 0 };
	static const uint8_t no_cipher[8] = { 1, 0, 0, 0, 0, 1, 0, 0 };
	static const uint8_t epoch0[8] = { 1, 1, 0, 0, 0, 0, 0, 0 };
	static const uint8_t all_busy[8] = { 1, 1, 0, 0, 0, 1, 0xff, 0xff };
	static const uint8_t top[8] = { 2, 1, 0xff, 0xff, 0xff, 0xff, 0x80,
					0 };
	static const uint8_t fine[8] = { 1, 1, 0, 0, 0, 1, 0, 0 };

	forged_session_init(kind3, SL_NAK_BAD_MESSAGE, NULL);
	forged_session_init(no_cipher, SL_NAK_BAD_MESSAGE, NULL);
	forged_session_init(epoch0, SL_NAK_BAD_MESSAGE, NULL);
	forged_session_init(all_busy, SL_NAK_BAD_MESSAGE, NULL);
	/* 2^32 - 1 is busy in its low bits: no epoch above it. */
	forged_session_init(top, SL_NAK_BAD_MESSAGE, NULL);
	/* Authentic and fine, but not the peer a TSP announced. */
	forged_session_init(fine, SL_NAK_IDENTITY_MISMATCH, "999999999999");
}

/* B's SESSION_RESP to A, written by hand with payload pl. */
static void forged_session_resp(const uint8_t pl[9], uint8_t reason)
{
	struct capture c = { .from = 0 };
	uint8_t prologue[15], got[8], m[63];
	struct sl_noise_hs *n;
	size_t len;

	world_init(2);
	provision(0, 1);
	world_start();
	W.filter = capture_filter;
	W.fctx = &c;
	start_session(0, 1);
	CHECK_EQ(c.n, 1);
	memcpy(prologue, "sealine", 7);
	memcpy(prologue + 7, c.b, 8);
	n = forge(SL_NOISE_KKPSK0, false, prologue, 15, W.s[1].s_priv,
		  W.s[0].s_pub, W.s[1].peers[0].ltk);
	CHECK_EQ(sl_noise_read(n, c.b + 8, 56, got, sizeof(got), &len), 0);
	memcpy(m, c.b, 6);
	m[1] = SL_MSG_SESSION_RESP;
	CHECK_EQ(sl_noise_write(n, pl, 9, m + 6, 57, &len), 0);
	sl_secure_free(n, sizeof(*n));
	W.forbid_keys = true;
	input(0, m, 63);
	W.forbid_keys = false;
	CHECK_EQ(W.s[0].nak_sent.reason, reason);
	CHECK_EQ(W.s[0].nak_sent.ref_type, SL_MSG_SESSION_RESP);
	CHECK_EQ(W.s[0].failed.reason, reason);
	CHECK_EQ(W.s[0].n_stage, 0);
	world_free();
}

TEST(session_resp_invalid_content)
{
	static const uint8_t aes[9] = { 2, 0, 0, 0, 1, 0, 0, 0, 0 };
	static const uint8_t cipher9[9] = { 9, 0, 0, 0, 1, 0, 0, 0, 0 };
	static const uint8_t epoch0[9] = { 1, 0, 0, 0, 0, 0, 0, 0, 0 };

	/* A offers ChaCha20-Poly1305 only. */
	forged_session_resp(aes, SL_NAK_BAD_MESSAGE);
	forged_session_resp(cipher9, SL_NAK_BAD_MESSAGE);
	forged_session_resp(epoch0, SL_NAK_BAD_MESSAGE);
}

/*
 * A pairing whose other end is written by hand: it sends account acct.
 * to_initiator: the forger is R and A checks PAIR_FINISH; else the forger
 * is I and B checks PAIR_REVEAL.
 */
static void forged_pairing_account(bool to_initiator, const char *acct,
				   uint8_t reason)
{
	struct capture c = { .from = to_initiator ? 0 : 1 };
	uint8_t prologue[47], m[SL_HS_MAX_MSG], none[1], e[32], e_pub[32];
	struct sl_noise_hs *n;
	struct sl_chunk ch[2];
	size_t len;
	int victim = to_initiator ? 0 : 1;

	world_init(2);
	W.s[1].cfg.pair_enabled = true;
	world_start();
	W.filter = capture_filter;
	W.fctx = &c;
	memcpy(prologue, "sealine", 7);
	if (to_initiator) {
		start_pairing(0);
		memcpy(prologue + 7, c.b, 40);
		/* The forger is R, XX's initiator. */
		n = forge(SL_NOISE_XX, true, prologue, 47, W.s[1].s_priv,
			  NULL, NULL);
		memcpy(m, c.b, 6);
		m[1] = SL_MSG_PAIR_EPHEMERAL;
		CHECK_EQ(sl_noise_write(n, NULL, 0, m + 6, 32, &len), 0);
		input(0, m, 38);
		CHECK_EQ(c.b[1], SL_MSG_PAIR_REVEAL);
		{
			uint8_t acct_in[12];

			CHECK_EQ(sl_noise_read(n, c.b + 6, 108, acct_in, 12,
					       &len), 0);
		}
		m[1] = SL_MSG_PAIR_FINISH;
		CHECK_EQ(sl_noise_write(n, (const uint8_t *)acct, 12, m + 6,
					76, &len), 0);
		W.forbid_keys = reason != 0;
		input(0, m, 82);
	} else {
		/* The forger is I, XX's responder, committed to e. */
		check_fill_random(e, 32);
		sl_x25519_public(e_pub, e);
		memcpy(m, "\x02\x10\x12\x34\x56\x78\x02\x02", 8);
		ch[0] = (struct sl_chunk){ "sealine v1 commit", 17 };
		ch[1] = (struct sl_chunk){ e_pub, 32 };
		sl_sha256_chunks(m + 8, ch, 2);
		memcpy(prologue + 7, m, 40);
		input(1, m, 40);
		CHECK_EQ(c.b[1], SL_MSG_PAIR_EPHEMERAL);
		n = sl_secure_alloc(sizeof(*n));
		struct sl_noise_keys k = { .s = W.s[0].s_priv, .e = e };

		CHECK_EQ(sl_noise_hs_init(n, SL_NOISE_XX, false, prologue, 47,
					  &k), 0);
		CHECK_EQ(sl_noise_read(n, c.b + 6, 32, none, 1, &len), 0);
		m[1] = SL_MSG_PAIR_REVEAL;
		CHECK_EQ(sl_noise_write(n, (const uint8_t *)acct, 12, m + 6,
					108, &len), 0);
		W.forbid_keys = true;
		input(1, m, 114);
	}
	W.forbid_keys = false;
	sl_secure_free(n, sizeof(*n));
	sl_wipe(e, sizeof(e));
	if (reason) {
		CHECK_EQ(W.s[victim].nak_sent.reason, reason);
		CHECK_EQ(W.s[victim].nak_sent.ref_type, to_initiator ?
			 SL_MSG_PAIR_FINISH : SL_MSG_PAIR_REVEAL);
		CHECK_EQ(W.s[victim].n_failed, 1);
		CHECK_EQ(W.s[victim].n_show + W.s[victim].n_ask, 0);
	} else {
		CHECK_EQ(W.s[victim].n_nak_sent, 0);
		CHECK_EQ(W.s[victim].n_show, 1);
		CHECK(W.s[victim].sas_shown[0]);
	}
	world_free();
}

TEST(pairing_invalid_accounts)
{
	forged_pairing_account(true, "12345678901X", SL_NAK_BAD_MESSAGE);
	forged_pairing_account(false, "1234 6789012", SL_NAK_BAD_MESSAGE);
	/* Our own account back (a reflection). */
	forged_pairing_account(true, "123456789012", SL_NAK_BAD_MESSAGE);
	forged_pairing_account(false, "210987654321", SL_NAK_BAD_MESSAGE);
	/* A well-formed account reaches the SAS step. */
	forged_pairing_account(true, "555555555555", 0);
}

/* ---- Tests: versions ----------------------------------------------- */

static void version_world(uint8_t amin, uint8_t amax, uint8_t bmin,
			  uint8_t bmax)
{
	world_init(2);
	provision(0, 1);
	W.s[0].cfg.ver_min = amin;
	W.s[0].cfg.ver_max = amax;
	W.s[1].cfg.ver_min = bmin;
	W.s[1].cfg.ver_max = bmax;
	world_start();
}

static bool all_versions(int from_idx, uint8_t ver)
{
	for (int i = from_idx; i < W.n_log; i++)
		if (W.log[i].b[1] != SL_MSG_NAK && W.log[i].b[0] != ver)
			return false;
	return true;
}

TEST(version_negotiation)
{
	int i;

	/* I speaks 1..3, R only 1: NAK VERSION, then again in 1. */
	version_world(1, 3, 1, 1);
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.log[0].b[0], 3);
	CHECK(W.log[0].b[6] == 1 && W.log[0].b[7] == 3);
	CHECK_EQ(W.log[1].b[1], SL_MSG_NAK);
	CHECK_EQ(W.log[1].b[6], SL_NAK_VERSION);
	CHECK(W.log[1].b[8] == 1 && W.log[1].b[9] == 1);
	CHECK_EQ(W.log[2].b[1], SL_MSG_SESSION_INIT);
	CHECK_EQ(W.log[2].b[0], 1);
	CHECK(W.log[2].b[6] == 1 && W.log[2].b[7] == 3); /* full range */
	CHECK(memcmp(W.log[0].b + 2, W.log[2].b + 2, 4)); /* new hsid */
	CHECK(all_versions(2, 1));
	CHECK_EQ(W.s[0].n_done, 1);
	CHECK_EQ(W.s[0].done.version, 1);
	CHECK_EQ(W.s[0].n_failed, 0);
	CHECK_EQ(W.s[0].n_nak_rx, 1);
	keys_match(0, 1);
	world_free();

	/* R speaks more: I's version is the common one. */
	version_world(1, 1, 1, 3);
	start_session(0, 1);
	run(60000);
	CHECK(all_versions(0, 1));
	CHECK_EQ(W.s[1].n_nak_sent, 0);
	keys_match(0, 1);
	world_free();

	/* Both speak 3: all of it in 3 (with version 1's layouts). */
	version_world(1, 3, 2, 3);
	start_session(0, 1);
	run(60000);
	CHECK(all_versions(0, 3));
	CHECK_EQ(W.s[1].done.version, 3);
	keys_match(0, 1);
	world_free();

	/* No overlap: NAK VERSION, no second try. */
	version_world(2, 3, 1, 1);
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_VERSION);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_VERSION);
	CHECK(W.s[0].failed.remote);
	CHECK_EQ(count_sent(0, SL_MSG_SESSION_INIT), 1);
	CHECK_EQ(W.s[0].n_stage + W.s[1].n_stage, 0);
	world_free();

	/* Pairing negotiates the same way. */
	world_init(2);
	W.s[0].cfg.ver_min = 1;
	W.s[0].cfg.ver_max = 2;
	W.s[1].cfg.ver_min = 1;
	W.s[1].cfg.ver_max = 1;
	W.s[1].cfg.pair_enabled = true;
	W.s[1].type_from = 0;
	world_start();
	start_pairing(0);
	run(600000);
	CHECK_EQ(count_sent(0, SL_MSG_PAIR_COMMIT), 2);
	i = find_sent(0, SL_MSG_PAIR_COMMIT, 1);
	CHECK(i >= 0 && W.log[i].b[0] == 1 && W.log[i].b[7] == 2);
	CHECK_EQ(W.s[0].n_store, 1);
	CHECK_EQ(W.s[1].n_store, 1);
	keys_match(0, 1);
	world_free();
}

/*
 * A peer that still speaks the old pairing (version 1 only) is refused
 * with NAK VERSION, in either role, and both sides end at once (no
 * hang, no retry): the one that refused logs its NAK, the other fails
 * with VERSION and the refuser's range.
 */
TEST(version_old_pairing_refused)
{
	for (int old = 0; old < 2; old++) {
		world_init(2);
		W.s[old].cfg.ver_min = W.s[old].cfg.ver_max = 1;
		W.s[1].cfg.pair_enabled = true;
		W.s[1].type_from = 0;
		world_start();
		start_pairing(0);
		run(600000);
		CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_VERSION);
		CHECK_EQ(W.s[1].nak_sent.ref_type, SL_MSG_PAIR_COMMIT);
		CHECK_EQ(W.s[0].n_failed, 1);
		CHECK_EQ(W.s[0].failed.kind, SL_HS_PAIR);
		CHECK_EQ(W.s[0].failed.reason, SL_NAK_VERSION);
		CHECK(W.s[0].failed.remote);
		CHECK_EQ(W.s[0].failed.ver_min, old ? 1 : SL_HS_VERSION);
		CHECK_EQ(W.s[0].failed.ver_max, old ? 1 : SL_HS_VERSION);
		CHECK(W.s[0].failed.elapsed_ms < 2000);
		CHECK_EQ(count_sent(0, SL_MSG_PAIR_COMMIT), 1);
		CHECK_EQ(W.s[0].n_show + W.s[1].n_ask, 0);
		CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 0);
		world_free();
	}
}

/*
 * A forged NAK VERSION (unauthenticated) restarts only the handshake it
 * answers (and the genuine peer refuses the downgrade); it neither pins
 * the line to an older version nor stops the retries for good: the next
 * try is written in the highest version again and keys the line.
 */
static int forge_version_nak(struct world *w, int from, struct qmsg *m,
			     void *ctx)
{
	int *left = ctx;
	struct qmsg nak = { .to = from, .len = 11 };

	(void)w;
	if (from != 0 || m->keepalive || m->b[1] != SL_MSG_SESSION_INIT ||
	    !*left)
		return DELIVER;
	--*left;
	memcpy(nak.b, m->b, 6);
	nak.b[1] = SL_MSG_NAK;
	nak.b[6] = SL_NAK_VERSION;
	nak.b[8] = nak.b[9] = 1;	/* "I only speak 1" */
	nak.b[10] = SL_MSG_SESSION_INIT;
	enqueue(&nak);
	return DROP;
}

TEST(version_nak_changes_nothing_lasting)
{
	int left = 1;
	int i;

	world_init(2);
	provision(0, 1);
	W.s[0].cfg.ver_min = W.s[1].cfg.ver_min = 1;
	W.s[0].cfg.ver_max = W.s[1].cfg.ver_max = 2;
	W.s[0].cfg.direct_line = true;
	world_start();
	W.filter = forge_version_nak;
	W.fctx = &left;
	start_session(0, 1);
	run(10000);
	/* The restart in version 1: the genuine R insists on 2. */
	i = find_sent(0, SL_MSG_SESSION_INIT, 1);
	CHECK(i >= 0 && W.log[i].b[0] == 1);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_VERSION);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_VERSION);
	CHECK(W.s[0].failed.retry_at > W.now);
	CHECK_EQ(W.s[0].n_stage + W.s[1].n_stage, 0);
	/* The retry is written in 2 again and keys the line in 2. */
	run(SL_HS_RETRY_MAX_MS + 60000);
	i = find_sent(0, SL_MSG_SESSION_INIT, 2);
	CHECK(i >= 0 && W.log[i].b[0] == 2);
	CHECK_EQ(W.s[0].n_done, 1);
	CHECK_EQ(W.s[0].done.version, 2);
	keys_match(0, 1);
	world_free();
}

/* Crafted first messages with bad version fields. */
TEST(version_fields_checked)
{
	struct sl_hs_actions out;
	uint8_t m[64] = { 1, SL_MSG_SESSION_INIT, 1, 2, 3, 4, 2, 1 };
	static const uint8_t bad[][3] = {
		{ 1, 2, 1 },	/* ver_min > ver_max */
		{ 0, 1, 1 },	/* ver 0 */
		{ 2, 1, 1 },	/* not the common one */
		{ 1, 0, 0 },	/* no range */
		{ 1, 2, 9 },	/* no overlap */
	};

	world_init(2);
	world_start();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m[0] = bad[i][0];
		m[6] = bad[i][1];
		m[7] = bad[i][2];
		m[5] = (uint8_t)i;
		W.now += 2000;		/* past the NAK rate limit */
		CHECK_EQ(sl_hs_input(W.s[1].hs, m, 64, W.now, &out), 0);
		CHECKF(out.n == 2 && out.a[0].type == SL_HS_ACT_SEND &&
		       out.a[0].send.msg[6] == SL_NAK_VERSION,
		       "case %zu: %u actions", i, out.n);
	}
	world_free();
}

/* ---- Tests: NAKs ----------------------------------------------------- */

TEST(nak_encoding_and_rate_limit)
{
	struct sl_hs_actions out;
	uint8_t m[40] = { 2, SL_MSG_PAIR_COMMIT, 0xde, 0xad, 0xbe, 0xef, 2, 2 };

	world_init(2);
	world_start();
	CHECK_EQ(sl_hs_input(W.s[1].hs, m, 40, W.now, &out), 0);
	CHECK_EQ(out.n, 2);
	CHECK_EQ(out.a[0].type, SL_HS_ACT_SEND);
	CHECK_HEX(out.a[0].send.msg, out.a[0].send.len,
		  "02 01 deadbeef 0f 00 02 02 10");
	CHECK_EQ(out.a[1].type, SL_HS_ACT_NAK);
	CHECK(out.a[1].nak.sent && !out.a[1].nak.rate_limited);
	CHECK_EQ(out.a[1].nak.hsid, 0xdeadbeef);

	/* A copy gets the same NAK, but not twice a second. */
	W.now += 500;
	CHECK_EQ(sl_hs_input(W.s[1].hs, m, 40, W.now, &out), 0);
	CHECK_EQ(out.n, 0);
	W.now += 600;
	CHECK_EQ(sl_hs_input(W.s[1].hs, m, 40, W.now, &out), 0);
	CHECK(out.n == 1 && out.a[0].send.msg[6] == SL_NAK_NOT_ARMED);

	/* Another refusal within the second: logged, not sent. */
	m[5] = 0xee;
	W.now += 100;
	CHECK_EQ(sl_hs_input(W.s[1].hs, m, 39, W.now, &out), 0);
	CHECK(out.n == 1 && out.a[0].type == SL_HS_ACT_NAK);
	CHECK(out.a[0].nak.rate_limited);
	CHECK_EQ(out.a[0].nak.reason, SL_NAK_BAD_MESSAGE);

	/* A NAK is never answered; one for no handshake is dropped. */
	W.now += 5000;
	CHECK_EQ(sl_hs_input(W.s[1].hs, out.a[0].type == SL_HS_ACT_NAK ?
			     (const uint8_t *)"\x01\x01\xde\xad\xbe\xef\x05"
			     "\x00\x01\x01\x10" : m, 11, W.now, &out), 0);
	CHECK(out.n == 0 && out.dropped);
	/* CALL_HELLO: this end is no TSP. */
	uint8_t hello[56] = { 2, SL_MSG_CALL_HELLO, 9, 9, 9, 9, 2, 2 };

	CHECK_EQ(sl_hs_input(W.s[1].hs, hello, 56, W.now, &out), 0);
	CHECK(out.n == 2 && out.a[0].send.msg[6] == SL_NAK_NOT_AUTHORISED);
	world_free();
}

/* A forged NAK aborts a handshake and changes no key. */
TEST(nak_forged)
{
	struct drop_ctx d = { .from = 0, .type = SL_MSG_SESSION_CONFIRM,
			      .count = 1000 };
	struct sl_hs_actions out;
	uint8_t nak[11];
	int i;

	if (!keyed_world())
		goto out;
	W.filter = drop_filter;
	W.fctx = &d;
	CHECK_EQ(sl_hs_rekey_needed(W.s[0].hs, 0, W.now, &out), 0);
	apply(0, &out);
	run(1);
	CHECK(W.s[0].k.next.used && W.s[0].k.next.epoch == 2);
	i = find_sent(0, SL_MSG_SESSION_INIT, 1);
	CHECK(i >= 0);
	memcpy(nak, "\x01\x01\0\0\0\0\x06\0\x01\x01\x21", 11);
	/* With another hsid: dropped. */
	CHECK_EQ(sl_hs_input(W.s[0].hs, nak, 11, W.now, &out), 0);
	CHECK(out.n == 0 && out.dropped);
	/* Shorter than 11: dropped. */
	memcpy(nak + 2, W.log[i].b + 2, 4);
	CHECK_EQ(sl_hs_input(W.s[0].hs, nak, 10, W.now, &out), 0);
	CHECK(out.n == 0 && out.dropped);
	/* With the handshake's hsid (and trailing bytes): it ends. */
	uint8_t longer[16] = { 0 };

	memcpy(longer, nak, 11);
	CHECK_EQ(sl_hs_input(W.s[0].hs, longer, 16, W.now, &out), 0);
	apply(0, &out);
	CHECK_EQ(W.s[0].n_failed, 1);
	CHECK(W.s[0].failed.remote);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_TIMEOUT);
	CHECK_EQ(W.s[0].nak_rx.ref_type, SL_MSG_SESSION_RESP);
	CHECK_EQ(W.s[0].n_activate, 1);		/* the first session's */
	CHECK_EQ(W.s[0].k.cur.epoch, 1);
	CHECK(W.s[0].k.next.used && W.s[0].k.next.epoch == 2);
	/* Again while it lingers: logged, nothing else. */
	CHECK_EQ(sl_hs_input(W.s[0].hs, nak, 11, W.now, &out), 0);
	CHECK(out.n == 1 && out.a[0].type == SL_HS_ACT_NAK &&
	      !out.a[0].nak.ended);
out:
	world_free();
}

/* ---- Tests: line faults ------------------------------------------- */

/* Every message (and the keepalive) lost once: retransmission. */
TEST(lost_messages_recovered)
{
	static const uint8_t session_types[] = {
		SL_MSG_SESSION_INIT, SL_MSG_SESSION_RESP,
		SL_MSG_SESSION_CONFIRM, SL_MSG_SESSION_DONE, 0
	};
	static const uint8_t pair_types[] = {
		SL_MSG_PAIR_COMMIT, SL_MSG_PAIR_EPHEMERAL, SL_MSG_PAIR_REVEAL,
		SL_MSG_PAIR_FINISH, SL_MSG_PAIR_CONFIRM, SL_MSG_PAIR_DONE,
	};

	for (size_t t = 0; t < sizeof(session_types); t++) {
		for (int times = 1; times <= 3; times++) {
			struct drop_ctx d = { .from = -1,
					      .type = session_types[t],
					      .count = times };

			world_init(2);
			provision(0, 1);
			world_start();
			W.filter = drop_filter;
			W.fctx = &d;
			start_session(0, 1);
			run(60000);
			CHECKF(W.s[0].n_done == 1 && W.s[1].n_done == 1,
			       "%s lost %d times",
			       session_types[t] ?
			       sl_hs_msg_name(session_types[t]) : "keepalive",
			       times);
			/* Fewer if fewer were sent (SESSION_DONE is sent
			 * again only for a copy; one keepalive). */
			CHECK(d.dropped >= 1 && d.dropped <= times);
			keys_match(0, 1);
			CHECK_EQ(W.s[0].n_stage, 1);
			CHECK_EQ(W.s[1].n_stage, 1);
			world_free();
		}
	}
	for (size_t t = 0; t < sizeof(pair_types); t++) {
		struct drop_ctx d = { .from = -1, .type = pair_types[t],
				      .count = 2 };

		pairing_world();
		W.filter = drop_filter;
		W.fctx = &d;
		start_pairing(0);
		run(600000);
		CHECKF(W.s[0].n_store == 1 && W.s[1].n_store == 1,
		       "%s lost twice", sl_hs_msg_name(pair_types[t]));
		keys_match(0, 1);
		world_free();
	}
}

/* Every message delivered twice: no double action. */
static int dup_filter(struct world *w, int from, struct qmsg *m, void *ctx)
{
	(void)w;
	(void)from;
	(void)m;
	(void)ctx;
	return DUPLICATE;
}

TEST(duplicates_ignored)
{
	pairing_world();
	W.filter = dup_filter;
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[0].n_store, 1);
	CHECK_EQ(W.s[1].n_store, 1);
	CHECK_EQ(W.s[0].n_stage, 1);
	CHECK_EQ(W.s[1].n_stage, 1);
	CHECK_EQ(W.s[0].n_done, 2);
	CHECK_EQ(W.s[1].n_done, 2);
	CHECK_EQ(W.s[0].n_show, 1);
	CHECK_EQ(W.s[1].n_ask, 1);
	CHECK_EQ(W.s[0].n_failed + W.s[1].n_failed, 0);
	keys_match(0, 1);
	/* R answers a copy once per RTO0/2 at most: one reply per copy
	 * burst. */
	CHECK_EQ(count_sent(1, SL_MSG_SESSION_RESP), 1);
	world_free();
}

/* Old messages replayed: dropped, or answered but never keyed. */
TEST(replays_never_key)
{
	uint8_t init[64], pair[6][SL_HS_MAX_MSG];
	size_t pair_len[6];
	struct sl_hs_actions out;
	int i;

	pairing_world();
	start_pairing(0);
	run(600000);
	for (int t = 0; t < 6; t++) {
		i = find_sent(-1, (uint8_t)(SL_MSG_PAIR_COMMIT + t), 0);
		memcpy(pair[t], W.log[i].b, W.log[i].len);
		pair_len[t] = W.log[i].len;
	}
	i = find_sent(0, SL_MSG_SESSION_INIT, 0);
	memcpy(init, W.log[i].b, 64);

	/* At once: the recent hsids. */
	W.forbid_keys = true;
	W.mute = true;
	for (int t = 0; t < 6; t++) {
		input(t % 2 ? 0 : 1, pair[t], pair_len[t]);
		input(t % 2 ? 1 : 0, pair[t], pair_len[t]);
	}
	input(1, init, 64);
	input(0, init, 64);
	W.forbid_keys = false;
	W.mute = false;
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 2);

	/* After 9 more sessions the first SESSION_INIT's hsid is no longer
	 * recent: R answers it (it authenticates), but no SESSION_CONFIRM
	 * can follow, so nothing is staged: a timeout. */
	for (int s = 0; s < 9; s++) {
		W.now += 60000;
		start_session(0, 1);
		run(60000);
	}
	CHECK_EQ(W.s[1].n_done, 11);
	int stages = W.s[1].n_stage;

	W.forbid_keys = true;
	W.mute = true;
	CHECK_EQ(sl_hs_input(W.s[1].hs, init, 64, W.now, &out), 0);
	CHECK(out.n == 1 && out.a[0].type == SL_HS_ACT_SEND &&
	      out.a[0].send.msg[1] == SL_MSG_SESSION_RESP);
	apply(1, &out);
	run(60000);
	W.forbid_keys = false;
	W.mute = false;
	CHECK_EQ(W.s[1].n_stage, stages);
	CHECK_EQ(W.s[1].failed.reason, SL_NAK_TIMEOUT);
	CHECK_EQ(W.s[1].failed.kind, SL_HS_SESSION);
	keys_match(0, 1);
	/* The pairing's messages are older still: nothing stored. */
	W.forbid_keys = true;
	W.mute = true;
	for (int t = 0; t < 6; t++) {
		input(0, pair[t], pair_len[t]);
		input(1, pair[t], pair_len[t]);
	}
	run(600000);
	W.forbid_keys = false;
	W.mute = false;
	CHECK_EQ(W.s[0].n_store + W.s[1].n_store, 2);
	world_free();
}

/*
 * Before each genuine message, its damaged forms: every truncation,
 * extensions, every byte flipped, every other type, other versions,
 * garbage. None may stage, activate or store anything, and the genuine
 * message still completes the handshake. (Not flipped: the unauthenticated
 * keys of PAIR_COMMIT/PAIR_EPHEMERAL, which a receiver cannot tell from
 * genuine ones, and PAIR_REVEAL's committed key, whose change ends the
 * pairing by design: other tests cover them.)
 */
static unsigned long mutants;

static void inject_mutants(struct qmsg *m)
{
	uint8_t b[2048];
	size_t len = m->len;
	uint8_t type = m->b[1];
	size_t skip_lo = 0, skip_hi = 0;

	if (type == SL_MSG_PAIR_COMMIT)
		skip_lo = 6, skip_hi = 40;
	else if (type == SL_MSG_PAIR_EPHEMERAL)
		skip_lo = 6, skip_hi = 38;
	else if (type == SL_MSG_PAIR_REVEAL)
		skip_lo = 6, skip_hi = 38;
	W.forbid_keys = true;
	W.mute = true;
	W.pre_deliver = NULL;
	for (size_t n = 0; n < len; n++) {		/* truncated */
		input(m->to, m->b, n);
		mutants++;
	}
	for (size_t extra = 1; extra < 2048 - len; extra = extra * 3 + 1) {
		memcpy(b, m->b, len);			/* oversized */
		check_fill_random(b + len, extra);
		input(m->to, b, len + extra);
		mutants++;
	}
	for (size_t i = 0; i < len; i++) {		/* flipped */
		if (i >= skip_lo && i < skip_hi)
			continue;
		memcpy(b, m->b, len);
		b[i] ^= (uint8_t)(1 + check_below(255));
		if (i == 1 && b[1] == SL_MSG_NAK)
			b[1] ^= 0x80;
		input(m->to, b, len);
		mutants++;
	}
	for (int t = 0; t < 256; t++) {			/* retyped */
		if (t == type || t == SL_MSG_NAK)
			continue;
		memcpy(b, m->b, len);
		b[1] = (uint8_t)t;
		input(m->to, b, len);
		mutants++;
	}
	for (int v = 0; v < 256; v += 51) {		/* other versions */
		if (v == m->b[0])
			continue;
		memcpy(b, m->b, len);
		b[0] = (uint8_t)v;
		input(m->to, b, len);
		mutants++;
	}
	for (int g = 0; g < 16; g++) {			/* garbage */
		size_t n = check_below(200);

		check_fill_random(b, n);
		if (n > 1 && b[1] == SL_MSG_NAK)
			b[1] = 0;
		input(m->to, b, n);
		mutants++;
	}
	W.forbid_keys = false;
	W.mute = false;
	W.pre_deliver = inject_mutants;
}

TEST(damaged_messages_never_key)
{
	mutants = 0;
	world_init(2);
	provision(0, 1);
	world_start();
	W.pre_deliver = inject_mutants;
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[0].n_done, 1);
	CHECK_EQ(W.s[1].n_done, 1);
	CHECK_EQ(W.s[0].n_stage, 1);
	CHECK_EQ(W.s[1].n_stage, 1);
	keys_match(0, 1);
	/* A rekey too. */
	struct sl_hs_actions out;

	CHECK_EQ(sl_hs_rekey_needed(W.s[0].hs, 0, W.now, &out), 0);
	apply(0, &out);
	run(60000);
	CHECK_EQ(W.s[0].n_done, 2);
	keys_match(0, 1);
	world_free();

	pairing_world();
	W.pre_deliver = inject_mutants;
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[0].n_store, 1);
	CHECK_EQ(W.s[1].n_store, 1);
	keys_match(0, 1);
	world_free();
	CHECK(mutants > 5000);
}

/*
 * Messages of an earlier handshake between the same two, delivered at
 * every step of a new one (out of order, wrong hsid): no key, and the new
 * one completes.
 */
static uint8_t old_msgs[32][SL_HS_MAX_MSG];
static size_t old_len[32];
static int n_old;

static void inject_old(struct qmsg *m)
{
	W.forbid_keys = true;
	W.mute = true;
	for (int i = 0; i < n_old; i++) {
		input(m->to, old_msgs[i], old_len[i]);
		input(m->to ^ 1, old_msgs[i], old_len[i]);
	}
	W.forbid_keys = false;
	W.mute = false;
}

TEST(out_of_order_and_stale)
{
	if (!keyed_world())
		goto out;
	n_old = 0;
	for (int i = W.n_log; i-- > 0 && n_old < 32;) {
		memcpy(old_msgs[n_old], W.log[i].b, W.log[i].len);
		old_len[n_old++] = W.log[i].len;
	}
	W.now += 60000;
	W.pre_deliver = inject_old;
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[0].n_done, 2);
	CHECK_EQ(W.s[1].n_done, 2);
	CHECK_EQ(W.s[0].n_stage, 2);
	CHECK_EQ(W.s[1].n_stage, 2);
	keys_match(0, 1);
out:
	world_free();
}

/* ---- Tests: timing ------------------------------------------------ */

TEST(retransmission_and_deadline)
{
	struct drop_ctx d = { .from = 0, .all = true };
	uint64_t t0;

	world_init(2);
	provision(0, 1);
	world_start();
	W.filter = drop_filter;
	W.fctx = &d;
	t0 = W.now;
	start_session(0, 1);
	run(60000);
	/* Sent at 0, 1, 3, 7, 15 s; NAK TIMEOUT at 20 s. */
	CHECK_EQ(count_sent(0, SL_MSG_SESSION_INIT), SL_HS_MAX_SENDS);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_TIMEOUT);
	CHECK(!W.s[0].failed.remote);
	CHECK_EQ(W.s[0].failed.elapsed_ms, SL_HS_DEADLINE_MS);
	CHECK_EQ(W.s[0].nak_sent.ref_type, SL_MSG_SESSION_RESP);
	CHECK_EQ(W.now, t0 + SL_HS_DEADLINE_MS);
	for (int i = 1; i < W.n_log - 1; i++)
		CHECK(!memcmp(W.log[i].b, W.log[0].b, 64)); /* byte for byte */
	CHECK_EQ(W.s[0].n_stage + W.s[1].n_stage, 0);
	world_free();

	/* R waits for SESSION_CONFIRM in vain (I's NAK is lost too): NAK
	 * TIMEOUT, no key. */
	struct multi_drop md = { .n = 2 };

	md.d[0] = (struct drop_ctx){ .from = 0,
				     .type = SL_MSG_SESSION_CONFIRM,
				     .count = 1000 };
	md.d[1] = (struct drop_ctx){ .from = 0, .type = SL_MSG_NAK,
				     .count = 1000 };
	world_init(2);
	provision(0, 1);
	world_start();
	W.filter = multi_filter;
	W.fctx = &md;
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[1].failed.reason, SL_NAK_TIMEOUT);
	CHECK_EQ(W.s[1].nak_sent.ref_type, SL_MSG_SESSION_CONFIRM);
	CHECK_EQ(W.s[1].n_stage, 0);
	CHECK_EQ(W.s[0].n_failed, 1);
	CHECK(!W.s[0].k.cur.used && !W.s[1].k.cur.used);
	world_free();

	/* At 300 baud RTO0 is 18.8 s: two sends before the deadline. */
	d = (struct drop_ctx){ .from = 0, .all = true };
	world_init(2);
	provision(0, 1);
	W.s[0].cfg.baud = 300;
	world_start();
	W.filter = drop_filter;
	W.fctx = &d;
	start_session(0, 1);
	run(60000);
	CHECK_EQ(count_sent(0, SL_MSG_SESSION_INIT), 2);
	world_free();
}

/* ---- Tests: crossings --------------------------------------------- */

TEST(crossing_first_messages)
{
	struct sl_hs_actions out;
	uint32_t ha, hb;
	int ia, ib;

	/* Two keyless sides start at once: the higher hsid wins. */
	world_init(2);
	provision(0, 1);
	world_start();
	start_session(0, 1);
	start_session(1, 0);
	ia = find_sent(0, SL_MSG_SESSION_INIT, 0);
	ib = find_sent(1, SL_MSG_SESSION_INIT, 0);
	ha = (uint32_t)W.log[ia].b[2] << 24 | W.log[ia].b[3] << 16 |
	     W.log[ia].b[4] << 8 | W.log[ia].b[5];
	hb = (uint32_t)W.log[ib].b[2] << 24 | W.log[ib].b[3] << 16 |
	     W.log[ib].b[4] << 8 | W.log[ib].b[5];
	run(60000);
	CHECK_EQ(W.s[0].n_done, 1);
	CHECK_EQ(W.s[1].n_done, 1);
	CHECK_EQ(W.s[0].done.hsid, ha > hb ? ha : hb);
	CHECK_EQ(W.s[1].done.hsid, W.s[0].done.hsid);
	CHECK_EQ(W.s[0].n_stage + W.s[1].n_stage, 2);
	keys_match(0, 1);
	world_free();

	/* A rekey crosses a session: the session wins. */
	if (!keyed_world())
		goto out;
	CHECK_EQ(sl_hs_rekey_needed(W.s[0].hs, 0, W.now, &out), 0);
	apply(0, &out);
	start_session(1, 0);
	run(60000);
	CHECK_EQ(W.s[0].n_done, 2);
	CHECK_EQ(W.s[1].n_done, 2);
	CHECK_EQ(W.s[0].done.kind, SL_HS_SESSION);
	CHECK(W.s[1].done.initiator && !W.s[0].done.initiator);
	keys_match(0, 1);
	CHECK_EQ(W.s[0].k.cur.epoch, 2);
	/* B made the key: B rekeys from now on. */
	run(SL_HS_REKEY_INTERVAL_MS + 30000);
	CHECK_EQ(W.s[1].done.kind, SL_HS_REKEY);
	CHECK(W.s[1].done.initiator);
	keys_match(0, 1);
out:
	world_free();
}

/* Both picked the same hsid: both restart after 0.5 to 2 s. */
TEST(crossing_equal_hsid)
{
	world_init(2);
	provision(0, 1);
	script_rand(&W.s[0], "0badcafe");
	script_rand(&W.s[1], "0badcafe");
	world_start();
	start_session(0, 1);
	start_session(1, 0);
	run(60000);
	CHECK_EQ(W.s[0].n_failed, 1);
	CHECK_EQ(W.s[1].n_failed, 1);
	CHECK(strstr(W.s[0].failed.text, "equal hsid") != NULL);
	CHECK_EQ(W.s[0].n_done, 1);
	CHECK_EQ(W.s[1].n_done, 1);
	CHECK(W.s[0].done.hsid != 0x0badcafe);
	CHECK_EQ(W.s[0].done.hsid, W.s[1].done.hsid);
	CHECK(W.s[0].done.initiator != W.s[1].done.initiator);
	keys_match(0, 1);
	world_free();
}

/* A responder's unfinished handshake is replaced by a new one. */
TEST(new_first_message_replaces)
{
	struct drop_ctx d = { .from = 1, .all = true };

	world_init(2);
	provision(0, 1);
	world_start();
	W.filter = drop_filter;
	W.fctx = &d;
	start_session(0, 1);
	run(SL_HS_DEADLINE_MS + 100);	/* A gave up; B waits still? */
	CHECK_EQ(W.s[0].n_failed, 1);
	W.filter = NULL;
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[0].n_done, 1);
	CHECK_EQ(W.s[1].n_done, 1);
	keys_match(0, 1);
	world_free();
}

/* ---- Tests: local failures ---------------------------------------- */

TEST(local_failures_send_internal)
{
	/* R's SET_KEY fails: NAK INTERNAL, no SESSION_DONE, I's key stays
	 * staged, never active. */
	world_init(2);
	provision(0, 1);
	W.s[1].fail_stage = 1;
	world_start();
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_INTERNAL);
	CHECK_EQ(count_sent(1, SL_MSG_SESSION_DONE), 0);
	CHECK_EQ(W.s[1].n_done, 0);
	CHECK_EQ(W.s[1].n_failed, 1);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_INTERNAL);
	CHECK(!W.s[0].k.cur.used && !W.s[1].k.cur.used);
	CHECK_EQ(W.s[1].k.activations, 0);
	world_free();

	/* I's SET_KEY fails: no SESSION_CONFIRM. */
	world_init(2);
	provision(0, 1);
	W.s[0].fail_stage = 1;
	world_start();
	start_session(0, 1);
	run(60000);
	CHECK_EQ(W.s[0].nak_sent.reason, SL_NAK_INTERNAL);
	CHECK_EQ(count_sent(0, SL_MSG_SESSION_CONFIRM), 0);
	CHECK_EQ(W.s[1].failed.reason, SL_NAK_INTERNAL);
	CHECK_EQ(W.s[0].n_stage + W.s[1].n_stage, 1);
	world_free();

	/* R cannot store the pairing: no PAIR_DONE, I stores nothing. */
	pairing_world();
	W.s[1].fail_store = 1;
	start_pairing(0);
	run(600000);
	CHECK_EQ(count_sent(1, SL_MSG_PAIR_DONE), 0);
	CHECK_EQ(W.s[1].nak_sent.reason, SL_NAK_INTERNAL);
	CHECK_EQ(W.s[0].n_store, 0);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_INTERNAL);
	CHECK_EQ(W.s[1].n_done, 0);
	world_free();

	/* I cannot store: it fails, starts no session. */
	pairing_world();
	W.s[0].fail_store = 1;
	start_pairing(0);
	run(600000);
	CHECK_EQ(W.s[0].n_failed, 1);
	CHECK_EQ(W.s[0].failed.reason, SL_NAK_INTERNAL);
	CHECK_EQ(count_sent(0, SL_MSG_SESSION_INIT), 0);
	CHECK_EQ(W.s[0].n_done, 0);
	world_free();
}

/*
 * The leftover case again, and the retry's SET_KEY fails after it
 * activated F: the engine keeps F's activation, drops the new key, and
 * the next retry still keys both sides alike.
 */
TEST(failure_after_activating_leftover)
{
	struct multi_drop md = { .n = 2 };
	struct sl_hs_actions out;

	md.d[0] = (struct drop_ctx){ .from = 1, .type = SL_MSG_SESSION_DONE,
				     .count = 1000 };
	md.d[1] = (struct drop_ctx){ .from = 1, .type = 0, .count = 1 };
	if (!keyed_world())
		goto out;
	W.filter = multi_filter;
	W.fctx = &md;
	CHECK_EQ(sl_hs_rekey_needed(W.s[0].hs, 0, W.now, &out), 0);
	apply(0, &out);
	run(SL_HS_DEADLINE_MS + 1000);
	CHECK(W.s[0].k.next.used && W.s[0].k.next.epoch == 2);
	CHECK_EQ(W.s[1].k.cur.epoch, 2);
	W.filter = NULL;
	W.s[0].fail_stage = 1;
	run(SL_HS_REKEY_RETRY_MS + 1000);
	CHECK_EQ(W.s[0].nak_sent.reason, SL_NAK_INTERNAL);
	CHECK_EQ(W.s[0].k.cur.epoch, 2);	/* F was activated */
	CHECK_EQ(W.s[0].k.prev.epoch, 1);
	CHECK(!W.s[0].k.next.used);
	run(2 * SL_HS_REKEY_RETRY_MS + 30000);
	CHECK_EQ(W.s[0].k.cur.epoch, 3);
	CHECK_EQ(W.s[1].k.cur.epoch, 3);
	keys_match(0, 1);
	CHECK_MEM(W.s[0].k.prev.tx, W.s[1].k.prev.rx, 32);
out:
	world_free();
}

TEST(abort_and_status)
{
	struct sl_hs_actions out;
	struct sl_hs_status st;

	world_init(2);
	provision(0, 1);
	world_start();
	start_session(0, 1);
	sl_hs_get_status(W.s[0].hs, W.now, &st);
	CHECK(st.busy && st.initiator && !strcmp(st.state, "I_WAIT_RESP"));
	CHECK_EQ(st.kind, SL_HS_SESSION);
	CHECK_EQ(sl_hs_connect(W.s[0].hs, NULL, W.now, &out), -EBUSY);
	{
		struct sl_hs_pair_opts o = {
			.initiate = true, .until = W.now + 1000,
		};
		struct sl_hs_pair_opts bad = { .until = W.now + 1000 };

		CHECK_EQ(sl_hs_pair(W.s[0].hs, &bad, W.now, &out), -EINVAL);
		CHECK_EQ(sl_hs_pair(W.s[0].hs, NULL, W.now, &out), -EINVAL);
		/* Deferred while the session runs, then withdrawn. */
		CHECK_EQ(sl_hs_pair(W.s[0].hs, &o, W.now, &out), 0);
		CHECK_EQ(out.n, 0);
		CHECK_EQ(sl_hs_pair(W.s[0].hs, &o, W.now, &out), -EALREADY);
		CHECK_EQ(sl_hs_pair_end(W.s[0].hs, W.now, &out), 0);
		CHECK_EQ(out.n, 0);
		CHECK_EQ(sl_hs_pair_prompt(W.s[0].hs, W.now, &out), -ENOENT);
	}
	CHECK_EQ(sl_hs_abort(W.s[0].hs, W.now, &out), 0);
	CHECK(out.n == 1 && out.a[0].type == SL_HS_ACT_FAILED &&
	      out.a[0].result.reason == SL_NAK_NONE);
	CHECK_EQ(out.next_timer, 0);
	sl_hs_get_status(W.s[0].hs, W.now, &st);
	CHECK(!st.busy && !st.keyed);
	CHECK_EQ(sl_hs_sas_confirm(W.s[0].hs, true, W.now, &out), -EINVAL);
	CHECK_EQ(sl_hs_sas_typed(W.s[0].hs, "ABCDE", W.now, &out),
		 -EALREADY);
	CHECK_EQ(sl_hs_rekey_needed(W.s[0].hs, 0, W.now, &out), -ENOTCONN);
	CHECK_EQ(sl_hs_action_failed(W.s[0].hs, SL_HS_ACT_STAGE_KEY, -EIO,
				     W.now, &out), -EINVAL);
	W.qh = W.qt;		/* the SESSION_INIT is lost */
	start_session(0, 1);
	run(60000);
	sl_hs_get_status(W.s[0].hs, W.now, &st);
	CHECK(st.keyed && st.key_initiator && !st.busy);
	CHECK_EQ(st.epoch_cur, 1);
	CHECK_EQ(st.epoch_next, 2);
	CHECK_EQ(st.completed, 1);
	CHECK_EQ(st.failed, 1);
	CHECK(!strcmp(st.key_peer, W.s[1].account));
	world_free();
}

TEST(key_expired)
{
	struct sl_hs_actions out;

	if (!keyed_world())
		goto out;
	/* The initiator's key expired: a new session (kind 1) at once. */
	CHECK_EQ(sl_hs_key_expired(W.s[0].hs, W.now, &out), 0);
	apply(0, &out);
	run(60000);
	CHECK_EQ(W.s[1].done.kind, SL_HS_SESSION);
	CHECK_EQ(W.s[0].n_done, 2);
	keys_match(0, 1);
	/* The responder's: it asks for a rekey. */
	CHECK_EQ(sl_hs_key_expired(W.s[1].hs, W.now, &out), 0);
	apply(1, &out);
	run(60000);
	CHECK_EQ(W.s[0].n_done, 3);
	keys_match(0, 1);
out:
	world_free();
}

/* ---- Accounts ----------------------------------------------------- */

TEST(accounts_never_in_clear)
{
	struct sl_hs_actions out;

	/* Pairing, session, rekey, NAKs and failures on one log. */
	pairing_world();
	start_pairing(0);
	run(600000);
	CHECK_EQ(sl_hs_rekey_needed(W.s[1].hs, 1, W.now, &out), 0);
	apply(1, &out);
	run(60000);
	W.s[1].typed[0] = "22222";
	W.s[1].typed[1] = "33333";
	W.s[1].typed[2] = "44444";
	W.s[1].n_typed = 3;
	W.now += 60000;
	start_pairing(0);
	run(600000);
	CHECK(W.s[1].nak_sent.reason == SL_NAK_SAS_MISMATCH);
	CHECK(W.n_log > 20);
	scan_log();
	world_free();
}

/* ---- Secure memory -------------------------------------------------- */

TEST(secure_memory_not_leaked)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	/* Four engines and their peers at once: a larger pool. */
	init_or_die(256 * 1024);
	secmem_measure_baseline();

	RUN(message_table);
	RUN(config_checked);
	RUN(vectors_pairing_session_rekey);
	RUN(pairing_sas_ignores_identities);
	RUN(pairing_success);
	RUN(pairing_confirm_before_typing);
	RUN(pairing_wrong_sas_typed);
	RUN(pairing_sas_retyped);
	RUN(pairing_operator_refuses);
	RUN(pairing_responder_refuses);
	RUN(pairing_mitm_sas_differs);
	RUN(pairing_commitment_broken);
	RUN(pairing_forged_ephemeral);
	RUN(pairing_waits_for_other_operator);
	RUN(pairing_other_operator_never_comes);
	RUN(pairing_operator_leaves);
	RUN(pairing_auto_roles_any_order);
	RUN(pairing_never_replaces_silently);
	RUN(pairing_operator_joins);
	RUN(pairing_expected_identity);
	RUN(pairing_sas_timeout);
	RUN(busy_during_sas);
	RUN(session_fresh_keys);
	RUN(session_cipher_choice);
	RUN(session_epoch_choice);
	RUN(session_refused);
	RUN(session_peer_among_many);
	RUN(session_retry_direct_line);
	RUN(rekey_on_timer);
	RUN(rekey_requested_by_responder);
	RUN(rekey_request_forged);
	RUN(session_close_both_directions);
	RUN(session_done_lost_keepalive_seen);
	RUN(leftover_staged_epoch_activated);
	RUN(leftover_staged_epoch_replaced);
	RUN(session_init_invalid_content);
	RUN(session_resp_invalid_content);
	RUN(pairing_invalid_accounts);
	RUN(version_negotiation);
	RUN(version_old_pairing_refused);
	RUN(version_nak_changes_nothing_lasting);
	RUN(version_fields_checked);
	RUN(nak_encoding_and_rate_limit);
	RUN(nak_forged);
	RUN(lost_messages_recovered);
	RUN(duplicates_ignored);
	RUN(replays_never_key);
	RUN(damaged_messages_never_key);
	RUN(out_of_order_and_stale);
	RUN(retransmission_and_deadline);
	RUN(crossing_first_messages);
	RUN(crossing_equal_hsid);
	RUN(new_first_message_replaces);
	RUN(local_failures_send_internal);
	RUN(failure_after_activating_leftover);
	RUN(abort_and_status);
	RUN(key_expired);
	RUN(accounts_never_in_clear);
	RUN(secure_memory_not_leaked);
	return check_summary();
}
