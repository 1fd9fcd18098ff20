/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The grinding of a man in the middle who pairs with both ends of a line
 * (mitm.c): everything he can choose late, he chooses to make the two
 * operators' codes equal.
 *
 * On the leg towards A (the pairing's initiator) he is the responder: he
 * sends his ephemeral key e_M1 (PAIR_EPHEMERAL), A reveals e_A with its
 * static key and account (PAIR_REVEAL), and only then does he pick the
 * static key he sends A (PAIR_FINISH). On the leg towards B (the
 * responder) he is the initiator: he commits to e_M2 (PAIR_COMMIT), B
 * answers e_B (PAIR_EPHEMERAL), and only then does he pick the static
 * key he sends B (PAIR_REVEAL); B's reply (PAIR_FINISH: B's static key
 * and account) he predicts from B's public key and account, which the
 * attacker is assumed to know (every TSP and every peer of B has them).
 *
 * For each of n candidate static keys, each leg's transcript is computed
 * exactly as the two ends will compute it (with agent/proto/noise.c's own
 * operations), and the two SAS definitions are evaluated on it:
 *
 *   old (version 1): SHA-256("sealine v1 SAS" || h), h the handshake
 *       hash after PAIR_FINISH, which covers the static keys and
 *       accounts: every candidate gives another code, so with n around
 *       2^13 per leg a pair of equal codes is expected (a birthday
 *       search over 2^25 codes);
 *   new (version 2): sl_hs_pair_sas(PAIR_COMMIT, e_R, e_I), fixed before
 *       the static keys are sent: every candidate gives the same code on
 *       a leg, and the two legs' codes agree with probability 2^-25.
 *
 * The attacker's work is real: n X25519 key pairs, and one DH per
 * candidate and leg (the rest is hashing and ChaCha20-Poly1305).
 */
#ifndef SEALINE_WIRE_GRIND_H
#define SEALINE_WIRE_GRIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_GRIND_KEY	32

/* The candidate static keys, one list for both legs. */
struct sl_grind_keys {
	unsigned int n;
	uint8_t (*priv)[SL_GRIND_KEY];
	uint8_t (*pub)[SL_GRIND_KEY];
};

/* n fresh X25519 key pairs (after sl_crypto_init()). 0 or -ENOMEM. */
int sl_grind_keys_new(struct sl_grind_keys *k, unsigned int n);
void sl_grind_keys_free(struct sl_grind_keys *k);

/*
 * What the man in the middle has seen on one leg when he must choose.
 * Leg A: A's PAIR_COMMIT and PAIR_REVEAL (reply, 114 bytes), his own
 * ephemeral private key (sent in PAIR_EPHEMERAL). Leg B: his PAIR_COMMIT
 * and ephemeral private key, B's PAIR_EPHEMERAL (reply, 38 bytes), and
 * B's static public key and account (known to the attacker). Each: the
 * account he claims (towards A: B's, towards B: A's).
 */
struct sl_grind_in {
	bool leg_b;
	uint8_t commit[40];
	uint8_t reply[114];
	uint8_t e_priv[SL_GRIND_KEY];
	char claim[12];
	uint8_t b_pub[SL_GRIND_KEY];
	char b_account[12];
};

/* One leg's codes: one per candidate (old), or one for all (new). */
struct sl_grind_leg {
	unsigned int n;
	char (*sas_old)[6];
	char sas_new[6];
	/*
	 * After sl_grind_pick(): the message the man in the middle sends
	 * with that candidate (leg A: PAIR_FINISH to A; leg B: PAIR_REVEAL
	 * to B) and, on leg B, the PAIR_FINISH he predicts from B, so that
	 * a test can check the prediction against the real ends.
	 */
	uint8_t sent[114];
	size_t sent_len;
	uint8_t predicted[82];
};

/*
 * Every candidate's codes on one leg. 0, or a negative errno (-EBADMSG:
 * a reply that does not open, so not from a genuine A or B).
 */
int sl_grind_leg(struct sl_grind_leg *leg, const struct sl_grind_in *in,
		 const struct sl_grind_keys *k);
/* The messages of candidate pick (leg->sent, leg->predicted). */
int sl_grind_pick(struct sl_grind_leg *leg, const struct sl_grind_in *in,
		  const struct sl_grind_keys *k, unsigned int pick);
void sl_grind_leg_free(struct sl_grind_leg *leg);

/*
 * A pair of candidates (*ia on leg A, *ib on leg B) that gives both
 * operators the same code under the old or the new definition: true if
 * there is one. *pairs: how many such pairs there are (by chance about
 * n^2 / 2^25 for old; for new n^2 if the two fixed codes happen to
 * agree, else 0).
 */
bool sl_grind_match(const struct sl_grind_leg *a, const struct sl_grind_leg *b,
		    bool old, unsigned int *ia, unsigned int *ib,
		    uint64_t *pairs);

#endif
