// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl: the command-line tool for the sealine line discipline.
 *
 * This file holds the command table, global help and the helpers every
 * command uses to parse arguments and report errors in one voice. Each
 * command lives in its own file (show.c, keys.c, genkey.c, monitor.c).
 *
 * Exit status is a contract with scripts: 0 success, 1 the operation failed
 * (kernel refusal, module missing, bad key file), 2 the command line itself
 * is wrong. Arguments are always checked completely before the kernel is
 * asked anything, so a usage error never half-applies a command.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "sealctl.h"
#include "version.h"

const char *sl_prog = "sealctl";

/* tspctl.c */
int sl_cmd_tsp(int argc, char *argv[]);
void sl_help_tsp(FILE *f);

static const struct sl_command commands[] = {
	{ "show", sl_cmd_show, sl_help_show,
	  "show [LINE [FIELD]] [--json]",
	  "show attached lines, one line, or one value of a line" },
	{ "genkey", sl_cmd_genkey, sl_help_genkey,
	  "genkey",
	  "print a fresh random 256-bit key as 64 hex digits" },
	{ "set-key", sl_cmd_set_key, sl_help_set_key,
	  "set-key LINE --epoch N --tx FILE --rx FILE [--cipher C] [--activate]",
	  "stage a session key pair on a line (optionally activate it)" },
	{ "activate", sl_cmd_activate, sl_help_activate,
	  "activate LINE --epoch N",
	  "make the staged key of a line its current key" },
	{ "clear-keys", sl_cmd_clear_keys, sl_help_clear_keys,
	  "clear-keys LINE",
	  "wipe every key of a line (it fails closed)" },
	{ "set-line", sl_cmd_set_line, sl_help_set_line,
	  "set-line LINE [--mode reliable|datagram] [--dead-time SECONDS]",
	  "set a line's mode (reliable or datagram) and dead time" },
	{ "monitor", sl_cmd_monitor, sl_help_monitor,
	  "monitor [LINE] [--json]",
	  "print kernel events (line up/down, rekey needed, key expired)" },
	{ "status", sl_cmd_status, sl_help_status,
	  "status [--json] [--socket PATH]",
	  "what the daemon reports about itself and its lines" },
	{ "peers", sl_cmd_peers, sl_help_peers,
	  "peers [list|authorise ACCOUNT|revoke ACCOUNT|forget ACCOUNT|name ACCOUNT [NAME]] [--json]",
	  "list or change sealined's peers (authorised, revoked, forgotten)" },
	{ "log", sl_cmd_log, sl_help_log,
	  "log [--sent|--received] [--json] [-n COUNT] [--socket PATH | --file PATH]",
	  "sealined's session log, or the courier's send or receive log" },
	{ "pair", sl_cmd_pair, sl_help_pair,
	  "pair LINE [--socket PATH]",
	  "pair with the other end of a line, comparing a spoken code" },
	{ "call", sl_cmd_call, sl_help_call,
	  "call ACCOUNT [LINE] [--socket PATH]",
	  "call another account through the TSP on a dial-up line" },
	{ "hangup", sl_cmd_hangup, sl_help_hangup,
	  "hangup LINE [--socket PATH]",
	  "end the call on a dial-up line" },
	{ "send", sl_cmd_send, sl_help_send,
	  "send --to ACCOUNT [--line LINE | --call] [--wait] FILE...",
	  "send files to an account, sealed end to end, with a receipt" },
	{ "outbox", sl_cmd_outbox, sl_help_outbox,
	  "outbox [list|cancel ID|retry ID|receipt ID] [--json]",
	  "envelopes being delivered and what became of them" },
	{ "inbox", sl_cmd_inbox, sl_help_inbox,
	  "inbox [list|show ID] [--json]",
	  "envelopes received, and the files of one" },
	{ "receipt", sl_cmd_receipt, sl_help_receipt,
	  "receipt verify FILE [--key HEX]",
	  "check a delivery receipt's signature" },
	{ "tsp", sl_cmd_tsp, sl_help_tsp,
	  "tsp [--db STORE] accounts|cdr|migrate ...",
	  "the TSP's account store and call records (billing export)" },
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void global_help(FILE *f)
{
	size_t i;

	fprintf(f,
		"Usage: %s COMMAND [ARGUMENTS...]\n"
		"       %s --help | --version\n"
		"       %s help [COMMAND]\n"
		"\n"
		"sealctl controls the sealine line discipline (sealine.ko), which frames,\n"
		"encrypts and authenticates every byte on a serial line and offers the clear\n"
		"text on a virtual tty /dev/ttySL<n> per attached line. sealctl shows the\n"
		"lines, installs and activates their session keys, and follows the events\n"
		"the kernel reports. It talks to the module over generic netlink (family\n"
		"\"%s\", version %d); show, set-key, activate, clear-keys, set-line and monitor\n"
		"need "
		"CAP_NET_ADMIN. status, peers, log, pair, call, hangup and the courier's\n"
		"commands (send, outbox, inbox) talk to the keying agent\n"
		"sealined over its control socket (root only; --socket or $SEALINE_SOCKET\n"
		"name another instance's).\n"
		"\n"
		"Commands:\n",
		sl_prog, sl_prog, sl_prog, SEALINE_GENL_NAME, SEALINE_GENL_VERSION);
	for (i = 0; i < N_COMMANDS; ++i)
		fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
	fprintf(f,
		"  %-11s %s\n"
		"\n"
		"Synopsis:\n",
		"help", "show this help, or a command's");
	for (i = 0; i < N_COMMANDS; ++i)
		fprintf(f, "  %s %s\n", sl_prog, commands[i].synopsis);
	fprintf(f,
		"\n"
		"LINE names an attached line by its physical tty (ttyS1, /dev/ttyS1, or a\n"
		"symlink to it such as /dev/serial/by-id/...) or by its clear-text virtual\n"
		"tty (ttySL0, /dev/ttySL0).\n"
		"\n"
		"Keys are never taken from the command line (every user can read it): they\n"
		"are read from files or standard input, as 64 hex digits.\n"
		"\n"
		"Exit status:\n"
		"  0  success\n"
		"  1  failure: the module is not loaded, the kernel refused the request,\n"
		"     a key file is unreadable or malformed, ...\n"
		"  2  usage error: unknown command or option, missing or malformed argument\n"
		"\n"
		"Run '%s COMMAND --help' (or '%s help COMMAND') for a command's manual.\n",
		sl_prog, sl_prog);
}

static const struct sl_command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < N_COMMANDS; ++i) {
		if (!strcmp(name, commands[i].name))
			return &commands[i];
	}
	return NULL;
}

static int cmd_help(int argc, char *argv[])
{
	const struct sl_command *cmd;

	if (argc < 2) {
		global_help(stdout);
		return SL_EXIT_OK;
	}
	if (argc > 2)
		return sl_usage_error(NULL, "help takes at most one command");
	cmd = find_command(argv[1]);
	if (!cmd)
		return sl_usage_error(NULL, "unknown command '%s'", argv[1]);
	cmd->help(stdout);
	return SL_EXIT_OK;
}

/* Print "sealctl [CMD]: message" and a pointer to the help; exit code 2. */
int sl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s%s%s: ", sl_prog, cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd)
		fprintf(stderr, "\nTry '%s %s --help'.\n", sl_prog, cmd);
	else
		fprintf(stderr, "\nTry '%s --help'.\n", sl_prog);
	return SL_EXIT_USAGE;
}

/* Print "sealctl: message"; exit code 1. */
int sl_failure(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", sl_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return SL_EXIT_FAILURE;
}

void sl_warning(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: warning: ", sl_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * A table cell of at least WIDTH columns for a UTF-8 string: printf's %-*s
 * pads by bytes, so "Müller GmbH" would leave the columns after it one
 * short. Counts code points (bytes that do not continue a sequence).
 */
void sl_print_column(const char *s, int width)
{
	const unsigned char *p;
	int cols = 0;

	for (p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xc0) != 0x80)
			cols++;
	fputs(s, stdout);
	for (; cols < width; cols++)
		putchar(' ');
}

/*
 * getopt_long() returned '?' or ':' (every option string starts with ':'
 * and opterr is 0, so the messages are ours).
 */
int sl_option_error(const char *cmd, int opt, char *argv[])
{
	const char *arg = argv[optind - 1];

	if (opt == ':')
		return sl_usage_error(cmd, "option '%s' needs an argument", arg);
	if (optopt && strncmp(arg, "--", 2))
		return sl_usage_error(cmd, "unknown option '-%c'", optopt);
	return sl_usage_error(cmd, "unknown option '%s'", arg);
}

/*
 * The options most commands take: --json (if json is not NULL),
 * --socket (if sock is not NULL), --help; and at most max_args
 * arguments. 0, -1 after --help, or an exit status after a usage error.
 */
int sl_common_options(int argc, char *argv[], const char *cmd,
		      void (*help)(FILE *), bool *json, const char **sock,
		      int max_args)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":js:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'j':
			if (!json)
				return sl_usage_error(cmd, "--json does not apply to %s",
						      cmd);
			*json = true;
			break;
		case 's':
			if (!sock)
				return sl_usage_error(cmd, "--socket does not apply to %s (it talks to the kernel)",
						      cmd);
			*sock = optarg;
			break;
		case 'h':
			help(stdout);
			return -1;
		default:
			return sl_option_error(cmd, opt, argv);
		}
	}
	if (argc - optind > max_args)
		return sl_usage_error(cmd, "too many arguments");
	return 0;
}

int sl_parse_line(const char *cmd, const char *arg, struct sl_line_ref *line)
{
	int ret = sl_line_parse(arg, line);

	if (ret == -ERANGE)
		return sl_usage_error(cmd, "line '%s': index out of range", arg);
	if (ret == -ENAMETOOLONG)
		return sl_usage_error(cmd, "line '%s': name too long (at most %d characters)",
				      arg, SEALINE_TTY_NAME_MAX - 1);
	if (ret)
		return sl_usage_error(cmd,
				      "'%s' is not a line: name a tty (ttyS1, /dev/ttyS1) or a virtual tty (ttySL0)",
				      arg);
	return 0;
}

/* A plain decimal u32: no sign, no spaces, no trailing junk. */
int sl_parse_u32(const char *cmd, const char *what, const char *arg,
		 uint32_t *out)
{
	unsigned long long v;
	char *end;

	if (!arg[0] || arg[0] < '0' || arg[0] > '9')
		goto bad;
	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || *end || v > UINT32_MAX)
		goto bad;
	*out = (uint32_t)v;
	return 0;
bad:
	return sl_usage_error(cmd, "%s '%s' is not a number from 0 to %u", what,
			      arg, UINT32_MAX);
}

/* Open the netlink socket; on failure say why and return exit code 1. */
int sl_connect(struct sl_nl *nl, const char *cmd)
{
	int ret = sl_nl_open(nl);

	if (ret)
		return sl_failure("%s: %s", cmd, sl_nl_strerror(ret));
	if (nl->family_version != SEALINE_GENL_VERSION)
		sl_warning("the sealine module speaks netlink version %u, this %s was built for version %d",
			   nl->family_version, sl_prog, SEALINE_GENL_VERSION);
	return 0;
}

/* Report a failed request on @line (may be NULL); returns exit code 1. */
int sl_kernel_error(struct sl_nl *nl, const char *cmd, const char *line,
		    int err)
{
	return sl_failure("%s%s%s: %s%s%s%s", cmd, line ? " " : "",
			  line ? line : "", sl_nl_strerror(err),
			  nl->ext_msg[0] ? " (kernel: " : "", nl->ext_msg,
			  nl->ext_msg[0] ? ")" : "");
}

/*
 * Sends @nlcmd about @line with what @put (may be NULL) adds after the
 * line's attributes; returns 0 or a negative errno.
 */
int sl_line_request(struct sl_nl *nl, uint8_t nlcmd,
		    const struct sl_line_ref *line,
		    int (*put)(struct nl_msg *msg, const void *ctx),
		    const void *ctx)
{
	struct nl_msg *msg = sl_nl_new_request(nl, nlcmd, 0);

	if (!msg)
		return -ENOMEM;
	if (sl_nl_put_line(msg, line) || (put && put(msg, ctx))) {
		sl_nl_free_msg(msg);
		return -EMSGSIZE;
	}
	return sl_nl_request(nl, msg, NULL, NULL);
}

/*
 * A command that is one request about one line (activate, clear-keys,
 * set-line): connects, sends it, reports the kernel's error or warning
 * against @line_arg as the user wrote it. Returns an exit code.
 */
int sl_line_command(const char *cmd, const char *line_arg,
		    const struct sl_line_ref *line, uint8_t nlcmd,
		    int (*put)(struct nl_msg *msg, const void *ctx),
		    const void *ctx)
{
	struct sl_nl nl;
	int ret = sl_connect(&nl, cmd);

	if (ret)
		return ret;
	ret = sl_line_request(&nl, nlcmd, line, put, ctx);
	if (ret)
		ret = sl_kernel_error(&nl, cmd, line_arg, ret);
	else if (nl.ext_msg[0])
		sl_warning("%s %s: kernel: %s", cmd, line_arg, nl.ext_msg);
	sl_nl_close(&nl);
	return ret ? SL_EXIT_FAILURE : SL_EXIT_OK;
}

int main(int argc, char *argv[])
{
	const struct sl_command *cmd;

	if (argc < 2) {
		fprintf(stderr, "Usage: %s COMMAND [ARGUMENTS...]\n"
			"Commands: show, genkey, set-key, activate, clear-keys, set-line, monitor,\n"
			"          status, peers, log, pair, call, hangup, send, outbox, inbox,\n"
			"          receipt, tsp, help.\n"
			"Try '%s --help'.\n", sl_prog, sl_prog);
		return SL_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		global_help(stdout);
		return SL_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("sealctl %s (generic netlink family \"%s\" version %d)\n",
		       SEALINE_VERSION, SEALINE_GENL_NAME, SEALINE_GENL_VERSION);
		return SL_EXIT_OK;
	}
	if (!strcmp(argv[1], "help"))
		return cmd_help(argc - 1, argv + 1);
	if (argv[1][0] == '-')
		return sl_usage_error(NULL, "unknown option '%s' (options come after the command)",
				      argv[1]);
	cmd = find_command(argv[1]);
	if (!cmd)
		return sl_usage_error(NULL, "unknown command '%s'", argv[1]);
	return cmd->run(argc - 1, argv + 1);
}
