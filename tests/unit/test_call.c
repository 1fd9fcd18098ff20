// SPDX-License-Identifier: GPL-2.0
/*
 * Call setup through a TSP (agent/proto/call*.c), the whole call on the
 * simulated network of call_world.h: configuration, a full call, secure
 * memory per engine, refusals by the TSP and the answerer, versions, lost,
 * duplicated and damaged messages, a wrong TSP key, replays, deadlines.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "crypto.h"
#include "call.h"
#include "noise.h"
#include "agent_test.h"
#include "call_world.h"

/* ---- Cases ------------------------------------------------------- */

TEST(message_lengths)
{
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_HELLO), SL_CALL_HELLO_LEN);
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_REPLY), SL_CALL_REPLY_LEN);
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_AUTH), SL_CALL_AUTH_CALL_LEN);
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_STATUS), SL_CALL_STATUS_LEN);
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_OFFER), SL_CALL_OFFER_LEN);
	CHECK_EQ(sl_hs_msg_len(SL_MSG_CALL_ACCEPT), SL_CALL_ACCEPT_LEN);
	/* The table: 56, 54, 95/83, 32, 44, 23. */
	CHECK_EQ(SL_CALL_HELLO_LEN, 56);
	CHECK_EQ(SL_CALL_REPLY_LEN, 54);
	CHECK_EQ(SL_CALL_AUTH_CALL_LEN, 95);
	CHECK_EQ(SL_CALL_AUTH_ANSWER_LEN, 83);
	CHECK_EQ(SL_CALL_STATUS_LEN, 32);
	CHECK_EQ(SL_CALL_OFFER_LEN, 44);
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

/* Store and forward's purposes: T takes the leg as the courier peer,
 * both ends hold the same courier keys, nothing is dialled. */
static int leg_deposit(struct sl_tsp_leg *leg, uint64_t now,
		       struct sl_call_actions *out)
{
	return sl_tsp_leg_deposit(leg, TID, now, out);
}

static void deposit_case(enum sl_call_purpose purpose)
{
	const struct sl_call_action *a;
	struct sl_call_actions out;
	uint8_t ke[SL_CALL_COURIER_KEYS_LEN], kt[SL_CALL_COURIER_KEYS_LEN];
	uint8_t zero[SL_CALL_COURIER_KEYS_LEN / 2] = { 0 };
	bool deposit = purpose == SL_CALL_PURPOSE_DEPOSIT;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	CHECK_EQ(sl_call_start(n.c, purpose, deposit ? NULL : ACC_B, n.now,
			       &out), -EINVAL);
	CHECK_EQ(sl_call_start(n.c, purpose, ACC_C, n.now, &out), -EINVAL);
	CHECK_EQ(sl_call_start(n.c, purpose, deposit ? ACC_B : NULL, n.now,
			       &out), 0);
	net_feed(&n, N_C, &out);
	net_pump(&n);
	a = find_ev(&n, N_T1, SL_CALL_ACT_AUTHENTICATED);
	if (!CHECK(a))
		goto out;
	CHECK_EQ(a->purpose, purpose);
	CHECK(!strcmp(a->account, ACC_C));
	CHECK(!strcmp(a->peer, deposit ? ACC_B : ""));
	/* Not a call: nothing to dial, offer or connect; no keys yet. */
	CHECK_EQ(sl_tsp_leg_dialling(n.t1, TID, n.now, &out), -EINVAL);
	CHECK_EQ(sl_tsp_leg_connected(n.t1, n.now, &out), -EINVAL);
	CHECK_EQ(sl_tsp_leg_offer(n.t1, ACC_B, TID, n.now, &out), -EINVAL);
	CHECK_EQ(sl_tsp_leg_courier_keys(n.t1, kt), -EINVAL);
	CHECK_EQ(sl_call_courier_keys(n.c, ke), -EINVAL);
	do_tsp(&n, N_T1, 0, leg_deposit);
	do_tsp(&n, N_T1, -EINVAL, leg_deposit);
	net_pump(&n);
	a = find_ev(&n, N_C, SL_CALL_ACT_DEPOSIT);
	CHECK(a && a->tracking_id == TID && a->purpose == purpose &&
	      !strcmp(a->account, deposit ? ACC_B : ""));
	CHECK(!strcmp(sl_call_state(n.c), "CONNECTED"));
	CHECK(!strcmp(sl_tsp_leg_state(n.t1), "CONNECTED"));
	CHECK_EQ(n.timer[N_C], 0);
	/* The same two keys at both ends, neither zero nor equal. */
	CHECK_EQ(sl_call_courier_keys(n.c, ke), 0);
	CHECK_EQ(sl_tsp_leg_courier_keys(n.t1, kt), 0);
	CHECK_MEM(ke, kt, sizeof(ke));
	CHECK(memcmp(ke, zero, sizeof(zero)) && memcmp(ke + 32, zero, sizeof(zero)));
	CHECK(memcmp(ke, ke + 32, 32));
	sl_wipe(ke, sizeof(ke));
	sl_wipe(kt, sizeof(kt));
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_DIALLING));
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_CONNECTED));
	CHECK_EQ(n.sends[N_T1][SL_MSG_CALL_STATUS], 1);
	/* It ends as a call does, in band. */
	do_tsp(&n, N_T1, 0, sl_tsp_leg_end);
	net_pump(&n);
	CHECK(find_ev(&n, N_C, SL_CALL_ACT_ENDED));
	CHECK_EQ(sl_call_courier_keys(n.c, ke), -EINVAL);
	CHECK(!find_ev(&n, N_C, SL_CALL_ACT_FAILED));
	CHECK(!find_ev(&n, N_T1, SL_CALL_ACT_FAILED));
	check_no_identity_in_clear(&n);
out:
	net_free(&n);
	CHECK_EQ(secmem_capacity(), secmem_baseline);
}

TEST(deposit_and_collect)
{
	struct sl_call_actions out;
	uint8_t k[SL_CALL_COURIER_KEYS_LEN];
	struct net n;

	deposit_case(SL_CALL_PURPOSE_DEPOSIT);
	deposit_case(SL_CALL_PURPOSE_COLLECT);
	/* An ordinary call has no courier keys and no deposit. */
	net_init(&n, NULL, NULL, NULL);
	caller_to_auth(&n);
	CHECK_EQ(sl_tsp_leg_deposit(n.t1, TID, n.now, &out), -EINVAL);
	dialling(&n);
	net_pump(&n);
	CHECK_EQ(sl_tsp_leg_courier_keys(n.t1, k), -EINVAL);
	CHECK_EQ(sl_call_courier_keys(n.c, k), -EINVAL);
	net_free(&n);
}

/*
 * A held delivery (store-and-forward.rst, "The delivery call"): T dials
 * the recipient and offers it, with SL_CALL_OFFER_HELD, the envelope a
 * sender handed over; once connected both hold the same courier keys.
 * The offer of an ordinary call leaves the answerer none.
 */
TEST(held_delivery)
{
	uint8_t kt[SL_CALL_COURIER_KEYS_LEN], ke[SL_CALL_COURIER_KEYS_LEN];
	const struct sl_call_action *a;
	struct sl_call_actions out;
	struct net n;

	net_init(&n, NULL, NULL, NULL);
	start(&n, N_B);
	net_pump(&n);
	if (!CHECK(find_ev(&n, N_T2, SL_CALL_ACT_AUTHENTICATED)))
		goto out;
	CHECK_EQ(sl_tsp_leg_offer_held(n.t2, ACC_C, TID, n.now, &out), 0);
	net_feed(&n, N_T2, &out);
	net_pump(&n);
	a = find_ev(&n, N_B, SL_CALL_ACT_OFFER);
	if (!CHECK(a))
		goto out;
	CHECK_EQ(a->flags, SL_CALL_OFFER_HELD);
	CHECK(!strcmp(a->account, ACC_C));
	CHECK_EQ(sl_call_courier_keys(n.b, ke), -EINVAL);	/* not yet */
	accept_offer(&n, true, 0, 0);
	net_pump(&n);
	CHECK(find_ev(&n, N_T2, SL_CALL_ACT_ACCEPTED));
	do_tsp(&n, N_T2, 0, sl_tsp_leg_connected);
	net_pump(&n);
	a = find_ev(&n, N_B, SL_CALL_ACT_CONNECTED);
	if (!CHECK(a))
		goto out;
	CHECK_EQ(a->flags, SL_CALL_OFFER_HELD);
	CHECK_EQ(sl_tsp_leg_courier_keys(n.t2, kt), 0);
	CHECK_EQ(sl_call_courier_keys(n.b, ke), 0);
	CHECK_MEM(kt, ke, sizeof(kt));
	do_tsp(&n, N_T2, 0, sl_tsp_leg_end);
	net_pump(&n);
	CHECK(find_ev(&n, N_B, SL_CALL_ACT_ENDED));
	CHECK_EQ(sl_call_courier_keys(n.b, ke), -EINVAL);
	net_free(&n);

	/* An ordinary offer: connected, and no courier keys either side. */
	net_init(&n, NULL, NULL, NULL);
	answerer_to_offer(&n);
	a = find_ev(&n, N_B, SL_CALL_ACT_OFFER);
	CHECK(a && !a->flags);
	accept_offer(&n, true, 0, 0);
	net_pump(&n);
	do_tsp(&n, N_T2, 0, sl_tsp_leg_connected);
	net_pump(&n);
	CHECK(find_ev(&n, N_B, SL_CALL_ACT_CONNECTED));
	CHECK_EQ(sl_tsp_leg_courier_keys(n.t2, kt), -EINVAL);
	CHECK_EQ(sl_call_courier_keys(n.b, ke), -EINVAL);
out:
	sl_wipe(kt, sizeof(kt));
	sl_wipe(ke, sizeof(ke));
	net_free(&n);
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

/* Every engine above gave its secure memory back. */
TEST(secrets_given_back)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	call_world_start(argc, argv);
	RUN(message_lengths);
	RUN(config_checked);
	RUN(full_call);
	RUN(deposit_and_collect);
	RUN(held_delivery);
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
	RUN(secrets_given_back);
	return call_world_finish();
}
