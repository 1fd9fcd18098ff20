// SPDX-License-Identifier: GPL-2.0
/*
 * Known-answer tests of the agent's cryptographic layer (agent/proto/crypto.c,
 * agent/proto/sas.c) against the vectors published in the RFCs:
 *
 *	SHA-256			FIPS 180-2 appendix B ("abc", 448 bits), ""
 *	HMAC-SHA-256		RFC 4231 section 4, test cases 1-7
 *	HKDF-SHA-256		RFC 5869 appendix A.1-A.3
 *	X25519			RFC 7748 sections 5.2 (and its iterations), 6.1
 *	ChaCha20-Poly1305	RFC 8439 section 2.8.2
 *
 * plus the properties around them: low-order points refused, tampered
 * messages refused and their plaintext wiped, the AEAD against its
 * definition built from libgcrypt's separate ChaCha20 and Poly1305, the
 * SAS alphabet and bit layout, and secrets in libgcrypt's secure memory.
 *
 * Why one file of about 1,100 lines: it tests one module (crypto.c with
 * sas.c), and most of its length is the published vectors themselves.
 */
#include <errno.h>
#include <limits.h>
#include <gcrypt.h>

#include "check.h"
#include "crypto.h"
#include "agent_test.h"

static bool is_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* buf begins with the bytes of hex (agent_test.h's CHECK_HEX also
 * checks a length). */
#define CHECK_HEX_AT(buf, hex) ({					\
	uint8_t want_[512];						\
	size_t wn_ = unhex(want_, sizeof(want_), (hex));		\
	CHECK_MEM((buf), want_, wn_);					\
})

/* ------------------------------------------------------------------ */

/* Runs first: nothing may fall back to a libgcrypt without secure memory. */
TEST(refuses_before_init)
{
	uint8_t out[32], key[32] = { 1 }, nonce[12] = { 0 };

	CHECK_EQ(sl_sha256(out, "abc", 3), -EINVAL);
	CHECK_EQ(sl_hmac_sha256(out, key, 32, "abc", 3), -EINVAL);
	CHECK_EQ(sl_hkdf(out, 32, NULL, 0, key, 32, NULL, 0), -EINVAL);
	CHECK_EQ(sl_x25519_public(out, key), -EINVAL);
	CHECK_EQ(sl_aead_seal(out, key, 16, NULL, 0, nonce, key), -EINVAL);
	CHECK(sl_secure_alloc(16) == NULL);
}

TEST(init_is_idempotent)
{
	char why[200] = "untouched";

	CHECK_EQ(sl_crypto_init(0, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why)),
		 0);
	CHECK_EQ(sl_crypto_init(1 << 20, 0, why, sizeof(why)), 0);
	CHECK_EQ(sl_crypto_init(0, 0, NULL, 0), 0);
	CHECK(!strcmp(why, "untouched"));
	if (sizeof(size_t) > sizeof(unsigned int)) {
		CHECK_EQ(sl_crypto_init((size_t)UINT_MAX + 1, 0, why,
					sizeof(why)), -EINVAL);
		CHECK(strstr(why, "too large") != NULL);
		CHECK_EQ(sl_crypto_init(0, 0, NULL, 0), 0);
	}
	CHECK(gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P));
	CHECK(gcry_check_version(SL_GCRYPT_MIN_VERSION) != NULL);
}

/*
 * Under ASan mlock() is a no-op that reports success, so the pool is not
 * really locked here; everything else about secure memory (the separate
 * pool, gcry_is_secure, wiping on free, running out) is the real code.
 */
TEST(secure_memory)
{
	enum { N = 200, SIZE = 1024 };	/* 200 KiB: past the whole pool */
	uint8_t *blocks[N], *p;
	int i, got;

	/* Every block secure and zeroed, until the pool runs out: then NULL,
	 * never ordinary memory. */
	for (i = 0; i < N; i++) {
		blocks[i] = sl_secure_alloc(SIZE);
		if (!blocks[i])
			break;
		CHECKF(gcry_is_secure(blocks[i]), "block %d not secure", i);
		CHECK(is_zero(blocks[i], SIZE));
		memset(blocks[i], 0xa5, SIZE);
	}
	got = i;
	CHECKF(got >= 32 && got <= SL_SECMEM_POOL_SIZE / SIZE,
	       "%d blocks of %d bytes from a pool of %d", got, SIZE,
	       SL_SECMEM_POOL_SIZE);
	CHECK(sl_secure_alloc(SIZE) == NULL);

	/* Freed blocks come back wiped. */
	sl_secure_free(blocks[--i], SIZE);
	p = sl_secure_alloc(SIZE);
	CHECK(p && gcry_is_secure(p) && is_zero(p, SIZE));
	sl_secure_free(p, SIZE);
	while (i--)
		sl_secure_free(blocks[i], SIZE);
	sl_secure_free(NULL, 0);

	p = sl_secure_alloc(0);
	CHECK(p && gcry_is_secure(p));
	sl_secure_free(p, 0);
}

TEST(ct_memeq)
{
	uint8_t a[64], b[64];
	size_t i;

	check_fill_random(a, sizeof(a));
	memcpy(b, a, sizeof(b));
	CHECK(sl_ct_memeq(a, b, sizeof(a)));
	CHECK(sl_ct_memeq(a, b, 0));
	for (i = 0; i < sizeof(a) * 8; i++) {
		b[i / 8] ^= 1 << (i % 8);
		CHECKF(!sl_ct_memeq(a, b, sizeof(a)), "bit %zu", i);
		b[i / 8] ^= 1 << (i % 8);
	}
	a[0] = 0x00;
	b[0] = 0x80;
	CHECK(!sl_ct_memeq(a, b, 1));

	memset(a, 0x5a, sizeof(a));
	sl_wipe(a, sizeof(a));
	CHECK(is_zero(a, sizeof(a)));
}

/* ------------------------------------------------------------------ */

TEST(sha256_known_answers)
{
	static const char msg448[] =
		"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	uint8_t out[SL_SHA256_LEN];

	CHECK_EQ(sl_sha256(out, "abc", 3), 0);
	CHECK_HEX_AT(out, "ba7816bf8f01cfea414140de5dae2223"
		       "b00361a396177a9cb410ff61f20015ad");
	CHECK_EQ(sl_sha256(out, NULL, 0), 0);
	CHECK_HEX_AT(out, "e3b0c44298fc1c149afbf4c8996fb924"
		       "27ae41e4649b934ca495991b7852b855");
	CHECK_EQ(sl_sha256(out, msg448, strlen(msg448)), 0);
	CHECK_HEX_AT(out, "248d6a61d20638b8e5c026930c3e6039"
		       "a33ce45964ff2167f6ecedd419db06c1");
}

TEST(sha256_chunks)
{
	uint8_t msg[300], whole[32], parts[32];
	int round;

	for (round = 0; round < 50; round++) {
		size_t len = check_below(sizeof(msg) + 1);
		size_t a = check_below(len + 1);
		size_t b = a + check_below(len - a + 1);
		const struct sl_chunk chunks[] = {
			{ msg, a }, { NULL, 0 }, { msg + a, b - a },
			{ msg + b, len - b },
		};

		check_fill_random(msg, len);
		CHECK_EQ(sl_sha256(whole, msg, len), 0);
		CHECK_EQ(sl_sha256_chunks(parts, chunks, 4), 0);
		if (!CHECKF(!memcmp(whole, parts, 32), "len %zu split %zu %zu",
			    len, a, b))
			break;
	}
}

/* ------------------------------------------------------------------ */

struct hmac_vector {
	int rfc_case;
	uint8_t key_byte;	/* key is key_len copies of it ... */
	size_t key_len;
	const char *key_hex;	/* ... unless given in hex */
	const char *data;	/* text ... */
	uint8_t data_byte;	/* ... or data_len copies of this */
	size_t data_len;
	const char *mac;	/* truncated in case 5 */
};

/* RFC 4231 section 4.2-4.8. */
static const struct hmac_vector hmac_vectors[] = {
	{ 1, 0x0b, 20, NULL, "Hi There", 0, 0,
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ 2, 0, 0, "4a656665", "what do ya want for nothing?", 0, 0,
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ 3, 0xaa, 20, NULL, NULL, 0xdd, 50,
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	{ 4, 0, 0, "0102030405060708090a0b0c0d0e0f10111213141516171819",
	  NULL, 0xcd, 50,
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
	{ 5, 0x0c, 20, NULL, "Test With Truncation", 0, 0,
	  "a3b6167473100ee06e0c796c2955552b" },
	{ 6, 0xaa, 131, NULL,
	  "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	{ 7, 0xaa, 131, NULL,
	  "This is a test using a larger than block-size key and a larger "
	  "than block-size data. The key needs to be hashed before being "
	  "used by the HMAC algorithm.", 0, 0,
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
};

TEST(hmac_sha256_rfc4231)
{
	size_t i;

	for (i = 0; i < sizeof(hmac_vectors) / sizeof(hmac_vectors[0]); i++) {
		const struct hmac_vector *v = &hmac_vectors[i];
		uint8_t key[200], data[200], mac[32], want[32];
		size_t key_len, data_len, want_len;

		if (v->key_hex) {
			key_len = unhex(key, sizeof(key), v->key_hex);
		} else {
			key_len = v->key_len;
			memset(key, v->key_byte, key_len);
		}
		if (v->data) {
			data_len = strlen(v->data);
			memcpy(data, v->data, data_len);
		} else {
			data_len = v->data_len;
			memset(data, v->data_byte, data_len);
		}
		want_len = unhex(want, sizeof(want), v->mac);
		CHECK_EQ(sl_hmac_sha256(mac, key, key_len, data, data_len), 0);
		CHECKF(!memcmp(mac, want, want_len),
		       "RFC 4231 test case %d", v->rfc_case);
	}
}

TEST(hmac_sha256_chunks_and_empty_key)
{
	static const char msg[] = "sealine transcript";
	const struct sl_chunk chunks[] = {
		{ msg, 7 }, { msg + 7, 1 }, { NULL, 0 },
		{ msg + 8, sizeof(msg) - 1 - 8 },
	};
	uint8_t zeros[64] = { 0 }, a[32], b[32];

	CHECK_EQ(sl_hmac_sha256(a, "k", 1, msg, sizeof(msg) - 1), 0);
	CHECK_EQ(sl_hmac_sha256_chunks(b, "k", 1, chunks, 4), 0);
	CHECK_MEM(a, b, 32);

	/* HMAC pads the key with zeros: empty, 1, 32 and 64 zero bytes are
	 * one key. HKDF's "no salt" relies on it. */
	CHECK_EQ(sl_hmac_sha256(a, NULL, 0, msg, sizeof(msg) - 1), 0);
	CHECK_EQ(sl_hmac_sha256(b, zeros, 1, msg, sizeof(msg) - 1), 0);
	CHECK_MEM(a, b, 32);
	CHECK_EQ(sl_hmac_sha256(b, zeros, 32, msg, sizeof(msg) - 1), 0);
	CHECK_MEM(a, b, 32);
	CHECK_EQ(sl_hmac_sha256(b, zeros, 64, msg, sizeof(msg) - 1), 0);
	CHECK_MEM(a, b, 32);

	/* The output may be the key's buffer. */
	memcpy(b, "0123456789abcdef0123456789abcdef", 32);
	CHECK_EQ(sl_hmac_sha256(a, b, 32, msg, 5), 0);
	CHECK_EQ(sl_hmac_sha256(b, b, 32, msg, 5), 0);
	CHECK_MEM(a, b, 32);
}

/* ------------------------------------------------------------------ */

struct hkdf_vector {
	const char *ikm, *salt, *info, *prk, *okm;
	size_t len;
};

static void check_hkdf(const struct hkdf_vector *v)
{
	uint8_t ikm[100], salt[100], info[100], prk_want[32], okm_want[100];
	size_t ikm_len, salt_len, info_len;
	uint8_t *prk, *okm;

	ikm_len = unhex(ikm, sizeof(ikm), v->ikm);
	salt_len = unhex(salt, sizeof(salt), v->salt);
	info_len = unhex(info, sizeof(info), v->info);
	unhex(prk_want, sizeof(prk_want), v->prk);
	CHECK_EQ(unhex(okm_want, sizeof(okm_want), v->okm), v->len);

	/* Keys in secure memory, as the daemon will hold them. */
	prk = sl_secure_alloc(SL_HKDF_PRK_LEN);
	okm = sl_secure_alloc(v->len);
	if (!CHECK(prk && okm))
		goto free_all;

	CHECK_EQ(sl_hkdf_extract(prk, salt, salt_len, ikm, ikm_len), 0);
	CHECK_MEM(prk, prk_want, 32);
	CHECK_EQ(sl_hkdf_expand(okm, v->len, prk, 32, info, info_len), 0);
	CHECK_MEM(okm, okm_want, v->len);

	memset(okm, 0, v->len);
	CHECK_EQ(sl_hkdf(okm, v->len, salt, salt_len, ikm, ikm_len,
			 info, info_len), 0);
	CHECK_MEM(okm, okm_want, v->len);

	/* Expanding into the PRK's own buffer. */
	if (v->len >= 32) {
		uint8_t *both = sl_secure_alloc(v->len);

		if (CHECK(both)) {
			memcpy(both, prk, 32);
			CHECK_EQ(sl_hkdf_expand(both, v->len, both, 32, info,
						info_len), 0);
			CHECK_MEM(both, okm_want, v->len);
		}
		sl_secure_free(both, v->len);
	}
free_all:
	sl_secure_free(okm, v->len);
	sl_secure_free(prk, SL_HKDF_PRK_LEN);
}

/* RFC 5869 A.1: basic test case with SHA-256. */
TEST(hkdf_rfc5869_case1)
{
	static const struct hkdf_vector v = {
		.ikm = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		.salt = "000102030405060708090a0b0c",
		.info = "f0f1f2f3f4f5f6f7f8f9",
		.len = 42,
		.prk = "077709362c2e32df0ddc3f0dc47bba63"
		       "90b6c73bb50f9c3122ec844ad7c2b3e5",
		.okm = "3cb25f25faacd57a90434f64d0362f2a"
		       "2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
		       "34007208d5b887185865",
	};

	check_hkdf(&v);
}

/* RFC 5869 A.2: longer inputs and outputs. */
TEST(hkdf_rfc5869_case2)
{
	static const struct hkdf_vector v = {
		.ikm = "000102030405060708090a0b0c0d0e0f"
		       "101112131415161718191a1b1c1d1e1f"
		       "202122232425262728292a2b2c2d2e2f"
		       "303132333435363738393a3b3c3d3e3f"
		       "404142434445464748494a4b4c4d4e4f",
		.salt = "606162636465666768696a6b6c6d6e6f"
			"707172737475767778797a7b7c7d7e7f"
			"808182838485868788898a8b8c8d8e8f"
			"909192939495969798999a9b9c9d9e9f"
			"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
		.info = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
			"c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
			"d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
			"e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
			"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
		.len = 82,
		.prk = "06a6b88c5853361a06104c9ceb35b45c"
		       "ef760014904671014a193f40c15fc244",
		.okm = "b11e398dc80327a1c8e7f78c596a4934"
		       "4f012eda2d4efad8a050cc4c19afa97c"
		       "59045a99cac7827271cb41c65e590e09"
		       "da3275600c2f09b8367793a9aca3db71"
		       "cc30c58179ec3e87c14c01d5c1f3434f"
		       "1d87",
	};

	check_hkdf(&v);
}

/* RFC 5869 A.3: zero-length salt and info. */
TEST(hkdf_rfc5869_case3)
{
	static const struct hkdf_vector v = {
		.ikm = "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		.salt = "",
		.info = "",
		.len = 42,
		.prk = "19ef24a32c717b167f33a91d6f648bdf"
		       "96596776afdb6377ac434c1c293ccb04",
		.okm = "8da4e775a563c18f715f802a063c5a31"
		       "b8a11f5c5ee1879ec3454e5f3c738d2d"
		       "9d201395faa4b61a96c8",
	};

	check_hkdf(&v);
}

TEST(hkdf_limits)
{
	uint8_t prk[32], small[42];
	uint8_t *big;

	check_fill_random(prk, sizeof(prk));
	big = sl_secure_alloc(SL_HKDF_MAX_OKM_LEN + 1);
	if (!CHECK(big))
		return;

	/* 255 blocks is the most; every length is a prefix of the longest. */
	CHECK_EQ(sl_hkdf_expand(big, SL_HKDF_MAX_OKM_LEN, prk, 32, "i", 1), 0);
	CHECK_EQ(sl_hkdf_expand(small, sizeof(small), prk, 32, "i", 1), 0);
	CHECK_MEM(big, small, sizeof(small));
	CHECK(!is_zero(big + SL_HKDF_MAX_OKM_LEN - 32, 32));

	CHECK_EQ(sl_hkdf_expand(big, SL_HKDF_MAX_OKM_LEN + 1, prk, 32, "i", 1),
		 -EINVAL);
	CHECK_EQ(sl_hkdf(big, SL_HKDF_MAX_OKM_LEN + 1, NULL, 0, prk, 32,
			 NULL, 0), -EINVAL);
	/* RFC 5869: the PRK is at least HashLen octets. */
	CHECK_EQ(sl_hkdf_expand(small, sizeof(small), prk, 31, NULL, 0),
		 -EINVAL);
	CHECK_EQ(sl_hkdf_expand(NULL, 0, prk, 32, NULL, 0), 0);
	sl_secure_free(big, SL_HKDF_MAX_OKM_LEN + 1);
}

/* ------------------------------------------------------------------ */

static void check_x25519(const char *scalar_hex, const char *u_hex,
			 const char *out_hex, const char *what)
{
	uint8_t u[32], want[32];
	uint8_t *k, *out;

	k = sl_secure_alloc(32);
	out = sl_secure_alloc(32);
	if (!CHECK(k && out))
		goto free_all;
	unhex(k, 32, scalar_hex);
	unhex(u, 32, u_hex);
	unhex(want, 32, out_hex);
	CHECKF(sl_x25519(out, k, u) == 0, "%s", what);
	CHECKF(!memcmp(out, want, 32), "%s", what);
free_all:
	sl_secure_free(out, 32);
	sl_secure_free(k, 32);
}

/* RFC 7748 section 5.2. The scalars are not clamped and the second u has
 * its top bit set: both must be handled as the RFC says. */
TEST(x25519_rfc7748_5_2)
{
	check_x25519("a546e36bf0527c9d3b16154b82465edd"
		     "62144c0ac1fc5a18506a2244ba449ac4",
		     "e6db6867583030db3594c1a424b15f7c"
		     "726624ec26b3353b10a903a6d0ab1c4c",
		     "c3da55379de9c6908e94ea4df28d084f"
		     "32eccf03491c71f754b4075577a28552", "vector 1");
	check_x25519("4b66e9d4d1b4673c5ad22691957d6af5"
		     "c11b6421e0ea01d42ca4169e7918ba0d",
		     "e5210f12786811d3f4b7959d0538ae2c"
		     "31dbe7106fc03c3efc4cd549c715a493",
		     "95cbde9476e8907d7aade45cb4b873f8"
		     "8b595a68799fa152e6f8f7647aac7957", "vector 2");
}

/* RFC 7748 section 5.2, the iterated test: k = X25519(k, u), u = old k,
 * starting from k = u = 9. After 1 and after 1,000 iterations. */
TEST(x25519_rfc7748_5_2_iterated)
{
	uint8_t *k = sl_secure_alloc(32), *old = sl_secure_alloc(32);
	uint8_t u[32] = { 9 };
	int i;

	if (!CHECK(k && old))
		goto free_all;
	k[0] = 9;
	for (i = 1; i <= 1000; i++) {
		memcpy(old, k, 32);
		if (!CHECKF(sl_x25519(k, k, u) == 0, "iteration %d", i))
			break;
		memcpy(u, old, 32);
		if (i == 1)
			CHECK_HEX_AT(k, "422c8e7a6227d7bca1350b3e2bb7279f"
				     "7897b87bb6854b783c60e80311ae3079");
	}
	CHECK_HEX_AT(k, "684cf59ba83309552800ef566f2f4d3c"
		     "1c3887c49360e3875f2eb94d99532c51");
free_all:
	sl_secure_free(old, 32);
	sl_secure_free(k, 32);
}

/* RFC 7748 section 6.1: Alice's and Bob's keys and their shared secret. */
TEST(x25519_rfc7748_6_1)
{
	static const char alice_priv[] =
		"77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
	static const char alice_pub[] =
		"8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
	static const char bob_priv[] =
		"5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
	static const char bob_pub[] =
		"de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
	static const char shared[] =
		"4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
	uint8_t *a = sl_secure_alloc(32), *b = sl_secure_alloc(32);
	uint8_t *k = sl_secure_alloc(32);
	uint8_t a_pub[32], b_pub[32];

	if (!CHECK(a && b && k))
		goto free_all;
	unhex(a, 32, alice_priv);
	unhex(b, 32, bob_priv);

	CHECK_EQ(sl_x25519_public(a_pub, a), 0);
	CHECK_HEX_AT(a_pub, alice_pub);
	CHECK_EQ(sl_x25519_public(b_pub, b), 0);
	CHECK_HEX_AT(b_pub, bob_pub);

	CHECK_EQ(sl_x25519(k, a, b_pub), 0);
	CHECK_HEX_AT(k, shared);
	memset(k, 0, 32);
	CHECK_EQ(sl_x25519(k, b, a_pub), 0);
	CHECK_HEX_AT(k, shared);
free_all:
	sl_secure_free(k, 32);
	sl_secure_free(b, 32);
	sl_secure_free(a, 32);
}

TEST(x25519_keypair)
{
	uint8_t *a = sl_secure_alloc(32), *b = sl_secure_alloc(32);
	uint8_t *ka = sl_secure_alloc(32), *kb = sl_secure_alloc(32);
	uint8_t a_pub[32], b_pub[32], pub[32];

	if (!CHECK(a && b && ka && kb))
		goto free_all;
	CHECK_EQ(sl_x25519_keypair(a, a_pub), 0);
	CHECK_EQ(sl_x25519_keypair(b, b_pub), 0);
	CHECK(memcmp(a, b, 32) != 0);

	/* Stored clamped (RFC 7748 section 5). */
	CHECK_EQ(a[0] & 7, 0);
	CHECK_EQ(a[31] & 0xc0, 0x40);

	CHECK_EQ(sl_x25519_public(pub, a), 0);
	CHECK_MEM(pub, a_pub, 32);

	CHECK_EQ(sl_x25519(ka, a, b_pub), 0);
	CHECK_EQ(sl_x25519(kb, b, a_pub), 0);
	CHECK_MEM(ka, kb, 32);
	CHECK(!is_zero(ka, 32));
free_all:
	sl_secure_free(kb, 32);
	sl_secure_free(ka, 32);
	sl_secure_free(b, 32);
	sl_secure_free(a, 32);
}

/*
 * Points of order 1, 2, 4 and 8 on the curve and its twist, their
 * non-canonical encodings (u + p, possible for u < 19 only) and all of
 * them with the ignored top bit set: every clamped scalar maps them to
 * zero, a "shared secret" an attacker knows. RFC 7748 section 6.1 says to
 * check for the all-zero value; it must be refused and the output left
 * zeroed. (Lists for implementations that do not mask the top bit also
 * carry u + p for the order-8 points, such as cdeb7a...b880; masked, that
 * is u - 19, an ordinary point, so it does not belong here.)
 */
TEST(x25519_low_order_rejected)
{
	static const char *const points[] = {
		/* 0 */
		"0000000000000000000000000000000000000000000000000000000000000000",
		/* 1 */
		"0100000000000000000000000000000000000000000000000000000000000000",
		/* order 8 */
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		/* order 8 */
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		/* p - 1 */
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		/* p, that is 0 */
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		/* p + 1, that is 1 */
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		/* the same with the ignored top bit set */
		"0000000000000000000000000000000000000000000000000000000000000080",
		"0100000000000000000000000000000000000000000000000000000000000080",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	};
	uint8_t *priv = sl_secure_alloc(32), *out = sl_secure_alloc(32);
	uint8_t pub[32], u[32];
	size_t i;
	int round;

	if (!CHECK(priv && out))
		goto free_all;
	for (round = 0; round < 4; round++) {
		CHECK_EQ(sl_x25519_keypair(priv, pub), 0);
		for (i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
			unhex(u, 32, points[i]);
			memset(out, 0xa5, 32);
			CHECKF(sl_x25519(out, priv, u) == -EKEYREJECTED,
			       "point %zu accepted", i);
			CHECKF(is_zero(out, 32), "point %zu: output not wiped",
			       i);
		}
	}
free_all:
	sl_secure_free(out, 32);
	sl_secure_free(priv, 32);
}

/* RFC 7748 section 5: the top bit of u is ignored, and non-canonical
 * values (u >= p) are used as u mod p. */
TEST(x25519_u_encoding)
{
	/* 9 + p = 2^255 - 10, little-endian. */
	static const char nine_plus_p[] =
		"f6ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";
	uint8_t *priv = sl_secure_alloc(32), *x = sl_secure_alloc(32);
	uint8_t *y = sl_secure_alloc(32);
	uint8_t u[32] = { 9 }, pub[32];

	if (!CHECK(priv && x && y))
		goto free_all;
	check_fill_random(priv, 32);
	CHECK_EQ(sl_x25519_public(pub, priv), 0);
	CHECK_EQ(sl_x25519(x, priv, u), 0);
	CHECK_MEM(x, pub, 32);

	u[31] |= 0x80;
	CHECK_EQ(sl_x25519(y, priv, u), 0);
	CHECK_MEM(x, y, 32);

	unhex(u, 32, nine_plus_p);
	CHECK_EQ(sl_x25519(y, priv, u), 0);
	CHECK_MEM(x, y, 32);
free_all:
	sl_secure_free(y, 32);
	sl_secure_free(x, 32);
	sl_secure_free(priv, 32);
}

/* ------------------------------------------------------------------ */

/* RFC 8439 section 2.8.2. */
static const char aead_plaintext[] =
	"Ladies and Gentlemen of the class of '99: If I could offer you only "
	"one tip for the future, sunscreen would be it.";
static const char aead_key[] =
	"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
static const char aead_nonce[] = "070000004041424344454647";
static const char aead_ad[] = "50515253c0c1c2c3c4c5c6c7";
static const char aead_sealed[] =
	"d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	"3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	"92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	"3ff4def08e4b7a9de576d26586cec64b6116"
	"1ae10b594f09e26a7e902ecbd0600691";	/* the tag */

struct aead_kat {
	uint8_t *key;		/* secure */
	uint8_t nonce[12], ad[12], sealed[114 + 16];
	size_t len;		/* of the plaintext */
};

static bool aead_kat_load(struct aead_kat *v)
{
	v->key = sl_secure_alloc(32);
	if (!v->key)
		return false;
	unhex(v->key, 32, aead_key);
	unhex(v->nonce, 12, aead_nonce);
	unhex(v->ad, 12, aead_ad);
	v->len = strlen(aead_plaintext);
	return unhex(v->sealed, sizeof(v->sealed), aead_sealed) ==
	       v->len + SL_AEAD_TAG_LEN;
}

TEST(aead_rfc8439_2_8_2)
{
	struct aead_kat v = { 0 };
	uint8_t out[200], text[200];

	if (!CHECK(aead_kat_load(&v)))
		goto free_key;
	CHECK_EQ(v.len, 114);
	CHECK_EQ(sl_aead_seal(out, (const uint8_t *)aead_plaintext, v.len,
			      v.ad, sizeof(v.ad), v.nonce, v.key), 0);
	CHECK_MEM(out, v.sealed, v.len + SL_AEAD_TAG_LEN);

	CHECK_EQ(sl_aead_open(text, v.sealed, v.len + SL_AEAD_TAG_LEN,
			      v.ad, sizeof(v.ad), v.nonce, v.key), 0);
	CHECK_MEM(text, aead_plaintext, v.len);
free_key:
	sl_secure_free(v.key, 32);
}

/* Any change to ciphertext, tag, associated data, nonce or key is refused
 * and the plaintext decrypted so far is wiped. */
TEST(aead_rfc8439_tampered)
{
	const size_t n = 114 + SL_AEAD_TAG_LEN;
	struct aead_kat v = { 0 };
	uint8_t text[200];
	size_t i;

#define CHECK_REFUSED(sealed, len, ad, ad_len, nonce, key, ...) do {	\
	memset(text, 0xa5, sizeof(text));				\
	CHECKF(sl_aead_open(text, sealed, len, ad, ad_len, nonce, key)	\
	       == -EBADMSG, __VA_ARGS__);				\
	CHECKF(is_zero(text, (len) - SL_AEAD_TAG_LEN), __VA_ARGS__);	\
} while (0)

	if (!CHECK(aead_kat_load(&v)))
		goto free_key;
	for (i = 0; i < n; i++) {
		v.sealed[i] ^= 1 << (i % 8);
		CHECK_REFUSED(v.sealed, n, v.ad, sizeof(v.ad), v.nonce, v.key,
			      "byte %zu of the sealed message flipped", i);
		v.sealed[i] ^= 1 << (i % 8);
	}
	for (i = 0; i < sizeof(v.ad); i++) {
		v.ad[i] ^= 0x80;
		CHECK_REFUSED(v.sealed, n, v.ad, sizeof(v.ad), v.nonce, v.key,
			      "ad byte %zu flipped", i);
		v.ad[i] ^= 0x80;
	}
	CHECK_REFUSED(v.sealed, n, v.ad, sizeof(v.ad) - 1, v.nonce, v.key,
		      "ad shortened");
	CHECK_REFUSED(v.sealed, n, NULL, 0, v.nonce, v.key, "ad dropped");
	for (i = 0; i < sizeof(v.nonce); i++) {
		v.nonce[i] ^= 1;
		CHECK_REFUSED(v.sealed, n, v.ad, sizeof(v.ad), v.nonce, v.key,
			      "nonce byte %zu flipped", i);
		v.nonce[i] ^= 1;
	}
	v.key[31] ^= 0x80;
	CHECK_REFUSED(v.sealed, n, v.ad, sizeof(v.ad), v.nonce, v.key,
		      "key flipped");
	v.key[31] ^= 0x80;
	CHECK_REFUSED(v.sealed, n - 1, v.ad, sizeof(v.ad), v.nonce, v.key,
		      "truncated by one byte");

	/* Shorter than a tag: refused without touching anything. */
	for (i = 0; i < SL_AEAD_TAG_LEN; i++)
		CHECKF(sl_aead_open(text, v.sealed, i, NULL, 0, v.nonce,
				    v.key) == -EBADMSG, "length %zu", i);

	/* Untampered, it still opens: the loops above restored everything. */
	CHECK_EQ(sl_aead_open(text, v.sealed, n, v.ad, sizeof(v.ad), v.nonce,
			      v.key), 0);
	CHECK_MEM(text, aead_plaintext, v.len);
#undef CHECK_REFUSED
free_key:
	sl_secure_free(v.key, 32);
}

/*
 * RFC 8439 section 2.8 by hand, from libgcrypt's plain ChaCha20 and
 * Poly1305: the one-time key is the first 32 bytes of keystream block 0,
 * the ciphertext uses blocks 1 onwards, and the tag covers
 * ad | pad16 | ciphertext | pad16 | le64(ad_len) | le64(len).
 */
static bool ref_seal(uint8_t *out, const uint8_t *text, size_t len,
		     const uint8_t *ad, size_t ad_len,
		     const uint8_t nonce[12], const uint8_t key[32],
		     uint8_t otk_out[32])
{
	static const uint8_t zeros[16];
	gcry_cipher_hd_t c;
	gcry_mac_hd_t m;
	uint8_t block0[64] = { 0 }, lens[16];
	size_t tag_len = 16;
	bool ok;
	int i;

	if (gcry_cipher_open(&c, GCRY_CIPHER_CHACHA20, GCRY_CIPHER_MODE_STREAM,
			     GCRY_CIPHER_SECURE))
		return false;
	ok = !gcry_cipher_setkey(c, key, 32) &&
	     !gcry_cipher_setiv(c, nonce, 12) &&
	     !gcry_cipher_encrypt(c, block0, 64, NULL, 0) &&
	     (!len || !gcry_cipher_encrypt(c, out, len, text, len));
	gcry_cipher_close(c);
	if (!ok)
		return false;
	if (otk_out)
		memcpy(otk_out, block0, 32);

	for (i = 0; i < 8; i++) {
		lens[i] = (uint8_t)((uint64_t)ad_len >> (8 * i));
		lens[8 + i] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	if (gcry_mac_open(&m, GCRY_MAC_POLY1305, GCRY_MAC_FLAG_SECURE, NULL))
		return false;
	ok = !gcry_mac_setkey(m, block0, 32) &&
	     (!ad_len || !gcry_mac_write(m, ad, ad_len)) &&
	     (!(ad_len % 16) || !gcry_mac_write(m, zeros, 16 - ad_len % 16)) &&
	     (!len || !gcry_mac_write(m, out, len)) &&
	     (!(len % 16) || !gcry_mac_write(m, zeros, 16 - len % 16)) &&
	     !gcry_mac_write(m, lens, 16) &&
	     !gcry_mac_read(m, out + len, &tag_len) && tag_len == 16;
	gcry_mac_close(m);
	sl_wipe(block0, sizeof(block0));
	return ok;
}

TEST(aead_matches_construction)
{
	static const size_t lens[] = { 0, 1, 15, 16, 17, 63, 64, 65, 127,
				       128, 129, 1000 };
	static const size_t ad_lens[] = { 0, 1, 12, 15, 16, 17, 40 };
	uint8_t text[1100], ad[64], nonce[12], ours[1200], ref[1200];
	uint8_t otk[32], back[1100];
	uint8_t *key = sl_secure_alloc(32);
	struct aead_kat v = { 0 };
	size_t i, j;

	if (!CHECK(key) || !CHECK(aead_kat_load(&v)))
		goto free_all;

	/* The construction reproduces RFC 8439 2.8.2, one-time key included. */
	CHECK(ref_seal(ref, (const uint8_t *)aead_plaintext, v.len, v.ad,
		       sizeof(v.ad), v.nonce, v.key, otk));
	CHECK_HEX_AT(otk, "7bac2b252db447af09b67a55a4e95584"
		       "0ae1d6731075d9eb2a9375783ed553ff");
	CHECK_MEM(ref, v.sealed, v.len + SL_AEAD_TAG_LEN);

	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		for (j = 0; j < sizeof(ad_lens) / sizeof(ad_lens[0]); j++) {
			size_t len = lens[i], ad_len = ad_lens[j];

			check_fill_random(key, 32);
			check_fill_random(nonce, sizeof(nonce));
			check_fill_random(text, len);
			check_fill_random(ad, ad_len);
			if (!CHECK(ref_seal(ref, text, len, ad, ad_len, nonce,
					    key, NULL)))
				goto free_all;
			CHECK_EQ(sl_aead_seal(ours, text, len, ad, ad_len,
					      nonce, key), 0);
			CHECKF(!memcmp(ours, ref, len + 16),
			       "len %zu ad_len %zu", len, ad_len);
			CHECK_EQ(sl_aead_open(back, ours, len + 16, ad, ad_len,
					      nonce, key), 0);
			CHECKF(!memcmp(back, text, len), "len %zu ad_len %zu",
			       len, ad_len);
			if (check_failing())
				goto free_all;
		}
	}
free_all:
	sl_secure_free(v.key, 32);
	sl_secure_free(key, 32);
}

TEST(aead_in_place)
{
	struct aead_kat v = { 0 };
	uint8_t buf[200];

	if (!CHECK(aead_kat_load(&v)))
		goto free_key;
	memcpy(buf, aead_plaintext, v.len);
	CHECK_EQ(sl_aead_seal(buf, buf, v.len, v.ad, sizeof(v.ad), v.nonce,
			      v.key), 0);
	CHECK_MEM(buf, v.sealed, v.len + SL_AEAD_TAG_LEN);
	CHECK_EQ(sl_aead_open(buf, buf, v.len + SL_AEAD_TAG_LEN, v.ad,
			      sizeof(v.ad), v.nonce, v.key), 0);
	CHECK_MEM(buf, aead_plaintext, v.len);

	/* A failed open in place wipes the buffer's text part. */
	memcpy(buf, v.sealed, v.len + SL_AEAD_TAG_LEN);
	buf[0] ^= 1;
	CHECK_EQ(sl_aead_open(buf, buf, v.len + SL_AEAD_TAG_LEN, v.ad,
			      sizeof(v.ad), v.nonce, v.key), -EBADMSG);
	CHECK(is_zero(buf, v.len));
free_key:
	sl_secure_free(v.key, 32);
}

/* ------------------------------------------------------------------ */

TEST(sas_alphabet)
{
	static const char alphabet[] = SL_SAS_ALPHABET;
	size_t i, j;

	CHECK_EQ(strlen(alphabet), 32);
	for (i = 0; i < 32; i++) {
		char c = alphabet[i];

		CHECKF((c >= '2' && c <= '9') || (c >= 'A' && c <= 'Z'),
		       "symbol %zu is '%c'", i, c);
		CHECKF(!strchr("01IO", c), "ambiguous symbol '%c'", c);
		for (j = i + 1; j < 32; j++)
			CHECKF(c != alphabet[j], "'%c' twice", c);
	}
}

TEST(sas_known_answers)
{
	uint8_t hash[32];
	char sas[SL_SAS_LEN + 1];

	memset(hash, 0, sizeof(hash));
	sl_sas_from_hash(sas, hash);
	CHECK(!strcmp(sas, "22222"));

	memset(hash, 0xff, sizeof(hash));
	sl_sas_from_hash(sas, hash);
	CHECK(!strcmp(sas, "ZZZZZ"));

	/* SHA-256("abc") = ba 78 16 bf ..., whose first 25 bits are
	 * 10111 01001 11100 00001 01101 = 23 9 28 1 13 = R B W 3 F. */
	CHECK_EQ(sl_sha256(hash, "abc", 3), 0);
	sl_sas_from_hash(sas, hash);
	CHECKF(!strcmp(sas, "RBW3F"), "got %s", sas);

	/* Nothing after bit 25 counts (hash[3] = 0xbf: only its top bit). */
	hash[3] = 0x80;
	memset(hash + 4, 0x00, sizeof(hash) - 4);
	sl_sas_from_hash(sas, hash);
	CHECKF(!strcmp(sas, "RBW3F"), "got %s", sas);
	hash[3] = 0xff;
	memset(hash + 4, 0xff, sizeof(hash) - 4);
	sl_sas_from_hash(sas, hash);
	CHECKF(!strcmp(sas, "RBW3F"), "got %s", sas);
}

/* Each character is 5 consecutive bits, most significant first; each of
 * the first 25 bits changes exactly one character. */
TEST(sas_bit_layout)
{
	static const char alphabet[] = SL_SAS_ALPHABET;
	uint8_t hash[32];
	char sas[SL_SAS_LEN + 1], flipped[SL_SAS_LEN + 1];
	int round, i, b, bit, diffs;

	for (round = 0; round < 100; round++) {
		unsigned int sym[SL_SAS_LEN];

		check_fill_random(hash, sizeof(hash));
		memset(hash, 0, 4);
		for (i = 0; i < SL_SAS_LEN; i++) {
			sym[i] = (unsigned int)check_below(32);
			for (b = 0; b < 5; b++) {
				bit = 5 * i + b;
				if (sym[i] & (16 >> b))
					hash[bit / 8] |= 0x80 >> (bit % 8);
			}
		}
		sl_sas_from_hash(sas, hash);
		for (i = 0; i < SL_SAS_LEN; i++)
			CHECKF(sas[i] == alphabet[sym[i]],
			       "round %d char %d: '%c' for symbol %u", round,
			       i, sas[i], sym[i]);
		CHECK_EQ(sas[SL_SAS_LEN], '\0');

		for (bit = 0; bit < SL_SAS_BITS; bit++) {
			hash[bit / 8] ^= 0x80 >> (bit % 8);
			sl_sas_from_hash(flipped, hash);
			hash[bit / 8] ^= 0x80 >> (bit % 8);
			for (i = 0, diffs = 0; i < SL_SAS_LEN; i++)
				diffs += flipped[i] != sas[i];
			CHECKF(diffs == 1 && flipped[bit / 5] != sas[bit / 5],
			       "bit %d", bit);
		}
		if (check_failing())
			break;
	}
}

TEST(sas_normalize)
{
	static const struct {
		const char *typed, *want;	/* want NULL: refused */
	} cases[] = {
		{ "RBW3F", "RBW3F" },
		{ "rbw3f", "RBW3F" },
		{ "rBw-3F", "RBW3F" },
		{ " R B W 3 F ", "RBW3F" },
		{ "\tr-b-w-3-f\t", "RBW3F" },
		{ "AB1CD", "ABLCD" },		/* 1 can only be L */
		{ "ABICD", "ABLCD" },		/* so can I */
		{ "abicd", "ABLCD" },
		{ "ablcd", "ABLCD" },
		{ "AB0CD", NULL },		/* 0 and O: no guessing */
		{ "ABOCD", NULL },
		{ "abocd", NULL },
		{ "ABCD", NULL },		/* too short */
		{ "ABCDEF", NULL },		/* too long */
		{ "", NULL },
		{ " - ", NULL },
		{ "AB.CD", NULL },		/* only space, tab, dash */
		{ "AB_CD", NULL },
		{ "ABC\xc3\x89", NULL },		/* not ASCII */
		{ "AB\xff" "CD", NULL },
	};
	char out[SL_SAS_LEN + 1];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;

		memset(out, 'x', sizeof(out));
		ret = sl_sas_normalize(out, cases[i].typed);
		if (cases[i].want) {
			CHECKF(ret == 0 && !strcmp(out, cases[i].want),
			       "\"%s\": %d \"%.*s\"", cases[i].typed, ret,
			       SL_SAS_LEN + 1, out);
		} else {
			CHECKF(ret == -EINVAL && out[0] == '\0',
			       "\"%s\" accepted as \"%.*s\"", cases[i].typed,
			       SL_SAS_LEN + 1, out);
		}
	}

	/* Every symbol, typed in either case, stands for itself. */
	for (i = 0; i < 32; i++) {
		char typed[6], c = SL_SAS_ALPHABET[i];

		memset(typed, c, 5);
		typed[5] = '\0';
		CHECK(!sl_sas_normalize(out, typed) && !strcmp(out, typed));
		if (c >= 'A' && c <= 'Z')
			memset(typed, c - 'A' + 'a', 5);
		CHECK(!sl_sas_normalize(out, typed) && out[0] == c);
	}
}

TEST(sas_matches)
{
	CHECK(sl_sas_matches("rbw-3f", "RBW3F"));
	CHECK(sl_sas_matches("RBW3F", "RBW3F"));
	CHECK(!sl_sas_matches("RBW3E", "RBW3F"));
	CHECK(!sl_sas_matches("BRW3F", "RBW3F"));
	CHECK(!sl_sas_matches("RBW3", "RBW3F"));
	CHECK(!sl_sas_matches("RBW3FF", "RBW3F"));
	CHECK(!sl_sas_matches("", "RBW3F"));
	CHECK(sl_sas_matches("ab1cd", "ABLCD"));
}

/* Runs last: every secure allocation of the cases above was given back. */
TEST(secure_memory_not_leaked)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	check_init(argc, argv);

	RUN(refuses_before_init);
	init_or_die(0);
	secmem_measure_baseline();
	RUN(init_is_idempotent);
	RUN(secure_memory);
	RUN(ct_memeq);

	RUN(sha256_known_answers);
	RUN(sha256_chunks);
	RUN(hmac_sha256_rfc4231);
	RUN(hmac_sha256_chunks_and_empty_key);
	RUN(hkdf_rfc5869_case1);
	RUN(hkdf_rfc5869_case2);
	RUN(hkdf_rfc5869_case3);
	RUN(hkdf_limits);

	RUN(x25519_rfc7748_5_2);
	RUN(x25519_rfc7748_5_2_iterated);
	RUN(x25519_rfc7748_6_1);
	RUN(x25519_keypair);
	RUN(x25519_low_order_rejected);
	RUN(x25519_u_encoding);

	RUN(aead_rfc8439_2_8_2);
	RUN(aead_rfc8439_tampered);
	RUN(aead_matches_construction);
	RUN(aead_in_place);

	RUN(sas_alphabet);
	RUN(sas_known_answers);
	RUN(sas_bit_layout);
	RUN(sas_normalize);
	RUN(sas_matches);

	RUN(secure_memory_not_leaked);
	return check_summary();
}
