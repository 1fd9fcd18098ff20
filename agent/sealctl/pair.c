// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl pair: the operator's side of a pairing (handshake.rst, "Pairing").
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

/* ------------------------------------------------------------ pair */

/* A line from the operator, without its '\n'; false at end of input. */
static bool ask(const char *prompt, char *buf, size_t size)
{
	size_t n;

	fputs(prompt, stdout);
	fflush(stdout);
	if (!fgets(buf, (int)size, stdin))
		return false;
	n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = '\0';
	return true;
}

/* Ask the operator for the code and send it; sealined checks it. */
static int send_typed_sas(struct sl_conn *c, const struct sl_ipc_record *rec)
{
	char answer[128], request[160], prompt[160];
	unsigned long left = strtoul(sl_get(rec, "attempts", "3"), NULL, 10);

	snprintf(prompt, sizeof(prompt),
		 "Type the code the other operator reads to you (%lu %s, %s s left): ",
		 left, left == 1 ? "try" : "tries", sl_get(rec, "seconds", "?"));
	if (!ask(prompt, answer, sizeof(answer)))
		return -EPIPE;
	/* One word: sealined ignores blanks and dashes inside a code. */
	for (char *p = answer; *p; ++p)
		if (*p == ' ' || *p == '\t')
			*p = '-';
	snprintf(request, sizeof(request), "sas %s", answer[0] ? answer : "-");
	return sl_ipc_write_request(c->fd, request);
}

/* The other side's claimed identity, before any code. */
static void show_peer(const struct sl_ipc_record *rec)
{
	printf("The other side claims account %s, key fingerprint %s.\n",
	       sl_get(rec, "peer", "?"), sl_get(rec, "fingerprint", "?"));
}

/* "waiting" records: what the pairing waits for, and how long. */
static void show_waiting(const struct sl_ipc_record *rec, const char *tty)
{
	const char *reason = sl_get(rec, "reason", "start");
	unsigned long s = strtoul(sl_get(rec, "seconds", "0"), NULL, 10);
	char left[32];

	if (s >= 120)
		snprintf(left, sizeof(left), "%lu min", (s + 30) / 60);
	else
		snprintf(left, sizeof(left), "%lu s", s);
	if (!strcmp(reason, "not-armed"))
		printf("The other side answers, but its operator has not started pairing yet. Still waiting (%s left).\n",
		       left);
	else if (!strcmp(reason, "no-answer"))
		printf("Nothing answers on %s yet: is the other side's sealined running and its line attached? Still waiting (%s left).\n",
		       tty, left);
	else
		printf("Waiting up to %s for the other side. Its operator must run `sealctl pair` on their line now.\n",
		       left);
}

int sl_cmd_pair(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "replace", no_argument, NULL, 'r' },
		{ "wait", required_argument, NULL, 'w' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *sock = NULL;
	char request[SL_IPC_MAX_LINE], answer[256], *end;
	unsigned long wait = 0;
	bool replace = false, typing = false;
	struct sl_line_ref ref;
	struct sl_conn c;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":rw:s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			replace = true;
			break;
		case 'w':
			errno = 0;
			wait = strtoul(optarg, &end, 10);
			if (errno || *end || !wait || optarg[0] == '-' ||
			    wait > SL_IPC_PAIR_WAIT_MAX_S)
				return sl_usage_error("pair", "--wait takes 1 to %d seconds, not '%s'",
						      SL_IPC_PAIR_WAIT_MAX_S, optarg);
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			sl_help_pair(stdout);
			return SL_EXIT_OK;
		default:
			return sl_option_error("pair", opt, argv);
		}
	}
	if (optind >= argc)
		return sl_usage_error("pair", "missing LINE");
	if (argc - optind > 1)
		return sl_usage_error("pair", "too many arguments");
	ret = sl_client_line("pair", argv[optind], &ref);
	if (ret)
		return ret;

	/* An operator reads this as it happens, also through a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = sl_conn_open(&c, "pair", sl_client_socket(sock));
	if (ret)
		return ret;
	ret = snprintf(request, sizeof(request), "pair %s%s", ref.tty,
		       replace ? " replace" : "");
	if (wait)
		snprintf(request + ret, sizeof(request) - (size_t)ret,
			 " wait=%lu", wait);
	ret = sl_ipc_write_request(c.fd, request);
	if (ret) {
		sl_conn_close(&c);
		return sl_failure("pair: cannot send to sealined: %s", strerror(-ret));
	}
	for (;;) {
		struct sl_ipc_record rec;
		char *line;

		/* A pairing waits for people: no timeout here; the daemon
		 * ends it (--wait, then the time to decide on the code). */
		ret = sl_ipc_read_line(&c.r, &line, -1);
		if (ret) {
			sl_conn_close(&c);
			return sl_failure("pair: %s", ret == -EPIPE ?
					  "sealined closed the connection" :
					  strerror(-ret));
		}
		if (sl_ipc_parse_record(line, &rec)) {
			sl_conn_close(&c);
			return sl_failure("pair: malformed answer from sealined");
		}
		if (!strcmp(rec.type, "err")) {
			sl_conn_close(&c);
			return sl_failure("pair: %s", rec.text);
		}
		if (!strcmp(rec.type, "ok")) {
			printf("Paired with %s. The long-term key is stored on both sides.\n",
			       sl_get(&rec, "peer", "the peer"));
			sl_conn_close(&c);
			return sl_finish_output("pair");
		}
		if (!strcmp(rec.type, "info")) {
			printf("%s\n", sl_get(&rec, "text", ""));
		} else if (!strcmp(rec.type, "waiting")) {
			show_waiting(&rec, ref.tty);
		} else if (!strcmp(rec.type, "sas")) {
			char prompt[160];
			bool yes;

			show_peer(&rec);
			printf("Code: %s\n", sl_get(&rec, "code", "?????"));
			snprintf(prompt, sizeof(prompt),
				 "Read the code to the other operator. Answer y when they say it is correct (%s s left) [y/N]: ",
				 sl_get(&rec, "seconds", "?"));
			yes = ask(prompt, answer, sizeof(answer)) &&
			      (!strcasecmp(answer, "y") || !strcasecmp(answer, "yes"));
			snprintf(request, sizeof(request), "confirm %s",
				 yes ? "yes" : "no");
			ret = sl_ipc_write_request(c.fd, request);
		} else if (!strcmp(rec.type, "ask-sas")) {
			if (!typing)
				show_peer(&rec);
			else
				printf("That is not the code this side computed. Ask the other operator to read it again.\n");
			typing = true;
			ret = send_typed_sas(&c, &rec);
		} else if (!strcmp(rec.type, "matched")) {
			typing = false;
			printf("The code matches. Tell the other operator it is correct; waiting for them to confirm.\n");
		} else if (!strcmp(rec.type, "invalid")) {
			printf("sealined: %s\n", sl_get(&rec, "text", "refused"));
			/* A code sealined could not read: type it again. */
			if (typing)
				ret = send_typed_sas(&c, &rec);
		}
		if (ret) {
			sl_conn_close(&c);
			return sl_failure("pair: cannot send to sealined: %s",
					  strerror(-ret));
		}
	}
}

void sl_help_pair(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s pair - pair this installation with the one at the other end of a line\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s pair LINE [--replace] [--wait SECONDS] [--socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    Both operators run this, on their own machines, while they talk on the\n"
		"    phone, in either order or at the same time. The first one waits for the\n"
		"    other (up to --wait). Then the pairing runs a fresh key exchange over\n"
		"    LINE; both screens show the account and key fingerprint the other side\n"
		"    claims, one side shows a 5-character code to read aloud, the other\n"
		"    types what it hears (3 tries). The long-term key is stored on both\n"
		"    sides only when the code matches and both confirm.\n"
		"\n"
		"    The line is ready to pair only while this command runs: when it ends\n"
		"    (Ctrl-C included), nothing is armed any more and a pairing in progress\n"
		"    is refused. Codes that differ after 3 tries, or a key that does not\n"
		"    match its commitment, are what a man in the middle causes: nothing is\n"
		"    stored and both sides log an alert. A timeout or a refusal is not an\n"
		"    alert.\n"
		"\n"
		"    Which side shows the code follows from the line's role (sealined.conf:\n"
		"    role; on a call, the caller shows it); with role = auto, the protocol\n"
		"    decides.\n"
		"\n"
		"    It needs a sealined with a handshake implementation; one without says\n"
		"    so and exits 1.\n"
		"\n"
		"OPTIONS\n"
		"    -r, --replace\n"
		"        The other side's account has a stored pairing here already (or was\n"
		"        revoked): replace it with this pairing's key (and authorise it\n"
		"        again). Without this option such a pairing is refused before any\n"
		"        code is shown, and both sides say why.\n"
		"    -w, --wait SECONDS\n"
		"        How long to wait for the other side to start (default 600, at most\n"
		"        %3$d). Once a code is shown, each side has 180 s to decide.\n"
		"    -s, --socket PATH\n"
		"        The daemon's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 when paired, 1 when the pairing failed, was refused or timed out, 2\n"
		"    on a usage error.\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET, SL_IPC_PAIR_WAIT_MAX_S);
}
