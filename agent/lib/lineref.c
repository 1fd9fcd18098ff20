// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Turning what a user types for LINE into what the kernel understands.
 *
 * The kernel knows a physical tty only by tty_name(): the driver name plus
 * the index, with no "/dev/" and no directories ("pts3" for /dev/pts/3). A
 * user types device paths, sometimes udev symlinks such as
 * /dev/serial/by-id/usb-FTDI_...; so paths are resolved first and then
 * reduced to that form.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "lineref.h"

static const char dev_prefix[] = "/dev/";
static const char vtty_prefix[] = SEALINE_VTTY_NAME;

/* "0", "17": plain decimal, no sign, no leading zero, fits a u32. */
static int parse_index(const char *s, uint32_t *out)
{
	unsigned long long v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; ++s) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		v = v * 10 + (unsigned int)(*s - '0');
		if (v > UINT32_MAX)
			return -ERANGE;
	}
	*out = (uint32_t)v;
	return 0;
}

int sl_line_parse(const char *arg, struct sl_line_ref *out)
{
	char resolved[PATH_MAX];
	const char *name = arg;
	size_t len = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!arg || !*arg)
		return -EINVAL;

	if (strchr(arg, '/')) {
		/* A path that does not resolve here (another mount namespace,
		 * a line on the far side of a VM) is still taken literally. */
		if (realpath(arg, resolved))
			name = resolved;
		if (strncmp(name, dev_prefix, sizeof(dev_prefix) - 1))
			return -EINVAL;
		name += sizeof(dev_prefix) - 1;
	}

	if (!strncmp(name, vtty_prefix, sizeof(vtty_prefix) - 1) &&
	    isdigit((unsigned char)name[sizeof(vtty_prefix) - 1])) {
		ret = parse_index(name + sizeof(vtty_prefix) - 1, &out->index);
		if (ret)
			return ret;
		out->by_index = true;
		return 0;
	}

	for (; *name; ++name) {
		/* tty_name() has no directories: /dev/pts/3 is "pts3". */
		if (*name == '/')
			continue;
		if (!isgraph((unsigned char)*name))
			return -EINVAL;
		if (len + 1 >= sizeof(out->tty))
			return -ENAMETOOLONG;
		out->tty[len++] = *name;
	}
	if (!len)
		return -EINVAL;
	out->tty[len] = '\0';
	return 0;
}

/* Whether a message about line (@index, @tty) is about @line. */
bool sl_line_matches(const struct sl_line_ref *line, uint32_t index,
		     const char *tty)
{
	if (line->by_index)
		return line->index == index;
	return tty && !strcmp(line->tty, tty);
}
