// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * nlprobe: a test-only client of the sealine control channel.
 *
 * The VM tests use it to prove what the netlink contract promises about
 * control messages: that the registered agent receives them, that it alone
 * can send them, that a socket which did not register never sees them, and
 * that every command is refused without CAP_NET_ADMIN. It is built on the
 * same netlink library as sealctl (agent/lib/netlink.c), so the probe exercises
 * the code the daemon will run.
 *
 * Output is for scripts: received control messages go to stdout as one hex
 * line each, flushed at once; everything else goes to stderr, with errno
 * names ("EACCES") that a test can match.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <netlink/attr.h>

#include "lineref.h"
#include "names.h"
#include "netlink.h"

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1,
	EXIT_USAGE = 2,
	EXIT_TIMEOUT = 3,
	EXIT_LEAK = 4,
};

/* Room in one page-sized request for the payload and the headers; larger
 * than SEALINE_MAX_CONTROL on purpose, to test the kernel's limit. */
#define MAX_HEX_BYTES 4000

static const char *prog = "nlprobe";
static volatile sig_atomic_t stop_signal;

struct probe {
	struct sl_nl nl;
	const char *cmd;
	const char *line_arg;
	struct sl_line_ref line;
	uint8_t payload[MAX_HEX_BYTES];
	size_t payload_len;
	bool have_payload;
	bool no_register;
	bool dump;
	bool have_line;
	unsigned long count;	/* 0: no limit */
	double timeout;		/* seconds; 0: none */
	const char *ready_file;
	unsigned long received;
	unsigned long leaks;
	bool listen_only;
	const char *keys;	/* raw: "same" or "differ" */
};

static void usage(FILE *f)
{
	/* cppcheck-suppress invalidPrintfArgType_s ; positional %1$s, %2$s */
	fprintf(f,
		"Usage: %1$s COMMAND [OPTIONS]\n"
		"\n"
		"Test probe for the sealine control channel (generic netlink family\n"
		"\"%2$s\"). Not for production: sealined is the real agent.\n"
		"\n"
		"Commands:\n"
		"  %1$s register LINE [--count N] [--timeout S] [--ready-file PATH]\n"
		"      Register as LINE's agent (SEALINE_CMD_REGISTER_AGENT), then print\n"
		"      each control message received on the line (CONTROL_RECEIVED) as\n"
		"      one line of lower-case hex on stdout, until killed, until N\n"
		"      messages, or until S seconds have passed.\n"
		"  %1$s send LINE HEX [--no-register]\n"
		"      Register (unless --no-register), then send HEX as one control\n"
		"      message (SEND_CONTROL). Without registering, the kernel must refuse\n"
		"      with EACCES (another agent) or ENOTCONN (no agent).\n"
		"  %1$s sendrecv LINE HEX [--count N] [--timeout S] [--ready-file PATH]\n"
		"      Register, send HEX, then print received control messages as\n"
		"      register does.\n"
		"  %1$s listen-unregistered LINE [--timeout S] [--ready-file PATH]\n"
		"      Check LINE exists, then join the \"%3$s\" multicast group\n"
		"      WITHOUT registering and listen until killed or S seconds. Any\n"
		"      control message that arrives is printed as hex and is a leak\n"
		"      (exit 4); other events are reported on stderr.\n"
		"  %1$s raw CMD [--line LINE] [--dump] [--keys same|differ]\n"
		"      Send command number CMD (or its name: get_line, set_key, ...)\n"
		"      with an optional line attribute, as a dump with --dump, and print\n"
		"      the outcome on stdout: \"ok\" or the errno name (e.g. EPERM, as\n"
		"      an unprivileged user gets for every command).\n"
		"\n"
		"Arguments:\n"
		"  LINE  ttyS1, /dev/ttyS1, ttySL0 or /dev/ttySL0\n"
		"  HEX   the message as hex digits, even length, at most %4$d bytes. It\n"
		"        may be empty or longer than SEALINE_MAX_CONTROL (%5$d) to test\n"
		"        the kernel's checks.\n"
		"\n"
		"Options:\n"
		"  -n, --count N        stop after N control messages\n"
		"  -t, --timeout S      stop after S seconds (decimals allowed)\n"
		"  -r, --ready-file P   create file P once registered/subscribed, so a\n"
		"                       test knows when to start sending\n"
		"  -R, --no-register    send without registering first\n"
		"  -l, --line LINE      raw: add the line attribute\n"
		"  -d, --dump           raw: send as a dump request (NLM_F_DUMP)\n"
		"  -k, --keys MODE      raw: add KEY_EPOCH 1, KEY_TX and KEY_RX (random;\n"
		"                       MODE same: KEY_RX equals KEY_TX), for set_key\n"
		"  -h, --help           this help\n"
		"\n"
		"Exit status:\n"
		"  0  success: message sent, N messages received, stopped by SIGINT or\n"
		"     SIGTERM, or the timeout passed when no --count was asked for\n"
		"  1  failure: module not loaded, the kernel refused (the errno name is\n"
		"     printed on stderr, and on stdout for raw), socket error\n"
		"  2  usage error\n"
		"  3  the timeout passed before --count messages arrived\n"
		"  4  listen-unregistered saw a control message\n",
		prog, SEALINE_GENL_NAME, SEALINE_MCGRP_EVENTS, MAX_HEX_BYTES,
		SEALINE_MAX_CONTROL);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return EXIT_USAGE;
}

/* "nlprobe: send ttyS1: EACCES: another socket is ..." */
static int kernel_error(struct probe *p, const char *what, int err)
{
	fprintf(stderr, "%s: %s%s%s: %s: %s", prog, what,
		p->line_arg ? " " : "", p->line_arg ? p->line_arg : "",
		sl_nl_errno_name(err), sl_nl_strerror(err));
	if (p->nl.ext_msg[0])
		fprintf(stderr, " (kernel: %s)", p->nl.ext_msg);
	fputc('\n', stderr);
	return EXIT_FAIL;
}

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_hex(const char *s, struct probe *p)
{
	size_t len = strlen(s), i;

	if (len % 2)
		return usage_error("HEX has an odd number of digits");
	if (len / 2 > MAX_HEX_BYTES)
		return usage_error("HEX is longer than %d bytes", MAX_HEX_BYTES);
	for (i = 0; i < len; i += 2) {
		unsigned int b;

		if (!isxdigit((unsigned char)s[i]) ||
		    !isxdigit((unsigned char)s[i + 1]) ||
		    sscanf(s + i, "%2x", &b) != 1)
			return usage_error("HEX: not a hex digit at offset %zu", i);
		p->payload[i / 2] = (uint8_t)b;
	}
	p->payload_len = len / 2;
	p->have_payload = true;
	return 0;
}

static int parse_count(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	if (s[0] < '0' || s[0] > '9')
		return usage_error("--count '%s' is not a positive number", s);
	*out = strtoul(s, &end, 10);
	if (errno || *end || !*out)
		return usage_error("--count '%s' is not a positive number", s);
	return 0;
}

static int parse_timeout(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	/* The comparisons also turn away NaN; a million seconds is plenty. */
	if (errno || *end || end == s || !(*out > 0 && *out < 1e6))
		return usage_error("--timeout '%s' is not a positive number of seconds", s);
	return 0;
}

static int parse_cmd_number(const char *s, uint8_t *out)
{
	unsigned long v;
	char *end;
	unsigned int i;

	for (i = 0; i <= 255; ++i) {
		const char *name = sl_event_name((uint8_t)i);

		if (name && !sl_name_cmp(s, name)) {
			*out = (uint8_t)i;
			return 0;
		}
	}
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > 255 || s[0] == '-')
		return usage_error("CMD '%s' is neither a number from 0 to 255 nor a command name", s);
	*out = (uint8_t)v;
	return 0;
}

static void print_hex_line(const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; ++i)
		printf("%02x", buf[i]);
	putchar('\n');
	fflush(stdout);
}

static void describe_event(const struct sl_attrs *a)
{
	const char *name = sl_event_name(a->cmd);

	fprintf(stderr, "%s: event %s", prog, name ? name : "unknown");
	if (!name)
		fprintf(stderr, "(%u)", a->cmd);
	if (a->present & SL_HAS(SEALINE_A_LINE_INDEX))
		fprintf(stderr, " index=%" PRIu32, a->index);
	if (a->present & SL_HAS(SEALINE_A_LINE_TTY))
		fprintf(stderr, " tty=%s", a->tty);
	if (a->present & SL_HAS(SEALINE_A_KEY_EPOCH))
		fprintf(stderr, " key_epoch=%" PRIu32, a->key_epoch);
	if (a->present & SL_HAS(SEALINE_A_LIMIT)) {
		const char *limit = sl_limit_name(a->limit);

		fprintf(stderr, " limit=%s", limit ? limit : "unknown");
	}
	if (a->present & SL_HAS(SEALINE_A_CONTROL))
		fprintf(stderr, " control_len=%zu", a->control_len);
	fputc('\n', stderr);
}

static int on_message(const struct sl_attrs *a, void *arg)
{
	struct probe *p = arg;

	if (a->cmd != SEALINE_CMD_CONTROL_RECEIVED) {
		describe_event(a);
		return 0;
	}
	if (!(a->present & SL_HAS(SEALINE_A_CONTROL))) {
		fprintf(stderr, "%s: control_received without a CONTROL attribute\n",
			prog);
		return -EBADMSG;
	}
	print_hex_line(a->control, a->control_len);
	if (p->listen_only) {
		fprintf(stderr, "%s: LEAK: an unregistered socket received a control message\n",
			prog);
		++p->leaks;
		return 0;
	}
	++p->received;
	return 0;
}

static int touch_ready_file(const struct probe *p)
{
	int fd;

	if (!p->ready_file)
		return 0;
	fd = open(p->ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "%s: --ready-file %s: %s\n", prog, p->ready_file,
			strerror(errno));
		return EXIT_FAIL;
	}
	close(fd);
	return 0;
}

static int line_request(struct probe *p, uint8_t cmd, const void *data,
			size_t len, bool with_data)
{
	struct nl_msg *msg = sl_nl_new_request(&p->nl, cmd, 0);

	if (!msg)
		return -ENOMEM;
	if (sl_nl_put_line(msg, &p->line) ||
	    (with_data && nla_put(msg, SEALINE_A_CONTROL, (int)len, data) < 0)) {
		sl_nl_free_msg(msg);
		return -EMSGSIZE;
	}
	return sl_nl_request(&p->nl, msg, NULL, NULL);
}

/*
 * Wait for control messages until --count, --timeout or a stop signal.
 * Signals are blocked outside the wait (see sl_nl_wait()).
 */
static int receive_loop(struct probe *p, const sigset_t *wait_mask)
{
	double deadline = p->timeout > 0 ? now() + p->timeout : 0;

	while (!stop_signal) {
		int timeout_ms = -1, ret;

		if (p->count && p->received >= p->count)
			return EXIT_OK;
		if (p->leaks)
			return EXIT_LEAK;
		if (deadline) {
			double left = deadline - now();

			if (left <= 0)
				return p->count ? EXIT_TIMEOUT : EXIT_OK;
			timeout_ms = (int)(left * 1000) + 1;
		}
		ret = sl_nl_wait(&p->nl, timeout_ms, wait_mask);
		if (ret == -EINTR || ret >= 0)
			continue;
		if (ret == -ENOBUFS) {
			fprintf(stderr, "%s: ENOBUFS: socket overrun, messages were lost\n",
				prog);
			continue;
		}
		return kernel_error(p, "receive", ret);
	}
	return p->leaks ? EXIT_LEAK : EXIT_OK;
}

static int do_register(struct probe *p)
{
	int ret = line_request(p, SEALINE_CMD_REGISTER_AGENT, NULL, 0, false);

	if (ret)
		return kernel_error(p, "register", ret);
	fprintf(stderr, "%s: registered as the agent of %s (portid %" PRIu32 ")\n",
		prog, p->line_arg, sl_nl_portid(&p->nl));
	return 0;
}

static int do_send(struct probe *p)
{
	int ret = line_request(p, SEALINE_CMD_SEND_CONTROL, p->payload,
			       p->payload_len, true);

	if (ret)
		return kernel_error(p, "send", ret);
	fprintf(stderr, "%s: sent %zu bytes on %s\n", prog, p->payload_len,
		p->line_arg);
	return 0;
}

/* GET_LINE for one line: proves it exists before listening to nothing. */
static int check_line(struct probe *p)
{
	int ret = line_request(p, SEALINE_CMD_GET_LINE, NULL, 0, false);

	if (ret)
		return kernel_error(p, "get_line", ret);
	return 0;
}

static int do_raw(struct probe *p, uint8_t cmd)
{
	struct nl_msg *msg = sl_nl_new_request(&p->nl, cmd, p->dump ? NLM_F_DUMP : 0);
	int ret;

	if (!msg)
		return kernel_error(p, "raw", -ENOMEM);
	if (p->have_line && sl_nl_put_line(msg, &p->line)) {
		sl_nl_free_msg(msg);
		return kernel_error(p, "raw", -EMSGSIZE);
	}
	if (p->keys) {
		uint8_t tx[SEALINE_KEY_LEN], rx[SEALINE_KEY_LEN];
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || read(fd, tx, sizeof(tx)) != sizeof(tx) ||
		    read(fd, rx, sizeof(rx)) != sizeof(rx)) {
			if (fd >= 0)
				close(fd);
			sl_nl_free_msg(msg);
			return kernel_error(p, "raw", -EIO);
		}
		close(fd);
		if (!strcmp(p->keys, "same"))
			memcpy(rx, tx, sizeof(rx));
		if (nla_put_u32(msg, SEALINE_A_KEY_EPOCH, 1) ||
		    nla_put(msg, SEALINE_A_KEY_TX, sizeof(tx), tx) ||
		    nla_put(msg, SEALINE_A_KEY_RX, sizeof(rx), rx)) {
			sl_nl_free_msg(msg);
			return kernel_error(p, "raw", -EMSGSIZE);
		}
	}
	ret = sl_nl_request(&p->nl, msg, NULL, NULL);
	if (ret) {
		printf("%s\n", sl_nl_errno_name(ret));
		return kernel_error(p, "raw", ret);
	}
	printf("ok\n");
	return EXIT_OK;
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "no-register", no_argument, NULL, 'R' },
		{ "line", required_argument, NULL, 'l' },
		{ "dump", no_argument, NULL, 'd' },
		{ "keys", required_argument, NULL, 'k' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	static struct probe probe;
	struct probe *p = &probe;
	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigset_t stop_set, wait_mask;
	const char *raw_line = NULL;
	uint8_t raw_cmd = 0;
	int opt, ret, nargs;
	char **args, **av = argv + 1;

	if (argc < 2)
		return usage_error("missing COMMAND");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return EXIT_OK;
	}
	p->cmd = argv[1];

	opterr = 0;
	/* The command is argv[0] of the option parser, as git does it. */
	while ((opt = getopt_long(argc - 1, av, ":n:t:r:Rl:dk:h", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'n':
			if ((ret = parse_count(optarg, &p->count)))
				return ret;
			break;
		case 't':
			if ((ret = parse_timeout(optarg, &p->timeout)))
				return ret;
			break;
		case 'r':
			p->ready_file = optarg;
			break;
		case 'R':
			p->no_register = true;
			break;
		case 'l':
			raw_line = optarg;
			break;
		case 'd':
			p->dump = true;
			break;
		case 'k':
			if (strcmp(optarg, "same") && strcmp(optarg, "differ"))
				return usage_error("--keys wants same or differ, not '%s'", optarg);
			p->keys = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case ':':
			return usage_error("option '%s' needs an argument", av[optind - 1]);
		default:
			return usage_error("unknown option '%s'", av[optind - 1]);
		}
	}
	args = av + optind;
	nargs = argc - 1 - optind;

	/* Every argument is checked before the kernel hears anything. */
	if (!strcmp(p->cmd, "raw")) {
		if (nargs != 1)
			return usage_error("raw takes one CMD");
		if ((ret = parse_cmd_number(args[0], &raw_cmd)))
			return ret;
		if (raw_line) {
			p->line_arg = raw_line;
			if (sl_line_parse(raw_line, &p->line))
				return usage_error("'%s' is not a line", raw_line);
			p->have_line = true;
		}
	} else {
		bool wants_hex = !strcmp(p->cmd, "send") || !strcmp(p->cmd, "sendrecv");

		if (strcmp(p->cmd, "register") && strcmp(p->cmd, "listen-unregistered") &&
		    !wants_hex)
			return usage_error("unknown command '%s'", p->cmd);
		if (nargs != (wants_hex ? 2 : 1))
			return usage_error("%s takes LINE%s", p->cmd, wants_hex ? " HEX" : "");
		p->line_arg = args[0];
		if (sl_line_parse(args[0], &p->line))
			return usage_error("'%s' is not a line (ttyS1, /dev/ttyS1, ttySL0)",
					   args[0]);
		if (wants_hex && (ret = parse_hex(args[1], p)))
			return ret;
		if (raw_line || p->dump || p->keys)
			return usage_error("--line, --dump and --keys are for raw only");
		if (p->no_register && strcmp(p->cmd, "send"))
			return usage_error("--no-register is for send only");
	}

	sigemptyset(&stop_set);
	sigaddset(&stop_set, SIGINT);
	sigaddset(&stop_set, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop_set, &wait_mask);
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	ret = sl_nl_open(&p->nl);
	if (ret) {
		const char *line_arg = p->line_arg;

		p->line_arg = NULL;
		ret = kernel_error(p, p->cmd, ret);
		p->line_arg = line_arg;
		if (!strcmp(p->cmd, "raw"))
			printf("%s\n", sl_nl_errno_name(-SL_NL_ENOFAMILY));
		return ret;
	}
	sl_nl_set_event_handler(&p->nl, on_message, p);

	if (!strcmp(p->cmd, "raw")) {
		ret = do_raw(p, raw_cmd);
	} else if (!strcmp(p->cmd, "send")) {
		ret = p->no_register ? 0 : do_register(p);
		if (!ret)
			ret = do_send(p);
	} else if (!strcmp(p->cmd, "listen-unregistered")) {
		p->listen_only = true;
		ret = check_line(p);
		if (!ret) {
			ret = sl_nl_subscribe_events(&p->nl);
			if (ret)
				ret = kernel_error(p, "subscribe", ret);
		}
		if (!ret)
			fprintf(stderr, "%s: listening on the \"%s\" group without registering\n",
				prog, SEALINE_MCGRP_EVENTS);
		if (!ret)
			ret = touch_ready_file(p);
		if (!ret)
			ret = receive_loop(p, &wait_mask);
	} else {
		/* register, sendrecv */
		ret = do_register(p);
		if (!ret && p->have_payload)
			ret = do_send(p);
		if (!ret)
			ret = touch_ready_file(p);
		if (!ret)
			ret = receive_loop(p, &wait_mask);
		if (ret == EXIT_TIMEOUT)
			fprintf(stderr, "%s: timeout: %lu of %lu messages received\n",
				prog, p->received, p->count);
	}

	sl_nl_close(&p->nl);
	return ret;
}
