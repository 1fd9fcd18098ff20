// SPDX-License-Identifier: GPL-2.0
/*
 * The handshake engine (agent/proto/hs_*.c) in the world of hs_world.h:
 * pairing. Operators who confirm, refuse, type the code wrong, late or
 * never, leave or join; a man in the middle whose SAS differs, a broken
 * commitment, a forged PAIR_EPHEMERAL; the operator's window with roles
 * in any order; a stored pairing never replaced silently.
 */
#include "hs_world.h"

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

/* ---- Secure memory ----------------------------------------------- */

TEST(secure_memory_not_leaked)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	world_setup(argc, argv);

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
	RUN(secure_memory_not_leaked);
	return check_summary();
}
