// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl log: the session log, from the daemon or straight from its file
 * (log --file), without a running daemon.
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

/* ------------------------------------------------------------ log */

struct log_ctx {
	bool json;
	unsigned int count;
};

static void print_log_text(const struct sl_session_rec *r, struct log_ctx *ctx)
{
	char start[32], end[32];

	if (!ctx->count++)
		printf("%-20s %-20s %-8s %-8s %-10s %-12s %10s %10s  %s\n",
		       "START", "END", "LINE", "KIND", "ROLE", "PEER", "SENT",
		       "RECEIVED", "OUTCOME");
	sl_slog_time(start, r->start);
	if (r->end)
		sl_slog_time(end, r->end);
	else
		snprintf(end, sizeof(end), "-");
	printf("%-20s %-20s %-8s %-8s %-10s %-12s %10" PRIu64 " %10" PRIu64 "  %s",
	       start, end, r->line, r->kind[0] ? r->kind : "-",
	       r->role[0] ? r->role : "-", r->peer[0] ? r->peer : "-",
	       r->bytes_tx, r->bytes_rx, r->outcome);
	if (r->reason[0])
		printf(" (%s)", r->reason);
	if (r->detail[0])
		printf(": %s", r->detail);
	putchar('\n');
}

static void print_log_record(const struct sl_session_rec *r, struct log_ctx *ctx)
{
	char buf[SL_SLOG_MAX_RECORD + 1];

	if (!ctx->json) {
		print_log_text(r, ctx);
		return;
	}
	if (sl_slog_format(buf, sizeof(buf), r) > 0)
		fputs(buf, stdout);
	ctx->count++;
}

static int log_ipc_record(struct sl_ipc_record *rec, void *arg)
{
	struct sl_session_rec r;

	if (strcmp(rec->type, "session") || !rec->text)
		return 0;
	if (sl_slog_parse(rec->text, strlen(rec->text), &r))
		return 0;
	print_log_record(&r, arg);
	return 0;
}

struct file_ring {
	struct sl_session_rec *recs;
	size_t cap, n, next;
};

static int log_file_record(const struct sl_session_rec *rec, void *arg)
{
	struct file_ring *ring = arg;

	ring->recs[ring->next] = *rec;
	ring->next = (ring->next + 1) % ring->cap;
	if (ring->n < ring->cap)
		ring->n++;
	return 0;
}

int sl_cmd_log(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "file", required_argument, NULL, 'F' },
		{ "count", required_argument, NULL, 'n' },
		{ "sent", no_argument, NULL, 'S' },
		{ "received", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct log_ctx ctx = { 0 };
	const char *sock = NULL, *file = NULL;
	uint32_t count = 0;
	bool sent = false, received = false;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":js:F:n:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'S':
			sent = true;
			break;
		case 'R':
			received = true;
			break;
		case 'j':
			ctx.json = true;
			break;
		case 's':
			sock = optarg;
			break;
		case 'F':
			file = optarg;
			break;
		case 'n':
			ret = sl_parse_u32("log", "count", optarg, &count);
			if (ret)
				return ret;
			if (!count)
				return sl_usage_error("log", "--count must be at least 1");
			break;
		case 'h':
			sl_help_log(stdout);
			return SL_EXIT_OK;
		default:
			return sl_option_error("log", opt, argv);
		}
	}
	if (optind < argc)
		return sl_usage_error("log", "too many arguments");
	if (file && sock)
		return sl_usage_error("log", "--file and --socket exclude each other");
	if (sent && received)
		return sl_usage_error("log", "--sent and --received exclude each other: one log at a time");
	if (sent || received)
		return sl_courier_log(sent, ctx.json, count, file, sock);

	if (file) {
		struct file_ring ring = { .cap = count ? count : 100000 };
		unsigned int bad = 0;
		FILE *f = fopen(file, "re");

		if (!f)
			return sl_failure("log: %s: %s", file, strerror(errno));
		ring.recs = calloc(ring.cap, sizeof(*ring.recs));
		if (!ring.recs) {
			fclose(f);
			return sl_failure("log: out of memory");
		}
		ret = sl_slog_read(f, log_file_record, &ring, &bad);
		fclose(f);
		if (ret) {
			free(ring.recs);
			return sl_failure("log: %s: %s", file, strerror(-ret));
		}
		for (size_t i = 0; i < ring.n; ++i) {
			size_t at = ring.n == ring.cap ? (ring.next + i) % ring.cap : i;

			print_log_record(&ring.recs[at], &ctx);
		}
		free(ring.recs);
		if (bad)
			sl_warning("log: %s: %u lines are not session records (skipped)",
				   file, bad);
	} else {
		char request[64];
		struct sl_conn c;

		if (count)
			snprintf(request, sizeof(request), "log %" PRIu32, count);
		else
			snprintf(request, sizeof(request), "log");
		struct sl_ipc_record final;
		char buf[SL_IPC_MAX_LINE + 1];
		const char *bad;

		ret = sl_conn_open(&c, "log", sl_client_socket(sock));
		if (ret)
			return ret;
		ret = sl_client_call(&c, request, log_ipc_record, &ctx, &final, buf,
			   sizeof(buf));
		sl_conn_close(&c);
		if (ret)
			return ret;
		bad = sl_get(&final, "bad_lines", "0");
		if (strcmp(bad, "0"))
			sl_warning("log: %s: %s lines are not session records (skipped)",
				   sl_get(&final, "path", "the session log"), bad);
		if (!strcmp(sl_get(&final, "truncated", "no"), "yes") && !count)
			sl_warning("log: only the last %d records are shown (use --file for all)",
				   10000);
	}
	if (!ctx.count && !ctx.json)
		printf("no sessions logged\n");
	return sl_finish_output("log");
}

void sl_help_log(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s log - the session log, and the courier's send and receive logs\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s log [--sent | --received] [--json] [-n COUNT] [--socket PATH]\n"
		"    %1$s log [--sent | --received] [--json] [-n COUNT] --file PATH\n"
		"\n"
		"DESCRIPTION\n"
		"    sealined appends a record to its session log for every session\n"
		"    (a keyed connection: when it started and ended, the line, the peer's\n"
		"    account, application bytes each way, rekeys, how it ended), every\n"
		"    pairing and every failed handshake (with the NAK reason), like the\n"
		"    send and receive logs of the original system. This prints it, oldest\n"
		"    first, asking the daemon, or reading the file itself with --file\n"
		"    (sealined need not run; the file is STATE_DIR/sessions.log unless\n"
		"    configured otherwise, readable by root only).\n"
		"\n"
		"    With --sent or --received it prints the courier's send or receive\n"
		"    log instead (STATE_DIR/sent.log, received.log; [courier] sent_log,\n"
		"    received_log): one record per envelope and outcome, with the\n"
		"    envelope's id, the peer's account and name ('peer-name'), the time,\n"
		"    the files (count, bytes, and below the record each name with its\n"
		"    type and size; control characters shown as \\xHH), the bytes the\n"
		"    transfer took on the line, the outcome (delivered, refused, failed,\n"
		"    cancelled; received or refused) with the refusal's reason and\n"
		"    detail, and the receipt.\n"
		"\n"
		"OPTIONS\n"
		"    --sent, --received\n"
		"        The courier's send or receive log instead of the session log.\n"
		"        As JSON (--json) each record is one object per line, as stored:\n"
		"        time, id, peer, outcome, reason, detail, size (the sealed\n"
		"        envelope), wire_bytes, files, content_bytes, receipt (its text),\n"
		"        names (name, type, size of each entry), names_complete; the send\n"
		"        log also queued, via and attempts, the receive log inbox.\n"
		"    -j, --json\n"
		"        The records as JSON lines, one object per line, as stored:\n"
		"        start, end (UTC, ISO 8601), line, kind (session, pairing,\n"
		"        rekey), role, peer (null if unknown), bytes_tx, bytes_rx, rekeys,\n"
		"        outcome (ok, nak-sent, nak-received, timeout, failed, expired,\n"
		"        aborted), reason (the NAK reason or null), detail.\n"
		"    -n, --count COUNT\n"
		"        Only the last COUNT records.\n"
		"    -F, --file PATH\n"
		"        Read this log file instead of asking the daemon.\n"
		"    -s, --socket PATH\n"
		"        The daemon's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success (also for an empty log), 1 if the daemon or the file\n"
		"    cannot be read, 2 on a usage error.\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET);
}
