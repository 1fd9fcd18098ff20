/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * What the two daemons' main() share: sealined and sealtspd take the same
 * options, protect their memory the same way, read the same configuration
 * format, log the same way and stop on the same signals. Each keeps its
 * own usage text, version line and -t summary.
 */
#ifndef SEALINE_AGENT_DAEMON_H
#define SEALINE_AGENT_DAEMON_H

#include <stdbool.h>
#include <stdio.h>

#include "config.h"

/*
 * Exit status for a configuration the daemon cannot use (sysexits.h's
 * EX_CONFIG): the units' RestartPreventExitStatus=78 stops systemd from
 * restarting a daemon whose file is broken, which would fail again.
 */
#define SL_EXIT_CONFIG	78

struct sl_daemon_prog {
	const char *name;		/* "sealined": messages, syslog tag */
	const char *default_config;	/* -c's default */
	void (*usage)(FILE *f);		/* --help */
	void (*version)(void);		/* --version */
};

struct sl_daemon_opts {
	const char *config_path;	/* -c FILE */
	const char *state_dir;		/* --state-dir DIR, or NULL */
	const char *socket_path;	/* --socket PATH, or NULL */
	bool foreground;		/* -f: log to stderr */
	bool debug;			/* -d */
	bool check;			/* -t: check the configuration */
};

/*
 * -c, -f, -d, -t, --state-dir, --socket, --help, --version. Returns -1 to
 * go on, else the exit status: 0 after --help or --version, 2 after a
 * usage error (reported on stderr).
 */
int sl_daemon_options(const struct sl_daemon_prog *p, int argc, char *argv[],
		      struct sl_daemon_opts *o);

/*
 * Files private to the daemon (umask 077), no core dumps nor ptrace by
 * other users (memory holds keys); then the configuration, with the
 * options' overrides, into cfg. 0, or the exit status with the reason on
 * stderr: SL_EXIT_CONFIG for a file it cannot read or use, 2 for a bad
 * --state-dir or --socket.
 */
int sl_daemon_setup(const struct sl_daemon_prog *p,
		    const struct sl_daemon_opts *o, struct sl_config *cfg);

/* Logging as cfg and the options say, tagged NAME or NAME-INSTANCE. */
void sl_daemon_log_setup(const struct sl_daemon_prog *p,
			 const struct sl_daemon_opts *o,
			 const struct sl_config *cfg);

/*
 * SIGTERM, SIGINT and SIGHUP blocked and delivered to the returned
 * signalfd (non-blocking, close-on-exec), SIGPIPE ignored: a negative
 * errno on failure.
 */
int sl_daemon_signalfd(void);

#endif
