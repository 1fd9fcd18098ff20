// SPDX-License-Identifier: GPL-2.0
/*
 * Ed25519 on libgcrypt (sign.c) against RFC 8032, the derived identity
 * key and the receipt (receipt.c) against the independent implementation
 * (envelope_v1.py -> vectors.h), and what a forger would try: change any
 * field, re-sign with his own key, spell the receipt another way, use a
 * malleable signature.
 */
#include "check.h"
#include "crypto.h"
#include "agent_test.h"
#include "courier_test.h"
#include "receipt.h"
#include "sign.h"
#include "vectors.h"

static struct world W;

/* RFC 8032, section 7.1, tests 1 to 3. */
static const struct {
	const char *secret, *public, *msg, *sig;
} RFC8032[] = {
	{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	  "",
	  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
	  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
	{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
	  "72",
	  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
	  "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	{ "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
	  "af82",
	  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
	  "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
};

TEST(ed25519_rfc8032)
{
	for (size_t i = 0; i < sizeof(RFC8032) / sizeof(RFC8032[0]); i++) {
		uint8_t seed[32], msg[8], sig[64], want[64];
		struct sl_sign_key k;
		size_t n;

		unhex(seed, 32, RFC8032[i].secret);
		n = unhex(msg, sizeof(msg), RFC8032[i].msg);
		unhex(want, 64, RFC8032[i].sig);
		if (!CHECK(!sl_sign_key_from_seed(&k, seed)))
			continue;
		CHECK_HEX(k.pub, 32, RFC8032[i].public);
		CHECK(!sl_sign(sig, &k, msg, n));
		CHECKF(!memcmp(sig, want, 64), "test %zu", i + 1);
		CHECK(!sl_sign_verify(k.pub, msg, n, want));
		sl_sign_key_wipe(&k);
		CHECK(k.seed == NULL);
	}
}

TEST(ed25519_refuses_forgeries)
{
	static const uint8_t l[32] = {
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
	};
	uint8_t seed[32], pub[32], msg[2] = { 0xaf, 0x82 }, sig[64], bad[64];
	unsigned int carry = 0;

	unhex(seed, 32, RFC8032[2].secret);
	unhex(pub, 32, RFC8032[2].public);
	unhex(sig, 64, RFC8032[2].sig);
	CHECK(!sl_sign_verify(pub, msg, 2, sig));
	msg[1] ^= 1;
	CHECK_EQ(sl_sign_verify(pub, msg, 2, sig), -EBADMSG);
	msg[1] ^= 1;
	for (int i = 0; i < 64; i += 7) {
		memcpy(bad, sig, 64);
		bad[i] ^= 0x10;
		CHECKF(sl_sign_verify(pub, msg, 2, bad) == -EBADMSG, "byte %d",
		       i);
	}
	pub[3] ^= 1;
	CHECK_EQ(sl_sign_verify(pub, msg, 2, sig), -EBADMSG);
	pub[3] ^= 1;
	/* S + L is the same signature to a lax verifier: refused. */
	memcpy(bad, sig, 64);
	for (int i = 0; i < 32; i++) {
		unsigned int v = bad[32 + i] + l[i] + carry;

		bad[32 + i] = (uint8_t)v;
		carry = v >> 8;
	}
	CHECK_EQ(carry, 0);
	CHECK_EQ(sl_sign_verify(pub, msg, 2, bad), -EBADMSG);
}

TEST(identity_key_derived)
{
	struct sl_sign_key k, again, other;

	CHECK(!sl_sign_key_derive(&k, W.recipient.priv, RECIPIENT_ACCOUNT));
	CHECK_HEX(k.seed, 32, V_SIGN_SEED);
	CHECK_HEX(k.pub, 32, V_SIGN_PUB);
	CHECK(!sl_sign_key_derive(&again, W.recipient.priv,
				  RECIPIENT_ACCOUNT));
	CHECK_MEM(again.pub, k.pub, 32);
	/* Another account or another X25519 key: another identity key. */
	CHECK(!sl_sign_key_derive(&other, W.recipient.priv, SENDER_ACCOUNT));
	CHECK(memcmp(other.pub, k.pub, 32));
	sl_sign_key_wipe(&other);
	CHECK(!sl_sign_key_derive(&other, W.sender.priv, RECIPIENT_ACCOUNT));
	CHECK(memcmp(other.pub, k.pub, 32));
	/* Nor is it the X25519 key itself. */
	CHECK(memcmp(k.seed, W.recipient.priv, 32));
	sl_sign_key_wipe(&other);
	sl_sign_key_wipe(&again);
	sl_sign_key_wipe(&k);
}

static void vector_fields(struct sl_rcpt *r)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < SL_ENV_ID_LEN; i++)
		r->id[i] = (uint8_t)(0x10 + i);
	unhex(r->sha256, 32, V_ENVELOPE_SHA256);
	r->size = V_ENVELOPE_LEN;
	snprintf(r->sender, 13, "%s", SENDER_ACCOUNT);
	snprintf(r->recipient, 13, "%s", RECIPIENT_ACCOUNT);
	r->delivered = 1700000100;
	r->files = 3;
	r->bytes = 70000;
}

TEST(receipt_known_answer)
{
	char text[SL_RCPT_MAX_LEN + 1], why[200];
	struct sl_rcpt r, got;
	struct sl_sign_key k;
	size_t len;

	CHECK(!sl_sign_key_derive(&k, W.recipient.priv, RECIPIENT_ACCOUNT));
	vector_fields(&r);
	CHECK(!sl_rcpt_sign(text, sizeof(text), &len, &r, &k, why,
			    sizeof(why)));
	CHECK_EQ(len, strlen(V_RECEIPT));
	CHECKF(!strcmp(text, V_RECEIPT), "got:\n%s", text);
	CHECK(!sl_rcpt_verify(&got, V_RECEIPT, strlen(V_RECEIPT), k.pub, why,
			      sizeof(why)));
	CHECK(!memcmp(&got, &r, sizeof(r)));
	/* Without an expected key it checks against the key it names. */
	CHECK(!sl_rcpt_verify(&got, text, len, NULL, why, sizeof(why)));
	sl_sign_key_wipe(&k);
}

/* The receipt with line `line` (0-based) given another value. */
static size_t with_value(char *out, const char *text, int line,
			 const char *value)
{
	const char *p = text;
	size_t n = 0;

	for (int i = 0; i < line; i++)
		p = strchr(p, '\n') + 1;
	n = (size_t)(p - text);
	memcpy(out, text, n);
	n += (size_t)sprintf(out + n, "%.*s %s\n",
			     (int)(strchr(p, ' ') - p), p, value);
	p = strchr(p, '\n') + 1;
	strcpy(out + n, p);
	return strlen(out);
}

TEST(receipt_any_field_changed)
{
	static const char *const values[] = {
		NULL,
		"101112131415161718191a1b1c1d1e10",
		"062e4ac17b522b1b592d33910e6e368d8bf59137282a5529eb6d217f56c00ffd",
		"70186",
		"000000000009",
		"000000000009",
		"2023-11-14T22:15:01Z",
		"4",
		"69999",
		"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
		"00c3834400eb08073613bed427b1f0093fa8d508490deb7e522631fccd1e161c"
		"8c8ae38e0f71f413e846f8b2dbbb87368c2ea07e78a8e56e3576d39bda89f007",
	};
	char text[SL_RCPT_MAX_LEN * 2], why[200];
	uint8_t pub[32];
	struct sl_rcpt r;

	unhex(pub, 32, V_SIGN_PUB);
	for (int line = 1; line < 11; line++) {
		size_t len = with_value(text, V_RECEIPT, line, values[line]);
		int want = line == 9 ? -EKEYREJECTED : -EBADMSG;

		CHECKF(sl_rcpt_verify(&r, text, len, pub, why, sizeof(why)) ==
		       want, "line %d: %s", line + 1, why);
	}
	/* A flipped bit anywhere is refused, one way or another. */
	for (size_t i = 0; i < strlen(V_RECEIPT); i++) {
		size_t len = strlen(V_RECEIPT);

		memcpy(text, V_RECEIPT, len);
		text[i] ^= 0x01;
		CHECKF(sl_rcpt_verify(&r, text, len, pub, why, sizeof(why)) < 0,
		       "byte %zu", i);
	}
}

TEST(receipt_one_spelling_only)
{
	static const struct {
		int line;
		const char *value;
	} respell[] = {
		{ 0, "01" },
		{ 1, "101112131415161718191A1B1C1D1E1F" },
		{ 3, "070185" },
		{ 3, "+70185" },
		{ 3, "70185 " },
		{ 4, "00000000001" },
		{ 6, "2023-11-14T22:14:60Z" },
		{ 6, "2023-11-14 22:15:00Z" },
		{ 6, "2023-11-14T22:15:00+00:00" },
		{ 7, "3\r" },
		{ 8, "" },
	};
	char text[SL_RCPT_MAX_LEN * 2], why[200];
	size_t len = strlen(V_RECEIPT);
	uint8_t pub[32];
	struct sl_rcpt r;

	unhex(pub, 32, V_SIGN_PUB);
	for (size_t i = 0; i < sizeof(respell) / sizeof(respell[0]); i++) {
		size_t n = with_value(text, V_RECEIPT, respell[i].line,
				      respell[i].value);

		CHECKF(sl_rcpt_verify(&r, text, n, pub, why, sizeof(why)) ==
		       -EINVAL, "case %zu: %s", i, why);
	}
	/* Without its last line feed, with a byte more, CR LF, empty. */
	CHECK_EQ(sl_rcpt_verify(&r, V_RECEIPT, len - 1, pub, why, sizeof(why)),
		 -EINVAL);
	memcpy(text, V_RECEIPT, len);
	text[len] = '\n';
	CHECK_EQ(sl_rcpt_verify(&r, text, len + 1, pub, why, sizeof(why)),
		 -EINVAL);
	CHECK(strstr(why, "after its last line"));
	CHECK_EQ(sl_rcpt_verify(&r, "", 0, pub, why, sizeof(why)), -EINVAL);
	/* Two lines swapped. */
	with_value(text, V_RECEIPT, 4, RECIPIENT_ACCOUNT);
	memcpy(strstr(text, "sender"), "sendex", 6);
	CHECK_EQ(sl_rcpt_verify(&r, text, strlen(text), pub, why, sizeof(why)),
		 -EINVAL);
}

TEST(receipt_signed_by_someone_else)
{
	char text[SL_RCPT_MAX_LEN + 1], why[200];
	struct sl_sign_key real, forger;
	struct sl_rcpt r, got;
	size_t len;

	CHECK(!sl_sign_key_derive(&real, W.recipient.priv, RECIPIENT_ACCOUNT));
	CHECK(!sl_sign_key_derive(&forger, W.stranger.priv,
				  RECIPIENT_ACCOUNT));
	/* The sender itself, or anyone, signs "the recipient got it". */
	vector_fields(&r);
	CHECK(!sl_rcpt_sign(text, sizeof(text), &len, &r, &forger, why,
			    sizeof(why)));
	CHECK(!sl_rcpt_verify(&got, text, len, NULL, why, sizeof(why)));
	CHECK_EQ(sl_rcpt_verify(&got, text, len, real.pub, why, sizeof(why)),
		 -EKEYREJECTED);
	/* Its signature under the real key's name. */
	memcpy(strstr(text, "key ") + 4, strstr(V_RECEIPT, "key ") + 4, 64);
	CHECK_EQ(sl_rcpt_verify(&got, text, len, real.pub, why, sizeof(why)),
		 -EBADMSG);
	sl_sign_key_wipe(&forger);
	sl_sign_key_wipe(&real);
}

TEST(receipt_matches_the_sent_envelope)
{
	struct sl_env_sealed s = { 0 };
	struct sl_rcpt r;
	char why[200];

	CHECK(!sl_rcpt_verify(&r, V_RECEIPT, strlen(V_RECEIPT), NULL, why,
			      sizeof(why)));
	for (int i = 0; i < SL_ENV_ID_LEN; i++)
		s.id[i] = (uint8_t)(0x10 + i);
	unhex(s.sha256, 32, V_ENVELOPE_SHA256);
	s.bytes = V_ENVELOPE_LEN;
	CHECK(sl_rcpt_matches(&r, &s, SENDER_ACCOUNT, RECIPIENT_ACCOUNT));
	CHECK(!sl_rcpt_matches(&r, &s, RECIPIENT_ACCOUNT, SENDER_ACCOUNT));
	s.bytes++;
	CHECK(!sl_rcpt_matches(&r, &s, SENDER_ACCOUNT, RECIPIENT_ACCOUNT));
	s.bytes--;
	s.sha256[31] ^= 1;
	CHECK(!sl_rcpt_matches(&r, &s, SENDER_ACCOUNT, RECIPIENT_ACCOUNT));
	s.sha256[31] ^= 1;
	s.id[0] ^= 1;
	CHECK(!sl_rcpt_matches(&r, &s, SENDER_ACCOUNT, RECIPIENT_ACCOUNT));
}

TEST(receipt_refuses_bad_fields)
{
	char text[SL_RCPT_MAX_LEN + 1], why[200];
	struct sl_sign_key k;
	struct sl_rcpt r;
	size_t len;

	CHECK(!sl_sign_key_derive(&k, W.recipient.priv, RECIPIENT_ACCOUNT));
	vector_fields(&r);
	snprintf(r.sender, 13, "%s", "12345");
	CHECK_EQ(sl_rcpt_sign(text, sizeof(text), &len, &r, &k, why,
			      sizeof(why)), -EINVAL);
	vector_fields(&r);
	r.delivered = -1;
	CHECK_EQ(sl_rcpt_sign(text, sizeof(text), &len, &r, &k, why,
			      sizeof(why)), -EINVAL);
	/* The largest receipt fits SL_RCPT_MAX_LEN. */
	vector_fields(&r);
	r.size = r.files = r.bytes = UINT64_MAX;
	r.delivered = 253402300799;	/* 9999-12-31T23:59:59Z */
	CHECK(!sl_rcpt_sign(text, sizeof(text), &len, &r, &k, why,
			    sizeof(why)));
	CHECK(len <= SL_RCPT_MAX_LEN);
	CHECK(!sl_rcpt_verify(&r, text, len, k.pub, why, sizeof(why)));
	CHECK_EQ(r.size, UINT64_MAX);
	sl_sign_key_wipe(&k);
}

TEST(secure_memory_returned)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	init_or_die(0);
	secmem_measure_baseline();
	world_init(&W);
	RUN(ed25519_rfc8032);
	RUN(ed25519_refuses_forgeries);
	RUN(identity_key_derived);
	RUN(receipt_known_answer);
	RUN(receipt_any_field_changed);
	RUN(receipt_one_spelling_only);
	RUN(receipt_signed_by_someone_else);
	RUN(receipt_matches_the_sent_envelope);
	RUN(receipt_refuses_bad_fields);
	world_free(&W);
	RUN(secure_memory_returned);
	return check_summary();
}
