// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealtspd: the sealine trusted service provider (tsp.h).
 *
 * The program around sl_tsp_main(): options, the configuration (the file
 * format of sealined, with a [tsp] section and no [line] sections), the
 * log, the process's protections. It does not fork: run it under systemd
 * (Type=notify, see sealtspd.service) or in the foreground with -f for
 * tests. Several instances run side by side when each has its own
 * configuration, state directory, control socket, store and lines.
 */
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "daemon.h"
#include "ipc.h"
#include "log.h"
#include "tsp.h"
#include "tspstore.h"
#include "version.h"

static const char *prog = "sealtspd";

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %1$s [-f] [-c FILE] [--state-dir DIR] [--socket PATH] [-d]\n"
		"       %1$s -t [-c FILE]\n"
		"       %1$s --help | --version\n"
		"\n"
		"sealtspd, the sealine trusted service provider (TSP): answers calls on the\n"
		"modem lines its configuration names, checks the caller's and the\n"
		"recipient's accounts in its store, dials the recipient on a free line,\n"
		"bridges the two lines and writes a call detail record for every call.\n"
		"It never attaches the line discipline and never holds a key that opens\n"
		"the callers' data. Store and forward: it takes sealed envelopes that\n"
		"senders hand over, holds them in its spool, calls their recipients to\n"
		"deliver them and keeps the receipts for the senders, without being able\n"
		"to open them. Its accounts, records and spool: sealctl tsp; its state:\n"
		"sealctl status.\n"
		"\n"
		"The configuration has sealined's format with a [tsp] section (store,\n"
		"instance, lease, backlog, lines, baud, init, answer_timeout; for store\n"
		"and forward spool, random_delay, batch_interval, max_envelope,\n"
		"quota_bytes, quota_envelopes, min_free, max_hold, max_attempts,\n"
		"receive_timeout) and no [line] sections; a file without [tsp] is an\n"
		"endpoint's, for sealined. The store is an SQLite file (one TSP) or a\n"
		"PostgreSQL database that several TSPs share (postgresql://... or a libpq\n"
		"connection string); lines are serial ports or ports of terminal servers\n"
		"(rfc2217://HOST:PORT, tcp://HOST:PORT).\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE     configuration (default %2$s)\n"
		"  -f, --foreground      log to standard error instead of syslog (the daemon\n"
		"                        never forks; this is for tests and debugging)\n"
		"  -d, --debug           log at debug level\n"
		"      --state-dir DIR   override [agent] state_dir (its identity: the\n"
		"                        static key endpoints pin as tsp_key)\n"
		"      --socket PATH     override [agent] socket\n"
		"  -t, --check-config    parse the configuration, print a summary, exit\n"
		"  -h, --help            this help\n"
		"  -V, --version         version\n"
		"\n"
		"Signals: SIGTERM and SIGINT stop it (calls in progress are hung up and\n"
		"their records closed as interrupted); SIGHUP reloads nothing (the\n"
		"account store is read at every call; restart to apply configuration\n"
		"changes).\n"
		"\n"
		"Under systemd it reports READY=1 once its store is open, its control\n"
		"socket listens and its lines are open.\n"
		"\n"
		"Exit status: 0 after a clean stop or a good -t, 1 on failure, 2 on a usage\n"
		"error, 78 (EX_CONFIG) when the configuration cannot be read or used\n"
		"(sealtspd.service does not restart it then).\n",
		prog, SL_CONF_TSP_DEFAULT_PATH);
}

static void print_config(const struct sl_config *cfg)
{
	const struct sl_tsp_conf *t = &cfg->tsp;
	char store[SL_TSP_ERR_MAX];

	printf("configuration %s is valid: a TSP\n", cfg->path);
	printf("  state_dir       %s\n  socket          %s\n",
	       cfg->state_dir, cfg->socket_path);
	sl_tsp_store_redact(store, sizeof(store), t->store);
	printf("  store           %s (%s)\n", store,
	       t->store[0] == '/' ? "an SQLite file" : "PostgreSQL");
	printf("  instance        %s\n", t->instance[0] ? t->instance :
	       "(the host name)");
	printf("  lease           %" PRIu32 " s\n", t->lease);
	printf("  backlog         %s\n", t->backlog[0] ? t->backlog :
	       "(state_dir/" SL_TSP_BACKLOG_NAME ")");
	for (unsigned int i = 0; i < t->n_lines; ++i) {
		glob_t g;
		size_t n = 0;

		/* A terminal server's port is resolved when sealtspd starts. */
		if (strstr(t->lines[i], "://")) {
			printf("  lines           %s (a terminal server's port)\n",
			       t->lines[i]);
			continue;
		}
		if (!glob(t->lines[i], GLOB_NOSORT, NULL, &g)) {
			n = g.gl_pathc;
			globfree(&g);
		}
		printf("  lines           %s (%zu now)\n", t->lines[i], n);
		if (!n)
			fprintf(stderr, "%s: warning: %s:%u: lines: nothing matches %s now (sealtspd expands the patterns when it starts)\n",
				prog, cfg->path, t->lineno, t->lines[i]);
	}
	printf("  baud            %u\n", t->baud);
	printf("  init            %s\n", t->init[0] ? t->init :
	       SL_TSP_DEFAULT_INIT " (the default)");
	printf("  answer_timeout  %" PRIu32 " s\n", t->answer_timeout);
	printf("  spool           %s\n", t->spool[0] ? t->spool :
	       "(state_dir/tsp-spool)");
	printf("  random_delay    %" PRIu32 " s\n", t->random_delay);
	printf("  batch_interval  %" PRIu32 " s\n", t->batch_interval);
	printf("  max_envelope    %" PRIu64 " bytes\n", t->max_envelope);
	printf("  quota_bytes     %" PRIu64 " bytes per sender\n", t->quota_bytes);
	printf("  quota_envelopes %" PRIu32 " per sender\n", t->quota_envelopes);
	printf("  min_free        %" PRIu64 " bytes\n", t->min_free);
	printf("  max_hold        %" PRIu32 " s\n", t->max_hold);
	printf("  max_attempts    %" PRIu32 "\n", t->max_attempts);
	printf("  receive_timeout %" PRIu32 " s\n", t->receive_timeout);
}

static void version(void)
{
	printf("sealtspd %s (control protocol %d)\n", SEALINE_VERSION,
	       SL_IPC_VERSION);
}

static const struct sl_daemon_prog sealtspd = {
	.name = "sealtspd",
	.default_config = SL_CONF_TSP_DEFAULT_PATH,
	.usage = usage,
	.version = version,
};

int main(int argc, char *argv[])
{
	struct sl_daemon_opts opts;
	struct sl_config *cfg;
	int ret, status = 1;

	ret = sl_daemon_options(&sealtspd, argc, argv, &opts);
	if (ret >= 0)
		return ret;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	status = sl_daemon_setup(&sealtspd, &opts, cfg);
	if (status)
		goto out;
	status = SL_EXIT_CONFIG;
	if (!cfg->tsp.enabled) {
		fprintf(stderr, "%s: %s is not a TSP configuration (it has no [tsp] section): run sealined -c %s\n",
			prog, cfg->path, cfg->path);
		goto out;
	}
	if (opts.check) {
		print_config(cfg);
		status = 0;
		goto out;
	}

	sl_daemon_log_setup(&sealtspd, &opts, cfg);
	sl_log(LOG_NOTICE, "sealtspd %s, configuration %s", SEALINE_VERSION,
	       cfg->path);
	status = sl_tsp_main(cfg);
	sl_log_close();
out:
	free(cfg);
	return status;
}
