/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The version sealctl, sealined and sealtspd report (--version, and the
 * daemons in "sealctl status"). Its one source is the file VERSION at the
 * top of the tree: agent/sources.mk passes it as -DSEALINE_VERSION, as
 * kmod/Kbuild does for MODULE_VERSION and "make deb" for the packages.
 */
#ifndef SEALINE_AGENT_VERSION_H
#define SEALINE_AGENT_VERSION_H

#ifndef SEALINE_VERSION
#define SEALINE_VERSION "unknown (built without agent/sources.mk, which reads VERSION)"
#endif

#endif
