// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Writing an envelope's entries into its staging directory, refusing
 * anything that could write or point outside it.
 *
 * Why not libarchive's archive_write_disk with ARCHIVE_EXTRACT_SECURE_*:
 * it resolves names against the process's working directory (libarchive
 * 3.6 has no directory-fd API), which a daemon would have to chdir() into
 * for every envelope, and its checks are made by lstat() walks that race
 * against the file system. Here every name is first checked as a string
 * (paths.c: no absolute path, no "." or "..", limits), against the table
 * of entries already extracted (no duplicate; the parent must be a
 * directory of this envelope; a hard link must name an earlier regular
 * file of it), then created relative to the staging directory's fd by
 * the kernel with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), so that
 * no ".." and no symbolic link can lead out whatever is on disk, with
 * O_CREAT | O_EXCL | O_NOFOLLOW, never over an existing name. That gives
 * the guarantees of ARCHIVE_EXTRACT_SECURE_NODOTDOT, _NOABSOLUTEPATHS and
 * _SYMLINKS, enforced by the kernel, and more (devices, duplicates,
 * links pointing out, limits).
 *
 * Owner, setuid, setgid and sticky bits and group/other write never
 * survive: files get (mode & 0755) | 0600, directories (mode & 0755) |
 * 0700, directories only after their last entry is written.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "extract.h"
#include "fdio.h"
#include "paths.h"

enum { T_FILE = 1, T_DIR, T_LINK };

struct record {
	char *name;
	uint8_t type;
	mode_t mode;
	int64_t mtime;
};

struct sl_extract {
	int parent;			/* the staging directory */
	int root;			/* parent/name */
	char name[2 * SL_ENV_ID_LEN + 1];
	struct sl_env_limits lim;
	uint64_t content_bytes;
	struct record *rec;		/* in extraction order */
	size_t n_rec, cap_rec;
	uint32_t *slot;			/* hash of names: index + 1, 0 free */
	size_t n_slots;
	uint8_t zeros[4096];
};

#define RESOLVE_STRICT	(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | \
			 RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

static int openat2_beneath(int dirfd, const char *path, int flags,
			   uint64_t resolve)
{
	struct open_how how = {
		.flags = (uint64_t)flags | O_CLOEXEC,
		.resolve = resolve,
	};
	long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
	return h;
}

static struct record *find(const struct sl_extract *x, const char *name)
{
	size_t i;

	if (!x->n_slots)
		return NULL;
	i = name_hash(name) & (x->n_slots - 1);
	for (; x->slot[i]; i = (i + 1) & (x->n_slots - 1))
		if (!strcmp(x->rec[x->slot[i] - 1].name, name))
			return &x->rec[x->slot[i] - 1];
	return NULL;
}

/* Adds a record (name is taken over). -ENOMEM on failure. */
static int add(struct sl_extract *x, char *name, uint8_t type, mode_t mode,
	       int64_t mtime)
{
	size_t i;

	if (x->n_rec == x->cap_rec) {
		size_t cap = x->cap_rec ? 2 * x->cap_rec : 64;
		struct record *r = realloc(x->rec, cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		x->rec = r;
		x->cap_rec = cap;
	}
	/* At most half full. */
	if (2 * (x->n_rec + 1) > x->n_slots) {
		size_t n = x->n_slots ? 2 * x->n_slots : 128;
		uint32_t *s = calloc(n, sizeof(*s));

		if (!s)
			return -ENOMEM;
		free(x->slot);
		x->slot = s;
		x->n_slots = n;
		for (size_t k = 0; k < x->n_rec; k++) {
			i = name_hash(x->rec[k].name) & (n - 1);
			while (s[i])
				i = (i + 1) & (n - 1);
			s[i] = (uint32_t)k + 1;
		}
	}
	x->rec[x->n_rec] = (struct record){ name, type, mode, mtime };
	i = name_hash(name) & (x->n_slots - 1);
	while (x->slot[i])
		i = (i + 1) & (x->n_slots - 1);
	x->slot[i] = (uint32_t)++x->n_rec;
	return 0;
}

int sl_extract_remove_tree(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			O_CLOEXEC);
	struct dirent *d;
	DIR *dir;
	int err = 0;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno != ENOTDIR && errno != ELOOP)
			return -errno;
		return unlinkat(dirfd, name, 0) ? -errno : 0;
	}
	dir = fdopendir(fd);
	if (!dir) {
		err = -errno;
		close(fd);
		return err;
	}
	while ((d = readdir(dir))) {
		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (unlinkat(fd, d->d_name, 0) && errno == EISDIR) {
			/* Writable again first: an envelope's directory
			 * may have lost its write bit at the end. */
			fchmodat(fd, d->d_name, 0700, 0);
			err = sl_extract_remove_tree(fd, d->d_name);
			if (err)
				break;
		}
	}
	closedir(dir);
	if (!err && unlinkat(dirfd, name, AT_REMOVEDIR))
		err = -errno;
	return err;
}

enum sl_env_reason sl_extract_begin(struct sl_extract **xp, int staging_fd,
				    const char *name,
				    const struct sl_env_limits *lim,
				    struct sl_env_refusal *why)
{
	struct sl_extract *x;
	int err;

	*xp = NULL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return sl_env_refuse(why, SL_ENV_INTERNAL, "out of memory");
	x->parent = staging_fd;
	x->root = -1;
	x->lim = *lim;
	snprintf(x->name, sizeof(x->name), "%s", name);
	err = sl_extract_remove_tree(staging_fd, x->name);
	if (!err && mkdirat(staging_fd, x->name, 0700))
		err = -errno;
	if (!err) {
		x->root = openat(staging_fd, x->name, O_RDONLY | O_DIRECTORY |
				 O_NOFOLLOW | O_CLOEXEC);
		if (x->root < 0)
			err = -errno;
	}
	if (err) {
		free(x);
		return sl_env_refuse(why, SL_ENV_IO,
				     "creating the staging directory %s: %s",
				     name, strerror(-err));
	}
	*xp = x;
	return SL_ENV_OK;
}

void sl_extract_counts(const struct sl_extract *x, uint64_t *files,
		       uint64_t *content_bytes)
{
	*files = x->n_rec;
	*content_bytes = x->content_bytes;
}

void sl_extract_end(struct sl_extract *x, bool keep)
{
	if (!x)
		return;
	if (x->root >= 0)
		close(x->root);
	if (!keep)
		sl_extract_remove_tree(x->parent, x->name);
	for (size_t i = 0; i < x->n_rec; i++)
		free(x->rec[i].name);
	free(x->rec);
	free(x->slot);
	free(x);
}

static enum sl_env_reason io_error(struct sl_env_refusal *why, int err,
				   const char *what, const char *name)
{
	char esc[96];

	sl_env_escape(esc, sizeof(esc), name);
	if (err == -ENOSPC || err == -EDQUOT)
		return sl_env_refuse(why, SL_ENV_NO_SPACE, "%s \"%s\": %s",
				     what, esc, strerror(-err));
	if (err == -ELOOP || err == -EXDEV)
		return sl_env_refuse(why, SL_ENV_SYMLINK_OUTSIDE,
				     "%s \"%s\": its path goes through a symbolic link",
				     what, esc);
	if (err == -ENOSYS)
		return sl_env_refuse(why, SL_ENV_IO,
				     "openat2() is missing: Linux 5.6 or later is needed");
	return sl_env_refuse(why, SL_ENV_IO, "%s \"%s\": %s", what, esc,
			     strerror(-err));
}

/*
 * The directory that will hold name (len bytes), opened beneath the
 * root without following any link; *base its last component. The
 * caller closes the fd unless it is x->root.
 */
static int open_parent(struct sl_extract *x, char *name, size_t len,
		       const char **base)
{
	char *slash = memrchr(name, '/', len);
	int fd;

	if (!slash) {
		*base = name;
		return x->root;
	}
	*slash = 0;
	fd = openat2_beneath(x->root, name, O_PATH | O_DIRECTORY,
			     RESOLVE_STRICT);
	*slash = '/';
	*base = slash + 1;
	return fd;
}

static void close_parent(struct sl_extract *x, int fd)
{
	if (fd >= 0 && fd != x->root)
		close(fd);
}

static enum sl_env_reason check_space(struct sl_extract *x, uint64_t size,
				      const char *esc,
				      struct sl_env_refusal *why)
{
	struct statvfs vfs;
	uint64_t avail;

	if (fstatvfs(x->root, &vfs))
		return sl_env_refuse(why, SL_ENV_IO, "statvfs: %s",
				     strerror(errno));
	avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	if (avail < x->lim.min_free_bytes ||
	    avail - x->lim.min_free_bytes < size)
		return sl_env_refuse(why, SL_ENV_NO_SPACE,
				     "\"%s\" needs %llu bytes; %llu are free and %llu must stay free",
				     esc, (unsigned long long)size,
				     (unsigned long long)avail,
				     (unsigned long long)x->lim.min_free_bytes);
	return SL_ENV_OK;
}

/* A regular file's data from a into fd, within its declared size. */
static enum sl_env_reason write_data(struct archive *a, int fd, int64_t size,
				     const char *esc,
				     struct sl_env_refusal *why)
{
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int r = archive_read_data_block(a, &buf, &len, &off);
		int err;

		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK)
			return sl_env_refuse(why, SL_ENV_BAD_ARCHIVE,
					     "data of \"%s\": %s", esc,
					     archive_error_string(a));
		if (off < 0 || (uint64_t)off > (uint64_t)size ||
		    len > (uint64_t)size - (uint64_t)off)
			return sl_env_refuse(why, SL_ENV_BAD_ARCHIVE,
					     "\"%s\" has data beyond its size",
					     esc);
		err = sl_pwrite_all(fd, buf, len, off);
		if (err)
			return io_error(why, err, "writing", esc);
	}
	/* Sparse files end in a hole: give the file its declared size. */
	if (ftruncate(fd, size))
		return io_error(why, -errno, "sizing", esc);
	return SL_ENV_OK;
}

static enum sl_env_reason put_file(struct sl_extract *x, struct archive *a,
				   struct archive_entry *e, char *name,
				   size_t len, const char *esc,
				   struct sl_env_refusal *why)
{
	int64_t size = archive_entry_size(e);
	struct timespec ts[2] = { { 0, UTIME_OMIT },
				  { archive_entry_mtime(e), 0 } };
	enum sl_env_reason res;
	const char *base;
	int pfd, fd;

	if (size < 0)
		return sl_env_refuse(why, SL_ENV_BAD_ARCHIVE,
				     "\"%s\" has no size", esc);
	if ((uint64_t)size > x->lim.max_unpacked_bytes - x->content_bytes)
		return sl_env_refuse(why, SL_ENV_UNPACKED_TOO_BIG,
				     "\"%s\" (%lld bytes) brings the files over %llu bytes",
				     esc, (long long)size,
				     (unsigned long long)x->lim.max_unpacked_bytes);
	x->content_bytes += (uint64_t)size;
	res = check_space(x, (uint64_t)size, esc, why);
	if (res)
		return res;
	pfd = open_parent(x, name, len, &base);
	if (pfd < 0)
		return io_error(why, pfd, "opening the directory of", esc);
	fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	if (fd < 0) {
		res = io_error(why, -errno, "creating", esc);
		close_parent(x, pfd);
		return res;
	}
	close_parent(x, pfd);
	res = write_data(a, fd, size, esc, why);
	if (!res && (fchmod(fd, (archive_entry_perm(e) & 0755) | 0600) ||
		     futimens(fd, ts)))
		res = io_error(why, -errno, "setting the mode of", esc);
	close(fd);
	return res;
}

static enum sl_env_reason put_dir(struct sl_extract *x, char *name,
				  size_t len, const char *esc,
				  struct sl_env_refusal *why)
{
	enum sl_env_reason res = SL_ENV_OK;
	const char *base;
	int pfd = open_parent(x, name, len, &base);

	if (pfd < 0)
		return io_error(why, pfd, "opening the directory of", esc);
	if (mkdirat(pfd, base, 0700))
		res = io_error(why, -errno, "creating", esc);
	close_parent(x, pfd);
	return res;
}

static enum sl_env_reason put_symlink(struct sl_extract *x,
				      struct archive_entry *e, char *name,
				      size_t len, const char *esc,
				      struct sl_env_refusal *why)
{
	const char *target = archive_entry_symlink(e), *base;
	enum sl_env_reason res = SL_ENV_OK;
	char tesc[96];
	int pfd;

	if (!target || !*target)
		return sl_env_refuse(why, SL_ENV_BAD_ARCHIVE,
				     "symbolic link \"%s\" has no target", esc);
	sl_env_escape(tesc, sizeof(tesc), target);
	if (strlen(target) > SL_ENV_PATH_MAX ||
	    !sl_env_link_inside(name, len, target))
		return sl_env_refuse(why, SL_ENV_SYMLINK_OUTSIDE,
				     "\"%s\" -> \"%s\"", esc, tesc);
	pfd = open_parent(x, name, len, &base);
	if (pfd < 0)
		return io_error(why, pfd, "opening the directory of", esc);
	if (symlinkat(target, pfd, base))
		res = io_error(why, -errno, "creating", esc);
	close_parent(x, pfd);
	return res;
}

static enum sl_env_reason put_hardlink(struct sl_extract *x, char *name,
				       size_t len, const char *target,
				       const char *esc,
				       struct sl_env_refusal *why)
{
	struct sl_env_refusal ignored;
	const struct record *t;
	enum sl_env_reason res = SL_ENV_OK;
	const char *base, *tbase;
	char tesc[96], *tname;
	size_t tlen;
	int pfd, tfd;

	sl_env_escape(tesc, sizeof(tesc), target);
	if (sl_env_check_name(target, &tlen, NULL, &ignored))
		return sl_env_refuse(why, SL_ENV_HARDLINK_OUTSIDE,
				     "\"%s\" => \"%s\"", esc, tesc);
	tname = strndup(target, tlen);
	if (!tname)
		return sl_env_refuse(why, SL_ENV_INTERNAL, "out of memory");
	t = find(x, tname);
	if (!t || t->type != T_FILE) {
		free(tname);
		return sl_env_refuse(why, SL_ENV_HARDLINK_OUTSIDE,
				     "\"%s\" => \"%s\", which is no earlier file of the envelope",
				     esc, tesc);
	}
	tfd = open_parent(x, tname, tlen, &tbase);
	pfd = tfd < 0 ? tfd : open_parent(x, name, len, &base);
	if (tfd < 0 || pfd < 0)
		res = io_error(why, tfd < 0 ? tfd : pfd,
			       "opening the directory of", esc);
	else if (linkat(tfd, tbase, pfd, base, 0))
		res = io_error(why, -errno, "linking", esc);
	close_parent(x, tfd);
	close_parent(x, pfd);
	free(tname);
	return res;
}

static const char *type_word(unsigned int type)
{
	switch (type) {
	case AE_IFCHR:	return "character device";
	case AE_IFBLK:	return "block device";
	case AE_IFIFO:	return "FIFO";
	case AE_IFSOCK:	return "socket";
	}
	return "file of unknown type";
}

enum sl_env_reason sl_extract_entry(struct sl_extract *x, struct archive *a,
				    struct archive_entry *e,
				    struct sl_env_refusal *why)
{
	const char *path = archive_entry_pathname(e);
	const char *hardlink = archive_entry_hardlink(e);
	unsigned int type = archive_entry_filetype(e), depth;
	enum sl_env_reason res;
	const struct record *parent;
	uint8_t rtype;
	char esc[96], *name;
	size_t len;

	if (!path)
		return sl_env_refuse(why, SL_ENV_BAD_ARCHIVE,
				     "an entry without a readable name");
	res = sl_env_check_name(path, &len, &depth, why);
	if (res)
		return res;
	sl_env_escape(esc, sizeof(esc), path);
	if (x->n_rec >= x->lim.max_files)
		return sl_env_refuse(why, SL_ENV_TOO_MANY_FILES,
				     "more than %llu entries",
				     (unsigned long long)x->lim.max_files);
	if (!hardlink && type != AE_IFREG && type != AE_IFDIR &&
	    type != AE_IFLNK)
		return sl_env_refuse(why, SL_ENV_SPECIAL_FILE, "\"%s\" is a %s",
				     esc, type_word(type));
	name = strndup(path, len);
	if (!name)
		return sl_env_refuse(why, SL_ENV_INTERNAL, "out of memory");
	if (find(x, name)) {
		res = sl_env_refuse(why, SL_ENV_DUPLICATE, "\"%s\"", esc);
		goto fail;
	}
	if (depth > 1) {
		char *slash = memrchr(name, '/', len);

		*slash = 0;
		parent = find(x, name);
		*slash = '/';
		if (parent && parent->type == T_LINK)
			res = sl_env_refuse(why, SL_ENV_SYMLINK_OUTSIDE,
					    "\"%s\" goes through a symbolic link",
					    esc);
		else if (!parent || parent->type != T_DIR)
			res = sl_env_refuse(why, SL_ENV_BAD_ARCHIVE,
					    "\"%s\" comes before its directory",
					    esc);
		if (res)
			goto fail;
	}

	if (hardlink) {
		rtype = T_FILE;
		res = put_hardlink(x, name, len, hardlink, esc, why);
	} else if (type == AE_IFREG) {
		rtype = T_FILE;
		res = put_file(x, a, e, name, len, esc, why);
	} else if (type == AE_IFDIR) {
		rtype = T_DIR;
		res = put_dir(x, name, len, esc, why);
	} else {
		rtype = T_LINK;
		res = put_symlink(x, e, name, len, esc, why);
	}
	if (res)
		goto fail;
	if (add(x, name, rtype, archive_entry_perm(e),
		archive_entry_mtime(e))) {
		res = sl_env_refuse(why, SL_ENV_INTERNAL, "out of memory");
		goto fail;
	}
	return SL_ENV_OK;
fail:
	free(name);
	return res;
}

/* A link's real resolution, by the kernel: EXDEV if it leaves the root. A
 * link dangling now (ENOENT) was checked by its name only. */
static enum sl_env_reason check_link(struct sl_extract *x,
				     const struct record *r,
				     struct sl_env_refusal *why)
{
	int fd = openat2_beneath(x->root, r->name, O_PATH,
				 RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
				 RESOLVE_NO_XDEV);
	char esc[96];

	if (fd >= 0) {
		close(fd);
		return SL_ENV_OK;
	}
	sl_env_escape(esc, sizeof(esc), r->name);
	if (fd == -EXDEV)
		return sl_env_refuse(why, SL_ENV_SYMLINK_OUTSIDE,
				     "\"%s\" resolves outside the envelope",
				     esc);
	if (fd == -ENOSYS)
		return io_error(why, fd, "checking", r->name);
	return SL_ENV_OK;
}

enum sl_env_reason sl_extract_finish(struct sl_extract *x,
				     struct sl_env_refusal *why)
{
	enum sl_env_reason res;

	for (size_t i = 0; i < x->n_rec; i++) {
		if (x->rec[i].type == T_LINK) {
			res = check_link(x, &x->rec[i], why);
			if (res)
				return res;
		}
	}
	/* Children before parents: a directory's time is final once
	 * nothing more is written into it. */
	for (size_t i = x->n_rec; i--;) {
		const struct record *r = &x->rec[i];
		struct timespec ts[2] = { { 0, UTIME_OMIT }, { r->mtime, 0 } };
		int fd;

		if (r->type != T_DIR)
			continue;
		fd = openat2_beneath(x->root, r->name, O_RDONLY | O_DIRECTORY,
				     RESOLVE_STRICT);
		if (fd < 0)
			return io_error(why, fd, "opening", r->name);
		if (fchmod(fd, (r->mode & 0755) | 0700) || futimens(fd, ts)) {
			res = io_error(why, -errno, "setting the mode of",
				       r->name);
			close(fd);
			return res;
		}
		close(fd);
	}
	if (syncfs(x->root))
		return io_error(why, -errno, "syncing", x->name);
	return SL_ENV_OK;
}
