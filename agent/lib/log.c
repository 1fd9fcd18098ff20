// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealined's log. See log.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

static char log_ident[64] = "sealined";
static unsigned int log_targets = SL_LOG_STDERR;
static int log_level = LOG_INFO;
static bool log_opened;

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg",
	[LOG_ALERT] = "alert",
	[LOG_CRIT] = "crit",
	[LOG_ERR] = "error",
	[LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void sl_log_setup(const char *ident, unsigned int targets, int level)
{
	if (log_opened) {
		closelog();
		log_opened = false;
	}
	snprintf(log_ident, sizeof(log_ident), "%s", ident ? ident : "sealined");
	log_targets = targets;
	log_level = level;
	if (targets & SL_LOG_SYSLOG) {
		/* LOG_NDELAY: connect now, before a chroot or a full fd
		 * table could get in the way. */
		openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
		log_opened = true;
	}
}

void sl_log_close(void)
{
	if (log_opened)
		closelog();
	log_opened = false;
}

bool sl_log_enabled(int level)
{
	return level <= log_level;
}

void sl_log(int level, const char *fmt, ...)
{
	int saved_errno = errno;
	char msg[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One line per message, whatever a caller passed in. */
	for (char *p = msg; *p; ++p)
		if (*p == '\n' || *p == '\r')
			*p = ' ';

	if (log_targets & SL_LOG_SYSLOG)
		syslog(level, "%s", msg);
	if (log_targets & SL_LOG_STDERR) {
		struct timespec ts;
		struct tm tm;
		char stamp[32] = "";

		clock_gettime(CLOCK_REALTIME, &ts);
		if (localtime_r(&ts.tv_sec, &tm))
			strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s: %s%s%s\n", stamp,
			ts.tv_nsec / 1000000L, log_ident,
			level <= LOG_WARNING ? sl_log_level_name(level) : "",
			level <= LOG_WARNING ? ": " : "", msg);
		fflush(stderr);
	}
	errno = saved_errno;
}

const char *sl_log_level_name(int level)
{
	if (level < 0 || level > LOG_DEBUG)
		return "?";
	return level_names[level];
}

int sl_log_level_parse(const char *name, int *level)
{
	for (int i = LOG_ERR; i <= LOG_DEBUG; ++i) {
		if (!strcmp(name, level_names[i])) {
			*level = i;
			return 0;
		}
	}
	if (!strcmp(name, "err")) {
		*level = LOG_ERR;
		return 0;
	}
	if (!strcmp(name, "warn")) {
		*level = LOG_WARNING;
		return 0;
	}
	return -EINVAL;
}

int sl_errf(char *err, size_t err_len, int ret, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return ret;
}
