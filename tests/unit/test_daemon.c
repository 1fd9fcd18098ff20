// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of sealined's infrastructure: the configuration parser
 * (agent/config.c), the key store (agent/keystore.c), the session log
 * (agent/sessionlog.c), the control protocol (agent/ipc.c), and the line
 * manager and action executor (agent/lines.c) driven against a fake kernel
 * and a fake handshake core through the seam of agent/sealined/hs_driver.h.
 *
 * Files go to a fresh directory under $TMPDIR, removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gcrypt.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "hs_driver.h"
#include "config.h"
#include "crypto.h"
#include "dialer.h"
#include "ipc.h"
#include "keystore.h"
#include "lines.h"
#include "log.h"
#include "sessionlog.h"

/*
 * libgcrypt's jitter entropy collector keeps a 128 KiB buffer pointed to
 * only from its secure memory pool, which LeakSanitizer does not scan (see
 * test_agent_crypto.c): not a leak of ours.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libgcrypt.so\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}

static char tmpdir[PATH_MAX];

static void path_in(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
}

static void rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st))
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path))) {
		while ((de = readdir(d))) {
			char sub[PATH_MAX];

			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	fchmod(fd, mode);
	close(fd);
}

static bool read_text(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = '\0';
	return true;
}

static unsigned int mode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return 0xffff;
	return st.st_mode & 07777;
}

static bool exists(const char *path)
{
	struct stat st;

	return !lstat(path, &st);
}

static unsigned int count_entries(const char *dir, const char *prefix)
{
	unsigned int n = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)) &&
		    strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* ================================================================ config */

static int parse(struct sl_config *cfg, const char *text, char *err,
		 size_t err_len)
{
	int ret;

	sl_config_defaults(cfg);
	err[0] = '\0';
	ret = sl_config_parse(cfg, "test.conf", text, strlen(text), err, err_len);
	if (!ret)
		ret = sl_config_finish(cfg, err, err_len);
	return ret;
}

static struct sl_config *new_cfg(void)
{
	struct sl_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		abort();
	return cfg;
}

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
	CHECK_EQ(cfg->lines[1].n_ciphers, 1);
	/* Defaults of a bare section. */
	CHECK(!strcmp(cfg->lines[2].tty, "ttyUSB0"));
	CHECK(!cfg->lines[2].peer[0]);
	CHECK_EQ(cfg->lines[2].role, SL_ROLE_AUTO);
	CHECK_EQ(cfg->lines[2].rekey_interval, SL_CONF_REKEY_DEFAULT);
	CHECK(!cfg->lines[2].pairing);
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
		{ "[line ttyS1]\nrekey_interval = 2d\n", 2, "number of seconds" },
		{ "[line ttyS1]\nrekey_interval = 99999999999\n", 2, "out of range" },
		{ "[line ttyS1]\nrekey_interval = -1\n", 2, "number of seconds" },
		{ "[line ttyS1]\npairing = maybe\n", 2, "yes or no" },
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
			  "database = /var/lib/t/a.db\ninstance = tsp-1\n"
			  "lines = /dev/ttyS1, /dev/ttyUSB*\nbaud = 9600\n"
			  "init = ATE0V1S2=128\nanswer_timeout = 1m\n",
			  err, sizeof(err)), "%s", err)) {
		CHECK(cfg->tsp.enabled);
		CHECK(!strcmp(cfg->tsp.database, "/var/lib/t/a.db"));
		CHECK(!strcmp(cfg->tsp.instance, "tsp-1"));
		CHECK_EQ(cfg->tsp.n_lines, 2u);
		CHECK(!strcmp(cfg->tsp.lines[1], "/dev/ttyUSB*"));
		CHECK_EQ(cfg->tsp.baud, 9600u);
		CHECK(!strcmp(cfg->tsp.init, "ATE0V1S2=128"));
		CHECK_EQ(cfg->tsp.answer_timeout, 60u);
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

/* ================================================================ key store */

static void ks_dir(char *out, size_t size, const char *name)
{
	path_in(out, size, name);
	rm_rf(out);
}

TEST(keystore_create)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], p[PATH_MAX + 32], text[4096], err[512];
	uint8_t pub[SL_X25519_KEY_LEN];

	ks_dir(dir, sizeof(dir), "ks-create/deeper/state");
	if (!CHECKF(!sl_ks_open(&ks, dir, "123456789012", err, sizeof(err)),
		    "%s", err))
		return;
	CHECK(ks.identity_created);
	CHECK(!strcmp(ks.id.account, "123456789012"));
	CHECK(gcry_is_secure(ks.id.priv));
	CHECK(!all_zero(ks.id.pub, sizeof(ks.id.pub)));
	memcpy(pub, ks.id.pub, sizeof(pub));
	CHECK_EQ(mode_of(dir), 0700);
	snprintf(p, sizeof(p), "%s/identity", dir);
	CHECK_EQ(mode_of(p), 0600);
	if (CHECK(read_text(p, text, sizeof(text)))) {
		CHECK(strstr(text, "account 123456789012\n") != NULL);
		CHECK(strstr(text, "private ") != NULL);
	}
	snprintf(p, sizeof(p), "%s/peers", dir);
	CHECK_EQ(mode_of(p), 0700);
	snprintf(p, sizeof(p), "%s/lock", dir);
	CHECK_EQ(mode_of(p), 0600);
	sl_ks_close(&ks);
	CHECK(ks.id.priv == NULL);

	/* Reopened: the same identity, also without a configured account. */
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK(!ks.identity_created);
	CHECK(!strcmp(ks.id.account, "123456789012"));
	CHECK_MEM(ks.id.pub, pub, sizeof(pub));
	sl_ks_close(&ks);

	/* A different configured account is refused, and nothing changes. */
	CHECK_EQ(sl_ks_open(&ks, dir, "999999999999", err, sizeof(err)), -EINVAL);
	CHECKF(strstr(err, "999999999999") && strstr(err, "123456789012"), "%s", err);
	snprintf(p, sizeof(p), "%s/identity", dir);
	if (CHECK(read_text(p, text, sizeof(text))))
		CHECK(strstr(text, "account 123456789012\n") != NULL);
}

TEST(keystore_random_account)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], err[512];

	ks_dir(dir, sizeof(dir), "ks-random");
	if (!CHECKF(!sl_ks_open(&ks, dir, NULL, err, sizeof(err)), "%s", err))
		return;
	CHECK(sl_account_valid(ks.id.account));
	sl_ks_close(&ks);
	CHECK_EQ(sl_ks_open(&ks, "relative/dir", "", err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ks_open(&ks, dir, "12ab", err, sizeof(err)), -EINVAL);
}

TEST(keystore_lock)
{
	struct sl_keystore a, b;
	char dir[PATH_MAX], err[512];

	ks_dir(dir, sizeof(dir), "ks-lock");
	if (!CHECKF(!sl_ks_open(&a, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(sl_ks_open(&b, dir, "", err, sizeof(err)), -EBUSY);
	CHECKF(strstr(err, "in use by another sealined") != NULL, "%s", err);
	sl_ks_close(&a);
	if (CHECKF(!sl_ks_open(&b, dir, "", err, sizeof(err)), "%s", err))
		sl_ks_close(&b);
}

TEST(keystore_permissions_tightened)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], p[PATH_MAX + 32], err[512];

	ks_dir(dir, sizeof(dir), "ks-perm");
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK(!sl_ks_authorise(&ks, "200000000001", NULL, err, sizeof(err)));
	sl_ks_close(&ks);
	chmod(dir, 0755);
	snprintf(p, sizeof(p), "%s/identity", dir);
	chmod(p, 0644);
	snprintf(p, sizeof(p), "%s/peers/200000000001", dir);
	chmod(p, 0640);
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(mode_of(dir), 0700);
	snprintf(p, sizeof(p), "%s/identity", dir);
	CHECK_EQ(mode_of(p), 0600);
	snprintf(p, sizeof(p), "%s/peers/200000000001", dir);
	CHECK_EQ(mode_of(p), 0600);
	CHECK(sl_ks_find(&ks, "200000000001") != NULL);
	sl_ks_close(&ks);
}

TEST(keystore_peers)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], p[PATH_MAX + 32], text[4096], err[512];
	const struct sl_peer *peer;
	uint8_t pub[SL_X25519_KEY_LEN], ltk[SL_X25519_KEY_LEN];
	bool created;

	ks_dir(dir, sizeof(dir), "ks-peers");
	if (!CHECKF(!sl_ks_open(&ks, dir, "100000000000", err, sizeof(err)),
		    "%s", err))
		return;
	CHECK_EQ(ks.n_peers, 0);

	/* Refusals. */
	CHECK_EQ(sl_ks_authorise(&ks, "12345", NULL, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ks_authorise(&ks, "100000000000", NULL, err, sizeof(err)),
		 -EINVAL);
	CHECKF(strstr(err, "own account") != NULL, "%s", err);
	CHECK_EQ(sl_ks_revoke(&ks, "300000000000", err, sizeof(err)), -ENOENT);
	CHECK_EQ(sl_ks_forget(&ks, "300000000000", err, sizeof(err)), -ENOENT);

	/* Authorise before pairing: a record without keys. */
	CHECK(!sl_ks_authorise(&ks, "300000000000", &created, err, sizeof(err)));
	CHECK(created);
	peer = sl_ks_find(&ks, "300000000000");
	if (CHECK(peer)) {
		CHECK(peer->authorised && !peer->revoked && !peer->ltk &&
		      !peer->has_pub && !peer->paired);
		CHECK(sl_ks_peer_allowed(peer));
	}
	snprintf(p, sizeof(p), "%s/peers/300000000000", dir);
	CHECK_EQ(mode_of(p), 0600);

	/* A pairing stores key and LTK (in secure memory), authorised. */
	check_fill_random(pub, sizeof(pub));
	check_fill_random(ltk, sizeof(ltk));
	CHECK(!sl_ks_store_pair(&ks, "200000000000", pub, ltk, err, sizeof(err)));
	peer = sl_ks_find(&ks, "200000000000");
	if (CHECK(peer && peer->ltk)) {
		CHECK(gcry_is_secure(peer->ltk));
		CHECK_MEM(peer->ltk, ltk, sizeof(ltk));
		CHECK_MEM(peer->pub, pub, sizeof(pub));
		CHECK(peer->paired > 0 && sl_ks_peer_allowed(peer));
	}
	/* Sorted by account. */
	CHECK_EQ(ks.n_peers, 2);
	CHECK(!strcmp(ks.peers[0].account, "200000000000"));
	CHECK(!strcmp(ks.peers[1].account, "300000000000"));

	/* Revoke keeps the LTK; authorise lifts the revocation. */
	CHECK(!sl_ks_revoke(&ks, "200000000000", err, sizeof(err)));
	peer = sl_ks_find(&ks, "200000000000");
	CHECK(peer && peer->revoked && !peer->authorised && peer->ltk &&
	      !sl_ks_peer_allowed(peer));
	snprintf(p, sizeof(p), "%s/peers/200000000000", dir);
	if (CHECK(read_text(p, text, sizeof(text)))) {
		CHECK(strstr(text, "revoked yes\n") != NULL);
		CHECK(strstr(text, "authorised no\n") != NULL);
		CHECK(strstr(text, "ltk ") != NULL);
	}

	/* Everything survives a reopen. */
	sl_ks_close(&ks);
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(ks.n_peers, 2);
	peer = sl_ks_find(&ks, "200000000000");
	if (CHECK(peer && peer->ltk)) {
		CHECK(peer->revoked && !peer->authorised);
		CHECK_MEM(peer->ltk, ltk, sizeof(ltk));
		CHECK(gcry_is_secure(peer->ltk));
		CHECK_MEM(peer->pub, pub, sizeof(pub));
	}
	CHECK(!sl_ks_authorise(&ks, "200000000000", &created, err, sizeof(err)));
	CHECK(!created);
	peer = sl_ks_find(&ks, "200000000000");
	CHECK(peer && sl_ks_peer_allowed(peer) && peer->ltk);

	/* Forget deletes record and file. */
	CHECK(!sl_ks_forget(&ks, "200000000000", err, sizeof(err)));
	CHECK(!sl_ks_find(&ks, "200000000000"));
	CHECK(!exists(p));
	CHECK_EQ(ks.n_peers, 1);

	/* Reload picks up what changed on disk. */
	snprintf(p, sizeof(p), "%s/peers/400000000000", dir);
	write_file(p, "version 1\naccount 400000000000\nauthorised yes\nrevoked no\n",
		   0600);
	CHECK(!sl_ks_reload(&ks, err, sizeof(err)));
	CHECK_EQ(ks.n_peers, 2);
	CHECK(sl_ks_find(&ks, "400000000000") != NULL);
	sl_ks_close(&ks);
}

static int fail_rename(const char *tmp)
{
	(void)tmp;
	return -EIO;
}

TEST(keystore_atomic)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], peers[PATH_MAX + 8], p[PATH_MAX + 32];
	char before[4096], after[4096], err[512];
	const struct sl_peer *peer;
	struct stat st1, st2;

	ks_dir(dir, sizeof(dir), "ks-atomic");
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	snprintf(peers, sizeof(peers), "%s/peers", dir);
	snprintf(p, sizeof(p), "%s/500000000000", peers);
	CHECK(!sl_ks_authorise(&ks, "500000000000", NULL, err, sizeof(err)));
	CHECK(read_text(p, before, sizeof(before)));
	CHECK(!stat(p, &st1));

	/* A write that fails before its rename changes nothing, on disk or
	 * in memory, and leaves no temporary file. */
	sl_ks_before_rename_hook = fail_rename;
	CHECK_EQ(sl_ks_revoke(&ks, "500000000000", err, sizeof(err)), -EIO);
	sl_ks_before_rename_hook = NULL;
	CHECK(read_text(p, after, sizeof(after)));
	CHECK(!strcmp(before, after));
	CHECK_EQ(count_entries(peers, ".tmp-"), 0);
	peer = sl_ks_find(&ks, "500000000000");
	CHECK(peer && !peer->revoked && peer->authorised);

	/* A successful one replaces the file by rename: a new inode. */
	CHECK(!sl_ks_revoke(&ks, "500000000000", err, sizeof(err)));
	CHECK(!stat(p, &st2));
	CHECK(st1.st_ino != st2.st_ino);
	CHECK_EQ(mode_of(p), 0600);
	sl_ks_close(&ks);

	/* Stray temporary files (a crash mid-write) go at the next open. */
	snprintf(p, sizeof(p), "%s/.tmp-500000000000-1-0", peers);
	write_file(p, "half a rec", 0600);
	snprintf(p, sizeof(p), "%s/.tmp-identity-1-0", dir);
	write_file(p, "half", 0600);
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(count_entries(peers, ".tmp-"), 0);
	CHECK_EQ(count_entries(dir, ".tmp-"), 0);
	peer = sl_ks_find(&ks, "500000000000");
	CHECK(peer && peer->revoked);
	sl_ks_close(&ks);

	/* sl_ks_write_atomic on its own: mode 0600 even with a lax umask. */
	{
		int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
		mode_t old = umask(0);

		CHECK(!sl_ks_write_atomic(dfd, "atomic.txt", "hello\n", 6));
		umask(old);
		close(dfd);
		path_in(p, sizeof(p), "atomic.txt");
		CHECK_EQ(mode_of(p), 0600);
		CHECK(read_text(p, after, sizeof(after)) && !strcmp(after, "hello\n"));
	}
}

TEST(keystore_damaged)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], p[PATH_MAX + 32], text[4096], err[512];

	ks_dir(dir, sizeof(dir), "ks-damaged");
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK(!sl_ks_authorise(&ks, "600000000000", NULL, err, sizeof(err)));
	sl_ks_close(&ks);

	/* Damaged peer records are skipped (refused as unknown); a file
	 * whose name is not an account is ignored. */
	snprintf(p, sizeof(p), "%s/peers/700000000000", dir);
	write_file(p, "version 1\naccount 700000000000\nauthorised maybe\nrevoked no\n",
		   0600);
	snprintf(p, sizeof(p), "%s/peers/800000000000", dir);
	write_file(p, "version 1\naccount 900000000000\nauthorised yes\nrevoked no\n",
		   0600);
	snprintf(p, sizeof(p), "%s/peers/README", dir);
	write_file(p, "not a peer\n", 0600);
	snprintf(p, sizeof(p), "%s/peers/810000000000", dir);
	write_file(p, "version 1\naccount 810000000000\nauthorised yes\nrevoked no\nltk 00\n",
		   0600);
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(ks.n_peers, 1);
	CHECK(sl_ks_find(&ks, "600000000000") != NULL);
	CHECK(sl_ks_find(&ks, "700000000000") == NULL);
	CHECK(sl_ks_find(&ks, "800000000000") == NULL);
	CHECK(sl_ks_find(&ks, "810000000000") == NULL);
	sl_ks_close(&ks);

	/* An identity whose public key is not its private key's: refused. */
	snprintf(p, sizeof(p), "%s/identity", dir);
	if (CHECK(read_text(p, text, sizeof(text)))) {
		char *pub = strstr(text, "public ");

		if (CHECK(pub)) {
			pub[7] = pub[7] == 'a' ? 'b' : 'a';
			write_file(p, text, 0600);
			CHECK_EQ(sl_ks_open(&ks, dir, "", err, sizeof(err)), -EINVAL);
			CHECKF(strstr(err, "does not belong") != NULL, "%s", err);
		}
	}
	write_file(p, "version 1\naccount 123\n", 0600);
	CHECK_EQ(sl_ks_open(&ks, dir, "", err, sizeof(err)), -EINVAL);
	CHECKF(strstr(err, "identity:2: bad value for 'account'") != NULL, "%s", err);
	write_file(p, "version 2\n", 0600);
	CHECK_EQ(sl_ks_open(&ks, dir, "", err, sizeof(err)), -EINVAL);
	write_file(p, "version 1\nvendor x\n", 0600);
	CHECK_EQ(sl_ks_open(&ks, dir, "", err, sizeof(err)), -EINVAL);
	CHECKF(strstr(err, "unknown key 'vendor'") != NULL, "%s", err);
}

TEST(keystore_fingerprint)
{
	uint8_t pub[SL_X25519_KEY_LEN] = { 0 };
	char fp[SL_KS_FINGERPRINT_LEN + 1];

	sl_ks_fingerprint(fp, pub);
	CHECK_EQ(strlen(fp), SL_KS_FINGERPRINT_LEN);
	CHECK(fp[4] == '-' && fp[9] == '-' && fp[14] == '-');
	/* SHA-256 of 32 zero bytes starts 66687aadf862bd77. */
	CHECKF(!strcmp(fp, "6668-7aad-f862-bd77"), "%s", fp);
}

/* ================================================================ session log */

static void sample_rec(struct sl_session_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->start = 1795714913;
	r->end = 1795716113;
	snprintf(r->line, sizeof(r->line), "ttyS1");
	snprintf(r->kind, sizeof(r->kind), "session");
	snprintf(r->role, sizeof(r->role), "initiator");
	snprintf(r->peer, sizeof(r->peer), "210987654321");
	r->bytes_tx = 1048576;
	r->bytes_rx = 18446744073709551615ULL;
	r->rekeys = 3;
	snprintf(r->outcome, sizeof(r->outcome), "ok");
	snprintf(r->detail, sizeof(r->detail), "line \"down\"\n\\ \x01 \xc3\xa9");
}

TEST(slog_format_parse)
{
	struct sl_session_rec r, back;
	char buf[SL_SLOG_MAX_RECORD + 1];
	int n;

	sample_rec(&r);
	n = sl_slog_format(buf, sizeof(buf), &r);
	if (!CHECK(n > 0))
		return;
	CHECK_EQ(buf[n - 1], '\n');
	CHECK(!memchr(buf, '\n', (size_t)n - 1));
	CHECKF(strstr(buf, "\"start\": \"2026-11-26T17:41:53Z\"") != NULL, "%s", buf);
	CHECK(strstr(buf, "\"reason\": null") != NULL);
	CHECK(strstr(buf, "\"bytes_rx\": 18446744073709551615") != NULL);
	CHECK(strstr(buf, "\\\"down\\\"\\u000a\\\\ \\u0001 \\u00c3\\u00a9") != NULL);

	if (!CHECK(!sl_slog_parse(buf, (size_t)n - 1, &back)))
		return;
	CHECK_EQ(back.start, r.start);
	CHECK_EQ(back.end, r.end);
	CHECK(!strcmp(back.line, "ttyS1"));
	CHECK(!strcmp(back.kind, "session"));
	CHECK(!strcmp(back.role, "initiator"));
	CHECK(!strcmp(back.peer, "210987654321"));
	CHECK_EQ(back.bytes_tx, r.bytes_tx);
	CHECK_EQ(back.bytes_rx, r.bytes_rx);
	CHECK_EQ(back.rekeys, 3);
	CHECK(!strcmp(back.outcome, "ok"));
	CHECK(!back.reason[0]);
	/* Control and non-ASCII characters come back as '?': a reader that
	 * prints the detail must not be fed terminal controls. */
	CHECKF(!strcmp(back.detail, "line \"down\"?\\ ? ??"), "%s", back.detail);

	/* An unknown peer is null, and null reads back as empty. */
	r.peer[0] = '\0';
	n = sl_slog_format(buf, sizeof(buf), &r);
	CHECK(strstr(buf, "\"peer\": null") != NULL);
	CHECK(!sl_slog_parse(buf, (size_t)n - 1, &back) && !back.peer[0]);

	/* Too long for a record. */
	memset(r.detail, 'x', sizeof(r.detail) - 1);
	r.detail[sizeof(r.detail) - 1] = '\0';
	CHECK_EQ(sl_slog_format(buf, 200, &r), -EOVERFLOW);
}

TEST(slog_parse_rejects)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\"}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\"} x",
		"{\"start\": \"yesterday\", \"line\": \"ttyS1\", \"outcome\": \"ok\"}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\", \"bytes_tx\": -1}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\", \"bytes_tx\": 99999999999999999999}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\", \"x\": {}}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"tty\\qS1\", \"outcome\": \"ok\"}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\"",
		"{\"start\": \"2026-11-26T17:41:53Z\" \"line\": \"ttyS1\", \"outcome\": \"ok\"}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": null, \"outcome\": \"ok\"}",
	};
	struct sl_session_rec r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i)
		CHECKF(sl_slog_parse(bad[i], strlen(bad[i]), &r) != 0,
		       "accepted: %s", bad[i]);
	/* Unknown keys of a later version are fine, as are true/false. */
	{
		const char *ok = "{\"start\": \"2026-11-26T17:41:53Z\", \"new\": [1], \"line\": \"ttyS1\", \"outcome\": \"ok\"}";
		const char *ok2 = "{\"future\": true, \"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\", \"x\": false}";

		/* A nested array is not something this log writes. */
		CHECK(sl_slog_parse(ok, strlen(ok), &r) != 0);
		CHECK(!sl_slog_parse(ok2, strlen(ok2), &r));
	}
}

static int count_rec(const struct sl_session_rec *rec, void *arg)
{
	unsigned int *n = arg;

	(void)rec;
	++*n;
	return 0;
}

TEST(slog_append_read)
{
	struct sl_slog log;
	struct sl_session_rec r;
	char path[PATH_MAX], err[512], text[8192];
	unsigned int n = 0, bad = 0;
	FILE *f;

	path_in(path, sizeof(path), "sessions.log");
	unlink(path);
	if (!CHECKF(!sl_slog_open(&log, path, err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(mode_of(path), 0600);
	sample_rec(&r);
	CHECK(!sl_slog_append(&log, &r));
	snprintf(r.outcome, sizeof(r.outcome), "nak-received");
	snprintf(r.reason, sizeof(r.reason), "unknown_peer");
	CHECK(!sl_slog_append(&log, &r));
	sl_slog_close(&log);

	/* Appending after a reopen keeps what was there; a torn last line
	 * (a crash mid-write) is skipped by readers. */
	if (!CHECKF(!sl_slog_open(&log, path, err, sizeof(err)), "%s", err))
		return;
	CHECK(!sl_slog_reopen(&log, err, sizeof(err)));
	CHECK(!sl_slog_append(&log, &r));
	sl_slog_close(&log);
	{
		int fd = open(path, O_WRONLY | O_APPEND);

		CHECK(write(fd, "{\"start\": \"2026", 15) == 15);
		close(fd);
	}
	CHECK(read_text(path, text, sizeof(text)));
	CHECK(strstr(text, "\"reason\": \"unknown_peer\"") != NULL);

	f = fopen(path, "r");
	if (!CHECK(f))
		return;
	CHECK(!sl_slog_read(f, count_rec, &n, &bad));
	fclose(f);
	CHECK_EQ(n, 3);
	CHECK_EQ(bad, 1);

	/* Appending to a closed log fails cleanly. */
	CHECK_EQ(sl_slog_append(&log, &r), -EBADF);
	CHECK(sl_slog_open(&log, "/nonexistent/dir/x.log", err, sizeof(err)) < 0);
}

TEST(slog_time)
{
	char s[32];
	int64_t t;

	sl_slog_time(s, 0);
	CHECK(!strcmp(s, "1970-01-01T00:00:00Z"));
	CHECK(!sl_slog_parse_time("2026-11-26T17:41:53Z", &t));
	CHECK_EQ(t, 1795714913);
	CHECK(sl_slog_parse_time("2026-11-26 17:41:53", &t) < 0);
	CHECK(sl_slog_parse_time("2026-11-26T17:41:53Zjunk", &t) < 0);
}

/* ================================================================ IPC */

TEST(ipc_parse_request)
{
	struct sl_ipc_req req;
	char err[256], line[SL_IPC_MAX_LINE + 10];

	CHECK(!sl_ipc_parse_request("status", 6, &req, err, sizeof(err)));
	CHECK(req.argc == 1 && !strcmp(req.argv[0], "status"));
	CHECK(!sl_ipc_parse_request("  authorise \t 123456789012  \r", 29, &req,
				    err, sizeof(err)));
	CHECK(req.argc == 2 && !strcmp(req.argv[0], "authorise") &&
	      !strcmp(req.argv[1], "123456789012"));
	CHECK_EQ(sl_ipc_parse_request("", 0, &req, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ipc_parse_request("   ", 3, &req, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ipc_parse_request("st\x01tus", 7, &req, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ipc_parse_request("st\xc3\xa9", 4, &req, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ipc_parse_request("a\0b", 3, &req, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ipc_parse_request("a b c d e f g h i", 17, &req, err,
				      sizeof(err)), -E2BIG);
	CHECK(!sl_ipc_parse_request("a b c d e f g h", 15, &req, err, sizeof(err)));
	CHECK_EQ(req.argc, SL_IPC_MAX_ARGS);
	memset(line, 'a', sizeof(line));
	CHECK_EQ(sl_ipc_parse_request(line, SL_IPC_MAX_LINE + 1, &req, err,
				      sizeof(err)), -EMSGSIZE);
	CHECK(!sl_ipc_parse_request(line, SL_IPC_MAX_LINE, &req, err, sizeof(err)));
}

static const struct sl_ipc_verb *lookup(const char *text, char *err,
					size_t err_len)
{
	static struct sl_ipc_req req;

	if (sl_ipc_parse_request(text, strlen(text), &req, err, err_len))
		return NULL;
	return sl_ipc_lookup(&req, err, err_len);
}

TEST(ipc_verbs)
{
	static const char *const good[] = {
		"hello", "status", "peers", "authorise 123456789012",
		"authorize 123456789012", "revoke 123456789012",
		"forget 123456789012", "log", "log 10", "reload", "pair ttyS1",
		"confirm yes", "sas ABCDE",
	};
	static const struct {
		const char *text;
		const char *err;
	} bad[] = {
		{ "frobnicate", "ENOSYS unknown request 'frobnicate'" },
		{ "status now", "EINVAL usage: status" },
		{ "authorise", "EINVAL usage: authorise ACCOUNT" },
		{ "revoke a b", "EINVAL usage: revoke ACCOUNT" },
		{ "log 1 2", "EINVAL usage: log [COUNT]" },
		{ "pair", "EINVAL usage: pair LINE" },
		{ "STATUS", "ENOSYS" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); ++i)
		CHECKF(lookup(good[i], err, sizeof(err)) != NULL, "%s: %s", good[i], err);
	CHECK(!strcmp(lookup("authorize 1", err, sizeof(err))->name, "authorise"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		CHECKF(lookup(bad[i].text, err, sizeof(err)) == NULL, "%s", bad[i].text);
		CHECKF(!strncmp(err, bad[i].err, strlen(bad[i].err)), "%s: %s",
		       bad[i].text, err);
	}
}

TEST(ipc_escape)
{
	char enc[256], small[4];
	const char *s = "a b=c%d\te\xc3\xa9\x7f~";

	CHECK(sl_ipc_escape(enc, sizeof(enc), s));
	CHECKF(!strcmp(enc, "a%20b%3Dc%25d%09e%C3%A9%7F~"), "%s", enc);
	CHECK(!sl_ipc_unescape(enc));
	CHECK(!strcmp(enc, s));
	CHECK(!sl_ipc_escape(small, sizeof(small), "a b"));
	CHECK(!small[0]);
	CHECK(sl_ipc_escape(enc, sizeof(enc), "") && !enc[0]);
	{
		char b1[] = "%zz", b2[] = "%4", b3[] = "%00", b4[] = "%";

		CHECK_EQ(sl_ipc_unescape(b1), -EINVAL);
		CHECK_EQ(sl_ipc_unescape(b2), -EINVAL);
		CHECK_EQ(sl_ipc_unescape(b3), -EINVAL);
		CHECK_EQ(sl_ipc_unescape(b4), -EINVAL);
	}
}

TEST(ipc_records)
{
	struct sl_ipc_builder b;
	struct sl_ipc_record rec;
	char line[SL_IPC_MAX_LINE + 1];

	sl_ipc_build(&b, "line");
	sl_ipc_add(&b, "tty", "ttyS1");
	sl_ipc_add(&b, "detail", "no handshake = yet 100%");
	sl_ipc_addf(&b, "index", "%d", 7);
	sl_ipc_add(&b, "empty", "");
	CHECK(!b.overflow);
	snprintf(line, sizeof(line), "%s", b.buf);
	if (CHECK(!sl_ipc_parse_record(line, &rec))) {
		CHECK(!strcmp(rec.type, "line"));
		CHECK_EQ(rec.n, 4);
		CHECK(!strcmp(sl_ipc_get(&rec, "tty"), "ttyS1"));
		CHECK(!strcmp(sl_ipc_get(&rec, "detail"), "no handshake = yet 100%"));
		CHECK(!strcmp(sl_ipc_get(&rec, "index"), "7"));
		CHECK(!strcmp(sl_ipc_get(&rec, "empty"), ""));
		CHECK(sl_ipc_get(&rec, "none") == NULL);
	}
	snprintf(line, sizeof(line), "err ENOENT no peer with account 1");
	if (CHECK(!sl_ipc_parse_record(line, &rec))) {
		CHECK(!strcmp(rec.errname, "ENOENT"));
		CHECK(!strcmp(rec.text, "no peer with account 1"));
	}
	snprintf(line, sizeof(line), "session {\"a\": 1}");
	CHECK(!sl_ipc_parse_record(line, &rec) && !strcmp(rec.text, "{\"a\": 1}"));
	snprintf(line, sizeof(line), "ok");
	CHECK(!sl_ipc_parse_record(line, &rec) && !strcmp(rec.type, "ok") && !rec.n);
	snprintf(line, sizeof(line), "Line a=b");
	CHECK_EQ(sl_ipc_parse_record(line, &rec), -EINVAL);
	snprintf(line, sizeof(line), "line novalue");
	CHECK_EQ(sl_ipc_parse_record(line, &rec), -EINVAL);
	snprintf(line, sizeof(line), "line =x");
	CHECK_EQ(sl_ipc_parse_record(line, &rec), -EINVAL);
	snprintf(line, sizeof(line), "line a=%%zz");
	CHECK_EQ(sl_ipc_parse_record(line, &rec), -EINVAL);
	snprintf(line, sizeof(line), "err");
	CHECK_EQ(sl_ipc_parse_record(line, &rec), -EINVAL);

	/* A record that does not fit a line is refused whole. */
	{
		char big[SL_IPC_MAX_LINE];

		memset(big, 'v', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		sl_ipc_build(&b, "line");
		sl_ipc_add(&b, "k", big);
		CHECK(b.overflow);
	}
}

struct got_lines {
	unsigned int n;
	char last[SL_IPC_MAX_LINE + 1];
};

static void got_line(struct sl_ipc_client *c, const char *line, size_t len,
		     void *arg)
{
	struct got_lines *g = arg;

	(void)c;
	g->n++;
	snprintf(g->last, sizeof(g->last), "%.*s", (int)len, line);
}

TEST(ipc_socket)
{
	struct sl_ipc_server srv, other;
	struct sl_ipc_reader r = { 0 };
	struct got_lines got = { 0 };
	struct sl_ipc_client *c = NULL;
	char path[PATH_MAX], err[512], *line;
	char big[SL_IPC_MAX_LINE + 100];
	int fd;

	path_in(path, sizeof(path), "ipc/sub/test.sock");
	if (!CHECKF(!sl_ipc_listen(&srv, path, err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(mode_of(path), 0600);

	/* A second daemon on the same path is refused. */
	CHECK_EQ(sl_ipc_listen(&other, path, err, sizeof(err)), -EADDRINUSE);
	CHECKF(strstr(err, "already listening") != NULL, "%s", err);

	fd = sl_ipc_connect(path, err, sizeof(err));
	if (!CHECKF(fd >= 0, "%s", err))
		goto out;
	r.fd = fd;
	sl_ipc_accept(&srv, 0);
	for (size_t i = 0; i < SL_IPC_MAX_CLIENTS; ++i)
		if (srv.clients[i])
			c = srv.clients[i];
	if (!CHECK(c))
		goto out_fd;
	CHECK_EQ(c->uid, geteuid());

	CHECK(!sl_ipc_write_request(fd, "status"));
	CHECK(!sl_ipc_write_request(fd, "peers"));
	usleep(10000);
	CHECK(!sl_ipc_client_read(c, got_line, &got, 0));
	CHECK_EQ(got.n, 2);
	CHECK(!strcmp(got.last, "peers"));

	/* An over-long line is refused with an error, and the next line is
	 * read normally. */
	memset(big, 'x', sizeof(big));
	CHECK(write(fd, big, sizeof(big)) == (ssize_t)sizeof(big));
	CHECK(write(fd, "\nhello\n", 7) == 7);
	usleep(10000);
	CHECK(!sl_ipc_client_read(c, got_line, &got, 0));
	CHECK_EQ(got.n, 3);
	CHECK(!strcmp(got.last, "hello"));

	sl_ipc_send(c, "ok version=1");
	CHECK(!sl_ipc_client_flush(c));
	CHECK(!sl_ipc_read_line(&r, &line, 1000));
	CHECKF(!strncmp(line, "err EMSGSIZE", 12), "%s", line);
	CHECK(!sl_ipc_read_line(&r, &line, 1000));
	CHECK(!strcmp(line, "ok version=1"));
	CHECK_EQ(sl_ipc_read_line(&r, &line, 10), -ETIMEDOUT);

	/* The client goes: the server sees it. */
out_fd:
	close(fd);
	if (c) {
		usleep(10000);
		CHECK_EQ(sl_ipc_client_read(c, got_line, &got, 0), -EPIPE);
		sl_ipc_drop(&srv, c);
	}
out:
	sl_ipc_close(&srv);
	CHECK(!exists(path));

	/* A stale socket (its daemon died) is replaced; something that is
	 * not a socket is not. */
	{
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		if (strlen(path) >= sizeof(addr.sun_path))
			abort();
		memcpy(addr.sun_path, path, strlen(path) + 1);
		CHECK(!bind(s, (struct sockaddr *)&addr, sizeof(addr)));
		close(s);
		CHECK(exists(path));
		if (CHECKF(!sl_ipc_listen(&srv, path, err, sizeof(err)), "%s", err))
			sl_ipc_close(&srv);
		write_file(path, "x", 0600);
		CHECK_EQ(sl_ipc_listen(&srv, path, err, sizeof(err)), -EEXIST);
		unlink(path);
	}
	CHECK_EQ(sl_ipc_connect(path, err, sizeof(err)), -ENOENT);
	CHECKF(strstr(err, "not running") != NULL, "%s", err);
	CHECK_EQ(sl_ipc_listen(&srv, "relative.sock", err, sizeof(err)), -EINVAL);
}

/* ================================================================ lines */

/* A kernel with a few lines, recording what it was asked. */
struct fake_line {
	const char *tty;
	uint32_t index;
	bool attached;
	uint32_t agent;
	uint8_t state;
	bool have_key, have_staged;
	uint32_t key_epoch, staged_epoch;
	uint64_t tx_bytes, rx_bytes;
};

struct fake_kernel {
	uint32_t portid;
	struct fake_line lines[3];
	unsigned int sends, set_keys, activates, registers, clears;
	uint8_t last_msg[64];
	size_t last_len;
	uint8_t last_tx[SEALINE_KEY_LEN], last_rx[SEALINE_KEY_LEN];
	uint32_t last_epoch;
	int set_key_result;
};

static struct fake_line *fk_find(struct fake_kernel *k, const char *tty)
{
	for (size_t i = 0; i < 3; ++i)
		if (k->lines[i].tty && !strcmp(k->lines[i].tty, tty) &&
		    k->lines[i].attached)
			return &k->lines[i];
	return NULL;
}

static uint32_t fk_portid(void *ctx)
{
	return ((struct fake_kernel *)ctx)->portid;
}

static int fk_get_line(void *ctx, const char *tty, struct sl_attrs *a)
{
	struct fake_line *l = fk_find(ctx, tty);

	if (!l)
		return -ENODEV;
	memset(a, 0, sizeof(*a));
	a->cmd = SEALINE_CMD_GET_LINE;
	a->present = SL_HAS(SEALINE_A_LINE_INDEX) | SL_HAS(SEALINE_A_LINE_TTY) |
		     SL_HAS(SEALINE_A_LINE_STATE);
	a->index = l->index;
	snprintf(a->tty, sizeof(a->tty), "%s", l->tty);
	a->state = l->state;
	if (l->agent) {
		a->present |= SL_HAS(SEALINE_A_AGENT_PORTID);
		a->agent_portid = l->agent;
	}
	if (l->have_key) {
		a->present |= SL_HAS(SEALINE_A_KEY_EPOCH);
		a->key_epoch = l->key_epoch;
	}
	if (l->have_staged) {
		a->present |= SL_HAS(SEALINE_A_NEXT_EPOCH);
		a->next_epoch = l->staged_epoch;
	}
	a->stat_present = SL_HAS(SEALINE_STAT_TX_BYTES) | SL_HAS(SEALINE_STAT_RX_BYTES);
	a->stats[SEALINE_STAT_TX_BYTES] = l->tx_bytes;
	a->stats[SEALINE_STAT_RX_BYTES] = l->rx_bytes;
	return 0;
}

static int fk_register(void *ctx, const char *tty)
{
	struct fake_kernel *k = ctx;
	struct fake_line *l = fk_find(k, tty);

	if (!l)
		return -ENODEV;
	l->agent = k->portid;
	k->registers++;
	return 0;
}

static int fk_send(void *ctx, const char *tty, const uint8_t *msg, size_t len)
{
	struct fake_kernel *k = ctx;

	if (!fk_find(k, tty))
		return -ENODEV;
	k->sends++;
	k->last_len = len < sizeof(k->last_msg) ? len : sizeof(k->last_msg);
	memcpy(k->last_msg, msg, k->last_len);
	return 0;
}

static int fk_set_key(void *ctx, const char *tty, uint32_t epoch,
		      uint8_t cipher, const uint8_t *tx, const uint8_t *rx)
{
	struct fake_kernel *k = ctx;
	struct fake_line *l = fk_find(k, tty);

	(void)cipher;
	if (!l)
		return -ENODEV;
	if (k->set_key_result)
		return k->set_key_result;
	k->set_keys++;
	memcpy(k->last_tx, tx, SEALINE_KEY_LEN);
	memcpy(k->last_rx, rx, SEALINE_KEY_LEN);
	k->last_epoch = epoch;
	l->have_staged = true;
	l->staged_epoch = epoch;
	return 0;
}

static int fk_activate(void *ctx, const char *tty, uint32_t epoch)
{
	struct fake_kernel *k = ctx;
	struct fake_line *l = fk_find(k, tty);

	if (!l)
		return -ENODEV;
	if (!l->have_staged || l->staged_epoch != epoch)
		return -ENOKEY;
	k->activates++;
	l->have_staged = false;
	l->have_key = true;
	l->key_epoch = epoch;
	l->state = SEALINE_STATE_KEYED;
	return 0;
}

static int fk_clear(void *ctx, const char *tty)
{
	struct fake_kernel *k = ctx;
	struct fake_line *l = fk_find(k, tty);

	if (!l)
		return -ENODEV;
	k->clears++;
	l->have_key = l->have_staged = false;
	l->state = SEALINE_STATE_NOKEY;
	return 0;
}

static const struct sl_kernel_ops fake_ops = {
	.portid = fk_portid,
	.get_line = fk_get_line,
	.register_agent = fk_register,
	.send_control = fk_send,
	.set_key = fk_set_key,
	.activate_key = fk_activate,
	.clear_keys = fk_clear,
};

/* A scripted handshake core: records its inputs, answers per input. */
struct fake_hs {
	const struct sl_drv_env *env;
	int inputs[32];
	unsigned int n_inputs;
	struct sl_drv_input last;
	uint8_t msg[8];
	uint8_t *tx, *rx, *ltk;
	bool destroyed;
};

static struct fake_hs *the_hs;
static unsigned int hs_created;
/* What the core answers to the next LINE_READY / CONTROL / TIMER. */
static int script;

enum { S_NONE, S_SESSION, S_PAIR_DONE, S_STAGE_TWICE, S_QUERY, S_TIMER,
       S_PAIR_FAIL, S_REFUSAL, S_ERROR };

static int fh_create(void **hs, const struct sl_drv_env *env)
{
	struct fake_hs *h = calloc(1, sizeof(*h));

	if (!h || !env->self || !env->ks || !env->conf || !env->tty)
		return -ENOMEM;
	h->tx = sl_secure_alloc(SEALINE_KEY_LEN);
	h->rx = sl_secure_alloc(SEALINE_KEY_LEN);
	h->ltk = sl_secure_alloc(SL_X25519_KEY_LEN);
	if (!h->tx || !h->rx || !h->ltk)
		return -ENOMEM;
	h->env = env;
	the_hs = h;
	hs_created++;
	*hs = h;
	return 0;
}

static void fh_destroy(void *hs)
{
	struct fake_hs *h = hs;

	h->destroyed = true;
	sl_secure_free(h->tx, SEALINE_KEY_LEN);
	sl_secure_free(h->rx, SEALINE_KEY_LEN);
	sl_secure_free(h->ltk, SL_X25519_KEY_LEN);
	if (the_hs == h)
		the_hs = NULL;
	free(h);
}

static const char *fh_state(const void *hs)
{
	(void)hs;
	return "scripted";
}

static int fh_input(void *hs, const struct sl_drv_input *in,
		    struct sl_drv_actions *out)
{
	struct fake_hs *h = hs;
	struct sl_drv_action *a;

	if (h->n_inputs < 32)
		h->inputs[h->n_inputs++] = in->type;
	h->last = *in;
	if (in->type == SL_DRV_IN_CONTROL || in->type == SL_DRV_IN_LINE_READY ||
	    in->type == SL_DRV_IN_TIMER || in->type == SL_DRV_IN_PAIR) {
		int s = script;

		script = S_NONE;
		switch (s) {
		case S_SESSION:
			memset(h->msg, 0x5a, sizeof(h->msg));
			a = sl_drv_push(out, SL_DRV_SEND);
			a->msg = h->msg;
			a->len = sizeof(h->msg);
			memset(h->tx, 0x11, SEALINE_KEY_LEN);
			memset(h->rx, 0x22, SEALINE_KEY_LEN);
			a = sl_drv_push(out, SL_DRV_STAGE_KEY);
			a->epoch = 5;
			a->cipher = SEALINE_CIPHER_CHACHA20POLY1305;
			a->key_tx = h->tx;
			a->key_rx = h->rx;
			a = sl_drv_push(out, SL_DRV_ACTIVATE);
			a->epoch = 5;
			a = sl_drv_push(out, SL_DRV_DONE);
			a->kind = SL_DRV_KIND_SESSION;
			a->role = SL_DRV_ROLE_INITIATOR;
			a->epoch = 5;
			a->cipher = SEALINE_CIPHER_CHACHA20POLY1305;
			snprintf(a->peer, sizeof(a->peer), "210987654321");
			break;
		case S_PAIR_DONE:
			a = sl_drv_push(out, SL_DRV_SHOW_SAS);
			snprintf(a->sas, sizeof(a->sas), "RBW3F");
			memset(h->ltk, 0x33, SL_X25519_KEY_LEN);
			a = sl_drv_push(out, SL_DRV_STORE_PEER);
			snprintf(a->peer, sizeof(a->peer), "210987654321");
			memset(a->peer_pub, 0x44, sizeof(a->peer_pub));
			a->ltk = h->ltk;
			a = sl_drv_push(out, SL_DRV_DONE);
			a->kind = SL_DRV_KIND_PAIRING;
			a->role = SL_DRV_ROLE_INITIATOR;
			snprintf(a->peer, sizeof(a->peer), "210987654321");
			break;
		case S_STAGE_TWICE:
			memset(h->tx, 0x11, SEALINE_KEY_LEN);
			memset(h->rx, 0x22, SEALINE_KEY_LEN);
			a = sl_drv_push(out, SL_DRV_STAGE_KEY);
			a->epoch = 6;
			a->key_tx = h->tx;
			a->key_rx = h->rx;
			a = sl_drv_push(out, SL_DRV_SEND);
			a->msg = h->msg;
			a->len = 1;
			break;
		case S_QUERY:
			sl_drv_push(out, SL_DRV_QUERY_LINE);
			break;
		case S_TIMER:
			a = sl_drv_push(out, SL_DRV_TIMER);
			a->ms = 250;
			break;
		case S_PAIR_FAIL:
			a = sl_drv_push(out, SL_DRV_ASK_SAS);
			a->attempts = 3;
			a = sl_drv_push(out, SL_DRV_FAILED);
			a->kind = SL_DRV_KIND_PAIRING;
			a->role = SL_DRV_ROLE_RESPONDER;
			a->how = SL_DRV_NAK_SENT;
			a->reason = SL_NAK_SAS_MISMATCH;
			a->alert = true;
			snprintf(a->text, sizeof(a->text), "typed code did not match");
			break;
		case S_REFUSAL:
			a = sl_drv_push(out, SL_DRV_FAILED);
			a->kind = SL_DRV_KIND_PAIRING;
			a->role = SL_DRV_ROLE_RESPONDER;
			a->how = SL_DRV_NAK_SENT;
			a->reason = SL_NAK_BUSY;
			a->refusal = true;
			snprintf(a->text, sizeof(a->text), "refused the peer's PAIR_COMMIT");
			break;
		case S_ERROR:
			return -EFAULT;
		}
	}
	return 0;
}

static const struct sl_hs_driver fake_driver = {
	.name = "fake",
	.create = fh_create,
	.input = fh_input,
	.state = fh_state,
	.destroy = fh_destroy,
};

struct lines_env {
	struct sl_config *cfg;
	struct sl_keystore ks;
	struct sl_slog slog;
	struct sl_lines L;
	struct fake_kernel k;
	char log_path[PATH_MAX + 32];
};

static bool lines_setup(struct lines_env *e, const char *name,
			const struct sl_hs_driver *drv)
{
	char dir[PATH_MAX], err[512];

	memset(e, 0, sizeof(*e));
	e->cfg = new_cfg();
	if (parse(e->cfg, "[line ttyS1]\npeer = 210987654321\n[line ttyS2]\n[line ttyS3]\n",
		  err, sizeof(err)))
		return false;
	ks_dir(dir, sizeof(dir), name);
	if (sl_ks_open(&e->ks, dir, "123456789012", err, sizeof(err)))
		return false;
	snprintf(e->log_path, sizeof(e->log_path), "%s/sessions.log", dir);
	if (sl_slog_open(&e->slog, e->log_path, err, sizeof(err)))
		return false;
	e->k.portid = 4242;
	e->k.lines[0] = (struct fake_line){ .tty = "ttyS1", .index = 0,
					    .attached = true };
	e->k.lines[1] = (struct fake_line){ .tty = "ttyS2", .index = 1,
					    .attached = true, .agent = 777 };
	e->k.lines[2] = (struct fake_line){ .tty = "ttyS3", .index = 2 };
	script = S_NONE;
	hs_created = 0;
	return !sl_lines_init(&e->L, e->cfg, &e->ks, &e->slog, drv, &fake_ops,
			      &e->k);
}

static void lines_teardown(struct lines_env *e)
{
	sl_lines_fini(&e->L, "agent stopped");
	sl_slog_close(&e->slog);
	sl_ks_close(&e->ks);
	free(e->cfg);
}

static struct sl_attrs event(uint8_t cmd, const char *tty, uint32_t index)
{
	struct sl_attrs a;

	memset(&a, 0, sizeof(a));
	a.cmd = cmd;
	a.present = SL_HAS(SEALINE_A_LINE_TTY) | SL_HAS(SEALINE_A_LINE_INDEX);
	snprintf(a.tty, sizeof(a.tty), "%s", tty);
	a.index = index;
	return a;
}

static struct sl_ipc_client *fake_client(void)
{
	struct sl_ipc_client *c = calloc(1, sizeof(*c));

	if (!c)
		abort();
	c->fd = -1;
	c->pid = 1;
	return c;
}

static bool client_said(const struct sl_ipc_client *c, const char *what)
{
	return c->out && memmem(c->out, c->out_len, what, strlen(what));
}

TEST(lines_without_handshake)
{
	struct lines_env e;
	struct sl_ipc_client *c;
	struct sl_attrs a;
	uint8_t msg[3] = { 1, 2, 3 };
	char err[256];

	if (!CHECK(lines_setup(&e, "lines-none", NULL)))
		return;
	sl_lines_rescan(&e.L, 1000);
	/* ttyS1 registered, ttyS2 has another agent, ttyS3 not attached. */
	CHECK_EQ(e.L.lines[0].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.lines[0].agent, 4242);
	CHECK_EQ(e.L.lines[1].status, SL_LINE_BUSY);
	CHECK_EQ(e.k.lines[1].agent, 777);
	CHECK_EQ(e.L.lines[2].status, SL_LINE_DETACHED);
	CHECK_EQ(e.k.registers, 1);

	/* A control message cannot be answered: counted, nothing sent. */
	a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
	a.control = msg;
	a.control_len = sizeof(msg);
	a.present |= SL_HAS(SEALINE_A_CONTROL);
	CHECK(!sl_lines_enqueue(&a, &e.L));
	CHECK_EQ(e.L.q_len, 1);
	sl_lines_process(&e.L, 1000);
	CHECK_EQ(e.L.q_len, 0);
	CHECK_EQ(e.L.lines[0].control_dropped, 1);
	CHECK_EQ(e.k.sends + e.k.set_keys + e.k.activates, 0);

	/* Status says so; pair is refused with ENOSYS. */
	c = fake_client();
	sl_lines_status(&e.L, c);
	CHECK(client_said(c, "line tty=ttyS1 status=registered"));
	CHECK(client_said(c, "agent_portid=4242"));
	CHECK(client_said(c, "handshake=unavailable"));
	CHECK(client_said(c, "control_dropped=1"));
	CHECK(client_said(c, "line tty=ttyS2 status=busy"));
	CHECK(client_said(c, "line tty=ttyS3 status=detached"));
	CHECK_EQ(sl_lines_pair(&e.L, "ttyS1", c, false, 0, 1000, err, sizeof(err)), -ENOSYS);
	CHECK(strstr(err, "no handshake implementation") != NULL);
	CHECK_EQ(sl_lines_pair(&e.L, "ttyS9", c, false, 0, 1000, err, sizeof(err)), -ENOENT);
	free(c->out);
	free(c);

	/* ttyS3 comes up: registered on the event. Down: detached. */
	e.k.lines[2].attached = true;
	a = event(SEALINE_CMD_LINE_UP, "ttyS3", 2);
	sl_lines_event(&e.L, &a, 1000);
	CHECK_EQ(e.L.lines[2].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.registers, 2);
	/* The same LINE_UP again (it raced with a scan): nothing to do. */
	sl_lines_event(&e.L, &a, 1000);
	CHECK_EQ(e.L.lines[2].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.registers, 2);
	/* A LINE_UP of a new attach whose LINE_DOWN was lost: the new line
	 * has no agent, so it is registered again. */
	e.k.lines[2].agent = 0;
	sl_lines_event(&e.L, &a, 1000);
	CHECK_EQ(e.L.lines[2].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.registers, 3);
	CHECK_EQ(e.k.lines[2].agent, 4242);
	e.k.lines[2].attached = false;
	a = event(SEALINE_CMD_LINE_DOWN, "ttyS3", 2);
	sl_lines_event(&e.L, &a, 1000);
	CHECK_EQ(e.L.lines[2].status, SL_LINE_DETACHED);

	/* Another agent takes ttyS1 over: noticed by the rescan. */
	e.k.lines[0].agent = 999;
	sl_lines_rescan(&e.L, 2000);
	CHECK_EQ(e.L.lines[0].status, SL_LINE_BUSY);
	CHECK_EQ(e.k.lines[0].agent, 999);

	/* ttyS2's agent goes away: the rescan registers us. */
	e.k.lines[1].agent = 0;
	sl_lines_rescan(&e.L, 3000);
	CHECK_EQ(e.L.lines[1].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.lines[1].agent, 4242);
	lines_teardown(&e);
}

static unsigned int count_lines(const char *path, const char *what)
{
	char text[16384], *p;
	unsigned int n = 0;

	if (!read_text(path, text, sizeof(text)))
		return 0;
	for (p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

TEST(lines_session_actions)
{
	struct lines_env e;
	struct sl_attrs a;
	struct fake_hs *h;
	uint8_t msg[2] = { 9, 9 };
	uint8_t want_tx[SEALINE_KEY_LEN], want_rx[SEALINE_KEY_LEN];

	if (!CHECK(lines_setup(&e, "lines-session", &fake_driver)))
		return;
	/* Registration creates the object and feeds LINE_READY, whose
	 * answer runs: send, stage (keys then wiped), activate, DONE. */
	script = S_SESSION;
	sl_lines_rescan(&e.L, 1000);
	h = the_hs;
	if (!CHECK(h && e.L.lines[0].hs == h))
		goto out;
	CHECK_EQ(h->inputs[0], SL_DRV_IN_LINE_READY);
	CHECK_EQ(e.k.sends, 1);
	CHECK_EQ(e.k.last_len, 8);
	CHECK_EQ(e.k.last_msg[0], 0x5a);
	CHECK_EQ(e.k.set_keys, 1);
	memset(want_tx, 0x11, sizeof(want_tx));
	memset(want_rx, 0x22, sizeof(want_rx));
	CHECK_MEM(e.k.last_tx, want_tx, sizeof(want_tx));
	CHECK_MEM(e.k.last_rx, want_rx, sizeof(want_rx));
	CHECK(all_zero(h->tx, SEALINE_KEY_LEN));
	CHECK(all_zero(h->rx, SEALINE_KEY_LEN));
	CHECK_EQ(e.k.activates, 1);
	CHECK(e.L.lines[0].in_session);
	CHECK(!strcmp(e.L.lines[0].rec.peer, "210987654321"));

	/* Traffic, then a control message reaches the core as CONTROL. */
	e.k.lines[0].tx_bytes = 1000;
	e.k.lines[0].rx_bytes = 20;
	a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
	a.control = msg;
	a.control_len = sizeof(msg);
	sl_lines_event(&e.L, &a, 1500);
	CHECK_EQ(h->last.type, SL_DRV_IN_CONTROL);
	CHECK_EQ(h->last.len, 2);

	/* Key events go in too; KEY_EXPIRED closes the session record. */
	a = event(SEALINE_CMD_REKEY_NEEDED, "ttyS1", 0);
	a.key_epoch = 5;
	a.limit = SEALINE_LIMIT_AGE;
	sl_lines_event(&e.L, &a, 1600);
	CHECK_EQ(h->last.type, SL_DRV_IN_REKEY_NEEDED);
	CHECK_EQ(h->last.epoch, 5);
	CHECK_EQ(h->last.limit, SEALINE_LIMIT_AGE);

	/* The rescan keeps the counters fresh (a line that went down cannot
	 * be asked any more). */
	sl_lines_rescan(&e.L, 1700);

	/* Line down: LINE_DOWN, object destroyed, record written with
	 * the bytes since the session started. */
	e.k.lines[0].attached = false;
	a = event(SEALINE_CMD_LINE_DOWN, "ttyS1", 0);
	sl_lines_event(&e.L, &a, 2000);
	CHECK(the_hs == NULL);
	CHECK(e.L.lines[0].hs == NULL);
	CHECK(!e.L.lines[0].in_session);
	CHECK_EQ(e.L.lines[0].status, SL_LINE_DETACHED);
	CHECK_EQ(count_lines(e.log_path, "\"kind\": \"session\""), 1);
	CHECK_EQ(count_lines(e.log_path, "\"bytes_tx\": 1000, \"bytes_rx\": 20"), 1);
	CHECK_EQ(count_lines(e.log_path, "\"detail\": \"line down\""), 1);

	/* Re-attached: a new object, registered again. */
	e.k.lines[0].attached = true;
	e.k.lines[0].agent = 0;
	a = event(SEALINE_CMD_LINE_UP, "ttyS1", 0);
	sl_lines_event(&e.L, &a, 3000);
	CHECK_EQ(e.L.lines[0].status, SL_LINE_REGISTERED);
	CHECK_EQ(e.k.lines[0].agent, 4242);
	CHECK(the_hs != NULL && the_hs != h);
	CHECK_EQ(hs_created, 2);
out:
	lines_teardown(&e);
}

TEST(lines_failed_action)
{
	struct lines_env e;
	struct fake_hs *h;
	unsigned int sends;

	if (!CHECK(lines_setup(&e, "lines-fail", &fake_driver)))
		return;
	sl_lines_rescan(&e.L, 1000);
	h = the_hs;
	if (!CHECK(h))
		goto out;
	/* SET_KEY refused: the key buffers are still wiped, the SEND after
	 * it is skipped, and the core hears ACTION_FAILED. */
	e.k.set_key_result = -EEXIST;
	sends = e.k.sends;
	script = S_STAGE_TWICE;
	sl_lines_timers(&e.L, 1000);	/* no timer armed: nothing */
	CHECK_EQ(h->n_inputs, 1);
	{
		struct sl_attrs a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
		uint8_t m = 1;

		a.control = &m;
		a.control_len = 1;
		sl_lines_event(&e.L, &a, 1100);
	}
	CHECK(all_zero(h->tx, SEALINE_KEY_LEN) && all_zero(h->rx, SEALINE_KEY_LEN));
	CHECK_EQ(e.k.sends, sends);
	CHECK_EQ(h->last.type, SL_DRV_IN_ACTION_FAILED);
	CHECK_EQ(h->last.failed_action, SL_DRV_STAGE_KEY);
	CHECK_EQ(h->last.err, -EEXIST);
	CHECK_EQ(h->last.epoch, 6);

	/* QUERY_LINE is answered with LINE_INFO. */
	script = S_QUERY;
	e.k.lines[0].have_key = true;
	e.k.lines[0].key_epoch = 9;
	{
		struct sl_attrs a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
		uint8_t m = 1;

		a.control = &m;
		a.control_len = 1;
		sl_lines_event(&e.L, &a, 1200);
	}
	CHECK_EQ(h->last.type, SL_DRV_IN_LINE_INFO);
	CHECK(h->last.info.have_key && h->last.info.key_epoch == 9);

	/* The synchronous way, through the environment (which outlives
	 * create()). */
	{
		struct sl_drv_line_info info = { 0 };

		e.k.lines[0].key_epoch = 10;
		CHECK(!strcmp(h->env->tty, "ttyS1"));
		CHECK(!strcmp(h->env->self->account, "123456789012"));
		CHECK(!h->env->line_info(h->env->line_ctx, &info));
		CHECK(info.have_key && info.key_epoch == 10);
	}

	/* TIMER arms the line's timer; it fires as a TIMER input. */
	script = S_TIMER;
	{
		struct sl_attrs a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
		uint8_t m = 1;

		a.control = &m;
		a.control_len = 1;
		sl_lines_event(&e.L, &a, 2000);
	}
	CHECK_EQ(sl_lines_next_timer(&e.L), 2250);
	sl_lines_timers(&e.L, 2249);
	CHECK(h->last.type != SL_DRV_IN_TIMER);
	sl_lines_timers(&e.L, 2250);
	CHECK_EQ(h->last.type, SL_DRV_IN_TIMER);
	CHECK_EQ(sl_lines_next_timer(&e.L), 0);

	/* An internal error: the object is replaced by a fresh one. */
	script = S_ERROR;
	{
		struct sl_attrs a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
		uint8_t m = 1;

		a.control = &m;
		a.control_len = 1;
		sl_lines_event(&e.L, &a, 3000);
	}
	CHECK(the_hs && the_hs != h);
	CHECK(the_hs && the_hs->inputs[0] == SL_DRV_IN_LINE_READY);
	CHECK_EQ(e.k.activates, 0);
out:
	lines_teardown(&e);
}

TEST(lines_pairing_operator)
{
	struct lines_env e;
	struct sl_ipc_client *c, *c2;
	const struct sl_peer *peer;
	char err[256];
	struct fake_hs *h;

	if (!CHECK(lines_setup(&e, "lines-pair", &fake_driver)))
		return;
	sl_lines_rescan(&e.L, 1000);
	h = the_hs;
	if (!CHECK(h))
		goto out;
	c = fake_client();
	c2 = fake_client();

	/* A pairing that completes: SAS to the operator, the peer stored
	 * (LTK buffer wiped), a pairing record, "ok peer=" to the operator. */
	script = S_PAIR_DONE;
	CHECK(!sl_lines_pair(&e.L, "ttyS1", c, false, 0, 1000, err, sizeof(err)));
	CHECK_EQ(h->last.type, SL_DRV_IN_PAIR);
	CHECK(client_said(c, "sas code=RBW3F"));
	CHECK(client_said(c, "ok peer=210987654321"));
	CHECK(c->pairing == NULL && e.L.lines[0].op == NULL);
	CHECK(all_zero(h->ltk, SL_X25519_KEY_LEN));
	peer = sl_ks_find(&e.ks, "210987654321");
	if (CHECK(peer && peer->ltk)) {
		uint8_t want[SL_X25519_KEY_LEN];

		memset(want, 0x33, sizeof(want));
		CHECK_MEM(peer->ltk, want, sizeof(want));
		CHECK(sl_ks_peer_allowed(peer));
	}
	CHECK_EQ(count_lines(e.log_path, "\"kind\": \"pairing\""), 1);

	/* A pairing that fails: ask-sas, then the error, an alert record. */
	c->out_len = 0;
	CHECK(!sl_lines_pair(&e.L, "ttyS1", c, false, 0, 2000, err, sizeof(err)));
	CHECK_EQ(sl_lines_pair(&e.L, "ttyS1", c2, false, 0, 2000, err, sizeof(err)), -EBUSY);
	CHECK_EQ(sl_lines_operator_sas(&e.L, c2, "RBW3F", 2000, err, sizeof(err)),
		 -EINVAL);
	CHECK_EQ(sl_lines_operator_sas(&e.L, c, "R0W3F", 2000, err, sizeof(err)),
		 -EINVAL);
	CHECK(!sl_lines_operator_sas(&e.L, c, "rbw-3f", 2000, err, sizeof(err)));
	CHECK_EQ(h->last.type, SL_DRV_IN_SAS_TYPED);
	CHECK(!strcmp(h->last.sas, "RBW3F"));
	CHECK(!sl_lines_operator_confirm(&e.L, c, true, 2000, err, sizeof(err)));
	CHECK(h->last.type == SL_DRV_IN_SAS_CONFIRM && h->last.confirm);
	script = S_PAIR_FAIL;
	sl_lines_operator_gone(&e.L, c, 2100);	/* also an input */
	CHECK_EQ(h->last.type, SL_DRV_IN_OPERATOR_GONE);
	CHECK(c->pairing == NULL);
	CHECK(!sl_lines_pair(&e.L, "ttyS1", c2, false, 0, 2200, err, sizeof(err)));
	CHECK(client_said(c2, "ask-sas attempts=3"));
	CHECK(client_said(c2, "err EKEYREJECTED"));
	CHECK(c2->pairing == NULL);
	CHECK_EQ(count_lines(e.log_path, "\"reason\": \"sas_mismatch\""), 1);
	CHECK_EQ(count_lines(e.log_path, "\"outcome\": \"nak-sent\""), 1);

	/* Peers changed reaches the core. */
	sl_lines_peers_changed(&e.L, 3000);
	CHECK_EQ(h->last.type, SL_DRV_IN_PEERS_CHANGED);
	free(c->out);
	free(c);
	free(c2->out);
	free(c2);
out:
	lines_teardown(&e);
	/* Stopping ends the handshake: LINE_DOWN, then destroy. */
	CHECK(the_hs == NULL);
}

/*
 * Revoking the peer of a running session ends it at once: CLEAR_KEYS, a
 * record with outcome "revoked", and the handshake told to close the
 * session (it forgets the key and tells the peer). Another peer's revocation leaves the session alone.
 */
TEST(lines_revoke_ends_session)
{
	struct lines_env e;
	uint8_t pub[SL_X25519_KEY_LEN], *ltk = sl_secure_alloc(SL_X25519_KEY_LEN);
	char err[256];
	struct fake_hs *h;

	if (!CHECK(ltk) || !CHECK(lines_setup(&e, "lines-revoke", &fake_driver))) {
		sl_secure_free(ltk, SL_X25519_KEY_LEN);
		return;
	}
	memset(pub, 0x44, sizeof(pub));
	memset(ltk, 0x55, SL_X25519_KEY_LEN);
	CHECK(!sl_ks_store_pair(&e.ks, "210987654321", pub, ltk, err, sizeof(err)));
	memset(pub, 0x45, sizeof(pub));
	CHECK(!sl_ks_store_pair(&e.ks, "333333333333", pub, ltk, err, sizeof(err)));
	sl_secure_free(ltk, SL_X25519_KEY_LEN);
	script = S_SESSION;
	sl_lines_rescan(&e.L, 1000);
	h = the_hs;
	if (!CHECK(h && e.L.lines[0].in_session))
		goto out;
	CHECK(e.k.lines[0].have_key);

	/* Another peer revoked: the session goes on. */
	CHECK(!sl_ks_revoke(&e.ks, "333333333333", err, sizeof(err)));
	sl_lines_peers_changed(&e.L, 2000);
	CHECK(e.L.lines[0].in_session);
	CHECK_EQ(e.k.clears, 0);
	CHECK(the_hs == h);
	CHECK_EQ(h->last.type, SL_DRV_IN_PEERS_CHANGED);

	/* The session's peer revoked: keys cleared, record closed. */
	e.k.lines[0].tx_bytes = 300;
	CHECK(!sl_ks_revoke(&e.ks, "210987654321", err, sizeof(err)));
	sl_lines_peers_changed(&e.L, 3000);
	CHECK_EQ(e.k.clears, 1);
	CHECK(!e.k.lines[0].have_key);
	CHECK(!e.L.lines[0].in_session);
	CHECK_EQ(count_lines(e.log_path, "\"outcome\": \"revoked\""), 1);
	CHECK_EQ(count_lines(e.log_path, "\"bytes_tx\": 300"), 1);
	/* The handshake was told to close the session with the peer
	 * (SESSION_CLOSE, so that its side clears its keys too). */
	CHECK_EQ(hs_created, 1);
	CHECK(the_hs == h);
	CHECK_EQ(h->last.type, SL_DRV_IN_CLOSE);
	CHECK_EQ(h->last.close_reason, SL_CLOSE_REVOKED);
	/* Nothing more to end the next time. */
	sl_lines_peers_changed(&e.L, 4000);
	CHECK_EQ(e.k.clears, 1);
	CHECK_EQ(count_lines(e.log_path, "\"outcome\": \"revoked\""), 1);
out:
	lines_teardown(&e);
}

/*
 * A refused first message (FAILED with refusal) is logged in the session
 * log but does not end the operator's pairing in progress.
 */
TEST(lines_refusal_keeps_operator)
{
	struct lines_env e;
	struct sl_ipc_client *c;
	struct sl_attrs a;
	uint8_t msg[2] = { 1, 0x10 };
	char err[256];

	if (!CHECK(lines_setup(&e, "lines-refusal", &fake_driver)))
		return;
	sl_lines_rescan(&e.L, 1000);
	c = fake_client();
	CHECK(!sl_lines_pair(&e.L, "ttyS1", c, false, 0, 1000, err, sizeof(err)));
	CHECK(e.L.lines[0].op == c);
	script = S_REFUSAL;
	a = event(SEALINE_CMD_CONTROL_RECEIVED, "ttyS1", 0);
	a.control = msg;
	a.control_len = sizeof(msg);
	sl_lines_event(&e.L, &a, 1500);
	CHECK_EQ(count_lines(e.log_path, "\"reason\": \"busy\""), 1);
	CHECK(e.L.lines[0].op == c && c->pairing != NULL);
	CHECK(!client_said(c, "err "));
	sl_lines_operator_gone(&e.L, c, 1600);
	free(c->out);
	free(c);
	lines_teardown(&e);
}

TEST(lines_queue_bounded)
{
	struct lines_env e;
	struct sl_attrs a = event(SEALINE_CMD_LINE_UP, "ttyS9", 9);

	if (!CHECK(lines_setup(&e, "lines-queue", NULL)))
		return;
	for (unsigned int i = 0; i < SL_LINES_MAX_QUEUE + 10; ++i)
		sl_lines_enqueue(&a, &e.L);
	CHECK_EQ(e.L.q_len, SL_LINES_MAX_QUEUE);
	CHECK_EQ(e.L.q_dropped, 10);
	sl_lines_process(&e.L, 1000);
	CHECK_EQ(e.L.q_len, 0);
	CHECK_EQ(e.L.q_dropped, 0);
	/* Events left in the queue at the end are freed by fini (ASan). */
	sl_lines_enqueue(&a, &e.L);
	lines_teardown(&e);
}

/* ================================================================ dialer */

/* One turn of sealined's loop for a lone dialer. */
static void dialer_turn(struct sl_dialer *d)
{
	struct pollfd pfd;

	sl_dialer_pollfd(d, &pfd);
	if (pfd.fd >= 0 && poll(&pfd, 1, 20) > 0)
		sl_dialer_ready(d, pfd.revents, sl_now_ms());
}

static bool dialer_status_has(struct sl_dialer *d, const char *want)
{
	struct sl_ipc_builder b;

	sl_ipc_build(&b, "line");
	sl_dialer_status(d, &b);
	return strstr(b.buf, want) != NULL;
}

/* The demand link of a dial-up line whose modem is not there (its port
 * stays down, so nothing dials): made, held, bounded, removed. */
/* A dialer's line, as far as the dialer sees it (dialer.h): no call. */
static int nocall_send(void *ctx, const uint8_t *msg, size_t len)
{
	(void)ctx;
	(void)msg;
	(void)len;
	return -ENOTCONN;
}

static void nocall_attached(void *ctx, int64_t now_ms)
{
	(void)ctx;
	(void)now_ms;
}

static void nocall_connected(void *ctx, const char *peer, bool caller,
			     int64_t now_ms)
{
	(void)ctx;
	(void)peer;
	(void)caller;
	(void)now_ms;
	CHECKF(0, "a call connected without a modem");
}

static void nocall_over(void *ctx, const char *why, int64_t now_ms)
{
	(void)ctx;
	(void)why;
	(void)now_ms;
}

static bool nocall_keyed(void *ctx, uint32_t *index)
{
	(void)ctx;
	*index = 0;
	return false;
}

static const struct sl_dialer_ops nocall_ops = {
	.send_control = nocall_send,
	.attached = nocall_attached,
	.connected = nocall_connected,
	.over = nocall_over,
	.keyed = nocall_keyed,
};

TEST(dialer_demand_link)
{
	struct sl_config *cfg = new_cfg();
	struct sl_keystore ks;
	struct sl_dialer *d = NULL;
	char text[PATH_MAX + 512], err[1024], link[PATH_MAX], target[PATH_MAX];
	char want[64];
	uint8_t buf[4096];
	size_t total = 0;
	struct stat st;
	ssize_t n;
	int fd;

	path_in(link, sizeof(link), "dod/ttyUSB97.line");
	snprintf(text, sizeof(text), "[line ttyUSB97]\nmodem = yes\n"
		 "tsp_number = 5550100\ntsp_key = 0102030405060708090a0b0c"
		 "0d0e0f101112131415161718191a1b1c1d1e1f20\n"
		 "dial_on_demand = 210987654321\ndemand_link = %s\n", link);
	if (!CHECKF(!parse(cfg, text, err, sizeof(err)), "%s", err))
		goto out;
	memset(&ks, 0, sizeof(ks));
	if (!CHECK_EQ(sl_dialer_new(&cfg->lines[0], &ks, &nocall_ops, NULL,
				    sl_now_ms(), &d), 0))
		goto out;
	/* A link to a pty that only root may open, its directory made. */
	n = readlink(link, target, sizeof(target) - 1);
	if (CHECK(n > 0)) {
		target[n] = '\0';
		CHECKF(!strncmp(target, "/dev/pts/", 9), "%s", target);
	}
	if (CHECK(!stat(link, &st)))
		CHECKF((st.st_mode & 0777) == 0600, "mode %o", st.st_mode & 0777);
	CHECK(dialer_status_has(d, "dial_on_demand=210987654321"));
	CHECK(dialer_status_has(d, "idle_hangup=300"));
	CHECK(dialer_status_has(d, "demand_waiting=0"));

	/* A write with no call (and no modem) waits in the buffer. */
	fd = open(link, O_RDWR | O_NOCTTY | O_NONBLOCK);
	if (!CHECK(fd >= 0))
		goto out;
	memset(buf, 0x5a, sizeof(buf));
	CHECK_EQ(write(fd, buf, 100), 100);
	for (int i = 0; i < 5; ++i)
		dialer_turn(d);
	CHECK(dialer_status_has(d, "demand_waiting=100"));
	CHECK(dialer_status_has(d, "call_state=down"));
	/* Bounded: once it holds SL_DIALER_DEMAND_BUF the application's
	 * writes stop (the pty's own buffer fills, then EAGAIN). */
	for (int i = 0; i < 2000; ++i) {
		n = write(fd, buf, sizeof(buf));
		if (n > 0)
			total += (size_t)n;
		dialer_turn(d);
		if (n < 0 && errno == EAGAIN && i > 100)
			break;
	}
	snprintf(want, sizeof(want), "demand_waiting=%d", SL_DIALER_DEMAND_BUF);
	CHECKF(dialer_status_has(d, want), "wrote %zu", total);
	CHECK(total + 100 >= SL_DIALER_DEMAND_BUF);
	CHECKF(total < 4 * SL_DIALER_DEMAND_BUF, "wrote %zu", total);
	close(fd);
	sl_dialer_free(d);
	d = NULL;
	CHECK(lstat(link, &st) && errno == ENOENT);

	/* A stale link is replaced; anything else is left alone. */
	CHECK(!symlink("/nonexistent", link));
	if (CHECK_EQ(sl_dialer_new(&cfg->lines[0], &ks, &nocall_ops, NULL,
				   sl_now_ms(), &d), 0)) {
		n = readlink(link, target, sizeof(target) - 1);
		CHECK(n > 9 && !strncmp(target, "/dev/pts/", 9));
		sl_dialer_free(d);
		d = NULL;
	}
	write_file(link, "mine\n", 0644);
	CHECK_EQ(sl_dialer_new(&cfg->lines[0], &ks, &nocall_ops, NULL,
			       sl_now_ms(), &d), -EEXIST);
	CHECK(!lstat(link, &st) && S_ISREG(st.st_mode));
	unlink(link);
out:
	sl_dialer_free(d);
	free(cfg);
}

int main(int argc, char **argv)
{
	char why[256];
	const char *base = getenv("TMPDIR");

	check_init(argc, argv);
	sl_log_setup("test_daemon", getenv("SEALINE_TEST_VERBOSE") ?
		     SL_LOG_STDERR : 0, LOG_DEBUG);
	if (sl_crypto_init(0, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why))) {
		printf("sl_crypto_init: %s\n", why);
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/sealine-test-daemon.XXXXXX",
		 base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}

	RUN(config_good);
	RUN(config_defaults);
	RUN(config_errors);
	RUN(config_binary_and_long);
	RUN(config_tsp_and_modem);
	RUN(config_dial_on_demand);
	RUN(config_load);
	RUN(config_example_parses);
	RUN(keystore_create);
	RUN(keystore_random_account);
	RUN(keystore_lock);
	RUN(keystore_permissions_tightened);
	RUN(keystore_peers);
	RUN(keystore_atomic);
	RUN(keystore_damaged);
	RUN(keystore_fingerprint);
	RUN(slog_format_parse);
	RUN(slog_parse_rejects);
	RUN(slog_append_read);
	RUN(slog_time);
	RUN(ipc_parse_request);
	RUN(ipc_verbs);
	RUN(ipc_escape);
	RUN(ipc_records);
	RUN(ipc_socket);
	RUN(lines_without_handshake);
	RUN(lines_session_actions);
	RUN(lines_failed_action);
	RUN(lines_pairing_operator);
	RUN(lines_revoke_ends_session);
	RUN(lines_refusal_keeps_operator);
	RUN(lines_queue_bounded);
	RUN(dialer_demand_link);

	rm_rf(tmpdir);
	return check_summary();
}
