// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl send: files to an account, sealed end to end, through
 * sealined's outbox (Documentation/courier.rst, "Sending").
 *
 * sealctl packs the files itself, as the user who runs it (pax + zstd,
 * sl_env_pack()), and writes the payload to a pipe whose read end it
 * passes to sealined with the request: sealined seals what arrives into
 * the outbox. So sealctl never sees a key, and sealined never opens a
 * file: nothing reaches an envelope that its sender could not read.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "envelope.h"
#include "fdio.h"
#include "ipc.h"
#include "sealctl.h"
#include "tspstore.h"

/* ---- Progress ------------------------------------------------------------------- */

struct wait_ctx {
	bool tty;
	bool quiet;
	const char *id;
	double t0, last_t;
	uint64_t last_acked, base;
	double rate;
	bool bar;		/* a progress bar is on the screen */
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void human(char *out, size_t size, double v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(out, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void bar_end(struct wait_ctx *w)
{
	if (w->bar) {
		fputc('\n', stderr);
		w->bar = false;
	}
}

static void show_progress(struct wait_ctx *w, uint64_t acked, uint64_t size)
{
	double t = now_s(), pct = size ? 100.0 * (double)acked / (double)size : 0;
	char done[32], total[32], rate[32], left[32] = "?";
	int width = 30, fill = (int)(pct * width / 100);

	if (!w->tty)
		return;		/* one line per state change off a terminal */
	if (acked < w->last_acked || !w->last_t) {
		w->base = acked;
		w->t0 = t;
	} else if (t > w->t0 && acked > w->base) {
		w->rate = (double)(acked - w->base) / (t - w->t0);
	}
	w->last_acked = acked;
	w->last_t = t;
	human(done, sizeof(done), (double)acked);
	human(total, sizeof(total), (double)size);
	human(rate, sizeof(rate), w->rate);
	if (w->rate > 0 && size > acked) {
		double s = (double)(size - acked) / w->rate;

		snprintf(left, sizeof(left), "%d:%02d", (int)s / 60, (int)s % 60);
	}
	fprintf(stderr, "\r[%.*s%*s] %5.1f%% %s of %s, %s/s, %s left  ",
		fill, "##############################", width - fill, "", pct,
		done, total, rate, left);
	w->bar = true;
}

static int wait_record(struct sl_ipc_record *rec, void *arg)
{
	struct wait_ctx *w = arg;

	if (!strcmp(rec->type, "progress")) {
		show_progress(w, strtoull(sl_get(rec, "acked", "0"), NULL, 10),
			      strtoull(sl_get(rec, "size", "0"), NULL, 10));
		return 0;
	}
	if (!strcmp(rec->type, "state") && !w->quiet) {
		const char *st = sl_get(rec, "state", "?");
		const char *detail = sl_get(rec, "detail", "");
		const char *next = sl_get(rec, "next_try", "");

		bar_end(w);
		printf("%s %s%s%s%s%s\n", w->id, st, *detail ? ": " : "", detail,
		       *next ? ", next attempt at " : "", next);
		fflush(stdout);
	}
	return 0;
}

/* ---- Store and forward's options ------------------------------------------------ */

/* "HH:MM" into minutes of the day; -1 if it is not one. */
static int parse_hhmm(const char *s, size_t len)
{
	int h, m;

	if (len != 5 || s[2] != ':')
		return -1;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 23 || m > 59)
		return -1;
	return h * 60 + m;
}

/*
 * --deliver-window HH:MM-HH:MM (UTC; may wrap midnight) as the TSP's
 * start * 1440 + end minutes (tspstore.h); a usage error's exit status
 * otherwise.
 */
static int parse_window(const char *arg, int *window)
{
	const char *dash = strchr(arg, '-');
	int start, end;

	if (!dash)
		return sl_usage_error("send", "--deliver-window is HH:MM-HH:MM (UTC), not '%s'",
				      arg);
	start = parse_hhmm(arg, (size_t)(dash - arg));
	end = parse_hhmm(dash + 1, strlen(dash + 1));
	if (start < 0 || end < 0)
		return sl_usage_error("send", "--deliver-window is HH:MM-HH:MM (UTC, 00:00 to 23:59), not '%s'",
				      arg);
	if (start == end)
		return sl_usage_error("send", "--deliver-window %s is empty: start and end differ (leave it out to allow any time)",
				      arg);
	*window = start * SL_TSP_MINUTES_PER_DAY + end;
	return 0;
}

/* --deliver-after TIME (UTC, as "tsp cdr --from"): its first ms; not in
 * the past. */
static int parse_after(const char *arg, int64_t *ms)
{
	int64_t last;

	if (sl_tsp_time_parse(arg, ms, &last))
		return sl_usage_error("send", "--deliver-after '%s' is not a UTC date or date-time (YYYY-MM-DD, YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS, optional Z)",
				      arg);
	if (last < (int64_t)time(NULL) * 1000)
		return sl_usage_error("send", "--deliver-after %s is in the past", arg);
	return 0;
}

/* ---- The command ------------------------------------------------------------------ */

int sl_cmd_send(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "line", required_argument, NULL, 'l' },
		{ "call", no_argument, NULL, 'c' },
		{ "wait", no_argument, NULL, 'w' },
		{ "via-tsp", no_argument, NULL, 'T' },
		{ "deliver-after", required_argument, NULL, 'A' },
		{ "deliver-window", required_argument, NULL, 'W' },
		{ "level", required_argument, NULL, 'L' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *to = NULL, *sock = NULL;
	struct sl_line_ref line = { 0 };
	bool have_line = false, call = false, wait = false, quiet = false;
	bool via_tsp = false;
	const char *after_s = NULL, *window_s = NULL;
	int64_t after = 0;
	int window = SL_TSP_WINDOW_NONE;
	char tsp_args[96] = "";
	uint32_t level = 0;
	char request[SL_IPC_MAX_LINE], why[512] = "", id[2 * SL_ENV_ID_LEN + 1];
	struct sl_ipc_record rec;
	struct sl_conn c;
	struct wait_ctx w = { 0 };
	uint64_t files = 0, bytes = 0;
	int pipefd[2], opt, ret;
	char *line_text;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":t:l:cwTA:W:L:qs:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 't':
			to = optarg;
			break;
		case 'l':
			ret = sl_client_line("send", optarg, &line);
			if (ret)
				return ret;
			have_line = true;
			break;
		case 'c':
			call = true;
			break;
		case 'w':
			wait = true;
			break;
		case 'T':
			via_tsp = true;
			break;
		case 'A':
			after_s = optarg;
			ret = parse_after(optarg, &after);
			if (ret)
				return ret;
			break;
		case 'W':
			window_s = optarg;
			ret = parse_window(optarg, &window);
			if (ret)
				return ret;
			break;
		case 'L':
			ret = sl_parse_u32("send", "level", optarg, &level);
			if (ret)
				return ret;
			if (level < 1 || level > SL_ENV_ZSTD_LEVEL_MAX)
				return sl_usage_error("send", "--level is 1 to %d",
						      SL_ENV_ZSTD_LEVEL_MAX);
			break;
		case 'q':
			quiet = true;
			break;
		case 's':
			sock = optarg;
			break;
		case 'h':
			sl_help_send(stdout);
			return SL_EXIT_OK;
		default:
			return sl_option_error("send", opt, argv);
		}
	}
	if (!to)
		return sl_usage_error("send", "--to ACCOUNT is required");
	if (!sl_account_valid(to))
		return sl_usage_error("send", "an account number is 12 digits, not '%s'",
				      to);
	if (have_line && call)
		return sl_usage_error("send", "--line and --call exclude each other");
	if ((after_s || window_s) && !via_tsp)
		return sl_usage_error("send", "--%s is for an envelope held at the TSP: add --via-tsp",
				      after_s ? "deliver-after" : "deliver-window");
	if (after_s && window_s)
		return sl_usage_error("send", "--deliver-after and --deliver-window exclude each other");
	if (via_tsp && call)
		return sl_usage_error("send", "--via-tsp and --call exclude each other (--via-tsp calls the TSP and leaves the envelope there)");
	if (via_tsp && have_line)
		return sl_usage_error("send", "--via-tsp and --line exclude each other (sealined calls the TSP on any dial-up line that reaches it)");
	if (optind >= argc)
		return sl_usage_error("send", "name the files or directories to send");
	for (int i = optind; i < argc; i++)
		if (access(argv[i], R_OK))
			return sl_failure("send: %s: %s", argv[i], strerror(errno));

	if (via_tsp) {
		if (after)
			snprintf(tsp_args, sizeof(tsp_args), " tsp after=%" PRId64,
				 after);
		else if (window != SL_TSP_WINDOW_NONE)
			snprintf(tsp_args, sizeof(tsp_args), " tsp window=%d",
				 window);
		else
			snprintf(tsp_args, sizeof(tsp_args), " tsp");
	}
	snprintf(request, sizeof(request), "send %s%s%s%s%s%s", to,
		 have_line ? " line=" : "", have_line ? line.tty : "",
		 call ? " call" : "", wait ? " wait" : "", tsp_args);
	ret = sl_conn_open(&c, "send", sl_client_socket(sock));
	if (ret)
		return ret;
	if (pipe2(pipefd, O_CLOEXEC)) {
		sl_conn_close(&c);
		return sl_failure("send: pipe: %s", strerror(errno));
	}
	signal(SIGPIPE, SIG_IGN);
	ret = sl_ipc_write_request_fd(c.fd, request, pipefd[0]);
	close(pipefd[0]);
	if (ret) {
		close(pipefd[1]);
		sl_conn_close(&c);
		return sl_failure("send: cannot send to sealined: %s",
				  strerror(-ret));
	}
	/* "ready id=..." before a byte is packed: a refusal (not paired,
	 * no line) comes at once. */
	ret = sl_ipc_read_line(&c.r, &line_text, 30000);
	if (ret || sl_ipc_parse_record(line_text, &rec)) {
		close(pipefd[1]);
		sl_conn_close(&c);
		return sl_failure("send: no answer from sealined");
	}
	if (!strcmp(rec.type, "err")) {
		close(pipefd[1]);
		sl_conn_close(&c);
		return sl_failure("send: %s", rec.text);
	}
	snprintf(id, sizeof(id), "%s", sl_get(&rec, "id", "?"));
	ret = sl_env_pack_pipe(pipefd[1], (const char *const *)argv + optind,
			       (size_t)(argc - optind), (int)level, &files,
			       &bytes, why, sizeof(why));
	close(pipefd[1]);
	if (ret) {
		/* sealined learned why and dropped what it sealed. */
		sl_conn_close(&c);
		return sl_failure("send: %s", why);
	}

	w.tty = isatty(STDERR_FILENO) && !quiet;
	w.quiet = quiet;
	w.id = id;
	/* "queued ...", then (with --wait) state and progress, then the
	 * end. An envelope may take hours (a recipient who is away): no
	 * timeout once it is queued. */
	for (;;) {
		ret = sl_ipc_read_line(&c.r, &line_text, wait ? -1 : 600000);
		if (ret) {
			bar_end(&w);
			sl_conn_close(&c);
			return sl_failure("send: %s", ret == -EPIPE ?
					  "sealined closed the connection" :
					  strerror(-ret));
		}
		if (sl_ipc_parse_record(line_text, &rec)) {
			sl_conn_close(&c);
			return sl_failure("send: malformed answer from sealined");
		}
		if (!strcmp(rec.type, "err")) {
			bar_end(&w);
			sl_conn_close(&c);
			return sl_failure("send: %s", rec.text);
		}
		if (!strcmp(rec.type, "ok"))
			break;
		if (!strcmp(rec.type, "queued") && !quiet) {
			printf("%s queued for %s: %s files, %s bytes in an envelope of %s bytes\n",
			       id, to, sl_get(&rec, "files", "?"),
			       sl_get(&rec, "content_bytes", "?"),
			       sl_get(&rec, "size", "?"));
			fflush(stdout);
			continue;
		}
		wait_record(&rec, &w);
	}
	bar_end(&w);
	sl_conn_close(&c);
	if (quiet)
		printf("%s\n", id);
	else if (wait && via_tsp)
		printf("%s: held at the TSP; its acceptance: %s outbox acceptance %s\n",
		       id, sl_prog, id);
	else if (wait)
		printf("%s: its receipt: %s outbox receipt %s\n", id, sl_prog,
		       id);
	return sl_finish_output("send");
}

void sl_help_send(FILE *f)
{
	char levels[48];

	snprintf(levels, sizeof(levels), "1 to %d (default %d)",
		 SL_ENV_ZSTD_LEVEL_MAX, SL_ENV_ZSTD_LEVEL_DEFAULT);
	fprintf(f,
		"NAME\n"
		"    %1$s send - send files to an account, sealed end to end\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s send --to ACCOUNT [--line LINE | --call] [--wait] [--level N]\n"
		"              [--quiet] [--socket PATH] FILE...\n"
		"    %1$s send --to ACCOUNT --via-tsp [--deliver-after TIME |\n"
		"              --deliver-window HH:MM-HH:MM] [--wait] FILE...\n"
		"\n"
		"DESCRIPTION\n"
		"    Packs the FILEs (files and directories with everything in them) into\n"
		"    one envelope for ACCOUNT, a peer this installation has paired with,\n"
		"    and puts it into sealined's outbox, whose id it prints. sealined\n"
		"    then delivers it: on a line whose session is with ACCOUNT (a direct\n"
		"    line), or by calling ACCOUNT through the TSP on a dial-up line; it\n"
		"    tries again after busy, no answer or a failure (30 s, doubling up to\n"
		"    an hour; [courier] attempts, retry, retry_max) and resumes a cut\n"
		"    transfer after its last acknowledged chunk. The recipient's daemon\n"
		"    verifies every chunk, unpacks the whole envelope into its inbox and\n"
		"    returns a receipt signed with its identity key, which sealined\n"
		"    verifies and keeps (sealctl outbox receipt ID).\n"
		"\n"
		"    The envelope holds each file's name, type, permission bits, size,\n"
		"    modification time and content (symbolic links inside a directory\n"
		"    as links, if they stay inside it), compressed with zstd and sealed\n"
		"    so that only ACCOUNT's installation can open it and know it came\n"
		"    from this one. Devices, FIFOs and sockets cannot be sent.\n"
		"\n"
		"    %1$s packs the files itself, with your permissions; sealined seals\n"
		"    what it packed and never opens your files. %1$s never sees a key.\n"
		"\n"
		"OPTIONS\n"
		"    -t, --to ACCOUNT\n"
		"        The recipient's account (12 digits). Required.\n"
		"    -l, --line LINE\n"
		"        Deliver on this line only: a direct line (its session must be\n"
		"        with ACCOUNT) or a dial-up line to call from.\n"
		"    -c, --call\n"
		"        Deliver by calling through the TSP only (a line with modem =\n"
		"        yes). Default: a direct line keyed with ACCOUNT if there is\n"
		"        one, else a call.\n"
		"    -T, --via-tsp\n"
		"        Hand the envelope to the TSP instead of waiting for ACCOUNT:\n"
		"        sealined calls the TSP, which keeps it (it can never open it)\n"
		"        and delivers it later, after a random delay, returning\n"
		"        ACCOUNT's receipt on the next call (store and forward,\n"
		"        Documentation/store-and-forward.rst). sealined keeps the\n"
		"        TSP's signed acceptance (%1$s outbox acceptance ID), checked\n"
		"        against the envelope, and the envelope until the receipt or\n"
		"        the TSP's signed non-delivery notice comes. Needs a dial-up\n"
		"        line with tsp_number and tsp_key.\n"
		"    -A, --deliver-after TIME\n"
		"        With --via-tsp: not before TIME, UTC (YYYY-MM-DD,\n"
		"        YYYY-MM-DDTHH:MM or YYYY-MM-DDTHH:MM:SS, optional Z); not in\n"
		"        the past.\n"
		"    -W, --deliver-window HH:MM-HH:MM\n"
		"        With --via-tsp: deliver only between these times of day, UTC;\n"
		"        22:00-06:00 wraps midnight (night rates). Excludes\n"
		"        --deliver-after.\n"
		"    -w, --wait\n"
		"        Stay until the envelope is delivered (with --via-tsp: held at\n"
		"        the TSP), refused or given up:\n"
		"        on a terminal a progress bar (bytes acknowledged, rate, time\n"
		"        left), otherwise one line per change of state. Interrupting\n"
		"        it leaves the envelope in the outbox.\n"
		"    -L, --level N\n"
		"        zstd compression level, %2$s.\n"
		"    -q, --quiet\n"
		"        Print only the envelope's id.\n"
		"    -s, --socket PATH\n"
		"        sealined's control socket (default: $SEALINE_SOCKET, else\n"
		"        %3$s).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"SEE ALSO\n"
		"    %1$s outbox, %1$s inbox, %1$s receipt, %1$s log --sent;\n"
		"    Documentation/courier.rst and admin-guide.rst, \"The courier\".\n"
		"\n"
		"EXIT STATUS\n"
		"    0 queued (with --wait: delivered and receipted); 1 refused: not\n"
		"    paired, no line reaches ACCOUNT, a file cannot be read or sent,\n"
		"    sealined not running; with --wait also refused by the recipient or\n"
		"    given up; 2 usage error.\n",
		sl_prog, levels, SL_CONF_DEFAULT_SOCKET);
}
