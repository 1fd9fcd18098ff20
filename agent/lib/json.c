// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The one JSON primitive the tools need beyond printf: a quoted string.
 * tty names come from the kernel and are not promised to be ASCII; bytes
 * outside printable ASCII are escaped one by one, so the output stays valid
 * JSON (if not the same Unicode) whatever they hold.
 */
#include "json.h"

void sl_json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; ++s) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}
