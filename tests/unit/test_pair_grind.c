// SPDX-License-Identifier: GPL-2.0
/*
 * A man in the middle who grinds the SAS, as an attacker would do it:
 * two real ends (agent/proto/hs_*.c engines, A pairing with B) and,
 * between them, tests/line/mitm.c (the same engines on both legs) with
 * grind.c choosing its static keys late, knowing B's static public key
 * and account, with 2^16 candidate keys per leg.
 *
 * The check that must hold, applied to both SAS definitions:
 *
 *   no pair of the attacker's keys gives the two operators equal codes
 *   (beyond the chance 2^-25 of a single guess).
 *
 * It holds for version 2's SAS (commit, e_R, e_I), and it must fail for
 * version 1's (the whole transcript, static keys and accounts included):
 * kept that way so that the property stays checked, not just assumed.
 * That the grinder's transcripts are the real ones is checked too: the
 * messages it predicts for its chosen keys are, byte for byte, the ones
 * on the wire, B's own PAIR_FINISH included. Then the real ends: B's
 * operator types the code A shows and it is refused; nothing is stored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "crypto.h"
#include "frame.h"
#include "handshake.h"
#include "mitm.h"
#include "agent_test.h"

#define CANDIDATES	(1u << 16)
#define QMAX		64

struct end {
	struct sl_hs *hs;
	uint8_t *priv;
	uint8_t pub[32];
	char account[13];
	char sas[6];
	int shown, asked, stored, failed;
	uint64_t timer;
	/* The last message of each type it received and sent. */
	uint8_t rx[256][SL_HS_MAX_MSG], tx[256][SL_HS_MAX_MSG];
};

struct wmsg {
	int to;			/* 0: A, 1: B, 2: the man in the middle */
	int from;		/* for the man in the middle: SL_MITM_LEG_* */
	uint8_t b[SEALINE_FRAME_MAX_WIRE];
	size_t len;
};

static struct end E[2];
static struct wmsg Q[QMAX];
static unsigned int qh, qt;
static uint64_t now = 1000;

static void push(const struct wmsg *m)
{
	if (CHECK(qt - qh < QMAX))
		Q[qt++ % QMAX] = *m;
}

/* The man in the middle's frames, as the line delivers them. */
static void mitm_emit(void *ctx, int towards, const uint8_t *wire, size_t len)
{
	struct wmsg m = { .to = towards == SL_MITM_LEG_A ? 0 : 1 };

	(void)ctx;
	/* One frame between delimiters (a leading 0x00 may precede it). */
	while (len && !wire[0]) {
		wire++;
		len--;
	}
	if (len && !wire[len - 1])
		len--;
	if (!CHECK(len <= sizeof(m.b)))
		return;
	memcpy(m.b, wire, len);
	m.len = len;
	push(&m);
}

static void mitm_log(void *ctx, const char *text)
{
	(void)ctx;
	if (getenv("GRIND_DEBUG"))
		printf("  mitm: %s\n", text);
}

/* An end's actions: its messages go to the man in the middle. */
static void apply(int i, struct sl_hs_actions *out)
{
	struct end *e = &E[i];

	e->timer = out->next_timer;
	for (unsigned int j = 0; j < out->n; j++) {
		const struct sl_hs_action *a = &out->a[j];
		uint8_t raw[SEALINE_HDR_LEN + SL_HS_MAX_MSG + SEALINE_CRC_LEN];
		struct wmsg m = { .to = 2, .from = i };

		switch (a->type) {
		case SL_HS_ACT_SEND:
			memcpy(e->tx[a->send.type], a->send.msg, a->send.len);
			m.len = sealine_cobs_encode(raw,
					sealine_control_build(raw, a->send.msg,
							      a->send.len),
					m.b);
			push(&m);
			break;
		case SL_HS_ACT_SHOW_SAS:
			memcpy(e->sas, a->sas.sas, 6);
			e->shown++;
			break;
		case SL_HS_ACT_ASK_SAS:
			e->asked++;
			break;
		case SL_HS_ACT_STORE_PEER:
			e->stored++;
			break;
		case SL_HS_ACT_FAILED:
			e->failed++;
			break;
		default:
			break;
		}
	}
	sl_hs_actions_done(e->hs);
}

static void deliver(struct sl_mitm *mitm)
{
	while (qh != qt) {
		struct wmsg m = Q[qh++ % QMAX];
		uint8_t buf[SEALINE_FRAME_MAX_WIRE];
		struct sealine_frame f;
		struct sl_hs_actions out;
		long raw;

		if (m.to == 2) {
			CHECK(sl_mitm_frame(mitm, m.from, m.b, m.len, now));
			continue;
		}
		memcpy(buf, m.b, m.len);
		raw = sealine_cobs_decode(buf, m.len);
		if (!CHECK(raw > 0 && !sealine_frame_parse(buf, (size_t)raw,
							   &f)))
			continue;
		memcpy(E[m.to].rx[f.body[1]], f.body, f.body_len);
		CHECK_EQ(sl_hs_input(E[m.to].hs, f.body, f.body_len, now,
				     &out), 0);
		apply(m.to, &out);
	}
}

static void end_init(int i, const char *account, bool responder)
{
	struct end *e = &E[i];
	struct sl_hs_config c = { 0 };
	int err;

	memset(e, 0, sizeof(*e));
	e->priv = sl_secure_alloc(32);
	if (!e->priv || sl_x25519_keypair(e->priv, e->pub))
		abort();
	snprintf(e->account, sizeof(e->account), "%s", account);
	memcpy(c.account, account, 12);
	c.static_priv = e->priv;
	c.pair_enabled = responder;
	e->hs = sl_hs_new(&c, &err);
	if (!e->hs)
		abort();
}

static void end_free(int i)
{
	sl_hs_free(E[i].hs);
	sl_secure_free(E[i].priv, 32);
	memset(&E[i], 0, sizeof(E[i]));
}

/* The property, for one SAS definition: no pair of keys fools both. */
static bool grinding_fails(const struct sl_mitm_grind_result *r, bool old)
{
	return !(old ? r->found_old : r->found_new);
}

TEST(grinding_man_in_the_middle)
{
	const struct sl_mitm_grind_result *r;
	struct sl_hs_pair_opts o = { .initiate = true, .until = now + 600000 };
	struct sl_hs_actions out;
	struct sl_mitm *mitm;
	char err[128];

	end_init(0, "314159265358", false);
	end_init(1, "271828182845", true);
	mitm = sl_mitm_new(E[0].account, E[1].account, mitm_emit, mitm_log,
			   NULL, err, sizeof(err));
	if (!CHECKF(mitm, "%s", err))
		goto out;
	CHECK_EQ(sl_mitm_grind(mitm, CANDIDATES, E[1].pub), 0);

	/* A's operator pairs; the man in the middle answers both ends. */
	CHECK_EQ(sl_hs_pair(E[0].hs, &o, now, &out), 0);
	apply(0, &out);
	deliver(mitm);
	r = sl_mitm_grind_result(mitm);
	if (!CHECK(r->done))
		goto out;
	CHECK_EQ(r->n, CANDIDATES);

	/* The property holds for version 2 and fails for version 1. */
	CHECK(grinding_fails(r, false));
	CHECKF(!grinding_fails(r, true),
	       "the version 1 SAS resisted %u keys per leg", r->n);
	/* 2^32 pairs of keys over 2^25 codes: about 128 by chance. */
	CHECKF(r->pairs_old >= 16 && r->pairs_old <= 1024,
	       "%llu pairs", (unsigned long long)r->pairs_old);
	printf("  %u keys per leg: %llu pairs give equal version 1 codes; "
	       "the version 2 codes are %s and %s whatever the keys\n", r->n,
	       (unsigned long long)r->pairs_old, r->sas_new_a, r->sas_new_b);

	/* The grinder's transcripts are the real ones, byte for byte. */
	CHECK_MEM(E[0].rx[SL_MSG_PAIR_FINISH], r->finish_a, 82);
	CHECK_MEM(E[1].rx[SL_MSG_PAIR_REVEAL], r->reveal_b, 114);
	CHECK_MEM(E[1].tx[SL_MSG_PAIR_FINISH], r->predicted_b, 82);

	/* The ends: A shows leg A's code, B's operator types it: refused. */
	CHECK_EQ(E[0].shown, 1);
	CHECK(!strcmp(E[0].sas, r->sas_new_a));
	CHECK_EQ(E[1].asked, 1);
	for (int t = 0; t < 3; t++) {
		CHECK_EQ(sl_hs_sas_typed(E[1].hs, E[0].sas, now, &out), 0);
		apply(1, &out);
	}
	CHECK_EQ(E[1].asked, 3);
	CHECK_EQ(E[1].failed, 1);
	CHECK_EQ(E[0].stored + E[1].stored, 0);
out:
	sl_mitm_free(mitm);
	end_free(0);
	end_free(1);
}

TEST(secure_memory_not_leaked)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	init_or_die(0);
	secmem_measure_baseline();
	RUN(grinding_man_in_the_middle);
	RUN(secure_memory_not_leaked);
	return check_summary();
}
