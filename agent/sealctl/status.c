// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl status: the daemon, its lines and their state.
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

/* ------------------------------------------------------------ status */

struct status_ctx {
	bool json;
	bool tsp;		/* the daemon is a TSP (role=tsp) */
	unsigned int lines;
};

static void print_duration(const char *secs)
{
	unsigned long s = strtoul(secs, NULL, 10);

	if (s >= 86400)
		printf("%lud ", s / 86400);
	if (s >= 3600)
		printf("%luh ", s / 3600 % 24);
	if (s >= 60)
		printf("%lum ", s / 60 % 60);
	printf("%lus", s % 60);
}

/* "sealined 0.1.0, pid 42 (name), up 3 min" and its configuration. */
static void print_daemon(const struct sl_ipc_record *rec, const char *program,
			 const char *role)
{
	printf("%s %s%s, pid %s", program, sl_get(rec, "version", "?"), role,
	       sl_get(rec, "pid", "?"));
	if (sl_ipc_get(rec, "name"))
		printf(" (%s)", sl_get(rec, "name", ""));
	fputs(", up ", stdout);
	print_duration(sl_get(rec, "uptime", "0"));
	printf("\n  config:       %s\n", sl_get(rec, "config", "?"));
}

static int status_record(struct sl_ipc_record *rec, void *arg)
{
	struct status_ctx *ctx = arg;

	if (ctx->json) {
		if (!strcmp(rec->type, "daemon")) {
			fputs("{\"daemon\": ", stdout);
			sl_print_json_record(rec);
			fputs(", \"lines\": [", stdout);
		} else if (!strcmp(rec->type, "line")) {
			fputs(ctx->lines++ ? ", " : "", stdout);
			sl_print_json_record(rec);
		}
		return 0;
	}
	if (!strcmp(rec->type, "daemon") &&
	    !strcmp(sl_get(rec, "role", ""), "tsp")) {
		ctx->tsp = true;
		print_daemon(rec, "sealtspd", " (TSP)");
		printf("  static key:   %s\n", sl_get(rec, "public_key", "?"));
		printf("  fingerprint:  %s\n", sl_get(rec, "fingerprint", "?"));
		printf("  state dir:    %s\n", sl_get(rec, "state_dir", "?"));
		printf("  instance:     %s\n", sl_get(rec, "instance", "?"));
		printf("  store:        %s (%s, %s requests queued, %s record events in the backlog)\n",
		       sl_get(rec, "store", "?"), sl_get(rec, "store_state", "?"),
		       sl_get(rec, "store_queue", "0"), sl_get(rec, "backlog", "0"));
		printf("  lines:        %s, calls in progress: %s\n",
		       sl_get(rec, "lines", "0"), sl_get(rec, "calls", "0"));
		return 0;
	}
	if (!strcmp(rec->type, "line") && ctx->tsp) {
		printf("line %-12s %-10s modem %-12s", sl_get(rec, "tty", "?"),
		       sl_get(rec, "state", "?"), sl_get(rec, "modem", "?"));
		if (sl_ipc_get(rec, "call_tracking"))
			printf(" call %s (%s leg): %s -> %s, %s bytes up, %s down",
			       sl_get(rec, "call_tracking", "?"),
			       sl_get(rec, "call_leg", "?"),
			       sl_get(rec, "caller", "?"), sl_get(rec, "recipient", "?"),
			       sl_get(rec, "bytes_up", "0"),
			       sl_get(rec, "bytes_down", "0"));
		putchar('\n');
		return 0;
	}
	if (!strcmp(rec->type, "daemon")) {
		const char *hs = sl_get(rec, "handshake", "?");
		const char *nl = sl_get(rec, "netlink", "?");

		print_daemon(rec, "sealined", "");
		printf("  account:      %s\n", sl_get(rec, "account", "?"));
		printf("  key:          %s\n", sl_get(rec, "fingerprint", "?"));
		/* What a TSP enrols this account with (sealctl tsp accounts
		 * add --key). */
		printf("  public key:   %s\n", sl_get(rec, "public_key", "?"));
		printf("  state dir:    %s\n", sl_get(rec, "state_dir", "?"));
		printf("  session log:  %s\n", sl_get(rec, "session_log", "?"));
		if (!strcmp(hs, "unavailable"))
			printf("  handshake:    unavailable (pairing and sessions are not available in this build)\n");
		else
			printf("  handshake:    %s\n", hs);
		if (!strcmp(nl, "connected"))
			printf("  kernel:       connected (netlink port %s)\n",
			       sl_get(rec, "portid", "?"));
		else
			printf("  kernel:       sealine module not loaded\n");
		printf("  peers:        %s (%s authorised, %s revoked)\n",
		       sl_get(rec, "peers", "0"), sl_get(rec, "peers_authorised", "0"),
		       sl_get(rec, "peers_revoked", "0"));
		if (sl_ipc_get(rec, "receipt_key")) {
			printf("  receipt key:  %s\n", sl_get(rec, "receipt_key", "?"));
			printf("  courier:      inbox %s, receiving %s, %s envelopes waiting in the outbox\n",
			       sl_get(rec, "inbox", "?"), sl_get(rec, "receive", "?"),
			       sl_get(rec, "outbox_pending", "0"));
		}
		return 0;
	}
	if (!strcmp(rec->type, "line")) {
		const char *status = sl_get(rec, "status", "?");

		printf("\nline %s: %s", sl_get(rec, "tty", "?"), status);
		if (sl_ipc_get(rec, "vtty"))
			printf(", %s, %s", sl_get(rec, "vtty", "?"),
			       sl_get(rec, "key_state", "?"));
		printf(" (since %s)\n", sl_get(rec, "since", "?"));
		if (sl_ipc_get(rec, "agent_portid"))
			printf("  agent portid: %s\n", sl_get(rec, "agent_portid", "?"));
		if (sl_ipc_get(rec, "error"))
			printf("  error:        %s\n", sl_get(rec, "error", "?"));
		if (sl_ipc_get(rec, "vtty"))
			printf("  key epoch:    %s (staged: %s)\n",
			       sl_get(rec, "key_epoch", "none"),
			       sl_get(rec, "staged_epoch", "none"));
		printf("  handshake:    %s\n", sl_get(rec, "handshake", "?"));
		if (sl_ipc_get(rec, "courier_sending"))
			printf("  courier:      sending envelope %s\n",
			       sl_get(rec, "courier_sending", "?"));
		if (sl_ipc_get(rec, "courier_receiving"))
			printf("  courier:      receiving envelope %s (chunks durable: %s)\n",
			       sl_get(rec, "courier_receiving", "?"),
			       sl_get(rec, "courier_chunks", "?"));
		if (!strcmp(sl_get(rec, "pair_armed", "no"), "yes"))
			printf("  pairing:      armed (answers the other side's pairing now)\n");
		printf("  peer:         %s (role %s, rekey every %s s, pairing %s)\n",
		       sl_get(rec, "peer", "any paired peer"), sl_get(rec, "role", "?"),
		       sl_get(rec, "rekey_interval", "?"), sl_get(rec, "pairing", "?"));
		if (sl_ipc_get(rec, "session_peer"))
			printf("  session:      with %s since %s: %s bytes sent, %s received, %s rekeys\n",
			       sl_get(rec, "session_peer", "unknown peer"),
			       sl_get(rec, "session_start", "?"),
			       sl_get(rec, "session_tx", "0"),
			       sl_get(rec, "session_rx", "0"),
			       sl_get(rec, "rekeys", "0"));
		else
			printf("  session:      none\n");
		if (strcmp(sl_get(rec, "control_dropped", "0"), "0"))
			printf("  control messages dropped: %s\n",
			       sl_get(rec, "control_dropped", "0"));
		if (sl_ipc_get(rec, "call_state")) {
			printf("  call:         %s", sl_get(rec, "call_state", "?"));
			if (sl_ipc_get(rec, "call_peer"))
				printf(", %s %s", !strcmp(sl_get(rec, "call_direction", ""), "in") ?
				       "from" : "to", sl_get(rec, "call_peer", "?"));
			if (sl_ipc_get(rec, "call_tracking"))
				printf(", tracking %s", sl_get(rec, "call_tracking", "?"));
			putchar('\n');
		}
		if (sl_ipc_get(rec, "dial_on_demand"))
			printf("  on demand:    calls %s when %s is written to (idle hangup %s s)\n",
			       sl_get(rec, "dial_on_demand", "?"),
			       sl_get(rec, "demand_link", "?"),
			       sl_get(rec, "idle_hangup", "?"));
	}
	return 0;
}

int sl_cmd_status(int argc, char *argv[])
{
	struct status_ctx ctx = { 0 };
	const char *sock = NULL;
	struct sl_conn c;
	int ret;

	ret = sl_common_options(argc, argv, "status", sl_help_status, &ctx.json,
				&sock, 0);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	ret = sl_conn_open(&c, "status", sl_client_socket(sock));
	if (ret)
		return ret;
	ret = sl_client_call(&c, "status", status_record, &ctx, NULL, NULL, 0);
	sl_conn_close(&c);
	if (ret)
		return ret;
	if (ctx.json)
		fputs("]}\n", stdout);
	return sl_finish_output("status");
}

void sl_help_status(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s status - what the daemon reports about itself and its lines\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s status [--json] [--socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    Ask the running sealined over its control socket for its identity\n"
		"    (account number and key fingerprint; never a secret), its state\n"
		"    directory, whether it has a handshake implementation and a connection\n"
		"    to the sealine module, how many peers it knows, and for each line of\n"
		"    its configuration: detached, registered (this daemon is the line's\n"
		"    agent), busy (another process is) or failed; the virtual tty, key\n"
		"    state and epochs as the kernel reports them; and the current session.\n"
		"\n"
		"    On a TSP's socket, sealtspd answers instead: its static key (the one\n"
		"    endpoints pin as tsp_key), its account store, and for each of its\n"
		"    lines the line and modem state and the call on it (tracking id, both\n"
		"    accounts, bytes relayed each way).\n"
		"\n"
		"OPTIONS\n"
		"    -j, --json\n"
		"        One JSON object on one line: {\"daemon\": {...}, \"lines\": [...]}.\n"
		"        Keys as in the control protocol (agent/ipc.h); numbers are\n"
		"        numbers, yes/no are true/false, the rest strings.\n"
		"    -s, --socket PATH\n"
		"        The daemon's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success, 1 if sealined is not running or refused (only root may\n"
		"    talk to it), 2 on a usage error.\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET);
}
