// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl call and hangup: calls through a TSP on a dial-up line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "ipc.h"
#include "json.h"
#include "sealctl.h"
#include "sessionlog.h"

/* ------------------------------------------------------------ call */

/* Sends request to the daemon at sock and prints info records until ok
 * or err; a call's ok says who answered. */
static int conversation(const char *sock, const char *cmd, const char *request,
			bool is_call)
{
	struct sl_conn conn, *c = &conn;
	int ret = sl_conn_open(c, cmd, sl_client_socket(sock));

	if (ret)
		return ret;
	ret = sl_ipc_write_request(c->fd, request);
	if (ret) {
		sl_conn_close(c);
		return sl_failure("%s: cannot send to sealined: %s", cmd,
				  strerror(-ret));
	}
	for (;;) {
		struct sl_ipc_record rec;
		char *line;

		/* The daemon's own deadlines end a call attempt. */
		ret = sl_ipc_read_line(&c->r, &line, -1);
		if (ret) {
			sl_conn_close(c);
			return sl_failure("%s: %s", cmd, ret == -EPIPE ?
					  "sealined closed the connection" :
					  strerror(-ret));
		}
		if (sl_ipc_parse_record(line, &rec)) {
			sl_conn_close(c);
			return sl_failure("%s: malformed answer from sealined", cmd);
		}
		if (!strcmp(rec.type, "err")) {
			sl_conn_close(c);
			return sl_failure("%s: %s", cmd, rec.text);
		}
		if (!strcmp(rec.type, "ok")) {
			if (is_call)
				printf("Connected to %s (tracking %s). The end-to-end handshake starts now.\n",
				       sl_get(&rec, "peer", "?"),
				       sl_get(&rec, "tracking", "?"));
			sl_conn_close(c);
			return sl_finish_output(cmd);
		}
		if (!strcmp(rec.type, "info"))
			printf("%s\n", sl_get(&rec, "text", ""));
		fflush(stdout);
	}
}

int sl_cmd_call(int argc, char *argv[])
{
	const char *sock = NULL;
	char request[SL_IPC_MAX_LINE];
	struct sl_line_ref ref;
	int ret;

	ret = sl_common_options(argc, argv, "call", sl_help_call, NULL, &sock, 2);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	if (optind >= argc)
		return sl_usage_error("call", "missing ACCOUNT");
	if (!sl_account_valid(argv[optind]))
		return sl_usage_error("call", "an account number is 12 digits");
	if (optind + 1 < argc) {
		ret = sl_client_line("call", argv[optind + 1], &ref);
		if (ret)
			return ret;
		snprintf(request, sizeof(request), "call %s %s", argv[optind],
			 ref.tty);
	} else {
		snprintf(request, sizeof(request), "call %s", argv[optind]);
	}
	return conversation(sock, "call", request, true);
}

int sl_cmd_hangup(int argc, char *argv[])
{
	const char *sock = NULL;
	char request[SL_IPC_MAX_LINE];
	struct sl_line_ref ref;
	int ret;

	ret = sl_common_options(argc, argv, "hangup", sl_help_hangup, NULL, &sock, 1);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	if (optind >= argc)
		return sl_usage_error("hangup", "missing LINE");
	ret = sl_client_line("hangup", argv[optind], &ref);
	if (ret)
		return ret;
	snprintf(request, sizeof(request), "hangup %s", ref.tty);
	return conversation(sock, "hangup", request, false);
}

void sl_help_call(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s call - call another account through the TSP\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s call ACCOUNT [LINE] [--socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    Makes sealined dial the TSP on LINE (default: its first line with\n"
		"    modem = yes), prove this installation's account to it and name the\n"
		"    recipient ACCOUNT, all encrypted: the line shows neither account.\n"
		"    The TSP checks both accounts, dials the recipient and bridges the\n"
		"    call; this command prints the progress and returns once the call is\n"
		"    bridged. sealined then starts the end-to-end handshake: a session if\n"
		"    it has a long-term key for ACCOUNT, else both operators run\n"
		"    `%1$s pair LINE` to pair, comparing the spoken code. The data path\n"
		"    is the line's virtual tty (`%1$s status` shows it).\n"
		"\n"
		"    A refused call prints the TSP's reason (unknown account, caller ID\n"
		"    not bound, not authorised, busy, no answer, ...).\n"
		"\n"
		"OPTIONS\n"
		"    -s, --socket PATH\n"
		"        The daemon's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 once the call is bridged, 1 if it failed or was refused, 2 on a\n"
		"    usage error.\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET);
}

void sl_help_hangup(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s hangup - end the call on a dial-up line\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s hangup LINE [--socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    Ends the call on LINE: the session's keys are wiped, the line\n"
		"    discipline is detached and the modem hangs up. The TSP sees the\n"
		"    carrier go, tells the other end (authenticated) and closes the\n"
		"    call record.\n"
		"\n"
		"OPTIONS\n"
		"    -s, --socket PATH\n"
		"        The daemon's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 when hung up, 1 if there was no call, 2 on a usage error.\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET);
}
