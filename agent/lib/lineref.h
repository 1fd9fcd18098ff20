/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Naming a sealine line on the command line: by its physical tty ("ttyS1",
 * "/dev/ttyS1", a udev symlink to it) or by its clear-text virtual tty
 * ("ttySL0", "/dev/ttySL0"). The kernel accepts either in a request.
 */
#ifndef SEALINE_AGENT_LINEREF_H
#define SEALINE_AGENT_LINEREF_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/sealine.h>

struct sl_line_ref {
	bool by_index;
	uint32_t index;
	char tty[SEALINE_TTY_NAME_MAX];
};

int sl_line_parse(const char *arg, struct sl_line_ref *out);
bool sl_line_matches(const struct sl_line_ref *line, uint32_t index,
		     const char *tty);

#endif
