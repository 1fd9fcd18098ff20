// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl outbox: the envelopes sealined delivers and what became of
 * them; cancel, retry, and a delivered one's receipt.
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
	unsigned int count;
};

static int envelope_record(struct sl_ipc_record *rec, void *arg)
{
	struct list_ctx *ctx = arg;
	const char *state, *detail;

	if (strcmp(rec->type, "envelope"))
		return 0;
	if (ctx->json) {
		fputs(ctx->count++ ? ",\n" : "[\n", stdout);
		sl_print_json_record(rec);
		return 0;
	}
	if (!ctx->count++)
		printf("%-32s  %-12s %-10s %-20s %5s %12s %9s  %s\n", "ID", "TO",
		       "STATE", "QUEUED", "FILES", "BYTES", "ATTEMPTS",
		       "DETAIL");
	state = sl_get(rec, "state", "?");
	detail = sl_get(rec, "detail", "");
	printf("%-32s  %-12s %-10s %-20s %5s %12s %9s  ", sl_get(rec, "id", "?"),
	       sl_get(rec, "to", "?"), state, sl_get(rec, "queued", "-"),
	       sl_get(rec, "files", "?"), sl_get(rec, "content_bytes", "?"),
	       sl_get(rec, "attempts", "0"));
	if (!strcmp(state, "refused"))
		printf("%s%s%s", sl_get(rec, "reason", "?"), *detail ? ": " : "",
		       detail);
	else if (!strcmp(state, "held"))
		printf("held at the TSP for delivery%s%s%s%s",
		       *sl_get(rec, "deliver_after", "") ? " after " : "",
		       sl_get(rec, "deliver_after", ""),
		       *sl_get(rec, "deliver_window", "") ? " in " : "",
		       sl_get(rec, "deliver_window", ""));
	else if ((!strcmp(state, "queued") || !strcmp(state, "sending")) &&
		 !strcmp(sl_get(rec, "via", ""), "tsp"))
		printf("to the TSP: %s/%s chunks handed over%s%s%s%s",
		       sl_get(rec, "acked", "0"), sl_get(rec, "chunks", "?"),
		       *sl_get(rec, "next_try", "") ? ", next attempt " : "",
		       sl_get(rec, "next_try", ""), *detail ? "; last: " : "",
		       detail);
	else if (!strcmp(state, "queued") || !strcmp(state, "sending"))
		printf("%s/%s chunks acknowledged%s%s%s%s",
		       sl_get(rec, "acked", "0"), sl_get(rec, "chunks", "?"),
		       *sl_get(rec, "next_try", "") ? ", next attempt " : "",
		       sl_get(rec, "next_try", ""), *detail ? "; last: " : "",
		       detail);
	else if (!strcmp(state, "delivered"))
		printf("%s", sl_get(rec, "finished", ""));
	else
		printf("%s", detail);
	putchar('\n');
	return 0;
}

/* A signed text as it was signed: a receipt, the TSP's acceptance or
 * notice. */
static int text_record(struct sl_ipc_record *rec, void *arg)
{
	if (!strcmp(rec->type, arg))
		fputs(sl_get(rec, "text", ""), stdout);
	return 0;
}

static int collect_record(struct sl_ipc_record *rec, void *arg)
{
	(void)arg;
	if (!strcmp(rec->type, "info"))
		printf("%s\n", sl_get(rec, "text", ""));
	return 0;
}

/* An id as sealctl outbox prints it, or at least 4 of its first digits. */
static int check_id(const char *cmd, const char *id)
{
	size_t n = strlen(id);

	if (n < 4 || n > 32 || strspn(id, "0123456789abcdefABCDEF") != n)
		return sl_usage_error(cmd, "'%s' is not an envelope id (32 hex digits as sealctl outbox shows them, or at least the first 4)",
				      id);
	return 0;
}

int sl_cmd_outbox(int argc, char *argv[])
{
	struct list_ctx ctx = { 0 };
	const char *sock = NULL, *op = "list", *id = NULL;
	char request[96], buf[SL_IPC_MAX_LINE + 1];
	struct sl_ipc_record final;
	struct sl_conn c;
	int ret;

	ret = sl_common_options(argc, argv, "outbox", sl_help_outbox, &ctx.json,
				&sock, 2);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	if (optind < argc)
		op = argv[optind];
	if (!strcmp(op, "list") || !strcmp(op, "collect")) {
		if (argc - optind > 1)
			return sl_usage_error("outbox", "%s takes no argument", op);
		if (ctx.json && !strcmp(op, "collect"))
			return sl_usage_error("outbox", "--json only goes with the list");
	} else if (!strcmp(op, "cancel") || !strcmp(op, "retry") ||
		   !strcmp(op, "receipt") || !strcmp(op, "acceptance") ||
		   !strcmp(op, "notice")) {
		if (argc - optind < 2)
			return sl_usage_error("outbox", "%s needs the envelope's ID",
					      op);
		id = argv[optind + 1];
		ret = check_id("outbox", id);
		if (ret)
			return ret;
		if (ctx.json)
			return sl_usage_error("outbox", "--json only goes with the list");
	} else {
		return sl_usage_error("outbox", "unknown operation '%s' (list, cancel, retry, receipt, acceptance, notice, collect)",
				      op);
	}

	ret = sl_conn_open(&c, "outbox", sl_client_socket(sock));
	if (ret)
		return ret;
	if (!strcmp(op, "collect")) {
		ret = sl_client_call(&c, "outbox-collect", collect_record, NULL,
				     &final, buf, sizeof(buf));
		sl_conn_close(&c);
		if (ret)
			return ret;
		printf("collected from the TSP: %s receipts and notices stored\n",
		       sl_get(&final, "notes", "0"));
		return sl_finish_output("outbox");
	}
	if (!id) {
		ret = sl_client_call(&c, "outbox", envelope_record, &ctx, NULL,
				     NULL, 0);
		sl_conn_close(&c);
		if (ret)
			return ret;
		if (ctx.json)
			fputs(ctx.count ? "\n]\n" : "[]\n", stdout);
		else if (!ctx.count)
			printf("the outbox is empty\n");
		return sl_finish_output("outbox");
	}
	snprintf(request, sizeof(request), "outbox-%s %s", op, id);
	ret = sl_client_call(&c, request,
			     !strcmp(op, "cancel") || !strcmp(op, "retry") ?
			     NULL : text_record, (void *)op, &final, buf,
			     sizeof(buf));
	sl_conn_close(&c);
	if (ret)
		return ret;
	if (!strcmp(op, "cancel"))
		printf("%s cancelled: withdrawn from the outbox and deleted\n",
		       sl_get(&final, "id", id));
	else if (!strcmp(op, "retry"))
		printf("%s queued again\n", sl_get(&final, "id", id));
	return sl_finish_output("outbox");
}

void sl_help_outbox(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s outbox - envelopes being delivered, and what became of them\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s outbox [list] [--json] [--socket PATH]\n"
		"    %1$s outbox cancel ID [--socket PATH]\n"
		"    %1$s outbox retry ID [--socket PATH]\n"
		"    %1$s outbox receipt ID [--socket PATH]\n"
		"    %1$s outbox acceptance ID [--socket PATH]\n"
		"    %1$s outbox notice ID [--socket PATH]\n"
		"    %1$s outbox collect [--socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    Every '%1$s send' puts one sealed envelope into sealined's outbox\n"
		"    (STATE_DIR/outbox, [courier] outbox). sealined delivers it and keeps\n"
		"    its record, through restarts and crashes, in one of these states:\n"
		"\n"
		"    queued     waiting for its next attempt (after busy, no answer, a\n"
		"               cut line or a recipient that was not there: 30 s,\n"
		"               doubling up to an hour; [courier] retry, retry_max);\n"
		"               sent --via-tsp: waiting to be handed to the TSP\n"
		"    sending    being transferred, or a call is being placed for it\n"
		"    held       sent --via-tsp: the TSP took it, and its signed\n"
		"               acceptance (checked against the envelope, under the\n"
		"               TSP's key) is kept; the TSP delivers it later, and the\n"
		"               recipient's receipt comes back on a later call to the\n"
		"               TSP; the envelope is kept until then\n"
		"    delivered  the recipient committed it to its inbox and returned a\n"
		"               receipt signed with its identity key, which sealined\n"
		"               verified and keeps; the envelope itself is deleted\n"
		"    refused    the recipient refused it for good (the reason, such\n"
		"               as TOO_BIG, DAMAGED or NOT_FOR_US, and its detail are\n"
		"               shown); the envelope is kept\n"
		"    failed     every attempt failed ([courier] attempts); kept\n"
		"    cancelled  withdrawn with 'outbox cancel'; deleted\n"
		"    expired    the TSP held it until its holding time ran out; its\n"
		"               signed notice is kept, and the envelope\n"
		"    bounced    the TSP could not deliver it (the recipient refused\n"
		"               it, or too many attempts failed: the reason is\n"
		"               shown); its signed notice is kept, and the envelope\n"
		"\n"
		"    Records of delivered, refused, failed and cancelled envelopes are\n"
		"    kept for [courier] keep_days (30) days. The send log ('%1$s log\n"
		"    --sent') keeps them for good.\n"
		"\n"
		"    list     every envelope: id, recipient, state, when it was queued,\n"
		"             files and their bytes, attempts, and by state the chunks\n"
		"             the recipient acknowledged so far and the next attempt,\n"
		"             the refusal, or when it was delivered\n"
		"    cancel   withdraw a queued, sending, refused or failed envelope: a\n"
		"             transfer in progress is aborted (the recipient drops what\n"
		"             it holds of it) and the envelope is deleted\n"
		"    retry    queue a refused, failed, expired or bounced envelope\n"
		"             again, its attempts counted from zero\n"
		"    receipt  print a delivered envelope's receipt as the recipient\n"
		"             signed it, for '%1$s receipt verify' (here or anywhere)\n"
		"    acceptance\n"
		"             print the TSP's signed acceptance of an envelope sent\n"
		"             --via-tsp: it proves that the TSP took responsibility\n"
		"             for that ciphertext (its sha256) at that time\n"
		"    notice   print the TSP's signed non-delivery notice of an expired\n"
		"             or bounced envelope\n"
		"    collect  call the TSP now and collect the receipts and notices it\n"
		"             holds for this installation (sealined also does that on\n"
		"             every call to the TSP and, while envelopes are held\n"
		"             there, every 30 minutes)\n"
		"\n"
		"    ID is the envelope's id (32 hex digits) or at least its first 4\n"
		"    digits, if they name one envelope only.\n"
		"\n"
		"OPTIONS\n"
		"    -j, --json\n"
		"        list as a JSON array, one object per line: id, to, name (the\n"
		"        peer's, if set), state, queued, via (auto, call, line:TTY,\n"
		"        call:TTY, tsp), size (the sealed envelope's bytes), files,\n"
		"        content_bytes, chunks, acked, attempts, wire_bytes,\n"
		"        deliver_after and deliver_window (sent --via-tsp with them),\n"
		"        next_try, finished, reason, detail.\n"
		"    -s, --socket PATH\n"
		"        sealined's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success, 1 if sealined is not running or refused (no such\n"
		"    envelope, an ID that names several, cancel of a delivered one or\n"
		"    one held at the TSP, retry of one that is not refused, failed,\n"
		"    expired or bounced, receipt of one that is not delivered, a\n"
		"    collection whose call did not reach the TSP), 2 on a usage error.\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET);
}
