// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealined's command line: see cli.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cli.h"
#include "hex.h"
#include "ipc.h"
#include "log.h"
#include "version.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %1$s [-f] [-c FILE] [--state-dir DIR] [--socket PATH] [-d]\n"
		"       %1$s -t [-c FILE]\n"
		"       %1$s --help | --version\n"
		"\n"
		"sealined, the sealine keying agent: registers as the agent of the lines its\n"
		"configuration names, answers and starts their handshakes, installs their\n"
		"session keys in the kernel, keeps this installation's identity and its\n"
		"peers' long-term keys, and writes the session log. sealctl talks to it.\n"
		"A trusted service provider (a configuration with a [tsp] section) is\n"
		"another program: sealtspd.\n"
		"\n"
		"Options:\n"
		"  -c, --config FILE     configuration (default %2$s)\n"
		"  -f, --foreground      log to standard error instead of syslog (the daemon\n"
		"                        never forks; this is for tests and debugging)\n"
		"  -d, --debug           log at debug level\n"
		"      --state-dir DIR   override [agent] state_dir\n"
		"      --socket PATH     override [agent] socket\n"
		"  -t, --check-config    parse the configuration, print a summary, exit\n"
		"  -h, --help            this help\n"
		"  -V, --version         version\n"
		"\n"
		"Signals: SIGTERM and SIGINT stop it (the kernel then wipes the keys of its\n"
		"lines). SIGHUP (systemctl reload) re-reads the configuration, the peers\n"
		"and reopens the session log, keeping keyed lines up: log and log_level\n"
		"apply at once; changed [line] sections and [agent] paths are logged and\n"
		"apply at the next restart; a file that no longer parses is logged and the\n"
		"running configuration kept.\n"
		"\n"
		"Exit status: 0 after a clean stop or a good -t, 1 on failure, 2 on a usage\n"
		"error, 78 (EX_CONFIG) when the configuration cannot be read or used\n"
		"(sealined.service does not restart it then).\n",
		"sealined", SL_CONF_DEFAULT_PATH);
}

/*
 * A configured line whose tty is not there (yet) stays detached: say so,
 * on stderr for -t, in the log at start (a USB adapter may come later).
 */
unsigned int sl_sealined_missing_ttys(const struct sl_config *cfg, bool check)
{
	unsigned int missing = 0;
	char path[sizeof(cfg->lines[0].tty) + 5];

	for (unsigned int i = 0; i < cfg->n_lines; ++i) {
		const struct sl_line_conf *l = &cfg->lines[i];

		snprintf(path, sizeof(path), "/dev/%s", l->tty);
		if (!access(path, F_OK))
			continue;
		++missing;
		if (check)
			fprintf(stderr, "sealined: warning: %s:%u: %s does not exist (yet): the line stays detached until it appears\n",
				cfg->path, l->lineno, path);
		else
			sl_log(LOG_WARNING, "[line %s]: %s does not exist (yet): the line stays detached until it appears and is attached to sealine",
			       l->tty, path);
	}
	return missing;
}

static void print_line(const struct sl_line_conf *l)
{
	char key[2 * SL_CONF_KEY_LEN + 1];

	printf("  line %-8s peer %s, role %s, rekey %" PRIu32 " s, pairing %s, ciphers",
	       l->tty, l->peer[0] ? l->peer : "(any paired)",
	       sl_role_name(l->role), l->rekey_interval,
	       l->pairing ? "yes" : "no");
	for (unsigned int j = 0; j < l->n_ciphers; ++j)
		printf("%s%s", j ? ", " : " ",
		       l->ciphers[j] == SEALINE_CIPHER_AES256GCM ?
		       "aes256gcm" : "chacha20poly1305");
	putchar('\n');
	if (!l->modem)
		return;
	sl_hex_encode(key, l->tsp_key, sizeof(l->tsp_key));
	printf("    modem: dials the TSP at %s, pins its key %s\n", l->tsp_number,
	       key);
	printf("    modem: %u baud, init %s, ldisc %d\n", l->baud,
	       l->modem_init[0] ? l->modem_init : "(the default)",
	       l->ldisc ? l->ldisc : SEALINE_LDISC_DEFAULT);
	if (!l->dial_on_demand[0])
		return;
	printf("    dial on demand: calls %s when %s is written, ",
	       l->dial_on_demand, l->demand_link);
	if (l->idle_hangup)
		printf("idle hangup after %" PRIu32 " s\n", l->idle_hangup);
	else
		printf("no idle hangup\n");
}

/* A [courier] path as sealined will use it: configured, or in state_dir. */
static void courier_path(char *out, size_t size, const struct sl_config *cfg,
			 const char *conf, const char *name)
{
	if (conf[0])
		snprintf(out, size, "%s", conf);
	else
		snprintf(out, size, "%s/%s", cfg->state_dir, name);
}

static void print_courier(const struct sl_config *cfg)
{
	const struct sl_courier_conf *k = &cfg->courier;
	static const char *const names[] = {
		"outbox", "spool", "staging", "inbox", "receipts", "sent_log",
		"received_log",
	};
	const char *const conf[] = {
		k->outbox, k->spool, k->staging, k->inbox, k->receipts,
		k->sent_log, k->received_log,
	};
	static const char *const files[] = {
		"outbox", "spool", "staging", "inbox", "receipts", "sent.log",
		"received.log",
	};
	char path[PATH_MAX + 16];

	printf("  courier      receive %s; %" PRIu32 " attempts, retry after %" PRIu32 " s doubling up to %" PRIu32 " s; outbox records kept %" PRIu32 " days\n",
	       k->receive ? "yes" : "no", k->attempts, k->retry, k->retry_max,
	       k->keep_days);
	printf("    limits: %" PRIu64 " bytes sealed, %" PRIu64 " unpacked, %" PRIu64 " files, ratio %" PRIu32 "%s, %" PRIu64 " bytes kept free\n",
	       k->max_envelope, k->max_unpacked, k->max_files, k->max_ratio,
	       k->max_ratio ? "" : " (none)", k->min_free);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
		courier_path(path, sizeof(path), cfg, conf[i], files[i]);
		printf("    %-13s%s\n", names[i], path);
	}
}

void sl_sealined_print_config(const struct sl_config *cfg)
{
	printf("configuration %s is valid\n", cfg->path);
	printf("  account      %s\n", cfg->account[0] ? cfg->account :
	       "(from the identity; a random one when first created)");
	printf("  state_dir    %s\n  socket       %s\n  session_log  %s\n",
	       cfg->state_dir, cfg->socket_path, cfg->session_log);
	for (unsigned int i = 0; i < cfg->n_lines; ++i)
		print_line(&cfg->lines[i]);
	print_courier(cfg);
}

int sl_sealined_check_courier(const struct sl_config *cfg)
{
	char staging[PATH_MAX + 16], inbox[PATH_MAX + 16];
	struct stat a, b;

	courier_path(staging, sizeof(staging), cfg, cfg->courier.staging,
		     "staging");
	courier_path(inbox, sizeof(inbox), cfg, cfg->courier.inbox, "inbox");
	/* sealined makes them when they are missing; the rest it checks
	 * then. */
	if (stat(staging, &a) || stat(inbox, &b) || a.st_dev == b.st_dev)
		return 0;
	fprintf(stderr, "sealined: %s: [courier] staging %s and inbox %s are on different file systems: an envelope must move into the inbox whole, by one rename (sealined would not start)\n",
		cfg->path, staging, inbox);
	return -EXDEV;
}

static void version(void)
{
	printf("sealined %s (netlink family \"%s\" version %d, control protocol %d)\n",
	       SEALINE_VERSION, SEALINE_GENL_NAME, SEALINE_GENL_VERSION,
	       SL_IPC_VERSION);
}

const struct sl_daemon_prog sl_sealined_prog = {
	.name = "sealined",
	.default_config = SL_CONF_DEFAULT_PATH,
	.usage = usage,
	.version = version,
};

