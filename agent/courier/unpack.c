// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The recipient's side: envelope on a file descriptor -> authenticated
 * payload (stream.c) -> zstd -> pax entries (libarchive's tar reader, no
 * filters) -> staging directory (extract.c) -> inbox.
 *
 * Only bytes whose chunk authenticated reach zstd and libarchive, so only
 * a paired sender (never a relay or a thief) can feed them anything. The
 * decompressor's window is capped (SL_ENV_ZSTD_WINDOW_LOG_MAX) and every
 * byte it produces is counted against the limits as it comes out.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zstd.h>

#include "crypto.h"
#include "extract.h"
#include "internal.h"

void sl_env_limits_default(struct sl_env_limits *lim)
{
	*lim = (struct sl_env_limits){
		.max_envelope_bytes = 1ULL << 30,	/* 1 GiB */
		.max_unpacked_bytes = 4ULL << 30,	/* 4 GiB */
		.max_files = 10000,
		.max_ratio = 1000,
		.ratio_floor = 16ULL << 20,		/* 16 MiB */
		.min_free_bytes = 64ULL << 20,		/* 64 MiB */
	};
}

/* What libarchive reads: decompressed, authenticated payload. */
struct source {
	struct sl_env_reader *r;
	ZSTD_DCtx *z;
	ZSTD_inBuffer in;
	uint8_t *out;
	size_t out_len;
	bool eof;			/* the reader reached the end */
	bool frame_done;		/* zstd is between frames */
	uint64_t compressed, unpacked;
	const struct sl_env_limits *lim;
	struct sl_env_refusal why;	/* why.reason set: the source failed */
};

static la_ssize_t source_fail(struct archive *a, struct source *s,
			      enum sl_env_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static la_ssize_t source_fail(struct archive *a, struct source *s,
			      enum sl_env_reason reason, const char *fmt, ...)
{
	va_list ap;

	if (!s->why.reason) {
		s->why.reason = reason;
		va_start(ap, fmt);
		vsnprintf(s->why.detail, sizeof(s->why.detail), fmt, ap);
		va_end(ap);
	}
	if (a)
		archive_set_error(a, EIO, "%s", s->why.detail);
	return -1;
}

static la_ssize_t source_read(struct archive *a, void *ctx, const void **buf)
{
	struct source *s = ctx;

	if (s->why.reason)
		return source_fail(a, s, s->why.reason, "%s", s->why.detail);
	for (;;) {
		ZSTD_outBuffer out = { s->out, s->out_len, 0 };
		size_t ret, in_pos;

		if (s->in.pos == s->in.size && !s->eof) {
			const uint8_t *p;
			size_t got;
			enum sl_env_reason res = sl_env_reader_next(s->r, &p,
								    &got);

			if (res)
				return source_fail(a, s, res, "%s",
						   sl_env_reader_why(s->r)->detail);
			s->in = (ZSTD_inBuffer){ p, got, 0 };
			s->eof = got == 0;
			s->compressed += got;
		}
		in_pos = s->in.pos;
		ret = ZSTD_decompressStream(s->z, &out, &s->in);
		if (ZSTD_isError(ret))
			return source_fail(a, s, SL_ENV_BAD_ARCHIVE,
					   "zstd: %s", ZSTD_getErrorName(ret));
		/* 0: a frame ended and all of it is out. A call that
		 * moved nothing says nothing about that (after a frame it
		 * announces the next frame's header instead). */
		if (out.pos || s->in.pos != in_pos)
			s->frame_done = ret == 0;
		if (out.pos) {
			s->unpacked += out.pos;
			if (s->unpacked > s->lim->max_unpacked_bytes)
				return source_fail(a, s,
						   SL_ENV_UNPACKED_TOO_BIG,
						   "the archive is over %llu bytes",
						   (unsigned long long)s->lim->max_unpacked_bytes);
			if (s->lim->max_ratio &&
			    s->unpacked > s->lim->ratio_floor &&
			    s->unpacked / s->lim->max_ratio > s->compressed)
				return source_fail(a, s, SL_ENV_BOMB,
						   "%llu compressed bytes unpack to over %llu (more than %u:1)",
						   (unsigned long long)s->compressed,
						   (unsigned long long)s->unpacked,
						   s->lim->max_ratio);
			*buf = s->out;
			return (la_ssize_t)out.pos;
		}
		if (s->eof && s->in.pos == s->in.size) {
			if (!s->frame_done || !s->compressed)
				return source_fail(a, s, SL_ENV_BAD_ARCHIVE,
						   "the compressed stream ends inside a frame");
			return 0;
		}
	}
}

/*
 * After the archive's end: the rest of the payload is read to its last
 * chunk, so that the whole envelope is verified (and counted against the
 * limits) before anything is kept. What it holds is ignored, as tar
 * ignores what follows an archive: how much of it libarchive already read
 * ahead cannot be told, so it cannot be checked consistently either.
 */
static enum sl_env_reason drain(struct source *s, struct sl_env_refusal *why)
{
	const void *buf;
	la_ssize_t n;

	while ((n = source_read(NULL, s, &buf)) > 0)
		;
	if (n < 0) {
		*why = s->why;
		return s->why.reason;
	}
	return SL_ENV_OK;
}

/* libarchive's error, or the source's if the source failed under it. */
static enum sl_env_reason archive_refusal(struct archive *a,
					  const struct source *s,
					  struct sl_env_refusal *why)
{
	if (s->why.reason) {
		*why = s->why;
		return s->why.reason;
	}
	return sl_env_refuse(why, SL_ENV_BAD_ARCHIVE, "%s",
			     archive_error_string(a) ? archive_error_string(a) :
			     "unreadable archive");
}

static bool format_ok(int format)
{
	return format == ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE ||
	       format == ARCHIVE_FORMAT_TAR_PAX_RESTRICTED ||
	       format == ARCHIVE_FORMAT_TAR_USTAR;
}

static enum sl_env_reason unpack_entries(struct archive *a, struct source *s,
					 struct sl_extract *x,
					 struct sl_env_refusal *why)
{
	struct archive_entry *e;
	enum sl_env_reason res;
	int r;

	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		if (!format_ok(archive_format(a)))
			return sl_env_refuse(why, SL_ENV_BAD_ARCHIVE,
					     "an entry in %s format, not pax",
					     archive_format_name(a));
		res = sl_extract_entry(x, a, e, why);
		if (res) {
			/* A read under the entry failed: the stream's
			 * reason explains it better than "bad data". */
			if (s->why.reason) {
				*why = s->why;
				return s->why.reason;
			}
			return res;
		}
	}
	if (r != ARCHIVE_EOF)
		return archive_refusal(a, s, why);
	return drain(s, why);
}

static enum sl_env_reason start_source(struct source *s,
				       struct sl_env_reader *r,
				       const struct sl_env_limits *lim,
				       struct sl_env_refusal *why)
{
	memset(s, 0, sizeof(*s));
	s->r = r;
	s->lim = lim;
	s->z = ZSTD_createDCtx();
	s->out_len = ZSTD_DStreamOutSize();
	s->out = malloc(s->out_len);
	if (!s->z || !s->out)
		return sl_env_refuse(why, SL_ENV_INTERNAL, "out of memory");
	if (ZSTD_isError(ZSTD_DCtx_setParameter(s->z, ZSTD_d_windowLogMax,
						SL_ENV_ZSTD_WINDOW_LOG_MAX)))
		return sl_env_refuse(why, SL_ENV_INTERNAL,
				     "zstd refuses a window limit");
	return SL_ENV_OK;
}

static void end_source(struct source *s)
{
	ZSTD_freeDCtx(s->z);
	if (s->out)
		sl_wipe(s->out, s->out_len);
	free(s->out);
}

enum sl_env_reason sl_env_unpack(int env_fd, int staging_fd,
				 const struct sl_env_receive *rx,
				 struct sl_env_received *out,
				 struct sl_env_refusal *why)
{
	const struct sl_env_opened *h;
	struct sl_env_refusal scratch;
	struct sl_env_reader *r = NULL;
	struct sl_extract *x = NULL;
	struct archive *a = NULL;
	enum sl_env_reason res;
	struct source s;
	bool started = false;

	memset(out, 0, sizeof(*out));
	if (!why)
		why = &scratch;
	memset(why, 0, sizeof(*why));
	res = sl_env_reader_new(&r, env_fd, rx->limits.max_envelope_bytes,
				rx->me, rx->find_peer, rx->ctx, why);
	if (res)
		return res;
	h = sl_env_reader_header(r);
	sl_hex_encode(out->name, h->id, SL_ENV_ID_LEN);
	if (rx->delivered && rx->delivered(rx->ctx, h->id)) {
		res = sl_env_refuse(why, SL_ENV_REPLAY,
				    "envelope %s from %s was delivered before",
				    out->name, h->sender);
		goto out;
	}
	res = start_source(&s, r, &rx->limits, why);
	started = true;
	if (!res)
		res = sl_extract_begin(&x, staging_fd, out->name, &rx->limits,
				       why);
	if (res)
		goto out;
	a = archive_read_new();
	if (!a || archive_read_support_format_tar(a) != ARCHIVE_OK) {
		res = sl_env_refuse(why, SL_ENV_INTERNAL,
				    "libarchive has no tar reader");
		goto out;
	}
	if (archive_read_open(a, &s, NULL, source_read, NULL) != ARCHIVE_OK) {
		res = archive_refusal(a, &s, why);
		goto out;
	}
	res = unpack_entries(a, &s, x, why);
	if (!res)
		res = sl_extract_finish(x, why);
	if (res)
		goto out;

	memcpy(out->id, h->id, SL_ENV_ID_LEN);
	memcpy(out->sender, h->sender, sizeof(out->sender));
	memcpy(out->sender_pub, h->sender_pub, SL_ENV_KEY_LEN);
	memcpy(out->recipient, h->recipient, sizeof(out->recipient));
	out->created = h->created;
	sl_env_reader_totals(r, &out->bytes, &out->chunks, out->sha256);
	sl_extract_counts(x, &out->files, &out->content_bytes);
out:
	if (a)
		archive_read_free(a);
	sl_extract_end(x, res == SL_ENV_OK);
	if (started)
		end_source(&s);
	sl_env_reader_free(r);
	if (res) {
		char name[sizeof(out->name)];

		memcpy(name, out->name, sizeof(name));
		memset(out, 0, sizeof(*out));
		memcpy(out->name, name, sizeof(name));
	}
	return res;
}

enum sl_env_reason sl_env_commit(int staging_fd, int inbox_fd,
				 const struct sl_env_received *r,
				 struct sl_env_refusal *why)
{
	if (renameat2(staging_fd, r->name, inbox_fd, r->name,
		      RENAME_NOREPLACE)) {
		int err = errno;

		if (err == EEXIST || err == ENOTEMPTY) {
			sl_extract_remove_tree(staging_fd, r->name);
			return sl_env_refuse(why, SL_ENV_REPLAY,
					     "the inbox already holds envelope %s",
					     r->name);
		}
		if (err == EXDEV)
			return sl_env_refuse(why, SL_ENV_IO,
					     "the staging directory and the inbox are on different file systems");
		return sl_env_refuse(why, SL_ENV_IO, "moving %s into the inbox: %s",
				     r->name, strerror(err));
	}
	if (fsync(inbox_fd) || fsync(staging_fd))
		return sl_env_refuse(why, SL_ENV_IO, "syncing the inbox: %s",
				     strerror(errno));
	return SL_ENV_OK;
}

int sl_env_discard(int staging_fd, const char *name)
{
	return sl_extract_remove_tree(staging_fd, name);
}
