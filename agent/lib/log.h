/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * sealined's log: syslog (facility LOG_DAEMON, so the journal has it too),
 * standard error, or both. One message is one line; the daemon's modules
 * call sl_log() and never print anything themselves.
 *
 * Messages about a line start with its tty ("ttyS1: ..."), so that
 * "journalctl -t sealined | grep ttyS1" finds everything about it.
 * Secrets are never logged, nor are they passed to these functions.
 */
#ifndef SEALINE_AGENT_LOG_H
#define SEALINE_AGENT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

enum sl_log_target {
	SL_LOG_SYSLOG = 1 << 0,
	SL_LOG_STDERR = 1 << 1,
};

/*
 * ident: the syslog tag ("sealined", "sealined-a"); targets: a mask of
 * enum sl_log_target; level: the least important priority logged (LOG_ERR
 * .. LOG_DEBUG). May be called again to change any of them.
 */
void sl_log_setup(const char *ident, unsigned int targets, int level);
void sl_log_close(void);
bool sl_log_enabled(int level);

void sl_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * An error's message into the caller's buffer err (err_len bytes; nothing
 * if err is NULL); returns ret, so that "return sl_errf(err, len, -EINVAL,
 * ...)" reports both at once.
 */
int sl_errf(char *err, size_t err_len, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Name and parsing of the levels as the configuration spells them. */
const char *sl_log_level_name(int level);
int sl_log_level_parse(const char *name, int *level);

#endif
