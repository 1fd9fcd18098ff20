/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The version sealctl, sealined and sealtspd report (--version, and the
 * daemons in "sealctl status"). A build may set it with
 * -DSEALINE_VERSION='"x.y.z"'.
 */
#ifndef SEALINE_AGENT_VERSION_H
#define SEALINE_AGENT_VERSION_H

#ifndef SEALINE_VERSION
#define SEALINE_VERSION "0.1.0"
#endif

#endif
