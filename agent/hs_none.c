// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The handshake driver of a build without a handshake core: none.
 *
 * sealined built with this file registers as the agent of its lines and
 * keeps them fail-closed; it says so in its log and in `sealctl status`,
 * refuses `sealctl pair` with ENOSYS, and never installs a key. Replace
 * this file (agent/Makefile: SEALINED_HS_OBJS) with the adapter of a
 * handshake core that returns its driver (agent.h).
 */
#include <stddef.h>

#include "agent.h"

const struct sl_hs_driver *sl_hs_builtin_driver(void)
{
	return NULL;
}
