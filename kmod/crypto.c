// SPDX-License-Identifier: GPL-2.0
/*
 * AEAD record protection for sealine through the kernel crypto API.
 *
 * Only synchronous implementations are requested (mask CRYPTO_ALG_ASYNC):
 * frames are sealed in the transmit work and opened in the tty receive
 * path, both of which can wait for a synchronous cipher but have nowhere to
 * park an asynchronous completion. Key material lives only inside the
 * transforms, and crypto_free_aead() wipes it (kfree_sensitive).
 */
#include <crypto/aead.h>
#include <linux/err.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>

#include "crypto.h"
#include "frame.h"

static const char *const sealine_cipher_algs[] = {
	[SEALINE_CIPHER_CHACHA20POLY1305] = "rfc7539(chacha20,poly1305)",
	[SEALINE_CIPHER_AES256GCM] = "gcm(aes)",
};

static const char *const sealine_cipher_names[] = {
	[SEALINE_CIPHER_NONE] = "none",
	[SEALINE_CIPHER_CHACHA20POLY1305] = "chacha20poly1305",
	[SEALINE_CIPHER_AES256GCM] = "aes256gcm",
};

const char *sealine_cipher_name(enum sealine_cipher cipher)
{
	if (cipher >= ARRAY_SIZE(sealine_cipher_names))
		return "unknown";
	return sealine_cipher_names[cipher];
}

static int sealine_aead_init(enum sealine_cipher cipher, const u8 *key,
			     struct crypto_aead **tfm_out,
			     struct aead_request **req_out)
{
	struct crypto_aead *tfm;
	struct aead_request *req;
	int ret;

	tfm = crypto_alloc_aead(sealine_cipher_algs[cipher], 0,
				CRYPTO_ALG_ASYNC);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	ret = crypto_aead_setauthsize(tfm, SEALINE_TAG_LEN);
	if (ret)
		goto err_free_tfm;
	ret = crypto_aead_setkey(tfm, key, SEALINE_KEY_LEN);
	if (ret)
		goto err_free_tfm;
	req = aead_request_alloc(tfm, GFP_KERNEL);
	if (!req) {
		ret = -ENOMEM;
		goto err_free_tfm;
	}
	aead_request_set_callback(req, 0, NULL, NULL);
	*tfm_out = tfm;
	*req_out = req;
	return 0;

err_free_tfm:
	crypto_free_aead(tfm);
	return ret;
}

static void sealine_key_free(struct kref *ref)
{
	struct sealine_key *key = container_of(ref, struct sealine_key,
					       refcount);

	aead_request_free(key->tx_req);
	aead_request_free(key->rx_req);
	crypto_free_aead(key->tx_tfm);
	crypto_free_aead(key->rx_tfm);
	kfree_sensitive(key);
}

struct sealine_key *sealine_key_create(enum sealine_cipher cipher, u32 epoch,
				       const u8 *tx_key, const u8 *rx_key)
{
	struct sealine_key *key;
	int ret;

	if (cipher != SEALINE_CIPHER_CHACHA20POLY1305 &&
	    cipher != SEALINE_CIPHER_AES256GCM)
		return ERR_PTR(-EPROTONOSUPPORT);

	key = kzalloc(sizeof(*key), GFP_KERNEL);
	if (!key)
		return ERR_PTR(-ENOMEM);
	kref_init(&key->refcount);
	key->epoch = epoch;
	key->cipher = cipher;
	sealine_replay_init(&key->replay);

	ret = sealine_aead_init(cipher, tx_key, &key->tx_tfm, &key->tx_req);
	if (ret)
		goto err_free_key;
	ret = sealine_aead_init(cipher, rx_key, &key->rx_tfm, &key->rx_req);
	if (ret)
		goto err_free_tx;
	return key;

err_free_tx:
	aead_request_free(key->tx_req);
	crypto_free_aead(key->tx_tfm);
err_free_key:
	kfree_sensitive(key);
	return ERR_PTR(ret);
}

void sealine_key_put(struct sealine_key *key)
{
	if (key)
		kref_put(&key->refcount, sealine_key_free);
}

/*
 * Seals a frame in place. frame holds the AAD (header and truncated
 * counter), then len bytes of plaintext, then room for the tag.
 */
int sealine_key_seal(struct sealine_key *key, u8 *frame, size_t len,
		     u64 counter)
{
	u8 nonce[SEALINE_NONCE_LEN];
	struct scatterlist sg;

	sealine_nonce(nonce, counter);
	sg_init_one(&sg, frame, SEALINE_AAD_LEN + len + SEALINE_TAG_LEN);
	aead_request_set_ad(key->tx_req, SEALINE_AAD_LEN);
	aead_request_set_crypt(key->tx_req, &sg, &sg, len, nonce);
	return crypto_aead_encrypt(key->tx_req);
}

/*
 * Opens a received frame in place; len covers AAD, ciphertext and tag.
 * Returns -EBADMSG if the tag does not verify.
 */
int sealine_key_open(struct sealine_key *key, u8 *frame, size_t len,
		     u64 counter)
{
	u8 nonce[SEALINE_NONCE_LEN];
	struct scatterlist sg;

	sealine_nonce(nonce, counter);
	sg_init_one(&sg, frame, len);
	aead_request_set_ad(key->rx_req, SEALINE_AAD_LEN);
	aead_request_set_crypt(key->rx_req, &sg, &sg,
			       len - SEALINE_AAD_LEN, nonce);
	return crypto_aead_decrypt(key->rx_req);
}
