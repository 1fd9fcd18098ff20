/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The clocks of the daemons: event-loop time is CLOCK_MONOTONIC in
 * milliseconds (timers, deadlines); records carry wall-clock time.
 */
#ifndef SEALINE_AGENT_CLOCK_H
#define SEALINE_AGENT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t sl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds since the epoch, for records (call records, logs). */
static inline int64_t sl_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
