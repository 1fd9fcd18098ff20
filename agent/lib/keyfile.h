/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Session keys as text: 64 hex digits, read from a file or standard input,
 * never from the command line (argv is readable by every user through
 * /proc). Callers own the key buffers and must explicit_bzero() them.
 */
#ifndef SEALINE_AGENT_KEYFILE_H
#define SEALINE_AGENT_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/sealine.h>

#define SL_KEY_HEX_LEN (2 * SEALINE_KEY_LEN)

/* Largest key file read: a key with generous whitespace, not a log file. */
#define SL_KEY_FILE_MAX 4096

struct sl_key_file_info {
	bool others_can_read;	/* regular file with group/other read bits */
	unsigned int mode;	/* its permission bits, for the warning */
};

int sl_key_read(const char *path, uint8_t key[SEALINE_KEY_LEN],
		struct sl_key_file_info *info, char *why, size_t why_len);
int sl_key_parse_hex(const char *text, size_t len, uint8_t key[SEALINE_KEY_LEN],
		     char *why, size_t why_len);
int sl_key_generate(uint8_t key[SEALINE_KEY_LEN]);

#endif
