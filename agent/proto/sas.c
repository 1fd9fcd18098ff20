// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The short authentication string of pairing: 5 symbols from a 32-symbol
 * alphabet, shown to both operators, who read them to each other over the
 * phone. See crypto.h for the alphabet and the rules for typed input.
 */
#include <errno.h>
#include <string.h>

#include "crypto.h"

static const char sas_alphabet[] = SL_SAS_ALPHABET;

_Static_assert(sizeof(sas_alphabet) - 1 == 32,
	       "5 bits per SAS symbol need exactly 32 symbols");
_Static_assert(SL_SAS_BITS <= 8 * SL_SHA256_LEN, "SAS longer than its hash");

void sl_sas_from_hash(char out[SL_SAS_LEN + 1],
		      const uint8_t hash[SL_SHA256_LEN])
{
	unsigned int i, bit, v, b;

	/* Bit i of the string is bit 7 - i % 8 of hash[i / 8]: the hash
	 * read as one big-endian number, so the SAS does not depend on the
	 * host and anyone can recompute it by hand from a hex dump. A table
	 * lookup indexed by hash bits is fine here: the SAS is shown on the
	 * screen a moment later anyway. */
	for (i = 0; i < SL_SAS_LEN; i++) {
		v = 0;
		for (b = 0; b < 5; b++) {
			bit = 5 * i + b;
			v = (v << 1) | ((hash[bit / 8] >> (7 - bit % 8)) & 1);
		}
		out[i] = sas_alphabet[v];
	}
	out[SL_SAS_LEN] = '\0';
}

/* The symbol an operator meant by c, or 0 if there is none. */
static char sas_symbol(unsigned char c)
{
	/* ASCII only, whatever the locale: toupper() would let a locale
	 * map other bytes onto symbols. */
	if (c >= 'a' && c <= 'z')
		c -= 'a' - 'A';
	/* Not symbols themselves, and each can only have been meant as L:
	 * I looks like l, which is L typed in lower case, and 1 looks like
	 * both. 0 and O have no such unique reading and stay errors. */
	if (c == '1' || c == 'I')
		c = 'L';
	if (!memchr(sas_alphabet, c, sizeof(sas_alphabet) - 1))
		return 0;
	return (char)c;
}

int sl_sas_normalize(char out[SL_SAS_LEN + 1], const char *typed)
{
	size_t n = 0;
	const char *p;
	char c;

	out[0] = '\0';
	for (p = typed; *p; p++) {
		/* People group what they read out ("RBW 3F", "rbw-3f"). */
		if (*p == ' ' || *p == '\t' || *p == '-')
			continue;
		c = sas_symbol((unsigned char)*p);
		if (!c || n == SL_SAS_LEN)
			goto clear_out;
		out[n++] = c;
	}
	if (n != SL_SAS_LEN)
		goto clear_out;
	out[n] = '\0';
	return 0;

clear_out:
	out[0] = '\0';
	return -EINVAL;
}

bool sl_sas_matches(const char *typed, const char sas[SL_SAS_LEN + 1])
{
	char norm[SL_SAS_LEN + 1];

	if (sl_sas_normalize(norm, typed))
		return false;
	/* Not a secret once on screen, but comparing in constant time
	 * costs nothing and leaves nothing to argue about. */
	return sl_ct_memeq(norm, sas, SL_SAS_LEN);
}
