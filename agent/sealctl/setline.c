// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl set-line: a line's settings that are not keys, its mode
 * (reliable or datagram) and, in reliable mode, its dead time.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <netlink/attr.h>

#include "sealctl.h"

/* The manual below states these limits in words. */
_Static_assert(SEALINE_DEAD_TIME_MIN == 1000 &&
	       SEALINE_DEAD_TIME_MAX == 3600000 &&
	       SEALINE_DEAD_TIME_DEFAULT == 30000,
	       "set-line's manual states the dead time's limits");

/* What set-line was asked to change. */
struct line_settings {
	bool have_mode, have_dead;
	uint8_t mode;
	uint32_t dead_s;
};

static int put_settings(struct nl_msg *msg, const void *ctx)
{
	const struct line_settings *set = ctx;

	return (set->have_mode &&
		nla_put_u8(msg, SEALINE_A_MODE, set->mode) < 0) ||
	       (set->have_dead &&
		nla_put_u32(msg, SEALINE_A_DEAD_TIME, set->dead_s * 1000) < 0);
}

static int parse_mode(const char *arg, uint8_t *mode)
{
	if (!strcmp(arg, "reliable"))
		*mode = SEALINE_MODE_RELIABLE;
	else if (!strcmp(arg, "datagram"))
		*mode = SEALINE_MODE_DATAGRAM;
	else
		return sl_usage_error("set-line",
				      "--mode must be reliable or datagram, not '%s'",
				      arg);
	return 0;
}

int sl_cmd_set_line(int argc, char *argv[])
{
	static const char cmd[] = "set-line";
	static const struct option options[] = {
		{ "mode", required_argument, NULL, 'm' },
		{ "dead-time", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct line_settings set = { 0 };
	struct sl_line_ref line;
	const char *line_arg;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":m:d:h", options, NULL)) != -1) {
		switch (opt) {
		case 'm':
			ret = parse_mode(optarg, &set.mode);
			if (ret)
				return ret;
			set.have_mode = true;
			break;
		case 'd':
			ret = sl_parse_u32(cmd, "dead time", optarg, &set.dead_s);
			if (ret)
				return ret;
			if (set.dead_s < SEALINE_DEAD_TIME_MIN / 1000 ||
			    set.dead_s > SEALINE_DEAD_TIME_MAX / 1000)
				return sl_usage_error(cmd,
						      "--dead-time must be 1 to 3600 seconds, not %" PRIu32,
						      set.dead_s);
			set.have_dead = true;
			break;
		case 'h':
			sl_help_set_line(stdout);
			return SL_EXIT_OK;
		default:
			return sl_option_error(cmd, opt, argv);
		}
	}
	if (optind >= argc)
		return sl_usage_error(cmd, "missing LINE");
	if (argc - optind > 1)
		return sl_usage_error(cmd, "too many arguments");
	if (!set.have_mode && !set.have_dead)
		return sl_usage_error(cmd, "nothing to set: give --mode or --dead-time");
	line_arg = argv[optind];
	ret = sl_parse_line(cmd, line_arg, &line);
	if (ret)
		return ret;

	return sl_line_command(cmd, line_arg, &line, SEALINE_CMD_SET_LINE,
			       put_settings, &set);
}

void sl_help_set_line(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s set-line - set a line's mode and dead time\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s set-line LINE [--mode reliable|datagram] [--dead-time SECONDS]\n"
		"\n"
		"DESCRIPTION\n"
		"    In reliable mode the peer acknowledges what this side sends, lost\n"
		"    or damaged frames are sent again, and the reader at the other end\n"
		"    gets every byte in order exactly once: choose it for consoles, file\n"
		"    transfers and anything without its own recovery, in particular on\n"
		"    noisy lines. In datagram mode each frame is sent once and a damaged\n"
		"    frame is a hole of up to 2048 bytes: choose it for traffic that\n"
		"    recovers by itself (PPP carrying TCP, polling protocols with their\n"
		"    own retries), or to talk to a peer that predates reliable mode.\n"
		"    The mode is what this side sends; each side takes both kinds of\n"
		"    frames, so the two ends may differ. A line starts in datagram mode.\n"
		"\n"
		"    The mode changes only while the line has no current key (run\n"
		"    clear-keys first), so it never changes under bytes in flight.\n"
		"\n"
		"OPTIONS\n"
		"    --mode reliable|datagram\n"
		"        How this side sends application bytes.\n"
		"    --dead-time SECONDS\n"
		"        In reliable mode: when bytes stay unacknowledged this long, the\n"
		"        line is declared dead, its virtual tty hangs up (a reader sees\n"
		"        end of file, a writer EIO) and the event link_dead is sent.\n"
		"        1 to 3600; default 30. Applies at once.\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success; 1 if the line is unknown or has a current key (for\n"
		"    --mode), the module is not loaded or CAP_NET_ADMIN is missing; 2 on\n"
		"    a usage error.\n"
		"\n"
		"EXAMPLE\n"
		"    %1$s clear-keys ttyS1\n"
		"    %1$s set-line ttyS1 --mode reliable --dead-time 60\n",
		sl_prog);
}
