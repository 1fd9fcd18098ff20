// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of the configuration parser (agent/lib/config.c): every key,
 * its defaults and its errors, and the example configuration.
 */
#include <errno.h>

#include "check.h"
#include "config.h"
#include "daemon_test.h"

TEST(config_good)
{
	static const char text[] =
		"# sealined test configuration\n"
		"; another comment style\n"
		"\n"
		"[agent]\n"
		"account = 123456789012\n"
		"  state_dir=/tmp/x/state   \n"
		"socket = /tmp/x/sealined.sock # trailing comment\n"
		"log = both\n"
		"log_level = debug\n"
		"name = side-a\n"
		"\n"
		"[line ttyS1]\n"
		"peer = 210987654321\n"
		"role = initiator\n"
		"rekey_interval = 20m\n"
		"pairing = yes\n"
		"cipher = aes256gcm, chacha20poly1305\n"
		"\r\n"
		"[ line /dev/ttyS2 ]\r\n"
		"rekey_interval = 0\r\n"
		"mode = datagram\r\n"
		"cipher = chacha20poly1305\r\n"
		"[line ttyUSB0]\n";
	struct sl_config *cfg = new_cfg();
	char err[512];

	if (!CHECKF(!parse(cfg, text, err, sizeof(err)), "parse: %s", err))
		goto out;
	CHECK(!strcmp(cfg->account, "123456789012"));
	CHECK(!strcmp(cfg->state_dir, "/tmp/x/state"));
	CHECK(!strcmp(cfg->socket_path, "/tmp/x/sealined.sock"));
	CHECK(!strcmp(cfg->session_log, "/tmp/x/state/sessions.log"));
	CHECK_EQ(cfg->log_targets, SL_LOG_SYSLOG | SL_LOG_STDERR);
	CHECK_EQ(cfg->log_level, LOG_DEBUG);
	CHECK(!strcmp(cfg->name, "side-a"));
	if (!CHECK_EQ(cfg->n_lines, 3))
		goto out;
	CHECK(!strcmp(cfg->lines[0].tty, "ttyS1"));
	CHECK(!strcmp(cfg->lines[0].peer, "210987654321"));
	CHECK_EQ(cfg->lines[0].role, SL_ROLE_INITIATOR);
	CHECK_EQ(cfg->lines[0].rekey_interval, 1200);
	CHECK(cfg->lines[0].pairing);
	CHECK_EQ(cfg->lines[0].n_ciphers, 2);
	CHECK_EQ(cfg->lines[0].ciphers[0], SEALINE_CIPHER_AES256GCM);
	CHECK_EQ(cfg->lines[0].ciphers[1], SEALINE_CIPHER_CHACHA20POLY1305);
	CHECK_EQ(cfg->lines[0].lineno, 12);
	CHECK(!strcmp(cfg->lines[1].tty, "ttyS2"));
	CHECK_EQ(cfg->lines[1].rekey_interval, 0);
	CHECK_EQ(cfg->lines[1].mode, SEALINE_MODE_DATAGRAM);
	CHECK_EQ(cfg->lines[1].n_ciphers, 1);
	/* Defaults of a bare section. */
	CHECK(!strcmp(cfg->lines[2].tty, "ttyUSB0"));
	CHECK(!cfg->lines[2].peer[0]);
	CHECK_EQ(cfg->lines[2].role, SL_ROLE_AUTO);
	CHECK_EQ(cfg->lines[2].rekey_interval, SL_CONF_REKEY_DEFAULT);
	CHECK(!cfg->lines[2].pairing);
	CHECK_EQ(cfg->lines[2].mode, SEALINE_MODE_RELIABLE);
	CHECK_EQ(cfg->lines[2].ciphers[0], SEALINE_CIPHER_CHACHA20POLY1305);
	CHECK(sl_config_line(cfg, "ttyS2") == &cfg->lines[1]);
	CHECK(sl_config_line(cfg, "ttyS9") == NULL);
out:
	free(cfg);
}

TEST(config_defaults)
{
	struct sl_config *cfg = new_cfg();
	char err[512];

	CHECK(!parse(cfg, "", err, sizeof(err)));
	CHECK(!strcmp(cfg->state_dir, SL_CONF_DEFAULT_STATE_DIR));
	CHECK(!strcmp(cfg->socket_path, SL_CONF_DEFAULT_SOCKET));
	CHECK(!strcmp(cfg->session_log, "/var/lib/sealine/sessions.log"));
	CHECK_EQ(cfg->log_targets, SL_LOG_SYSLOG);
	CHECK_EQ(cfg->log_level, LOG_INFO);
	CHECK(!cfg->account[0]);
	CHECK_EQ(cfg->n_lines, 0);
	/* An explicit session_log is kept. */
	CHECK(!parse(cfg, "[agent]\nstate_dir = /s\nsession_log = /l/x.log\n",
		     err, sizeof(err)));
	CHECK(!strcmp(cfg->session_log, "/l/x.log"));
	free(cfg);
}

/* Each bad file must fail with "test.conf:LINE: " and a word of the reason. */
TEST(config_errors)
{
	static const struct {
		const char *text;
		unsigned int line;
		const char *what;
	} cases[] = {
		{ "[agent]\nfrob = 1\n", 2, "unknown setting 'frob'" },
		{ "[agnet]\n", 1, "unknown section" },
		{ "account = 123456789012\n", 1, "outside a section" },
		{ "[agent]\naccount = 123456789012\n\naccount = 123456789012\n", 4,
		  "set twice in this section (first at line 2)" },
		{ "[line ttyS1]\n[line ttyS2]\n[line /dev/ttyS1]\n", 3,
		  "configured twice (first at line 1)" },
		{ "[agent]\n[agent]\n", 2, "appears twice" },
		{ "[agent]\naccount = 12345678901\n", 2, "exactly 12 digits" },
		{ "[agent]\naccount = 12345678901x\n", 2, "exactly 12 digits" },
		{ "[agent]\naccount = 1234567890123\n", 2, "exactly 12 digits" },
		{ "[line ttyS1]\nrole = boss\n", 2, "auto, initiator or responder" },
		{ "[line ttyS1]\nrekey_interval = 5\n", 2, "out of range" },
		{ "[line ttyS1]\nrekey_interval = 2w\n", 2, "number of seconds (or with m, h or d)" },
		{ "[line ttyS1]\nrekey_interval = 2d\n", 2, "out of range: 0 (off) or 10 s to 1 day" },
		{ "[line ttyS1]\nrekey_interval = 99999999999\n", 2, "out of range" },
		{ "[line ttyS1]\nrekey_interval = -1\n", 2, "number of seconds" },
		{ "[line ttyS1]\npairing = maybe\n", 2, "yes or no" },
		{ "[line ttyS1]\nmode = fast\n", 2, "reliable or datagram, not 'fast'" },
		{ "[line ttyS1]\ncipher = des\n", 2, "unknown cipher 'des'" },
		{ "[line ttyS1]\ncipher = aes256gcm,aes256gcm\n", 2, "listed twice" },
		{ "[line ttyS1]\ncipher = ,\n", 2, "at least one cipher" },
		{ "[line ttyS1]\npeer = me\n", 2, "exactly 12 digits" },
		{ "[agent]\nstate_dir = var/lib\n", 2, "absolute path" },
		{ "[agent]\nsocket = /" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		  2, "too long" },
		{ "[agent]\nlog = journal\n", 2, "syslog, stderr or both" },
		{ "[agent]\nlog_level = chatty\n", 2, "error, warning" },
		{ "[agent]\nname = a b\n", 2, "may only hold" },
		{ "[line ttySL0]\n", 1, "virtual tty" },
		{ "[line]\n", 1, "needs the line's tty" },
		{ "[line tty S1]\n", 1, "not a tty name" },
		{ "[line ttyS1\n", 1, "section header" },
		{ "[line ttyS1] x\n", 1, "section header" },
		{ "[agent]\n\n\naccount\n", 4, "key = value" },
		{ "[agent]\naccount =\n", 2, "has no value" },
		{ "[agent]\n= 1\n", 2, "needs a name" },
		{ "[agent]\nlog = syslog\x01\n", 2, "control character" },
		{ "# fine\n# fine\n[linex ttyS1]\n", 3, "unknown section" },
		/* [tsp]: store and forward's limits and timing. */
		{ "[tsp]\nlines = /dev/ttyS1\nquota_bytes = lots\n", 3,
		  "quota_bytes must be a size in bytes (or with K, M, G, T), not 'lots'" },
		{ "[tsp]\nlines = /dev/ttyS1\nquota_bytes = 512\n", 3,
		  "quota_bytes '512' is out of range (1024 to 1125899906842624 bytes)" },
		{ "[tsp]\nlines = /dev/ttyS1\nquota_envelopes = 0\n", 3,
		  "quota_envelopes must be a number from 1 to 10000000, not '0'" },
		{ "[tsp]\nlines = /dev/ttyS1\nquota_envelopes = 1e3\n", 3,
		  "quota_envelopes must be a number" },
		{ "[tsp]\nlines = /dev/ttyS1\nmax_hold = 5\n", 3,
		  "max_hold '5' is out of range: 10 s to 365 days" },
		{ "[tsp]\nlines = /dev/ttyS1\nmax_hold = 0\n", 3,
		  "max_hold '0' is out of range: 10 s to 365 days" },
		{ "[tsp]\nlines = /dev/ttyS1\nmax_hold = 1w\n", 3,
		  "max_hold must be a number of seconds (or with m, h or d), not '1w'" },
		{ "[tsp]\nlines = /dev/ttyS1\nmax_hold = 366d\n", 3, "out of range" },
		{ "[tsp]\nlines = /dev/ttyS1\nmax_attempts = 1001\n", 3,
		  "max_attempts must be a number from 1 to 1000" },
		{ "[tsp]\nlines = /dev/ttyS1\nreceive_timeout = 30\n", 3,
		  "receive_timeout '30' is out of range: 1 min to 30 days" },
		{ "[tsp]\nlines = /dev/ttyS1\nmin_free = -1\n", 3, "size in bytes" },
		{ "[tsp]\nlines = /dev/ttyS1\nmax_envelope = 2P\n", 3, "size in bytes" },
		{ "[tsp]\nlines = /dev/ttyS1\nbatch_interval = 2d\n", 3,
		  "batch_interval '2d' is out of range: 0 (off) or 1 s to 1 day" },
		{ "[tsp]\nlines = /dev/ttyS1\nquota_bytes = 1M\n\nquota_bytes = 2M\n", 5,
		  "'quota_bytes' is set twice in this section (first at line 3)" },
	};
	struct sl_config *cfg = new_cfg();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
		char err[512], want[32];

		if (!CHECKF(parse(cfg, cases[i].text, err, sizeof(err)) == -EINVAL,
			    "case %zu accepted: %s", i, cases[i].text))
			continue;
		snprintf(want, sizeof(want), "test.conf:%u: ", cases[i].line);
		CHECKF(!strncmp(err, want, strlen(want)),
		       "case %zu: '%s' does not start with '%s'", i, err, want);
		CHECKF(strstr(err, cases[i].what) != NULL,
		       "case %zu: '%s' lacks '%s'", i, err, cases[i].what);
	}
	free(cfg);
}

TEST(config_binary_and_long)
{
	struct sl_config *cfg = new_cfg();
	char text[2100], err[512];
	int ret;

	/* A NUL byte in the middle of line 2. */
	memcpy(text, "[agent]\nlog = sys\0log\n", 22);
	sl_config_defaults(cfg);
	ret = sl_config_parse(cfg, "test.conf", text, 22, err, sizeof(err));
	CHECK_EQ(ret, -EINVAL);
	CHECKF(strstr(err, "test.conf:2: NUL byte") != NULL, "%s", err);

	/* A line over the limit. */
	memset(text, 'x', sizeof(text));
	memcpy(text, "[agent]\nname = ", 15);
	text[sizeof(text) - 1] = '\0';
	CHECK_EQ(parse(cfg, text, err, sizeof(err)), -EINVAL);
	CHECKF(strstr(err, "test.conf:2: line too long") != NULL, "%s", err);
	free(cfg);
}

TEST(config_tsp_and_modem)
{
	static const char *const bad[][2] = {
		{ "[tsp]\nlines = relative\n", "absolute path" },
		{ "[tsp]\nlines = /dev/ttyS1,,/dev/ttyS2\n", "empty entry" },
		{ "[tsp]\nbaud = fast\nlines = /dev/ttyS1\n", "serial speed" },
		{ "[tsp]\ninit = ZZ\nlines = /dev/ttyS1\n", "AT command" },
		{ "[tsp]\nanswer_timeout = 500\nlines = /dev/ttyS1\n", "10 s to 300 s" },
		{ "[tsp]\ninstance = a/b\nlines = /dev/ttyS1\n", "may only hold" },
		{ "[tsp]\nspool = spool\nlines = /dev/ttyS1\n", "absolute path" },
		{ "[tsp]\nrandom_delay = 2\nlines = /dev/ttyS1\n", "out of range" },
		{ "[tsp]\nrandom_delay = soon\nlines = /dev/ttyS1\n", "number of seconds" },
		{ "[tsp]\n[tsp]\n", "appears twice" },
		{ "[tsp]\n", "needs 'lines = ...'" },
		{ "[tsp]\nlines = /dev/ttyS1\n[line ttyS2]\n", "keys no lines of its own" },
		{ "[line ttyS1]\nmodem = yes\n", "needs tsp_number and tsp_key" },
		{ "[line ttyS1]\nmodem = yes\ntsp_number = 555;0\n", "phone number" },
		{ "[line ttyS1]\ntsp_key = 00ff\n", "tsp_key" },
		{ "[line ttyS1]\nldisc = 99\n", "line discipline number" },
	};
	struct sl_config *cfg = new_cfg();
	char err[1024];

	if (CHECKF(!parse(cfg, "[agent]\nname = t\n[tsp]\n"
			  "store = /var/lib/t/a.db\ninstance = tsp-1\n"
			  "lines = /dev/ttyS1, /dev/ttyUSB*, bank1=rfc2217://ts1.example:2001,"
			  " tcp://[2001:db8::1]:4001\nbaud = 9600\n"
			  "init = ATE0V1S2=128\nanswer_timeout = 1m\nlease = 2m\n"
			  "backlog = /var/spool/t/backlog\n"
			  "spool = /var/spool/t/held\nrandom_delay = 30m\n"
			  "batch_interval = 5m\nmax_envelope = 64M\n"
			  "quota_bytes = 10MiB\nquota_envelopes = 3\n"
			  "min_free = 0\nmax_hold = 2d\nmax_attempts = 5\n"
			  "receive_timeout = 6h\n",
			  err, sizeof(err)), "%s", err)) {
		CHECK(cfg->tsp.enabled);
		CHECK(!strcmp(cfg->tsp.store, "/var/lib/t/a.db"));
		CHECK(!strcmp(cfg->tsp.instance, "tsp-1"));
		CHECK_EQ(cfg->tsp.n_lines, 4u);
		CHECK(!strcmp(cfg->tsp.lines[1], "/dev/ttyUSB*"));
		CHECK(!strcmp(cfg->tsp.lines[2], "bank1=rfc2217://ts1.example:2001"));
		CHECK(!strcmp(cfg->tsp.lines[3], "tcp://[2001:db8::1]:4001"));
		CHECK_EQ(cfg->tsp.lease, 120u);
		CHECK(!strcmp(cfg->tsp.backlog, "/var/spool/t/backlog"));
		CHECK_EQ(cfg->tsp.baud, 9600u);
		CHECK(!strcmp(cfg->tsp.init, "ATE0V1S2=128"));
		CHECK_EQ(cfg->tsp.answer_timeout, 60u);
		CHECK(!strcmp(cfg->tsp.spool, "/var/spool/t/held"));
		CHECK_EQ(cfg->tsp.random_delay, 1800u);
		CHECK_EQ(cfg->tsp.batch_interval, 300u);
		CHECK_EQ(cfg->tsp.max_envelope, 64ULL << 20);
		CHECK_EQ(cfg->tsp.quota_bytes, 10ULL << 20);
		CHECK_EQ(cfg->tsp.quota_envelopes, 3u);
		CHECK_EQ(cfg->tsp.min_free, 0u);
		CHECK_EQ(cfg->tsp.max_hold, 2u * 86400);
		CHECK_EQ(cfg->tsp.max_attempts, 5u);
		CHECK_EQ(cfg->tsp.receive_timeout, 6u * 3600);
	}
	/* The defaults are store-and-forward.rst's "Limits" and "Scheduling". */
	if (CHECKF(!parse(cfg, "[tsp]\nlines = /dev/ttyS1\n", err, sizeof(err)),
		   "%s", err)) {
		CHECK_EQ(cfg->tsp.random_delay, 3600u);
		CHECK_EQ(cfg->tsp.batch_interval, 900u);
		CHECK_EQ(cfg->tsp.max_envelope, 1ULL << 30);
		CHECK_EQ(cfg->tsp.quota_bytes, 512ULL << 20);
		CHECK_EQ(cfg->tsp.quota_envelopes, 1000u);
		CHECK_EQ(cfg->tsp.min_free, 1ULL << 30);
		CHECK_EQ(cfg->tsp.max_hold, 7u * 86400);
		CHECK_EQ(cfg->tsp.max_attempts, 20u);
		CHECK_EQ(cfg->tsp.receive_timeout, 86400u);
	}
	if (CHECKF(!parse(cfg, "[line ttyS4]\nmodem = yes\ntsp_number = 5550100\n"
			  "tsp_key = 0102030405060708090a0b0c0d0e0f10"
			  "1112131415161718191a1b1c1d1e1f20\nbaud = 2400\n"
			  "modem_init = ATZ\nldisc = 28\n", err, sizeof(err)),
		   "%s", err)) {
		const struct sl_line_conf *l = &cfg->lines[0];

		CHECK(l->modem && l->has_tsp_key);
		CHECK(!strcmp(l->tsp_number, "5550100"));
		CHECK_EQ(l->tsp_key[0], 1);
		CHECK_EQ(l->tsp_key[31], 0x20);
		CHECK_EQ(l->baud, 2400u);
		CHECK(!strcmp(l->modem_init, "ATZ"));
		CHECK_EQ(l->ldisc, 28);
		CHECK(!cfg->tsp.enabled);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		if (!CHECKF(parse(cfg, bad[i][0], err, sizeof(err)) == -EINVAL,
			    "case %zu accepted: %s", i, bad[i][0]))
			continue;
		CHECKF(strstr(err, bad[i][1]) != NULL,
		       "case %zu: '%s' lacks '%s'", i, err, bad[i][1]);
	}
	free(cfg);
}

/* [tsp] store: SQLite paths, PostgreSQL URIs and connection strings. */
TEST(config_tsp_store)
{
	static const char *const good[][2] = {
		{ "store = sqlite:/var/lib/t/b.db\n", "/var/lib/t/b.db" },
		{ "store = postgresql://tsp@db1.example/sealine?sslmode=verify-full\n",
		  "postgresql://tsp@db1.example/sealine?sslmode=verify-full" },
		{ "store = postgres:///sealine\n", "postgres:///sealine" },
		{ "store = service=sealine\n", "service=sealine" },
		{ "store = host=/run/postgresql dbname=tsp\n",
		  "host=/run/postgresql dbname=tsp" },
	};
	static const char *const bad[][2] = {
		{ "store = accounts.db\n", "absolute path" },
		{ "store = sqlite:accounts.db\n", "absolute path" },
		{ "store = mysql://db1/tsp\n", "a postgresql:// URI" },
		{ "database = /var/lib/t/a.db\n", "is now called 'store'" },
		{ "lease = 1\n", "out of range" },
		{ "lease = 2h\n", "from 10 s to 3600 s" },
		{ "backlog = backlog\n", "absolute path" },
		{ "lines = ftp://ts1:21\n", "not a terminal server port" },
		{ "lines = rfc2217://ts1\n", "needs a port" },
		{ "lines = rfc2217://ts1:\n", "needs a port" },
		{ "lines = bad name=tcp://ts1:4001\n", "line name" },
	};
	struct sl_config *cfg = new_cfg();
	char text[1200], err[1024];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); ++i) {
		snprintf(text, sizeof(text), "[tsp]\nlines = /dev/ttyS1\n%s",
			 good[i][0]);
		if (CHECKF(!parse(cfg, text, err, sizeof(err)), "%s", err))
			CHECKF(!strcmp(cfg->tsp.store, good[i][1]), "case %zu: %s",
			       i, cfg->tsp.store);
	}
	/* The defaults. */
	if (CHECKF(!parse(cfg, "[tsp]\nlines = /dev/ttyS1\n", err, sizeof(err)),
		   "%s", err)) {
		CHECK(!strcmp(cfg->tsp.store, SL_TSP_DEFAULT_DB));
		CHECK_EQ(cfg->tsp.lease, (uint32_t)SL_CONF_TSP_LEASE_DEFAULT);
		CHECK(!cfg->tsp.backlog[0]);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		snprintf(text, sizeof(text), "[tsp]\n%s%s", bad[i][0],
			 strncmp(bad[i][0], "lines", 5) ? "lines = /dev/ttyS1\n" : "");
		if (!CHECKF(parse(cfg, text, err, sizeof(err)) == -EINVAL,
			    "case %zu accepted: %s", i, bad[i][0]))
			continue;
		CHECKF(strstr(err, bad[i][1]) != NULL,
		       "case %zu: '%s' lacks '%s'", i, err, bad[i][1]);
	}
	free(cfg);
}

TEST(config_dial_on_demand)
{
	static const char *const modem =
		"[line ttyS4]\nmodem = yes\ntsp_number = 5550100\n"
		"tsp_key = 0102030405060708090a0b0c0d0e0f10"
		"1112131415161718191a1b1c1d1e1f20\n";
	static const char *const bad[][2] = {
		{ "dial_on_demand = 12345\n", "exactly 12 digits" },
		{ "dial_on_demand = 210987654321\nidle_hangup = 5\n", "out of range" },
		{ "dial_on_demand = 210987654321\nidle_hangup = soon\n", "number of seconds" },
		{ "dial_on_demand = 210987654321\ndemand_link = ttyS4.line\n", "absolute path" },
		{ "idle_hangup = 1m\n", "no dial_on_demand" },
		{ "demand_link = /run/x.line\n", "no dial_on_demand" },
		{ "dial_on_demand = 210987654321\ndial_on_demand = 210987654321\n", "twice" },
	};
	struct sl_config *cfg = new_cfg();
	char text[1024], err[1024];

	/* Defaults: the link next to the socket, 300 s idle. */
	snprintf(text, sizeof(text), "%sdial_on_demand = 210987654321\n", modem);
	if (CHECKF(!parse(cfg, text, err, sizeof(err)), "%s", err)) {
		const struct sl_line_conf *l = &cfg->lines[0];

		CHECK(!strcmp(l->dial_on_demand, "210987654321"));
		CHECK(!strcmp(l->demand_link, "/run/sealine/ttyS4.line"));
		CHECK_EQ(l->idle_hangup, 300u);
	}
	snprintf(text, sizeof(text), "%sdial_on_demand = 210987654321\n"
		 "demand_link = /run/app/modem\nidle_hangup = 20s\n", modem);
	if (CHECKF(!parse(cfg, text, err, sizeof(err)), "%s", err)) {
		CHECK(!strcmp(cfg->lines[0].demand_link, "/run/app/modem"));
		CHECK_EQ(cfg->lines[0].idle_hangup, 20u);
	}
	snprintf(text, sizeof(text), "%sdial_on_demand = 210987654321\n"
		 "idle_hangup = 0\n", modem);
	if (CHECKF(!parse(cfg, text, err, sizeof(err)), "%s", err))
		CHECK_EQ(cfg->lines[0].idle_hangup, 0u);
	/* Off unless configured. */
	if (CHECKF(!parse(cfg, modem, err, sizeof(err)), "%s", err)) {
		CHECK(!cfg->lines[0].dial_on_demand[0]);
		CHECK(!cfg->lines[0].demand_link[0]);
		CHECK_EQ(cfg->lines[0].idle_hangup, 0u);
	}
	/* Only a dial-up line can call. */
	CHECK_EQ(parse(cfg, "[line ttyS1]\ndial_on_demand = 210987654321\n",
		       err, sizeof(err)), -EINVAL);
	CHECKF(strstr(err, "needs modem = yes") != NULL, "%s", err);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		snprintf(text, sizeof(text), "%s%s", modem, bad[i][0]);
		if (!CHECKF(parse(cfg, text, err, sizeof(err)) == -EINVAL,
			    "case %zu accepted: %s", i, bad[i][0]))
			continue;
		CHECKF(strstr(err, bad[i][1]) != NULL,
		       "case %zu: '%s' lacks '%s'", i, err, bad[i][1]);
	}
	free(cfg);
}

TEST(config_load)
{
	struct sl_config *cfg = new_cfg();
	char path[PATH_MAX], err[1024];

	path_in(path, sizeof(path), "missing.conf");
	CHECK_EQ(sl_config_load(cfg, path, err, sizeof(err)), -ENOENT);
	CHECKF(strstr(err, path) && strstr(err, "No such file"), "%s", err);

	path_in(path, sizeof(path), "good.conf");
	write_file(path, "[agent]\nstate_dir = /tmp/s\n[line ttyS3]\nrole = responder\n",
		   0644);
	if (CHECKF(!sl_config_load(cfg, path, err, sizeof(err)), "%s", err)) {
		CHECK(!strcmp(cfg->path, path));
		CHECK(!strcmp(cfg->session_log, "/tmp/s/sessions.log"));
		CHECK_EQ(cfg->lines[0].role, SL_ROLE_RESPONDER);
	}

	path_in(path, sizeof(path), "bad.conf");
	write_file(path, "[agent]\n\n# comment\nstate_dir = relative\n", 0644);
	CHECK_EQ(sl_config_load(cfg, path, err, sizeof(err)), -EINVAL);
	{
		char want[PATH_MAX + 8];

		snprintf(want, sizeof(want), "%s:4: ", path);
		CHECKF(!strncmp(err, want, strlen(want)), "%s", err);
	}
	/* A directory is not a configuration. */
	CHECK(sl_config_load(cfg, tmpdir, err, sizeof(err)) < 0);
	free(cfg);
}

TEST(config_example_parses)
{
	struct sl_config *cfg = new_cfg();
	char err[1024];

	/* The shipped example must stay valid. */
	CHECKF(!sl_config_load(cfg, SEALINE_AGENT_DIR "/dist/sealined.conf.example", err,
			       sizeof(err)), "%s", err);
	free(cfg);
}

TEST(config_courier)
{
	static const char *const bad[][2] = {
		{ "[courier]\nmax_envelope = 12Q\n", "a size in bytes" },
		{ "[courier]\nmax_envelope = 512\n", "out of range" },
		{ "[courier]\nmax_envelope = 99999999999T\n", "out of range" },
		{ "[courier]\nmax_files = 0\n", "a number from 1" },
		{ "[courier]\nmax_files = -3\n", "a number from 1" },
		{ "[courier]\nretry = 0\n", "cannot be 0" },
		{ "[courier]\nretry_max = 0\n", "cannot be 0" },
		{ "[courier]\nattempts = 0\n", "a number from 1" },
		{ "[courier]\ntsp_after = 1001\n", "tsp_after must be a number from 0 to 1000" },
		{ "[courier]\ntsp_after = two\n", "tsp_after must be a number" },
		{ "[courier]\ninbox = relative/in\n", "absolute" },
		{ "[courier]\nreceive = perhaps\n", "yes or no" },
		{ "[courier]\nfrob = 1\n", "unknown setting 'frob' in [courier]" },
		{ "[courier]\nmax_files = 3\nmax_files = 4\n", "set twice" },
		{ "[courier]\n[courier]\n", "appears twice" },
	};
	struct sl_config *cfg = new_cfg();
	char err[1024];

	if (CHECKF(!parse(cfg, "", err, sizeof(err)), "%s", err)) {
		CHECK(cfg->courier.receive);
		CHECK(!cfg->courier.inbox[0]);	/* under state_dir */
		CHECK_EQ(cfg->courier.max_envelope, SL_CONF_COURIER_MAX_ENVELOPE);
		CHECK_EQ(cfg->courier.max_files, (uint64_t)SL_CONF_COURIER_MAX_FILES);
		CHECK_EQ(cfg->courier.attempts, (uint32_t)SL_CONF_COURIER_ATTEMPTS);
		CHECK_EQ(cfg->courier.retry, (uint32_t)SL_CONF_COURIER_RETRY);
		CHECK_EQ(cfg->courier.tsp_after, 0u);	/* never */
	}
	if (CHECKF(!parse(cfg, "[courier]\nreceive = no\ninbox = /srv/in\n"
			  "staging = /srv/staging\nmax_envelope = 64M\n"
			  "max_unpacked = 2GiB\nmax_files = 12\nmax_ratio = 0\n"
			  "min_free = 0\nattempts = 5\nretry = 1m\n"
			  "retry_max = 2h\nkeep_days = 7\ntsp_after = 3\n",
			  err, sizeof(err)), "%s", err)) {
		CHECK(!cfg->courier.receive);
		CHECK(!strcmp(cfg->courier.inbox, "/srv/in"));
		CHECK(!strcmp(cfg->courier.staging, "/srv/staging"));
		CHECK_EQ(cfg->courier.max_envelope, 64ULL << 20);
		CHECK_EQ(cfg->courier.max_unpacked, 2ULL << 30);
		CHECK_EQ(cfg->courier.max_files, 12u);
		CHECK_EQ(cfg->courier.max_ratio, 0u);
		CHECK_EQ(cfg->courier.min_free, 0u);
		CHECK_EQ(cfg->courier.attempts, 5u);
		CHECK_EQ(cfg->courier.retry, 60u);
		CHECK_EQ(cfg->courier.retry_max, 7200u);
		CHECK_EQ(cfg->courier.keep_days, 7u);
		CHECK_EQ(cfg->courier.tsp_after, 3u);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = parse(cfg, bad[i][0], err, sizeof(err));

		if (CHECKF(ret, "accepted: %s", bad[i][0]))
			CHECKF(strstr(err, bad[i][1]), "'%s' -> '%s'", bad[i][0],
			       err);
	}
	free(cfg);
}

int main(int argc, char **argv)
{
	daemon_test_start(argc, argv, "test_config");
	RUN(config_good);
	RUN(config_defaults);
	RUN(config_errors);
	RUN(config_binary_and_long);
	RUN(config_tsp_and_modem);
	RUN(config_tsp_store);
	RUN(config_courier);
	RUN(config_dial_on_demand);
	RUN(config_load);
	RUN(config_example_parses);
	return daemon_test_finish();
}
