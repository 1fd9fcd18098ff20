/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Ed25519 (RFC 8032) on libgcrypt, for the identity key that signs
 * receipts (receipt.h): anyone with the public key can check a signature,
 * unlike the pair's LTK or the X25519 account key, which only convince
 * the two ends.
 *
 * The identity key is derived, not stored: seed = HKDF-SHA-256(salt = "",
 * ikm = the installation's X25519 private key, info = "sealine v1
 * receipt signing key" || account, L = 32). It lives and dies with the
 * account key in the key store's identity file (nothing new to back up,
 * never out of step with it), and is independent of it: HKDF's output
 * reveals nothing of its input, so the two keys are never the same secret
 * used by two algorithms. The key store calls sl_sign_key_derive() when it
 * loads the identity and shows the public key with the account.
 *
 * Secrets (the seed, libgcrypt's copies) live in secure memory and are
 * wiped; sl_crypto_init() must have succeeded. 0 or a negative errno.
 */
#ifndef SEALINE_COURIER_SIGN_H
#define SEALINE_COURIER_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define SL_SIGN_SEED_LEN	32
#define SL_SIGN_PUB_LEN		32
#define SL_SIGN_SIG_LEN		64
#define SL_SIGN_DERIVE_LABEL	"sealine v1 receipt signing key"

struct sl_sign_key {
	uint8_t *seed;			/* secure memory, SL_SIGN_SEED_LEN */
	uint8_t pub[SL_SIGN_PUB_LEN];
};

/* The key pair of an RFC 8032 private key (its 32-byte seed). */
int sl_sign_key_from_seed(struct sl_sign_key *k,
			  const uint8_t seed[SL_SIGN_SEED_LEN]);

/* The identity signing key of an installation (see above). account is
 * its SL_ENV_ACCOUNT_LEN digits. */
int sl_sign_key_derive(struct sl_sign_key *k, const uint8_t x25519_priv[32],
		       const char *account);

/* Wipes and frees the seed. Safe on a wiped key. */
void sl_sign_key_wipe(struct sl_sign_key *k);

/* Ed25519 signature of msg (pure Ed25519, no prehash, no context). */
int sl_sign(uint8_t sig[SL_SIGN_SIG_LEN], const struct sl_sign_key *k,
	    const void *msg, size_t len);

/*
 * 0 if sig is pub's signature of msg; -EBADMSG if not, and for a
 * non-canonical S (S >= L: the malleable form RFC 8032 requires
 * verifiers to refuse) or a public key that is no curve point.
 */
int sl_sign_verify(const uint8_t pub[SL_SIGN_PUB_LEN], const void *msg,
		   size_t len, const uint8_t sig[SL_SIGN_SIG_LEN]);

#endif
