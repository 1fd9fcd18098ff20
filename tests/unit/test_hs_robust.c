// SPDX-License-Identifier: GPL-2.0
/*
 * The handshake engine (agent/proto/hs_*.c) in the world of hs_world.h:
 * what the line, an attacker and local failures do to it. NAKs sent and
 * forged; messages lost, duplicated, replayed, damaged, out of order or
 * stale; retransmission and deadlines; crossing first messages; failures
 * of SET_KEY and the key store, abort, status, key expiry; and no
 * account in clear on the line.
 */
#include "hs_world.h"

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

/* ---- Secure memory ----------------------------------------------- */

TEST(secure_memory_not_leaked)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	world_setup(argc, argv);

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
