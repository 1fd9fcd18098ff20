// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The Noise Protocol Framework, revision 34, for the three patterns
 * sealine uses (noise.h). Section numbers below are the specification's.
 */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "noise.h"

/* Tokens of a message pattern (section 7). */
enum {
	T_END = 0,
	T_E,
	T_S,
	T_EE,
	T_ES,
	T_SE,
	T_SS,
	T_PSK,
};

#define MAX_MSGS	3
#define MAX_TOKENS	5

struct pattern {
	const char *name;
	bool psk;			/* a psk modifier: "e" also MixKey()s */
	bool pre_i_s, pre_r_s;		/* pre-messages: "s" of I, of R */
	uint8_t n_msgs;
	uint8_t tok[MAX_MSGS][MAX_TOKENS];
};

static const struct pattern patterns[] = {
	[SL_NOISE_XX] = {
		.name = "Noise_XX_25519_ChaChaPoly_SHA256",
		.n_msgs = 3,
		.tok = { { T_E }, { T_E, T_EE, T_S, T_ES }, { T_S, T_SE } },
	},
	[SL_NOISE_KKPSK0] = {
		.name = "Noise_KKpsk0_25519_ChaChaPoly_SHA256",
		.psk = true,
		.pre_i_s = true,
		.pre_r_s = true,
		.n_msgs = 2,
		.tok = { { T_PSK, T_E, T_ES, T_SS }, { T_E, T_EE, T_SE } },
	},
	[SL_NOISE_XK] = {
		.name = "Noise_XK_25519_ChaChaPoly_SHA256",
		.pre_r_s = true,
		.n_msgs = 3,
		.tok = { { T_E, T_ES }, { T_E, T_EE }, { T_S, T_SE } },
	},
};

static const struct pattern *pattern_of(unsigned int p)
{
	if (p < SL_NOISE_XX || p > SL_NOISE_XK)
		return NULL;
	return &patterns[p];
}

const char *sl_noise_protocol_name(enum sl_noise_pattern pattern)
{
	const struct pattern *pat = pattern_of(pattern);

	return pat ? pat->name : NULL;
}

/* ---- CipherState (section 5.1) ----------------------------------- */

void sl_noise_nonce(uint8_t nonce[12], uint64_t n)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

int sl_noise_seal(const uint8_t k[SL_NOISE_KEY_LEN], uint64_t n,
		  const void *ad, size_t ad_len, const uint8_t *in, size_t len,
		  uint8_t *out)
{
	uint8_t nonce[12];

	sl_noise_nonce(nonce, n);
	return sl_aead_seal(out, in, len, ad, ad_len, nonce, k);
}

int sl_noise_open(const uint8_t k[SL_NOISE_KEY_LEN], uint64_t n,
		  const void *ad, size_t ad_len, const uint8_t *in, size_t len,
		  uint8_t *out)
{
	uint8_t nonce[12];

	if (len < SL_NOISE_TAG_LEN)
		return -EBADMSG;
	sl_noise_nonce(nonce, n);
	return sl_aead_open(out, in, len, ad, ad_len, nonce, k);
}

int sl_noise_encrypt(struct sl_noise_cipher *c, const void *ad,
		     size_t ad_len, const uint8_t *in, size_t len,
		     uint8_t *out)
{
	int err;

	if (!c->has_k) {
		if (len)
			memmove(out, in, len);
		return 0;
	}
	if (c->n == UINT64_MAX)		/* reserved (section 5.1) */
		return -EINVAL;
	err = sl_noise_seal(c->k, c->n, ad, ad_len, in, len, out);
	if (!err)
		c->n++;
	return err;
}

int sl_noise_decrypt(struct sl_noise_cipher *c, const void *ad,
		     size_t ad_len, const uint8_t *in, size_t len,
		     uint8_t *out)
{
	int err;

	if (!c->has_k) {
		if (len)
			memmove(out, in, len);
		return 0;
	}
	if (c->n == UINT64_MAX)
		return -EINVAL;
	err = sl_noise_open(c->k, c->n, ad, ad_len, in, len, out);
	if (!err)
		c->n++;
	return err;
}

/* ---- SymmetricState (section 5.2) -------------------------------- */

int sl_noise_mix_hash(struct sl_noise_symmetric *ss, const void *data,
		      size_t len)
{
	struct sl_chunk c[2] = {
		{ ss->h, SL_NOISE_HASH_LEN },
		{ data, len },
	};

	return sl_sha256_chunks(ss->h, c, 2);
}

/* HKDF(ck, ikm) with n outputs: ck and then the others. */
static int hkdf_n(struct sl_noise_symmetric *ss, const uint8_t *ikm,
		  size_t ikm_len, uint8_t *out2, uint8_t *out3)
{
	uint8_t *okm = sl_secure_alloc(3 * SL_NOISE_HASH_LEN);
	size_t n = out3 ? 3 : 2;
	int err;

	if (!okm)
		return -ENOMEM;
	err = sl_hkdf(okm, n * SL_NOISE_HASH_LEN, ss->ck, SL_NOISE_HASH_LEN,
		      ikm, ikm_len, NULL, 0);
	if (!err) {
		memcpy(ss->ck, okm, SL_NOISE_HASH_LEN);
		memcpy(out2, okm + SL_NOISE_HASH_LEN, SL_NOISE_HASH_LEN);
		if (out3)
			memcpy(out3, okm + 2 * SL_NOISE_HASH_LEN,
			       SL_NOISE_HASH_LEN);
	}
	sl_secure_free(okm, 3 * SL_NOISE_HASH_LEN);
	return err;
}

/* HASHLEN is 32 and so is the cipher key: no truncation needed. */
int sl_noise_mix_key(struct sl_noise_symmetric *ss, const uint8_t *ikm,
		     size_t len)
{
	int err = hkdf_n(ss, ikm, len, ss->cs.k, NULL);

	if (err)
		return err;
	ss->cs.has_k = true;
	ss->cs.n = 0;
	return 0;
}

static int mix_key_and_hash(struct sl_noise_symmetric *ss,
			    const uint8_t *ikm, size_t len)
{
	uint8_t *th = sl_secure_alloc(SL_NOISE_HASH_LEN);
	int err;

	if (!th)
		return -ENOMEM;
	err = hkdf_n(ss, ikm, len, th, ss->cs.k);
	if (!err)
		err = sl_noise_mix_hash(ss, th, SL_NOISE_HASH_LEN);
	sl_secure_free(th, SL_NOISE_HASH_LEN);
	if (err)
		return err;
	ss->cs.has_k = true;
	ss->cs.n = 0;
	return 0;
}

int sl_noise_encrypt_and_hash(struct sl_noise_symmetric *ss,
			      const uint8_t *in, size_t len, uint8_t *out)
{
	int err = sl_noise_encrypt(&ss->cs, ss->h, SL_NOISE_HASH_LEN, in, len,
				   out);

	if (err)
		return err;
	return sl_noise_mix_hash(ss, out,
				 len + (ss->cs.has_k ? SL_NOISE_TAG_LEN : 0));
}

int sl_noise_decrypt_and_hash(struct sl_noise_symmetric *ss,
			      const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t h[SL_NOISE_HASH_LEN];
	int err;

	/* MixHash(ciphertext) after decrypting: keep the ciphertext's hash
	 * input apart from out, which may not alias in. */
	memcpy(h, ss->h, sizeof(h));
	err = sl_noise_decrypt(&ss->cs, h, sizeof(h), in, len, out);
	if (err)
		return err;
	return sl_noise_mix_hash(ss, in, len);
}

/* ---- HandshakeState (section 5.3) -------------------------------- */

int sl_noise_hs_init(struct sl_noise_hs *hs, enum sl_noise_pattern pattern,
		     bool initiator, const void *prologue, size_t prologue_len,
		     const struct sl_noise_keys *keys)
{
	const struct pattern *pat = pattern_of(pattern);
	size_t name_len;
	int err;

	if (!hs || !pat || !keys || !keys->s || (prologue_len && !prologue))
		return -EINVAL;
	memset(hs, 0, sizeof(*hs));
	hs->pattern = (uint8_t)pattern;
	hs->initiator = initiator;

	/* The remote static key is known in advance if the peer's "s" is a
	 * pre-message. */
	if ((initiator ? pat->pre_r_s : pat->pre_i_s) && !keys->rs)
		return -EINVAL;
	if (pat->psk && !keys->psk)
		return -EINVAL;

	memcpy(hs->s, keys->s, SL_NOISE_KEY_LEN);
	hs->has_s = true;
	err = sl_x25519_public(hs->s_pub, hs->s);
	if (err)
		goto fail;
	if (keys->e) {
		memcpy(hs->e, keys->e, SL_NOISE_KEY_LEN);
		err = sl_x25519_public(hs->e_pub, hs->e);
		if (err)
			goto fail;
		hs->has_e = true;
	}
	if (keys->rs) {
		memcpy(hs->rs, keys->rs, SL_NOISE_KEY_LEN);
		hs->has_rs = true;
	}
	if (keys->psk) {
		memcpy(hs->psk, keys->psk, SL_NOISE_KEY_LEN);
		hs->has_psk = true;
	}
	if (keys->ss) {
		memcpy(hs->ss_pre, keys->ss, SL_NOISE_KEY_LEN);
		hs->has_ss_pre = true;
	}
	if (keys->es) {
		memcpy(hs->es_pre, keys->es, SL_NOISE_KEY_LEN);
		hs->has_es_pre = true;
	}

	/* InitializeSymmetric(protocol_name). */
	name_len = strlen(pat->name);
	if (name_len <= SL_NOISE_HASH_LEN) {
		memcpy(hs->ss.h, pat->name, name_len);
	} else {
		err = sl_sha256(hs->ss.h, pat->name, name_len);
		if (err)
			goto fail;
	}
	memcpy(hs->ss.ck, hs->ss.h, SL_NOISE_HASH_LEN);

	err = sl_noise_mix_hash(&hs->ss, prologue, prologue_len);
	if (err)
		goto fail;

	/* Pre-messages: the initiator's keys first (section 7.1). */
	if (pat->pre_i_s) {
		err = sl_noise_mix_hash(&hs->ss, initiator ? hs->s_pub : hs->rs,
			       SL_NOISE_KEY_LEN);
		if (err)
			goto fail;
	}
	if (pat->pre_r_s) {
		err = sl_noise_mix_hash(&hs->ss, initiator ? hs->rs : hs->s_pub,
			       SL_NOISE_KEY_LEN);
		if (err)
			goto fail;
	}
	return 0;
fail:
	sl_noise_hs_wipe(hs);
	return err;
}

void sl_noise_hs_wipe(struct sl_noise_hs *hs)
{
	if (hs)
		sl_wipe(hs, sizeof(*hs));
}

bool sl_noise_hs_done(const struct sl_noise_hs *hs)
{
	const struct pattern *pat = pattern_of(hs->pattern);

	return !pat || hs->msg >= pat->n_msgs;
}

size_t sl_noise_msg_len(const struct sl_noise_hs *hs, size_t payload_len)
{
	const struct pattern *pat = pattern_of(hs->pattern);
	bool has_k = hs->ss.cs.has_k;
	size_t len = 0;

	if (!pat || hs->msg >= pat->n_msgs)
		return 0;
	for (int i = 0; i < MAX_TOKENS; i++) {
		switch (pat->tok[hs->msg][i]) {
		case T_E:
			len += SL_NOISE_KEY_LEN;
			if (pat->psk)
				has_k = true;
			break;
		case T_S:
			len += SL_NOISE_KEY_LEN + (has_k ? SL_NOISE_TAG_LEN : 0);
			break;
		case T_EE:
		case T_ES:
		case T_SE:
		case T_SS:
		case T_PSK:
			has_k = true;
			break;
		}
	}
	return len + payload_len + (has_k ? SL_NOISE_TAG_LEN : 0);
}

/* MixKey(DH(priv, pub)), or of a DH computed earlier (pre). */
static int mix_dh(struct sl_noise_hs *hs, const uint8_t *priv,
		  const uint8_t *pub, const uint8_t *pre)
{
	int err;

	if (pre)
		memcpy(hs->dh, pre, SL_NOISE_KEY_LEN);
	else if ((err = sl_x25519(hs->dh, priv, pub)))
		return err;
	err = sl_noise_mix_key(&hs->ss, hs->dh, SL_NOISE_KEY_LEN);
	sl_wipe(hs->dh, SL_NOISE_KEY_LEN);
	return err;
}

/* The DH tokens: which of our keys meets which of theirs (section 7). */
static int token_dh(struct sl_noise_hs *hs, int tok)
{
	bool i = hs->initiator;

	switch (tok) {
	case T_EE:
		if (!hs->has_e || !hs->has_re)
			return -EINVAL;
		return mix_dh(hs, hs->e, hs->re, NULL);
	case T_ES:	/* initiator's e, responder's s */
		if (i ? !hs->has_e || !hs->has_rs : !hs->has_s || !hs->has_re)
			return -EINVAL;
		return i ? mix_dh(hs, hs->e, hs->rs, NULL) :
			   mix_dh(hs, hs->s, hs->re,
				  hs->has_es_pre ? hs->es_pre : NULL);
	case T_SE:	/* initiator's s, responder's e */
		if (i ? !hs->has_s || !hs->has_re : !hs->has_e || !hs->has_rs)
			return -EINVAL;
		return i ? mix_dh(hs, hs->s, hs->re, NULL) :
			   mix_dh(hs, hs->e, hs->rs, NULL);
	case T_SS:
		if (!hs->has_s || !hs->has_rs)
			return -EINVAL;
		return mix_dh(hs, hs->s, hs->rs,
			      hs->has_ss_pre ? hs->ss_pre : NULL);
	case T_PSK:
		if (!hs->has_psk)
			return -EINVAL;
		return mix_key_and_hash(&hs->ss, hs->psk, SL_NOISE_KEY_LEN);
	}
	return -EINVAL;
}

static bool my_turn(const struct sl_noise_hs *hs)
{
	/* Message 0 is the initiator's, then they alternate. */
	return (hs->msg % 2 == 0) == hs->initiator;
}

static int do_write(struct sl_noise_hs *hs, const uint8_t *payload,
		    size_t payload_len, uint8_t *out, size_t *out_len)
{
	const struct pattern *pat = pattern_of(hs->pattern);
	size_t off = 0;
	int err;

	for (int i = 0; i < MAX_TOKENS && pat->tok[hs->msg][i]; i++) {
		int tok = pat->tok[hs->msg][i];

		switch (tok) {
		case T_E:
			if (!hs->has_e) {
				err = sl_x25519_keypair(hs->e, hs->e_pub);
				if (err)
					return err;
				hs->has_e = true;
			}
			memcpy(out + off, hs->e_pub, SL_NOISE_KEY_LEN);
			off += SL_NOISE_KEY_LEN;
			err = sl_noise_mix_hash(&hs->ss, hs->e_pub,
						SL_NOISE_KEY_LEN);
			if (!err && pat->psk)
				err = sl_noise_mix_key(&hs->ss, hs->e_pub,
					      SL_NOISE_KEY_LEN);
			break;
		case T_S:
			err = sl_noise_encrypt_and_hash(&hs->ss, hs->s_pub,
					       SL_NOISE_KEY_LEN, out + off);
			off += SL_NOISE_KEY_LEN +
			       (hs->ss.cs.has_k ? SL_NOISE_TAG_LEN : 0);
			break;
		default:
			err = token_dh(hs, tok);
			break;
		}
		if (err)
			return err;
	}
	err = sl_noise_encrypt_and_hash(&hs->ss, payload, payload_len,
					out + off);
	if (err)
		return err;
	off += payload_len + (hs->ss.cs.has_k ? SL_NOISE_TAG_LEN : 0);
	*out_len = off;
	hs->msg++;
	return 0;
}

static int do_read(struct sl_noise_hs *hs, const uint8_t *msg, size_t len,
		   uint8_t *payload, size_t *payload_len)
{
	const struct pattern *pat = pattern_of(hs->pattern);
	size_t off = 0, n;
	int err;

	for (int i = 0; i < MAX_TOKENS && pat->tok[hs->msg][i]; i++) {
		int tok = pat->tok[hs->msg][i];

		switch (tok) {
		case T_E:
			memcpy(hs->re, msg + off, SL_NOISE_KEY_LEN);
			hs->has_re = true;
			off += SL_NOISE_KEY_LEN;
			err = sl_noise_mix_hash(&hs->ss, hs->re, SL_NOISE_KEY_LEN);
			if (!err && pat->psk)
				err = sl_noise_mix_key(&hs->ss, hs->re,
					      SL_NOISE_KEY_LEN);
			break;
		case T_S:
			n = SL_NOISE_KEY_LEN +
			    (hs->ss.cs.has_k ? SL_NOISE_TAG_LEN : 0);
			err = sl_noise_decrypt_and_hash(&hs->ss, msg + off, n,
							hs->rs);
			hs->has_rs = !err;
			off += n;
			break;
		default:
			err = token_dh(hs, tok);
			break;
		}
		if (err)
			return err;
	}
	n = len - off;
	err = sl_noise_decrypt_and_hash(&hs->ss, msg + off, n, payload);
	if (err)
		return err;
	*payload_len = n - (hs->ss.cs.has_k ? SL_NOISE_TAG_LEN : 0);
	hs->msg++;
	return 0;
}

/*
 * Runs a write or a read on a copy in secure memory and keeps the result
 * only if it succeeded.
 */
static struct sl_noise_hs *scratch(const struct sl_noise_hs *hs)
{
	struct sl_noise_hs *t = sl_secure_alloc(sizeof(*t));

	if (t)
		memcpy(t, hs, sizeof(*t));
	return t;
}

static void commit(struct sl_noise_hs *hs, struct sl_noise_hs *t, int err)
{
	if (!err)
		memcpy(hs, t, sizeof(*hs));
	sl_secure_free(t, sizeof(*t));
}

int sl_noise_write(struct sl_noise_hs *hs, const uint8_t *payload,
		   size_t payload_len, uint8_t *out, size_t out_size,
		   size_t *out_len)
{
	struct sl_noise_hs *t;
	size_t need;
	int err;

	if (!hs || !out || !out_len || (payload_len && !payload) ||
	    !pattern_of(hs->pattern) || sl_noise_hs_done(hs) || !my_turn(hs))
		return -EINVAL;
	need = sl_noise_msg_len(hs, payload_len);
	if (out_size < need)
		return -EMSGSIZE;
	t = scratch(hs);
	if (!t)
		return -ENOMEM;
	err = do_write(t, payload, payload_len, out, out_len);
	commit(hs, t, err);
	return err;
}

int sl_noise_read(struct sl_noise_hs *hs, const uint8_t *msg, size_t len,
		  uint8_t *payload, size_t payload_size, size_t *payload_len)
{
	struct sl_noise_hs *t;
	size_t overhead;
	int err;

	if (!hs || (len && !msg) || !payload_len ||
	    !pattern_of(hs->pattern) || sl_noise_hs_done(hs) || my_turn(hs))
		return -EINVAL;
	overhead = sl_noise_msg_len(hs, 0);
	if (len < overhead)
		return -EMSGSIZE;
	if (payload_size < len - overhead || (len > overhead && !payload))
		return -EMSGSIZE;
	t = scratch(hs);
	if (!t)
		return -ENOMEM;
	err = do_read(t, msg, len, payload, payload_len);
	commit(hs, t, err);
	if (err && payload && len > overhead)
		sl_wipe(payload, len - overhead);
	return err;
}

int sl_noise_split(const struct sl_noise_hs *hs, struct sl_noise_cipher *c1,
		   struct sl_noise_cipher *c2)
{
	uint8_t *okm;
	int err;

	if (!hs || !c1 || !c2 || !pattern_of(hs->pattern) ||
	    !sl_noise_hs_done(hs))
		return -EINVAL;
	okm = sl_secure_alloc(2 * SL_NOISE_KEY_LEN);
	if (!okm)
		return -ENOMEM;
	err = sl_hkdf(okm, 2 * SL_NOISE_KEY_LEN, hs->ss.ck, SL_NOISE_HASH_LEN,
		      NULL, 0, NULL, 0);
	if (!err) {
		memcpy(c1->k, okm, SL_NOISE_KEY_LEN);
		memcpy(c2->k, okm + SL_NOISE_KEY_LEN, SL_NOISE_KEY_LEN);
		c1->n = c2->n = 0;
		c1->has_k = c2->has_k = true;
	}
	sl_secure_free(okm, 2 * SL_NOISE_KEY_LEN);
	return err;
}
