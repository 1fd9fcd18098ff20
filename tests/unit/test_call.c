// SPDX-License-Identifier: GPL-2.0
/*
 * Call setup through a TSP (agent/proto/call*.c): the caller C, T's two
 * legs and the answerer B in one process, with the TSP daemon's decisions
 * made by the test, and an independent Noise_XK party built from
 * agent/noise.c that plays a fake T or a fake E to check the byte layouts
 * of handshake.rst and to send authentic messages with invalid content.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "crypto.h"
#include "call.h"
#include "noise.h"
#include "agent_test.h"

#define ACC_C	"000000000001"
#define ACC_B	"000000000002"
#define TID	0x1122334455667788ULL

/* ---- Deterministic randomness ------------------------------------ */

struct rng {
	uint64_t state;
};

static uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int rng_fill(void *ctx, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rng_next(ctx);
	return 0;
}

/* ---- Keys --------------------------------------------------------- */

static uint8_t *priv_c, *priv_b, *priv_t, *priv_x;
static uint8_t pub_c[32], pub_b[32], pub_t[32], pub_x[32];

static void make_key(uint8_t **priv, uint8_t pub[32], uint8_t fill)
{
	*priv = sl_secure_alloc(32);
	if (!*priv)
		exit(1);
	memset(*priv, fill, 32);
	if (sl_x25519_public(pub, *priv))
		exit(1);
}

/* ---- The network: C <-> T1, T2 <-> B ------------------------------ */

enum node { N_C, N_T1, N_T2, N_B, N_MAX };

static const enum node peer_of[N_MAX] = {
	[N_C] = N_T1, [N_T1] = N_C, [N_T2] = N_B, [N_B] = N_T2,
};

struct qmsg {
	enum node to;
	uint8_t b[SL_CALL_MAX_MSG];
	size_t len;
};

struct ev {
	enum node at;
	struct sl_call_action a;
};

struct net {
	struct sl_call *c, *b;
	struct sl_tsp_leg *t1, *t2;
	struct rng rc, rb, rt1, rt2;
	uint64_t now;
	uint64_t timer[N_MAX];
	struct qmsg q[64];
	unsigned int nq;
	/* Every message sent, in order, for the clear-text checks. */
	struct qmsg cap[256];
	unsigned int ncap;
	struct ev ev[256];
	unsigned int nev;
	unsigned int sends[N_MAX][256];	/* per node and type */
};

static void net_feed(struct net *n, enum node at,
		     const struct sl_call_actions *out)
{
	n->timer[at] = out->next_timer;
	for (unsigned int i = 0; i < out->n; i++) {
		const struct sl_call_action *a = &out->a[i];

		if (a->type == SL_CALL_ACT_SEND) {
			CHECK(a->len <= SL_CALL_MAX_MSG && a->len >= 6);
			CHECK_EQ(a->msg_type, a->msg[1]);
			n->sends[at][a->msg[1]]++;
			if (n->nq < 64) {
				n->q[n->nq].to = peer_of[at];
				memcpy(n->q[n->nq].b, a->msg, a->len);
				n->q[n->nq].len = a->len;
				n->nq++;
			}
			if (n->ncap < 256) {
				n->cap[n->ncap].to = peer_of[at];
				memcpy(n->cap[n->ncap].b, a->msg, a->len);
				n->cap[n->ncap].len = a->len;
				n->ncap++;
			}
		} else if (n->nev < 256) {
			n->ev[n->nev].at = at;
			n->ev[n->nev].a = *a;
			n->nev++;
		}
	}
}

static void net_init(struct net *n, const struct sl_call_config *cc,
		     const struct sl_call_config *bc,
		     const struct sl_tsp_config *tc)
{
	struct sl_call_config c = {
		.account = ACC_C, .static_priv = priv_c, .tsp_pub = pub_t,
		.test_random = rng_fill,
	};
	struct sl_call_config b = {
		.account = ACC_B, .static_priv = priv_b, .tsp_pub = pub_t,
		.test_random = rng_fill,
	};
	struct sl_tsp_config t = {
		.static_priv = priv_t, .test_random = rng_fill,
	};
	int err;

	memset(n, 0, sizeof(*n));
	n->now = 1000;
	n->rc.state = 1;
	n->rb.state = 2;
	n->rt1.state = 3;
	n->rt2.state = 4;
	if (cc)
		c = *cc;
	if (bc)
		b = *bc;
	if (tc)
		t = *tc;
	c.test_ctx = &n->rc;
	b.test_ctx = &n->rb;
	n->c = sl_call_new(&c, &err);
	n->b = sl_call_new(&b, &err);
	t.test_ctx = &n->rt1;
	n->t1 = sl_tsp_leg_new(&t, &err);
	t.test_ctx = &n->rt2;
	n->t2 = sl_tsp_leg_new(&t, &err);
	if (!n->c || !n->b || !n->t1 || !n->t2) {
		printf("engine creation failed: %d\n", err);
		exit(1);
	}
}

static void net_free(struct net *n)
{
	sl_call_free(n->c);
	sl_call_free(n->b);
	sl_tsp_leg_free(n->t1);
	sl_tsp_leg_free(n->t2);
}

static void net_input(struct net *n, enum node to, const uint8_t *m,
		      size_t len)
{
	struct sl_call_actions out;

	if (to == N_C)
		sl_call_input(n->c, m, len, n->now, &out);
	else if (to == N_B)
		sl_call_input(n->b, m, len, n->now, &out);
	else
		sl_tsp_leg_input(to == N_T1 ? n->t1 : n->t2, m, len, n->now,
				 &out);
	net_feed(n, to, &out);
}

/* The oldest message in flight, removed; false if none. */
static bool net_pop(struct net *n, struct qmsg *m)
{
	if (!n->nq)
		return false;
	*m = n->q[0];
	memmove(n->q, n->q + 1, --n->nq * sizeof(n->q[0]));
	return true;
}

static void net_pump(struct net *n)
{
	struct qmsg m;

	for (int i = 0; i < 100 && net_pop(n, &m); i++)
		net_input(n, m.to, m.b, m.len);
}

/* Drop the oldest message in flight; returns its type. */
static uint8_t net_lose(struct net *n)
{
	struct qmsg m;

	return net_pop(n, &m) ? m.b[1] : 0;
}

/* Move the clock to t, running every timer due on the way. */
static void net_advance(struct net *n, uint64_t to)
{
	struct sl_call_actions out;

	for (int guard = 0; guard < 1000; guard++) {
		uint64_t next = 0;
		int who = -1;

		for (int i = 0; i < N_MAX; i++)
			if (n->timer[i] && n->timer[i] <= to &&
			    (!next || n->timer[i] < next)) {
				next = n->timer[i];
				who = i;
			}
		if (who < 0)
			break;
		if (next > n->now)
			n->now = next;
		if (who == N_C)
			sl_call_timer(n->c, n->now, &out);
		else if (who == N_B)
			sl_call_timer(n->b, n->now, &out);
		else
			sl_tsp_leg_timer(who == N_T1 ? n->t1 : n->t2, n->now,
					 &out);
		net_feed(n, who, &out);
	}
	if (to > n->now)
		n->now = to;
}

static const struct sl_call_action *find_ev(const struct net *n,
					    enum node at,
					    enum sl_call_act type)
{
	for (unsigned int i = n->nev; i--;)
		if (n->ev[i].at == at && n->ev[i].a.type == type)
			return &n->ev[i].a;
	return NULL;
}

static unsigned int count_ev(const struct net *n, enum node at,
			     enum sl_call_act type)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < n->nev; i++)
		k += n->ev[i].at == at && n->ev[i].a.type == type;
	return k;
}

static void do_tsp(struct net *n, enum node leg, int rc,
		   int (*fn)(struct sl_tsp_leg *, uint64_t,
			     struct sl_call_actions *))
{
	struct sl_call_actions out;

	CHECK_EQ(fn(leg == N_T1 ? n->t1 : n->t2, n->now, &out), rc);
	net_feed(n, leg, &out);
}

static void dialling(struct net *n)
{
	struct sl_call_actions out;

	CHECK_EQ(sl_tsp_leg_dialling(n->t1, TID, n->now, &out), 0);
	net_feed(n, N_T1, &out);
}

static void offer(struct net *n)
{
	struct sl_call_actions out;

	CHECK_EQ(sl_tsp_leg_offer(n->t2, ACC_C, TID, n->now, &out), 0);
	net_feed(n, N_T2, &out);
}

static void refuse(struct net *n, enum node leg, uint8_t reason,
		   uint8_t detail)
{
	struct sl_call_actions out;

	CHECK_EQ(sl_tsp_leg_refuse(leg == N_T1 ? n->t1 : n->t2, reason,
				   detail, n->now, &out), 0);
	net_feed(n, leg, &out);
}

static void accept_offer(struct net *n, bool yes, uint8_t reason,
			 uint8_t detail)
{
	struct sl_call_actions out;

	CHECK_EQ(sl_call_offer_reply(n->b, yes, reason, detail, n->now, &out),
		 0);
	net_feed(n, N_B, &out);
}

static void start(struct net *n, enum node who)
{
	struct sl_call_actions out;

	if (who == N_C) {
		CHECK_EQ(sl_call_start(n->c, SL_CALL_PURPOSE_CALL, ACC_B,
				       n->now, &out), 0);
	} else {
		CHECK_EQ(sl_call_start(n->b, SL_CALL_PURPOSE_ANSWER, NULL,
				       n->now, &out), 0);
	}
	net_feed(n, who, &out);
}

/* C up to T1's AUTHENTICATED, with its checks. */
static void caller_to_auth(struct net *n)
{
	const struct sl_call_action *a;

	start(n, N_C);
	net_pump(n);
	a = find_ev(n, N_T1, SL_CALL_ACT_AUTHENTICATED);
	if (!CHECK(a))
		return;
	CHECK_EQ(a->purpose, SL_CALL_PURPOSE_CALL);
	CHECK(!strcmp(a->account, ACC_C));
	CHECK(!strcmp(a->peer, ACC_B));
	CHECK_MEM(a->static_pub, pub_c, 32);
}

static void answerer_to_offer(struct net *n)
{
	const struct sl_call_action *a;

	start(n, N_B);
	net_pump(n);
	a = find_ev(n, N_T2, SL_CALL_ACT_AUTHENTICATED);
	if (!CHECK(a))
		return;
	CHECK_EQ(a->purpose, SL_CALL_PURPOSE_ANSWER);
	CHECK(!strcmp(a->account, ACC_B));
	CHECK_EQ(a->peer[0], 0);
	CHECK_MEM(a->static_pub, pub_b, 32);
	offer(n);
	net_pump(n);
	a = find_ev(n, N_B, SL_CALL_ACT_OFFER);
	if (!CHECK(a))
		return;
	CHECK(!strcmp(a->account, ACC_C));
	CHECK_EQ(a->tracking_id, TID);
}

/* Is needle anywhere in a captured message? */
static bool captured(const struct net *n, const void *needle, size_t len)
{
	for (unsigned int i = 0; i < n->ncap; i++)
		for (size_t o = 0; o + len <= n->cap[i].len; o++)
			if (!memcmp(n->cap[i].b + o, needle, len))
				return true;
	return false;
}

static void check_no_identity_in_clear(const struct net *n)
{
	CHECK(!captured(n, ACC_C, 12));
	CHECK(!captured(n, ACC_B, 12));
	CHECK(!captured(n, pub_c, 32));
	CHECK(!captured(n, pub_b, 32));
	/* Not even half an account, nor a key's first 8 bytes. */
	CHECK(!captured(n, ACC_B + 6, 6));
	CHECK(!captured(n, pub_c, 8));
}

/* ---- Cases ------------------------------------------------------- */

TEST(message_lengths)
{
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_HELLO), SL_CALL_HELLO_LEN);
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_REPLY), SL_CALL_REPLY_LEN);
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_AUTH), SL_CALL_AUTH_CALL_LEN);
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_STATUS), SL_CALL_STATUS_LEN);
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_OFFER), SL_CALL_OFFER_LEN);
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_ACCEPT), SL_CALL_ACCEPT_LEN);
	/* The table: 56, 54, 95/83, 32, 43, 23. */
	CHECK_EQ(SL_CALL_HELLO_LEN, 56);
	CHECK_EQ(SL_CALL_REPLY_LEN, 54);
	CHECK_EQ(SL_CALL_AUTH_CALL_LEN, 95);
	CHECK_EQ(SL_CALL_AUTH_ANSWER_LEN, 83);
	CHECK_EQ(SL_CALL_STATUS_LEN, 32);
	CHECK_EQ(SL_CALL_OFFER_LEN, 43);
	CHECK_EQ(SL_CALL_ACCEPT_LEN, 23);
	for (unsigned int t = 0; t < 256; t++)
		CHECK_EQ(sl_call_msg_is_setup((uint8_t)t),
			 t >= 0x30 && t <= 0x35);
}

TEST(config_checked)
{
	struct sl_call_config c = {
		.account = ACC_C, .static_priv = priv_c, .tsp_pub = pub_t,
	};
	struct sl_tsp_config t = { .static_priv = priv_t };
	struct sl_call_actions out;
	struct sl_call *e;
	int err = 0;

	memcpy(c.account, "00000000000x", 12);
	CHECK(!sl_call_new(&c, &err) && err == -EINVAL);
	memcpy(c.account, ACC_C, 12);
	c.ver_min = 3;
	c.ver_max = 2;
	CHECK(!sl_call_new(&c, &err) && err == -EINVAL);
	c.ver_min = c.ver_max = 0;
	c.tsp_pub = NULL;
	CHECK(!sl_call_new(&c, &err) && err == -EINVAL);
	c.tsp_pub = pub_t;
	t.ver_min = 2;
	t.ver_max = 1;
	CHECK(!sl_tsp_leg_new(&t, &err) && err == -EINVAL);
	e = sl_call_new(&c, &err);
	if (!CHECK(e))
		return;
	CHECK_EQ(sl_call_start(e, SL_CALL_PURPOSE_CALL, "12345", 1, &out),
		 -EINVAL);
	CHECK_EQ(sl_call_start(e, SL_CALL_PURPOSE_CALL, ACC_C, 1, &out),
		 -EINVAL);
	CHECK_EQ(sl_call_start(e, SL_CALL_PURPOSE_CALL, "0000000000020",
			       1, &out), -EINVAL);
	CHECK_EQ(sl_call_start(e, SL_CALL_PURPOSE_ANSWER, ACC_B, 1, &out),
		 -EINVAL);
	CHECK_EQ(sl_call_start(e, 3, NULL, 1, &out), -EINVAL);
	CHECK_EQ(sl_call_offer_reply(e, true, 0, 0, 1, &out), -EINVAL);
	CHECK_EQ(sl_call_start(e, SL_CALL_PURPOSE_CALL, ACC_B, 1, &out), 0);
	CHECK_EQ(out.n, 1);
	CHECK_EQ(sl_call_start(e, SL_CALL_PURPOSE_CALL, ACC_B, 1, &out),
		 -EBUSY);
	CHECK(!strcmp(sl_call_state(e), "WAIT_REPLY"));
	sl_call_free(e);
}

TEST(full_call)
{
	const struct sl_call_action *a;
	struct sl_call_actions out;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	caller_to_auth(&n);
	/* Decisions out of order are refused. */
	CHECK_EQ(sl_tsp_leg_connected(n.t1, n.now, &out), -EINVAL);
	CHECK_EQ(sl_tsp_leg_offer(n.t1, ACC_C, TID, n.now, &out), -EINVAL);
	dialling(&n);
	net_pump(&n);
	a = find_ev(&n, N_C, SL_CALL_ACT_DIALLING);
	CHECK(a && a->tracking_id == TID);
	CHECK(!strcmp(sl_call_state(n.c), "DIALLING"));

	answerer_to_offer(&n);
	CHECK_EQ(sl_tsp_leg_dialling(n.t2, TID, n.now, &out), -EINVAL);
	CHECK_EQ(sl_tsp_leg_connected(n.t2, n.now, &out), -EINVAL);
	accept_offer(&n, true, 0, 0);
	net_pump(&n);
	a = find_ev(&n, N_T2, SL_CALL_ACT_ACCEPTED);
	CHECK(a && a->tracking_id == TID);

	do_tsp(&n, N_T2, 0, sl_tsp_leg_connected);
	do_tsp(&n, N_T1, 0, sl_tsp_leg_connected);
	net_pump(&n);
	a = find_ev(&n, N_B, SL_CALL_ACT_CONNECTED);
	CHECK(a && a->tracking_id == TID && !strcmp(a->account, ACC_C));
	a = find_ev(&n, N_C, SL_CALL_ACT_CONNECTED);
	CHECK(a && a->tracking_id == TID && !strcmp(a->account, ACC_B));
	CHECK(!strcmp(sl_call_state(n.c), "CONNECTED"));
	CHECK(!strcmp(sl_tsp_leg_state(n.t1), "CONNECTED"));
	CHECK_EQ(n.timer[N_C], 0);
	CHECK_EQ(n.timer[N_B], 0);

	/* The end, in band and authentic. */
	do_tsp(&n, N_T1, 0, sl_tsp_leg_end);
	do_tsp(&n, N_T2, 0, sl_tsp_leg_end);
	do_tsp(&n, N_T2, -EINVAL, sl_tsp_leg_end);
	net_pump(&n);
	a = find_ev(&n, N_C, SL_CALL_ACT_ENDED);
	CHECK(a && a->tracking_id == TID);
	CHECK(find_ev(&n, N_B, SL_CALL_ACT_ENDED));
	CHECK(!strcmp(sl_call_state(n.b), "ended"));
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_FAILED));
	CHECK(!find_ev(&n, N_B, SL_CALL_ACT_FAILED));
	CHECK(!find_ev(&n, N_T1, SL_CALL_ACT_FAILED));
	CHECK(!find_ev(&n, N_T2, SL_CALL_ACT_FAILED));
	check_no_identity_in_clear(&n);
	/* One each: nothing was retransmitted. */
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_HELLO], 1);
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_AUTH], 1);
	CHECK_EQ(n.sends[N_B][SL_MSG_CALL_ACCEPT], 1);
	CHECK_EQ(n.sends[N_T1][SL_MSG_CALL_STATUS], 3);
	CHECK_EQ(n.sends[N_T2][SL_MSG_CALL_STATUS], 2);
	net_free(&n);
	CHECK_EQ(secmem_capacity(), secmem_baseline);
}

/* Secure memory per engine: small once keyed, nothing once over. */
TEST(secure_memory)
{
	size_t base = secmem_capacity(), idle, keyed, connected;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	idle = secmem_capacity();
	caller_to_auth(&n);
	answerer_to_offer(&n);
	accept_offer(&n, true, 0, 0);
	net_pump(&n);
	dialling(&n);
	keyed = secmem_capacity();
	do_tsp(&n, N_T2, 0, sl_tsp_leg_connected);
	do_tsp(&n, N_T1, 0, sl_tsp_leg_connected);
	net_pump(&n);
	connected = secmem_capacity();
	/* Four engines: one hs block each while idle, one key block each
	 * once keyed (64-byte units of secmem_capacity()). */
	printf("  secure memory, 4 engines in 64-byte blocks: idle %zu, "
	       "keyed %zu, connected %zu\n", base - idle, base - keyed,
	       base - connected);
	CHECK(base - idle <= 4 * (SL_CALL_SECMEM_HS / 64 + 1));
	CHECK(base - keyed <= 4 * (SL_CALL_SECMEM_KEYS / 64 + 1));
	CHECK(base - keyed < base - idle);
	net_free(&n);
	CHECK_EQ(secmem_capacity(), base);
}

static void refusal_case(uint8_t reason, uint8_t detail, bool after_dial)
{
	const struct sl_call_action *a;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	caller_to_auth(&n);
	if (after_dial) {
		dialling(&n);
		net_pump(&n);
	}
	refuse(&n, N_T1, reason, detail);
	a = find_ev(&n, N_T1, SL_CALL_ACT_NAK);
	CHECK(a && a->sent && a->ended && a->reason == reason &&
	      a->detail == detail);
	net_pump(&n);
	a = find_ev(&n, N_C, SL_CALL_ACT_FAILED);
	if (CHECKF(a, "no FAILED for reason %u", reason)) {
		CHECK_EQ(a->reason, reason);
		CHECK_EQ(a->detail, detail);
		CHECK(a->remote && a->unauthenticated);
	}
	a = find_ev(&n, N_C, SL_CALL_ACT_NAK);
	CHECK(a && !a->sent && a->ended && a->reason == reason);
	CHECK(!strcmp(sl_call_state(n.c), "ended"));
	CHECK_EQ(n.timer[N_C], 0);
	check_no_identity_in_clear(&n);
	net_free(&n);
}

TEST(tsp_refusals)
{
	refusal_case(SL_NAK_UNKNOWN_ACCOUNT, 1, false);
	refusal_case(SL_NAK_IDENTITY_MISMATCH, 1, false);
	refusal_case(SL_NAK_ACCOUNT_DISABLED, 1, false);
	refusal_case(SL_NAK_CALLER_ID_MISMATCH, 1, false);
	refusal_case(SL_NAK_UNKNOWN_ACCOUNT, 2, false);
	refusal_case(SL_NAK_ACCOUNT_DISABLED, 2, false);
	refusal_case(SL_NAK_NOT_AUTHORISED, 2, false);
	refusal_case(SL_NAK_BUSY, 2, false);
	refusal_case(SL_NAK_BUSY, 2, true);
	refusal_case(SL_NAK_NO_ANSWER, 2, true);
	CHECK_EQ(secmem_capacity(), secmem_baseline);
}

TEST(refuse_checked)
{
	struct sl_call_actions out;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	CHECK_EQ(sl_tsp_leg_refuse(n.t1, SL_NAK_BUSY, 2, n.now, &out),
		 -EINVAL);	/* no handshake yet */
	caller_to_auth(&n);
	CHECK_EQ(sl_tsp_leg_refuse(n.t1, 0, 0, n.now, &out), -EINVAL);
	CHECK_EQ(sl_tsp_leg_refuse(n.t1, 99, 0, n.now, &out), -EINVAL);
	CHECK_EQ(sl_tsp_leg_refuse(n.t1, SL_NAK_BUSY, 3, n.now, &out),
		 -EINVAL);
	net_free(&n);
}

TEST(answerer_refuses)
{
	const struct sl_call_action *a;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	caller_to_auth(&n);
	dialling(&n);
	net_pump(&n);
	answerer_to_offer(&n);
	accept_offer(&n, false, SL_NAK_NOT_AUTHORISED, 1);
	a = find_ev(&n, N_B, SL_CALL_ACT_FAILED);
	CHECK(a && a->reason == SL_NAK_NOT_AUTHORISED && !a->remote);
	net_pump(&n);
	a = find_ev(&n, N_T2, SL_CALL_ACT_FAILED);
	if (CHECK(a)) {
		CHECK_EQ(a->reason, SL_NAK_NOT_AUTHORISED);
		CHECK_EQ(a->detail, 1);
		CHECK(a->remote);
	}
	/* The daemon passes it on to C with detail 2. */
	refuse(&n, N_T1, SL_NAK_NOT_AUTHORISED, 2);
	net_pump(&n);
	a = find_ev(&n, N_C, SL_CALL_ACT_FAILED);
	CHECK(a && a->reason == SL_NAK_NOT_AUTHORISED && a->detail == 2);
	check_no_identity_in_clear(&n);
	net_free(&n);
}

TEST(version_negotiation)
{
	struct sl_call_config cc = {
		.account = ACC_C, .static_priv = priv_c, .tsp_pub = pub_t,
		.test_random = rng_fill, .ver_min = 1, .ver_max = 3,
	};
	struct sl_tsp_config tc = {
		.static_priv = priv_t, .test_random = rng_fill,
		.ver_min = 1, .ver_max = 2,
	};
	const struct sl_call_action *a;
	struct net n;

	/* Overlap 1..2: C writes 3, gets NAK VERSION, restarts in 2. */
	net_init(&n, &cc, NULL, &tc);
	caller_to_auth(&n);
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_HELLO], 2);
	CHECK_EQ(n.cap[0].b[0], 3);
	CHECK_EQ(n.cap[0].b[6], 1);
	CHECK_EQ(n.cap[0].b[7], 3);
	CHECK_EQ(n.cap[1].b[1], SL_MSG_NAK);
	CHECK_EQ(n.cap[1].b[6], SL_NAK_VERSION);
	CHECK_EQ(n.cap[1].b[8], 1);
	CHECK_EQ(n.cap[1].b[9], 2);
	CHECK_EQ(n.cap[2].b[0], 2);
	CHECK_EQ(n.cap[2].b[7], 3);	/* still the full range */
	CHECK(memcmp(n.cap[0].b + 2, n.cap[2].b + 2, 4));	/* new hsid */
	for (unsigned int i = 3; i < n.ncap; i++)
		CHECK_EQ(n.cap[i].b[0], 2);
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_FAILED));
	net_free(&n);

	/* No overlap: C 2..3, T 1..1. */
	cc.ver_min = 2;
	tc.ver_min = tc.ver_max = 1;
	net_init(&n, &cc, NULL, &tc);
	start(&n, N_C);
	net_pump(&n);
	a = find_ev(&n, N_C, SL_CALL_ACT_FAILED);
	CHECK(a && a->reason == SL_NAK_VERSION && a->remote);
	CHECK(!find_ev(&n, N_T1, SL_CALL_ACT_AUTHENTICATED));
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_HELLO], 1);
	net_free(&n);

	/* T wider than C: C's highest is used at once. */
	cc.ver_min = cc.ver_max = 1;
	tc.ver_min = 1;
	tc.ver_max = 4;
	net_init(&n, &cc, NULL, &tc);
	caller_to_auth(&n);
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_HELLO], 1);
	net_free(&n);
}

/* Lost messages in each direction: retransmission recovers. */
TEST(lost_messages)
{
	const struct sl_call_action *a;
	uint8_t reply[SL_CALL_REPLY_LEN], status[SL_CALL_STATUS_LEN];
	struct qmsg m;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	start(&n, N_C);
	CHECK_EQ(net_lose(&n), SL_MSG_CALL_HELLO);
	net_advance(&n, n.now + 1000);		/* RTO0: 1 s */
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_HELLO], 2);
	CHECK(net_pop(&n, &m));
	net_input(&n, N_T1, m.b, m.len);
	if (!CHECK(net_pop(&n, &m)) || !CHECK_EQ(m.b[1], SL_MSG_CALL_REPLY))
		goto out;
	memcpy(reply, m.b, sizeof(reply));	/* lost */
	net_advance(&n, n.now + 2000);		/* RTO doubled: 2 s */
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_HELLO], 3);
	net_pump(&n);	/* T answers the copy with the same bytes */
	CHECK_EQ(n.sends[N_T1][SL_MSG_CALL_REPLY], 2);
	CHECK_MEM(n.cap[n.ncap - 2].b, reply, sizeof(reply));
	CHECK(find_ev(&n, N_T1, SL_CALL_ACT_AUTHENTICATED));

	/* dialling lost: CALL_AUTH again, answered by the same status. */
	dialling(&n);
	CHECK(net_pop(&n, &m) && m.b[1] == SL_MSG_CALL_STATUS);
	memcpy(status, m.b, sizeof(status));
	net_advance(&n, n.now + 1000);
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_AUTH], 2);
	net_pump(&n);
	CHECK_EQ(count_ev(&n, N_T1, SL_CALL_ACT_AUTHENTICATED), 1);
	CHECK_MEM(n.cap[n.ncap - 1].b, status, sizeof(status));
	CHECK(find_ev(&n, N_C, SL_CALL_ACT_DIALLING));

	/* B's leg: OFFER lost, ACCEPT lost, connected lost. */
	start(&n, N_B);
	net_pump(&n);
	offer(&n);
	CHECK_EQ(net_lose(&n), SL_MSG_CALL_OFFER);
	net_advance(&n, n.now + 1000);
	net_pump(&n);
	CHECK_EQ(n.sends[N_T2][SL_MSG_CALL_OFFER], 2);
	a = find_ev(&n, N_B, SL_CALL_ACT_OFFER);
	CHECK(a && !strcmp(a->account, ACC_C));
	accept_offer(&n, true, 0, 0);
	CHECK_EQ(net_lose(&n), SL_MSG_CALL_ACCEPT);
	net_advance(&n, n.now + 1000);
	net_pump(&n);
	CHECK_EQ(count_ev(&n, N_T2, SL_CALL_ACT_ACCEPTED), 1);
	do_tsp(&n, N_T2, 0, sl_tsp_leg_connected);
	CHECK_EQ(net_lose(&n), SL_MSG_CALL_STATUS);
	net_advance(&n, n.now + 2000);	/* B's RTO has doubled once */
	net_pump(&n);
	CHECK(find_ev(&n, N_B, SL_CALL_ACT_CONNECTED));

	/* C's connected lost: CALL_AUTH every 8 s while T dials. */
	do_tsp(&n, N_T1, 0, sl_tsp_leg_connected);
	CHECK_EQ(net_lose(&n), SL_MSG_CALL_STATUS);
	CHECK_EQ(n.timer[N_C], n.timer[N_C]);
	net_advance(&n, n.now + SL_CALL_DIAL_RESEND_MS);
	net_pump(&n);
	CHECK(find_ev(&n, N_C, SL_CALL_ACT_CONNECTED));
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_FAILED));
	check_no_identity_in_clear(&n);
out:
	net_free(&n);
}

/* Duplicated messages are answered once and acted on once. */
TEST(duplicated_messages)
{
	struct qmsg m;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	start(&n, N_C);
	m = n.q[0];
	net_input(&n, N_T1, m.b, m.len);	/* a line duplicate */
	net_pump(&n);
	CHECK_EQ(n.sends[N_T1][SL_MSG_CALL_REPLY], 1);	/* too soon */
	CHECK_EQ(count_ev(&n, N_T1, SL_CALL_ACT_AUTHENTICATED), 1);
	/* CALL_AUTH twice before the decision: ignored, then answered. */
	for (unsigned int i = 0; i < n.ncap; i++)
		if (n.cap[i].b[1] == SL_MSG_CALL_AUTH)
			m = n.cap[i];
	net_input(&n, N_T1, m.b, m.len);
	CHECK_EQ(n.nq, 0);
	CHECK_EQ(count_ev(&n, N_T1, SL_CALL_ACT_AUTHENTICATED), 1);
	dialling(&n);
	m = n.q[0];
	net_pump(&n);
	net_input(&n, N_C, m.b, m.len);		/* status twice */
	CHECK_EQ(count_ev(&n, N_C, SL_CALL_ACT_DIALLING), 1);
	n.now += 1000;
	for (unsigned int i = 0; i < n.ncap; i++)
		if (n.cap[i].b[1] == SL_MSG_CALL_AUTH)
			m = n.cap[i];
	net_input(&n, N_T1, m.b, m.len);
	CHECK_EQ(n.nq, 1);			/* the status again */
	net_input(&n, N_T1, m.b, m.len);
	CHECK_EQ(n.nq, 1);			/* rate-limited */
	net_pump(&n);
	CHECK_EQ(count_ev(&n, N_C, SL_CALL_ACT_DIALLING), 1);
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_FAILED));
	net_free(&n);
}

/* Damaged or truncated copies are dropped; the genuine one still works. */
TEST(damaged_messages)
{
	struct qmsg m;
	uint8_t bad[SL_CALL_MAX_MSG + 1];
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	start(&n, N_C);
	CHECK(net_pop(&n, &m));
	for (size_t i = 8; i < m.len; i++) {
		memcpy(bad, m.b, m.len);
		bad[i] ^= 0x40;
		net_input(&n, N_T1, bad, m.len);
	}
	CHECK_EQ(n.nq, 0);	/* dropped, not refused */
	net_input(&n, N_T1, m.b, m.len - 1);	/* refused: BAD_MESSAGE */
	CHECK(n.nq == 1 && n.q[0].b[1] == SL_MSG_NAK &&
	      n.q[0].b[6] == SL_NAK_BAD_MESSAGE);
	n.nq = 0;
	n.now += 1000;				/* one NAK a second */
	net_input(&n, N_T1, m.b, 7);		/* too short for versions */
	CHECK(n.nq == 1 && n.q[0].b[6] == SL_NAK_BAD_MESSAGE);
	n.nq = 0;
	n.now += 1000;
	net_input(&n, N_T1, m.b, m.len);	/* the genuine one */
	CHECK(net_pop(&n, &m) && m.b[1] == SL_MSG_CALL_REPLY);
	/* A damaged reply, an extended one: dropped by C. */
	memcpy(bad, m.b, m.len);
	bad[20] ^= 1;
	net_input(&n, N_C, bad, m.len);
	memcpy(bad, m.b, m.len);
	net_input(&n, N_C, bad, m.len + 1);
	CHECK_EQ(n.nq, 0);
	net_input(&n, N_C, m.b, m.len);
	CHECK(net_pop(&n, &m) && m.b[1] == SL_MSG_CALL_AUTH);
	/* A damaged CALL_AUTH and a truncated one: dropped by T. */
	memcpy(bad, m.b, m.len);
	bad[60] ^= 1;
	net_input(&n, N_T1, bad, m.len);
	net_input(&n, N_T1, m.b, m.len - 12);
	CHECK(!find_ev(&n, N_T1, SL_CALL_ACT_AUTHENTICATED));
	CHECK_EQ(n.nq, 0);
	net_input(&n, N_T1, m.b, m.len);
	CHECK(find_ev(&n, N_T1, SL_CALL_ACT_AUTHENTICATED));
	/* A damaged status, one with another hsid or version. */
	dialling(&n);
	CHECK(net_pop(&n, &m));
	for (size_t i = 0; i < m.len; i++) {
		memcpy(bad, m.b, m.len);
		bad[i] ^= 0x08;
		net_input(&n, N_C, bad, m.len);
	}
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_DIALLING));
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_FAILED));
	net_input(&n, N_C, m.b, m.len);
	CHECK(find_ev(&n, N_C, SL_CALL_ACT_DIALLING));
	/* A NAK with another hsid does not end the call. */
	memcpy(bad, "\x01\x01\x00\x00\x00\x00\x0a\x01\x01\x01\x30", 11);
	net_input(&n, N_C, bad, 11);
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_FAILED));
	CHECK(!strcmp(sl_call_state(n.c), "DIALLING"));
	net_free(&n);
}

/* C pinned a key that is not T's: nothing opens, nothing in clear. */
TEST(wrong_tsp_key)
{
	struct sl_call_config cc = {
		.account = ACC_C, .static_priv = priv_c, .tsp_pub = pub_x,
		.test_random = rng_fill,
	};
	const struct sl_call_action *a;
	struct net n;

	net_init(&n, &cc, NULL, NULL);
	start(&n, N_C);
	net_pump(&n);
	CHECK_EQ(n.sends[N_T1][SL_MSG_CALL_REPLY], 0);
	net_advance(&n, n.now + 60000);
	net_pump(&n);
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_HELLO], SL_HS_MAX_SENDS);
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_AUTH], 0);
	a = find_ev(&n, N_C, SL_CALL_ACT_FAILED);
	CHECK(a && a->reason == SL_NAK_TIMEOUT && !a->remote);
	a = find_ev(&n, N_C, SL_CALL_ACT_NAK);
	CHECK(a && a->sent && a->ref_type == SL_MSG_CALL_REPLY);
	CHECK(!find_ev(&n, N_T1, SL_CALL_ACT_AUTHENTICATED));
	check_no_identity_in_clear(&n);
	net_free(&n);
}

/* A recording of an earlier call does not authenticate on a new leg. */
TEST(replay_earlier_call)
{
	struct qmsg hello = { 0 }, auth = { 0 };
	struct sl_tsp_config tc = {
		.static_priv = priv_t, .test_random = rng_fill,
	};
	struct sl_call_actions out;
	struct sl_tsp_leg *leg;
	struct rng r = { 99 };
	struct net n;
	int err;

	net_init(&n, NULL, NULL, NULL);
	caller_to_auth(&n);
	for (unsigned int i = 0; i < n.ncap; i++) {
		if (n.cap[i].b[1] == SL_MSG_CALL_HELLO)
			hello = n.cap[i];
		if (n.cap[i].b[1] == SL_MSG_CALL_AUTH)
			auth = n.cap[i];
	}
	net_free(&n);
	tc.test_ctx = &r;
	leg = sl_tsp_leg_new(&tc, &err);
	if (!CHECK(leg))
		return;
	CHECK_EQ(sl_tsp_leg_input(leg, hello.b, hello.len, 5000, &out), 0);
	CHECK(out.n == 1 && out.a[0].msg[1] == SL_MSG_CALL_REPLY);
	CHECK_EQ(sl_tsp_leg_input(leg, auth.b, auth.len, 5001, &out), 0);
	CHECK_EQ(out.n, 0);
	CHECK(out.dropped != NULL);
	CHECK(!strcmp(sl_tsp_leg_state(leg), "WAIT_AUTH"));
	/* and the replayed HELLO is a copy now: the same reply, later. */
	CHECK_EQ(sl_tsp_leg_input(leg, hello.b, hello.len, 7000, &out), 0);
	CHECK(out.n == 1 && out.a[0].msg[1] == SL_MSG_CALL_REPLY);
	/* the deadline: NAK TIMEOUT, FAILED */
	CHECK_EQ(out.next_timer, 5000 + SL_CALL_DEADLINE_MS);
	CHECK_EQ(sl_tsp_leg_timer(leg, 25000, &out), 0);
	CHECK(out.n == 3 && out.a[0].msg[1] == SL_MSG_NAK &&
	      out.a[0].msg[6] == SL_NAK_TIMEOUT &&
	      out.a[0].msg[10] == SL_MSG_CALL_AUTH &&
	      out.a[2].type == SL_CALL_ACT_FAILED);
	sl_tsp_leg_free(leg);
}

/* "ended" counts only when authentic. */
TEST(ended_authentic_only)
{
	uint8_t forged[SL_CALL_STATUS_LEN];
	struct qmsg m;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	caller_to_auth(&n);
	answerer_to_offer(&n);
	accept_offer(&n, true, 0, 0);
	net_pump(&n);
	dialling(&n);
	do_tsp(&n, N_T2, 0, sl_tsp_leg_connected);
	do_tsp(&n, N_T1, 0, sl_tsp_leg_connected);
	net_pump(&n);
	CHECK(find_ev(&n, N_C, SL_CALL_ACT_CONNECTED));
	/* Forged: right header, seq 2, random body. */
	for (int i = 0; i < 20; i++) {
		memcpy(forged, n.cap[n.ncap - 1].b, 7);
		forged[6] = (uint8_t)(2 + i);
		check_fill_random(forged + 7, sizeof(forged) - 7);
		net_input(&n, N_C, forged, sizeof(forged));
	}
	/* T2's genuine "ended" is sealed for B, not for C. */
	do_tsp(&n, N_T2, 0, sl_tsp_leg_end);
	CHECK(net_pop(&n, &m));
	memcpy(m.b + 2, n.cap[0].b + 2, 4);	/* C's hsid */
	net_input(&n, N_C, m.b, m.len);
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_ENDED));
	CHECK(!strcmp(sl_call_state(n.c), "CONNECTED"));
	/* The NAK after CONNECTED is end to end, not ours. */
	memcpy(forged, "\x01\x01", 2);
	memcpy(forged + 2, n.cap[0].b + 2, 4);
	memcpy(forged + 6, "\x09\x02\x01\x01\x00", 5);
	net_input(&n, N_C, forged, SL_HS_NAK_LEN);
	CHECK(!strcmp(sl_call_state(n.c), "CONNECTED"));
	do_tsp(&n, N_T1, 0, sl_tsp_leg_end);
	net_pump(&n);
	CHECK(find_ev(&n, N_C, SL_CALL_ACT_ENDED));
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_FAILED));
	net_free(&n);
}

TEST(deadlines)
{
	const struct sl_call_action *a;
	struct net n;
	uint64_t t0;

	/* C: 90 s after dialling, with CALL_AUTH every 8 s. */
	net_init(&n, NULL, NULL, NULL);
	caller_to_auth(&n);
	n.now += 5000;
	dialling(&n);
	net_pump(&n);
	t0 = n.now;
	net_advance(&n, t0 + SL_CALL_DIALLING_MS - 1);
	n.nq = 0;
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_FAILED));
	CHECK_EQ(n.sends[N_C][SL_MSG_CALL_AUTH],
		 1 + (SL_CALL_DIALLING_MS - 1) / SL_CALL_DIAL_RESEND_MS);
	net_advance(&n, t0 + SL_CALL_DIALLING_MS);
	a = find_ev(&n, N_C, SL_CALL_ACT_FAILED);
	CHECK(a && a->reason == SL_NAK_TIMEOUT);
	a = find_ev(&n, N_C, SL_CALL_ACT_NAK);
	CHECK(a && a->sent && a->ref_type == SL_MSG_CALL_STATUS);
	CHECK_EQ(n.timer[N_C], 0);
	net_free(&n);

	/* B: 20 s from its start while the daemon does not decide. */
	net_init(&n, NULL, NULL, NULL);
	t0 = n.now;
	start(&n, N_B);
	net_pump(&n);
	n.now += 1000;
	offer(&n);
	net_pump(&n);
	CHECK(find_ev(&n, N_B, SL_CALL_ACT_OFFER));
	net_advance(&n, t0 + SL_CALL_DEADLINE_MS);
	a = find_ev(&n, N_B, SL_CALL_ACT_FAILED);
	CHECK(a && a->reason == SL_NAK_TIMEOUT);
	/* and T2, whose offer was never accepted */
	net_pump(&n);
	a = find_ev(&n, N_T2, SL_CALL_ACT_FAILED);
	CHECK(a && a->reason == SL_NAK_TIMEOUT && a->remote);
	net_free(&n);

	/* T2: 20 s after the offer without CALL_ACCEPT. */
	net_init(&n, NULL, NULL, NULL);
	start(&n, N_B);
	net_pump(&n);
	n.now += 15000;
	offer(&n);
	n.nq = 0;	/* lost; B in DECIDE? no: never got it */
	t0 = n.now;
	sl_call_free(n.b);
	n.b = NULL;
	n.timer[N_B] = 0;
	net_advance(&n, t0 + SL_CALL_OFFER_WAIT_MS);
	a = find_ev(&n, N_T2, SL_CALL_ACT_FAILED);
	CHECK(a && a->reason == SL_NAK_TIMEOUT && !a->remote);
	a = find_ev(&n, N_T2, SL_CALL_ACT_NAK);
	CHECK(a && a->ref_type == SL_MSG_CALL_ACCEPT);
	net_free(&n);
}

/* ---- An independent XK party on agent/noise.c --------------------- */

struct fake {
	uint8_t *mem;			/* secure: noise hs, ciphers */
	struct sl_noise_hs *hs;
	struct sl_noise_cipher *c1, *c2;	/* e2t, t2e */
};

static void fake_init(struct fake *f, bool initiator, const uint8_t *hello8,
		      const uint8_t *s, const uint8_t *rs, const uint8_t *e)
{
	uint8_t prologue[15];
	struct sl_noise_keys k = { .s = s, .rs = rs, .e = e };

	f->mem = sl_secure_alloc(sizeof(*f->hs) + 2 * sizeof(*f->c1));
	if (!f->mem)
		exit(1);
	f->hs = (struct sl_noise_hs *)f->mem;
	f->c1 = (struct sl_noise_cipher *)(f->mem + sizeof(*f->hs));
	f->c2 = f->c1 + 1;
	memcpy(prologue, "sealine", 7);
	memcpy(prologue + 7, hello8, 8);
	if (sl_noise_hs_init(f->hs, SL_NOISE_XK, initiator, prologue, 15, &k))
		exit(1);
}

static void fake_free(struct fake *f)
{
	sl_secure_free(f->mem, sizeof(*f->hs) + 2 * sizeof(*f->c1));
}

/* The stream of an engine's test randomness, from its seed. */
static void stream(uint64_t seed, size_t skip, uint8_t *out, size_t n)
{
	struct rng r = { seed };
	uint8_t junk[64];

	rng_fill(&r, junk, skip);
	rng_fill(&r, out, n);
}

/* Every byte of both legs against handshake.rst's layouts. */
TEST(byte_layouts)
{
	uint8_t e[32], e_pub[32], pl[64], hsid[4];
	struct fake ft;
	struct net n;
	size_t plen;
	const struct qmsg *hello, *reply, *auth, *st0, *st1, *st2;

	net_init(&n, NULL, NULL, NULL);
	caller_to_auth(&n);
	dialling(&n);
	net_pump(&n);
	do_tsp(&n, N_T1, 0, sl_tsp_leg_connected);
	do_tsp(&n, N_T1, 0, sl_tsp_leg_end);
	net_pump(&n);
	if (!CHECK_EQ(n.ncap, 6))
		goto out;
	hello = &n.cap[0];
	reply = &n.cap[1];
	auth = &n.cap[2];
	st0 = &n.cap[3];
	st1 = &n.cap[4];
	st2 = &n.cap[5];

	/* C's randomness: hsid (4), then its ephemeral (32). */
	stream(1, 0, hsid, 4);
	stream(1, 4, e, 32);
	CHECK_EQ(sl_x25519_public(e_pub, e), 0);
	CHECK_EQ(hello->len, 56);
	CHECK_EQ(hello->b[0], SL_HS_VERSION);
	CHECK_EQ(hello->b[1], 0x30);
	CHECK_MEM(hello->b + 2, hsid, 4);
	CHECK_EQ(hello->b[6], SL_HS_VERSION);
	CHECK_EQ(hello->b[7], SL_HS_VERSION);
	CHECK_MEM(hello->b + 8, e_pub, 32);

	/* T's ephemeral: the first 32 bytes of its stream. */
	stream(3, 0, e, 32);
	fake_init(&ft, false, hello->b, priv_t, NULL, e);
	CHECK_EQ(sl_noise_read(ft.hs, hello->b + 8, 48, pl, sizeof(pl),
			       &plen), 0);
	CHECK_EQ(plen, 0);
	CHECK_EQ(reply->len, 54);
	CHECK_EQ(reply->b[0], SL_HS_VERSION);
	CHECK_EQ(reply->b[1], 0x31);
	CHECK_MEM(reply->b + 2, hsid, 4);
	{
		uint8_t mine[64];
		size_t mlen;

		CHECK_EQ(sl_noise_write(ft.hs, NULL, 0, mine, sizeof(mine),
					&mlen), 0);
		CHECK_EQ(mlen, 48);
		CHECK_MEM(reply->b + 6, mine, 48);
	}
	CHECK_EQ(auth->len, 95);
	CHECK_EQ(auth->b[0], SL_HS_VERSION);
	CHECK_EQ(auth->b[1], 0x32);
	CHECK_MEM(auth->b + 2, hsid, 4);
	CHECK_EQ(sl_noise_read(ft.hs, auth->b + 6, 89, pl, sizeof(pl),
			       &plen), 0);
	CHECK_EQ(plen, 25);
	CHECK_EQ(pl[0], 1);
	CHECK_MEM(pl + 1, ACC_C, 12);
	CHECK_MEM(pl + 13, ACC_B, 12);
	CHECK_MEM(ft.hs->rs, pub_c, 32);
	CHECK_EQ(sl_noise_split(ft.hs, ft.c1, ft.c2), 0);

	/* CALL_STATUS: seq 0, 1, 2; dialling, connected, ended. */
	{
		const struct qmsg *st[3] = { st0, st1, st2 };

		for (int i = 0; i < 3; i++) {
			CHECK_EQ(st[i]->len, 32);
			CHECK_EQ(st[i]->b[0], SL_HS_VERSION);
			CHECK_EQ(st[i]->b[1], 0x33);
			CHECK_MEM(st[i]->b + 2, hsid, 4);
			CHECK_EQ(st[i]->b[6], i);
			CHECK_EQ(sl_noise_open(ft.c2->k, (uint64_t)i,
					       st[i]->b, 7, st[i]->b + 7, 25,
					       pl), 0);
			CHECK_EQ(pl[0], i + 1);
			CHECK_HEX(pl + 1, 8, "1122334455667788");
		}
	}
	fake_free(&ft);
	net_free(&n);

	/* The answerer's leg: CALL_AUTH 83, OFFER 43, ACCEPT 23. */
	net_init(&n, NULL, NULL, NULL);
	answerer_to_offer(&n);
	accept_offer(&n, true, 0, 0);
	net_pump(&n);
	if (!CHECK_EQ(n.ncap, 5))
		goto out;
	hello = &n.cap[0];
	stream(4, 0, e, 32);
	fake_init(&ft, false, hello->b, priv_t, NULL, e);
	CHECK_EQ(sl_noise_read(ft.hs, hello->b + 8, 48, pl, sizeof(pl),
			       &plen), 0);
	{
		uint8_t mine[64];
		size_t mlen;

		CHECK_EQ(sl_noise_write(ft.hs, NULL, 0, mine, sizeof(mine),
					&mlen), 0);
		CHECK_MEM(n.cap[1].b + 6, mine, 48);
	}
	CHECK_EQ(n.cap[2].len, 83);
	CHECK_EQ(sl_noise_read(ft.hs, n.cap[2].b + 6, 77, pl, sizeof(pl),
			       &plen), 0);
	CHECK_EQ(plen, 13);
	CHECK_EQ(pl[0], 2);
	CHECK_MEM(pl + 1, ACC_B, 12);
	CHECK_EQ(sl_noise_split(ft.hs, ft.c1, ft.c2), 0);
	CHECK_EQ(n.cap[3].len, 43);
	CHECK_EQ(n.cap[3].b[1], 0x34);
	CHECK_EQ(n.cap[3].b[6], 0);
	CHECK_EQ(sl_noise_open(ft.c2->k, 0, n.cap[3].b, 7, n.cap[3].b + 7,
			       36, pl), 0);
	CHECK_MEM(pl, ACC_C, 12);
	CHECK_HEX(pl + 12, 8, "1122334455667788");
	CHECK_EQ(n.cap[4].len, 23);
	CHECK_EQ(n.cap[4].b[1], 0x35);
	CHECK_EQ(n.cap[4].b[6], 0);
	CHECK_EQ(sl_noise_open(ft.c1->k, 0, n.cap[4].b, 7, n.cap[4].b + 7,
			       16, pl), 0);
	fake_free(&ft);
out:
	net_free(&n);
}

/*
 * A fake T (authentic, it holds T's key) sends C and B content that is
 * invalid: each is NAK BAD_MESSAGE and FAILED.
 */
static void fake_t_sends(bool answer, const uint8_t *pl, size_t plen,
			 uint8_t type, uint8_t seq, bool expect_fail)
{
	struct sl_call_config cc = {
		.account = ACC_C, .static_priv = priv_c, .tsp_pub = pub_t,
		.test_random = rng_fill,
	};
	struct sl_call_actions out;
	struct rng r = { 7 };
	struct sl_call *c;
	uint8_t m[128], tmp[64];
	size_t len;
	struct fake ft;

	cc.test_ctx = &r;
	c = sl_call_new(&cc, NULL);
	if (!c)
		exit(1);
	sl_call_start(c, answer ? SL_CALL_PURPOSE_ANSWER :
				  SL_CALL_PURPOSE_CALL,
		      answer ? NULL : ACC_B, 1000, &out);
	memcpy(m, out.a[0].msg, 56);
	fake_init(&ft, false, m, priv_t, NULL, NULL);
	CHECK_EQ(sl_noise_read(ft.hs, m + 8, 48, tmp, sizeof(tmp), &len), 0);
	m[1] = SL_MSG_CALL_REPLY;
	CHECK_EQ(sl_noise_write(ft.hs, NULL, 0, m + 6, 100, &len), 0);
	sl_call_input(c, m, 54, 1001, &out);
	CHECK(out.n == 1 && out.a[0].msg[1] == SL_MSG_CALL_AUTH);
	CHECK_EQ(sl_noise_read(ft.hs, out.a[0].msg + 6, out.a[0].len - 6,
			       tmp, sizeof(tmp), &len), 0);
	CHECK_EQ(sl_noise_split(ft.hs, ft.c1, ft.c2), 0);
	m[1] = type;
	m[6] = seq;
	CHECK_EQ(sl_noise_seal(ft.c2->k, seq, m, 7, pl, plen, m + 7), 0);
	sl_call_input(c, m, 7 + plen + 16, 1002, &out);
	if (expect_fail) {
		CHECK(out.n == 3 && out.a[0].msg[1] == SL_MSG_NAK &&
		      out.a[0].msg[6] == SL_NAK_BAD_MESSAGE &&
		      out.a[0].msg[10] == type &&
		      out.a[2].type == SL_CALL_ACT_FAILED);
		CHECK(!strcmp(sl_call_state(c), "ended"));
	} else {
		CHECK_EQ(out.n, 0);
		CHECK(out.dropped != NULL);
	}
	fake_free(&ft);
	sl_call_free(c);
}

TEST(authentic_invalid_content)
{
	uint8_t pl[20];

	memset(pl, 0, sizeof(pl));
	pl[0] = 7;				/* unknown status */
	fake_t_sends(false, pl, 9, SL_MSG_CALL_STATUS, 0, true);
	pl[0] = 0;
	fake_t_sends(false, pl, 9, SL_MSG_CALL_STATUS, 0, true);
	pl[0] = SL_CALL_STATUS_DIALLING;	/* dialling to an answerer */
	fake_t_sends(true, pl, 9, SL_MSG_CALL_STATUS, 0, true);
	memcpy(pl, "00000000000A", 12);		/* offer: bad digits */
	fake_t_sends(true, pl, 20, SL_MSG_CALL_OFFER, 0, true);
	memcpy(pl, "000000000001", 12);		/* an offer to a caller */
	fake_t_sends(false, pl, 20, SL_MSG_CALL_OFFER, 0, false);
	pl[0] = SL_CALL_STATUS_CONNECTED;	/* connected before accept */
	fake_t_sends(true, pl, 9, SL_MSG_CALL_STATUS, 0, true);
	pl[0] = SL_CALL_STATUS_ENDED;		/* ended: fine, any time */
	{
		/* not a failure: ENDED; checked in ended_authentic_only */
	}
	CHECK_EQ(secmem_capacity(), secmem_baseline);
}

/* A fake E (authentic) sends T a CALL_AUTH with bad content. */
static void fake_e_auth(const uint8_t *pl, size_t plen, bool expect_auth)
{
	struct sl_tsp_config tc = { .static_priv = priv_t };
	struct sl_call_actions out;
	struct sl_tsp_leg *leg;
	uint8_t m[128], tmp[64];
	size_t len;
	struct fake fe;

	leg = sl_tsp_leg_new(&tc, NULL);
	if (!leg)
		exit(1);
	memcpy(m, "\x02\x30\xaa\xbb\xcc\xdd\x02\x02", 8);
	fake_init(&fe, true, m, priv_c, pub_t, NULL);
	CHECK_EQ(sl_noise_write(fe.hs, NULL, 0, m + 8, 100, &len), 0);
	sl_tsp_leg_input(leg, m, 56, 1000, &out);
	if (!CHECK(out.n == 1 && out.a[0].msg[1] == SL_MSG_CALL_REPLY))
		goto out;
	CHECK_EQ(sl_noise_read(fe.hs, out.a[0].msg + 6, 48, tmp, sizeof(tmp),
			       &len), 0);
	m[1] = SL_MSG_CALL_AUTH;
	CHECK_EQ(sl_noise_write(fe.hs, pl, plen, m + 6, 120, &len), 0);
	sl_tsp_leg_input(leg, m, 6 + len, 1001, &out);
	if (expect_auth) {
		CHECK(out.n == 1 &&
		      out.a[0].type == SL_CALL_ACT_AUTHENTICATED);
	} else if (6 + len != 95 && 6 + len != 83) {
		CHECK_EQ(out.n, 0);	/* wrong length: dropped */
	} else {
		CHECK(out.n == 3 && out.a[0].msg[1] == SL_MSG_NAK &&
		      out.a[0].msg[6] == SL_NAK_BAD_MESSAGE &&
		      out.a[2].type == SL_CALL_ACT_FAILED);
		/* A copy gets the same NAK (after the 1 s limit). */
		sl_tsp_leg_input(leg, m, 6 + len, 2001, &out);
		CHECK(out.n == 1 && out.a[0].msg[1] == SL_MSG_NAK);
	}
out:
	fake_free(&fe);
	sl_tsp_leg_free(leg);
}

TEST(tsp_strict_auth)
{
	uint8_t pl[32];

	pl[0] = 1;
	memcpy(pl + 1, ACC_C ACC_B, 24);
	fake_e_auth(pl, 25, true);
	pl[0] = 3;				/* unknown purpose */
	fake_e_auth(pl, 25, false);
	pl[0] = 2;				/* purpose 2, 25 bytes */
	fake_e_auth(pl, 25, false);
	pl[0] = 1;				/* purpose 1, 13 bytes */
	fake_e_auth(pl, 13, false);
	pl[0] = 1;
	pl[20] = 'x';				/* recipient not digits */
	fake_e_auth(pl, 25, false);
	pl[20] = '0';
	pl[3] = ' ';				/* caller not digits */
	fake_e_auth(pl, 25, false);
	pl[3] = '0';
	fake_e_auth(pl, 24, false);		/* dropped: length */
	pl[0] = 2;
	fake_e_auth(pl, 13, true);
	CHECK_EQ(secmem_capacity(), secmem_baseline);
}

/* Retransmission: at most 5 sends, doubling from RTO0 to 8 s. */
TEST(retransmission_schedule)
{
	struct sl_call_config cc = {
		.account = ACC_C, .static_priv = priv_c, .tsp_pub = pub_t,
		.test_random = rng_fill, .baud = 300,
	};
	struct sl_call_actions out;
	struct rng r = { 5 };
	uint64_t t[8];
	unsigned int k = 0;
	struct sl_call *c;

	cc.test_ctx = &r;
	c = sl_call_new(&cc, NULL);
	if (!CHECK(c))
		return;
	sl_call_start(c, SL_CALL_PURPOSE_CALL, ACC_B, 1000, &out);
	/* 300 baud: 40 x (63 + 61) / 300 = 16.5 s > 8 s, RTO0 itself. */
	CHECK_EQ(out.next_timer, 1000 + 40 * (63 + 61) * 1000 / 300);
	sl_call_free(c);

	cc.baud = 9600;
	c = sl_call_new(&cc, NULL);
	sl_call_start(c, SL_CALL_PURPOSE_CALL, ACC_B, 1000, &out);
	while (out.next_timer && k < 8) {
		uint64_t at = out.next_timer;

		sl_call_timer(c, at, &out);
		if (out.n && out.a[0].type == SL_CALL_ACT_SEND &&
		    out.a[0].msg[1] == SL_MSG_CALL_HELLO)
			t[k++] = at;
		else
			break;
	}
	CHECK_EQ(k, 4);		/* 4 resends: 5 sends in all */
	CHECK_EQ(t[0], 2000);
	CHECK_EQ(t[1], 4000);
	CHECK_EQ(t[2], 8000);
	CHECK_EQ(t[3], 16000);
	CHECK(out.n == 3 && out.a[0].msg[1] == SL_MSG_NAK &&
	      out.a[0].msg[6] == SL_NAK_TIMEOUT);
	CHECK_EQ(out.a[2].type, SL_CALL_ACT_FAILED);
	sl_call_free(c);
}

TEST(abort_wipes)
{
	struct sl_call_actions out;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	caller_to_auth(&n);
	CHECK_EQ(sl_call_abort(n.c, n.now, &out), 0);
	CHECK(out.n == 1 && out.a[0].type == SL_CALL_ACT_FAILED &&
	      out.a[0].reason == SL_NAK_NONE);
	CHECK(!strcmp(sl_call_state(n.c), "ended"));
	CHECK_EQ(sl_call_input(n.c, n.cap[1].b, n.cap[1].len, n.now, &out), 0);
	CHECK(out.n == 0 && out.dropped);
	net_free(&n);
	CHECK_EQ(secmem_capacity(), secmem_baseline);
}

/* Many connected legs at once: each holds one small block. */
#define MANY	200

TEST(many_legs)
{
	static struct sl_call *c[MANY];
	static struct sl_tsp_leg *t[MANY];
	struct sl_call_config cc = {
		.account = ACC_C, .static_priv = priv_c, .tsp_pub = pub_t,
	};
	struct sl_tsp_config tc = { .static_priv = priv_t };
	struct sl_call_actions out, in;
	size_t base = secmem_capacity(), used;
	unsigned int ok = 0;

	for (int i = 0; i < MANY; i++) {
		c[i] = sl_call_new(&cc, NULL);
		t[i] = sl_tsp_leg_new(&tc, NULL);
		if (!c[i] || !t[i])
			break;
		sl_call_start(c[i], SL_CALL_PURPOSE_CALL, ACC_B, 1000, &out);
		/* C -> T -> C -> T: HELLO, REPLY, AUTH */
		sl_tsp_leg_input(t[i], out.a[0].msg, out.a[0].len, 1001, &in);
		sl_call_input(c[i], in.a[0].msg, in.a[0].len, 1002, &out);
		sl_tsp_leg_input(t[i], out.a[0].msg, out.a[0].len, 1003, &in);
		if (!in.n || in.a[0].type != SL_CALL_ACT_AUTHENTICATED)
			break;
		sl_tsp_leg_dialling(t[i], (uint64_t)i, 1004, &in);
		sl_call_input(c[i], in.a[0].msg, in.a[0].len, 1005, &out);
		sl_tsp_leg_connected(t[i], 1006, &in);
		sl_call_input(c[i], in.a[0].msg, in.a[0].len, 1007, &out);
		ok += out.n == 1 && out.a[0].type == SL_CALL_ACT_CONNECTED &&
		      out.a[0].tracking_id == (uint64_t)i;
	}
	CHECK_EQ(ok, MANY);
	used = (base - secmem_capacity()) * 64;
	printf("  %d connected calls (both ends): %zu bytes of secure "
	       "memory, %zu per engine\n", MANY, used, used / (2 * MANY));
	CHECK(used / (2 * MANY) <= SL_CALL_SECMEM_KEYS);
	for (int i = 0; i < MANY; i++) {
		sl_call_free(c[i]);
		sl_tsp_leg_free(t[i]);
	}
	CHECK_EQ(secmem_capacity(), base);
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	init_or_die(256 * 1024);
	make_key(&priv_c, pub_c, 0x11);
	make_key(&priv_b, pub_b, 0x22);
	make_key(&priv_t, pub_t, 0x33);
	make_key(&priv_x, pub_x, 0x44);
	/* libgcrypt's random pool lives in secure memory from its first
	 * use on (engines without test randomness): count it out. */
	secmem_measure_baseline();

	RUN(message_lengths);
	RUN(config_checked);
	RUN(full_call);
	RUN(secure_memory);
	RUN(tsp_refusals);
	RUN(refuse_checked);
	RUN(answerer_refuses);
	RUN(version_negotiation);
	RUN(lost_messages);
	RUN(duplicated_messages);
	RUN(damaged_messages);
	RUN(wrong_tsp_key);
	RUN(replay_earlier_call);
	RUN(ended_authentic_only);
	RUN(deadlines);
	RUN(byte_layouts);
	RUN(authentic_invalid_content);
	RUN(tsp_strict_auth);
	RUN(retransmission_schedule);
	RUN(abort_wipes);
	RUN(many_legs);

	sl_secure_free(priv_c, 32);
	sl_secure_free(priv_b, 32);
	sl_secure_free(priv_t, 32);
	sl_secure_free(priv_x, 32);
	return check_summary();
}
