// SPDX-License-Identifier: GPL-2.0
/*
 * The handshake engine (agent/proto/hs_*.c) in the world of hs_world.h:
 * sessions and rekeys. Fresh keys, the cipher and epoch chosen, rekeys
 * on the timer and on request, SESSION_CLOSE, leftover staged epochs;
 * sessions refused; authentic messages with invalid content (step 6),
 * pairing's included.
 */
#include "hs_world.h"

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

/* R activated the rekey; SESSION_DONE lost, the keepalive arrived: I's
 * kernel has promoted E, which GET_LINE tells at the next RTO. */
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

/* ---- Secure memory ----------------------------------------------- */

TEST(secure_memory_not_leaked)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	world_setup(argc, argv);

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
	RUN(secure_memory_not_leaked);
	return check_summary();
}
