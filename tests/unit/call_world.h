/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The world of the call-setup tests (test_call.c, test_call_wire.c): the
 * caller C, the TSP's two legs T1 and T2 and the answerer B of
 * agent/proto/call*.c in one process on a simulated network, the TSP
 * daemon's decisions made by the test; and an independent Noise_XK party
 * built from agent/proto/noise.c that plays a fake T or a fake E.
 *
 * Header-only, like hs_world.h: check.h counts failures per compiled
 * file, so the helpers' checks must be compiled into each program.
 * Include after check.h, crypto.h, call.h, noise.h and agent_test.h.
 */
#ifndef SEALINE_TEST_CALL_WORLD_H
#define SEALINE_TEST_CALL_WORLD_H

#define ACC_C	"000000000001"
#define ACC_B	"000000000002"
#define TID	0x1122334455667788ULL

/* ---- Deterministic randomness ------------------------------------ */

struct rng {
	uint64_t state;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline int rng_fill(void *ctx, uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)rng_next(ctx);
	return 0;
}

/* ---- Keys --------------------------------------------------------- */

static uint8_t *priv_c, *priv_b, *priv_t, *priv_x;
static uint8_t pub_c[32], pub_b[32], pub_t[32], pub_x[32];

static inline void make_key(uint8_t **priv, uint8_t pub[32], uint8_t fill)
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

static inline void net_feed(struct net *n, enum node at,
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

static inline void net_init(struct net *n, const struct sl_call_config *cc,
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

static inline void net_free(struct net *n)
{
	sl_call_free(n->c);
	sl_call_free(n->b);
	sl_tsp_leg_free(n->t1);
	sl_tsp_leg_free(n->t2);
}

static inline void net_input(struct net *n, enum node to, const uint8_t *m,
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
static inline bool net_pop(struct net *n, struct qmsg *m)
{
	if (!n->nq)
		return false;
	*m = n->q[0];
	memmove(n->q, n->q + 1, --n->nq * sizeof(n->q[0]));
	return true;
}

static inline void net_pump(struct net *n)
{
	struct qmsg m;

	for (int i = 0; i < 100 && net_pop(n, &m); i++)
		net_input(n, m.to, m.b, m.len);
}

/* Drop the oldest message in flight; returns its type. */
static inline uint8_t net_lose(struct net *n)
{
	struct qmsg m;

	return net_pop(n, &m) ? m.b[1] : 0;
}

/* Move the clock to t, running every timer due on the way. */
static inline void net_advance(struct net *n, uint64_t to)
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

static inline unsigned int count_ev(const struct net *n, enum node at,
			     enum sl_call_act type)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < n->nev; i++)
		k += n->ev[i].at == at && n->ev[i].a.type == type;
	return k;
}

static inline void do_tsp(struct net *n, enum node leg, int rc,
		   int (*fn)(struct sl_tsp_leg *, uint64_t,
			     struct sl_call_actions *))
{
	struct sl_call_actions out;

	CHECK_EQ(fn(leg == N_T1 ? n->t1 : n->t2, n->now, &out), rc);
	net_feed(n, leg, &out);
}

static inline void dialling(struct net *n)
{
	struct sl_call_actions out;

	CHECK_EQ(sl_tsp_leg_dialling(n->t1, TID, n->now, &out), 0);
	net_feed(n, N_T1, &out);
}

static inline void offer(struct net *n)
{
	struct sl_call_actions out;

	CHECK_EQ(sl_tsp_leg_offer(n->t2, ACC_C, TID, n->now, &out), 0);
	net_feed(n, N_T2, &out);
}

static inline void refuse(struct net *n, enum node leg, uint8_t reason,
		   uint8_t detail)
{
	struct sl_call_actions out;

	CHECK_EQ(sl_tsp_leg_refuse(leg == N_T1 ? n->t1 : n->t2, reason,
				   detail, n->now, &out), 0);
	net_feed(n, leg, &out);
}

static inline void accept_offer(struct net *n, bool yes, uint8_t reason,
			 uint8_t detail)
{
	struct sl_call_actions out;

	CHECK_EQ(sl_call_offer_reply(n->b, yes, reason, detail, n->now, &out),
		 0);
	net_feed(n, N_B, &out);
}

static inline void start(struct net *n, enum node who)
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
static inline void caller_to_auth(struct net *n)
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

static inline void answerer_to_offer(struct net *n)
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
static inline bool captured(const struct net *n, const void *needle, size_t len)
{
	for (unsigned int i = 0; i < n->ncap; i++)
		for (size_t o = 0; o + len <= n->cap[i].len; o++)
			if (!memcmp(n->cap[i].b + o, needle, len))
				return true;
	return false;
}

static inline void check_no_identity_in_clear(const struct net *n)
{
	CHECK(!captured(n, ACC_C, 12));
	CHECK(!captured(n, ACC_B, 12));
	CHECK(!captured(n, pub_c, 32));
	CHECK(!captured(n, pub_b, 32));
	/* Not even half an account, nor a key's first 8 bytes. */
	CHECK(!captured(n, ACC_B + 6, 6));
	CHECK(!captured(n, pub_c, 8));
}


/* ---- An independent XK party on agent/proto/noise.c --------------- */

struct fake {
	uint8_t *mem;			/* secure: noise hs, ciphers */
	struct sl_noise_hs *hs;
	struct sl_noise_cipher *c1, *c2;	/* e2t, t2e */
};

static inline void fake_init(struct fake *f, bool initiator, const uint8_t *hello8,
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

static inline void fake_free(struct fake *f)
{
	sl_secure_free(f->mem, sizeof(*f->hs) + 2 * sizeof(*f->c1));
}

/* The stream of an engine's test randomness, from its seed. */
static inline void stream(uint64_t seed, size_t skip, uint8_t *out, size_t n)
{
	struct rng r = { seed };
	uint8_t junk[64];

	rng_fill(&r, junk, skip);
	rng_fill(&r, out, n);
}


/* libgcrypt, the four static keys, the secure-memory baseline. */
static inline void call_world_start(int argc, char **argv)
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
}

/* Every secret given back; the program's exit status. */
static inline int call_world_finish(void)
{
	sl_secure_free(priv_c, 32);
	sl_secure_free(priv_b, 32);
	sl_secure_free(priv_t, 32);
	sl_secure_free(priv_x, 32);
	return check_summary();
}

#endif /* SEALINE_TEST_CALL_WORLD_H */
