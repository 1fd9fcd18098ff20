// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Hex in constant time (hex.h).
 */
#include <errno.h>

#include "hex.h"

/*
 * Each mask is -1 exactly when c lies in its range: (lo - 1 - c) and
 * (c - hi - 1) are both negative only then, and >> 8 smears the sign.
 */
int sl_hex_digit(unsigned char c)
{
	int lc = c | 0x20;
	int digit = ((('0' - 1) - (int)c) & ((int)c - ('9' + 1))) >> 8;
	int alpha = ((('a' - 1) - lc) & (lc - ('f' + 1))) >> 8;

	return (digit & ((int)c - '0')) | (alpha & (lc - 'a' + 10)) |
	       ~(digit | alpha);
}

void sl_hex_encode(char *out, const void *in, size_t len)
{
	const uint8_t *p = in;

	for (size_t i = 0; i < 2 * len; ++i) {
		int n = (p[i / 2] >> (i % 2 ? 0 : 4)) & 0xf;

		/* '0' + n, plus the distance from '9' + 1 to 'a' when n > 9. */
		out[i] = (char)('0' + n + ((('9' - '0' - n) >> 8) & ('a' - '9' - 1)));
	}
	out[2 * len] = '\0';
}

int sl_hex_decode(void *out, size_t len, const char *text, size_t text_len)
{
	uint8_t *o = out;
	int bad = 0;

	if (text_len != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; ++i) {
		unsigned char hc = (unsigned char)text[2 * i];
		unsigned char lc = (unsigned char)text[2 * i + 1];
		int hi = sl_hex_digit(hc), lo = sl_hex_digit(lc);

		/* Upper case is refused: what we write is lower case, and
		 * one spelling per value keeps signed texts canonical. */
		bad |= hi | lo | -(hc >= 'A' && hc <= 'F') |
		       -(lc >= 'A' && lc <= 'F');
		o[i] = (uint8_t)((hi & 0xf) << 4 | (lo & 0xf));
	}
	return bad < 0 ? -EINVAL : 0;
}
