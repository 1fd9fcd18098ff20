// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Names inside an envelope, checked the same way by the sender (which
 * refuses to pack what the recipient would refuse) and the recipient.
 */
#include <string.h>

#include "paths.h"

enum sl_env_reason sl_env_check_name(const char *name, size_t *len_out,
				     unsigned int *depth_out,
				     struct sl_env_refusal *why)
{
	size_t len = strlen(name), comp = 0;
	unsigned int depth = 0;
	char esc[96];

	sl_env_escape(esc, sizeof(esc), name);
	/* One trailing slash marks a directory in tar; drop it. */
	if (len > 1 && name[len - 1] == '/')
		len--;
	if (!len)
		return sl_env_refuse(why, SL_ENV_UNSAFE_PATH, "an empty name");
	if (len > SL_ENV_PATH_MAX)
		return sl_env_refuse(why, SL_ENV_UNSAFE_PATH,
				     "\"%s\": longer than %u bytes", esc,
				     SL_ENV_PATH_MAX);
	if (name[0] == '/')
		return sl_env_refuse(why, SL_ENV_UNSAFE_PATH,
				     "\"%s\": an absolute path", esc);
	for (size_t i = 0; i <= len; i++) {
		if (i < len && name[i] != '/') {
			comp++;
			continue;
		}
		/* A component ends at name[i]: it is name[i - comp, i). */
		if (comp == 0)
			return sl_env_refuse(why, SL_ENV_UNSAFE_PATH,
					     "\"%s\": an empty component", esc);
		if ((comp == 1 && name[i - 1] == '.') ||
		    (comp == 2 && name[i - 1] == '.' && name[i - 2] == '.'))
			return sl_env_refuse(why, SL_ENV_UNSAFE_PATH,
					     "\"%s\": a \".\" or \"..\" component",
					     esc);
		if (comp > SL_ENV_NAME_MAX)
			return sl_env_refuse(why, SL_ENV_UNSAFE_PATH,
					     "\"%s\": a component longer than %u bytes",
					     esc, SL_ENV_NAME_MAX);
		if (++depth > SL_ENV_DEPTH_MAX)
			return sl_env_refuse(why, SL_ENV_UNSAFE_PATH,
					     "\"%s\": deeper than %u directories",
					     esc, SL_ENV_DEPTH_MAX);
		comp = 0;
	}
	if (len_out)
		*len_out = len;
	if (depth_out)
		*depth_out = depth;
	return SL_ENV_OK;
}

bool sl_env_link_inside(const char *name, size_t name_len, const char *target)
{
	long depth = 0;
	size_t comp = 0;

	if (!target[0] || target[0] == '/')
		return false;
	/* The link's own directory: one level per '/' in its name. */
	for (size_t i = 0; i < name_len; i++)
		if (name[i] == '/')
			depth++;
	for (size_t i = 0;; i++) {
		if (target[i] && target[i] != '/') {
			comp++;
			continue;
		}
		if (comp == 2 && target[i - 1] == '.' && target[i - 2] == '.') {
			if (--depth < 0)
				return false;
		} else if (comp && !(comp == 1 && target[i - 1] == '.')) {
			depth++;
		}
		comp = 0;
		if (!target[i])
			return true;
	}
}
