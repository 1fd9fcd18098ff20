/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Delivery receipts: the recipient's statement, signed with its Ed25519
 * identity key (sign.h), that it received and committed one envelope.
 * Anyone holding the recipient's public key can check one, unlike the
 * patent's FileProof, which convinced only the two ends.
 *
 * The receipt file is text, exactly these eleven lines, each "name value"
 * with one space and a line feed, in this order (Documentation/
 * courier.rst, "Receipts"):
 *
 *	sealine-receipt 1
 *	envelope <envelope id, 32 lower-case hex digits>
 *	sha256 <SHA-256 of the whole envelope as sent, 64 hex digits>
 *	size <the envelope's bytes, decimal>
 *	sender <12-digit account>
 *	recipient <12-digit account>
 *	delivered <UTC time of the commit, YYYY-MM-DDTHH:MM:SSZ>
 *	files <entries unpacked, decimal>
 *	bytes <bytes of the files unpacked, decimal>
 *	key <the recipient's Ed25519 public key, 64 hex digits>
 *	signature <Ed25519 signature, 128 hex digits>
 *
 * The signature covers the bytes of the first ten lines, line feeds
 * included; the first line keeps them from meaning anything else.
 * Decimals have no leading zeros. A receipt in any other form (another
 * order, extra spaces, upper-case hex, CR LF, a byte more) is refused,
 * so a receipt has exactly one spelling.
 *
 * Functions return 0 or a negative errno and say why in why:
 * -EINVAL malformed, -EBADMSG the signature does not verify,
 * -EKEYREJECTED signed by another key than the one expected.
 */
#ifndef SEALINE_COURIER_RECEIPT_H
#define SEALINE_COURIER_RECEIPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "sign.h"

#define SL_RCPT_MAGIC	"sealine-receipt 1"
/* The longest receipt: every decimal at 20 digits. */
#define SL_RCPT_MAX_LEN	700

struct sl_rcpt {
	uint8_t id[SL_ENV_ID_LEN];
	uint8_t sha256[SL_ENV_HASH_LEN];
	uint64_t size;
	char sender[SL_ENV_ACCOUNT_LEN + 1];
	char recipient[SL_ENV_ACCOUNT_LEN + 1];
	int64_t delivered;		/* Unix seconds, UTC */
	uint64_t files;
	uint64_t bytes;
	uint8_t key[SL_SIGN_PUB_LEN];
	uint8_t sig[SL_SIGN_SIG_LEN];
};

/* The receipt's fields for an envelope just committed at time `when`. */
void sl_rcpt_from_received(struct sl_rcpt *r,
			   const struct sl_env_received *rx, int64_t when);

/*
 * Signs r with k (r->key and r->sig are set) and writes the receipt text
 * into out (size at least SL_RCPT_MAX_LEN + 1; NUL-terminated; *len its
 * length without the NUL).
 */
int sl_rcpt_sign(char *out, size_t size, size_t *len, struct sl_rcpt *r,
		 const struct sl_sign_key *k, char *why, size_t why_len);

/*
 * Parses a receipt strictly (see above) into *r and checks its
 * signature with the key it names; if expected_key is not NULL that key
 * must be it (-EKEYREJECTED otherwise: signed by someone else).
 */
int sl_rcpt_verify(struct sl_rcpt *r, const char *text, size_t len,
		   const uint8_t *expected_key, char *why, size_t why_len);

/*
 * The sender's check of a verified receipt: it is for the envelope it
 * sealed (id, hash, size) and the two accounts it expects.
 */
bool sl_rcpt_matches(const struct sl_rcpt *r, const struct sl_env_sealed *s,
		     const char *sender, const char *recipient);

/*
 * The values of a receipt's lines, strictly (shared with T's signed
 * texts, tsptext.h): a decimal without leading zeros, a 12-digit
 * account, a time YYYY-MM-DDTHH:MM:SSZ (parsed; and formatted, false if
 * t is outside 1970 to 9999). 0 or -EINVAL.
 */
int sl_rcpt_parse_decimal(uint64_t *out, const char *s, size_t len);
int sl_rcpt_parse_account(char out[SL_ENV_ACCOUNT_LEN + 1], const char *s,
			  size_t len);
int sl_rcpt_parse_time(int64_t *out, const char *s, size_t len);
bool sl_rcpt_utc(char out[21], int64_t t);

#endif
