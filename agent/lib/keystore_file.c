// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The key store's files (keystore_file.h): atomic writes, reads that
 * check ownership and mode into secure memory, "key = value" parsing, and
 * the hex and time fields in them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "fdio.h"
#include "keystore.h"
#include "keystore_file.h"
#include "log.h"

int sl_ksf_parse_time(const char *s, int64_t *out)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int sl_ksf_parse_yesno(const char *s, bool *out)
{
	if (!strcmp(s, "yes"))
		*out = true;
	else if (!strcmp(s, "no"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

int sl_ks_write_atomic(int dirfd, const char *name, const void *data,
		       size_t len)
{
	static unsigned int counter;
	char tmp[128];
	int fd, ret;

	snprintf(tmp, sizeof(tmp), SL_KSF_TMP_PREFIX "%s-%ld-%u", name, (long)getpid(),
		 counter++);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	/* The umask can only take bits away, but be explicit. */
	if (fchmod(fd, 0600) < 0) {
		ret = -errno;
		goto fail;
	}
	ret = sl_write_all(fd, data, len);
	if (ret)
		goto fail;
	if (fsync(fd) < 0) {
		ret = -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		ret = -errno;
		goto fail;
	}
	fd = -1;
	if (sl_ks_before_rename_hook) {
		ret = sl_ks_before_rename_hook(tmp);
		if (ret)
			goto fail;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		ret = -errno;
		goto fail;
	}
	/* The rename is durable once the directory is. */
	if (fsync(dirfd) < 0)
		return -errno;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	return ret < 0 ? ret : -EIO;
}

/*
 * Read dirfd/name into secure memory (NUL-terminated). -ENOENT if it does
 * not exist. Checks that it is a regular file of ours, and tightens
 * permissions that let anyone else read it.
 */
int sl_ksf_read_secure(int dirfd, const char *dir, const char *name,
		       char **out, size_t *out_len, char *err, size_t err_len)
{
	struct stat st;
	char *buf;
	size_t len = 0;
	int fd, ret;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			return ret;
		return sl_errf(err, err_len, ret, "%s/%s: %s", dir, name,
			       strerror(-ret));
	}
	if (fstat(fd, &st) < 0) {
		ret = sl_errf(err, err_len, -errno, "%s/%s: %s", dir, name,
			      strerror(errno));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = sl_errf(err, err_len, -EINVAL, "%s/%s: not a regular file",
			      dir, name);
		goto out_close;
	}
	if (st.st_uid != geteuid()) {
		ret = sl_errf(err, err_len, -EPERM,
			      "%s/%s: owned by uid %u, not by this daemon (uid %u)",
			      dir, name, (unsigned int)st.st_uid,
			      (unsigned int)geteuid());
		goto out_close;
	}
	if (st.st_mode & 077) {
		sl_log(LOG_WARNING, "%s/%s had mode %04o: others could read it; now 0600",
		       dir, name, (unsigned int)(st.st_mode & 07777));
		if (fchmod(fd, 0600) < 0) {
			ret = sl_errf(err, err_len, -errno, "%s/%s: chmod: %s", dir,
				      name, strerror(errno));
			goto out_close;
		}
	}
	if (st.st_size > SL_KS_FILE_MAX) {
		ret = sl_errf(err, err_len, -EFBIG, "%s/%s: too large (%lld bytes)",
			      dir, name, (long long)st.st_size);
		goto out_close;
	}
	buf = sl_secure_alloc(SL_KS_FILE_MAX + 1);
	if (!buf) {
		ret = sl_errf(err, err_len, -ENOMEM, "%s/%s: out of secure memory",
			      dir, name);
		goto out_close;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, SL_KS_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = sl_errf(err, err_len, -errno, "%s/%s: %s", dir, name,
				      strerror(errno));
			sl_secure_free(buf, SL_KS_FILE_MAX + 1);
			goto out_close;
		}
		if (!n)
			break;
		len += (size_t)n;
		if (len > SL_KS_FILE_MAX) {
			ret = sl_errf(err, err_len, -EFBIG, "%s/%s: too large",
				      dir, name);
			sl_secure_free(buf, SL_KS_FILE_MAX + 1);
			goto out_close;
		}
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	ret = 0;
out_close:
	close(fd);
	return ret;
}

/*
 * Split text (modified in place) into "key value" lines and hand them to
 * fn. Blank lines and lines starting with '#' are skipped. Stops at the
 * first error, with "dir/name:line: ..." in err.
 */
int sl_ksf_parse_kv(char *text, size_t len, const char *dir, const char *name,
		    sl_ksf_kv_fn fn, void *arg, char *err, size_t err_len)
{
	unsigned int lineno = 0;
	char *p = text, *end = text + len;

	if (memchr(text, '\0', len))
		return sl_errf(err, err_len, -EINVAL, "%s/%s: NUL byte in the file",
			       dir, name);
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *key, *val;
		int ret;

		if (nl)
			*nl = '\0';
		lineno++;
		key = p;
		p = nl ? nl + 1 : end;
		if (!*key || *key == '#')
			continue;
		val = strchr(key, ' ');
		if (!val)
			return sl_errf(err, err_len, -EINVAL,
				       "%s/%s:%u: expected 'key value'", dir, name,
				       lineno);
		*val++ = '\0';
		ret = fn(key, val, arg);
		if (ret == -ENOKEY)
			return sl_errf(err, err_len, -EINVAL,
				       "%s/%s:%u: unknown key '%s'", dir, name,
				       lineno, key);
		if (ret == -EEXIST)
			return sl_errf(err, err_len, -EINVAL,
				       "%s/%s:%u: '%s' appears twice", dir, name,
				       lineno, key);
		if (ret)
			return sl_errf(err, err_len, -EINVAL,
				       "%s/%s:%u: bad value for '%s'", dir, name,
				       lineno, key);
	}
	return 0;
}
