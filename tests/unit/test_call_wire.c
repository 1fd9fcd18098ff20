// SPDX-License-Identifier: GPL-2.0
/*
 * Call setup through a TSP (agent/proto/call*.c) against an independent
 * Noise_XK party (call_world.h) playing a fake T or a fake E: every byte of
 * both legs against handshake.rst's layouts, authentic messages with
 * invalid content, the TSP's strict authentication, the retransmission
 * schedule, secrets wiped on abort, many legs at once.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "crypto.h"
#include "call.h"
#include "noise.h"
#include "agent_test.h"
#include "call_world.h"

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

	/* The answerer's leg: CALL_AUTH 83, OFFER 44, ACCEPT 23. */
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
	CHECK_EQ(n.cap[3].len, 44);
	CHECK_EQ(n.cap[3].b[1], 0x34);
	CHECK_EQ(n.cap[3].b[6], 0);
	CHECK_EQ(sl_noise_open(ft.c2->k, 0, n.cap[3].b, 7, n.cap[3].b + 7,
			       37, pl), 0);
	CHECK_MEM(pl, ACC_C, 12);
	CHECK_HEX(pl + 12, 8, "1122334455667788");
	CHECK_EQ(pl[20], 0);			/* flags: a call */
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
	uint8_t pl[21];

	memset(pl, 0, sizeof(pl));
	pl[0] = 7;				/* unknown status */
	fake_t_sends(false, pl, 9, SL_MSG_CALL_STATUS, 0, true);
	pl[0] = 0;
	fake_t_sends(false, pl, 9, SL_MSG_CALL_STATUS, 0, true);
	pl[0] = SL_CALL_STATUS_DIALLING;	/* dialling to an answerer */
	fake_t_sends(true, pl, 9, SL_MSG_CALL_STATUS, 0, true);
	memcpy(pl, "00000000000A", 12);		/* offer: bad digits */
	fake_t_sends(true, pl, 21, SL_MSG_CALL_OFFER, 0, true);
	memcpy(pl, "000000000001", 12);		/* offer: unknown flags */
	pl[20] = 0x02;
	fake_t_sends(true, pl, 21, SL_MSG_CALL_OFFER, 0, true);
	pl[20] = 0;				/* an offer to a caller */
	fake_t_sends(false, pl, 21, SL_MSG_CALL_OFFER, 0, false);
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
	pl[0] = 5;				/* unknown purpose */
	fake_e_auth(pl, 25, false);
	pl[0] = 0;
	fake_e_auth(pl, 25, false);
	pl[0] = 2;				/* purpose 2, 25 bytes */
	fake_e_auth(pl, 25, false);
	pl[0] = 4;				/* purpose 4 (collect), 25 */
	fake_e_auth(pl, 25, false);
	pl[0] = 3;				/* purpose 3 (deposit), 13 */
	fake_e_auth(pl, 13, false);
	pl[0] = 3;				/* deposit names a recipient */
	fake_e_auth(pl, 25, true);
	pl[0] = 4;
	fake_e_auth(pl, 13, true);
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

/* Every engine above gave its secure memory back. */
TEST(secrets_given_back)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	call_world_start(argc, argv);
	RUN(byte_layouts);
	RUN(authentic_invalid_content);
	RUN(tsp_strict_auth);
	RUN(retransmission_schedule);
	RUN(abort_wipes);
	RUN(many_legs);
	RUN(secrets_given_back);
	return call_world_finish();
}
