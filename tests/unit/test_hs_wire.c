// SPDX-License-Identifier: GPL-2.0
/*
 * The handshake engine (agent/proto/hs_*.c) in the world of hs_world.h:
 * what it puts on the line. The message table, the configuration it
 * refuses, fixed vectors, and version negotiation.
 *
 * Fixed vectors: tests/vectors/handshake_v2.py, an independent Python
 * implementation of Documentation/handshake.rst, generated the expected
 * messages and keys of a pairing, a session and a rekey from the inputs
 * below; the C engines must reproduce them byte for byte.
 */
#include "hs_world.h"

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
#define VEC_SESSION_C_I2R "822f5858b3f17cb4aaf9f39b3eb9d9745ebe21c812ea8896584678ec2704fb70"
#define VEC_SESSION_K_R2I "a1318a15976ddcfe004f1eee7f89ed179426357fe9c57253879e466548ccdf83"
#define VEC_SESSION_C_R2I "3d3eb6d04f5ff1a1da1010e66404dc7cdddb643bdb82cbec1774c85133611f7d"
#define VEC_SESSION_EPOCH 1
#define VEC_SESSION_CIPHER 2
#define VEC_REKEY_K_I2R "8d9d16bc888e21e5b60157f6e41c15ab51aef0524393f0d006e11bf9d5e5c0e4"
#define VEC_REKEY_C_I2R "575a17635619f16a9a2d1223ddef76312c05eea817ca1c96957b96fe750dad87"
#define VEC_REKEY_K_R2I "72db3b479a852028f8db752f00ea165b0f09ffc25f8c40c11cee76ad70d5a6a3"
#define VEC_REKEY_C_R2I "ec99079535a5b9b1a3090153ee6ad714add9fc30a13841ebe50571867249e6f0"
#define VEC_REKEY_EPOCH 2
#define VEC_REKEY_CIPHER 2

/* The vectors' inputs: every key is SHA-256("sealine test vector " label). */
#define VEC_ACCOUNT_I	"123456789012"
#define VEC_ACCOUNT_R	"210987654321"

/* The vector inputs: SHA-256("sealine test vector " label). */
static void vec_key(uint8_t out[32], const char *label)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "sealine test vector %s", label);
	if (sl_sha256(out, buf, strlen(buf)))
		abort();
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
		{ 0x34, 44 }, { 0x35, 23 },
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
	/* The courier's keys of the session, with the handshake's hsid. */
	CHECK_HEX(a->k.cur.courier_tx, 32, VEC_SESSION_C_I2R);
	CHECK_HEX(a->k.cur.courier_rx, 32, VEC_SESSION_C_R2I);
	CHECK_HEX(b->k.cur.courier_tx, 32, VEC_SESSION_C_R2I);
	CHECK_HEX(b->k.cur.courier_rx, 32, VEC_SESSION_C_I2R);
	CHECK_EQ(a->k.cur.hsid, 0x5ea11e02u);
	CHECK_EQ(b->k.cur.hsid, 0x5ea11e02u);

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
	CHECK_HEX(a->k.cur.courier_tx, 32, VEC_REKEY_C_I2R);
	CHECK_HEX(b->k.cur.courier_tx, 32, VEC_REKEY_C_R2I);
	CHECK_EQ(b->k.cur.hsid, 0x5ea11e03u);
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

/* ---- Secure memory ----------------------------------------------- */

TEST(secure_memory_not_leaked)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	world_setup(argc, argv);

	RUN(message_table);
	RUN(config_checked);
	RUN(vectors_pairing_session_rekey);
	RUN(pairing_sas_ignores_identities);
	RUN(version_negotiation);
	RUN(version_old_pairing_refused);
	RUN(version_nak_changes_nothing_lasting);
	RUN(version_fields_checked);
	RUN(secure_memory_not_leaked);
	return check_summary();
}
