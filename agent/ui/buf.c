// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Growable text buffers for pages, and the escaping every value from
 * sealined goes through before it reaches a page, a URL or a CSV file:
 * names of files and peers may hold anything.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"

void sl_buf_free(struct sl_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void sl_buf_add(struct sl_buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *p;

		while (cap < b->len + n + 1)
			cap *= 2;
		p = realloc(b->p, cap);
		if (!p) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void sl_buf_puts(struct sl_buf *b, const char *s)
{
	sl_buf_add(b, s, strlen(s));
}

void sl_buf_printf(struct sl_buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		sl_buf_add(b, small, (size_t)n);
		return;
	}
	{
		char *big = malloc((size_t)n + 1);

		if (!big) {
			b->failed = true;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		sl_buf_add(b, big, (size_t)n);
		free(big);
	}
}

static void html(struct sl_buf *b, const char *s, bool keep_newlines)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '&': sl_buf_puts(b, "&amp;"); break;
		case '<': sl_buf_puts(b, "&lt;"); break;
		case '>': sl_buf_puts(b, "&gt;"); break;
		case '"': sl_buf_puts(b, "&quot;"); break;
		case '\'': sl_buf_puts(b, "&#39;"); break;
		case '\\': sl_buf_puts(b, "\\\\"); break;
		default:
			/* C0, DEL and C1 (0xc2 0x80-0x9f in UTF-8) as \xHH,
			 * as sealctl shows them */
			if (*p == '\n' && keep_newlines)
				sl_buf_add(b, "\n", 1);
			else if (*p < 0x20 || *p == 0x7f)
				sl_buf_printf(b, "\\x%02x", *p);
			else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
				sl_buf_printf(b, "\\x%02x", *++p);
			else
				sl_buf_add(b, (const char *)p, 1);
		}
	}
}

void sl_buf_html(struct sl_buf *b, const char *s)
{
	html(b, s, false);
}

void sl_buf_html_lines(struct sl_buf *b, const char *s)
{
	html(b, s, true);
}

void sl_buf_url(struct sl_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
			sl_buf_add(b, (const char *)p, 1);
		} else {
			char e[3] = { '%', hex[*p >> 4], hex[*p & 15] };

			sl_buf_add(b, e, 3);
		}
	}
}

void sl_buf_csv(struct sl_buf *b, const char *s)
{
	sl_buf_puts(b, "\"");
	if (strchr("=+-@\t\r", *s) && *s)
		sl_buf_puts(b, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			sl_buf_puts(b, "\"\"");
		else
			sl_buf_add(b, p, 1);
	}
	sl_buf_puts(b, "\"");
}

void sl_buf_bytes(struct sl_buf *b, uint64_t n)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB",
					     "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u)
		sl_buf_printf(b, "%.1f %s", v, units[u]);
	else
		sl_buf_printf(b, "%llu bytes", (unsigned long long)n);
}

void sl_buf_td(struct sl_buf *b, const char *s)
{
	sl_buf_puts(b, "<td>");
	sl_buf_html(b, s);
	sl_buf_puts(b, "</td>");
}
