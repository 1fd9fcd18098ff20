// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The sealctl commands that talk to sealined over its control socket
 * (ipc.h): status, peers, log and pair. The session log can also be read
 * straight from its file (log --file), without a running daemon.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "json.h"
#include "sealctl.h"
#include "sessionlog.h"

/* Where the daemon listens, unless --socket or $SEALINE_SOCKET says. */
static const char *socket_path(const char *opt)
{
	const char *env = getenv("SEALINE_SOCKET");

	if (opt)
		return opt;
	if (env && *env)
		return env;
	return SL_CONF_DEFAULT_SOCKET;
}

struct conn {
	const char *cmd;
	int fd;
	struct sl_ipc_reader r;
};

static int conn_open(struct conn *c, const char *cmd, const char *path)
{
	char err[512];

	c->cmd = cmd;
	c->fd = sl_ipc_connect(path, err, sizeof(err));
	if (c->fd < 0)
		return sl_failure("%s: %s", cmd, err);
	memset(&c->r, 0, sizeof(c->r));
	c->r.fd = c->fd;
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Records of the response go to fn; returns the exit code. */
typedef int (*record_fn)(struct sl_ipc_record *rec, void *arg);

static int call(struct conn *c, const char *request, record_fn fn, void *arg,
		struct sl_ipc_record *final, char *final_buf, size_t final_len)
{
	int ret = sl_ipc_write_request(c->fd, request);

	if (ret)
		return sl_failure("%s: cannot send to sealined: %s", c->cmd,
				  strerror(-ret));
	for (;;) {
		struct sl_ipc_record rec;
		char *line;

		ret = sl_ipc_read_line(&c->r, &line, 30000);
		if (ret == -ETIMEDOUT)
			return sl_failure("%s: sealined did not answer within 30 s",
					  c->cmd);
		if (ret == -EPIPE)
			return sl_failure("%s: sealined closed the connection",
					  c->cmd);
		if (ret)
			return sl_failure("%s: reading from sealined: %s", c->cmd,
					  strerror(-ret));
		/* The final "ok" is kept (its pairs point into it). */
		if (final_buf && !strncmp(line, "ok", 2) &&
		    (line[2] == ' ' || !line[2])) {
			snprintf(final_buf, final_len, "%s", line);
			line = final_buf;
		}
		if (sl_ipc_parse_record(line, &rec))
			return sl_failure("%s: malformed answer from sealined", c->cmd);
		if (!strcmp(rec.type, "err"))
			return sl_failure("%s: %s", c->cmd, rec.text);
		if (!strcmp(rec.type, "ok")) {
			if (final)
				*final = rec;
			return 0;
		}
		if (fn) {
			ret = fn(&rec, arg);
			if (ret)
				return ret;
		}
	}
}

/* ------------------------------------------------------------ JSON */

static bool numeric_key(const char *key)
{
	static const char *const keys[] = {
		"pid", "uptime", "portid", "lines", "peers", "peers_authorised",
		"peers_revoked", "index", "agent_portid", "key_epoch",
		"staged_epoch", "rekey_interval", "session_tx", "session_rx",
		"rekeys", "control_dropped", NULL,
	};

	for (size_t i = 0; keys[i]; ++i)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

static void print_json_record(const struct sl_ipc_record *rec)
{
	putchar('{');
	for (int i = 0; i < rec->n; ++i) {
		const char *v = rec->kv[i].val;

		printf("%s", i ? ", " : "");
		sl_json_string(stdout, rec->kv[i].key);
		fputs(": ", stdout);
		if (numeric_key(rec->kv[i].key) && *v &&
		    strspn(v, "0123456789") == strlen(v))
			fputs(v, stdout);
		else if (!strcmp(v, "yes") || !strcmp(v, "no"))
			fputs(v[0] == 'y' ? "true" : "false", stdout);
		else
			sl_json_string(stdout, v);
	}
	putchar('}');
}

static const char *get(const struct sl_ipc_record *rec, const char *key,
		       const char *dflt)
{
	const char *v = sl_ipc_get(rec, key);

	return v && *v ? v : dflt;
}

static int finish_output(const char *cmd)
{
	if (fflush(stdout) == EOF)
		return sl_failure("%s: writing output: %s", cmd, strerror(errno));
	return SL_EXIT_OK;
}

static bool valid_account(const char *s)
{
	return sl_account_valid(s);
}

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

static int status_record(struct sl_ipc_record *rec, void *arg)
{
	struct status_ctx *ctx = arg;

	if (ctx->json) {
		if (!strcmp(rec->type, "daemon")) {
			fputs("{\"daemon\": ", stdout);
			print_json_record(rec);
			fputs(", \"lines\": [", stdout);
		} else if (!strcmp(rec->type, "line")) {
			fputs(ctx->lines++ ? ", " : "", stdout);
			print_json_record(rec);
		}
		return 0;
	}
	if (!strcmp(rec->type, "daemon") &&
	    !strcmp(get(rec, "role", ""), "tsp")) {
		ctx->tsp = true;
		printf("sealtspd %s (TSP), pid %s", get(rec, "version", "?"),
		       get(rec, "pid", "?"));
		if (sl_ipc_get(rec, "name"))
			printf(" (%s)", get(rec, "name", ""));
		fputs(", up ", stdout);
		print_duration(get(rec, "uptime", "0"));
		printf("\n  config:       %s\n", get(rec, "config", "?"));
		printf("  static key:   %s\n", get(rec, "public_key", "?"));
		printf("  fingerprint:  %s\n", get(rec, "fingerprint", "?"));
		printf("  state dir:    %s\n", get(rec, "state_dir", "?"));
		printf("  database:     %s\n", get(rec, "database", "?"));
		printf("  lines:        %s, calls in progress: %s\n",
		       get(rec, "lines", "0"), get(rec, "calls", "0"));
		return 0;
	}
	if (!strcmp(rec->type, "line") && ctx->tsp) {
		printf("line %-12s %-10s modem %-12s", get(rec, "tty", "?"),
		       get(rec, "state", "?"), get(rec, "modem", "?"));
		if (sl_ipc_get(rec, "call_tracking"))
			printf(" call %s (%s leg): %s -> %s, %s bytes up, %s down",
			       get(rec, "call_tracking", "?"),
			       get(rec, "call_leg", "?"),
			       get(rec, "caller", "?"), get(rec, "recipient", "?"),
			       get(rec, "bytes_up", "0"),
			       get(rec, "bytes_down", "0"));
		putchar('\n');
		return 0;
	}
	if (!strcmp(rec->type, "daemon")) {
		const char *hs = get(rec, "handshake", "?");
		const char *nl = get(rec, "netlink", "?");

		printf("sealined %s, pid %s", get(rec, "version", "?"),
		       get(rec, "pid", "?"));
		if (sl_ipc_get(rec, "name"))
			printf(" (%s)", get(rec, "name", ""));
		fputs(", up ", stdout);
		print_duration(get(rec, "uptime", "0"));
		printf("\n  config:       %s\n", get(rec, "config", "?"));
		printf("  account:      %s\n", get(rec, "account", "?"));
		printf("  key:          %s\n", get(rec, "fingerprint", "?"));
		printf("  state dir:    %s\n", get(rec, "state_dir", "?"));
		printf("  session log:  %s\n", get(rec, "session_log", "?"));
		if (!strcmp(hs, "unavailable"))
			printf("  handshake:    unavailable (pairing and sessions are not available in this build)\n");
		else
			printf("  handshake:    %s\n", hs);
		if (!strcmp(nl, "connected"))
			printf("  kernel:       connected (netlink port %s)\n",
			       get(rec, "portid", "?"));
		else
			printf("  kernel:       sealine module not loaded\n");
		printf("  peers:        %s (%s authorised, %s revoked)\n",
		       get(rec, "peers", "0"), get(rec, "peers_authorised", "0"),
		       get(rec, "peers_revoked", "0"));
		return 0;
	}
	if (!strcmp(rec->type, "line")) {
		const char *status = get(rec, "status", "?");

		printf("\nline %s: %s", get(rec, "tty", "?"), status);
		if (sl_ipc_get(rec, "vtty"))
			printf(", %s, %s", get(rec, "vtty", "?"),
			       get(rec, "key_state", "?"));
		printf(" (since %s)\n", get(rec, "since", "?"));
		if (sl_ipc_get(rec, "agent_portid"))
			printf("  agent portid: %s\n", get(rec, "agent_portid", "?"));
		if (sl_ipc_get(rec, "error"))
			printf("  error:        %s\n", get(rec, "error", "?"));
		if (sl_ipc_get(rec, "vtty"))
			printf("  key epoch:    %s (staged: %s)\n",
			       get(rec, "key_epoch", "none"),
			       get(rec, "staged_epoch", "none"));
		printf("  handshake:    %s\n", get(rec, "handshake", "?"));
		if (!strcmp(get(rec, "pair_armed", "no"), "yes"))
			printf("  pairing:      armed (answers the other side's pairing now)\n");
		printf("  peer:         %s (role %s, rekey every %s s, pairing %s)\n",
		       get(rec, "peer", "any paired peer"), get(rec, "role", "?"),
		       get(rec, "rekey_interval", "?"), get(rec, "pairing", "?"));
		if (sl_ipc_get(rec, "session_peer"))
			printf("  session:      with %s since %s: %s bytes sent, %s received, %s rekeys\n",
			       get(rec, "session_peer", "unknown peer"),
			       get(rec, "session_start", "?"),
			       get(rec, "session_tx", "0"),
			       get(rec, "session_rx", "0"),
			       get(rec, "rekeys", "0"));
		else
			printf("  session:      none\n");
		if (strcmp(get(rec, "control_dropped", "0"), "0"))
			printf("  control messages dropped: %s\n",
			       get(rec, "control_dropped", "0"));
		if (sl_ipc_get(rec, "call_state")) {
			printf("  call:         %s", get(rec, "call_state", "?"));
			if (sl_ipc_get(rec, "call_peer"))
				printf(", %s %s", !strcmp(get(rec, "call_direction", ""), "in") ?
				       "from" : "to", get(rec, "call_peer", "?"));
			if (sl_ipc_get(rec, "call_tracking"))
				printf(", tracking %s", get(rec, "call_tracking", "?"));
			putchar('\n');
		}
		if (sl_ipc_get(rec, "dial_on_demand"))
			printf("  on demand:    calls %s when %s is written to (idle hangup %s s)\n",
			       get(rec, "dial_on_demand", "?"),
			       get(rec, "demand_link", "?"),
			       get(rec, "idle_hangup", "?"));
	}
	return 0;
}

static int parse_common(int argc, char *argv[], const char *cmd,
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

int sl_cmd_status(int argc, char *argv[])
{
	struct status_ctx ctx = { 0 };
	const char *sock = NULL;
	struct conn c;
	int ret;

	ret = parse_common(argc, argv, "status", sl_help_status, &ctx.json,
			   &sock, 0);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	ret = conn_open(&c, "status", socket_path(sock));
	if (ret)
		return ret;
	ret = call(&c, "status", status_record, &ctx, NULL, NULL, 0);
	conn_close(&c);
	if (ret)
		return ret;
	if (ctx.json)
		fputs("]}\n", stdout);
	return finish_output("status");
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
		print_json_record(rec);
		ctx->count++;
		return 0;
	}
	if (!ctx->count++)
		printf("%-13s %-15s %-4s %-20s %s\n", "ACCOUNT", "STATUS", "LTK",
		       "FINGERPRINT", "PAIRED");
	if (!strcmp(get(rec, "revoked", "no"), "yes"))
		status = "revoked";
	else if (!strcmp(get(rec, "authorised", "no"), "yes"))
		status = "authorised";
	else
		status = "not authorised";
	printf("%-13s %-15s %-4s %-20s %s\n", get(rec, "account", "?"), status,
	       get(rec, "ltk", "?"), get(rec, "fingerprint", "-"),
	       get(rec, "paired", "never"));
	return 0;
}

int sl_cmd_peers(int argc, char *argv[])
{
	struct peers_ctx ctx = { 0 };
	const char *sock = NULL, *op = "list", *account = NULL;
	char request[128];
	struct conn c;
	int ret;

	ret = parse_common(argc, argv, "peers", sl_help_peers, &ctx.json, &sock, 2);
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
		   !strcmp(op, "forget")) {
		if (argc - optind < 2)
			return sl_usage_error("peers", "%s needs an ACCOUNT", op);
		account = argv[optind + 1];
		if (!valid_account(account))
			return sl_usage_error("peers",
					      "'%s' is not an account number (exactly %d digits)",
					      account, SL_ACCOUNT_LEN);
		if (ctx.json)
			return sl_usage_error("peers", "--json only goes with list");
	} else {
		return sl_usage_error("peers",
				      "unknown operation '%s' (list, authorise, revoke, forget)",
				      op);
	}

	ret = conn_open(&c, "peers", socket_path(sock));
	if (ret)
		return ret;
	if (!account) {
		ret = call(&c, "peers", peer_record, &ctx, NULL, NULL, 0);
		conn_close(&c);
		if (ret)
			return ret;
		if (ctx.json)
			fputs(ctx.count ? "\n]\n" : "[]\n", stdout);
		else if (!ctx.count)
			printf("no peers\n");
		return finish_output("peers");
	}
	snprintf(request, sizeof(request), "%s %s", op, account);
	{
		struct sl_ipc_record final;
		char buf[SL_IPC_MAX_LINE + 1];

		ret = call(&c, request, NULL, NULL, &final, buf, sizeof(buf));
		conn_close(&c);
		if (ret)
			return ret;
		if (!strcmp(op, "authorise"))
			printf("%s authorised%s\n", account,
			       !strcmp(get(&final, "created", "no"), "yes") ?
			       " (not paired yet: pair to connect)" : "");
		else if (!strcmp(op, "revoke"))
			printf("%s revoked: sessions are refused; its long-term key is kept (forget deletes it)\n",
			       account);
		else
			printf("%s forgotten: record and long-term key deleted\n",
			       account);
	}
	return finish_output("peers");
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
		"               static key, when it was paired\n"
		"    authorise  allow ACCOUNT (also before pairing: an authorised caller\n"
		"               list); lifts a revocation. 'authorize' works too.\n"
		"    revoke     refuse ACCOUNT from now on; its LTK is kept, so a\n"
		"               session attempt is refused as revoked, not as unknown\n"
		"    forget     delete ACCOUNT's record and wipe its LTK: a new\n"
		"               connection needs a new pairing\n"
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
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct log_ctx ctx = { 0 };
	const char *sock = NULL, *file = NULL;
	uint32_t count = 0;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":js:F:n:h", longopts, NULL)) != -1) {
		switch (opt) {
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
		struct conn c;

		if (count)
			snprintf(request, sizeof(request), "log %" PRIu32, count);
		else
			snprintf(request, sizeof(request), "log");
		struct sl_ipc_record final;
		char buf[SL_IPC_MAX_LINE + 1];
		const char *bad;

		ret = conn_open(&c, "log", socket_path(sock));
		if (ret)
			return ret;
		ret = call(&c, request, log_ipc_record, &ctx, &final, buf,
			   sizeof(buf));
		conn_close(&c);
		if (ret)
			return ret;
		bad = get(&final, "bad_lines", "0");
		if (strcmp(bad, "0"))
			sl_warning("log: %s: %s lines are not session records (skipped)",
				   get(&final, "path", "the session log"), bad);
		if (!strcmp(get(&final, "truncated", "no"), "yes") && !count)
			sl_warning("log: only the last %d records are shown (use --file for all)",
				   10000);
	}
	if (!ctx.count && !ctx.json)
		printf("no sessions logged\n");
	return finish_output("log");
}

void sl_help_log(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s log - the session log: who connected when, bytes, outcome\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s log [--json] [-n COUNT] [--socket PATH]\n"
		"    %1$s log [--json] [-n COUNT] --file PATH\n"
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
		"OPTIONS\n"
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
static int send_typed_sas(struct conn *c, const struct sl_ipc_record *rec)
{
	char answer[128], request[160], prompt[160];
	unsigned long left = strtoul(get(rec, "attempts", "3"), NULL, 10);

	snprintf(prompt, sizeof(prompt),
		 "Type the code the other operator reads to you (%lu %s, %s s left): ",
		 left, left == 1 ? "try" : "tries", get(rec, "seconds", "?"));
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
	       get(rec, "peer", "?"), get(rec, "fingerprint", "?"));
}

/* "waiting" records: what the pairing waits for, and how long. */
static void show_waiting(const struct sl_ipc_record *rec, const char *tty)
{
	const char *reason = get(rec, "reason", "start");
	unsigned long s = strtoul(get(rec, "seconds", "0"), NULL, 10);
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

/* LINE on the command line: a physical tty, not a virtual one. */
static int physical_line(const char *cmd, const char *arg,
			 struct sl_line_ref *ref)
{
	int ret = sl_parse_line(cmd, arg, ref);

	if (ret)
		return ret;
	if (ref->by_index)
		return sl_usage_error(cmd, "name the physical tty of the line (ttyS1), not its virtual tty");
	return 0;
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
	struct conn c;
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
	ret = physical_line("pair", argv[optind], &ref);
	if (ret)
		return ret;

	/* An operator reads this as it happens, also through a pipe. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = conn_open(&c, "pair", socket_path(sock));
	if (ret)
		return ret;
	ret = snprintf(request, sizeof(request), "pair %s%s", ref.tty,
		       replace ? " replace" : "");
	if (wait)
		snprintf(request + ret, sizeof(request) - (size_t)ret,
			 " wait=%lu", wait);
	ret = sl_ipc_write_request(c.fd, request);
	if (ret) {
		conn_close(&c);
		return sl_failure("pair: cannot send to sealined: %s", strerror(-ret));
	}
	for (;;) {
		struct sl_ipc_record rec;
		char *line;

		/* A pairing waits for people: no timeout here; the daemon
		 * ends it (--wait, then the time to decide on the code). */
		ret = sl_ipc_read_line(&c.r, &line, -1);
		if (ret) {
			conn_close(&c);
			return sl_failure("pair: %s", ret == -EPIPE ?
					  "sealined closed the connection" :
					  strerror(-ret));
		}
		if (sl_ipc_parse_record(line, &rec)) {
			conn_close(&c);
			return sl_failure("pair: malformed answer from sealined");
		}
		if (!strcmp(rec.type, "err")) {
			conn_close(&c);
			return sl_failure("pair: %s", rec.text);
		}
		if (!strcmp(rec.type, "ok")) {
			printf("Paired with %s. The long-term key is stored on both sides.\n",
			       get(&rec, "peer", "the peer"));
			conn_close(&c);
			return finish_output("pair");
		}
		if (!strcmp(rec.type, "info")) {
			printf("%s\n", get(&rec, "text", ""));
		} else if (!strcmp(rec.type, "waiting")) {
			show_waiting(&rec, ref.tty);
		} else if (!strcmp(rec.type, "sas")) {
			char prompt[160];
			bool yes;

			show_peer(&rec);
			printf("Code: %s\n", get(&rec, "code", "?????"));
			snprintf(prompt, sizeof(prompt),
				 "Read the code to the other operator. Answer y when they say it is correct (%s s left) [y/N]: ",
				 get(&rec, "seconds", "?"));
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
			printf("sealined: %s\n", get(&rec, "text", "refused"));
			/* A code sealined could not read: type it again. */
			if (typing)
				ret = send_typed_sas(&c, &rec);
		}
		if (ret) {
			conn_close(&c);
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

/* ------------------------------------------------------------ call */

/* Sends request and prints info records until ok or err. */
static int conversation(struct conn *c, const char *cmd, const char *request,
			const char *done_fmt)
{
	int ret = sl_ipc_write_request(c->fd, request);

	if (ret) {
		conn_close(c);
		return sl_failure("%s: cannot send to sealined: %s", cmd,
				  strerror(-ret));
	}
	for (;;) {
		struct sl_ipc_record rec;
		char *line;

		/* The daemon's own deadlines end a call attempt. */
		ret = sl_ipc_read_line(&c->r, &line, -1);
		if (ret) {
			conn_close(c);
			return sl_failure("%s: %s", cmd, ret == -EPIPE ?
					  "sealined closed the connection" :
					  strerror(-ret));
		}
		if (sl_ipc_parse_record(line, &rec)) {
			conn_close(c);
			return sl_failure("%s: malformed answer from sealined", cmd);
		}
		if (!strcmp(rec.type, "err")) {
			conn_close(c);
			return sl_failure("%s: %s", cmd, rec.text);
		}
		if (!strcmp(rec.type, "ok")) {
			if (done_fmt)
				printf(done_fmt, get(&rec, "peer", "?"),
				       get(&rec, "tracking", "?"));
			conn_close(c);
			return finish_output(cmd);
		}
		if (!strcmp(rec.type, "info"))
			printf("%s\n", get(&rec, "text", ""));
		fflush(stdout);
	}
}

int sl_cmd_call(int argc, char *argv[])
{
	const char *sock = NULL;
	char request[SL_IPC_MAX_LINE];
	struct sl_line_ref ref;
	struct conn c;
	int ret;

	ret = parse_common(argc, argv, "call", sl_help_call, NULL, &sock, 2);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	if (optind >= argc)
		return sl_usage_error("call", "missing ACCOUNT");
	if (!sl_account_valid(argv[optind]))
		return sl_usage_error("call", "an account number is 12 digits");
	if (optind + 1 < argc) {
		ret = physical_line("call", argv[optind + 1], &ref);
		if (ret)
			return ret;
		snprintf(request, sizeof(request), "call %s %s", argv[optind],
			 ref.tty);
	} else {
		snprintf(request, sizeof(request), "call %s", argv[optind]);
	}
	ret = conn_open(&c, "call", socket_path(sock));
	if (ret)
		return ret;
	return conversation(&c, "call", request,
			    "Connected to %s (tracking %s). The end-to-end handshake starts now.\n");
}

int sl_cmd_hangup(int argc, char *argv[])
{
	const char *sock = NULL;
	char request[SL_IPC_MAX_LINE];
	struct sl_line_ref ref;
	struct conn c;
	int ret;

	ret = parse_common(argc, argv, "hangup", sl_help_hangup, NULL, &sock, 1);
	if (ret)
		return ret < 0 ? SL_EXIT_OK : ret;
	if (optind >= argc)
		return sl_usage_error("hangup", "missing LINE");
	ret = physical_line("hangup", argv[optind], &ref);
	if (ret)
		return ret;
	snprintf(request, sizeof(request), "hangup %s", ref.tty);
	ret = conn_open(&c, "hangup", socket_path(sock));
	if (ret)
		return ret;
	return conversation(&c, "hangup", request, NULL);
}

void sl_help_call(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s call - call another account through the TSP\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s call ACCOUNT [LINE] [--socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    Makes sealined dial the TSP on LINE (default: its first line with\n"
		"    modem = yes), prove this installation's account to it and name the\n"
		"    recipient ACCOUNT, all encrypted: the line shows neither account.\n"
		"    The TSP checks both accounts, dials the recipient and bridges the\n"
		"    call; this command prints the progress and returns once the call is\n"
		"    bridged. sealined then starts the end-to-end handshake: a session if\n"
		"    it has a long-term key for ACCOUNT, else both operators run\n"
		"    `%1$s pair LINE` to pair, comparing the spoken code. The data path\n"
		"    is the line's virtual tty (`%1$s status` shows it).\n"
		"\n"
		"    A refused call prints the TSP's reason (unknown account, caller ID\n"
		"    not bound, not authorised, busy, no answer, ...).\n"
		"\n"
		"OPTIONS\n"
		"    -s, --socket PATH\n"
		"        The daemon's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 once the call is bridged, 1 if it failed or was refused, 2 on a\n"
		"    usage error.\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET);
}

void sl_help_hangup(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s hangup - end the call on a dial-up line\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s hangup LINE [--socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    Ends the call on LINE: the session's keys are wiped, the line\n"
		"    discipline is detached and the modem hangs up. The TSP sees the\n"
		"    carrier go, tells the other end (authenticated) and closes the\n"
		"    call record.\n"
		"\n"
		"OPTIONS\n"
		"    -s, --socket PATH\n"
		"        The daemon's control socket (default: $SEALINE_SOCKET, else\n"
		"        %2$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 when hung up, 1 if there was no call, 2 on a usage error.\n",
		sl_prog, SL_CONF_DEFAULT_SOCKET);
}
