/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * systemd's readiness protocol (sd_notify(3)) for sealined and sealtspd,
 * both Type=notify services: one datagram to $NOTIFY_SOCKET, without
 * libsystemd. Outside systemd (no NOTIFY_SOCKET) it does nothing.
 */
#ifndef SEALINE_AGENT_SDNOTIFY_H
#define SEALINE_AGENT_SDNOTIFY_H

/*
 * Send state ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...", one
 * assignment a line). Best effort: a failure is logged at debug level
 * and otherwise ignored, as systemd itself notices a daemon that never
 * reports.
 */
void sl_sd_notify(const char *state);

#endif
