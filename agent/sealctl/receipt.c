// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl receipt verify: checks a delivery receipt's signature, as
 * anyone holding the recipient's public key can (courier/receipt.h).
 * The key comes from --key, or from sealined, which learnt it from the
 * recipient's first receipt over an authenticated session.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "crypto.h"
#include "fdio.h"
#include "hex.h"
#include "ipc.h"
#include "receipt.h"
#include "sealctl.h"
#include "sessionlog.h"

struct key_ctx {
	const char *account;	/* the receipt's recipient */
	bool found;
	uint8_t key[SL_SIGN_PUB_LEN];
	char own_key[2 * SL_SIGN_PUB_LEN + 1];
	bool own;		/* the recipient is this installation */
};

static int peer_key_record(struct sl_ipc_record *rec, void *arg)
{
	struct key_ctx *k = arg;
	const char *hex = sl_get(rec, "receipt_key", "");

	if (strcmp(rec->type, "peer") ||
	    strcmp(sl_get(rec, "account", ""), k->account) || !*hex)
		return 0;
	if (!sl_hex_decode(k->key, sizeof(k->key), hex, strlen(hex)))
		k->found = true;
	return 0;
}

static int daemon_record(struct sl_ipc_record *rec, void *arg)
{
	struct key_ctx *k = arg;

	if (strcmp(rec->type, "daemon"))
		return 0;
	if (!strcmp(sl_get(rec, "account", ""), k->account)) {
		k->own = true;
		snprintf(k->own_key, sizeof(k->own_key), "%s",
			 sl_get(rec, "receipt_key", ""));
	}
	return 0;
}

/* The recipient's key as sealined knows it: 0, or an exit status. */
static int key_from_daemon(const char *sock, const char *account,
			   uint8_t key[SL_SIGN_PUB_LEN])
{
	struct key_ctx k = { .account = account };
	struct sl_conn c;
	int ret;

	ret = sl_conn_open(&c, "receipt", sl_client_socket(sock));
	if (ret)
		return ret;
	ret = sl_client_call(&c, "status", daemon_record, &k, NULL, NULL, 0);
	if (!ret && !k.own)
		ret = sl_client_call(&c, "peers", peer_key_record, &k, NULL,
				     NULL, 0);
	sl_conn_close(&c);
	if (ret)
		return ret;
	if (k.own && !sl_hex_decode(key, SL_SIGN_PUB_LEN, k.own_key,
				    strlen(k.own_key)))
		return 0;
	if (k.found) {
		memcpy(key, k.key, SL_SIGN_PUB_LEN);
		return 0;
	}
	return sl_failure("receipt: sealined does not know the receipt key of %s (it learns it from that peer's first receipt): give it with --key HEX (its 'sealctl status' shows it as receipt_key)",
			  account);
}

static int verify(const char *file, const char *key_hex, const char *sock)
{
	char text[SL_RCPT_MAX_LEN + 2], why[256], when[32];
	char id[2 * SL_ENV_ID_LEN + 1], sha[2 * SL_ENV_HASH_LEN + 1];
	char khex[2 * SL_SIGN_PUB_LEN + 1];
	uint8_t key[SL_SIGN_PUB_LEN];
	struct sl_rcpt r;
	ssize_t n;
	int fd, ret;

	if (key_hex && (strlen(key_hex) != 2 * SL_SIGN_PUB_LEN ||
			sl_hex_decode(key, sizeof(key), key_hex,
				      strlen(key_hex))))
		return sl_usage_error("receipt", "--key is the recipient's Ed25519 public key: 64 hex digits");
	fd = strcmp(file, "-") ? open(file, O_RDONLY | O_CLOEXEC) : STDIN_FILENO;
	if (fd < 0)
		return sl_failure("receipt: %s: %s", file, strerror(errno));
	n = sl_read_full(fd, text, sizeof(text) - 1);
	if (fd != STDIN_FILENO)
		close(fd);
	if (n < 0)
		return sl_failure("receipt: %s: %s", file, strerror((int)-n));
	if ((size_t)n > SL_RCPT_MAX_LEN)
		return sl_failure("receipt: %s is not a receipt: longer than %d bytes",
				  file, SL_RCPT_MAX_LEN);
	ret = sl_crypto_init(0, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why));
	if (ret)
		return sl_failure("receipt: libgcrypt: %s", why);
	/* First its form and its own signature: then whose key to expect. */
	ret = sl_rcpt_verify(&r, text, (size_t)n, NULL, why, sizeof(why));
	if (ret)
		return sl_failure("receipt: %s does not verify: %s", file, why);
	if (!key_hex) {
		ret = key_from_daemon(sock, r.recipient, key);
		if (ret)
			return ret;
	}
	ret = sl_rcpt_verify(&r, text, (size_t)n, key, why, sizeof(why));
	if (ret)
		return sl_failure("receipt: %s does not verify: %s", file, why);
	sl_hex_encode(id, r.id, sizeof(r.id));
	sl_hex_encode(sha, r.sha256, sizeof(r.sha256));
	sl_hex_encode(khex, r.key, sizeof(r.key));
	sl_slog_time(when, r.delivered);
	printf("receipt verified: signed by %s's key %s\n"
	       "envelope  %s\n"
	       "sha256    %s\n"
	       "size      %" PRIu64 " bytes sealed\n"
	       "from      %s\n"
	       "to        %s\n"
	       "delivered %s\n"
	       "files     %" PRIu64 " (%" PRIu64 " bytes)\n",
	       r.recipient, khex, id, sha, r.size, r.sender, r.recipient, when,
	       r.files, r.bytes);
	return sl_finish_output("receipt");
}

int sl_cmd_receipt(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *key = NULL, *sock = NULL;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":k:s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			key = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			sl_help_receipt(stdout);
			return SL_EXIT_OK;
		default:
			return sl_option_error("receipt", opt, argv);
		}
	}
	if (optind >= argc)
		return sl_usage_error("receipt", "verify FILE: name the receipt to check");
	if (strcmp(argv[optind], "verify"))
		return sl_usage_error("receipt", "unknown operation '%s' (verify)",
				      argv[optind]);
	if (argc - optind < 2)
		return sl_usage_error("receipt", "verify needs the receipt's FILE (- for standard input)");
	if (argc - optind > 2)
		return sl_usage_error("receipt", "verify takes one FILE");
	if (key && sock)
		return sl_usage_error("receipt", "--key and --socket exclude each other (--key asks no daemon)");
	return verify(argv[optind + 1], key, sock);
}

void sl_help_receipt(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s receipt - check a delivery receipt\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s receipt verify FILE [--key HEX]\n"
		"    %1$s receipt verify FILE [--socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    When an envelope is delivered, the recipient's sealined returns a\n"
		"    receipt: eleven lines of text naming the envelope (its id, the\n"
		"    SHA-256 and size of the envelope as sealed), the sender's and\n"
		"    recipient's accounts, the time of delivery and the files and bytes\n"
		"    unpacked, signed with the recipient's Ed25519 identity key. Unlike\n"
		"    a checksum it convinces anyone who holds the recipient's public\n"
		"    key, not just the two ends. '%1$s outbox receipt ID' prints one.\n"
		"\n"
		"    verify checks FILE (- for standard input): its exact form, and its\n"
		"    signature under the recipient's key, which is the one given with\n"
		"    --key, or else the one this sealined knows for the recipient: its\n"
		"    own (a receipt it gave) or the key it learnt from that peer's first\n"
		"    receipt over an authenticated session. It prints what the receipt\n"
		"    states. To check a receipt anywhere else, give --key: the\n"
		"    recipient's receipt_key, as its 'sealctl status' shows it.\n"
		"\n"
		"OPTIONS\n"
		"    -k, --key HEX\n"
		"        The recipient's Ed25519 public key, 64 hex digits; no daemon\n"
		"        is asked.\n"
		"    -s, --socket PATH\n"
		"        sealined's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 the receipt verifies; 1 it does not (malformed, a bad\n"
		"    signature, signed by another key), FILE cannot be read, or the\n"
		"    key is not known; 2 on a usage error.\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET);
}
