// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The JSON string writer and the flat reader: see json.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct sink {
	FILE *f;		/* or, when NULL, buf */
	char *buf;
	size_t size, len;
};

static void emit(struct sink *k, const char *p, size_t n)
{
	if (k->f) {
		fwrite(p, 1, n, k->f);
		return;
	}
	for (size_t i = 0; i < n; ++i, ++k->len)
		if (k->len + 1 < k->size)
			k->buf[k->len] = p[i];
}

/*
 * The length of the valid UTF-8 sequence at s (1 to 4), or 0 if there is
 * none (RFC 3629: no overlong forms, no surrogates, nothing over
 * U+10FFFF).
 */
static size_t utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; ++i)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

static void quote(struct sink *k, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	char esc[8];

	emit(k, "\"", 1);
	while (*s) {
		size_t n = utf8_len(s);

		if (!n) {
			emit(k, "\\ufffd", 6);
			++s;
		} else if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0) {
			/* C1 controls (U+0080-U+009F) steer terminals as
			 * C0 ones do: escaped alike. */
			snprintf(esc, sizeof(esc), "\\u%04x", s[1]);
			emit(k, esc, 6);
			s += 2;
		} else if (n > 1) {
			emit(k, (const char *)s, n);
			s += n;
		} else if (*s == '"' || *s == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*s++;
			emit(k, esc, 2);
		} else if (*s == '\n') {
			emit(k, "\\n", 2);
			++s;
		} else if (*s == '\t') {
			emit(k, "\\t", 2);
			++s;
		} else if (*s < 0x20 || *s == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *s++);
			emit(k, esc, 6);
		} else {
			emit(k, (const char *)s++, 1);
		}
	}
	emit(k, "\"", 1);
}

void sl_json_string(FILE *f, const char *s)
{
	struct sink k = { .f = f };

	quote(&k, s);
}

size_t sl_json_quote(char *buf, size_t size, const char *s)
{
	struct sink k = { .buf = buf, .size = size };

	quote(&k, s);
	if (size)
		buf[k.len < size ? k.len : size - 1] = '\0';
	return k.len;
}

/* ---- Reading ------------------------------------------------------------ */

/* c as UTF-8 into out[n...] (room permitting): the number of bytes. */
static size_t put_utf8(char *out, size_t n, size_t size, unsigned int c)
{
	char u[3];
	size_t len;

	if (c < 0x80) {
		u[0] = (char)c;
		len = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xc0 | c >> 6);
		u[1] = (char)(0x80 | (c & 0x3f));
		len = 2;
	} else {
		u[0] = (char)(0xe0 | c >> 12);
		u[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (char)(0x80 | (c & 0x3f));
		len = 3;
	}
	if (!out || n + len >= size)
		return 0;
	memcpy(out + n, u, len);
	return len;
}

/* Past the JSON string starting at p (at its opening quote); its decoded
 * value into out (may be NULL). NULL if malformed. sealined's writer
 * (json.h) keeps UTF-8 as it is and escapes only controls and U+FFFD
 * this way, so no surrogate pair is expected: one would come out as two
 * U+FFFD. */
static const char *json_string(const char *p, char *out, size_t size)
{
	size_t n = 0;

	if (*p++ != '"')
		return NULL;
	while (*p && *p != '"') {
		unsigned int c = (unsigned char)*p++;

		if (c == '\\') {
			c = (unsigned char)*p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 't': c = '\t'; break;
			case 'r': c = '\r'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'u': {
				char hex[5] = { 0 };

				for (int i = 0; i < 4; i++) {
					if (!isxdigit((unsigned char)*p))
						return NULL;
					hex[i] = *p++;
				}
				c = (unsigned int)strtoul(hex, NULL, 16);
				if (!c || (c >= 0xd800 && c <= 0xdfff))
					c = 0xfffd;
				n += put_utf8(out, n, size, c);
				continue;
			}
			case 0:
				return NULL;
			default:
				break;	/* \" \\ \/ */
			}
		}
		if (out && n + 1 < size)
			out[n++] = (char)c;
	}
	if (*p != '"')
		return NULL;
	if (out && size)
		out[n] = 0;
	return p + 1;
}

const char *sl_json_skip(const char *p)
{
	int depth = 0;

	do {
		while (*p == ' ')
			p++;
		if (*p == '"') {
			p = json_string(p, NULL, 0);
			if (!p)
				return NULL;
		} else if (*p == '{' || *p == '[') {
			depth++;
			p++;
		} else if (*p == '}' || *p == ']') {
			depth--;
			p++;
		} else if (*p == ',' || *p == ':') {
			p++;
		} else if (*p) {
			while (*p && !strchr(",}] ", *p))
				p++;
		} else {
			return NULL;
		}
	} while (depth > 0);
	return p;
}

bool sl_json_get(const char *obj, const char *key, char *out, size_t size,
		     const char **raw)
{
	const char *p = obj;
	char k[64];

	while (*p == ' ')
		p++;
	if (*p++ != '{')
		return false;
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p != '"')
			return false;
		p = json_string(p, k, sizeof(k));
		if (!p)
			return false;
		while (*p == ' ' || *p == ':')
			p++;
		if (!strcmp(k, key)) {
			if (raw)
				*raw = p;
			if (*p == '"')
				return json_string(p, out, size) != NULL;
			snprintf(out, size, "%.*s", (int)strcspn(p, ",}] "), p);
			return true;
		}
		p = sl_json_skip(p);
		if (!p)
			return false;
	}
}
