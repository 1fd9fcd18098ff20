// SPDX-License-Identifier: GPL-2.0
/*
 * The Noise core of sealined (agent/proto/noise.c) against the published
 * Cacophony vectors for the three protocols it implements
 * (tests/vectors/noise-cacophony.json), and its properties: reads and
 * writes that fail leave the state untouched, low-order keys are refused,
 * message lengths, and secure memory given back.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "crypto.h"
#include "noise.h"
#include "agent_test.h"

struct vector {
	const char *name;
	enum sl_noise_pattern pattern;
	const char *prologue;
	const char *init_static, *init_ephemeral, *init_remote_static;
	const char *resp_static, *resp_ephemeral, *resp_remote_static;
	const char *psk;
	const char *handshake_hash;
	struct {
		const char *payload, *ciphertext;
	} msgs[6];
};

/* Generated from tests/vectors/noise-cacophony.json. */
static const struct vector vectors[] = {
	{
		.name = "Noise_XX_25519_ChaChaPoly_SHA256",
		.pattern = SL_NOISE_XX,
		.prologue = "4a6f686e2047616c74",
		.init_static =
			"e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
		.init_ephemeral =
			"893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
		.resp_static =
			"4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
		.resp_ephemeral =
			"bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
		.handshake_hash =
			"c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e",
		.msgs = {
			{ "4c756477696720766f6e204d69736573",
			  "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
			  "4c756477696720766f6e204d69736573" },
			{ "4d757272617920526f746862617264",
			  "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
			  "81cbad1f276e038c48378ffce2b65285e08d6b68aaa3629a5a8639392490e5b9"
			  "bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f"
			  "8814c7194e83f23dbd8d162c9326ad" },
			{ "462e20412e20486179656b",
			  "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a8"
			  "0ae475b9df0f169ae80a89be0865b57f58c9fea0d4ec82a286427402f113e4b6"
			  "ae769a1d95941d49b25030" },
			{ "4361726c204d656e676572",
			  "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df" },
			{ "4a65616e2d426170746973746520536179",
			  "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07"
			  "f5" },
			{ "457567656e2042f6686d20766f6e2042617765726b",
			  "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3"
			  "a58502ae3f" },
		},
	},
	{
		.name = "Noise_KKpsk0_25519_ChaChaPoly_SHA256",
		.pattern = SL_NOISE_KKPSK0,
		.prologue = "4a6f686e2047616c74",
		.init_static =
			"e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
		.init_ephemeral =
			"893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
		.init_remote_static =
			"31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62",
		.resp_static =
			"4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
		.resp_ephemeral =
			"bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
		.resp_remote_static =
			"6bc3822a2aa7f4e6981d6538692b3cdf3e6df9eea6ed269eb41d93c22757b75a",
		.psk =
			"54686973206973206d7920417573747269616e20706572737065637469766521",
		.handshake_hash =
			"32afcdbb63cf90f25409090bc11f7546c534dfb03f37c1626a0cf758881e746f",
		.msgs = {
			{ "4c756477696720766f6e204d69736573",
			  "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
			  "23f19812300a6051f02195db0722909fc920796814cfc886ab3a8083c66a5961" },
			{ "4d757272617920526f746862617264",
			  "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
			  "20acfe866b4ede922f007d89dbf507216d6aa8646c7fba098da374b1784d4b" },
			{ "462e20412e20486179656b",
			  "d213fdd768eeef05ee236c6d2983b2029bb472567a5831f4ff592c" },
			{ "4361726c204d656e676572",
			  "facf98016edcfc2566b16866935329b4da833dcd3bbb4173cf638e" },
			{ "4a65616e2d426170746973746520536179",
			  "f46e7b19ebc94d697afc64b7f7d78d9b89276a6fbd438985d68c5d0261f4d4b7"
			  "74" },
			{ "457567656e2042f6686d20766f6e2042617765726b",
			  "84119bc1a1a5f97a338c7affb30242cf3111e95c41a07d5e289b160015156a93"
			  "cb70e8e73d" },
		},
	},
	{
		.name = "Noise_XK_25519_ChaChaPoly_SHA256",
		.pattern = SL_NOISE_XK,
		.prologue = "4a6f686e2047616c74",
		.init_static =
			"e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
		.init_ephemeral =
			"893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
		.init_remote_static =
			"31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62",
		.resp_static =
			"4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
		.resp_ephemeral =
			"bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
		.handshake_hash =
			"cefffc5d1074126cc980ebfe902587ff36ba61dc77d4447ebe0f96dc22ae59d7",
		.msgs = {
			{ "4c756477696720766f6e204d69736573",
			  "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
			  "a3785af283c991bab613473804356ef6931f83acf64f99c274b93570857cfc5e" },
			{ "4d757272617920526f746862617264",
			  "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
			  "3a4534805fa9fe4eb8343ace6609160c767ad9b832e8eea1d9b7a2111818dd" },
			{ "462e20412e20486179656b",
			  "5d8e67b9c1b8e36f5dc674bc5cd2ce243fb5d1710fa57de0370da7cc97901539"
			  "8eaad94603b05498ba9a613d2fd923dcaa6fd4288dfd8d70f419bf737efb4cd3"
			  "7f5da37ebb728849318c82" },
			{ "4361726c204d656e676572",
			  "3205e1265f809505e6edc092839d3156745d2abafbfd946b261e41" },
			{ "4a65616e2d426170746973746520536179",
			  "470bcb1ae099555ff0d729500df550418d6ee5149d9e40bd2f4c6b3d263cc818"
			  "d5" },
			{ "457567656e2042f6686d20766f6e2042617765726b",
			  "d7187ed9d217ba6e91cf596e4871012ccedf7b5bed0d4cb8f7affb020fa17a95"
			  "a23371e0f6" },
		},
	},
};

/* Secure copies of a vector's keys; NULL where the vector has none. */
struct keys {
	uint8_t *s, *e, *rs, *psk;
};

static uint8_t *secure_hex(const char *hex)
{
	uint8_t *p;

	if (!hex)
		return NULL;
	p = sl_secure_alloc(32);
	if (!p || unhex(p, 32, hex) != 32)
		abort();
	return p;
}

static void keys_free(struct keys *k)
{
	sl_secure_free(k->s, 32);
	sl_secure_free(k->e, 32);
	sl_secure_free(k->rs, 32);
	sl_secure_free(k->psk, 32);
}

static void run_vector(const struct vector *v)
{
	struct sl_noise_hs *hs[2];
	struct sl_noise_cipher *c[2][2];	/* [side][c1, c2] */
	struct keys k[2] = {
		{ secure_hex(v->init_static), secure_hex(v->init_ephemeral),
		  secure_hex(v->init_remote_static), secure_hex(v->psk) },
		{ secure_hex(v->resp_static), secure_hex(v->resp_ephemeral),
		  secure_hex(v->resp_remote_static), secure_hex(v->psk) },
	};
	uint8_t prologue[64], payload[256], msg[512], got[256];
	size_t prologue_len = unhex(prologue, sizeof(prologue), v->prologue);
	unsigned int i;

	for (int s = 0; s < 2; s++) {
		hs[s] = sl_secure_alloc(sizeof(*hs[s]));
		c[s][0] = sl_secure_alloc(sizeof(*c[s][0]));
		c[s][1] = sl_secure_alloc(sizeof(*c[s][1]));
		struct sl_noise_keys nk = {
			.s = k[s].s, .e = k[s].e, .rs = k[s].rs,
			.psk = k[s].psk,
		};
		if (!CHECK_EQ(sl_noise_hs_init(hs[s], v->pattern, s == 0,
					       prologue, prologue_len, &nk), 0))
			goto out;
	}
	for (i = 0; i < 6; i++) {
		int from = i % 2, to = 1 - from;
		size_t plen = unhex(payload, sizeof(payload),
				    v->msgs[i].payload), mlen, glen;

		if (!sl_noise_hs_done(hs[from])) {
			CHECK_EQ(sl_noise_msg_len(hs[from], plen),
				 strlen(v->msgs[i].ciphertext) / 2);
			if (!CHECKF(!sl_noise_write(hs[from], payload, plen,
						    msg, sizeof(msg), &mlen),
				    "%s: write %u", v->name, i))
				goto out;
			CHECK_HEX(msg, mlen, v->msgs[i].ciphertext);
			if (!CHECKF(!sl_noise_read(hs[to], msg, mlen, got,
						   sizeof(got), &glen),
				    "%s: read %u", v->name, i))
				goto out;
			if (CHECK_EQ(glen, plen))
				CHECK_MEM(got, payload, plen);
			if (sl_noise_hs_done(hs[to])) {
				CHECK(sl_noise_hs_done(hs[from]));
				for (int s = 0; s < 2; s++) {
					CHECK_HEX(hs[s]->ss.h, 32,
						  v->handshake_hash);
					CHECK_EQ(sl_noise_split(hs[s], c[s][0],
								c[s][1]), 0);
				}
				CHECK_MEM(c[0][0]->k, c[1][0]->k, 32);
				CHECK_MEM(c[0][1]->k, c[1][1]->k, 32);
			}
			continue;
		}
		/* Transport: the initiator sends with c1, the other c2. */
		mlen = plen + SL_NOISE_TAG_LEN;
		CHECK_EQ(sl_noise_encrypt(c[from][from], NULL, 0, payload,
					  plen, msg), 0);
		CHECK_HEX(msg, mlen, v->msgs[i].ciphertext);
		CHECK_EQ(sl_noise_decrypt(c[to][from], NULL, 0, msg, mlen,
					  got), 0);
		CHECK_MEM(got, payload, plen);
	}
out:
	for (int s = 0; s < 2; s++) {
		sl_secure_free(hs[s], sizeof(*hs[s]));
		sl_secure_free(c[s][0], sizeof(*c[s][0]));
		sl_secure_free(c[s][1], sizeof(*c[s][1]));
		keys_free(&k[s]);
	}
}

TEST(cacophony_xx)
{
	run_vector(&vectors[0]);
}

TEST(cacophony_kkpsk0)
{
	run_vector(&vectors[1]);
}

TEST(cacophony_xk)
{
	run_vector(&vectors[2]);
}

TEST(protocol_names)
{
	CHECK(!strcmp(sl_noise_protocol_name(SL_NOISE_XX),
		      "Noise_XX_25519_ChaChaPoly_SHA256"));
	CHECK(!strcmp(sl_noise_protocol_name(SL_NOISE_KKPSK0),
		      "Noise_KKpsk0_25519_ChaChaPoly_SHA256"));
	CHECK(!strcmp(sl_noise_protocol_name(SL_NOISE_XK),
		      "Noise_XK_25519_ChaChaPoly_SHA256"));
	CHECK(sl_noise_protocol_name(0) == NULL);
	CHECK(sl_noise_protocol_name(4) == NULL);
}

TEST(nonce_layout)
{
	uint8_t n[12];

	sl_noise_nonce(n, 0x0102030405060708ULL);
	CHECK_HEX(n, 12, "00000000 0807060504030201");
}

/* Two fresh sides of a pattern with random static keys and a psk. */
struct pair {
	struct sl_noise_hs *hs[2];
	uint8_t *s[2], *pub[2], *psk;
};

static void pair_init(struct pair *p, enum sl_noise_pattern pat,
		      const uint8_t *e_init)
{
	for (int i = 0; i < 2; i++) {
		p->hs[i] = sl_secure_alloc(sizeof(*p->hs[i]));
		p->s[i] = sl_secure_alloc(32);
		p->pub[i] = sl_secure_alloc(32);
		if (!p->hs[i] || !p->s[i] || !p->pub[i] ||
		    sl_x25519_keypair(p->s[i], p->pub[i]))
			abort();
	}
	p->psk = sl_secure_alloc(32);
	check_fill_random(p->psk, 32);
	for (int i = 0; i < 2; i++) {
		struct sl_noise_keys k = {
			.s = p->s[i], .rs = p->pub[1 - i], .psk = p->psk,
			.e = i == 0 ? e_init : NULL,
		};
		if (sl_noise_hs_init(p->hs[i], pat, i == 0, "pro", 3, &k))
			abort();
	}
}

static void pair_free(struct pair *p)
{
	for (int i = 0; i < 2; i++) {
		sl_secure_free(p->hs[i], sizeof(*p->hs[i]));
		sl_secure_free(p->s[i], 32);
		sl_secure_free(p->pub[i], 32);
	}
	sl_secure_free(p->psk, 32);
}

/* The message sizes sealine's layouts are built on. */
TEST(message_lengths)
{
	static const struct {
		enum sl_noise_pattern pat;
		size_t payload[3], len[3];
	} t[] = {
		{ SL_NOISE_XX, { 0, 12, 12 }, { 32, 32 + 48 + 28, 48 + 28 } },
		{ SL_NOISE_KKPSK0, { 8, 9 }, { 32 + 24, 32 + 25 } },
		{ SL_NOISE_XK, { 0, 0, 25 }, { 48, 48, 48 + 41 } },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pair p;
		uint8_t msg[256], pl[64] = { 0 }, got[64];
		size_t n, g;

		pair_init(&p, t[i].pat, NULL);
		for (int m = 0; m < 3 && t[i].len[m]; m++) {
			struct sl_noise_hs *w = p.hs[m % 2], *r = p.hs[1 - m % 2];

			CHECK_EQ(sl_noise_msg_len(w, t[i].payload[m]),
				 t[i].len[m]);
			CHECK_EQ(sl_noise_write(w, pl, t[i].payload[m], msg,
						sizeof(msg), &n), 0);
			CHECK_EQ(n, t[i].len[m]);
			/* Out of turn. */
			CHECK_EQ(sl_noise_write(r, pl, 0, msg, sizeof(msg), &n),
				 -EINVAL);
			CHECK_EQ(sl_noise_read(r, msg, t[i].len[m], got,
					       sizeof(got), &g), 0);
			CHECK_EQ(g, t[i].payload[m]);
		}
		CHECK(sl_noise_hs_done(p.hs[0]) && sl_noise_hs_done(p.hs[1]));
		CHECK_EQ(sl_noise_msg_len(p.hs[0], 0), 0);
		CHECK_MEM(p.hs[0]->ss.h, p.hs[1]->ss.h, 32);
		CHECK_MEM(p.hs[0]->ss.ck, p.hs[1]->ss.ck, 32);
		pair_free(&p);
	}
}

/*
 * A damaged message fails and leaves the reader exactly as it was, so
 * the genuine one is read afterwards; so does one of the wrong length.
 */
TEST(failed_read_changes_nothing)
{
	static const enum sl_noise_pattern pats[] = {
		SL_NOISE_XX, SL_NOISE_KKPSK0, SL_NOISE_XK
	};

	for (size_t pi = 0; pi < 3; pi++) {
		struct pair p;
		uint8_t msg[256], bad[256], got[64];
		struct sl_noise_hs *before = sl_secure_alloc(sizeof(*before));
		size_t n, g;

		pair_init(&p, pats[pi], NULL);
		for (int m = 0; !sl_noise_hs_done(p.hs[0]); m++) {
			struct sl_noise_hs *w = p.hs[m % 2], *r = p.hs[1 - m % 2];

			CHECK_EQ(sl_noise_write(w, (const uint8_t *)"abc", 3,
						msg, sizeof(msg), &n), 0);
			memcpy(before, r, sizeof(*before));
			for (size_t i = 0; i < n; i++) {
				int err;

				memcpy(bad, msg, n);
				bad[i] ^= (uint8_t)(1 + check_below(255));
				err = sl_noise_read(r, bad, n, got, sizeof(got),
						    &g);
				/* XX message 1 has no tag: anything reads. */
				if (pats[pi] == SL_NOISE_XX && m == 0) {
					CHECK_EQ(err, 0);
					memcpy(r, before, sizeof(*r));
					continue;
				}
				CHECKF(err == -EBADMSG || err == -EKEYREJECTED,
				       "pattern %zu msg %d byte %zu: %d", pi,
				       m, i, err);
				CHECK(!memcmp(before, r, sizeof(*r)));
			}
			CHECK_EQ(sl_noise_read(r, msg, n - 1, got, sizeof(got),
					       &g), m == 0 && pats[pi] ==
				 SL_NOISE_XX ? 0 : -EBADMSG);
			memcpy(r, before, sizeof(*r));
			CHECK_EQ(sl_noise_read(r, msg, 10, got, sizeof(got), &g),
				 -EMSGSIZE);
			CHECK(!memcmp(before, r, sizeof(*r)));
			CHECK_EQ(sl_noise_read(r, msg, n, got, sizeof(got), &g),
				 0);
			CHECK(g == 3 && !memcmp(got, "abc", 3));
		}
		CHECK_MEM(p.hs[0]->ss.h, p.hs[1]->ss.h, 32);
		sl_secure_free(before, sizeof(*before));
		pair_free(&p);
	}
}

/* A low-order ephemeral key: the DH fails, nothing changes. */
TEST(low_order_refused)
{
	/* u = 0 and u = 1 are of small order (RFC 7748 section 6.1). */
	static const uint8_t zero[32], one[32] = { 1 };
	const uint8_t *bad[] = { zero, one };

	for (int b = 0; b < 2; b++) {
		struct pair p;
		uint8_t msg[256], got[64];
		size_t n, g;
		struct sl_noise_hs *before = sl_secure_alloc(sizeof(*before));

		/* XX: the responder reads e, then writes ee: its write fails. */
		pair_init(&p, SL_NOISE_XX, NULL);
		CHECK_EQ(sl_noise_write(p.hs[0], NULL, 0, msg, sizeof(msg),
					&n), 0);
		memcpy(msg, bad[b], 32);
		CHECK_EQ(sl_noise_read(p.hs[1], msg, n, got, sizeof(got), &g),
			 0);
		memcpy(before, p.hs[1], sizeof(*before));
		CHECK_EQ(sl_noise_write(p.hs[1], NULL, 0, msg, sizeof(msg),
					&n), -EKEYREJECTED);
		CHECK(!memcmp(before, p.hs[1], sizeof(*before)));
		pair_free(&p);

		/* KK: the responder's read of es fails. */
		pair_init(&p, SL_NOISE_KKPSK0, NULL);
		CHECK_EQ(sl_noise_write(p.hs[0], NULL, 0, msg, sizeof(msg),
					&n), 0);
		memcpy(msg, bad[b], 32);
		memcpy(before, p.hs[1], sizeof(*before));
		CHECK_EQ(sl_noise_read(p.hs[1], msg, n, got, sizeof(got), &g),
			 -EKEYREJECTED);
		CHECK(!memcmp(before, p.hs[1], sizeof(*before)));
		pair_free(&p);
		sl_secure_free(before, sizeof(*before));
	}
}

TEST(bad_arguments)
{
	struct sl_noise_hs *hs = sl_secure_alloc(sizeof(*hs));
	uint8_t *s = sl_secure_alloc(32);
	struct sl_noise_keys k = { .s = s };
	struct sl_noise_cipher c1, c2;

	check_fill_random(s, 32);
	CHECK_EQ(sl_noise_hs_init(hs, 0, true, NULL, 0, &k), -EINVAL);
	CHECK_EQ(sl_noise_hs_init(hs, SL_NOISE_XX, true, NULL, 0, NULL),
		 -EINVAL);
	/* KK needs the remote static key and the psk; XK's initiator the
	 * responder's key. */
	CHECK_EQ(sl_noise_hs_init(hs, SL_NOISE_KKPSK0, true, NULL, 0, &k),
		 -EINVAL);
	CHECK_EQ(sl_noise_hs_init(hs, SL_NOISE_XK, true, NULL, 0, &k),
		 -EINVAL);
	CHECK_EQ(sl_noise_hs_init(hs, SL_NOISE_XK, false, NULL, 0, &k), 0);
	CHECK_EQ(sl_noise_split(hs, &c1, &c2), -EINVAL);
	sl_wipe(&c1, sizeof(c1));
	sl_wipe(&c2, sizeof(c2));
	sl_secure_free(hs, sizeof(*hs));
	sl_secure_free(s, 32);
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

	RUN(cacophony_xx);
	RUN(cacophony_kkpsk0);
	RUN(cacophony_xk);
	RUN(protocol_names);
	RUN(nonce_layout);
	RUN(message_lengths);
	RUN(failed_read_changes_nothing);
	RUN(low_order_refused);
	RUN(bad_arguments);
	RUN(secure_memory_not_leaked);
	return check_summary();
}
