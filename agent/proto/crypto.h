/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The cryptographic primitives of sealined's handshakes, all computed by
 * libgcrypt (1.9 or later):
 *
 *	X25519			RFC 7748	sl_x25519_keypair, sl_x25519
 *	SHA-256			FIPS 180-4	sl_sha256
 *	HMAC-SHA-256		RFC 2104	sl_hmac_sha256
 *	HKDF-SHA-256		RFC 5869	sl_hkdf_extract, sl_hkdf_expand
 *	ChaCha20-Poly1305	RFC 8439	sl_aead_seal, sl_aead_open
 *	short auth. string	(sas.c)		sl_sas_from_hash, sl_sas_normalize
 *
 * This is the layer under the handshakes, not the handshakes: no state
 * machine, no message layout, no key schedule lives here.
 *
 * Conventions
 *
 *  - sl_crypto_init() comes first, once, in the main thread before any
 *    other thread exists. Every function below that uses libgcrypt returns
 *    -EINVAL if it has not succeeded, rather than let libgcrypt initialise
 *    itself without secure memory.
 *  - Functions return 0 or a negative errno: -EINVAL bad argument (or no
 *    sl_crypto_init), -ENOMEM secure memory exhausted, -EKEYREJECTED a peer
 *    X25519 key of low order, -EBADMSG a message that failed
 *    authentication, -EIO any other libgcrypt failure.
 *  - Outputs come first in the argument list. An output may be the same
 *    buffer as an input unless the function says otherwise; partial
 *    overlaps are never allowed.
 *  - Secrets (private keys, shared secrets, chaining keys, AEAD keys, PRKs)
 *    belong in secure memory: sl_secure_alloc() and sl_secure_free(). It is
 *    locked into RAM so it never reaches swap, and it is wiped when freed.
 *    Every temporary secret these functions make lives there and is wiped
 *    on every path out. libgcrypt keeps its own copies (key schedules, HMAC
 *    state) in secure memory too, because every handle is opened with its
 *    SECURE flag. On failure, secret outputs are wiped, never left half
 *    written.
 *  - A pointer with length 0 may be NULL.
 */
#ifndef SEALINE_AGENT_CRYPTO_H
#define SEALINE_AGENT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_X25519_KEY_LEN	32
#define SL_SHA256_LEN		32
#define SL_HMAC_SHA256_LEN	32
#define SL_HKDF_PRK_LEN		SL_SHA256_LEN
/* RFC 5869: at most 255 blocks of HashLen octets. */
#define SL_HKDF_MAX_OKM_LEN	(255 * SL_SHA256_LEN)
#define SL_AEAD_KEY_LEN		32
#define SL_AEAD_NONCE_LEN	12
#define SL_AEAD_TAG_LEN		16

/*
 * The default size of the secure memory pool. A handshake in progress
 * holds about a kilobyte of it (its secrets, and libgcrypt's scratch
 * space during an X25519), so this serves dozens at once; a TSP with more
 * lines asks sl_crypto_init() for more. The pool does not grow: libgcrypt
 * would grow it with ordinary malloc, which can be swapped out, so an
 * exhausted pool fails with -ENOMEM instead.
 */
#define SL_SECMEM_POOL_SIZE	(64 * 1024)

/* Oldest libgcrypt with gcry_ecc_mul_point(). */
#define SL_GCRYPT_MIN_VERSION	"1.9.0"

/* Flags for sl_crypto_init(). */
enum {
	/*
	 * Don't print libgcrypt's "using insecure memory" warning when the
	 * pool cannot be locked into RAM (no CAP_IPC_LOCK and a small
	 * RLIMIT_MEMLOCK). The pool is used either way. For tests and
	 * unprivileged tools; the daemon should let the warning through.
	 */
	SL_CRYPTO_QUIET_SECMEM = 1u << 0,
};

/*
 * Checks the libgcrypt version, sets up a secure memory pool of
 * secmem_size bytes (0: SL_SECMEM_POOL_SIZE) and finishes libgcrypt's
 * initialisation. Idempotent: later calls return 0 (or the first call's
 * error) and change nothing. If something else in the process already
 * finished initialising libgcrypt, its setup is kept but must include
 * working secure memory.
 *
 * On failure returns -ENOTSUP (libgcrypt too old or in FIPS mode, which
 * refuses ChaCha20-Poly1305), -EIO (no secure memory) or -EINVAL (a pool
 * size over UINT_MAX, not remembered as a failure), and writes an
 * explanation for the operator into why (NUL-terminated, may be
 * truncated; why may be NULL if why_len is 0).
 */
int sl_crypto_init(size_t secmem_size, unsigned int flags, char *why,
		   size_t why_len);

/*
 * Zeroed secure memory for a secret, or NULL if the pool is exhausted (or
 * sl_crypto_init() has not succeeded). Never ordinary memory instead.
 */
void *sl_secure_alloc(size_t len);

/* Wipes len bytes at p, then frees it. p may be NULL. */
void sl_secure_free(void *p, size_t len);

/* Zeroes memory in a way the compiler may not optimise away. */
void sl_wipe(void *p, size_t len);

/*
 * true if the len bytes at a and b are equal. Its run time depends only on
 * len, never on the contents, so comparing a received MAC with the
 * expected one tells an attacker nothing about how much of it was right.
 */
bool sl_ct_memeq(const void *a, const void *b, size_t len);

/* A piece of a message hashed or MACed in several parts. */
struct sl_chunk {
	const void *data;
	size_t len;
};

/* SHA-256 of data, or of the concatenation of n chunks. */
int sl_sha256(uint8_t out[SL_SHA256_LEN], const void *data, size_t len);
int sl_sha256_chunks(uint8_t out[SL_SHA256_LEN],
		     const struct sl_chunk *chunks, size_t n);

/*
 * HMAC-SHA-256. Any key length, 0 included (which HMAC defines as equal to
 * any all-zero key up to the block size).
 */
int sl_hmac_sha256(uint8_t out[SL_HMAC_SHA256_LEN],
		   const void *key, size_t key_len,
		   const void *data, size_t len);
int sl_hmac_sha256_chunks(uint8_t out[SL_HMAC_SHA256_LEN],
			  const void *key, size_t key_len,
			  const struct sl_chunk *chunks, size_t n);

/*
 * HKDF-SHA-256 (RFC 5869), built from HMAC as the RFC writes it.
 *
 * Extract: prk = HMAC(salt, ikm); an empty salt means HashLen zeros.
 * Expand: okm_len bytes (at most SL_HKDF_MAX_OKM_LEN) from a prk of at
 * least SL_HKDF_PRK_LEN bytes; okm must not overlap info (it may overlap
 * prk). sl_hkdf does both and keeps the prk in secure memory.
 *
 * A Noise HKDF(ck, ikm) with two or three outputs is sl_hkdf() with salt
 * ck, an empty info and okm_len 64 or 96: the outputs are okm's 32-byte
 * blocks in order.
 */
int sl_hkdf_extract(uint8_t prk[SL_HKDF_PRK_LEN],
		    const void *salt, size_t salt_len,
		    const void *ikm, size_t ikm_len);
int sl_hkdf_expand(uint8_t *okm, size_t okm_len,
		   const uint8_t *prk, size_t prk_len,
		   const void *info, size_t info_len);
int sl_hkdf(uint8_t *okm, size_t okm_len,
	    const void *salt, size_t salt_len,
	    const void *ikm, size_t ikm_len,
	    const void *info, size_t info_len);

/*
 * X25519 (RFC 7748).
 *
 * sl_x25519_keypair: a fresh private key from libgcrypt's strongest random
 * level, stored clamped, and its public key.
 *
 * sl_x25519_public: the public key of priv.
 *
 * sl_x25519: the shared secret of priv and a peer's public key. Scalars
 * are clamped and the top bit of the peer's u-coordinate ignored as the RFC
 * requires, so any 32 bytes are accepted as input. A result of all zeros
 * means the peer sent a point of small order, whose "shared secret" anyone
 * can predict: that is refused with -EKEYREJECTED (RFC 7748 section 6.1),
 * never returned.
 */
int sl_x25519_keypair(uint8_t priv[SL_X25519_KEY_LEN],
		      uint8_t pub[SL_X25519_KEY_LEN]);
int sl_x25519_public(uint8_t pub[SL_X25519_KEY_LEN],
		     const uint8_t priv[SL_X25519_KEY_LEN]);
int sl_x25519(uint8_t shared[SL_X25519_KEY_LEN],
	      const uint8_t priv[SL_X25519_KEY_LEN],
	      const uint8_t peer_pub[SL_X25519_KEY_LEN]);

/*
 * ChaCha20-Poly1305 (RFC 8439) with a 96-bit nonce. A nonce must never be
 * used twice with one key: the caller builds it from a counter.
 *
 * sl_aead_seal: dst receives len bytes of ciphertext followed by the
 * SL_AEAD_TAG_LEN-byte tag (len + SL_AEAD_TAG_LEN in all).
 *
 * sl_aead_open: src is a sealed message of len bytes, tag included; dst
 * receives len - SL_AEAD_TAG_LEN bytes of plaintext. Returns -EBADMSG if
 * the message is shorter than a tag or its tag does not verify (compared
 * in constant time); dst is then wiped, because the unauthenticated
 * plaintext was already written there, and must not be used.
 *
 * dst may be src (in place); other overlaps are not allowed.
 */
int sl_aead_seal(uint8_t *dst, const uint8_t *src, size_t len,
		 const void *ad, size_t ad_len,
		 const uint8_t nonce[SL_AEAD_NONCE_LEN],
		 const uint8_t key[SL_AEAD_KEY_LEN]);
int sl_aead_open(uint8_t *dst, const uint8_t *src, size_t len,
		 const void *ad, size_t ad_len,
		 const uint8_t nonce[SL_AEAD_NONCE_LEN],
		 const uint8_t key[SL_AEAD_KEY_LEN]);

/*
 * The short authentication string (sas.c): 5 characters the two operators
 * read to each other over the phone during pairing, 25 bits of a hash
 * both ends derive from the handshake transcript.
 *
 * The alphabet has 32 symbols, 5 bits each: the digits 2-9 and the capital
 * letters without I and O. None of 0/O, 1/I is in it, so a symbol cannot
 * be misread as another symbol. Digits and letters are 36; leaving out
 * all five of 0, O, 1, I and L would leave 31, so one had to stay: L,
 * which looks like 1 only in lower case, and that is never shown.
 *
 * sl_sas_from_hash: the first 25 bits of hash, most significant bit of
 * hash[0] first, 5 bits per character. The rest of hash is not used. The
 * hash must be one neither side could choose (the pairing's commitment
 * sees to that); 25 bits then give a man in the middle one chance in 2^25.
 *
 * sl_sas_normalize: what an operator typed, as the 5 symbols it means.
 * Case is ignored, so are spaces, tabs and dashes ("rbw-3f"). 1 and I,
 * which are not symbols, are read as L, the only symbol they can be
 * mistaken for. 0 and O are refused rather than guessed at. Because every
 * mapping starts from a character that is not a symbol, no mistyped SAS
 * can turn into a different valid one. Returns -EINVAL (and an empty out)
 * for anything else or a length other than 5.
 *
 * sl_sas_matches: whether typed, normalised, is sas.
 */
#define SL_SAS_LEN		5
#define SL_SAS_BITS		(5 * SL_SAS_LEN)
#define SL_SAS_ALPHABET		"23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

void sl_sas_from_hash(char out[SL_SAS_LEN + 1],
		      const uint8_t hash[SL_SHA256_LEN]);
int sl_sas_normalize(char out[SL_SAS_LEN + 1], const char *typed);
bool sl_sas_matches(const char *typed, const char sas[SL_SAS_LEN + 1]);

#endif
