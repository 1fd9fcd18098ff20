/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * T's signed texts for a sender (Documentation/store-and-forward.rst):
 * the acceptance of a hand-over ("sealine-acceptance 1", eleven lines)
 * and the non-delivery notice ("sealine-notice 1", twelve lines), each
 * "name value" lines in a fixed order, the last one the Ed25519
 * signature over all the others, with T's signing key named in the line
 * before it. As receipts (receipt.h) they have one spelling: anything
 * else (another order, a byte more, upper-case hex, a leading zero) is
 * refused.
 *
 * The sender checks them: the signature, the key (T's, which the sender
 * pinned when T first signed for it: a text signed by any other key is
 * refused, whoever made it), and that the text is about the envelope it
 * sent (id, sha256 of the bytes, size, both accounts). A TSP's text that
 * names another hash is a TSP whose disk changed a byte, or a lie.
 *
 * Functions return 0 or a negative errno and say why: -EINVAL malformed,
 * -EBADMSG the signature does not verify, -EKEYREJECTED signed by
 * another key than the one expected.
 */
#ifndef SEALINE_COURIER_TSPTEXT_H
#define SEALINE_COURIER_TSPTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "envelope.h"
#include "sign.h"

#define SL_TSPTEXT_ACCEPTANCE_MAGIC	"sealine-acceptance 1"
#define SL_TSPTEXT_NOTICE_MAGIC		"sealine-notice 1"
/* The longest either can be (every decimal at 20 digits). */
#define SL_TSPTEXT_MAX_LEN		700
#define SL_TSPTEXT_WORD_MAX		32	/* outcome, reason */

enum sl_tsptext_kind {
	SL_TSPTEXT_ACCEPTANCE = 1,
	SL_TSPTEXT_NOTICE,
};

struct sl_tsptext {
	enum sl_tsptext_kind kind;
	uint8_t id[SL_ENV_ID_LEN];
	uint8_t sha256[SL_ENV_HASH_LEN];
	uint64_t size;
	char sender[SL_ENV_ACCOUNT_LEN + 1];
	char recipient[SL_ENV_ACCOUNT_LEN + 1];
	int64_t time;			/* accepted, or the notice's time */
	int64_t expires;		/* acceptance */
	uint64_t spool;			/* acceptance: T's spool row */
	char outcome[SL_TSPTEXT_WORD_MAX];	/* notice: expired, bounced */
	char reason[SL_TSPTEXT_WORD_MAX];	/* notice: a reason's name,
						 * or "none" */
	uint64_t attempts;		/* notice */
	uint8_t key[SL_SIGN_PUB_LEN];
	uint8_t sig[SL_SIGN_SIG_LEN];
};

/*
 * Parses an acceptance or a notice strictly into *t and checks its
 * signature under the key it names; expected_key, if not NULL, must be
 * that key.
 */
int sl_tsptext_verify(struct sl_tsptext *t, const char *text, size_t len,
		      const uint8_t *expected_key, char *why, size_t why_len);

/* Whether a verified text is about this envelope between these two. */
bool sl_tsptext_matches(const struct sl_tsptext *t,
			const uint8_t id[SL_ENV_ID_LEN],
			const uint8_t sha256[SL_ENV_HASH_LEN], uint64_t size,
			const char *sender, const char *recipient);

#endif
