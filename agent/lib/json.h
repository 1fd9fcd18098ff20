/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The JSON string writer every JSON output uses: sealctl's --json, the
 * TSP's call records and the session log. Valid UTF-8 is kept as it is
 * ("Müller GmbH" stays readable); quotes, backslashes and control
 * characters (C0, DEL and C1) are escaped; a byte that is not part of valid UTF-8 (a tty
 * name from the kernel, a truncated field) becomes U+FFFD, so the output
 * is always valid JSON in UTF-8.
 */
#ifndef SEALINE_AGENT_JSON_H
#define SEALINE_AGENT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* s as a JSON string, quotes included, to f. */
void sl_json_string(FILE *f, const char *s);

/*
 * The same into buf (NUL-terminated, truncated to size - 1 bytes). Returns
 * the length the whole string needs, as snprintf() does: the output was
 * complete if that is less than size.
 */
size_t sl_json_quote(char *buf, size_t size, const char *s);

/*
 * A flat reader of one JSON object as sealined writes them (the courier's
 * logs): not a validating parser, but safe on any input (never reads past
 * the NUL, never writes past size).
 *
 * sl_json_get: the value of key in the object at obj ('{'), as text (a
 * string decoded, a number or literal as written; an object or array:
 * where it starts, in *raw). false if absent or malformed.
 * sl_json_skip: past one JSON value at p (string, number, literal,
 * object, array), or NULL if malformed.
 */
bool sl_json_get(const char *obj, const char *key, char *out, size_t size,
		 const char **raw);
const char *sl_json_skip(const char *p);

#endif
