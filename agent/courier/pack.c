// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The sender's side: files and directories -> pax archive (libarchive)
 * -> zstd stream (libzstd) -> a sink: sealed chunks (stream.c) -> out_fd
 * in sl_env_seal(), or whatever the caller takes the payload to
 * (sl_env_pack(): sealctl packs as the user and hands the payload to
 * sealined, which seals it).
 *
 * Everything flows through in pieces: a file is read 64 KiB at a time,
 * libarchive hands its blocks to zstd as it writes them, zstd's output
 * goes to the chunk writer, which holds one chunk. The archive holds only
 * what envelope.h promises (name, type, permission bits, size, mtime,
 * link target), and names as raw bytes (pax "hdrcharset=BINARY"), so a
 * name arrives as it was whatever the locales of the two ends.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <gcrypt.h>
#include <zstd.h>

#include "crypto.h"
#include "internal.h"
#include "paths.h"

#define READ_BLOCK	65536

struct packer {
	struct archive *a;
	const struct sl_env_pack_out *out;
	ZSTD_CCtx *z;
	uint8_t *zout;
	size_t zout_len;
	int err;			/* first failure inside a callback */
	char *why;
	size_t why_len;
	uint64_t files, content_bytes;
	char **tops;			/* top-level names, for duplicates */
	size_t n_tops;
	uint8_t buf[READ_BLOCK];
	char path[SL_ENV_PATH_MAX + SL_ENV_NAME_MAX + 2];
};

/* zstd's output for one step, into the sealed stream. */
static int compress(struct packer *p, const void *buf, size_t len,
		    ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	size_t left;

	do {
		ZSTD_outBuffer out = { p->zout, p->zout_len, 0 };
		int err;

		left = ZSTD_compressStream2(p->z, &out, &in, mode);
		if (ZSTD_isError(left))
			return sl_errf(p->why, p->why_len, -EIO, "zstd: %s",
					  ZSTD_getErrorName(left));
		err = p->out->write(p->out->ctx, p->zout, out.pos);
		if (err)
			return sl_errf(p->why, p->why_len, err,
					  "writing the envelope: %s",
					  strerror(-err));
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
	return 0;
}

static la_ssize_t archive_out(struct archive *a, void *ctx, const void *buf,
			      size_t len)
{
	struct packer *p = ctx;

	p->err = compress(p, buf, len, ZSTD_e_continue);
	if (p->err) {
		archive_set_error(a, -p->err, "%s", p->why ? p->why : "");
		return -1;
	}
	return (la_ssize_t)len;
}

static int archive_failed(struct packer *p, const char *what)
{
	char esc[128];

	if (p->err)		/* our callback's error, already explained */
		return p->err;
	sl_env_escape(esc, sizeof(esc), p->path);
	return sl_errf(p->why, p->why_len, -EIO, "%s \"%s\": %s", what, esc,
			  archive_error_string(p->a));
}

/* The entry for p->path of type and permission bits from st. */
static int put_header(struct packer *p, const struct stat *st,
		      unsigned int type, int64_t size, const char *target)
{
	struct archive_entry *e = archive_entry_new();
	int r;

	if (!e)
		return sl_errf(p->why, p->why_len, -ENOMEM, "out of memory");
	archive_entry_copy_pathname(e, p->path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, st->st_mode & 0777);
	archive_entry_set_size(e, size);
	archive_entry_set_mtime(e, st->st_mtim.tv_sec, 0);
	if (target)
		archive_entry_copy_symlink(e, target);
	r = archive_write_header(p->a, e);
	archive_entry_free(e);
	if (r != ARCHIVE_OK)
		return archive_failed(p, "archiving");
	p->files++;
	if (p->out->entry) {
		struct sl_env_entry ent = {
			.name = p->path,
			.type = type == AE_IFREG ? SL_ENV_ENTRY_FILE :
				type == AE_IFDIR ? SL_ENV_ENTRY_DIR :
				SL_ENV_ENTRY_LINK,
			.mode = (uint32_t)(st->st_mode & 0777),
			.size = type == AE_IFREG ? (uint64_t)size : 0,
			.mtime = st->st_mtim.tv_sec,
			.target = target,
		};

		return p->out->entry(p->out->ctx, &ent);
	}
	return 0;
}

/* "<before>\"<p->path>\"<after>", with strerror(-err) after it if errno. */
static int say_path(struct packer *p, int err, const char *before,
		    const char *after, bool errno_text)
{
	char esc[256];

	sl_env_escape(esc, sizeof(esc), p->path);
	return sl_errf(p->why, p->why_len, err, "%s\"%s\"%s%s%s", before,
			  esc, after, errno_text ? ": " : "",
			  errno_text ? strerror(-err) : "");
}

/* A regular file open on fd, copied into the archive as it is read. */
static int put_file(struct packer *p, int fd)
{
	struct stat st;
	uint64_t left;
	int err;

	if (fstat(fd, &st))
		return say_path(p, -errno, "", "", true);
	if (!S_ISREG(st.st_mode))
		return say_path(p, -EINVAL, "", ": no longer a regular file", false);
	err = put_header(p, &st, AE_IFREG, st.st_size, NULL);
	if (err)
		return err;
	for (left = (uint64_t)st.st_size; left;) {
		size_t want = left < READ_BLOCK ? (size_t)left : READ_BLOCK;
		ssize_t n = read(fd, p->buf, want);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return say_path(p, -errno, "reading ", "", true);
		if (n == 0)
			return say_path(p, -EAGAIN, "",
					" shrank while it was read: send it again once it stays the same",
					false);
		if (archive_write_data(p->a, p->buf, (size_t)n) != n)
			return archive_failed(p, "archiving");
		left -= (uint64_t)n;
	}
	if (read(fd, p->buf, 1) > 0)
		return say_path(p, -EAGAIN, "",
				" grew while it was read: send it again once it stays the same",
				false);
	sl_wipe(p->buf, sizeof(p->buf));
	p->content_bytes += (uint64_t)st.st_size;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The names in directory fd, sorted, so that an envelope does not depend
 * on the order the file system lists them in. */
static int list_dir(struct packer *p, int fd, char ***out, size_t *n_out)
{
	size_t n = 0, cap = 0;
	char **names = NULL;
	struct dirent *d;
	int dfd = dup(fd);
	DIR *dir;

	if (dfd < 0 || !(dir = fdopendir(dfd))) {
		int err = -errno;

		if (dfd >= 0)
			close(dfd);
		return say_path(p, err, "listing ", "", true);
	}
	while ((errno = 0, d = readdir(dir))) {
		char **bigger;

		if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			bigger = realloc(names, cap * sizeof(*names));
			if (!bigger)
				goto nomem;
			names = bigger;
		}
		names[n] = strdup(d->d_name);
		if (!names[n])
			goto nomem;
		n++;
	}
	if (errno) {
		int err = -errno;

		closedir(dir);
		free_names(names, n);
		return say_path(p, err, "listing ", "", true);
	}
	closedir(dir);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	*n_out = n;
	return 0;
nomem:
	closedir(dir);
	free_names(names, n);
	return sl_errf(p->why, p->why_len, -ENOMEM, "out of memory");
}

static int put_dir(struct packer *p, int fd, const struct stat *st);

/* Entry `name` of directory fd, p->path already naming it. */
static int put_child(struct packer *p, int fd, const char *name)
{
	char target[SL_ENV_PATH_MAX + 1];
	struct stat st;
	ssize_t n;
	int cfd, err;

	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW))
		return say_path(p, -errno, "", "", true);
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		cfd = openat(fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
			     (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
		if (cfd < 0)
			return say_path(p, -errno, "opening ", "", true);
		if (S_ISREG(st.st_mode)) {
			err = put_file(p, cfd);
		} else {
			err = fstat(cfd, &st) ? say_path(p, -errno, "", "", true) :
			      put_dir(p, cfd, &st);
		}
		close(cfd);
		return err;
	}
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(fd, name, target, sizeof(target));
		if (n < 0)
			return say_path(p, -errno, "reading link ", "", true);
		if ((size_t)n >= sizeof(target))
			return say_path(p, -ENAMETOOLONG, "link ", "", true);
		target[n] = 0;
		if (!sl_env_link_inside(p->path, strlen(p->path), target))
			return say_path(p, -EXDEV, "",
					" is a symbolic link to a place outside what is sent (the recipient would refuse it): send its target instead",
					false);
		return put_header(p, &st, AE_IFLNK, 0, target);
	}
	return say_path(p, -EINVAL, "",
			" is a device, FIFO or socket: only files, directories and symbolic links can be sent",
			false);
}

static int put_dir(struct packer *p, int fd, const struct stat *st)
{
	size_t len = strlen(p->path), n = 0, i;
	char **names = NULL;
	int err;

	err = put_header(p, st, AE_IFDIR, 0, NULL);
	if (!err)
		err = list_dir(p, fd, &names, &n);
	if (err)
		return err;
	for (i = 0; i < n && !err; i++) {
		struct sl_env_refusal why;

		if (len + 1 + strlen(names[i]) > SL_ENV_PATH_MAX) {
			err = say_path(p, -ENAMETOOLONG, "",
				       ": a name inside is longer than an envelope allows",
				       false);
			break;
		}
		p->path[len] = '/';
		strcpy(p->path + len + 1, names[i]);
		if (sl_env_check_name(p->path, NULL, NULL, &why)) {
			err = sl_errf(p->why, p->why_len, -EINVAL, "%s",
					 why.detail);
			break;
		}
		err = put_child(p, fd, names[i]);
		p->path[len] = 0;
	}
	free_names(names, n);
	return err;
}

/* One path the operator named: its last component becomes the top-level
 * name; a symbolic link there is followed. */
static int put_top(struct packer *p, const char *path)
{
	char *copy = strdup(path), *base, *real = NULL;
	struct sl_env_refusal why;
	struct stat st;
	int fd = -1, err;

	if (!copy)
		return sl_errf(p->why, p->why_len, -ENOMEM, "out of memory");
	base = basename(copy);
	if (!strcmp(base, ".") || !strcmp(base, "..")) {
		real = realpath(path, NULL);
		base = real ? basename(real) : base;
	}
	if (!strcmp(base, "/") || !strcmp(base, ".") || !strcmp(base, "..")) {
		err = sl_errf(p->why, p->why_len, -EINVAL,
				 "\"%s\": name a directory below /", path);
		goto out;
	}
	snprintf(p->path, sizeof(p->path), "%s", base);
	if (sl_env_check_name(p->path, NULL, NULL, &why)) {
		err = sl_errf(p->why, p->why_len, -EINVAL, "%s",
				 why.detail);
		goto out;
	}
	for (size_t i = 0; i < p->n_tops; i++) {
		if (!strcmp(p->tops[i], p->path)) {
			err = say_path(p, -EEXIST,
				       "two of the paths are named ",
				       ": the recipient would refuse the second",
				       false);
			goto out;
		}
	}
	p->tops[p->n_tops] = strdup(p->path);
	if (!p->tops[p->n_tops]) {
		err = sl_errf(p->why, p->why_len, -ENOMEM, "out of memory");
		goto out;
	}
	p->n_tops++;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = sl_errf(p->why, p->why_len, -errno, "\"%s\": %s",
				 path, strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode))
		err = put_file(p, fd);
	else if (S_ISDIR(st.st_mode))
		err = put_dir(p, fd, &st);
	else
		err = sl_errf(p->why, p->why_len, -EINVAL,
				 "\"%s\" is a device, FIFO or socket: only files, directories and symbolic links can be sent",
				 path);
out:
	if (fd >= 0)
		close(fd);
	free(real);
	free(copy);
	return err;
}

/*
 * Levels up to SL_ENV_ZSTD_LEVEL_MAX (19) use windows of at most 2^23
 * bytes (zstd's level table), which the recipient's decoder accepts; a
 * test compresses at level 19 and opens the result.
 */
static int start_zstd(struct packer *p, int level)
{
	p->z = ZSTD_createCCtx();
	p->zout_len = ZSTD_CStreamOutSize();
	p->zout = malloc(p->zout_len);
	if (!p->z || !p->zout)
		return sl_errf(p->why, p->why_len, -ENOMEM, "out of memory");
	if (ZSTD_isError(ZSTD_CCtx_setParameter(p->z, ZSTD_c_compressionLevel,
						level)))
		return sl_errf(p->why, p->why_len, -EIO,
				  "zstd refuses level %d", level);
	return 0;
}

static int start_archive(struct packer *p)
{
	p->a = archive_write_new();
	if (!p->a)
		return sl_errf(p->why, p->why_len, -ENOMEM, "out of memory");
	/* pax, raw names, no padding to a tape block at the end. */
	if (archive_write_set_format_pax_restricted(p->a) != ARCHIVE_OK ||
	    archive_write_set_format_option(p->a, "pax", "hdrcharset",
					    "BINARY") != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(p->a, 1) != ARCHIVE_OK ||
	    archive_write_open(p->a, p, NULL, archive_out, NULL) != ARCHIVE_OK)
		return archive_failed(p, "starting the archive");
	return 0;
}

int sl_env_pack(const char *const *paths, size_t n_paths, int level,
		const struct sl_env_pack_out *out, uint64_t *files,
		uint64_t *content_bytes, char *why, size_t why_len)
{
	struct packer *p;
	int err;

	if (!level)
		level = SL_ENV_ZSTD_LEVEL_DEFAULT;
	if (level < 1 || level > SL_ENV_ZSTD_LEVEL_MAX)
		return sl_errf(why, why_len, -EINVAL,
				  "compression level %d: choose 1 to %d",
				  level, SL_ENV_ZSTD_LEVEL_MAX);
	if (!n_paths)
		return sl_errf(why, why_len, -EINVAL, "nothing to send");
	p = calloc(1, sizeof(*p));
	if (!p || !(p->tops = calloc(n_paths, sizeof(*p->tops)))) {
		free(p);
		return sl_errf(why, why_len, -ENOMEM, "out of memory");
	}
	p->why = why;
	p->why_len = why_len;
	p->out = out;

	err = start_zstd(p, level);
	if (!err)
		err = start_archive(p);
	for (size_t i = 0; !err && i < n_paths; i++)
		err = put_top(p, paths[i]);
	if (!err && archive_write_close(p->a) != ARCHIVE_OK)
		err = archive_failed(p, "closing the archive after");
	if (!err)
		err = compress(p, NULL, 0, ZSTD_e_end);
	if (!err) {
		if (files)
			*files = p->files;
		if (content_bytes)
			*content_bytes = p->content_bytes;
	}

	if (p->a)
		archive_write_free(p->a);
	ZSTD_freeCCtx(p->z);
	if (p->zout)
		sl_wipe(p->zout, p->zout_len);
	free(p->zout);
	free_names(p->tops, p->n_tops);
	sl_wipe(p, sizeof(*p));
	free(p);
	return err;
}

static int to_writer(void *ctx, const void *buf, size_t len)
{
	return sl_env_writer_write(ctx, buf, len);
}

int sl_env_seal(int out_fd, const struct sl_env_self *me,
		const struct sl_env_peer *to, const char *const *paths,
		size_t n_paths, const struct sl_env_seal_opts *opts,
		struct sl_env_sealed *out, char *why, size_t why_len)
{
	struct sl_env_seal_opts none = { 0 };
	struct sl_env_header_in hin = { 0 };
	struct sl_env_writer *w = NULL;
	struct sl_env_pack_out sink = { .write = to_writer };
	int err, level;

	memset(out, 0, sizeof(*out));
	if (!opts)
		opts = &none;
	level = opts->level ? opts->level : SL_ENV_ZSTD_LEVEL_DEFAULT;
	if (level < 1 || level > SL_ENV_ZSTD_LEVEL_MAX)
		return sl_errf(why, why_len, -EINVAL,
				  "compression level %d: choose 1 to %d",
				  level, SL_ENV_ZSTD_LEVEL_MAX);
	if (!n_paths)
		return sl_errf(why, why_len, -EINVAL, "nothing to send");

	if (opts->id)
		memcpy(hin.id, opts->id, SL_ENV_ID_LEN);
	else
		gcry_randomize(hin.id, SL_ENV_ID_LEN, GCRY_STRONG_RANDOM);
	hin.created = opts->created ? opts->created : (int64_t)time(NULL);
	hin.ephemeral = opts->ephemeral;

	err = sl_env_writer_new(&w, out_fd, me, to, &hin);
	if (err)
		return sl_errf(why, why_len, err, "starting the envelope: %s",
			       strerror(-err));
	sink.ctx = w;
	err = sl_env_pack(paths, n_paths, level, &sink, &out->files,
			  &out->content_bytes, why, why_len);
	if (!err) {
		err = sl_env_writer_finish(w, &out->bytes, &out->chunks,
					   out->sha256);
		if (err)
			sl_errf(why, why_len, err,
				   "writing the envelope: %s", strerror(-err));
	}
	if (!err) {
		memcpy(out->id, hin.id, SL_ENV_ID_LEN);
		out->created = hin.created;
	} else {
		out->files = out->content_bytes = 0;
	}
	sl_env_writer_free(w);
	return err;
}
