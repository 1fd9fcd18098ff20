// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The daemons' common start-up. See daemon.h.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>

#include "daemon.h"
#include "log.h"

int sl_daemon_options(const struct sl_daemon_prog *p, int argc, char *argv[],
		      struct sl_daemon_opts *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "debug", no_argument, NULL, 'd' },
		{ "check-config", no_argument, NULL, 't' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 }
	};
	int opt;

	*o = (struct sl_daemon_opts){ .config_path = p->default_config };
	while ((opt = getopt_long(argc, argv, "c:fdthV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': o->config_path = optarg; break;
		case 'f': o->foreground = true; break;
		case 'd': o->debug = true; break;
		case 't': o->check = true; break;
		case 'S': o->state_dir = optarg; break;
		case 's': o->socket_path = optarg; break;
		case 'h': p->usage(stdout); return 0;
		case 'V': p->version(); return 0;
		default:
			fprintf(stderr, "Try '%s --help'.\n", p->name);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n",
			p->name, argv[optind], p->name);
		return 2;
	}
	return -1;
}

int sl_daemon_setup(const struct sl_daemon_prog *p,
		    const struct sl_daemon_opts *o, struct sl_config *cfg)
{
	char err[1024];
	int ret;

	umask(077);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	ret = sl_config_load(cfg, o->config_path, err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%s: %s\n", p->name, err);
		return SL_EXIT_CONFIG;
	}
	ret = sl_config_override(cfg, o->state_dir, o->socket_path,
				 err, sizeof(err));
	if (ret) {
		fprintf(stderr, "%s: %s\nTry '%s --help'.\n", p->name, err,
			p->name);
		return 2;
	}
	return 0;
}

void sl_daemon_log_setup(const struct sl_daemon_prog *p,
			 const struct sl_daemon_opts *o,
			 const struct sl_config *cfg)
{
	char ident[64];

	snprintf(ident, sizeof(ident), "%s%s%s", p->name,
		 cfg->name[0] ? "-" : "", cfg->name);
	sl_log_setup(ident, o->foreground ? SL_LOG_STDERR : cfg->log_targets,
		     o->debug ? LOG_DEBUG : cfg->log_level);
}

int sl_daemon_signalfd(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	return fd;
}
