/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Hex, for keys and ids in files, records and the control protocol. Every
 * function runs in the same time whatever the data (no branch or table
 * lookup on a digit's value): private keys and pair keys go through here.
 */
#ifndef SEALINE_AGENT_HEX_H
#define SEALINE_AGENT_HEX_H

#include <stddef.h>
#include <stdint.h>

/* len bytes as 2 * len lower-case digits and a NUL. */
void sl_hex_encode(char *out, const void *in, size_t len);
/* Exactly 2 * len lower-case digits (text_len of them) into out: 0, or
 * -EINVAL (out is then undefined: the caller wipes it if it matters). */
int sl_hex_decode(void *out, size_t len, const char *text, size_t text_len);
/* One digit, either case, to its value; -1 if c is not a hex digit. */
int sl_hex_digit(unsigned char c);

#endif
