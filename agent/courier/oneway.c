// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Noise_Xpsk1_25519_ChaChaPoly_SHA256, the one-way pattern that seals an
 * envelope header, on the SymmetricState of agent/noise.c. agent/noise.c
 * runs the interactive patterns of the handshakes; a one-way pattern has
 * no turns and a reader that needs the sender's identity (the "s" token)
 * before it can name the PSK, so it is written out here token by token.
 * Checked against the published Cacophony vector for this protocol name
 * (tests/unit/courier/test_courier.c, xpsk1_cacophony).
 */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "internal.h"

/* InitializeSymmetric(name), MixHash(prologue), the pre-message "s". */
static int start(struct sl_noise_symmetric *ss, const void *prologue,
		 size_t prologue_len, const uint8_t rs[SL_NOISE_KEY_LEN])
{
	int err;

	memset(ss, 0, sizeof(*ss));
	/* The name is longer than HASHLEN: h = HASH(name). */
	err = sl_sha256(ss->h, SL_XPSK1_NAME, strlen(SL_XPSK1_NAME));
	if (err)
		return err;
	memcpy(ss->ck, ss->h, SL_NOISE_HASH_LEN);
	err = sl_noise_mix_hash(ss, prologue, prologue_len);
	if (!err)
		err = sl_noise_mix_hash(ss, rs, SL_NOISE_KEY_LEN);
	return err;
}

/* "e" with the psk modifier: MixHash(e.pub), MixKey(e.pub). */
static int token_e(struct sl_noise_symmetric *ss, const uint8_t *e_pub)
{
	int err = sl_noise_mix_hash(ss, e_pub, SL_NOISE_KEY_LEN);

	return err ? err : sl_noise_mix_key(ss, e_pub, SL_NOISE_KEY_LEN);
}

/* MixKey(DH(priv, pub)), the DH result in secure memory. */
static int token_dh(struct sl_noise_symmetric *ss, const uint8_t *priv,
		    const uint8_t *pub)
{
	uint8_t *dh = sl_secure_alloc(SL_NOISE_KEY_LEN);
	int err;

	if (!dh)
		return -ENOMEM;
	err = sl_x25519(dh, priv, pub);
	if (!err)
		err = sl_noise_mix_key(ss, dh, SL_NOISE_KEY_LEN);
	sl_secure_free(dh, SL_NOISE_KEY_LEN);
	return err;
}

/* "psk": MixKeyAndHash(psk) (section 5.2). */
static int token_psk(struct sl_noise_symmetric *ss, const uint8_t *psk)
{
	uint8_t *okm = sl_secure_alloc(3 * SL_NOISE_HASH_LEN);
	int err;

	if (!okm)
		return -ENOMEM;
	err = sl_hkdf(okm, 3 * SL_NOISE_HASH_LEN, ss->ck, SL_NOISE_HASH_LEN,
		      psk, SL_NOISE_KEY_LEN, NULL, 0);
	if (!err) {
		memcpy(ss->ck, okm, SL_NOISE_HASH_LEN);
		err = sl_noise_mix_hash(ss, okm + SL_NOISE_HASH_LEN,
					SL_NOISE_HASH_LEN);
		memcpy(ss->cs.k, okm + 2 * SL_NOISE_HASH_LEN, SL_NOISE_KEY_LEN);
		ss->cs.n = 0;
		ss->cs.has_k = true;
	}
	sl_secure_free(okm, 3 * SL_NOISE_HASH_LEN);
	return err;
}

int sl_xpsk1_write(struct sl_noise_symmetric *ss, const void *prologue,
		   size_t prologue_len, const uint8_t s[SL_NOISE_KEY_LEN],
		   const uint8_t rs[SL_NOISE_KEY_LEN],
		   const uint8_t psk[SL_NOISE_KEY_LEN], const uint8_t *e,
		   const uint8_t *payload, size_t len, uint8_t *out)
{
	uint8_t *keys = sl_secure_alloc(2 * SL_NOISE_KEY_LEN);
	uint8_t *e_priv = keys, *s_pub, e_pub[SL_NOISE_KEY_LEN];
	size_t off = 0;
	int err;

	if (!keys)
		return -ENOMEM;
	s_pub = keys + SL_NOISE_KEY_LEN;
	if (e) {
		memcpy(e_priv, e, SL_NOISE_KEY_LEN);
		err = sl_x25519_public(e_pub, e_priv);
	} else {
		err = sl_x25519_keypair(e_priv, e_pub);
	}
	if (!err)
		err = sl_x25519_public(s_pub, s);
	if (!err)
		err = start(ss, prologue, prologue_len, rs);
	if (err)
		goto out;

	memcpy(out, e_pub, SL_NOISE_KEY_LEN);			/* e */
	off += SL_NOISE_KEY_LEN;
	err = token_e(ss, e_pub);
	if (!err)
		err = token_dh(ss, e_priv, rs);			/* es */
	if (!err)
		err = sl_noise_encrypt_and_hash(ss, s_pub,	/* s */
						SL_NOISE_KEY_LEN, out + off);
	off += SL_NOISE_KEY_LEN + SL_NOISE_TAG_LEN;
	if (!err)
		err = token_dh(ss, s, rs);			/* ss */
	if (!err)
		err = token_psk(ss, psk);			/* psk */
	if (!err)
		err = sl_noise_encrypt_and_hash(ss, payload, len, out + off);
out:
	/* The ephemeral key is used once, here: after this no one, not
	 * even the sender, can compute es again. */
	sl_secure_free(keys, 2 * SL_NOISE_KEY_LEN);
	if (err)
		sl_wipe(ss, sizeof(*ss));
	return err;
}

int sl_xpsk1_read_s(struct sl_noise_symmetric *ss, const void *prologue,
		    size_t prologue_len, const uint8_t s[SL_NOISE_KEY_LEN],
		    const uint8_t s_pub[SL_NOISE_KEY_LEN], const uint8_t *msg,
		    uint8_t rs[SL_NOISE_KEY_LEN])
{
	int err = start(ss, prologue, prologue_len, s_pub);

	if (!err)
		err = token_e(ss, msg);				/* e */
	if (!err)
		err = token_dh(ss, s, msg);			/* es */
	if (!err)
		err = sl_noise_decrypt_and_hash(ss, msg + SL_NOISE_KEY_LEN,
						SL_NOISE_KEY_LEN +	/* s */
						SL_NOISE_TAG_LEN, rs);
	if (err)
		sl_wipe(ss, sizeof(*ss));
	return err;
}

int sl_xpsk1_read_rest(struct sl_noise_symmetric *ss,
		       const uint8_t s[SL_NOISE_KEY_LEN],
		       const uint8_t rs[SL_NOISE_KEY_LEN],
		       const uint8_t psk[SL_NOISE_KEY_LEN], const uint8_t *msg,
		       size_t len, uint8_t *payload)
{
	size_t off = 2 * SL_NOISE_KEY_LEN + SL_NOISE_TAG_LEN;
	int err;

	if (len < off + SL_NOISE_TAG_LEN)
		return -EMSGSIZE;
	err = token_dh(ss, s, rs);				/* ss */
	if (!err)
		err = token_psk(ss, psk);			/* psk */
	if (!err)
		err = sl_noise_decrypt_and_hash(ss, msg + off, len - off,
						payload);
	if (err)
		sl_wipe(ss, sizeof(*ss));
	return err;
}
