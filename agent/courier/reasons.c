// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The recipient's refusals (envelope.h), with the words the sender's
 * operator will read, and small helpers the courier's files share.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

static const struct {
	const char *name;
	const char *text;
	bool retry;
} reasons[SL_ENV_REASON_COUNT] = {
	[SL_ENV_OK] = { "OK", "delivered", false },
	[SL_ENV_BAD_FORMAT] = { "BAD_FORMAT",
		"not a sealine envelope", false },
	[SL_ENV_BAD_VERSION] = { "BAD_VERSION",
		"an envelope version the recipient does not read", false },
	[SL_ENV_NOT_FOR_US] = { "NOT_FOR_US",
		"the envelope does not open with the recipient's key: sealed for another account, or changed on the way",
		false },
	[SL_ENV_UNKNOWN_SENDER] = { "UNKNOWN_SENDER",
		"the recipient has no pairing with the sender", false },
	[SL_ENV_NOT_AUTHORISED] = { "NOT_AUTHORISED",
		"the recipient does not accept envelopes from the sender (revoked or not authorised)",
		false },
	[SL_ENV_WRONG_RECIPIENT] = { "WRONG_RECIPIENT",
		"the envelope is addressed to another account", false },
	[SL_ENV_DAMAGED] = { "DAMAGED",
		"part of the envelope failed authentication: changed, reordered or mixed with another envelope on the way",
		true },
	[SL_ENV_TRUNCATED] = { "TRUNCATED",
		"the envelope ends before its last chunk", true },
	[SL_ENV_TRAILING] = { "TRAILING",
		"bytes follow the envelope's last chunk", true },
	[SL_ENV_REPLAY] = { "REPLAY",
		"this envelope was delivered before", false },
	[SL_ENV_TOO_BIG] = { "TOO_BIG",
		"the envelope is larger than the recipient accepts", false },
	[SL_ENV_TOO_MANY_FILES] = { "TOO_MANY_FILES",
		"the envelope holds more files than the recipient accepts",
		false },
	[SL_ENV_BOMB] = { "BOMB",
		"the envelope decompresses to too many times its size", false },
	[SL_ENV_UNPACKED_TOO_BIG] = { "UNPACKED_TOO_BIG",
		"the envelope unpacks to more bytes than the recipient accepts",
		false },
	[SL_ENV_NO_SPACE] = { "NO_SPACE",
		"the recipient lacks the disk space for the envelope", true },
	[SL_ENV_BAD_ARCHIVE] = { "BAD_ARCHIVE",
		"the envelope's compressed archive is malformed", false },
	[SL_ENV_UNSAFE_PATH] = { "UNSAFE_PATH",
		"a file name is absolute, contains \".\" or \"..\" or an empty component, or is too long",
		false },
	[SL_ENV_SYMLINK_OUTSIDE] = { "SYMLINK_OUTSIDE",
		"a symbolic link points outside the envelope, or a name goes through a symbolic link",
		false },
	[SL_ENV_HARDLINK_OUTSIDE] = { "HARDLINK_OUTSIDE",
		"a hard link points to no earlier file of the envelope", false },
	[SL_ENV_SPECIAL_FILE] = { "SPECIAL_FILE",
		"the envelope holds a device, FIFO or socket", false },
	[SL_ENV_DUPLICATE] = { "DUPLICATE",
		"a name appears twice in the envelope", false },
	[SL_ENV_IO] = { "IO",
		"the recipient could not write the files", true },
	[SL_ENV_INTERNAL] = { "INTERNAL",
		"the recipient failed internally (memory, libraries)", true },
	[SL_ENV_QUOTA] = { "QUOTA",
		"the TSP already holds as many envelopes or bytes of the sender's as its quota allows",
		true },
};

const char *sl_env_reason_name(enum sl_env_reason reason)
{
	if ((unsigned int)reason >= SL_ENV_REASON_COUNT)
		return "?";
	return reasons[reason].name;
}

const char *sl_env_reason_text(enum sl_env_reason reason)
{
	if ((unsigned int)reason >= SL_ENV_REASON_COUNT)
		return "?";
	return reasons[reason].text;
}

bool sl_env_reason_retryable(enum sl_env_reason reason)
{
	return (unsigned int)reason < SL_ENV_REASON_COUNT &&
	       reasons[reason].retry;
}

enum sl_env_reason sl_env_refuse(struct sl_env_refusal *why,
				 enum sl_env_reason reason, const char *fmt,
				 ...)
{
	va_list ap;

	if (!why)
		return reason;
	why->reason = reason;
	va_start(ap, fmt);
	vsnprintf(why->detail, sizeof(why->detail), fmt, ap);
	va_end(ap);
	return reason;
}

void sl_env_escape(char *out, size_t size, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	if (!size)
		return;
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (n + 1 >= size)
				break;
			out[n++] = (char)c;
		} else {
			if (n + 4 >= size)
				break;
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = 0;
}
