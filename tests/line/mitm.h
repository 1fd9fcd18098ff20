/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A man in the middle for sealine-wire's "mitm" mode: it takes every
 * control frame off the line and runs two handshakes of its own, with
 * sealined's own protocol core (agent/proto/hs_*.c) and its own keys:
 *
 *	A  <-- leg A: M is the responder, claims account B -->  M
 *	M  <-- leg B: M is the initiator, claims account A -->  B
 *
 * When A starts a pairing (PAIR_COMMIT), leg A answers it and leg B
 * starts a pairing of its own towards B. Each leg then completes the
 * Noise XX exchange with its side, with the man in the middle's
 * ephemeral and static keys in place of the other side's: every DH that
 * A and B compute is with M's keys. What M cannot do is make the two
 * SASes agree: each is bound by A's commitment (leg A) and by M's own
 * commitment sent before B's ephemeral key was known (leg B). So B's
 * operator, typing the code A's operator reads out, types leg A's SAS
 * into leg B: a mismatch, unless 2^-25 luck.
 *
 * The accounts to claim are given (an attacker who targets two parties
 * knows their account numbers; they never cross the line in clear).
 * Data and keepalive frames are relayed unchanged.
 *
 * With sl_mitm_grind() the man in the middle also grinds (grind.h): it
 * holds back A's PAIR_REVEAL and B's PAIR_EPHEMERAL until it has both,
 * tries n static keys of its own on each leg, and goes on with the pair
 * that makes the two codes equal if there is one (under the version 2
 * SAS there is none, but for 2^-25 luck; it reports how many pairs
 * the version 1 SAS would have allowed, and uses one of them).
 *
 * Everything is logged through the log callback: each leg's messages,
 * "leg A: Noise XX complete with ACCOUNT" when a leg's DH exchange is done
 * and its SAS step reached, leg B's SAS (the code B's operator would have
 * to type), NAKs and how each leg ended.
 */
#ifndef SEALINE_WIRE_MITM_H
#define SEALINE_WIRE_MITM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { SL_MITM_LEG_A = 0, SL_MITM_LEG_B = 1 };

/* Queue wire bytes (a COBS frame and its 0x00) towards side A or B. */
typedef void (*sl_mitm_emit_fn)(void *ctx, int towards, const uint8_t *wire,
				size_t len);
typedef void (*sl_mitm_log_fn)(void *ctx, const char *text);

struct sl_mitm;

/*
 * A man in the middle that claims account_b towards A and account_a
 * towards B (12 digits each). NULL with the reason in err.
 */
struct sl_mitm *sl_mitm_new(const char *account_a, const char *account_b,
			    sl_mitm_emit_fn emit, sl_mitm_log_fn log,
			    void *ctx, char *err, size_t err_len);
/* Wipes every secret, frees m (may be NULL). */
void sl_mitm_free(struct sl_mitm *m);

#define SL_MITM_GRIND_MAX	(1u << 20)

/*
 * Grind with n candidate static keys per leg (1 to SL_MITM_GRIND_MAX),
 * knowing B's static public key b_pub (the TSP and every peer of B have
 * it). Before A's pairing starts; -EINVAL otherwise.
 */
int sl_mitm_grind(struct sl_mitm *m, unsigned int n,
		  const uint8_t b_pub[32]);

/* What the grinding found and did (done once it ran). */
struct sl_mitm_grind_result {
	bool done;
	unsigned int n;
	char claim_a[13], claim_b[13];	/* the accounts claimed */
	char sas_new_a[6], sas_new_b[6];	/* the version 2 codes */
	bool found_new, found_old;
	uint64_t pairs_new, pairs_old;	/* pairs of keys with equal codes */
	unsigned int ia, ib;		/* the keys used (leg A, leg B) */
	unsigned int old_ia, old_ib;
	/* The messages the chosen keys give, as grind.c computed them
	 * (PAIR_FINISH to A, PAIR_REVEAL to B), and B's PAIR_FINISH as
	 * predicted from its public key: tests compare them with the wire. */
	uint8_t finish_a[82], reveal_b[114], predicted_b[82];
};
const struct sl_mitm_grind_result *sl_mitm_grind_result(const struct sl_mitm *m);

/*
 * One frame as it came off the wire from side A or B: its COBS bytes,
 * without the 0x00 delimiter. true: a control frame, taken (not to be
 * relayed); false: relay it unchanged. now_ms: CLOCK_MONOTONIC.
 */
bool sl_mitm_frame(struct sl_mitm *m, int from, const uint8_t *wire,
		   size_t len, uint64_t now_ms);

/* The legs' timers (retransmission, deadlines): call at next_timer. */
void sl_mitm_timer(struct sl_mitm *m, uint64_t now_ms);
/* When sl_mitm_timer() is due (CLOCK_MONOTONIC ms), 0: never. */
uint64_t sl_mitm_next_timer(const struct sl_mitm *m);

/* One line: each leg's state, the DH exchanges completed, leg B's SAS. */
void sl_mitm_status(const struct sl_mitm *m, char *buf, size_t len);

#endif
