// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl log --sent / --received: the courier's send and receive logs
 * (sealined/cstore.h: JSON lines, one record per envelope and outcome),
 * from the daemon or straight from the file. The text form reads the
 * few fields it prints with a small scanner of one JSON object: the
 * records are sealined's own, but a name in them may hold anything.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "config.h"
#include "ipc.h"
#include "json.h"
#include "sealctl.h"

#define CLOG_MAX_PEERS	256
#define CLOG_FIELD_MAX	4096

struct peer_name {
	char account[SL_ACCOUNT_LEN + 1];
	char name[80];
};

struct clog_ctx {
	bool json, sent;
	unsigned int count;
	struct peer_name peers[CLOG_MAX_PEERS];
	unsigned int n_peers;
};

/* ---- Output ------------------------------------------------------------- */

/* s for a terminal: controls (C0, DEL and C1, which is 0xc2 0x80-0x9f in
 * UTF-8) as \\xHH. */
static void print_escaped(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", stdout);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			printf("\\x%02x", *++p);
		else
			putchar(*p);
	}
}

/* ---- One record ---------------------------------------------------------- */

static const char *peer_name(const struct clog_ctx *ctx, const char *account)
{
	for (unsigned int i = 0; i < ctx->n_peers; i++)
		if (!strcmp(ctx->peers[i].account, account))
			return ctx->peers[i].name;
	return "-";
}

static void print_names(const char *p)
{
	char name[CLOG_FIELD_MAX], type[32], size[32];

	if (*p++ != '[')
		return;
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p != '{')
			return;
		if (sl_json_get(p, "name", name, sizeof(name), NULL) &&
		    sl_json_get(p, "type", type, sizeof(type), NULL)) {
			if (!sl_json_get(p, "size", size, sizeof(size), NULL))
				snprintf(size, sizeof(size), "-");
			printf("    %-9s %12s  ", type, size);
			print_escaped(name);
			putchar('\n');
		}
		p = sl_json_skip(p);
		if (!p)
			return;
	}
}

static void print_record(struct clog_ctx *ctx, const char *rec)
{
	char time[40] = "?", id[40] = "?", peer[40] = "", outcome[40] = "?";
	char files[24] = "-", bytes[24] = "-", wire[24] = "-", reason[40] = "";
	char detail[300] = "", complete[8] = "";
	const char *names = NULL;

	if (ctx->json) {
		puts(rec);
		ctx->count++;
		return;
	}
	sl_json_get(rec, "time", time, sizeof(time), NULL);
	sl_json_get(rec, "id", id, sizeof(id), NULL);
	sl_json_get(rec, "peer", peer, sizeof(peer), NULL);
	sl_json_get(rec, "outcome", outcome, sizeof(outcome), NULL);
	sl_json_get(rec, "files", files, sizeof(files), NULL);
	sl_json_get(rec, "content_bytes", bytes, sizeof(bytes), NULL);
	sl_json_get(rec, "wire_bytes", wire, sizeof(wire), NULL);
	sl_json_get(rec, "reason", reason, sizeof(reason), NULL);
	sl_json_get(rec, "detail", detail, sizeof(detail), NULL);
	sl_json_get(rec, "names_complete", complete, sizeof(complete), NULL);
	if (!strcmp(peer, "null"))
		snprintf(peer, sizeof(peer), "-");
	if (!strcmp(reason, "null"))
		reason[0] = 0;
	if (!strcmp(detail, "null"))
		detail[0] = 0;
	if (!ctx->count++)
		printf("%-20s %-32s  %-12s %-16s %-10s %6s %12s %12s\n", "TIME",
		       "ID", ctx->sent ? "TO" : "FROM", "NAME", "OUTCOME",
		       "FILES", "BYTES", "WIRE");
	printf("%-20s %-32s  %-12s ", time, id, peer);
	sl_print_column(peer_name(ctx, peer), 16);
	printf(" %-10s %6s %12s %12s\n", outcome, files, bytes, wire);
	if (reason[0] || detail[0]) {
		printf("    %s%s", reason, reason[0] && detail[0] ? ": " : "");
		print_escaped(detail);
		putchar('\n');
	}
	if (sl_json_get(rec, "names", files, sizeof(files), &names) && names)
		print_names(names);
	if (!strcmp(complete, "false"))
		printf("    ... (more names than a log record holds)\n");
}

/* ---- From the daemon or the file ---------------------------------------------- */

static int peers_record(struct sl_ipc_record *rec, void *arg)
{
	struct clog_ctx *ctx = arg;
	const char *name = sl_get(rec, "name", "");

	if (strcmp(rec->type, "peer") || !*name || ctx->n_peers == CLOG_MAX_PEERS)
		return 0;
	snprintf(ctx->peers[ctx->n_peers].account,
		 sizeof(ctx->peers[0].account), "%s", sl_get(rec, "account", ""));
	snprintf(ctx->peers[ctx->n_peers].name, sizeof(ctx->peers[0].name),
		 "%s", name);
	ctx->n_peers++;
	return 0;
}

static int entry_record(struct sl_ipc_record *rec, void *arg)
{
	if (!strcmp(rec->type, "entry") && rec->text)
		print_record(arg, rec->text);
	return 0;
}

int sl_courier_log(bool sent, bool json, uint32_t count, const char *file,
		   const char *sock)
{
	struct clog_ctx *ctx = calloc(1, sizeof(*ctx));
	const char *what = sent ? "send" : "receive";
	int ret = SL_EXIT_OK;

	if (!ctx)
		return sl_failure("log: out of memory");
	ctx->json = json;
	ctx->sent = sent;
	if (file) {
		FILE *f = fopen(file, "re");
		char **ring, *line = NULL;
		size_t cap = count ? count : 100000, n = 0, next = 0, size = 0;
		ssize_t len;

		if (!f) {
			free(ctx);
			return sl_failure("log: %s: %s", file, strerror(errno));
		}
		ring = calloc(cap, sizeof(*ring));
		if (!ring) {
			fclose(f);
			free(ctx);
			return sl_failure("log: out of memory");
		}
		while ((len = getline(&line, &size, f)) > 0) {
			/* a torn last line after a crash is no record */
			if (line[len - 1] != '\n' || line[0] != '{')
				continue;
			line[len - 1] = 0;
			free(ring[next]);
			ring[next] = strdup(line);
			next = (next + 1) % cap;
			if (n < cap)
				n++;
		}
		free(line);
		fclose(f);
		for (size_t i = 0; i < n; i++) {
			const char *rec = ring[(next + cap - n + i) % cap];

			if (rec)
				print_record(ctx, rec);
		}
		for (size_t i = 0; i < cap; i++)
			free(ring[i]);
		free(ring);
	} else {
		char request[64];
		struct sl_conn c;

		ret = sl_conn_open(&c, "log", sl_client_socket(sock));
		if (ret) {
			free(ctx);
			return ret;
		}
		if (!json)
			sl_client_call(&c, "peers", peers_record, ctx, NULL, NULL,
				       0);
		if (count)
			snprintf(request, sizeof(request), "courier-log %s %" PRIu32,
				 sent ? "sent" : "received", count);
		else
			snprintf(request, sizeof(request), "courier-log %s",
				 sent ? "sent" : "received");
		ret = sl_client_call(&c, request, entry_record, ctx, NULL, NULL,
				     0);
		sl_conn_close(&c);
	}
	if (!ret && !ctx->count && !json)
		printf("the %s log is empty\n", what);
	free(ctx);
	return ret ? ret : sl_finish_output("log");
}
