// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The envelope header and its chunks (Documentation/courier.rst,
 * "Header" and "Chunks"):
 *
 *	clear	magic "SEALENV", version 1, envelope id (16 random bytes)
 *	noise	Noise_Xpsk1 message, prologue = clear, psk = the pair's LTK:
 *		e, encrypted s, encrypted inner header (accounts, time,
 *		content type)
 *
 *	payload key = HKDF-SHA-256(salt = ck, ikm = h,
 *				   info = "sealine v1 envelope payload")
 *	chunk i    = ChaCha20-Poly1305(payload key,
 *				       nonce = i (11 bytes BE) || last, ad = "")
 */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "internal.h"

#define PAYLOAD_LABEL	"sealine v1 envelope payload"

static bool is_account(const char *p)
{
	for (int i = 0; i < SL_ENV_ACCOUNT_LEN; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

static void put_clear(uint8_t *out, const uint8_t id[SL_ENV_ID_LEN])
{
	memcpy(out, SL_ENV_MAGIC, SL_ENV_MAGIC_LEN);
	out[SL_ENV_MAGIC_LEN] = SL_ENV_VERSION;
	memcpy(out + SL_ENV_MAGIC_LEN + 1, id, SL_ENV_ID_LEN);
}

/* The payload key from the handshake's final ck and h. */
static int payload_key(uint8_t **key, const struct sl_noise_symmetric *ss)
{
	int err;

	*key = sl_secure_alloc(SL_ENV_KEY_LEN);
	if (!*key)
		return -ENOMEM;
	err = sl_hkdf(*key, SL_ENV_KEY_LEN, ss->ck, SL_NOISE_HASH_LEN, ss->h,
		      SL_NOISE_HASH_LEN, PAYLOAD_LABEL, strlen(PAYLOAD_LABEL));
	if (err) {
		sl_secure_free(*key, SL_ENV_KEY_LEN);
		*key = NULL;
	}
	return err;
}

int sl_env_header_seal(uint8_t out[SL_ENV_HEADER_LEN], uint8_t **key,
		       const struct sl_env_self *me,
		       const struct sl_env_peer *to,
		       const struct sl_env_header_in *in)
{
	uint8_t inner[SL_ENV_INNER_LEN];
	struct sl_noise_symmetric *ss;
	int err;

	*key = NULL;
	if (!me->priv || !to->ltk || !is_account(me->account) ||
	    !is_account(to->account))
		return -EINVAL;
	ss = sl_secure_alloc(sizeof(*ss));
	if (!ss)
		return -ENOMEM;

	put_clear(out, in->id);
	memcpy(inner, me->account, SL_ENV_ACCOUNT_LEN);
	memcpy(inner + SL_ENV_ACCOUNT_LEN, to->account, SL_ENV_ACCOUNT_LEN);
	sl_env_put64(inner + 2 * SL_ENV_ACCOUNT_LEN, (uint64_t)in->created);
	inner[2 * SL_ENV_ACCOUNT_LEN + 8] = SL_ENV_CONTENT_PAX_ZSTD;

	err = sl_xpsk1_write(ss, out, SL_ENV_CLEAR_LEN, me->priv, to->pub,
			     to->ltk, in->ephemeral, inner, sizeof(inner),
			     out + SL_ENV_CLEAR_LEN);
	if (!err)
		err = payload_key(key, ss);
	sl_secure_free(ss, sizeof(*ss));
	return err;
}

void sl_env_opened_wipe(struct sl_env_opened *o)
{
	if (!o)
		return;
	sl_secure_free(o->key, SL_ENV_KEY_LEN);
	memset(o, 0, sizeof(*o));
}

/* Magic and version of the first len bytes, as far as they go. */
static enum sl_env_reason check_clear(const uint8_t *in, size_t len,
				      struct sl_env_refusal *why)
{
	size_t n = len < SL_ENV_MAGIC_LEN ? len : SL_ENV_MAGIC_LEN;

	if (memcmp(in, SL_ENV_MAGIC, n))
		return sl_env_refuse(why, SL_ENV_BAD_FORMAT,
				     "no \"%s\" magic at its start",
				     SL_ENV_MAGIC);
	if (len > SL_ENV_MAGIC_LEN && in[SL_ENV_MAGIC_LEN] != SL_ENV_VERSION)
		return sl_env_refuse(why, SL_ENV_BAD_VERSION,
				     "envelope version %u; this recipient reads version %u",
				     in[SL_ENV_MAGIC_LEN], SL_ENV_VERSION);
	if (len < SL_ENV_HEADER_LEN)
		return sl_env_refuse(why, SL_ENV_TRUNCATED,
				     "the header has %zu of its %u bytes",
				     len, SL_ENV_HEADER_LEN);
	return SL_ENV_OK;
}

enum sl_env_reason sl_env_header_open(struct sl_env_opened *out,
				      const uint8_t *in, size_t len,
				      const struct sl_env_self *me,
				      sl_env_find_peer_fn find_peer, void *ctx,
				      struct sl_env_refusal *why)
{
	const uint8_t *msg = in + SL_ENV_CLEAR_LEN;
	uint8_t inner[SL_ENV_INNER_LEN], rs[SL_ENV_KEY_LEN];
	struct sl_noise_symmetric *ss;
	struct sl_env_peer peer;
	enum sl_env_reason r;
	char hex[17];
	int err;

	memset(out, 0, sizeof(*out));
	r = check_clear(in, len, why);
	if (r)
		return r;
	if (len > SL_ENV_HEADER_LEN)
		len = SL_ENV_HEADER_LEN;
	ss = sl_secure_alloc(sizeof(*ss));
	if (!ss)
		return sl_env_refuse(why, SL_ENV_INTERNAL,
				     "secure memory exhausted");

	err = sl_xpsk1_read_s(ss, in, SL_ENV_CLEAR_LEN, me->priv, me->pub,
			      msg, rs);
	if (err) {
		r = err == -ENOMEM ?
		    sl_env_refuse(why, SL_ENV_INTERNAL,
				  "secure memory exhausted") :
		    sl_env_refuse(why, SL_ENV_NOT_FOR_US,
				  "the header does not open with the key of account %s",
				  me->account);
		goto out;
	}
	memset(&peer, 0, sizeof(peer));
	sl_hex_encode(hex, rs, 8);
	if (find_peer(ctx, rs, &peer) || !peer.ltk) {
		r = sl_env_refuse(why, SL_ENV_UNKNOWN_SENDER,
				  "sender key %s... is not paired with account %s",
				  hex, me->account);
		goto out;
	}
	if (!peer.allowed) {
		r = sl_env_refuse(why, SL_ENV_NOT_AUTHORISED,
				  "account %.12s is revoked or not authorised here",
				  peer.account);
		goto out;
	}
	err = sl_xpsk1_read_rest(ss, me->priv, rs, peer.ltk, msg,
				 len - SL_ENV_CLEAR_LEN, inner);
	if (err) {
		r = err == -ENOMEM ?
		    sl_env_refuse(why, SL_ENV_INTERNAL,
				  "secure memory exhausted") :
		    sl_env_refuse(why, SL_ENV_DAMAGED,
				  "the header fails authentication under the pairing with %.12s: changed on the way, or the two ends hold different pairings",
				  peer.account);
		goto out;
	}
	/* Authentic from here on: what is wrong now, the sender said. */
	if (!is_account((char *)inner) ||
	    memcmp(inner, peer.account, SL_ENV_ACCOUNT_LEN)) {
		r = sl_env_refuse(why, SL_ENV_UNKNOWN_SENDER,
				  "the sender names itself \"%.12s\" but its key is paired as %.12s",
				  is_account((char *)inner) ? (char *)inner : "?",
				  peer.account);
		goto out;
	}
	if (memcmp(inner + SL_ENV_ACCOUNT_LEN, me->account,
		   SL_ENV_ACCOUNT_LEN)) {
		char to[SL_ENV_ACCOUNT_LEN + 1];

		memcpy(to, inner + SL_ENV_ACCOUNT_LEN, SL_ENV_ACCOUNT_LEN);
		to[SL_ENV_ACCOUNT_LEN] = 0;
		r = sl_env_refuse(why, SL_ENV_WRONG_RECIPIENT,
				  "addressed to account %s, this is %s",
				  is_account(to) ? to : "?", me->account);
		goto out;
	}
	if (inner[2 * SL_ENV_ACCOUNT_LEN + 8] != SL_ENV_CONTENT_PAX_ZSTD) {
		r = sl_env_refuse(why, SL_ENV_BAD_VERSION,
				  "content type %u; this recipient reads type %u",
				  inner[2 * SL_ENV_ACCOUNT_LEN + 8],
				  SL_ENV_CONTENT_PAX_ZSTD);
		goto out;
	}
	err = payload_key(&out->key, ss);
	if (err) {
		r = sl_env_refuse(why, SL_ENV_INTERNAL,
				  "deriving the payload key failed (%s)",
				  strerror(-err));
		goto out;
	}
	memcpy(out->id, in + SL_ENV_MAGIC_LEN + 1, SL_ENV_ID_LEN);
	memcpy(out->sender, inner, SL_ENV_ACCOUNT_LEN);
	memcpy(out->sender_pub, rs, SL_ENV_KEY_LEN);
	memcpy(out->recipient, inner + SL_ENV_ACCOUNT_LEN, SL_ENV_ACCOUNT_LEN);
	out->created = (int64_t)sl_env_get64(inner + 2 * SL_ENV_ACCOUNT_LEN);
	out->content = inner[2 * SL_ENV_ACCOUNT_LEN + 8];
	r = SL_ENV_OK;
out:
	sl_secure_free(ss, sizeof(*ss));
	sl_wipe(&peer, sizeof(peer));
	return r;
}

/* 11-byte big-endian chunk index, then the last-chunk flag. */
static void chunk_nonce(uint8_t nonce[SL_AEAD_NONCE_LEN], uint64_t i,
			bool last)
{
	memset(nonce, 0, SL_AEAD_NONCE_LEN);
	sl_env_put64(nonce + 3, i);
	nonce[11] = last ? 1 : 0;
}

int sl_env_chunk_seal(uint8_t *out, const uint8_t key[SL_ENV_KEY_LEN],
		      uint64_t i, bool last, const uint8_t *in, size_t len)
{
	uint8_t nonce[SL_AEAD_NONCE_LEN];

	if (len > SL_ENV_CHUNK_LEN || (!last && len != SL_ENV_CHUNK_LEN) ||
	    (!len && i))
		return -EINVAL;
	chunk_nonce(nonce, i, last);
	return sl_aead_seal(out, in, len, NULL, 0, nonce, key);
}

int sl_env_chunk_open(uint8_t *out, const uint8_t key[SL_ENV_KEY_LEN],
		      uint64_t i, const uint8_t *in, size_t len, bool *last)
{
	uint8_t nonce[SL_AEAD_NONCE_LEN];
	int err;

	if (len < SL_ENV_TAG_LEN || len > SL_ENV_CHUNK_WIRE_LEN)
		return -EINVAL;
	/* An empty chunk is only ever the whole payload: one encoding per
	 * payload, so no one can append an empty last chunk. */
	if (len == SL_ENV_TAG_LEN && i)
		return -EBADMSG;
	if (len == SL_ENV_CHUNK_WIRE_LEN) {
		chunk_nonce(nonce, i, false);
		err = sl_aead_open(out, in, len, NULL, 0, nonce, key);
		if (err != -EBADMSG) {
			*last = false;
			return err;
		}
	}
	chunk_nonce(nonce, i, true);
	err = sl_aead_open(out, in, len, NULL, 0, nonce, key);
	*last = true;
	return err;
}
