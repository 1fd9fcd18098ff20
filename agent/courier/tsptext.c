// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * T's signed texts for a sender (tsptext.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "hex.h"
#include "log.h"
#include "receipt.h"
#include "tsptext.h"

#define MAX_LINES	12

static const char *const acceptance_names[] = {
	"sealine-acceptance", "envelope", "sha256", "size", "sender",
	"recipient", "accepted", "expires", "spool", "key", "signature", NULL,
};
static const char *const notice_names[] = {
	"sealine-notice", "envelope", "sha256", "size", "sender",
	"recipient", "outcome", "reason", "attempts", "time", "key",
	"signature", NULL,
};

struct field {
	const char *val;
	size_t len;
};

/* A word of a notice: letters, digits and '_', as reason names are. */
static int word(char out[SL_TSPTEXT_WORD_MAX], const char *s, size_t len)
{
	if (!len || len >= SL_TSPTEXT_WORD_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return -EINVAL;
	memcpy(out, s, len);
	out[len] = 0;
	return 0;
}

static int spool_id(uint64_t *out, const char *s, size_t len)
{
	uint8_t b[8];

	if (len != 16 || sl_hex_decode(b, sizeof(b), s, len))
		return -EINVAL;
	*out = 0;
	for (int i = 0; i < 8; i++)
		*out = *out << 8 | b[i];
	return 0;
}

/* The value of line i (name n) into t. */
static int field(struct sl_tsptext *t, const char *n, const struct field *f)
{
	const char *v = f->val;
	size_t l = f->len;

	if (!strcmp(n, "sealine-acceptance") || !strcmp(n, "sealine-notice"))
		return l == 1 && v[0] == '1' ? 0 : -EINVAL;
	if (!strcmp(n, "envelope"))
		return sl_hex_decode(t->id, sizeof(t->id), v, l);
	if (!strcmp(n, "sha256"))
		return sl_hex_decode(t->sha256, sizeof(t->sha256), v, l);
	if (!strcmp(n, "size"))
		return sl_rcpt_parse_decimal(&t->size, v, l);
	if (!strcmp(n, "sender"))
		return sl_rcpt_parse_account(t->sender, v, l);
	if (!strcmp(n, "recipient"))
		return sl_rcpt_parse_account(t->recipient, v, l);
	if (!strcmp(n, "accepted") || !strcmp(n, "time"))
		return sl_rcpt_parse_time(&t->time, v, l);
	if (!strcmp(n, "expires"))
		return sl_rcpt_parse_time(&t->expires, v, l);
	if (!strcmp(n, "spool"))
		return spool_id(&t->spool, v, l);
	if (!strcmp(n, "outcome"))
		return word(t->outcome, v, l);
	if (!strcmp(n, "reason"))
		return word(t->reason, v, l);
	if (!strcmp(n, "attempts"))
		return sl_rcpt_parse_decimal(&t->attempts, v, l);
	if (!strcmp(n, "key"))
		return sl_hex_decode(t->key, sizeof(t->key), v, l);
	return sl_hex_decode(t->sig, sizeof(t->sig), v, l);
}

/* The signed part as T writes it (deposit.c): its length, or -EINVAL. */
static int format_body(char *out, size_t size, const struct sl_tsptext *t)
{
	char id[2 * SL_ENV_ID_LEN + 1], sha[2 * SL_ENV_HASH_LEN + 1];
	char key[2 * SL_SIGN_PUB_LEN + 1], t1[21], t2[21];
	int n;

	sl_hex_encode(id, t->id, sizeof(t->id));
	sl_hex_encode(sha, t->sha256, sizeof(t->sha256));
	sl_hex_encode(key, t->key, sizeof(t->key));
	if (!sl_rcpt_utc(t1, t->time))
		return -EINVAL;
	if (t->kind == SL_TSPTEXT_ACCEPTANCE) {
		if (!sl_rcpt_utc(t2, t->expires))
			return -EINVAL;
		n = snprintf(out, size,
			     SL_TSPTEXT_ACCEPTANCE_MAGIC "\nenvelope %s\nsha256 %s\nsize %" PRIu64 "\nsender %s\nrecipient %s\naccepted %s\nexpires %s\nspool %016" PRIx64 "\nkey %s\n",
			     id, sha, t->size, t->sender, t->recipient, t1, t2,
			     t->spool, key);
	} else {
		n = snprintf(out, size,
			     SL_TSPTEXT_NOTICE_MAGIC "\nenvelope %s\nsha256 %s\nsize %" PRIu64 "\nsender %s\nrecipient %s\noutcome %s\nreason %s\nattempts %" PRIu64 "\ntime %s\nkey %s\n",
			     id, sha, t->size, t->sender, t->recipient,
			     t->outcome, t->reason, t->attempts, t1, key);
	}
	return n < 0 || (size_t)n >= size ? -EINVAL : n;
}

int sl_tsptext_verify(struct sl_tsptext *t, const char *text, size_t len,
		      const uint8_t *expected_key, char *why, size_t why_len)
{
	const char *const *names;
	char body[SL_TSPTEXT_MAX_LEN + 1];
	size_t off = 0, signed_len = 0;
	int i, n, err;

	memset(t, 0, sizeof(*t));
	if (!text || len > SL_TSPTEXT_MAX_LEN)
		return sl_errf(why, why_len, -EINVAL,
			       "not a text of the TSP's: over %d bytes",
			       SL_TSPTEXT_MAX_LEN);
	if (len > strlen(SL_TSPTEXT_ACCEPTANCE_MAGIC) &&
	    !memcmp(text, SL_TSPTEXT_ACCEPTANCE_MAGIC "\n",
		    strlen(SL_TSPTEXT_ACCEPTANCE_MAGIC) + 1)) {
		t->kind = SL_TSPTEXT_ACCEPTANCE;
		names = acceptance_names;
	} else if (len > strlen(SL_TSPTEXT_NOTICE_MAGIC) &&
		   !memcmp(text, SL_TSPTEXT_NOTICE_MAGIC "\n",
			   strlen(SL_TSPTEXT_NOTICE_MAGIC) + 1)) {
		t->kind = SL_TSPTEXT_NOTICE;
		names = notice_names;
	} else {
		return sl_errf(why, why_len, -EINVAL,
			       "neither an acceptance nor a notice of the TSP's");
	}
	for (i = 0; names[i]; i++) {
		const char *line = text + off, *nl;
		size_t name_len = strlen(names[i]);
		struct field f;

		nl = memchr(line, '\n', len - off);
		if (!nl || (size_t)(nl - line) <= name_len + 1 ||
		    memcmp(line, names[i], name_len) || line[name_len] != ' ')
			return sl_errf(why, why_len, -EINVAL,
				       "malformed: line %d is not \"%s ...\"",
				       i + 1, names[i]);
		f.val = line + name_len + 1;
		f.len = (size_t)(nl - f.val);
		if (field(t, names[i], &f))
			return sl_errf(why, why_len, -EINVAL,
				       "malformed: bad value in line %d (\"%s\")",
				       i + 1, names[i]);
		off = (size_t)(nl - text) + 1;
		if (names[i + 1] && !names[i + 2])
			signed_len = off;
	}
	if (off != len)
		return sl_errf(why, why_len, -EINVAL,
			       "malformed: %zu bytes after the last line",
			       len - off);
	n = format_body(body, sizeof(body), t);
	if (n < 0 || (size_t)n != signed_len || memcmp(body, text, signed_len))
		return sl_errf(why, why_len, -EINVAL,
			       "malformed: not in its one canonical form");
	if (expected_key && !sl_ct_memeq(expected_key, t->key, SL_SIGN_PUB_LEN))
		return sl_errf(why, why_len, -EKEYREJECTED,
			       "signed with another key than the TSP's");
	err = sl_sign_verify(t->key, text, signed_len, t->sig);
	if (err == -EBADMSG)
		return sl_errf(why, why_len, err,
			       "the signature does not verify: the text was changed or not signed by the key it names");
	if (err)
		return sl_errf(why, why_len, err, "verifying: %s",
			       strerror(-err));
	return 0;
}

bool sl_tsptext_matches(const struct sl_tsptext *t,
			const uint8_t id[SL_ENV_ID_LEN],
			const uint8_t sha256[SL_ENV_HASH_LEN], uint64_t size,
			const char *sender, const char *recipient)
{
	return !memcmp(t->id, id, SL_ENV_ID_LEN) &&
	       !memcmp(t->sha256, sha256, SL_ENV_HASH_LEN) &&
	       t->size == size && !strcmp(t->sender, sender) &&
	       !strcmp(t->recipient, recipient);
}
