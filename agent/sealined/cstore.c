// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The courier's stores' common ground: directories, records, JSON, logs
 * (cstore.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cstore.h"
#include "fdio.h"
#include "hex.h"
#include "ipc.h"
#include "json.h"
#include "keystore.h"
#include "keystore_file.h"
#include "log.h"
#include "sessionlog.h"

int (*sl_cs_crash_hook)(const char *step);

int sl_cs_dir_open(const char *dir, char *err, size_t err_len)
{
	char path[PATH_MAX];
	int fd;

	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path) ||
	    dir[0] != '/')
		return sl_errf(err, err_len, -EINVAL,
			       "%s: not an absolute path", dir);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return sl_errf(err, err_len, -errno, "%s: %s", path,
				       strerror(errno));
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return sl_errf(err, err_len, -errno, "%s: %s", path,
			       strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return sl_errf(err, err_len, -errno, "%s: %s", path,
			       strerror(errno));
	return fd;
}

int sl_cs_reopen(int dirfd)
{
	return openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

void sl_cs_name(char *out, size_t size, const uint8_t id[SL_ENV_ID_LEN],
		const char *suffix)
{
	char hex[SL_CS_HEX_ID];

	sl_hex_encode(hex, id, SL_ENV_ID_LEN);
	snprintf(out, size, "%s%s", hex, suffix);
}

bool sl_cs_parse_name(const char *name, const char *suffix,
		      uint8_t id[SL_ENV_ID_LEN])
{
	size_t n = strlen(name), s = strlen(suffix);

	if (n != 2 * SL_ENV_ID_LEN + s || strcmp(name + n - s, suffix))
		return false;
	return sl_hex_decode(id, SL_ENV_ID_LEN, name, 2 * SL_ENV_ID_LEN) == 0;
}

/* ---- Records ------------------------------------------------------------ */

static void rec_add(struct sl_cs_rec *r, const char *s)
{
	size_t n = strlen(s);

	if (r->overflow || r->len + n >= sizeof(r->buf)) {
		r->overflow = true;
		return;
	}
	memcpy(r->buf + r->len, s, n + 1);
	r->len += n;
}

void sl_cs_rec_init(struct sl_cs_rec *r, const char *magic)
{
	r->len = 0;
	r->overflow = false;
	r->n = 0;
	r->buf[0] = 0;
	rec_add(r, magic);
	rec_add(r, "\n");
}

void sl_cs_put(struct sl_cs_rec *r, const char *key, const char *val)
{
	char enc[3 * SL_CS_RECORD_MAX / 4];

	if (!sl_ipc_escape(enc, sizeof(enc), val ? val : "")) {
		r->overflow = true;
		return;
	}
	rec_add(r, key);
	rec_add(r, " ");
	rec_add(r, enc);
	rec_add(r, "\n");
}

void sl_cs_putf(struct sl_cs_rec *r, const char *key, const char *fmt, ...)
{
	char val[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	sl_cs_put(r, key, val);
}

void sl_cs_put_u64(struct sl_cs_rec *r, const char *key, uint64_t v)
{
	sl_cs_putf(r, key, "%" PRIu64, v);
}

void sl_cs_put_hex(struct sl_cs_rec *r, const char *key, const void *p,
		   size_t len)
{
	char hex[2 * 64 + 1];

	if (len > 64) {
		r->overflow = true;
		return;
	}
	sl_hex_encode(hex, p, len);
	sl_cs_put(r, key, hex);
}

int sl_cs_rec_write(int dirfd, const char *name, const struct sl_cs_rec *r)
{
	if (r->overflow)
		return -EOVERFLOW;
	return sl_ks_write_atomic(dirfd, name, r->buf, r->len);
}

ssize_t sl_cs_read_file(int dirfd, const char *name, char *buf, size_t size)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = sl_read_full(fd, buf, size);
	close(fd);
	if (n >= 0 && (size_t)n == size)
		return -EFBIG;
	return n;
}

int sl_cs_rec_read(int dirfd, const char *name, const char *magic,
		   struct sl_cs_rec *r)
{
	ssize_t n = sl_cs_read_file(dirfd, name, r->buf, sizeof(r->buf));
	size_t ml = strlen(magic);
	char *p, *end;

	r->n = 0;
	r->overflow = false;
	if (n < 0)
		return (int)n;
	r->buf[n] = 0;
	r->len = (size_t)n;
	if ((size_t)n < ml + 1 || memcmp(r->buf, magic, ml) ||
	    r->buf[ml] != '\n' || memchr(r->buf, 0, (size_t)n))
		return -EINVAL;
	for (p = r->buf + ml + 1; *p; p = end + 1) {
		char *sp;

		end = strchr(p, '\n');
		if (!end)
			return -EINVAL;	/* a torn record cannot be renamed in */
		*end = 0;
		sp = strchr(p, ' ');
		if (!sp || r->n == SL_CS_MAX_FIELDS)
			return -EINVAL;
		*sp = 0;
		if (sl_ipc_unescape(sp + 1))
			return -EINVAL;
		r->key[r->n] = p;
		r->val[r->n] = sp + 1;
		r->n++;
	}
	return 0;
}

const char *sl_cs_get(const struct sl_cs_rec *r, const char *key)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->key[i], key))
			return r->val[i];
	return NULL;
}

int sl_cs_get_u64(const struct sl_cs_rec *r, const char *key, uint64_t *v)
{
	const char *s = sl_cs_get(r, key);
	char *end;

	if (!s || !*s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

int sl_cs_get_hex(const struct sl_cs_rec *r, const char *key, void *out,
		  size_t len)
{
	const char *s = sl_cs_get(r, key);

	if (!s)
		return -EINVAL;
	return sl_hex_decode(out, len, s, strlen(s));
}

int sl_cs_write_file(int dirfd, const char *name, const void *buf,
		     size_t len)
{
	return sl_ks_write_atomic(dirfd, name, buf, len);
}

int sl_cs_remove(int dirfd, const char *name)
{
	if (unlinkat(dirfd, name, 0) < 0)
		return errno == ENOENT ? 0 : -errno;
	return fsync(dirfd) < 0 ? -errno : 0;
}

void sl_cs_sweep_tmp(int dirfd)
{
	int dfd = sl_cs_reopen(dirfd);
	struct dirent *de;
	DIR *d;

	if (dfd < 0)
		return;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, SL_KSF_TMP_PREFIX,
			     sizeof(SL_KSF_TMP_PREFIX) - 1))
			unlinkat(dirfd, de->d_name, 0);
	closedir(d);
}

/* ---- JSON ----------------------------------------------------------------- */

void sl_jb_init(struct sl_jb *j, size_t max)
{
	memset(j, 0, sizeof(*j));
	j->max = max;
	j->first = true;
}

void sl_jb_free(struct sl_jb *j)
{
	free(j->buf);
	memset(j, 0, sizeof(*j));
}

static void jput(struct sl_jb *j, const char *s, size_t n)
{
	if (j->overflow)
		return;
	if (j->len + n + 1 > j->max) {
		j->overflow = true;
		return;
	}
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 512;
		char *p;

		while (cap < j->len + n + 1)
			cap *= 2;
		p = realloc(j->buf, cap);
		if (!p) {
			j->overflow = true;
			return;
		}
		j->buf = p;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = 0;
}

void sl_jb_raw(struct sl_jb *j, const char *s)
{
	jput(j, s, strlen(s));
}

/* The shared writer's (json.h): UTF-8 kept, controls escaped, bytes that
 * are not UTF-8 U+FFFD. */
static void jstring(struct sl_jb *j, const char *s)
{
	size_t n = sl_json_quote(NULL, 0, s);
	char *q;

	if (j->overflow)
		return;
	q = malloc(n + 1);
	if (!q) {
		j->overflow = true;
		return;
	}
	sl_json_quote(q, n + 1, s);
	jput(j, q, n);
	free(q);
}

void sl_jb_key(struct sl_jb *j, const char *key)
{
	if (!j->first)
		jput(j, ", ", 2);
	j->first = false;
	if (key) {
		jstring(j, key);
		jput(j, ": ", 2);
	}
}

void sl_jb_str(struct sl_jb *j, const char *key, const char *s)
{
	sl_jb_key(j, key);
	jstring(j, s ? s : "");
}

void sl_jb_str_or_null(struct sl_jb *j, const char *key, const char *s)
{
	if (!s || !*s) {
		sl_jb_key(j, key);
		jput(j, "null", 4);
		return;
	}
	sl_jb_str(j, key, s);
}

void sl_jb_u64(struct sl_jb *j, const char *key, uint64_t v)
{
	char num[24];

	sl_jb_key(j, key);
	snprintf(num, sizeof(num), "%" PRIu64, v);
	sl_jb_raw(j, num);
}

void sl_jb_time(struct sl_jb *j, const char *key, int64_t t)
{
	char when[32];

	sl_slog_time(when, t);
	sl_jb_str(j, key, when);
}

void sl_jb_open(struct sl_jb *j, const char *key, char bracket)
{
	char b[2] = { bracket, 0 };

	if (key || !j->first || j->len)
		sl_jb_key(j, key);
	sl_jb_raw(j, b);
	j->first = true;
}

void sl_jb_close(struct sl_jb *j, char bracket)
{
	char b[2] = { bracket, 0 };

	sl_jb_raw(j, b);
	j->first = false;
}

size_t sl_jb_room(const struct sl_jb *j)
{
	return j->overflow || j->len >= j->max ? 0 : j->max - j->len;
}

/* ---- Logs ------------------------------------------------------------------ */

int sl_clog_open(struct sl_clog *log, const char *path, char *err,
		 size_t err_len)
{
	log->fd = -1;
	if (snprintf(log->path, sizeof(log->path), "%s", path) >=
	    (int)sizeof(log->path))
		return sl_errf(err, err_len, -ENAMETOOLONG, "%s: path too long",
			       path);
	log->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
		       O_NOFOLLOW | O_NOCTTY, 0600);
	if (log->fd < 0)
		return sl_errf(err, err_len, -errno, "%s: %s", path,
			       strerror(errno));
	return 0;
}

void sl_clog_close(struct sl_clog *log)
{
	if (log->fd >= 0)
		close(log->fd);
	log->fd = -1;
}

int sl_clog_reopen(struct sl_clog *log, char *err, size_t err_len)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", log->path);
	sl_clog_close(log);
	return sl_clog_open(log, path, err, err_len);
}

int sl_clog_append(struct sl_clog *log, const char *json, size_t len)
{
	char *line = malloc(len + 1);
	int ret;

	if (!line)
		return -ENOMEM;
	memcpy(line, json, len);
	line[len] = '\n';
	/* One write: a reader never sees half a record but after a crash
	 * (its parser skips a torn last line). */
	ret = sl_write_all(log->fd, line, len + 1);
	free(line);
	if (!ret && fsync(log->fd) < 0)
		ret = -errno;
	return ret;
}

bool sl_clog_has(const struct sl_clog *log, const char *hex,
		 const char *outcome)
{
	char id_key[64], out_key[64];
	struct stat st;
	off_t from;
	char *buf;
	ssize_t n;
	bool found = false;

	if (log->fd < 0 || fstat(log->fd, &st) < 0)
		return false;
	from = st.st_size > (1 << 20) ? st.st_size - (1 << 20) : 0;
	buf = malloc((size_t)(st.st_size - from) + 1);
	if (!buf)
		return false;
	n = pread(log->fd, buf, (size_t)(st.st_size - from), from);
	if (n < 0) {
		free(buf);
		return false;
	}
	buf[n] = 0;
	snprintf(id_key, sizeof(id_key), "\"id\": \"%s\"", hex);
	snprintf(out_key, sizeof(out_key), "\"outcome\": \"%s\"", outcome);
	for (char *line = buf, *nl; line && *line && !found; line = nl) {
		nl = strchr(line, '\n');
		if (nl)
			*nl++ = 0;
		found = strstr(line, id_key) && strstr(line, out_key);
	}
	free(buf);
	return found;
}
