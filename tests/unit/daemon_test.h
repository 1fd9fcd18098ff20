/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the tests of sealined's infrastructure share (test_config.c,
 * test_keystore.c, test_sessionlog.c, test_ipc.c, test_lines.c,
 * test_dialer.c): a fresh directory under $TMPDIR for their files, removed
 * at the end, and small file helpers. Include after check.h; one test
 * program per file, so the definitions here are the program's own.
 */
#ifndef SEALINE_TEST_DAEMON_TEST_H
#define SEALINE_TEST_DAEMON_TEST_H

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "crypto.h"
#include "log.h"

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

/* A path in the test directory; a name too long for it is a test bug. */
static inline void path_in(char *out, size_t size, const char *name)
{
	if ((size_t)snprintf(out, size, "%s/%s", tmpdir, name) >= size)
		abort();
}

static inline void rm_rf(const char *path)
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
			if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path,
					     de->d_name) >= sizeof(sub))
				continue;
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static inline void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	fchmod(fd, mode);
	close(fd);
}

static inline bool read_text(const char *path, char *buf, size_t size)
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

static inline unsigned int mode_of(const char *path)
{
	struct stat st;

	if (lstat(path, &st))
		return 0xffff;
	return st.st_mode & 07777;
}

static inline bool exists(const char *path)
{
	struct stat st;

	return !lstat(path, &st);
}

static inline unsigned int count_entries(const char *dir, const char *prefix)
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

static inline bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* A configuration parsed from text as sealined would (defaults first). */
static inline int parse(struct sl_config *cfg, const char *text, char *err,
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

static inline struct sl_config *new_cfg(void)
{
	struct sl_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		abort();
	return cfg;
}

/* A key store directory that does not exist yet. */
static inline void ks_dir(char *out, size_t size, const char *name)
{
	path_in(out, size, name);
	rm_rf(out);
}

/* check_init(), the log to stderr if SEALINE_TEST_VERBOSE is set,
 * libgcrypt, and the directory; exits on failure. */
static inline void daemon_test_start(int argc, char **argv, const char *prog)
{
	char why[256];
	const char *base = getenv("TMPDIR");

	check_init(argc, argv);
	sl_log_setup(prog, getenv("SEALINE_TEST_VERBOSE") ? SL_LOG_STDERR : 0,
		     LOG_DEBUG);
	if (sl_crypto_init(0, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why))) {
		printf("sl_crypto_init: %s\n", why);
		exit(1);
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/sealine-%s.XXXXXX",
		 base && *base ? base : "/tmp", prog);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(1);
	}
}

/* Removes the directory; the program's exit status. */
static inline int daemon_test_finish(void)
{
	rm_rf(tmpdir);
	return check_summary();
}

#endif /* SEALINE_TEST_DAEMON_TEST_H */
