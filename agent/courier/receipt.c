// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The receipt text (receipt.h): written by one formatter, read by a
 * strict parser whose result is formatted again and compared with the
 * signed bytes, so that only the canonical spelling verifies.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "internal.h"
#include "receipt.h"

#define LINES	11

void sl_rcpt_from_received(struct sl_rcpt *r,
			   const struct sl_env_received *rx, int64_t when)
{
	memset(r, 0, sizeof(*r));
	memcpy(r->id, rx->id, SL_ENV_ID_LEN);
	memcpy(r->sha256, rx->sha256, SL_ENV_HASH_LEN);
	r->size = rx->bytes;
	memcpy(r->sender, rx->sender, sizeof(r->sender));
	memcpy(r->recipient, rx->recipient, sizeof(r->recipient));
	r->delivered = when;
	r->files = rx->files;
	r->bytes = rx->content_bytes;
}

static bool is_account(const char *s)
{
	for (int i = 0; i < SL_ENV_ACCOUNT_LEN; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return s[SL_ENV_ACCOUNT_LEN] == 0;
}

bool sl_rcpt_utc(char out[21], int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t < 0 || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999)
		return false;
	return strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 20;
}

/* The signed part: the first ten lines. Its length, or -EINVAL. */
static int format_body(char *out, size_t size, const struct sl_rcpt *r)
{
	char id[2 * SL_ENV_ID_LEN + 1], hash[2 * SL_ENV_HASH_LEN + 1];
	char key[2 * SL_SIGN_PUB_LEN + 1], when[21];
	int n;

	if (!is_account(r->sender) || !is_account(r->recipient) ||
	    !sl_rcpt_utc(when, r->delivered))
		return -EINVAL;
	sl_hex_encode(id, r->id, sizeof(r->id));
	sl_hex_encode(hash, r->sha256, sizeof(r->sha256));
	sl_hex_encode(key, r->key, sizeof(r->key));
	n = snprintf(out, size,
		     SL_RCPT_MAGIC "\n"
		     "envelope %s\n"
		     "sha256 %s\n"
		     "size %" PRIu64 "\n"
		     "sender %s\n"
		     "recipient %s\n"
		     "delivered %s\n"
		     "files %" PRIu64 "\n"
		     "bytes %" PRIu64 "\n"
		     "key %s\n",
		     id, hash, r->size, r->sender, r->recipient, when,
		     r->files, r->bytes, key);
	return n < 0 || (size_t)n >= size ? -EINVAL : n;
}

int sl_rcpt_sign(char *out, size_t size, size_t *len, struct sl_rcpt *r,
		 const struct sl_sign_key *k, char *why, size_t why_len)
{
	char sig[2 * SL_SIGN_SIG_LEN + 1];
	int n, err;

	memcpy(r->key, k->pub, SL_SIGN_PUB_LEN);
	n = format_body(out, size, r);
	if (n < 0)
		return sl_errf(why, why_len, -EINVAL,
				  "a receipt needs two 12-digit accounts and a time from 1970 to 9999");
	err = sl_sign(r->sig, k, out, (size_t)n);
	if (err)
		return sl_errf(why, why_len, err, "signing: %s",
				  strerror(-err));
	sl_hex_encode(sig, r->sig, sizeof(r->sig));
	if ((size_t)n + strlen("signature \n") + strlen(sig) + 1 > size)
		return sl_errf(why, why_len, -ENOSPC,
				  "no room for the receipt");
	n += snprintf(out + n, size - (size_t)n, "signature %s\n", sig);
	*len = (size_t)n;
	return 0;
}

int sl_rcpt_parse_decimal(uint64_t *out, const char *s, size_t len)
{
	uint64_t v = 0;

	if (!len || len > 20 || (len > 1 && s[0] == '0'))
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int sl_rcpt_parse_account(char out[SL_ENV_ACCOUNT_LEN + 1], const char *s,
			  size_t len)
{
	if (len != SL_ENV_ACCOUNT_LEN)
		return -EINVAL;
	memcpy(out, s, len);
	out[len] = 0;
	return is_account(out) ? 0 : -EINVAL;
}

/* YYYY-MM-DDTHH:MM:SSZ; canonical form is checked by formatting again. */
int sl_rcpt_parse_time(int64_t *out, const char *s, size_t len)
{
	struct tm tm = { 0 };
	int v[6], pos[6] = { 0, 5, 8, 11, 14, 17 }, w[6] = { 4, 2, 2, 2, 2, 2 };
	time_t t;

	if (len != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		v[i] = 0;
		for (int j = 0; j < w[i]; j++) {
			char c = s[pos[i] + j];

			if (c < '0' || c > '9')
				return -EINVAL;
			v[i] = v[i] * 10 + (c - '0');
		}
	}
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	t = timegm(&tm);
	if (t == (time_t)-1 && v[0] != 1969)
		return -EINVAL;
	*out = (int64_t)t;
	return 0;
}

int sl_rcpt_verify(struct sl_rcpt *r, const char *text, size_t len,
		   const uint8_t *expected_key, char *why, size_t why_len)
{
	static const char *const names[LINES] = {
		"sealine-receipt", "envelope", "sha256", "size", "sender",
		"recipient", "delivered", "files", "bytes", "key", "signature",
	};
	char body[SL_RCPT_MAX_LEN + 1];
	size_t off = 0, signed_len = 0;
	int n, err;

	memset(r, 0, sizeof(*r));
	if (!text || len > SL_RCPT_MAX_LEN)
		return sl_errf(why, why_len, -EINVAL,
				  "not a receipt: over %d bytes",
				  SL_RCPT_MAX_LEN);
	for (int i = 0; i < LINES; i++) {
		const char *line = text + off, *nl, *val;
		size_t name_len = strlen(names[i]), vlen;

		nl = memchr(line, '\n', len - off);
		if (!nl)
			return sl_errf(why, why_len, -EINVAL,
					  "not a receipt: line %d (\"%s\") missing or unterminated",
					  i + 1, names[i]);
		if ((size_t)(nl - line) <= name_len + 1 ||
		    memcmp(line, names[i], name_len) || line[name_len] != ' ')
			return sl_errf(why, why_len, -EINVAL,
					  "not a receipt: line %d is not \"%s ...\"",
					  i + 1, names[i]);
		val = line + name_len + 1;
		vlen = (size_t)(nl - val);
		switch (i) {
		case 0:
			err = vlen == 1 && val[0] == '1' ? 0 : -EINVAL;
			break;
		case 1:
			err = sl_hex_decode(r->id, sizeof(r->id), val, vlen);
			break;
		case 2:
			err = sl_hex_decode(r->sha256, sizeof(r->sha256), val, vlen);
			break;
		case 3:
			err = sl_rcpt_parse_decimal(&r->size, val, vlen);
			break;
		case 4:
			err = sl_rcpt_parse_account(r->sender, val, vlen);
			break;
		case 5:
			err = sl_rcpt_parse_account(r->recipient, val, vlen);
			break;
		case 6:
			err = sl_rcpt_parse_time(&r->delivered, val, vlen);
			break;
		case 7:
			err = sl_rcpt_parse_decimal(&r->files, val, vlen);
			break;
		case 8:
			err = sl_rcpt_parse_decimal(&r->bytes, val, vlen);
			break;
		case 9:
			err = sl_hex_decode(r->key, sizeof(r->key), val, vlen);
			break;
		default:
			err = sl_hex_decode(r->sig, sizeof(r->sig), val, vlen);
			break;
		}
		if (err)
			return sl_errf(why, why_len, -EINVAL,
					  "not a receipt: bad value in line %d (\"%s\")",
					  i + 1, names[i]);
		off = (size_t)(nl - text) + 1;
		if (i == LINES - 2)
			signed_len = off;
	}
	if (off != len)
		return sl_errf(why, why_len, -EINVAL,
				  "not a receipt: %zu bytes after its last line",
				  len - off);
	n = format_body(body, sizeof(body), r);
	if (n < 0 || (size_t)n != signed_len || memcmp(body, text, signed_len))
		return sl_errf(why, why_len, -EINVAL,
				  "not a receipt: not in its one canonical form");
	if (expected_key && !sl_ct_memeq(expected_key, r->key, SL_SIGN_PUB_LEN))
		return sl_errf(why, why_len, -EKEYREJECTED,
				  "signed with another key than the recipient's");
	err = sl_sign_verify(r->key, text, signed_len, r->sig);
	if (err == -EBADMSG)
		return sl_errf(why, why_len, err,
				  "the signature does not verify: the receipt was changed or not signed by its key");
	if (err)
		return sl_errf(why, why_len, err, "verifying: %s",
				  strerror(-err));
	return 0;
}

bool sl_rcpt_matches(const struct sl_rcpt *r, const struct sl_env_sealed *s,
		     const char *sender, const char *recipient)
{
	return !memcmp(r->id, s->id, SL_ENV_ID_LEN) &&
	       !memcmp(r->sha256, s->sha256, SL_ENV_HASH_LEN) &&
	       r->size == s->bytes && !strcmp(r->sender, sender) &&
	       !strcmp(r->recipient, recipient);
}
