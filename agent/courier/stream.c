// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * An envelope as a byte stream on a file descriptor: the writer seals
 * payload bytes a chunk at a time, the reader releases payload bytes only
 * after their chunk authenticated, and its end only after the last chunk
 * did and nothing followed it. Each holds one chunk (64 KiB) of plaintext
 * and one of ciphertext, whatever the envelope's size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>

#include "crypto.h"
#include "internal.h"

struct sl_env_writer {
	int fd;
	int err;			/* sticky */
	uint8_t *key;			/* secure memory */
	uint64_t index;			/* of the chunk being filled */
	uint64_t bytes;			/* written so far */
	size_t fill;
	gcry_md_hd_t md;		/* SHA-256 of all bytes written */
	uint8_t plain[SL_ENV_CHUNK_LEN];
	uint8_t wire[SL_ENV_CHUNK_WIRE_LEN];
};

struct sl_env_reader {
	int fd;
	uint64_t max_bytes;
	struct sl_env_opened hdr;
	struct sl_env_refusal why;	/* sticky once why.reason is set */
	uint64_t index;			/* of the next chunk to read */
	uint64_t bytes;			/* read so far */
	bool done;			/* last chunk verified, nothing after */
	size_t pos, len;		/* unread plaintext: plain[pos..len) */
	gcry_md_hd_t md;
	uint8_t plain[SL_ENV_CHUNK_LEN];
	uint8_t wire[SL_ENV_CHUNK_WIRE_LEN];
};

static int emit(struct sl_env_writer *w, const uint8_t *p, size_t len)
{
	int err = sl_write_all(w->fd, p, len);

	if (!err) {
		gcry_md_write(w->md, p, len);
		w->bytes += len;
	}
	return err;
}

int sl_env_writer_new(struct sl_env_writer **wp, int fd,
		      const struct sl_env_self *me,
		      const struct sl_env_peer *to,
		      const struct sl_env_header_in *in)
{
	uint8_t header[SL_ENV_HEADER_LEN];
	struct sl_env_writer *w;
	int err;

	*wp = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	if (gcry_md_open(&w->md, GCRY_MD_SHA256, 0)) {
		free(w);
		return -EIO;
	}
	err = sl_env_header_seal(header, &w->key, me, to, in);
	if (!err)
		err = emit(w, header, sizeof(header));
	if (err) {
		sl_env_writer_free(w);
		return err;
	}
	*wp = w;
	return 0;
}

static int flush_chunk(struct sl_env_writer *w, bool last)
{
	int err = sl_env_chunk_seal(w->wire, w->key, w->index, last, w->plain,
				    w->fill);

	if (!err)
		err = emit(w, w->wire, w->fill + SL_ENV_TAG_LEN);
	if (err)
		return err;
	w->index++;
	w->fill = 0;
	return 0;
}

int sl_env_writer_write(struct sl_env_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (w->err)
		return w->err;
	while (len) {
		size_t n;

		/* A full chunk goes out only once more bytes follow it:
		 * until then it may be the last one. */
		if (w->fill == SL_ENV_CHUNK_LEN) {
			w->err = flush_chunk(w, false);
			if (w->err)
				return w->err;
		}
		n = SL_ENV_CHUNK_LEN - w->fill;
		if (n > len)
			n = len;
		memcpy(w->plain + w->fill, p, n);
		w->fill += n;
		p += n;
		len -= n;
	}
	return 0;
}

int sl_env_writer_finish(struct sl_env_writer *w, uint64_t *bytes,
			 uint64_t *chunks, uint8_t sha256[SL_ENV_HASH_LEN])
{
	if (w->err)
		return w->err;
	w->err = flush_chunk(w, true);
	if (w->err)
		return w->err;
	w->err = -EALREADY;		/* nothing more may be written */
	*bytes = w->bytes;
	*chunks = w->index;
	memcpy(sha256, gcry_md_read(w->md, GCRY_MD_SHA256), SL_ENV_HASH_LEN);
	return 0;
}

void sl_env_writer_free(struct sl_env_writer *w)
{
	if (!w)
		return;
	sl_secure_free(w->key, SL_ENV_KEY_LEN);
	gcry_md_close(w->md);
	sl_wipe(w, sizeof(*w));
	free(w);
}

/* ---- Reader ---------------------------------------------------------- */

static enum sl_env_reason fail(struct sl_env_reader *r,
			       enum sl_env_reason reason, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum sl_env_reason fail(struct sl_env_reader *r,
			       enum sl_env_reason reason, const char *fmt, ...)
{
	va_list ap;

	r->why.reason = reason;
	va_start(ap, fmt);
	vsnprintf(r->why.detail, sizeof(r->why.detail), fmt, ap);
	va_end(ap);
	sl_wipe(r->plain, sizeof(r->plain));
	r->pos = r->len = 0;
	return reason;
}

/* Reads up to len bytes, counting them against the size limit. */
static enum sl_env_reason take(struct sl_env_reader *r, uint8_t *buf,
			       size_t len, size_t *got)
{
	ssize_t n = sl_read_full(r->fd, buf, len);

	*got = 0;
	if (n < 0)
		return fail(r, SL_ENV_IO, "reading the envelope: %s",
			    strerror((int)-n));
	r->bytes += (uint64_t)n;
	if (r->max_bytes && r->bytes > r->max_bytes)
		return fail(r, SL_ENV_TOO_BIG,
			    "over %llu bytes (the recipient's limit)",
			    (unsigned long long)r->max_bytes);
	gcry_md_write(r->md, buf, (size_t)n);
	*got = (size_t)n;
	return SL_ENV_OK;
}

enum sl_env_reason sl_env_reader_new(struct sl_env_reader **rp, int fd,
				     uint64_t max_bytes,
				     const struct sl_env_self *me,
				     sl_env_find_peer_fn find_peer, void *ctx,
				     struct sl_env_refusal *why)
{
	uint8_t header[SL_ENV_HEADER_LEN];
	struct sl_env_reader *r;
	enum sl_env_reason res;
	size_t n;

	*rp = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return sl_env_refuse(why, SL_ENV_INTERNAL, "out of memory");
	r->fd = fd;
	r->max_bytes = max_bytes;
	if (gcry_md_open(&r->md, GCRY_MD_SHA256, 0)) {
		free(r);
		return sl_env_refuse(why, SL_ENV_INTERNAL,
				     "libgcrypt: no SHA-256");
	}
	res = take(r, header, sizeof(header), &n);
	if (!res && n == 0)
		res = fail(r, SL_ENV_TRUNCATED, "the envelope is empty");
	if (!res)
		res = sl_env_header_open(&r->hdr, header, n, me, find_peer,
					 ctx, &r->why);
	if (res) {
		r->why.reason = res;
		if (why)
			*why = r->why;
		sl_env_reader_free(r);
		return res;
	}
	*rp = r;
	return SL_ENV_OK;
}

const struct sl_env_opened *sl_env_reader_header(const struct sl_env_reader *r)
{
	return &r->hdr;
}

const struct sl_env_refusal *sl_env_reader_why(const struct sl_env_reader *r)
{
	return &r->why;
}

/* Reads, authenticates and decrypts the next chunk into plain. */
static enum sl_env_reason next_chunk(struct sl_env_reader *r)
{
	enum sl_env_reason res;
	uint8_t extra;
	size_t n;
	bool last;
	int err;

	res = take(r, r->wire, sizeof(r->wire), &n);
	if (res)
		return res;
	if (n == 0 && !r->index)
		return fail(r, SL_ENV_TRUNCATED,
			    "the envelope ends after its header");
	if (n == 0)
		return fail(r, SL_ENV_TRUNCATED,
			    "the envelope ends after chunk %llu, before its last chunk",
			    (unsigned long long)(r->index - 1));
	err = sl_env_chunk_open(r->plain, r->hdr.key, r->index, r->wire, n,
				&last);
	if (err == -EBADMSG || err == -EINVAL) {
		if (n == sizeof(r->wire))
			return fail(r, SL_ENV_DAMAGED,
				    "chunk %llu fails authentication",
				    (unsigned long long)r->index);
		/* Short: a last chunk that was changed, or a middle one
		 * cut short. Neither can be told from the other. */
		return fail(r, SL_ENV_DAMAGED,
			    "chunk %llu (%zu bytes, so the last) fails authentication: changed, or the envelope was cut short",
			    (unsigned long long)r->index, n);
	}
	if (err)
		return fail(r, SL_ENV_INTERNAL, "opening chunk %llu: %s",
			    (unsigned long long)r->index, strerror(-err));
	r->pos = 0;
	r->len = n - SL_ENV_TAG_LEN;
	r->index++;
	if (last) {
		res = take(r, &extra, 1, &n);
		if (res)
			return res;
		if (n)
			return fail(r, SL_ENV_TRAILING,
				    "bytes follow the last chunk (%llu)",
				    (unsigned long long)(r->index - 1));
		r->done = true;
	}
	return SL_ENV_OK;
}

enum sl_env_reason sl_env_reader_next(struct sl_env_reader *r,
				      const uint8_t **ptr, size_t *got)
{
	enum sl_env_reason res;

	*got = 0;
	*ptr = NULL;
	if (r->why.reason)
		return r->why.reason;
	while (r->pos == r->len) {
		if (r->done)
			return SL_ENV_OK;
		res = next_chunk(r);
		if (res)
			return res;
	}
	*ptr = r->plain + r->pos;
	*got = r->len - r->pos;
	r->pos = r->len;
	return SL_ENV_OK;
}

enum sl_env_reason sl_env_reader_read(struct sl_env_reader *r, void *buf,
				      size_t len, size_t *got)
{
	enum sl_env_reason res;
	size_t n;

	*got = 0;
	if (r->why.reason)
		return r->why.reason;
	while (r->pos == r->len) {
		if (r->done || !len)
			return SL_ENV_OK;
		res = next_chunk(r);
		if (res)
			return res;
	}
	n = r->len - r->pos;
	if (n > len)
		n = len;
	memcpy(buf, r->plain + r->pos, n);
	r->pos += n;
	*got = n;
	return SL_ENV_OK;
}

void sl_env_reader_totals(const struct sl_env_reader *r, uint64_t *bytes,
			  uint64_t *chunks, uint8_t sha256[SL_ENV_HASH_LEN])
{
	*bytes = r->bytes;
	*chunks = r->index;
	memcpy(sha256, gcry_md_read(r->md, GCRY_MD_SHA256), SL_ENV_HASH_LEN);
}

void sl_env_reader_free(struct sl_env_reader *r)
{
	if (!r)
		return;
	sl_env_opened_wipe(&r->hdr);
	gcry_md_close(r->md);
	sl_wipe(r, sizeof(*r));
	free(r);
}
