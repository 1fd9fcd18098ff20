/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the courier's tests share: two installations (a sender, account
 * 000000000001, and a recipient, 000000000002) paired with each other,
 * a third one nobody paired with, the recipient's peer look-up, scratch
 * directories and files. Include after check.h, crypto.h, agent_test.h.
 */
#ifndef SEALINE_TEST_COURIER_H
#define SEALINE_TEST_COURIER_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "envelope.h"

#define SENDER_ACCOUNT		"000000000001"
#define RECIPIENT_ACCOUNT	"000000000002"
#define STRANGER_ACCOUNT	"000000000003"

/* label(x) = SHA-256("sealine courier test " || x), as envelope_v1.py. */
static inline void label(uint8_t out[32], const char *x)
{
	char buf[128];

	snprintf(buf, sizeof(buf), "sealine courier test %s", x);
	if (sl_sha256(out, buf, strlen(buf)))
		abort();
}

struct party {
	struct sl_env_self self;
	uint8_t *priv;			/* secure memory */
};

struct world {
	struct party sender, recipient, stranger;
	uint8_t *ltk;			/* secure memory: sender <-> recipient */
	/* The recipient's record of the sender, the sender's of the
	 * recipient. */
	struct sl_env_peer sender_at_recipient, recipient_at_sender;
	bool sender_allowed;		/* what find_peer reports */
	int find_calls;
};

static inline void party_init(struct party *p, const char *account,
			      const char *key_label)
{
	memset(p, 0, sizeof(*p));
	p->priv = sl_secure_alloc(32);
	if (!p->priv)
		abort();
	label(p->priv, key_label);
	snprintf(p->self.account, sizeof(p->self.account), "%s", account);
	p->self.priv = p->priv;
	if (sl_x25519_public(p->self.pub, p->priv))
		abort();
}

static inline void world_init(struct world *w)
{
	memset(w, 0, sizeof(*w));
	party_init(&w->sender, SENDER_ACCOUNT, "sender static");
	party_init(&w->recipient, RECIPIENT_ACCOUNT, "recipient static");
	party_init(&w->stranger, STRANGER_ACCOUNT, "stranger static");
	w->ltk = sl_secure_alloc(32);
	if (!w->ltk)
		abort();
	label(w->ltk, "ltk");
	snprintf(w->sender_at_recipient.account, 13, "%s", SENDER_ACCOUNT);
	memcpy(w->sender_at_recipient.pub, w->sender.self.pub, 32);
	w->sender_at_recipient.ltk = w->ltk;
	w->sender_at_recipient.allowed = true;
	snprintf(w->recipient_at_sender.account, 13, "%s", RECIPIENT_ACCOUNT);
	memcpy(w->recipient_at_sender.pub, w->recipient.self.pub, 32);
	w->recipient_at_sender.ltk = w->ltk;
	w->recipient_at_sender.allowed = true;
	w->sender_allowed = true;
}

static inline void world_free(struct world *w)
{
	sl_secure_free(w->sender.priv, 32);
	sl_secure_free(w->recipient.priv, 32);
	sl_secure_free(w->stranger.priv, 32);
	sl_secure_free(w->ltk, 32);
	memset(w, 0, sizeof(*w));
}

/* The recipient's key store: it knows the sender only. */
static inline int find_peer(void *ctx, const uint8_t pub[32],
			    struct sl_env_peer *peer)
{
	struct world *w = ctx;

	w->find_calls++;
	if (memcmp(pub, w->sender.self.pub, 32))
		return -ENOENT;
	*peer = w->sender_at_recipient;
	peer->allowed = w->sender_allowed;
	return 0;
}

/* A fresh scratch directory under $TMPDIR (or /tmp); its path in out. */
static inline void scratch_dir(char *out, size_t size, const char *what)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(out, size, "%s/courier-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp",
		 what);
	if (!mkdtemp(out))
		abort();
}

static inline int rm_rf_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	struct dirent *d;
	DIR *dir;

	if (fd < 0)
		return unlinkat(dirfd, name, 0);
	dir = fdopendir(fd);
	while ((d = readdir(dir))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		fchmodat(fd, d->d_name, 0700, 0);
		if (unlinkat(fd, d->d_name, 0))
			rm_rf_at(fd, d->d_name);
	}
	closedir(dir);
	return unlinkat(dirfd, name, AT_REMOVEDIR);
}

static inline void rm_rf(const char *path)
{
	rm_rf_at(AT_FDCWD, path);
}

/* Number of entries in a directory (without . and ..), -1 if none. */
static inline int count_entries(const char *path)
{
	DIR *dir = opendir(path);
	struct dirent *d;
	int n = 0;

	if (!dir)
		return -1;
	while ((d = readdir(dir)))
		if (strcmp(d->d_name, ".") && strcmp(d->d_name, ".."))
			n++;
	closedir(dir);
	return n;
}

static inline void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len))
		abort();
	close(fd);
}

/* The file's bytes (malloc'd, *len) or NULL. */
static inline uint8_t *read_file(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st)) {
		close(fd);
		return NULL;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf || read(fd, buf, (size_t)st.st_size) != st.st_size) {
		free(buf);
		close(fd);
		return NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

/* A memory file holding len bytes, positioned at 0. */
static inline int memfd_with(const void *data, size_t len)
{
	int fd = memfd_create("envelope", 0);

	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) ||
	    lseek(fd, 0, SEEK_SET))
		abort();
	return fd;
}

#endif
