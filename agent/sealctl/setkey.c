// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl set-key, activate, clear-keys: installing session keys by hand.
 *
 * sealined does this itself after each handshake; these commands exist for
 * tests, for bring-up, and for lines keyed out of band. Key material lives
 * in two stack buffers and in the request message, and is wiped from both
 * on every path out of set-key.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <netlink/attr.h>

#include "keyfile.h"
#include "names.h"
#include "sealctl.h"

/* Constant time: both are secrets. */
static bool keys_equal(const uint8_t a[SEALINE_KEY_LEN],
		       const uint8_t b[SEALINE_KEY_LEN])
{
	uint8_t diff = 0;
	size_t i;

	for (i = 0; i < SEALINE_KEY_LEN; ++i)
		diff |= a[i] ^ b[i];
	return !diff;
}

static const char *file_name(const char *path)
{
	return strcmp(path, "-") ? path : "standard input";
}

static int read_key(const char *cmd, const char *which, const char *path,
		    uint8_t key[SEALINE_KEY_LEN])
{
	struct sl_key_file_info info;
	char why[160];

	if (sl_key_read(path, key, &info, why, sizeof(why)))
		return sl_failure("%s: %s key file %s: %s", cmd, which,
				  file_name(path), why);
	if (info.others_can_read)
		sl_warning("%s key file %s is readable by group or others (mode %04o); 'chmod 600' it",
			   which, path, info.mode);
	return 0;
}

/* ACTIVATE_KEY or CLEAR_KEYS: a line, maybe an epoch, no reply but the ack. */
static int put_epoch(struct nl_msg *msg, const void *epoch)
{
	return nla_put_u32(msg, SEALINE_A_KEY_EPOCH,
			   *(const uint32_t *)epoch) < 0;
}

static int send_set_key(struct sl_nl *nl, const struct sl_line_ref *line,
			uint8_t cipher, uint32_t epoch,
			const uint8_t tx[SEALINE_KEY_LEN],
			const uint8_t rx[SEALINE_KEY_LEN])
{
	struct nl_msg *msg = sl_nl_new_request(nl, SEALINE_CMD_SET_KEY, 0);

	if (!msg)
		return -ENOMEM;
	if (sl_nl_put_line(msg, line) ||
	    nla_put_u8(msg, SEALINE_A_CIPHER, cipher) < 0 ||
	    nla_put_u32(msg, SEALINE_A_KEY_EPOCH, epoch) < 0 ||
	    nla_put(msg, SEALINE_A_KEY_TX, SEALINE_KEY_LEN, tx) < 0 ||
	    nla_put(msg, SEALINE_A_KEY_RX, SEALINE_KEY_LEN, rx) < 0) {
		sl_nl_free_msg(msg);
		return -EMSGSIZE;
	}
	/* Consumes and wipes msg. */
	return sl_nl_request(nl, msg, NULL, NULL);
}

int sl_cmd_set_key(int argc, char *argv[])
{
	static const char cmd[] = "set-key";
	static const struct option longopts[] = {
		{ "epoch", required_argument, NULL, 'e' },
		{ "cipher", required_argument, NULL, 'c' },
		{ "tx", required_argument, NULL, 't' },
		{ "rx", required_argument, NULL, 'r' },
		{ "activate", no_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint8_t cipher = SEALINE_CIPHER_CHACHA20POLY1305;
	uint8_t tx[SEALINE_KEY_LEN], rx[SEALINE_KEY_LEN];
	const char *tx_path = NULL, *rx_path = NULL;
	bool have_epoch = false, activate = false;
	struct sl_line_ref line;
	const char *line_arg;
	uint32_t epoch = 0;
	struct sl_nl nl;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":e:c:t:r:ah", longopts, NULL)) != -1) {
		switch (opt) {
		case 'e':
			ret = sl_parse_u32(cmd, "epoch", optarg, &epoch);
			if (ret)
				return ret;
			have_epoch = true;
			break;
		case 'c':
			if (sl_cipher_parse(optarg, &cipher))
				return sl_usage_error(cmd,
						      "unknown cipher '%s' (chacha20poly1305 or aes256gcm)",
						      optarg);
			break;
		case 't':
			tx_path = optarg;
			break;
		case 'r':
			rx_path = optarg;
			break;
		case 'a':
			activate = true;
			break;
		case 'h':
			sl_help_set_key(stdout);
			return SL_EXIT_OK;
		default:
			return sl_option_error(cmd, opt, argv);
		}
	}
	if (optind >= argc)
		return sl_usage_error(cmd, "missing LINE");
	if (argc - optind > 1)
		return sl_usage_error(cmd,
				      "too many arguments (keys are read from files given with --tx and --rx, never from the command line)");
	line_arg = argv[optind];
	ret = sl_parse_line(cmd, line_arg, &line);
	if (ret)
		return ret;
	if (!have_epoch)
		return sl_usage_error(cmd, "missing --epoch N");
	if (!tx_path || !rx_path)
		return sl_usage_error(cmd, "missing --%s FILE", tx_path ? "rx" : "tx");
	if (!strcmp(tx_path, "-") && !strcmp(rx_path, "-"))
		return sl_usage_error(cmd,
				      "--tx and --rx cannot both be '-': only one key can come from standard input");

	/* No core dump and no same-user ptrace while keys are in memory. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	ret = read_key(cmd, "tx", tx_path, tx);
	if (ret)
		goto out_wipe;
	ret = read_key(cmd, "rx", rx_path, rx);
	if (ret)
		goto out_wipe;
	/* Each direction counts its nonces from the same start: one key for
	 * both would encrypt two streams under the same key and nonce. */
	if (keys_equal(tx, rx)) {
		ret = sl_failure("%s: the tx and rx keys are the same; each direction needs its own key",
				 cmd);
		goto out_wipe;
	}

	ret = sl_connect(&nl, cmd);
	if (ret)
		goto out_wipe;
	ret = send_set_key(&nl, &line, cipher, epoch, tx, rx);
	explicit_bzero(tx, sizeof(tx));
	explicit_bzero(rx, sizeof(rx));
	if (ret) {
		ret = sl_kernel_error(&nl, cmd, line_arg, ret);
		goto out_close;
	}
	if (nl.ext_msg[0])
		sl_warning("%s %s: kernel: %s", cmd, line_arg, nl.ext_msg);

	if (activate) {
		ret = sl_line_request(&nl, SEALINE_CMD_ACTIVATE_KEY, &line,
				      put_epoch, &epoch);
		if (ret) {
			sl_kernel_error(&nl, cmd, line_arg, ret);
			fprintf(stderr,
				"%s: the key with epoch %u is staged on %s but not active\n",
				sl_prog, epoch, line_arg);
			ret = SL_EXIT_FAILURE;
			goto out_close;
		}
	}
	ret = SL_EXIT_OK;

out_close:
	sl_nl_close(&nl);
out_wipe:
	explicit_bzero(tx, sizeof(tx));
	explicit_bzero(rx, sizeof(rx));
	return ret;
}

static int epoch_command(int argc, char *argv[], const char *cmd, uint8_t nlcmd,
			 bool wants_epoch, void (*help)(FILE *))
{
	static const struct option with_epoch[] = {
		{ "epoch", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static const struct option without_epoch[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool have_epoch = false;
	struct sl_line_ref line;
	const char *line_arg;
	uint32_t epoch = 0;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, wants_epoch ? ":e:h" : ":h",
				  wants_epoch ? with_epoch : without_epoch,
				  NULL)) != -1) {
		switch (opt) {
		case 'e':
			ret = sl_parse_u32(cmd, "epoch", optarg, &epoch);
			if (ret)
				return ret;
			have_epoch = true;
			break;
		case 'h':
			help(stdout);
			return SL_EXIT_OK;
		default:
			return sl_option_error(cmd, opt, argv);
		}
	}
	if (optind >= argc)
		return sl_usage_error(cmd, "missing LINE");
	if (argc - optind > 1)
		return sl_usage_error(cmd, "too many arguments");
	line_arg = argv[optind];
	ret = sl_parse_line(cmd, line_arg, &line);
	if (ret)
		return ret;
	if (wants_epoch && !have_epoch)
		return sl_usage_error(cmd, "missing --epoch N");

	return sl_line_command(cmd, line_arg, &line, nlcmd,
			       wants_epoch ? put_epoch : NULL, &epoch);
}

int sl_cmd_activate(int argc, char *argv[])
{
	return epoch_command(argc, argv, "activate", SEALINE_CMD_ACTIVATE_KEY,
			     true, sl_help_activate);
}

int sl_cmd_clear_keys(int argc, char *argv[])
{
	return epoch_command(argc, argv, "clear-keys", SEALINE_CMD_CLEAR_KEYS,
			     false, sl_help_clear_keys);
}

void sl_help_set_key(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s set-key - stage a session key pair on a line\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s set-key LINE --epoch N --tx FILE --rx FILE\n"
		"                  [--cipher chacha20poly1305|aes256gcm] [--activate]\n"
		"\n"
		"DESCRIPTION\n"
		"    Install a pair of 256-bit keys as the line's next (staged) key: one\n"
		"    for the frames this side sends (--tx) and one for the frames it\n"
		"    receives (--rx). The peer installs the same two keys swapped. From now\n"
		"    on the line accepts frames under the staged key; it starts sending\n"
		"    under it when the key is activated (see activate) or when the peer's\n"
		"    first authenticated frame under it arrives, so a rekey loses no byte.\n"
		"    A key already staged is replaced and wiped.\n"
		"\n"
		"    Keys are read from files, never from the command line. Each file holds\n"
		"    one key as 64 hex digits (upper or lower case); whitespace and newlines\n"
		"    around it are ignored, anything else is an error. FILE '-' is standard\n"
		"    input, for at most one of the two keys. A warning is printed when a key\n"
		"    file is readable by group or others. The two keys must differ.\n"
		"\n"
		"OPTIONS\n"
		"    -e, --epoch N\n"
		"        Number of this key (0 to 4294967295), chosen by whoever installs\n"
		"        keys; both ends must use the same. Its low 4 bits travel in every\n"
		"        frame and must differ from those of the current and previous keys.\n"
		"        Required.\n"
		"    -t, --tx FILE\n"
		"        Key for frames this side sends. Required.\n"
		"    -r, --rx FILE\n"
		"        Key for frames this side receives. Required.\n"
		"    -c, --cipher NAME\n"
		"        chacha20poly1305 (ChaCha20-Poly1305, RFC 8439; the default) or\n"
		"        aes256gcm (AES-256-GCM).\n"
		"    -a, --activate\n"
		"        Activate the key right after staging it (as 'activate LINE\n"
		"        --epoch N').\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success; 1 if a key file is unreadable or malformed, the keys are\n"
		"    equal, the module is not loaded, or the kernel refused (unknown line,\n"
		"    epoch clash, no CAP_NET_ADMIN); 2 on a usage error.\n"
		"\n"
		"EXAMPLES\n"
		"    umask 077\n"
		"    %1$s genkey > a2b.key; %1$s genkey > b2a.key\n"
		"    %1$s set-key ttyS1 --epoch 1 --tx a2b.key --rx b2a.key --activate\n"
		"        (and on the other end: --tx b2a.key --rx a2b.key)\n"
		"    %1$s genkey | tee next.key | %1$s set-key ttySL0 --epoch 2 --tx - --rx rx.key\n",
		sl_prog);
}

void sl_help_activate(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s activate - make a line's staged key its current key\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s activate LINE --epoch N\n"
		"\n"
		"DESCRIPTION\n"
		"    Promote the key staged with set-key to current. The old current key\n"
		"    becomes the previous key (still accepted on receive, so frames in\n"
		"    flight are not lost), the old previous key is wiped, and a keepalive\n"
		"    under the new key tells the peer to switch too. The epoch guards\n"
		"    against activating a different key than the one meant.\n"
		"\n"
		"OPTIONS\n"
		"    -e, --epoch N\n"
		"        Epoch of the staged key. Required.\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success; 1 if nothing is staged, the staged key has another\n"
		"    epoch, the line is unknown, the module is not loaded or CAP_NET_ADMIN\n"
		"    is missing; 2 on a usage error.\n"
		"\n"
		"EXAMPLE\n"
		"    %1$s activate ttyS1 --epoch 2\n",
		sl_prog);
}

void sl_help_clear_keys(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s clear-keys - wipe every key of a line\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s clear-keys LINE\n"
		"\n"
		"DESCRIPTION\n"
		"    Wipe the current, staged and previous keys of the line. The line fails\n"
		"    closed: writes to its virtual tty block and nothing reaches the wire\n"
		"    until a key is activated again.\n"
		"\n"
		"OPTIONS\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success; 1 if the line is unknown, the module is not loaded or\n"
		"    CAP_NET_ADMIN is missing; 2 on a usage error.\n"
		"\n"
		"EXAMPLE\n"
		"    %1$s clear-keys /dev/ttyS1\n",
		sl_prog);
}
