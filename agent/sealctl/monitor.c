// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl monitor: print the kernel's multicast events, one per line, as
 * they happen, until killed.
 *
 * Every line is flushed at once: the usual reader is a pipe (a test, a log
 * collector), where stdio would otherwise sit on events for a whole buffer.
 * Stop signals are blocked except while waiting (see sl_nl_wait()), so one
 * that arrives between two waits is not lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "names.h"
#include "sealctl.h"

static const char cmd_name[] = "monitor";

static volatile sig_atomic_t stop_signal;

struct monitor_ctx {
	bool json;
	bool filter;
	struct sl_line_ref line;
};

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static void print_text_event(const struct sl_attrs *a, const char *event)
{
	printf("%s", event);
	if (a->present & SL_HAS(SEALINE_A_LINE_INDEX))
		printf(" index=%" PRIu32 " vtty=/dev/%s%" PRIu32, a->index,
		       SEALINE_VTTY_NAME, a->index);
	if (a->present & SL_HAS(SEALINE_A_LINE_TTY))
		printf(" tty=%s", a->tty);
	if (a->present & SL_HAS(SEALINE_A_KEY_EPOCH))
		printf(" key_epoch=%" PRIu32, a->key_epoch);
	if (a->present & SL_HAS(SEALINE_A_LIMIT)) {
		const char *limit = sl_limit_name(a->limit);

		if (limit)
			printf(" limit=%s", limit);
		else
			printf(" limit=unknown(%u)", a->limit);
	}
	putchar('\n');
}

static void print_json_event(const struct sl_attrs *a, const char *event)
{
	fputs("{\"event\": ", stdout);
	sl_json_string(stdout, event);
	if (a->present & SL_HAS(SEALINE_A_LINE_INDEX))
		printf(", \"index\": %" PRIu32 ", \"vtty\": \"/dev/%s%" PRIu32 "\"",
		       a->index, SEALINE_VTTY_NAME, a->index);
	if (a->present & SL_HAS(SEALINE_A_LINE_TTY)) {
		fputs(", \"tty\": ", stdout);
		sl_json_string(stdout, a->tty);
	}
	if (a->present & SL_HAS(SEALINE_A_KEY_EPOCH))
		printf(", \"key_epoch\": %" PRIu32, a->key_epoch);
	if (a->present & SL_HAS(SEALINE_A_LIMIT)) {
		const char *limit = sl_limit_name(a->limit);
		char unknown[32];

		if (!limit) {
			snprintf(unknown, sizeof(unknown), "unknown(%u)", a->limit);
			limit = unknown;
		}
		fputs(", \"limit\": ", stdout);
		sl_json_string(stdout, limit);
	}
	fputs("}\n", stdout);
}

static int on_event(const struct sl_attrs *a, void *arg)
{
	struct monitor_ctx *ctx = arg;
	const char *event = sl_event_name(a->cmd);
	char unknown[32];

	if (ctx->filter &&
	    !sl_line_matches(&ctx->line, a->index,
			     (a->present & SL_HAS(SEALINE_A_LINE_TTY)) ? a->tty : NULL))
		return 0;
	/* A newer module's event: show it rather than hide it. */
	if (!event) {
		snprintf(unknown, sizeof(unknown), "unknown(%u)", a->cmd);
		event = unknown;
	}
	if (ctx->json)
		print_json_event(a, event);
	else
		print_text_event(a, event);
	/* A reader that went away ends the monitor. */
	if (fflush(stdout) == EOF)
		return -errno;
	return 0;
}

int sl_cmd_monitor(int argc, char *argv[])
{
	struct monitor_ctx ctx = { 0 };
	struct sigaction sa = { .sa_handler = on_stop_signal };
	const char *line_arg = NULL;
	sigset_t stop_set, wait_mask;
	struct sl_nl nl;
	int ret;

	ret = sl_common_options(argc, argv, cmd_name, sl_help_monitor,
				&ctx.json, NULL, 1);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	if (optind < argc) {
		line_arg = argv[optind];
		ret = sl_parse_line(cmd_name, line_arg, &ctx.line);
		if (ret)
			return ret;
		ctx.filter = true;
	}

	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGTERM);
	sigaddset(&stop_set, SIGHUP);
	sigprocmask(SIG_BLOCK, &stop_set, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGHUP);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A closed pipe shows up as EPIPE from fflush(), ending the loop. */
	signal(SIGPIPE, SIG_IGN);

	ret = sl_connect(&nl, cmd_name);
	if (ret)
		return ret;
	sl_nl_set_event_handler(&nl, on_event, &ctx);
	ret = sl_nl_subscribe_events(&nl);
	if (ret) {
		ret = sl_kernel_error(&nl, cmd_name, NULL, ret);
		goto out_close;
	}
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "%s: watching sealine events; Ctrl-C to stop\n",
			sl_prog);

	ret = SL_EXIT_OK;
	while (!stop_signal) {
		int err = sl_nl_wait(&nl, -1, &wait_mask);

		if (err >= 0 || err == -EINTR)
			continue;
		if (err == -ENOBUFS) {
			sl_warning("%s: %s; events were lost", cmd_name,
				   sl_nl_strerror(err));
			continue;
		}
		if (err == -EPIPE)
			break;
		ret = sl_failure("%s: %s", cmd_name, sl_nl_strerror(err));
		break;
	}

out_close:
	sl_nl_close(&nl);
	return ret;
}

void sl_help_monitor(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s monitor - print sealine events as they happen\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s monitor [LINE] [--json]\n"
		"\n"
		"DESCRIPTION\n"
		"    Join the \"%2$s\" multicast group of the sealine module and print\n"
		"    each event on its own line, flushed at once, until interrupted\n"
		"    (SIGINT, SIGTERM or SIGHUP end it with status 0). With LINE, print\n"
		"    only that line's events. Control messages are never shown: the\n"
		"    kernel gives them to the line's registered agent only.\n"
		"\n"
		"    Events:\n"
		"      line_up       a line was attached\n"
		"      line_down     a line was detached or hung up\n"
		"      rekey_needed  the current key passed its soft limit\n"
		"      key_expired   the current key passed its hard limit; the line\n"
		"                    fails closed until a new key is activated\n"
		"      link_dead     reliable mode: nothing acknowledged for the dead\n"
		"                    time; the virtual tty was hung up\n"
		"      link_alive    acknowledgements came back after link_dead\n"
		"    An event this version does not know is printed as unknown(N).\n"
		"\n"
		"OUTPUT\n"
		"    Text: the event name, then key=value pairs:\n"
		"      line_up index=0 vtty=/dev/ttySL0 tty=ttyS1\n"
		"      rekey_needed index=0 vtty=/dev/ttySL0 tty=ttyS1 key_epoch=3 limit=messages\n"
		"    JSON (--json): one flat object per line, with the same keys; key_epoch\n"
		"    and limit (messages or age) only for key events:\n"
		"      {\"event\": \"key_expired\", \"index\": 0, \"vtty\": \"/dev/ttySL0\", \"tty\": \"ttyS1\", \"key_epoch\": 3, \"limit\": \"age\"}\n"
		"\n"
		"OPTIONS\n"
		"    -j, --json\n"
		"        Print JSON objects instead of text.\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 when stopped by a signal (or when the reader of standard output\n"
		"    goes away); 1 if the module is not loaded, joining the group is\n"
		"    refused (CAP_NET_ADMIN is needed) or the socket fails; 2 on a usage\n"
		"    error.\n"
		"\n"
		"EXAMPLE\n"
		"    %1$s monitor --json | tee events.log\n",
		sl_prog, SEALINE_MCGRP_EVENTS);
}
