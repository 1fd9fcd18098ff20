/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The Noise Protocol Framework (revision 34) for sealined's handshakes:
 * DH 25519, cipher ChaChaPoly, hash SHA256, on top of agent/crypto.h.
 *
 *	Noise_XX_25519_ChaChaPoly_SHA256	pairing
 *	Noise_KKpsk0_25519_ChaChaPoly_SHA256	session and rekey
 *	Noise_XK_25519_ChaChaPoly_SHA256	call setup through a TSP
 *						(call*.c; the handshake
 *						engine, hs_*.c, does not
 *						speak the CALL_* messages)
 *
 * This is the framework's CipherState, SymmetricState and HandshakeState
 * (Noise specification, section 5), nothing sealine-specific: message
 * envelopes, commitments, the SAS and the key schedule after Split() live
 * in the handshake engine (hs_*.c). The three patterns are checked
 * against the published Cacophony vectors (tests/unit/test_noise.c).
 *
 * Conventions
 *
 *  - Every struct here holds secrets (keys, chaining key, DH results) and
 *    must live in secure memory (sl_secure_alloc()); sl_noise_hs_wipe()
 *    or sl_secure_free() wipes it.
 *  - Functions return 0 or a negative errno as agent/crypto.h does:
 *    -EINVAL a bad argument or a call out of order, -EMSGSIZE a message of
 *    the wrong length or a buffer too small, -EBADMSG a message that failed
 *    authentication, -EKEYREJECTED a DH result of all zeros (a low-order
 *    point: count it as a failed authentication), -ENOMEM secure memory
 *    exhausted, -EIO another libgcrypt failure.
 *  - sl_noise_write() and sl_noise_read() are all or nothing: if they
 *    fail, the handshake state is exactly as it was before the call, so a
 *    forged or damaged message can be dropped and the genuine one still
 *    read afterwards.
 *  - The ChaChaPoly nonce is 4 zero bytes and the 64-bit counter
 *    little-endian (sl_noise_nonce()), the same layout as the kernel's.
 */
#ifndef SEALINE_AGENT_NOISE_H
#define SEALINE_AGENT_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_NOISE_KEY_LEN	32	/* DHLEN, cipher key, psk */
#define SL_NOISE_HASH_LEN	32	/* HASHLEN */
#define SL_NOISE_TAG_LEN	16

enum sl_noise_pattern {
	SL_NOISE_XX = 1,
	SL_NOISE_KKPSK0,
	SL_NOISE_XK,
};

/* The protocol name of a pattern, e.g. "Noise_XX_25519_ChaChaPoly_SHA256". */
const char *sl_noise_protocol_name(enum sl_noise_pattern pattern);

struct sl_noise_cipher {
	uint8_t k[SL_NOISE_KEY_LEN];
	uint64_t n;
	bool has_k;
};

struct sl_noise_symmetric {
	struct sl_noise_cipher cs;
	uint8_t ck[SL_NOISE_HASH_LEN];
	uint8_t h[SL_NOISE_HASH_LEN];
};

/*
 * A HandshakeState. Read ss.h (the handshake hash) and ss.ck (the
 * chaining key) directly; after the last message they are the values at
 * Split() (Split changes neither).
 */
struct sl_noise_hs {
	struct sl_noise_symmetric ss;
	uint8_t s[SL_NOISE_KEY_LEN], s_pub[SL_NOISE_KEY_LEN];
	uint8_t e[SL_NOISE_KEY_LEN], e_pub[SL_NOISE_KEY_LEN];
	uint8_t rs[SL_NOISE_KEY_LEN], re[SL_NOISE_KEY_LEN];
	uint8_t psk[SL_NOISE_KEY_LEN];
	uint8_t ss_pre[SL_NOISE_KEY_LEN];	/* cached DH(s, rs) */
	uint8_t es_pre[SL_NOISE_KEY_LEN];	/* the es DH, computed earlier */
	uint8_t dh[SL_NOISE_KEY_LEN];		/* scratch */
	uint8_t pattern;			/* enum sl_noise_pattern */
	uint8_t msg;				/* next message, from 0 */
	bool initiator;
	bool has_s, has_e, has_rs, has_re, has_psk, has_ss_pre, has_es_pre;
};

/*
 * Keys for sl_noise_hs_init(); each pointer may be NULL where the pattern
 * does not need it.
 *
 * s	our static private key (required by all three patterns; its public
 *	key is computed)
 * e	our ephemeral private key, for test vectors and for pairing, where
 *	the key is committed to before the handshake starts; NULL: a fresh
 *	one (sl_x25519_keypair()) when the "e" token is written
 * rs	the peer's static public key, for the pre-messages (KK: both sides;
 *	XK: the initiator)
 * psk	the 32-byte pre-shared key (KKpsk0)
 * ss	DH(s, rs) computed earlier, to save an X25519 per try when a
 *	responder tries several stored peers; NULL: computed when needed
 * es	the same for the "es" token (a responder's DH(s, re), with re read
 *	from the message beforehand): one X25519 for all the tries
 */
struct sl_noise_keys {
	const uint8_t *s;
	const uint8_t *e;
	const uint8_t *rs;
	const uint8_t *psk;
	const uint8_t *ss;
	const uint8_t *es;
};

/*
 * Initialize(): the protocol name, MixHash(prologue), the pre-message
 * keys. -EINVAL if a key the pattern needs is missing.
 */
int sl_noise_hs_init(struct sl_noise_hs *hs, enum sl_noise_pattern pattern,
		     bool initiator, const void *prologue, size_t prologue_len,
		     const struct sl_noise_keys *keys);

/* Wipes every secret of hs (the whole struct). */
void sl_noise_hs_wipe(struct sl_noise_hs *hs);

/*
 * The length of the next handshake message (the one to write or to read)
 * with a payload of payload_len bytes, or 0 if the handshake is complete.
 */
size_t sl_noise_msg_len(const struct sl_noise_hs *hs, size_t payload_len);

/* true once every message of the pattern was written or read. */
bool sl_noise_hs_done(const struct sl_noise_hs *hs);

/*
 * WriteMessage(): the next message, with payload, into out (out_size at
 * least sl_noise_msg_len()); *out_len its length. -EINVAL if it is the
 * peer's turn.
 */
int sl_noise_write(struct sl_noise_hs *hs, const uint8_t *payload,
		   size_t payload_len, uint8_t *out, size_t out_size,
		   size_t *out_len);

/*
 * ReadMessage(): the peer's next message msg; its payload (len minus the
 * message's keys and tags) into payload (payload_size bytes of room) and
 * its length into *payload_len. -EBADMSG or -EKEYREJECTED if it does not
 * authenticate, and the state is unchanged.
 */
int sl_noise_read(struct sl_noise_hs *hs, const uint8_t *msg, size_t len,
		  uint8_t *payload, size_t payload_size, size_t *payload_len);

/*
 * Split(): c1 for initiator to responder, c2 for the other direction,
 * both with nonce 0. Only once the handshake is done.
 */
int sl_noise_split(const struct sl_noise_hs *hs, struct sl_noise_cipher *c1,
		   struct sl_noise_cipher *c2);

/*
 * The SymmetricState operations (section 5.2) MixHash(), MixKey() and
 * EncryptAndHash(), for code that processes a message's tokens itself:
 * tests/line/grind.c predicts the other side's handshake hash the way a
 * man in the middle would, without its private key.
 */
int sl_noise_mix_hash(struct sl_noise_symmetric *ss, const void *data,
		      size_t len);
int sl_noise_mix_key(struct sl_noise_symmetric *ss, const uint8_t *ikm,
		     size_t len);
int sl_noise_encrypt_and_hash(struct sl_noise_symmetric *ss,
			      const uint8_t *in, size_t len, uint8_t *out);
/* in (len bytes, tag included if there is a key) to out, out != in. */
int sl_noise_decrypt_and_hash(struct sl_noise_symmetric *ss,
			      const uint8_t *in, size_t len, uint8_t *out);

/* The 12-byte ChaChaPoly nonce of counter n. */
void sl_noise_nonce(uint8_t nonce[12], uint64_t n);

/*
 * ChaChaPoly with the key k and the explicit nonce n: out receives len
 * bytes of ciphertext and the tag (seal), or len - SL_NOISE_TAG_LEN bytes
 * of plaintext (open, -EBADMSG if the tag does not verify; out is then
 * wiped). out may be in.
 */
int sl_noise_seal(const uint8_t k[SL_NOISE_KEY_LEN], uint64_t n,
		  const void *ad, size_t ad_len, const uint8_t *in, size_t len,
		  uint8_t *out);
int sl_noise_open(const uint8_t k[SL_NOISE_KEY_LEN], uint64_t n,
		  const void *ad, size_t ad_len, const uint8_t *in, size_t len,
		  uint8_t *out);

/*
 * EncryptWithAd()/DecryptWithAd() of a CipherState, nonce c->n, which
 * then counts up (a failed decryption leaves it). Without a key they copy.
 */
int sl_noise_encrypt(struct sl_noise_cipher *c, const void *ad,
		     size_t ad_len, const uint8_t *in, size_t len,
		     uint8_t *out);
int sl_noise_decrypt(struct sl_noise_cipher *c, const void *ad,
		     size_t ad_len, const uint8_t *in, size_t len,
		     uint8_t *out);

#endif
