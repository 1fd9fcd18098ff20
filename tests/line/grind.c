// SPDX-License-Identifier: GPL-2.0
/*
 * A man in the middle's SAS grinding (grind.h), with agent/proto/noise.c's own
 * operations: for each candidate static key, each leg's transcript as
 * both ends will compute it, and the code of each SAS definition.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>

#include "crypto.h"
#include "grind.h"
#include "handshake.h"
#include "hs_common.h"
#include "noise.h"

#define OLD_SAS_LABEL	"sealine v1 SAS"

int sl_grind_keys_new(struct sl_grind_keys *k, unsigned int n)
{
	memset(k, 0, sizeof(*k));
	k->priv = calloc(n ? n : 1, SL_GRIND_KEY);
	k->pub = calloc(n ? n : 1, SL_GRIND_KEY);
	if (!k->priv || !k->pub) {
		sl_grind_keys_free(k);
		return -ENOMEM;
	}
	/* One draw for all: an attacker's throwaway keys need no more. */
	gcry_randomize(k->priv, (size_t)n * SL_GRIND_KEY, GCRY_STRONG_RANDOM);
	for (k->n = 0; k->n < n; k->n++)
		if (sl_x25519_public(k->pub[k->n], k->priv[k->n])) {
			sl_grind_keys_free(k);
			return -EIO;
		}
	return 0;
}

void sl_grind_keys_free(struct sl_grind_keys *k)
{
	if (k->priv)
		sl_wipe(k->priv, (size_t)k->n * SL_GRIND_KEY);
	free(k->priv);
	free(k->pub);
	memset(k, 0, sizeof(*k));
}

void sl_grind_leg_free(struct sl_grind_leg *leg)
{
	free(leg->sas_old);
	memset(leg, 0, sizeof(*leg));
}

static int old_sas(char sas[6], const uint8_t h[SL_NOISE_HASH_LEN])
{
	uint8_t hash[SL_SHA256_LEN];
	struct sl_chunk c[2] = {
		{ OLD_SAS_LABEL, strlen(OLD_SAS_LABEL) },
		{ h, SL_NOISE_HASH_LEN },
	};
	int err = sl_sha256_chunks(hash, c, 2);

	if (!err)
		sl_sas_from_hash(sas, hash);
	return err;
}

/*
 * What every candidate shares: on leg A the Noise state after A's
 * PAIR_REVEAL (we are XX's initiator), on leg B the symmetric state after
 * the "e, ee" of our PAIR_REVEAL (we are XX's responder) and the DH of
 * B's "se", which depends on nothing we choose.
 */
struct base {
	struct sl_noise_hs hs;
	struct sl_noise_symmetric ss;
	uint8_t e_pub[SL_GRIND_KEY];
	uint8_t se[SL_GRIND_KEY];
};

static int base_init(struct base *b, const struct sl_grind_in *in,
		     const struct sl_grind_keys *k)
{
	uint8_t prologue[7 + 40], msg[64], pl[16];
	struct sl_noise_keys keys = { .s = k->priv[0], .e = in->e_priv };
	size_t len;
	int err;

	memcpy(prologue, "sealine", 7);
	memcpy(prologue + 7, in->commit, 40);
	err = sl_noise_hs_init(&b->hs, SL_NOISE_XX, !in->leg_b, prologue,
			       sizeof(prologue), &keys);
	if (err)
		return err;
	err = sl_x25519_public(b->e_pub, in->e_priv);
	if (err)
		return err;
	if (!in->leg_b) {
		/* Our PAIR_EPHEMERAL, then A's PAIR_REVEAL. */
		err = sl_noise_write(&b->hs, NULL, 0, msg, sizeof(msg), &len);
		if (!err)
			err = sl_noise_read(&b->hs, in->reply + 6, 108, pl,
					    sizeof(pl), &len);
		return err;
	}
	/* B's PAIR_EPHEMERAL, then the tokens "e, ee" of our reply. */
	err = sl_noise_read(&b->hs, in->reply + 6, 32, pl, sizeof(pl), &len);
	if (!err) {
		b->ss = b->hs.ss;
		err = sl_noise_mix_hash(&b->ss, b->e_pub, SL_GRIND_KEY);
	}
	if (!err)
		err = sl_x25519(b->se, in->e_priv, in->reply + 6);
	if (!err)
		err = sl_noise_mix_key(&b->ss, b->se, SL_GRIND_KEY);
	/* B's "se": DH(s_B, e_M), which we compute as DH(e_M, s_B). */
	if (!err)
		err = sl_x25519(b->se, in->e_priv, in->b_pub);
	return err;
}

/*
 * Candidate i on one leg: the handshake hash both ends end with, and
 * our message (and B's, predicted) into leg if keep.
 */
static int one(const struct base *b, const struct sl_grind_in *in,
	       const struct sl_grind_keys *k, unsigned int i,
	       uint8_t h[SL_NOISE_HASH_LEN], struct sl_grind_leg *keep)
{
	uint8_t out[128], dh[SL_GRIND_KEY];
	size_t len, off = 0;
	int err;

	if (!in->leg_b) {
		/* Our PAIR_FINISH: "s, se", our claim. */
		struct sl_noise_hs hs = b->hs;

		memcpy(hs.s, k->priv[i], SL_GRIND_KEY);
		memcpy(hs.s_pub, k->pub[i], SL_GRIND_KEY);
		err = sl_noise_write(&hs, (const uint8_t *)in->claim, 12, out,
				     sizeof(out), &len);
		memcpy(h, hs.ss.h, SL_NOISE_HASH_LEN);
		sl_wipe(&hs, sizeof(hs));
		if (!err && keep) {
			sl_hs_envelope(keep->sent, in->reply[0],
				       SL_MSG_PAIR_FINISH, sl_get32(in->commit + 2));
			memcpy(keep->sent + 6, out, len);
			keep->sent_len = 6 + len;
		}
		return err;
	}

	/* Our PAIR_REVEAL: "e, ee" (shared), then "s, es", our claim. */
	struct sl_noise_symmetric ss = b->ss;

	memcpy(out, b->e_pub, SL_GRIND_KEY);
	off = SL_GRIND_KEY;
	err = sl_noise_encrypt_and_hash(&ss, k->pub[i], SL_GRIND_KEY,
					out + off);
	off += SL_GRIND_KEY + SL_NOISE_TAG_LEN;
	if (!err)
		err = sl_x25519(dh, k->priv[i], in->reply + 6);
	if (!err)
		err = sl_noise_mix_key(&ss, dh, SL_GRIND_KEY);
	if (!err)
		err = sl_noise_encrypt_and_hash(&ss, (const uint8_t *)in->claim,
						12, out + off);
	off += 12 + SL_NOISE_TAG_LEN;
	if (!err && keep) {
		sl_hs_envelope(keep->sent, in->commit[0], SL_MSG_PAIR_REVEAL,
			       sl_get32(in->commit + 2));
		memcpy(keep->sent + 6, out, off);
		keep->sent_len = 6 + off;
	}
	/* B's PAIR_FINISH, predicted: "s, se", B's account. */
	off = 0;
	if (!err)
		err = sl_noise_encrypt_and_hash(&ss, in->b_pub, SL_GRIND_KEY,
						out + off);
	off += SL_GRIND_KEY + SL_NOISE_TAG_LEN;
	if (!err)
		err = sl_noise_mix_key(&ss, b->se, SL_GRIND_KEY);
	if (!err)
		err = sl_noise_encrypt_and_hash(&ss,
						(const uint8_t *)in->b_account,
						12, out + off);
	off += 12 + SL_NOISE_TAG_LEN;
	memcpy(h, ss.h, SL_NOISE_HASH_LEN);
	if (!err && keep) {
		sl_hs_envelope(keep->predicted, in->commit[0],
			       SL_MSG_PAIR_FINISH, sl_get32(in->commit + 2));
		memcpy(keep->predicted + 6, out, off);
	}
	sl_wipe(&ss, sizeof(ss));
	sl_wipe(dh, sizeof(dh));
	return err;
}

int sl_grind_leg(struct sl_grind_leg *leg, const struct sl_grind_in *in,
		 const struct sl_grind_keys *k)
{
	uint8_t h[SL_NOISE_HASH_LEN];
	struct base *b;
	int err;

	memset(leg, 0, sizeof(*leg));
	if (!k->n)
		return -EINVAL;
	leg->sas_old = calloc(k->n, sizeof(*leg->sas_old));
	b = calloc(1, sizeof(*b));
	if (!leg->sas_old || !b) {
		err = -ENOMEM;
		goto out;
	}
	err = base_init(b, in, k);
	if (!err)
		err = in->leg_b ?
		      sl_hs_pair_sas(leg->sas_new, in->commit, in->reply + 6,
				     b->e_pub) :
		      sl_hs_pair_sas(leg->sas_new, in->commit, b->e_pub,
				     in->reply + 6);
	for (unsigned int i = 0; !err && i < k->n; i++) {
		err = one(b, in, k, i, h, NULL);
		if (!err)
			err = old_sas(leg->sas_old[i], h);
	}
	leg->n = k->n;
out:
	if (b)
		sl_wipe(b, sizeof(*b));
	free(b);
	if (err)
		sl_grind_leg_free(leg);
	return err;
}

int sl_grind_pick(struct sl_grind_leg *leg, const struct sl_grind_in *in,
		  const struct sl_grind_keys *k, unsigned int pick)
{
	uint8_t h[SL_NOISE_HASH_LEN];
	struct base *b;
	int err;

	if (pick >= k->n)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	err = base_init(b, in, k);
	if (!err)
		err = one(b, in, k, pick, h, leg);
	sl_wipe(b, sizeof(*b));
	free(b);
	return err;
}

struct code {
	char sas[6];
	unsigned int i;
};

static int by_code(const void *x, const void *y)
{
	return strcmp(((const struct code *)x)->sas,
		      ((const struct code *)y)->sas);
}

bool sl_grind_match(const struct sl_grind_leg *a, const struct sl_grind_leg *b,
		    bool old, unsigned int *ia, unsigned int *ib,
		    uint64_t *pairs)
{
	struct code *sorted;
	bool found = false;

	*pairs = 0;
	if (!old) {
		if (strcmp(a->sas_new, b->sas_new))
			return false;
		*pairs = (uint64_t)a->n * b->n;
		*ia = *ib = 0;
		return a->n && b->n;
	}
	/* A birthday search: leg A's codes sorted, each of B's looked up. */
	sorted = calloc(a->n ? a->n : 1, sizeof(*sorted));
	if (!sorted)
		return false;
	for (unsigned int i = 0; i < a->n; i++) {
		memcpy(sorted[i].sas, a->sas_old[i], 6);
		sorted[i].i = i;
	}
	qsort(sorted, a->n, sizeof(*sorted), by_code);
	for (unsigned int j = 0; j < b->n; j++) {
		struct code key = { 0 }, *hit;

		memcpy(key.sas, b->sas_old[j], 6);
		hit = bsearch(&key, sorted, a->n, sizeof(*sorted), by_code);
		if (!hit)
			continue;
		/* Count every entry of leg A with this code. */
		while (hit > sorted && !by_code(hit - 1, &key))
			hit--;
		for (; hit < sorted + a->n && !by_code(hit, &key); hit++) {
			if (!found) {
				*ia = hit->i;
				*ib = j;
				found = true;
			}
			++*pairs;
		}
	}
	free(sorted);
	return found;
}
