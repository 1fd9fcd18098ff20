// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealine-ui: the options, the three random secrets, the listening
 * socket (loopback only unless --remote), and the wait for a signal.
 *
 * A program of its own rather than "sealctl ui": it is the only part of
 * sealine that speaks HTTP, so libmicrohttpd is linked into it and into
 * nothing else (sealctl, run by scripts as root, stays a short-lived
 * client without a network library), and it runs for as long as
 * someone uses the interface, as a service or in a terminal.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "hex.h"
#include "ui.h"

#define PROG	"sealine-ui"

enum { EXIT_USAGE = 2 };

static void help(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    " PROG " - the courier's envelope, outbox, inbox and logs in a web browser\n"
		"\n"
		"SYNOPSIS\n"
		"    " PROG " [--address ADDR] [--port N | --unix PATH] [--remote]\n"
		"               [--socket PATH] [--upload-dir DIR] [--max-upload SIZE]\n"
		"               [--folder DIR]... [--tsp-store STORE] [--tsp-socket PATH]\n"
		"\n"
		"DESCRIPTION\n"
		"    Serves a local web interface to sealined: the envelope (from this\n"
		"    installation to a peer of the address book, with files uploaded\n"
		"    from the browser), its progress up to the signed receipt, the\n"
		"    outbox, the inbox with downloads, the send and receive logs\n"
		"    (sorted, filtered, as CSV) and the lines. It talks to sealined only\n"
		"    through its control socket, as sealctl does, so it must run as a\n"
		"    user that may (root, or sealined's user), and adds no privilege.\n"
		"\n"
		"    At start it prints a URL with a random access token. Opening it\n"
		"    sets a session cookie (HttpOnly, SameSite=Strict); every form\n"
		"    carries a CSRF token; requests naming another host are refused.\n"
		"    The tokens live as long as the process: a restart makes new ones.\n"
		"    Nothing is fetched from elsewhere: the page works offline.\n"
		"\n"
		"OPTIONS\n"
		"    -a, --address ADDR\n"
		"        Listen on this numeric address (default 127.0.0.1). An address\n"
		"        that is not loopback needs --remote.\n"
		"    -p, --port N\n"
		"        The TCP port (default %d; 0: any free port, printed).\n"
		"    -u, --unix PATH\n"
		"        Listen on a unix socket (mode 0600) instead, for a reverse proxy.\n"
		"    -r, --remote\n"
		"        Allow an address that is not loopback. The interface has no TLS:\n"
		"        put it behind a TLS proxy.\n"
		"    -s, --socket PATH\n"
		"        sealined's control socket (default: $SEALINE_SOCKET, else\n"
		"        %s).\n"
		"    -d, --upload-dir DIR\n"
		"        Where uploaded files wait until they are packed (default\n"
		"        %s/ui-uploads, created 0700); each upload's directory is\n"
		"        removed once it is sent or refused.\n"
		"    -m, --max-upload SIZE\n"
		"        The most bytes one envelope's files may have together, with K,\n"
		"        M or G (default 256M, at most 1G). A larger upload is refused\n"
		"        before or while it arrives.\n"
		"    -F, --folder DIR\n"
		"        A local folder whose files and directories the envelope page\n"
		"        lists to be ticked and sent as they are (up to 16 --folder). A\n"
		"        pick must stay inside its folder, symbolic links resolved.\n"
		"        sealine-ui reads the picked files itself, with its own user's\n"
		"        rights: the folders narrow what a browser may name, they grant\n"
		"        nothing.\n"
		"    -T, --tsp-store STORE\n"
		"        On a TSP: its account store (an SQLite file, or a PostgreSQL URI\n"
		"        or connection string, as sealctl tsp takes them). Adds the pages\n"
		"        TSP accounts (add, enable, disable, remove; bind and unbind caller\n"
		"        IDs and lines; authorise callers, withdraw an authorisation;\n"
		"        call limit; replace a key), Call records (a month's records, the\n"
		"        billing summary per calling account, both as CSV) and Spool\n"
		"        (the envelopes held for later delivery, and the closed ones\n"
		"        with their receipt or notice).\n"
		"    -S, --tsp-socket PATH\n"
		"        On a TSP: sealtspd's control socket. Adds the page TSP calls\n"
		"        (lines and the calls on them).\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"    -V, --version\n"
		"        Show the version.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 after SIGTERM or SIGINT, 1 if it cannot listen, 2 on a usage error.\n"
		"\n"
		"SEE ALSO\n"
		"    sealctl(8), sealined(8), Documentation/ui.rst\n",
		SL_UI_DEFAULT_PORT, SL_CONF_DEFAULT_SOCKET,
		SL_CONF_DEFAULT_STATE_DIR);
}

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(" PROG " --help shows the manual)\n");
	return EXIT_USAGE;
}

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -EINVAL;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'K': case 'k': v <<= 10; end++; break;
	case 'M': case 'm': v <<= 20; end++; break;
	case 'G': case 'g': v <<= 30; end++; break;
	default: break;
	}
	if (*end || !v || v > SL_UI_MAX_UPLOAD_LIMIT)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool loopback(const char *addr, bool *v6)
{
	struct in_addr a4;
	struct in6_addr a6;

	*v6 = false;
	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	*v6 = true;
	return inet_pton(AF_INET6, addr, &a6) == 1 &&
	       IN6_IS_ADDR_LOOPBACK(&a6);
}

static int random_hex(char *out)
{
	uint8_t b[SL_UI_TOKEN_BYTES];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			got += (size_t)n;
	}
	sl_hex_encode(out, b, sizeof(b));
	explicit_bzero(b, sizeof(b));
	return 0;
}

static int unix_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, PROG ": the socket path %s is too long\n", path);
		return -1;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	unlink(path);	/* a stale socket of an earlier run */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(path, 0600) || listen(fd, 16)) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "address", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "unix", required_argument, NULL, 'u' },
		{ "remote", no_argument, NULL, 'r' },
		{ "socket", required_argument, NULL, 's' },
		{ "upload-dir", required_argument, NULL, 'd' },
		{ "max-upload", required_argument, NULL, 'm' },
		{ "tsp-store", required_argument, NULL, 'T' },
		{ "tsp-socket", required_argument, NULL, 'S' },
		{ "folder", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	static struct sl_ui ui = {
		.conf = {
			.address = "127.0.0.1",
			.port = SL_UI_DEFAULT_PORT,
			.upload_dir = SL_CONF_DEFAULT_STATE_DIR "/ui-uploads",
			.max_upload = SL_UI_DEFAULT_MAX_UPLOAD,
		},
	};
	const char *env = getenv("SEALINE_SOCKET");
	struct sockaddr_in sa4 = { .sin_family = AF_INET };
	struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6 };
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
	bool v6 = false;
	sigset_t set;
	int opt, sig, listen_fd = -1;
	char *end, why[PATH_MAX + 64], *folders[SL_UI_MAX_FOLDERS];
	size_t n_folders = 0;

	ui.conf.socket = env && *env ? env : SL_CONF_DEFAULT_SOCKET;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":a:p:u:rs:d:m:T:S:F:hV", longopts,
				  NULL)) != -1) {
		switch (opt) {
		case 'a':
			ui.conf.address = optarg;
			break;
		case 'p':
			errno = 0;
			ui.conf.port = (unsigned int)strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || ui.conf.port > 65535)
				return usage("--port is 0 to 65535, not '%s'", optarg);
			break;
		case 'u':
			ui.conf.unix_path = optarg;
			break;
		case 'r':
			ui.conf.remote = true;
			break;
		case 's':
			ui.conf.socket = optarg;
			break;
		case 'd':
			ui.conf.upload_dir = optarg;
			break;
		case 'm':
			if (parse_size(optarg, &ui.conf.max_upload))
				return usage("--max-upload is a size from 1 byte to 1G (with K, M or G), not '%s'",
					     optarg);
			break;
		case 'T':
			ui.conf.tsp_store = optarg;
			break;
		case 'S':
			ui.conf.tsp_socket = optarg;
			break;
		case 'F':
			if (sl_ui_folder_add(folders, &n_folders, optarg, why,
					     sizeof(why)))
				return usage("%s", why);
			break;
		case 'h':
			help(stdout);
			return 0;
		case 'V':
			printf(PROG " %s (libmicrohttpd %s)\n", SEALINE_VERSION,
			       MHD_get_version());
			return 0;
		case ':':
			return usage("%s needs an argument", argv[optind - 1]);
		default:
			return usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage("takes no arguments ('%s')", argv[optind]);
	memcpy(ui.conf.folders, folders, n_folders * sizeof(folders[0]));
	ui.conf.n_folders = n_folders;
	if (ui.conf.upload_dir[0] != '/')
		return usage("--upload-dir must be an absolute path, not '%s'",
			     ui.conf.upload_dir);
	if (ui.conf.unix_path) {
		ui.conf.address = NULL;
	} else if (!loopback(ui.conf.address, &v6)) {
		if (inet_pton(v6 ? AF_INET6 : AF_INET, ui.conf.address,
			      v6 ? (void *)&sa6.sin6_addr : (void *)&sa4.sin_addr) != 1)
			return usage("--address takes a numeric IPv4 or IPv6 address, not '%s'",
				     ui.conf.address);
		if (!ui.conf.remote)
			return usage("%s is not a loopback address: the interface has no TLS, so it listens beyond this machine only with --remote (behind a TLS proxy)",
				     ui.conf.address);
		/* Host must name the address: a wildcard names none */
		if (!strcmp(ui.conf.address, "0.0.0.0") ||
		    !strcmp(ui.conf.address, "::"))
			return usage("%s is every address: give the one browsers will use (requests must name it in their Host header)",
				     ui.conf.address);
	}
	if (random_hex(ui.token) || random_hex(ui.session) ||
	    random_hex(ui.csrf)) {
		fprintf(stderr, PROG ": no random bytes: %s\n", strerror(errno));
		return 1;
	}

	/* The threads inherit the mask: signals come to sigwait below. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (ui.conf.unix_path) {
		listen_fd = unix_listener(ui.conf.unix_path);
		if (listen_fd < 0)
			return 1;
		d = MHD_start_daemon(flags, 0, NULL, NULL, sl_ui_handler, &ui,
				     MHD_OPTION_LISTEN_SOCKET, listen_fd,
				     MHD_OPTION_CONNECTION_LIMIT, SL_UI_MAX_CONNECTIONS,
				     MHD_OPTION_CONNECTION_TIMEOUT, SL_UI_CONN_TIMEOUT_S,
				     MHD_OPTION_NOTIFY_COMPLETED, sl_ui_completed, NULL,
				     MHD_OPTION_END);
	} else {
		const struct sockaddr *sa;

		if (v6) {
			inet_pton(AF_INET6, ui.conf.address, &sa6.sin6_addr);
			sa6.sin6_port = htons((uint16_t)ui.conf.port);
			sa = (const struct sockaddr *)&sa6;
			flags |= MHD_USE_IPv6;
		} else {
			inet_pton(AF_INET, ui.conf.address, &sa4.sin_addr);
			sa4.sin_port = htons((uint16_t)ui.conf.port);
			sa = (const struct sockaddr *)&sa4;
		}
		d = MHD_start_daemon(flags, (uint16_t)ui.conf.port, NULL, NULL,
				     sl_ui_handler, &ui,
				     MHD_OPTION_SOCK_ADDR, sa,
				     MHD_OPTION_CONNECTION_LIMIT, SL_UI_MAX_CONNECTIONS,
				     MHD_OPTION_CONNECTION_TIMEOUT, SL_UI_CONN_TIMEOUT_S,
				     MHD_OPTION_NOTIFY_COMPLETED, sl_ui_completed, NULL,
				     MHD_OPTION_END);
	}
	if (!d) {
		fprintf(stderr, PROG ": cannot listen on %s port %u: %s\n",
			ui.conf.unix_path ? ui.conf.unix_path : ui.conf.address,
			ui.conf.port, strerror(errno));
		if (listen_fd >= 0)
			close(listen_fd);
		return 1;
	}
	if (ui.conf.unix_path) {
		printf(PROG ": listening on %s\nopen /login?token=%s through the proxy in front of it\n",
		       ui.conf.unix_path, ui.token);
	} else {
		info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
		ui.bound_port = info ? info->port : ui.conf.port;
		printf(PROG ": listening on %s%s%s port %u\nopen http://%s%s%s:%u/login?token=%s\n",
		       v6 ? "[" : "", ui.conf.address, v6 ? "]" : "",
		       ui.bound_port, v6 ? "[" : "", ui.conf.address,
		       v6 ? "]" : "", ui.bound_port, ui.token);
	}
	fflush(stdout);
	do {
		if (sigwait(&set, &sig))
			break;
	} while (sig != SIGINT && sig != SIGTERM);
	MHD_stop_daemon(d);
	if (ui.conf.unix_path)
		unlink(ui.conf.unix_path);
	explicit_bzero(ui.token, sizeof(ui.token));
	explicit_bzero(ui.session, sizeof(ui.session));
	explicit_bzero(ui.csrf, sizeof(ui.csrf));
	return 0;
}
