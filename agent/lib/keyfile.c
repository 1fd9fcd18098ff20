// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Hex key files, and fresh keys in the same format.
 *
 * Files are read with read(2), not stdio: a FILE keeps its own buffer,
 * which fclose() frees without wiping. Error messages say where a key file
 * is wrong but never quote it, since the wrong part may be key material
 * (someone pasted a base64 key, say).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "hex.h"
#include "keyfile.h"

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
	       c == '\f';
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (c >= 'A' && c <= 'F');
}

/*
 * @text: a key as 64 hex digits, upper or lower case, with any amount of
 * whitespace before and after it (a trailing newline, an indented line),
 * but not inside it. On error @why says what is wrong, in words.
 */
int sl_key_parse_hex(const char *text, size_t len, uint8_t key[SEALINE_KEY_LEN],
		     char *why, size_t why_len)
{
	size_t start = 0, end, i;
	int bad = 0;

	while (start < len && is_space(text[start]))
		++start;
	if (start == len) {
		snprintf(why, why_len, "no key in it (expected %d hex digits)",
			 SL_KEY_HEX_LEN);
		return -EINVAL;
	}
	for (end = start; end < len && is_hex(text[end]); ++end)
		;
	for (i = end; i < len && is_space(text[i]); ++i)
		;
	if (i < len) {
		if (text[i] == '\0')
			snprintf(why, why_len, "NUL byte at offset %zu", i);
		else if (i == end)
			snprintf(why, why_len,
				 "invalid character at offset %zu (a key is %d hex digits, 0-9 a-f)",
				 i, SL_KEY_HEX_LEN);
		else
			snprintf(why, why_len,
				 "unexpected data at offset %zu after %zu hex digits (a key is %d hex digits with no space inside, one key per file)",
				 i, end - start, SL_KEY_HEX_LEN);
		return -EINVAL;
	}
	if (end - start != SL_KEY_HEX_LEN) {
		snprintf(why, why_len, "key is %zu hex digits, expected %d",
			 end - start, SL_KEY_HEX_LEN);
		return -EINVAL;
	}

	for (i = 0; i < SEALINE_KEY_LEN; ++i) {
		int hi = sl_hex_digit((unsigned char)text[start + 2 * i]);
		int lo = sl_hex_digit((unsigned char)text[start + 2 * i + 1]);

		bad |= hi | lo;
		key[i] = (uint8_t)((hi << 4) | lo);
	}
	/* Checked above already; a bad digit here is a bug, and not one to
	 * let through as a weak key. */
	if (bad < 0) {
		explicit_bzero(key, SEALINE_KEY_LEN);
		snprintf(why, why_len, "invalid hex digit");
		return -EINVAL;
	}
	return 0;
}

/*
 * Read a key from @path ("-" is standard input). On error the negative
 * errno is returned and @why says what went wrong, without the file name.
 */
int sl_key_read(const char *path, uint8_t key[SEALINE_KEY_LEN],
		struct sl_key_file_info *info, char *why, size_t why_len)
{
	char buf[SL_KEY_FILE_MAX + 1];
	bool is_stdin = !strcmp(path, "-");
	size_t len = 0;
	struct stat st;
	int fd, ret;

	memset(info, 0, sizeof(*info));
	fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		snprintf(why, why_len, "%s", strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(why, why_len, "%s", strerror(errno));
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		ret = -EISDIR;
		snprintf(why, why_len, "is a directory");
		goto out_close;
	}
	/* Only a regular file has permissions worth warning about: a pipe
	 * (--tx <(...)) or a terminal leaves no copy behind. */
	if (S_ISREG(st.st_mode) && (st.st_mode & (S_IRGRP | S_IROTH))) {
		info->others_can_read = true;
		info->mode = st.st_mode & 07777;
	}

	for (;;) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(why, why_len, "%s", strerror(errno));
			goto out_wipe;
		}
		if (!n)
			break;
		len += (size_t)n;
		if (len == sizeof(buf)) {
			ret = -EFBIG;
			snprintf(why, why_len,
				 "too large for a key file (more than %d bytes)",
				 SL_KEY_FILE_MAX);
			goto out_wipe;
		}
	}
	ret = sl_key_parse_hex(buf, len, key, why, why_len);

out_wipe:
	explicit_bzero(buf, sizeof(buf));
out_close:
	if (!is_stdin)
		close(fd);
	return ret;
}

/* A fresh key from the kernel's CSPRNG; blocks until it is seeded. */
int sl_key_generate(uint8_t key[SEALINE_KEY_LEN])
{
	size_t got = 0;

	while (got < SEALINE_KEY_LEN) {
		ssize_t n = getrandom(key + got, SEALINE_KEY_LEN - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int ret = -errno;

			explicit_bzero(key, SEALINE_KEY_LEN);
			return ret;
		}
		got += (size_t)n;
	}
	return 0;
}
