// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl inbox: the envelopes sealined received and committed, and the
 * files of one.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "config.h"
#include "ipc.h"
#include "sealctl.h"

struct list_ctx {
	bool json;
	bool files;		/* inbox show */
	unsigned int count;
};

/* A name as sealined sends it may hold anything a file name can: shown
 * with control characters and backslashes escaped, so that a name cannot
 * forge lines or move the cursor. */
static void print_name(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", stdout);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

static int inbox_record(struct sl_ipc_record *rec, void *arg)
{
	struct list_ctx *ctx = arg;

	if (strcmp(rec->type, ctx->files ? "file" : "envelope"))
		return 0;
	if (ctx->json) {
		fputs(ctx->count++ ? ",\n" : "[\n", stdout);
		sl_print_json_record(rec);
		return 0;
	}
	if (ctx->files) {
		if (!ctx->count++)
			printf("%-9s %12s %-20s  %s\n", "TYPE", "SIZE", "MTIME",
			       "NAME");
		printf("%-9s %12s %-20s  ", sl_get(rec, "type", "?"),
		       sl_get(rec, "size", "?"), sl_get(rec, "mtime", "?"));
		print_name(sl_get(rec, "name", "?"));
		putchar('\n');
		return 0;
	}
	if (!ctx->count++)
		printf("%-32s  %-12s %-4s %-16s %-20s %6s %12s\n", "ID", "FROM",
		       "VIA", "NAME", "DELIVERED", "FILES", "BYTES");
	printf("%-32s  %-12s %-4s ", sl_get(rec, "id", "?"),
	       sl_get(rec, "from", "?"), sl_get(rec, "via", "?"));
	sl_print_column(sl_get(rec, "name", "-"), 16);
	printf(" %-20s %6s %12s\n", sl_get(rec, "delivered", "?"),
	       sl_get(rec, "files", "?"), sl_get(rec, "content_bytes", "?"));
	return 0;
}

int sl_cmd_inbox(int argc, char *argv[])
{
	struct list_ctx ctx = { 0 };
	const char *sock = NULL, *op = "list", *id = NULL;
	char request[96], buf[SL_IPC_MAX_LINE + 1];
	struct sl_ipc_record final;
	struct sl_conn c;
	size_t n;
	int ret;

	ret = sl_common_options(argc, argv, "inbox", sl_help_inbox, &ctx.json,
				&sock, 2);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	if (optind < argc)
		op = argv[optind];
	if (!strcmp(op, "list")) {
		if (argc - optind > 1)
			return sl_usage_error("inbox", "list takes no argument");
	} else if (!strcmp(op, "show")) {
		if (argc - optind < 2)
			return sl_usage_error("inbox", "show needs the envelope's ID");
		id = argv[optind + 1];
		n = strlen(id);
		if (n != 32 || strspn(id, "0123456789abcdefABCDEF") != n)
			return sl_usage_error("inbox", "'%s' is not an envelope id (32 hex digits, as sealctl inbox shows them)",
					      id);
		ctx.files = true;
	} else {
		return sl_usage_error("inbox", "unknown operation '%s' (list, show)",
				      op);
	}

	ret = sl_conn_open(&c, "inbox", sl_client_socket(sock));
	if (ret)
		return ret;
	if (id)
		snprintf(request, sizeof(request), "inbox-show %s", id);
	else
		snprintf(request, sizeof(request), "inbox");
	ret = sl_client_call(&c, request, inbox_record, &ctx, &final, buf,
			     sizeof(buf));
	sl_conn_close(&c);
	if (ret)
		return ret;
	if (ctx.json)
		fputs(ctx.count ? "\n]\n" : "[]\n", stdout);
	else if (!ctx.count)
		printf(id ? "envelope %s holds no files\n" :
		       "the inbox is empty\n", id);
	else if (id)
		printf("in %s\n", sl_get(&final, "path", "?"));
	return sl_finish_output("inbox");
}

void sl_help_inbox(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s inbox - envelopes received, and the files of one\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s inbox [list] [--json] [--socket PATH]\n"
		"    %1$s inbox show ID [--json] [--socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    sealined takes envelopes from its paired peers unattended: it\n"
		"    verifies every chunk as it arrives, keeps them in its spool, and\n"
		"    once the whole envelope has arrived, verified and unpacked within\n"
		"    the limits of [courier] (max_envelope, max_unpacked, max_files,\n"
		"    max_ratio, min_free), it moves it in one step into INBOX/ID/\n"
		"    (%3$s/inbox by default, [courier] inbox) and returns a\n"
		"    receipt signed with its identity key. Nothing partial or\n"
		"    unverified ever appears in the inbox. The same holds for an\n"
		"    envelope the TSP held for its sender and delivers by calling\n"
		"    this installation's dial-up line: it is taken only from an\n"
		"    authorised peer, whose key must have sealed it.\n"
		"\n"
		"    list  every envelope in the inbox: id, sender's account, how it\n"
		"          came (line: from its sender on a line or a call; tsp: held\n"
		"          by the TSP and delivered by it), the sender's name (as\n"
		"          'peer-name' set it), when it was delivered, files and their\n"
		"          bytes\n"
		"    show  the entries of one envelope (type, size, modification\n"
		"          time, name relative to INBOX/ID/), and where they are; in\n"
		"          names, control characters are shown as \\xHH and a\n"
		"          backslash as \\\\\n"
		"\n"
		"    The files belong to root and keep the permission bits they were\n"
		"    sent with, less set-user-ID, set-group-ID, sticky and write for\n"
		"    group and others (and readable and writable by their owner).\n"
		"    'sealctl log --received' lists every envelope received or refused.\n"
		"\n"
		"OPTIONS\n"
		"    -j, --json\n"
		"        A JSON array, one object per line: id, from, via, name, delivered,\n"
		"        files, content_bytes, size (the sealed envelope), path; for\n"
		"        show: name, type (file, directory, symlink), size, mtime.\n"
		"    -s, --socket PATH\n"
		"        sealined's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success (also for an empty inbox), 1 if sealined is not\n"
		"    running or has no such envelope, 2 on a usage error.\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET, SL_CONF_DEFAULT_STATE_DIR);
}
