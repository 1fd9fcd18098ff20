// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl peers: list, authorise, revoke or forget the daemon's peers.
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

/* ------------------------------------------------------------ peers */

struct peers_ctx {
	bool json;
	unsigned int count;
};

static int peer_record(struct sl_ipc_record *rec, void *arg)
{
	struct peers_ctx *ctx = arg;
	const char *status;

	if (strcmp(rec->type, "peer"))
		return 0;
	if (ctx->json) {
		fputs(ctx->count ? ",\n" : "[\n", stdout);
		sl_print_json_record(rec);
		ctx->count++;
		return 0;
	}
	if (!ctx->count++)
		printf("%-13s %-15s %-4s %-20s %-20s %-20s %s\n", "ACCOUNT",
		       "STATUS", "LTK", "FINGERPRINT", "PAIRED", "NAME",
		       "COMPANY");
	if (!strcmp(sl_get(rec, "revoked", "no"), "yes"))
		status = "revoked";
	else if (!strcmp(sl_get(rec, "authorised", "no"), "yes"))
		status = "authorised";
	else
		status = "not authorised";
	printf("%-13s %-15s %-4s %-20s %-20s ", sl_get(rec, "account", "?"),
	       status, sl_get(rec, "ltk", "?"), sl_get(rec, "fingerprint", "-"),
	       sl_get(rec, "paired", "never"));
	sl_print_column(sl_get(rec, "name", "-"), 20);
	printf(" %s\n", sl_get(rec, "company", "-"));
	return 0;
}

int sl_cmd_peers(int argc, char *argv[])
{
	struct peers_ctx ctx = { 0 };
	const char *sock = NULL, *op = "list", *account = NULL;
	char request[256];
	struct sl_conn c;
	int ret;

	ret = sl_common_options(argc, argv, "peers", sl_help_peers, &ctx.json, &sock, 3);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	if (optind < argc)
		op = argv[optind];
	if (!strcmp(op, "authorize"))
		op = "authorise";
	if (!strcmp(op, "list")) {
		if (argc - optind > 1)
			return sl_usage_error("peers", "list takes no argument");
	} else if (!strcmp(op, "authorise") || !strcmp(op, "revoke") ||
		   !strcmp(op, "forget") || !strcmp(op, "name") ||
		   !strcmp(op, "company")) {
		if (argc - optind > (!strcmp(op, "name") ||
				     !strcmp(op, "company") ? 3 : 2))
			return sl_usage_error("peers", "too many arguments");
		if (argc - optind < 2)
			return sl_usage_error("peers", "%s needs an ACCOUNT", op);
		account = argv[optind + 1];
		if (!sl_account_valid(account))
			return sl_usage_error("peers",
					      "'%s' is not an account number (exactly %d digits)",
					      account, SL_ACCOUNT_LEN);
		if (ctx.json)
			return sl_usage_error("peers", "--json only goes with list");
	} else {
		return sl_usage_error("peers",
				      "unknown operation '%s' (list, authorise, revoke, forget, name, company)",
				      op);
	}

	ret = sl_conn_open(&c, "peers", sl_client_socket(sock));
	if (ret)
		return ret;
	if (!account) {
		ret = sl_client_call(&c, "peers", peer_record, &ctx, NULL, NULL, 0);
		sl_conn_close(&c);
		if (ret)
			return ret;
		if (ctx.json)
			fputs(ctx.count ? "\n]\n" : "[]\n", stdout);
		else if (!ctx.count)
			printf("no peers\n");
		return sl_finish_output("peers");
	}
	if (!strcmp(op, "name") || !strcmp(op, "company")) {
		const char *name = argc - optind > 2 ? argv[optind + 2] : "";
		char enc[3 * 64 + 1];

		if (!sl_ipc_escape(enc, sizeof(enc), name) || strlen(name) >= 64) {
			sl_conn_close(&c);
			return sl_usage_error("peers", "a %s has at most 63 bytes", op);
		}
		snprintf(request, sizeof(request), "peer-%s %s%s%s", op, account,
			 *name ? " " : "", enc);
	} else {
		snprintf(request, sizeof(request), "%s %s", op, account);
	}
	{
		struct sl_ipc_record final;
		char buf[SL_IPC_MAX_LINE + 1];

		ret = sl_client_call(&c, request, NULL, NULL, &final, buf, sizeof(buf));
		sl_conn_close(&c);
		if (ret)
			return ret;
		if (!strcmp(op, "authorise"))
			printf("%s authorised%s\n", account,
			       !strcmp(sl_get(&final, "created", "no"), "yes") ?
			       " (not paired yet: pair to connect)" : "");
		else if (!strcmp(op, "name") && argc - optind > 2 &&
			 *argv[optind + 2])
			printf("%s is called '%s' in the inbox and the logs\n",
			       account, argv[optind + 2]);
		else if (!strcmp(op, "name"))
			printf("%s has no name any more\n", account);
		else if (!strcmp(op, "company") && argc - optind > 2 &&
			 *argv[optind + 2])
			printf("%s is of '%s' in the address book\n", account,
			       argv[optind + 2]);
		else if (!strcmp(op, "company"))
			printf("%s has no company any more\n", account);
		else if (!strcmp(op, "revoke"))
			printf("%s revoked: sessions are refused; its long-term key is kept (forget deletes it)\n",
			       account);
		else
			printf("%s forgotten: record and long-term key deleted\n",
			       account);
	}
	return sl_finish_output("peers");
}

void sl_help_peers(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s peers - list, authorise, revoke or forget sealined's peers\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s peers [list] [--json] [--socket PATH]\n"
		"    %1$s peers authorise ACCOUNT [--socket PATH]\n"
		"    %1$s peers revoke ACCOUNT [--socket PATH]\n"
		"    %1$s peers forget ACCOUNT [--socket PATH]\n"
		"    %1$s peers name ACCOUNT [NAME] [--socket PATH]\n"
		"    %1$s peers company ACCOUNT [COMPANY] [--socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    A peer is another installation known by its 12-digit account number.\n"
		"    Pairing stores its static public key and the long-term key (LTK)\n"
		"    both sides derived, and authorises it. Only authorised peers that\n"
		"    are not revoked may connect; the others are refused with a NAK that\n"
		"    both sides log.\n"
		"\n"
		"    list       every peer: account, authorised / not authorised /\n"
		"               revoked, whether an LTK is stored, the fingerprint of its\n"
		"               static key, when it was paired, its name and company\n"
		"    authorise  allow ACCOUNT (also before pairing: an authorised caller\n"
		"               list); lifts a revocation. 'authorize' works too.\n"
		"    revoke     refuse ACCOUNT from now on; its LTK is kept, so a\n"
		"               session attempt is refused as revoked, not as unknown\n"
		"    forget     delete ACCOUNT's record and wipe its LTK: a new\n"
		"               connection needs a new pairing\n"
		"    name       call ACCOUNT NAME (at most 63 bytes, no control\n"
		"               characters) in the courier's inbox and logs; without\n"
		"               NAME, remove its name\n"
		"    company    ACCOUNT belongs to COMPANY (the same rules), shown\n"
		"               with its name where an envelope is addressed\n"
		"               (sealine-ui); without COMPANY, remove it\n"
		"\n"
		"    Changes are written to the state directory (atomically, mode 0600)\n"
		"    before sealined acts on them.\n"
		"\n"
		"OPTIONS\n"
		"    -j, --json\n"
		"        list as a JSON array, one object per line.\n"
		"    -s, --socket PATH\n"
		"        The daemon's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success, 1 if sealined is not running or refused (unknown peer,\n"
		"    our own account), 2 on a usage error (an ACCOUNT that is not 12\n"
		"    digits).\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET);
}
