// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealined's cryptographic primitives on top of libgcrypt. See crypto.h for
 * the API and its conventions; this file says how and why.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <gcrypt.h>

#include "crypto.h"

/* The headers must have gcry_ecc_mul_point(); sl_crypto_init() checks that
 * the library found at run time is as new as well. */
#if GCRYPT_VERSION_NUMBER < 0x010900
#error "libgcrypt 1.9.0 or later is needed (gcry_ecc_mul_point)"
#endif

enum { HMAC_BLOCK_LEN = 64 };

/* 0 once sl_crypto_init() succeeded, its error after it failed, and 1
 * before it ran; with the explanation of a failure, for later calls. */
static int crypto_state = 1;
static char crypto_why[160];

static void say(char *why, size_t why_len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

static int init_once(size_t secmem_size, unsigned int flags, char *why,
		     size_t why_len)
{
	const char *version;
	void *probe;
	bool secure;

	/* gcry_check_version() must be libgcrypt's first call: it also
	 * initialises the library. */
	version = gcry_check_version(NULL);
	if (!gcry_check_version(SL_GCRYPT_MIN_VERSION)) {
		say(why, why_len,
		    "libgcrypt %s is too old: sealine needs %s or later (X25519 with gcry_ecc_mul_point)",
		    version ? version : "(unknown)", SL_GCRYPT_MIN_VERSION);
		return -ENOTSUP;
	}

	if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
		if (flags & SL_CRYPTO_QUIET_SECMEM)
			gcry_control(GCRYCTL_DISABLE_SECMEM_WARN);
		/* As libgcrypt's manual asks: warnings from setting up the
		 * pool wait until it is set up, then come out once. */
		gcry_control(GCRYCTL_SUSPEND_SECMEM_WARN);
		/* No GCRYCTL_AUTO_EXPAND_SECMEM: the pools it adds come from
		 * malloc, unlocked, so secrets could reach swap. */
		gcry_control(GCRYCTL_INIT_SECMEM,
			     (unsigned int)secmem_size, 0);
		gcry_control(GCRYCTL_RESUME_SECMEM_WARN);
		gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	}

	/* FIPS mode refuses the algorithms sealine is built on; say so now
	 * rather than fail every handshake later with a bare error. */
	if (gcry_fips_mode_active()) {
		say(why, why_len,
		    "libgcrypt runs in FIPS mode, which refuses ChaCha20-Poly1305 and X25519");
		return -ENOTSUP;
	}

	/* Whoever initialised libgcrypt, secrets must not land in ordinary
	 * memory: with secure memory disabled gcry_malloc_secure() quietly
	 * returns ordinary memory, so look. */
	probe = gcry_malloc_secure(1);
	secure = probe && gcry_is_secure(probe);
	gcry_free(probe);
	if (!secure) {
		say(why, why_len,
		    "libgcrypt has no secure memory (was it initialised elsewhere with it disabled?)");
		return -EIO;
	}
	return 0;
}

int sl_crypto_init(size_t secmem_size, unsigned int flags, char *why,
		   size_t why_len)
{
	/* A bad argument is the caller's mistake, not the library's state:
	 * refused without remembering it. */
	if (secmem_size > UINT_MAX) {
		say(why, why_len, "a secure memory pool of %zu bytes is too large",
		    secmem_size);
		return -EINVAL;
	}
	if (!secmem_size)
		secmem_size = SL_SECMEM_POOL_SIZE;
	if (crypto_state == 1)
		crypto_state = init_once(secmem_size, flags, crypto_why,
					 sizeof(crypto_why));
	if (crypto_state)
		say(why, why_len, "%s", crypto_why);
	return crypto_state;
}

static inline bool ready(void)
{
	return crypto_state == 0;
}

/* Only system errors (out of memory above all) have an errno; anything
 * else is a library failure the caller can only log. */
static int gcry_to_errno(gcry_error_t err)
{
	int e = gcry_err_code_to_errno(gcry_err_code(err));

	return e ? -e : -EIO;
}

void *sl_secure_alloc(size_t len)
{
	if (!ready())
		return NULL;
	/* Never the x-variants: when the pool is full they spill secrets
	 * into overflow pools taken from malloc, not locked in RAM, and
	 * abort the process if even that fails. A full pool is -ENOMEM for
	 * one handshake, not swapped secrets or a dead daemon. */
	return gcry_calloc_secure(1, len ? len : 1);
}

void sl_secure_free(void *p, size_t len)
{
	if (!p)
		return;
	/* libgcrypt wipes secure blocks on free as well; this does not
	 * depend on it. */
	sl_wipe(p, len);
	gcry_free(p);
}

void sl_wipe(void *p, size_t len)
{
	if (p && len)
		explicit_bzero(p, len);
}

bool sl_ct_memeq(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t diff = 0;
	size_t i;

	/* No early exit, and volatile loads so the compiler cannot add one. */
	for (i = 0; i < len; i++)
		diff |= x[i] ^ y[i];
	/* 1 when diff is 0, else 0, without a branch on diff. */
	return (((unsigned int)diff - 1) >> 8) & 1;
}

int sl_sha256_chunks(uint8_t out[SL_SHA256_LEN],
		     const struct sl_chunk *chunks, size_t n)
{
	gcry_md_hd_t hd;
	gcry_error_t err;
	size_t i;

	if (!ready())
		return -EINVAL;
	/* Secure: the transcript hashes are public, but a caller may hash a
	 * secret (a commitment's nonce), and libgcrypt then keeps its
	 * buffered block in secure memory. */
	err = gcry_md_open(&hd, GCRY_MD_SHA256, GCRY_MD_FLAG_SECURE);
	if (err)
		return gcry_to_errno(err);
	for (i = 0; i < n; i++)
		if (chunks[i].len)
			gcry_md_write(hd, chunks[i].data, chunks[i].len);
	memcpy(out, gcry_md_read(hd, GCRY_MD_SHA256), SL_SHA256_LEN);
	gcry_md_close(hd);
	return 0;
}

int sl_sha256(uint8_t out[SL_SHA256_LEN], const void *data, size_t len)
{
	const struct sl_chunk chunk = { data, len };

	return sl_sha256_chunks(out, &chunk, 1);
}

/* An HMAC handle keyed with key, in secure memory. */
static int hmac_open(gcry_mac_hd_t *hd, const void *key, size_t key_len)
{
	static const uint8_t zero_key[1];
	gcry_error_t err;

	err = gcry_mac_open(hd, GCRY_MAC_HMAC_SHA256, GCRY_MAC_FLAG_SECURE,
			    NULL);
	if (err)
		return gcry_to_errno(err);
	/* HMAC pads its key with zeros to the block size, so an empty key
	 * is the same as one zero byte. Passing that instead does not rely
	 * on libgcrypt taking a zero-length, possibly NULL, key. */
	if (!key_len) {
		key = zero_key;
		key_len = sizeof(zero_key);
	}
	err = gcry_mac_setkey(*hd, key, key_len);
	if (err) {
		gcry_mac_close(*hd);
		return gcry_to_errno(err);
	}
	return 0;
}

static int hmac_write_read(gcry_mac_hd_t hd, uint8_t out[SL_HMAC_SHA256_LEN],
			   const struct sl_chunk *chunks, size_t n)
{
	size_t out_len = SL_HMAC_SHA256_LEN;
	gcry_error_t err;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!chunks[i].len)
			continue;
		err = gcry_mac_write(hd, chunks[i].data, chunks[i].len);
		if (err)
			return gcry_to_errno(err);
	}
	err = gcry_mac_read(hd, out, &out_len);
	if (err)
		return gcry_to_errno(err);
	return out_len == SL_HMAC_SHA256_LEN ? 0 : -EIO;
}

int sl_hmac_sha256_chunks(uint8_t out[SL_HMAC_SHA256_LEN],
			  const void *key, size_t key_len,
			  const struct sl_chunk *chunks, size_t n)
{
	gcry_mac_hd_t hd;
	int ret;

	if (!ready())
		return -EINVAL;
	ret = hmac_open(&hd, key, key_len);
	if (ret)
		return ret;
	ret = hmac_write_read(hd, out, chunks, n);
	gcry_mac_close(hd);
	/* The MAC may be a key (HKDF's PRK): never leave part of it. */
	if (ret)
		sl_wipe(out, SL_HMAC_SHA256_LEN);
	return ret;
}

int sl_hmac_sha256(uint8_t out[SL_HMAC_SHA256_LEN],
		   const void *key, size_t key_len,
		   const void *data, size_t len)
{
	const struct sl_chunk chunk = { data, len };

	return sl_hmac_sha256_chunks(out, key, key_len, &chunk, 1);
}

int sl_hkdf_extract(uint8_t prk[SL_HKDF_PRK_LEN],
		    const void *salt, size_t salt_len,
		    const void *ikm, size_t ikm_len)
{
	static const uint8_t zero_salt[SL_SHA256_LEN];

	/* RFC 5869 2.2: no salt means HashLen zeros. (As an HMAC key that
	 * is the same as the empty key; spelt out to follow the RFC.) */
	if (!salt_len) {
		salt = zero_salt;
		salt_len = sizeof(zero_salt);
	}
	return sl_hmac_sha256(prk, salt, salt_len, ikm, ikm_len);
}

int sl_hkdf_expand(uint8_t *okm, size_t okm_len,
		   const uint8_t *prk, size_t prk_len,
		   const void *info, size_t info_len)
{
	gcry_mac_hd_t hd;
	uint8_t *t;
	size_t done, take;
	uint8_t counter;
	int ret;

	if (!ready())
		return -EINVAL;
	if (okm_len > SL_HKDF_MAX_OKM_LEN || prk_len < SL_HKDF_PRK_LEN ||
	    (!okm && okm_len))
		return -EINVAL;

	/* T(i) is key material: keep it in secure memory. */
	t = sl_secure_alloc(SL_SHA256_LEN);
	if (!t)
		return -ENOMEM;
	/* The handle holds its own copy of prk, so okm may overwrite prk. */
	ret = hmac_open(&hd, prk, prk_len);
	if (ret)
		goto free_t;

	/* T(i) = HMAC(PRK, T(i-1) | info | i), T(0) empty, i from 1. */
	for (done = 0, counter = 1; done < okm_len; done += take, counter++) {
		const struct sl_chunk chunks[] = {
			{ t, counter > 1 ? SL_SHA256_LEN : 0 },
			{ info, info_len },
			{ &counter, 1 },
		};

		/* Back to the keyed state, without keying again. */
		if (counter > 1 && gcry_mac_reset(hd)) {
			ret = -EIO;
			goto close_hd;
		}
		ret = hmac_write_read(hd, t, chunks, 3);
		if (ret)
			goto close_hd;
		take = okm_len - done < SL_SHA256_LEN ? okm_len - done :
							 SL_SHA256_LEN;
		memcpy(okm + done, t, take);
	}

close_hd:
	gcry_mac_close(hd);
free_t:
	sl_secure_free(t, SL_SHA256_LEN);
	if (ret)
		sl_wipe(okm, okm_len);
	return ret;
}

int sl_hkdf(uint8_t *okm, size_t okm_len,
	    const void *salt, size_t salt_len,
	    const void *ikm, size_t ikm_len,
	    const void *info, size_t info_len)
{
	uint8_t *prk;
	int ret;

	if (!ready())
		return -EINVAL;
	if (okm_len > SL_HKDF_MAX_OKM_LEN || (!okm && okm_len))
		return -EINVAL;
	prk = sl_secure_alloc(SL_HKDF_PRK_LEN);
	if (!prk)
		return -ENOMEM;
	ret = sl_hkdf_extract(prk, salt, salt_len, ikm, ikm_len);
	if (!ret)
		ret = sl_hkdf_expand(okm, okm_len, prk, SL_HKDF_PRK_LEN,
				     info, info_len);
	sl_secure_free(prk, SL_HKDF_PRK_LEN);
	if (ret)
		sl_wipe(okm, okm_len);
	return ret;
}

/* RFC 7748 decodeScalar25519: a multiple of the cofactor 8, so that a
 * small-order component of the peer's point is multiplied away, with the
 * top bit set, so the ladder always runs the same number of steps. */
static void x25519_clamp(uint8_t k[SL_X25519_KEY_LEN])
{
	k[0] &= 248;
	k[31] &= 127;
	k[31] |= 64;
}

static int x25519(uint8_t out[SL_X25519_KEY_LEN],
		  const uint8_t priv[SL_X25519_KEY_LEN],
		  const uint8_t u[SL_X25519_KEY_LEN])
{
	static const uint8_t zero[SL_X25519_KEY_LEN];
	uint8_t point[SL_X25519_KEY_LEN];
	uint8_t *scalar, *result;
	gcry_error_t err;
	int ret;

	/* Scalar and result side by side in one secure block. */
	scalar = sl_secure_alloc(2 * SL_X25519_KEY_LEN);
	if (!scalar) {
		ret = ready() ? -ENOMEM : -EINVAL;
		goto wipe_out;
	}
	result = scalar + SL_X25519_KEY_LEN;

	/* Copies first: out may be priv or u. Clamping here, not only at
	 * key generation, makes any 32 bytes a valid private key, as the
	 * RFC's test vectors expect. */
	memcpy(scalar, priv, SL_X25519_KEY_LEN);
	x25519_clamp(scalar);
	/* RFC 7748 section 5: the top bit of a u-coordinate is ignored.
	 * libgcrypt 1.10 clamps and masks by itself as well (the tests
	 * pass without these two lines); doing it here does not depend on
	 * an undocumented detail of gcry_ecc_mul_point(). */
	memcpy(point, u, sizeof(point));
	point[31] &= 127;

	err = gcry_ecc_mul_point(GCRY_ECC_CURVE25519, result, scalar, point);
	if (err) {
		/* A libgcrypt that checks points itself reports a bad one
		 * as invalid data: that is the peer's key being refused. */
		ret = gcry_err_code(err) == GPG_ERR_INV_DATA ? -EKEYREJECTED :
							     gcry_to_errno(err);
		goto free_scalar;
	}
	/* Constant time: the result is a shared secret until proven zero. */
	if (sl_ct_memeq(result, zero, SL_X25519_KEY_LEN)) {
		ret = -EKEYREJECTED;
		goto free_scalar;
	}
	memcpy(out, result, SL_X25519_KEY_LEN);
	ret = 0;

free_scalar:
	sl_secure_free(scalar, 2 * SL_X25519_KEY_LEN);
wipe_out:
	if (ret)
		sl_wipe(out, SL_X25519_KEY_LEN);
	return ret;
}

int sl_x25519(uint8_t shared[SL_X25519_KEY_LEN],
	      const uint8_t priv[SL_X25519_KEY_LEN],
	      const uint8_t peer_pub[SL_X25519_KEY_LEN])
{
	return x25519(shared, priv, peer_pub);
}

int sl_x25519_public(uint8_t pub[SL_X25519_KEY_LEN],
		     const uint8_t priv[SL_X25519_KEY_LEN])
{
	/* The base point, u = 9. Passed explicitly rather than as NULL:
	 * gcry_ecc_mul_point() does not document NULL as the generator. */
	static const uint8_t base[SL_X25519_KEY_LEN] = { 9 };

	return x25519(pub, priv, base);
}

int sl_x25519_keypair(uint8_t priv[SL_X25519_KEY_LEN],
		      uint8_t pub[SL_X25519_KEY_LEN])
{
	int ret;

	if (!ready())
		return -EINVAL;
	/* The strongest level for every key, ephemeral ones included: a
	 * handshake at 9600 baud does not notice the cost. */
	gcry_randomize(priv, SL_X25519_KEY_LEN, GCRY_VERY_STRONG_RANDOM);
	/* Stored clamped, so the key on disk is the scalar actually used. */
	x25519_clamp(priv);
	ret = sl_x25519_public(pub, priv);
	if (ret)
		sl_wipe(priv, SL_X25519_KEY_LEN);
	return ret;
}

/* A ChaCha20-Poly1305 handle with key and nonce set and ad absorbed. */
static int aead_begin(gcry_cipher_hd_t *hd, const void *ad, size_t ad_len,
		      const uint8_t nonce[SL_AEAD_NONCE_LEN],
		      const uint8_t key[SL_AEAD_KEY_LEN])
{
	gcry_error_t err;

	/* Secure: the handle holds the key and its ChaCha20 state. */
	err = gcry_cipher_open(hd, GCRY_CIPHER_CHACHA20,
			       GCRY_CIPHER_MODE_POLY1305, GCRY_CIPHER_SECURE);
	if (err)
		return gcry_to_errno(err);
	err = gcry_cipher_setkey(*hd, key, SL_AEAD_KEY_LEN);
	if (!err)
		err = gcry_cipher_setiv(*hd, nonce, SL_AEAD_NONCE_LEN);
	/* The associated data must come before any ciphertext. */
	if (!err && ad_len)
		err = gcry_cipher_authenticate(*hd, ad, ad_len);
	if (err) {
		gcry_cipher_close(*hd);
		return gcry_to_errno(err);
	}
	return 0;
}

int sl_aead_seal(uint8_t *dst, const uint8_t *src, size_t len,
		 const void *ad, size_t ad_len,
		 const uint8_t nonce[SL_AEAD_NONCE_LEN],
		 const uint8_t key[SL_AEAD_KEY_LEN])
{
	gcry_cipher_hd_t hd;
	gcry_error_t err = 0;
	int ret;

	if (!ready())
		return -EINVAL;
	if (len > SIZE_MAX - SL_AEAD_TAG_LEN)
		return -EINVAL;
	ret = aead_begin(&hd, ad, ad_len, nonce, key);
	if (ret)
		return ret;
	/* In place is libgcrypt's NULL input, not dst == src. */
	if (len)
		err = dst == src ?
		      gcry_cipher_encrypt(hd, dst, len, NULL, 0) :
		      gcry_cipher_encrypt(hd, dst, len, src, len);
	if (!err)
		err = gcry_cipher_gettag(hd, dst + len, SL_AEAD_TAG_LEN);
	gcry_cipher_close(hd);
	if (err) {
		/* Keystream without a tag is no message: send nothing. */
		sl_wipe(dst, len + SL_AEAD_TAG_LEN);
		return gcry_to_errno(err);
	}
	return 0;
}

int sl_aead_open(uint8_t *dst, const uint8_t *src, size_t len,
		 const void *ad, size_t ad_len,
		 const uint8_t nonce[SL_AEAD_NONCE_LEN],
		 const uint8_t key[SL_AEAD_KEY_LEN])
{
	gcry_cipher_hd_t hd;
	gcry_error_t err = 0;
	size_t text_len;
	int ret;

	if (!ready())
		return -EINVAL;
	/* Too short to carry a tag: as unauthentic as a wrong tag. */
	if (len < SL_AEAD_TAG_LEN)
		return -EBADMSG;
	text_len = len - SL_AEAD_TAG_LEN;
	ret = aead_begin(&hd, ad, ad_len, nonce, key);
	if (ret)
		return ret;
	/* Poly1305 authenticates the ciphertext as it goes through
	 * decryption, so the plaintext exists before the verdict: dst is
	 * wiped below if the tag does not verify. The tag sits after the
	 * ciphertext, so in place decryption never overwrites it. */
	if (text_len)
		err = dst == src ?
		      gcry_cipher_decrypt(hd, dst, text_len, NULL, 0) :
		      gcry_cipher_decrypt(hd, dst, text_len, src, text_len);
	if (!err) {
		/* libgcrypt compares tags in constant time. */
		err = gcry_cipher_checktag(hd, src + text_len,
					   SL_AEAD_TAG_LEN);
		if (gcry_err_code(err) == GPG_ERR_CHECKSUM)
			ret = -EBADMSG;
		else if (err)
			ret = gcry_to_errno(err);
	} else {
		ret = gcry_to_errno(err);
	}
	gcry_cipher_close(hd);
	if (ret)
		sl_wipe(dst, text_len);
	return ret;
}
