// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The TSP's spool (tspspool.h; Documentation/store-and-forward.rst, "The
 * spool"): the durable steps of each transition in their order, and the
 * recovery that makes a crash between any two of them harmless.
 *
 * The order rests on two rules. A file is durable before a row says it
 * holds an envelope (receive_done syncs, then commits held), and a row
 * says an envelope is gone before its file goes (delivered, bounce and
 * expire commit, then unlink). So at every instant an open row that
 * passed receive_done has its whole file, and a file whose row is closed
 * or missing is garbage that recovery removes.
 *
 * Why here and not in proto/: proto/ holds engines without I/O; the
 * spool is the TSP's I/O in a fixed order. Its transitions are the
 * table below (spool_next), checked before each step.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <gcrypt.h>

#include "fdio.h"
#include "tspspool.h"
#include "xfer.h"		/* sl_xfer_bucket(): no code of it */

#define SID_HEX_LEN	16
#define CHUNK_WIRE	(SL_TSP_SPOOL_CHUNK_LEN + SL_TSP_SPOOL_TAG_LEN)
#define MS_PER_MINUTE	60000LL
#define READ_BUF	65536

void sl_tsp_spool_limits_default(struct sl_tsp_spool_limits *l)
{
	*l = (struct sl_tsp_spool_limits){
		.max_envelope = SL_CONF_TSP_MAX_ENVELOPE,
		.quota_bytes = SL_CONF_TSP_QUOTA_BYTES,
		.quota_envelopes = SL_CONF_TSP_QUOTA_ENVELOPES,
		.min_free = SL_CONF_TSP_MIN_FREE,
		.max_hold_ms = SL_TSP_SPOOL_MAX_HOLD_MS,
		.max_attempts = SL_CONF_TSP_MAX_ATTEMPTS,
		.receive_timeout_ms = SL_CONF_TSP_RECEIVE_TIMEOUT * 1000LL,
		.retry_ms = SL_TSP_SPOOL_RETRY_MS,
		.retry_max_ms = SL_TSP_SPOOL_RETRY_MAX_MS,
		/* No batches: sealtspd sets [tsp] batch_interval's. */
		.batch_ms = 0,
	};
}

int64_t sl_tsp_spool_tick_up(const struct sl_tsp_spool *sp, int64_t ms)
{
	int64_t b = sp->lim.batch_ms;

	if (b <= 0 || ms <= 0)
		return ms;
	return (ms + b - 1) / b * b;
}

int64_t sl_tsp_spool_tick(const struct sl_tsp_spool *sp, int64_t ms)
{
	int64_t b = sp->lim.batch_ms;

	if (b <= 0 || ms <= 0)
		return ms;
	return ms / b * b;
}

/* ------------------------------------------------------------ rules */

/* The transitions of store-and-forward.rst, "States". */
static bool spool_next(enum sl_tsp_spool_state from, enum sl_tsp_spool_state to)
{
	switch (from) {
	case SL_TSP_SPOOL_RECEIVING:
		return to == SL_TSP_SPOOL_HELD || to == SL_TSP_SPOOL_ABANDONED;
	case SL_TSP_SPOOL_HELD:
		return to == SL_TSP_SPOOL_DELIVERING || to == SL_TSP_SPOOL_EXPIRED;
	case SL_TSP_SPOOL_DELIVERING:
		return to == SL_TSP_SPOOL_HELD || to == SL_TSP_SPOOL_DELIVERED ||
		       to == SL_TSP_SPOOL_BOUNCED || to == SL_TSP_SPOOL_EXPIRED;
	default:
		return false;	/* closed rows only get collected */
	}
}

bool sl_tsp_spool_size_valid(uint64_t size)
{
	uint64_t rest, chunks, payload;

	if (size < SL_TSP_SPOOL_HEADER_LEN + SL_TSP_SPOOL_TAG_LEN)
		return false;
	rest = size - SL_TSP_SPOOL_HEADER_LEN;
	chunks = (rest + CHUNK_WIRE - 1) / CHUNK_WIRE;
	payload = rest - SL_TSP_SPOOL_TAG_LEN * chunks;
	if (chunks == 1)
		return true;	/* 0 to 65,536 payload bytes */
	return payload > (chunks - 1) * SL_TSP_SPOOL_CHUNK_LEN;
}

bool sl_tsp_spool_in_window(int window, int64_t now_ms)
{
	int start, end, minute;

	if (window == SL_TSP_WINDOW_NONE)
		return true;
	start = window / SL_TSP_MINUTES_PER_DAY;
	end = window % SL_TSP_MINUTES_PER_DAY;
	minute = (int)((now_ms / MS_PER_MINUTE) % SL_TSP_MINUTES_PER_DAY);
	if (start < end)
		return minute >= start && minute < end;
	return minute >= start || minute < end;	/* across midnight */
}

/* ------------------------------------------------------------ helpers */

/* Test hook (tspspool.h): called after every durable step. */
static sl_tsp_spool_crash_fn crash_fn;
static void *crash_arg;

void sl_tsp_spool_set_crash_hook(sl_tsp_spool_crash_fn fn, void *arg)
{
	crash_fn = fn;
	crash_arg = arg;
}

static void crash_point(struct sl_tsp_spool *sp, enum sl_tsp_spool_point p)
{
	(void)sp;
	if (crash_fn)
		crash_fn(crash_arg, p);
}

static void sid_name(char out[SID_HEX_LEN + 1], uint64_t sid)
{
	snprintf(out, SID_HEX_LEN + 1, "%016" PRIx64, sid);
}

static int sync_dir(struct sl_tsp_spool *sp)
{
	return fsync(sp->dirfd) ? -errno : 0;
}

/* Step a row from its state to r->state (one transaction). */
static int step(struct sl_tsp_spool *sp, enum sl_tsp_spool_state from,
		const struct sl_tsp_spool_row *r, enum sl_tsp_spool_point p)
{
	int ret;

	if (from != r->state && !spool_next(from, r->state))
		return sl_tsp_fail(sp->st, -EINVAL, "a spool row cannot go from %s to %s",
				   sl_tsp_spool_state_name(from),
				   sl_tsp_spool_state_name(r->state));
	ret = sl_tsp_spool_update(sp->st, from, r);
	if (ret)
		return ret;
	crash_point(sp, p);
	return 0;
}

/* The file of a closed row goes, and the directory says so. */
static int remove_file(struct sl_tsp_spool *sp, uint64_t sid)
{
	char name[SID_HEX_LEN + 1];
	int ret;

	sid_name(name, sid);
	if (unlinkat(sp->dirfd, name, 0) && errno != ENOENT)
		return -errno;
	ret = sync_dir(sp);
	if (!ret)
		crash_point(sp, SL_TSP_SPOOL_AFTER_UNLINK);
	return ret;
}

static int get_own(struct sl_tsp_spool *sp, uint64_t sid,
		   struct sl_tsp_spool_row *r)
{
	int ret = sl_tsp_spool_get(sp->st, sid, r);

	if (ret)
		return ret;
	if (strcmp(r->instance, sp->st->instance))
		return sl_tsp_fail(sp->st, -EXDEV, "envelope %016" PRIx64 " is held by TSP instance %s",
				   sid, r->instance);
	return 0;
}

/* Close an open row with outcome and reason, then remove its file. */
static int close_row(struct sl_tsp_spool *sp, struct sl_tsp_spool_row *r,
		     enum sl_tsp_spool_state outcome, const char *reason,
		     int64_t now_ms)
{
	enum sl_tsp_spool_state from = r->state;
	int ret;

	r->state = outcome;
	snprintf(r->reason, sizeof(r->reason), "%s", reason ? reason : "");
	r->done_ms = now_ms;
	ret = step(sp, from, r, SL_TSP_SPOOL_AFTER_CLOSE);
	if (ret)
		return ret;
	return remove_file(sp, r->sid);
}

/*
 * Spool ids collected from a list first and worked on after it: a list's
 * callback must not write to the store (SQLite's statement is still
 * open; PostgreSQL reads in pages).
 */
struct sid_list {
	struct sl_tsp_spool *sp;
	int64_t now_ms;
	bool (*want)(const struct sl_tsp_spool_row *r, struct sid_list *l);
	size_t n, cap;
	uint64_t *sids;
};

static int collect_sid(const struct sl_tsp_spool_row *r, void *arg)
{
	struct sid_list *l = arg;

	if (strcmp(r->instance, l->sp->st->instance) || !l->want(r, l))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		uint64_t *s = realloc(l->sids, cap * sizeof(*s));

		if (!s)
			return -ENOMEM;
		l->sids = s;
		l->cap = cap;
	}
	l->sids[l->n++] = r->sid;
	return 0;
}

/* ------------------------------------------------------------ recovery */

struct recover_ctx {
	struct sl_tsp_spool *sp;
	struct sl_tsp_spool_recovery *rec;
	int64_t now_ms;
};

static bool file_exists(struct sl_tsp_spool *sp, uint64_t sid)
{
	char name[SID_HEX_LEN + 1];
	struct stat s;

	sid_name(name, sid);
	return !fstatat(sp->dirfd, name, &s, AT_SYMLINK_NOFOLLOW) &&
	       S_ISREG(s.st_mode);
}

static int create_file(struct sl_tsp_spool *sp, uint64_t sid)
{
	char name[SID_HEX_LEN + 1];
	int fd;

	sid_name(name, sid);
	fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return sync_dir(sp);
}

/* The open rows of this instance, after a crash. */
static int recover_row(struct recover_ctx *c, uint64_t sid)
{
	struct sl_tsp_spool *sp = c->sp;
	struct sl_tsp_spool_row r;
	int ret = get_own(sp, sid, &r);

	if (ret)
		return ret;
	if (!file_exists(sp, r.sid)) {
		if (r.state != SL_TSP_SPOOL_RECEIVING) {
			c->rec->lost++;
			return 0;
		}
		ret = create_file(sp, r.sid);
		if (!ret)
			c->rec->created++;
	} else if (r.state == SL_TSP_SPOOL_DELIVERING) {
		/* The attempt died with the TSP: it counts, and the
		 * envelope is due again at once. */
		r.state = SL_TSP_SPOOL_HELD;
		r.next_ms = c->now_ms;
		ret = sl_tsp_spool_update(sp->st, SL_TSP_SPOOL_DELIVERING, &r);
		if (!ret)
			c->rec->requeued++;
	} else {
		return 0;
	}
	if (!ret)
		crash_point(sp, SL_TSP_SPOOL_AFTER_RECOVER);
	return ret;
}

static bool any_row(const struct sl_tsp_spool_row *r, struct sid_list *l)
{
	(void)r;
	(void)l;
	return true;
}

/* Files whose row is closed or missing. */
static int recover_files(struct sl_tsp_spool *sp, struct sl_tsp_spool_recovery *rec)
{
	int fd = dup(sp->dirfd), ret = 0;
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	rewinddir(d);
	while (!ret && (de = readdir(d))) {
		struct sl_tsp_spool_row r;
		char *end;
		uint64_t sid;

		if (strlen(de->d_name) != SID_HEX_LEN)
			continue;	/* ".", "..", not ours */
		errno = 0;
		sid = strtoull(de->d_name, &end, 16);
		if (*end || errno || !sid)
			continue;
		ret = sl_tsp_spool_get(sp->st, sid, &r);
		if (ret == -ENOENT || (!ret && sl_tsp_spool_closed(r.state))) {
			if (unlinkat(sp->dirfd, de->d_name, 0) && errno != ENOENT)
				ret = -errno;
			else
				ret = sync_dir(sp);
			if (!ret) {
				rec->unlinked++;
				crash_point(sp, SL_TSP_SPOOL_AFTER_RECOVER);
			}
		}
	}
	closedir(d);
	return ret;
}

int sl_tsp_spool_open(struct sl_tsp_spool *sp, const char *dir,
		      struct sl_tsp_store *st,
		      const struct sl_tsp_spool_limits *lim, int64_t now_ms,
		      struct sl_tsp_spool_recovery *rec, char *err,
		      size_t err_len)
{
	struct recover_ctx c = { .sp = sp, .rec = rec, .now_ms = now_ms };
	struct sid_list open_rows = { .sp = sp, .want = any_row };
	struct stat s;
	int ret;

	memset(sp, 0, sizeof(*sp));
	memset(rec, 0, sizeof(*rec));
	sp->dirfd = -1;
	sp->st = st;
	if (lim)
		sp->lim = *lim;
	else
		sl_tsp_spool_limits_default(&sp->lim);
	if (snprintf(sp->dir, sizeof(sp->dir), "%s", dir) >= (int)sizeof(sp->dir)) {
		snprintf(err, err_len, "spool directory %s: name too long", dir);
		return -ENAMETOOLONG;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		ret = -errno;
		snprintf(err, err_len, "cannot create spool directory %s: %s",
			 dir, strerror(-ret));
		return ret;
	}
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (sp->dirfd < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot open spool directory %s: %s",
			 dir, strerror(-ret));
		return ret;
	}
	if (fstat(sp->dirfd, &s) || (s.st_mode & 077)) {
		snprintf(err, err_len, "spool directory %s is readable by others (mode %04o): it must be 0700",
			 dir, (unsigned int)(s.st_mode & 07777));
		sl_tsp_spool_close(sp);
		return -EACCES;
	}
	ret = recover_files(sp, rec);
	if (!ret)
		ret = sl_tsp_spool_list(st, true, collect_sid, &open_rows);
	for (size_t i = 0; !ret && i < open_rows.n; ++i)
		ret = recover_row(&c, open_rows.sids[i]);
	free(open_rows.sids);
	if (ret) {
		snprintf(err, err_len, "recovering spool %s: %s", dir,
			 ret == -EIO || ret == -EBUSY || ret == -ENOTCONN ?
			 sl_tsp_store_error(st) : strerror(-ret));
		sl_tsp_spool_close(sp);
		return ret;
	}
	if (rec->lost) {
		snprintf(err, err_len, "spool %s: %u accepted envelopes have no file (lost)",
			 dir, rec->lost);
		return -EUCLEAN;
	}
	return 0;
}

void sl_tsp_spool_close(struct sl_tsp_spool *sp)
{
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	sp->dirfd = -1;
}


/* ------------------------------------------------------------ hand-over */

/* A partial file keeps its header and whole chunks (courier.rst: chunk
 * i starts at byte 153 + 65,552 i); the rest is sent again. */
static int resume_point(struct sl_tsp_spool *sp, uint64_t sid, uint64_t size,
			uint64_t *resume)
{
	char name[SID_HEX_LEN + 1];
	struct stat s;
	uint64_t have;
	int fd, ret = 0;

	sid_name(name, sid);
	fd = openat(sp->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &s)) {
		ret = -errno;
		goto out;
	}
	have = (uint64_t)s.st_size;
	if (have > size)
		have = size;
	if (have < size && have < SL_TSP_SPOOL_HEADER_LEN)
		have = 0;
	else if (have < size)
		have -= (have - SL_TSP_SPOOL_HEADER_LEN) % CHUNK_WIRE;
	if (ftruncate(fd, (off_t)have) || fdatasync(fd))
		ret = -errno;
	*resume = have;
out:
	close(fd);
	return ret;
}

/* The spool's file system keeps min_free with size more bytes on it. */
static int room_for(struct sl_tsp_spool *sp, uint64_t size)
{
	struct statvfs v;
	uint64_t avail;

	if (fstatvfs(sp->dirfd, &v)) {
		int err = errno;

		return sl_tsp_fail(sp->st, -err, "spool %s: %s", sp->dir,
				   strerror(err));
	}
	avail = (uint64_t)v.f_bavail * v.f_frsize;
	if (avail < sp->lim.min_free || avail - sp->lim.min_free < size)
		return sl_tsp_fail(sp->st, -ENOSPC, "spool %s: %" PRIu64 " bytes free, %" PRIu64 " kept free (min_free): no room for %" PRIu64 " more",
				   sp->dir, avail, sp->lim.min_free, size);
	return 0;
}

int sl_tsp_spool_receive_begin(struct sl_tsp_spool *sp,
			       const struct sl_tsp_spool_offer *o,
			       int64_t now_ms, struct sl_tsp_spool_row *row,
			       uint64_t *resume)
{
	struct sl_tsp_spool_row old;
	int ret;

	*resume = 0;
	memset(row, 0, sizeof(*row));
	if (o->size > sp->lim.max_envelope)
		return sl_tsp_fail(sp->st, -EFBIG, "an envelope of %" PRIu64 " bytes is over the TSP's limit of %" PRIu64,
				   o->size, sp->lim.max_envelope);
	if (!sl_tsp_spool_size_valid(o->size))
		return sl_tsp_fail(sp->st, -EINVAL, "no envelope has %" PRIu64 " bytes",
				   o->size);
	ret = room_for(sp, o->size);
	if (ret)
		return ret;
	row->sid = 0;
	ret = sl_tsp_tracking_new(&row->sid);
	if (ret)
		return ret;
	memcpy(row->envelope, o->envelope, sizeof(row->envelope));
	snprintf(row->sender, sizeof(row->sender), "%s", o->sender);
	snprintf(row->recipient, sizeof(row->recipient), "%s", o->recipient);
	row->size = o->size;
	row->bucket = sl_xfer_bucket(o->size);
	row->state = SL_TSP_SPOOL_RECEIVING;
	snprintf(row->instance, sizeof(row->instance), "%s", sp->st->instance);
	row->received_ms = now_ms;
	row->not_before_ms = o->not_before_ms;
	row->window = o->window;
	ret = sl_tsp_spool_insert(sp->st, row, sp->lim.quota_bytes,
				  sp->lim.quota_envelopes, &old);
	if (ret == -EEXIST) {
		*row = old;
		if (old.size != o->size || strcmp(old.recipient, o->recipient))
			return sl_tsp_fail(sp->st, -EALREADY, "account %s handed over another envelope with this id (%" PRIu64 " bytes for %s)",
					   old.sender, old.size, old.recipient);
		if (old.state != SL_TSP_SPOOL_RECEIVING)
			return -EEXIST;
		if (strcmp(old.instance, sp->st->instance))
			return sl_tsp_fail(sp->st, -EXDEV, "the hand-over began at TSP instance %s",
					   old.instance);
		return resume_point(sp, old.sid, old.size, resume);
	}
	if (ret)
		return ret;
	crash_point(sp, SL_TSP_SPOOL_AFTER_INSERT);
	ret = create_file(sp, row->sid);
	if (ret)
		return ret;
	crash_point(sp, SL_TSP_SPOOL_AFTER_CREATE);
	return 0;
}

int sl_tsp_spool_read(struct sl_tsp_spool *sp, uint64_t sid, uint64_t offset,
		      void *buf, size_t len)
{
	char name[SID_HEX_LEN + 1];
	ssize_t n;
	int fd, ret = 0;

	sid_name(name, sid);
	fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	do {
		n = pread(fd, buf, len, (off_t)offset);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -ENODATA;
	close(fd);
	return ret;
}

int sl_tsp_spool_receive_write(struct sl_tsp_spool *sp, uint64_t sid,
			       uint64_t offset, const void *buf, size_t len)
{
	struct sl_tsp_spool_row r;
	char name[SID_HEX_LEN + 1];
	int fd, ret = get_own(sp, sid, &r);

	if (ret)
		return ret;
	if (r.state != SL_TSP_SPOOL_RECEIVING)
		return sl_tsp_fail(sp->st, -ESTALE, "envelope %016" PRIx64 " is %s, not receiving",
				   sid, sl_tsp_spool_state_name(r.state));
	if (offset > r.size || len > r.size - offset)
		return sl_tsp_fail(sp->st, -EMSGSIZE, "bytes %" PRIu64 "+%zu are past the envelope's %" PRIu64,
				   offset, len, r.size);
	sid_name(name, sid);
	fd = openat(sp->dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	ret = sl_pwrite_all(fd, buf, len, (off_t)offset);
	if (!ret && fdatasync(fd))
		ret = -errno;
	close(fd);
	if (!ret)
		crash_point(sp, SL_TSP_SPOOL_AFTER_WRITE);
	return ret;
}

/* SHA-256 of the file as it is on disk. */
static int hash_file(int fd, uint64_t size, uint8_t out[SL_TSP_SHA256_LEN])
{
	static uint8_t buf[READ_BUF];
	gcry_md_hd_t md;
	uint64_t done = 0;
	int ret = 0;

	if (gcry_md_open(&md, GCRY_MD_SHA256, 0))
		return -ENOMEM;
	while (done < size) {
		size_t want = size - done > sizeof(buf) ? sizeof(buf) :
			      (size_t)(size - done);
		ssize_t n = pread(fd, buf, want, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n ? -errno : -EPROTO;
			break;
		}
		gcry_md_write(md, buf, (size_t)n);
		done += (uint64_t)n;
	}
	if (!ret)
		memcpy(out, gcry_md_read(md, GCRY_MD_SHA256), SL_TSP_SHA256_LEN);
	gcry_md_close(md);
	return ret;
}

int sl_tsp_spool_receive_done(struct sl_tsp_spool *sp, uint64_t sid,
			      int64_t now_ms, int64_t delay_ms,
			      struct sl_tsp_spool_row *row)
{
	char name[SID_HEX_LEN + 1];
	struct stat s;
	int fd, ret = get_own(sp, sid, row);

	if (ret)
		return ret;
	if (row->state != SL_TSP_SPOOL_RECEIVING)
		return row->state == SL_TSP_SPOOL_ABANDONED ?
		       sl_tsp_fail(sp->st, -ESTALE, "envelope %016" PRIx64 " was abandoned", sid) :
		       -EEXIST;	/* accepted already: acknowledge again */
	sid_name(name, sid);
	fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &s))
		ret = -errno;
	else if ((uint64_t)s.st_size != row->size)
		ret = sl_tsp_fail(sp->st, -EPROTO, "envelope %016" PRIx64 " has %lld of its %" PRIu64 " bytes",
				  sid, (long long)s.st_size, row->size);
	else if (fsync(fd))
		ret = -errno;
	else
		ret = hash_file(fd, row->size, row->sha256);
	close(fd);
	if (ret)
		return ret;
	crash_point(sp, SL_TSP_SPOOL_AFTER_SYNC);
	row->have_sha256 = true;
	row->state = SL_TSP_SPOOL_HELD;
	row->accepted_ms = now_ms;
	row->expires_ms = now_ms + sp->lim.max_hold_ms;
	row->next_ms = now_ms + (delay_ms > 0 ? delay_ms : 0);
	if (row->next_ms < row->not_before_ms)
		row->next_ms = row->not_before_ms;
	row->next_ms = sl_tsp_spool_tick_up(sp, row->next_ms);
	return step(sp, SL_TSP_SPOOL_RECEIVING, row, SL_TSP_SPOOL_AFTER_HELD);
}

/* ------------------------------------------------------------ delivery */

struct due_ctx {
	struct sl_tsp_spool *sp;
	int64_t now_ms, tick_ms;
	sl_tsp_spool_fn fn;
	void *arg;
};

static int due_row(const struct sl_tsp_spool_row *r, void *arg)
{
	struct due_ctx *c = arg;

	if (r->state != SL_TSP_SPOOL_HELD || r->next_ms > c->tick_ms ||
	    r->expires_ms <= c->now_ms ||
	    strcmp(r->instance, c->sp->st->instance) ||
	    !sl_tsp_spool_in_window(r->window, c->tick_ms))
		return 0;
	return c->fn(r, c->arg);
}

int sl_tsp_spool_due(struct sl_tsp_spool *sp, int64_t now_ms,
		     sl_tsp_spool_fn fn, void *arg)
{
	/* Due at the last tick: a row whose time (or window) comes between
	 * two ticks waits for the next one. */
	struct due_ctx c = {
		.sp = sp, .now_ms = now_ms,
		.tick_ms = sl_tsp_spool_tick(sp, now_ms), .fn = fn, .arg = arg,
	};

	return sl_tsp_spool_list(sp->st, true, due_row, &c);
}

int sl_tsp_spool_deliver_begin(struct sl_tsp_spool *sp, uint64_t sid,
			       int64_t now_ms, int *fd)
{
	struct sl_tsp_spool_row r;
	char name[SID_HEX_LEN + 1];
	int ret = get_own(sp, sid, &r);

	*fd = -1;
	if (ret)
		return ret;
	if (r.state != SL_TSP_SPOOL_HELD)
		return sl_tsp_fail(sp->st, -ESTALE, "envelope %016" PRIx64 " is %s, not held",
				   sid, sl_tsp_spool_state_name(r.state));
	/* Open before the step: a missing file must not cost an attempt. */
	sid_name(name, sid);
	*fd = openat(sp->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (*fd < 0)
		return sl_tsp_fail(sp->st, -EUCLEAN, "envelope %016" PRIx64 ": its file is gone: %s",
				   sid, strerror(errno));
	r.state = SL_TSP_SPOOL_DELIVERING;
	r.attempts++;
	r.last_attempt_ms = now_ms;
	ret = step(sp, SL_TSP_SPOOL_HELD, &r, SL_TSP_SPOOL_AFTER_DELIVERING);
	if (ret) {
		close(*fd);
		*fd = -1;
	}
	return ret;
}

static int get_delivering(struct sl_tsp_spool *sp, uint64_t sid,
			  struct sl_tsp_spool_row *r)
{
	int ret = get_own(sp, sid, r);

	if (!ret && r->state != SL_TSP_SPOOL_DELIVERING)
		ret = sl_tsp_fail(sp->st, -ESTALE, "envelope %016" PRIx64 " is %s, not being delivered",
				  sid, sl_tsp_spool_state_name(r->state));
	return ret;
}

int sl_tsp_spool_delivered(struct sl_tsp_spool *sp, uint64_t sid,
			   const char *receipt, int64_t now_ms)
{
	struct sl_tsp_spool_row r;
	int ret = get_delivering(sp, sid, &r);

	if (ret)
		return ret;
	if (snprintf(r.receipt, sizeof(r.receipt), "%s", receipt) >=
	    (int)sizeof(r.receipt))
		return sl_tsp_fail(sp->st, -EMSGSIZE, "a receipt of %zu bytes is over %d",
				   strlen(receipt), SL_TSP_SPOOL_TEXT_MAX);
	return close_row(sp, &r, SL_TSP_SPOOL_DELIVERED, NULL, now_ms);
}

int sl_tsp_spool_retry(struct sl_tsp_spool *sp, uint64_t sid,
		       const char *reason, int64_t now_ms,
		       enum sl_tsp_spool_state *state)
{
	struct sl_tsp_spool_row r;
	int64_t wait;
	int ret = get_delivering(sp, sid, &r);

	if (ret)
		return ret;
	wait = sp->lim.retry_ms;
	for (unsigned int i = 1; i < r.attempts && wait < sp->lim.retry_max_ms; ++i)
		wait *= 2;
	if (wait > sp->lim.retry_max_ms)
		wait = sp->lim.retry_max_ms;
	if (r.attempts >= sp->lim.max_attempts) {
		*state = SL_TSP_SPOOL_BOUNCED;
		return close_row(sp, &r, SL_TSP_SPOOL_BOUNCED, reason, now_ms);
	}
	if (now_ms + wait >= r.expires_ms) {
		*state = SL_TSP_SPOOL_EXPIRED;
		return close_row(sp, &r, SL_TSP_SPOOL_EXPIRED, reason, now_ms);
	}
	*state = SL_TSP_SPOOL_HELD;
	r.state = SL_TSP_SPOOL_HELD;
	r.next_ms = sl_tsp_spool_tick_up(sp, now_ms + wait);
	snprintf(r.reason, sizeof(r.reason), "%s", reason ? reason : "");
	return step(sp, SL_TSP_SPOOL_DELIVERING, &r, SL_TSP_SPOOL_AFTER_RETRY);
}

int sl_tsp_spool_bounce(struct sl_tsp_spool *sp, uint64_t sid,
			const char *reason, int64_t now_ms)
{
	struct sl_tsp_spool_row r;
	int ret = get_delivering(sp, sid, &r);

	if (ret)
		return ret;
	return close_row(sp, &r, SL_TSP_SPOOL_BOUNCED, reason, now_ms);
}

/* ------------------------------------------------------------ upkeep */

static bool stale_row(const struct sl_tsp_spool_row *r, struct sid_list *l)
{
	if (r->state == SL_TSP_SPOOL_HELD)
		return r->expires_ms <= l->now_ms;
	return r->state == SL_TSP_SPOOL_RECEIVING &&
	       r->received_ms + l->sp->lim.receive_timeout_ms <= l->now_ms;
}

int sl_tsp_spool_expire(struct sl_tsp_spool *sp, int64_t now_ms,
			unsigned int *n)
{
	struct sid_list l = { .sp = sp, .now_ms = now_ms, .want = stale_row };
	int ret = sl_tsp_spool_list(sp->st, true, collect_sid, &l);

	*n = 0;
	for (size_t i = 0; !ret && i < l.n; ++i) {
		struct sl_tsp_spool_row r;

		ret = get_own(sp, l.sids[i], &r);
		if (ret)
			break;
		if (r.state == SL_TSP_SPOOL_HELD)
			ret = close_row(sp, &r, SL_TSP_SPOOL_EXPIRED, NULL, now_ms);
		else if (r.state == SL_TSP_SPOOL_RECEIVING)
			ret = close_row(sp, &r, SL_TSP_SPOOL_ABANDONED, NULL, now_ms);
		else
			continue;	/* it moved on meanwhile */
		if (ret == -ESTALE) {
			ret = 0;
			continue;
		}
		if (!ret)
			(*n)++;
	}
	free(l.sids);
	return ret;
}

struct pending_ctx {
	const char *sender;
	sl_tsp_spool_fn fn;
	void *arg;
};

static int pending_row(const struct sl_tsp_spool_row *r, void *arg)
{
	struct pending_ctx *c = arg;

	if (!sl_tsp_spool_closed(r->state) || r->collected_ms ||
	    r->state == SL_TSP_SPOOL_ABANDONED || strcmp(r->sender, c->sender))
		return 0;
	return c->fn(r, c->arg);
}

int sl_tsp_spool_pending(struct sl_tsp_spool *sp, const char *sender,
			 sl_tsp_spool_fn fn, void *arg)
{
	struct pending_ctx c = { .sender = sender, .fn = fn, .arg = arg };

	return sl_tsp_spool_list(sp->st, false, pending_row, &c);
}

int sl_tsp_spool_collect(struct sl_tsp_spool *sp, uint64_t sid,
			 int64_t now_ms)
{
	struct sl_tsp_spool_row r;
	int ret = sl_tsp_spool_get(sp->st, sid, &r);

	if (ret)
		return ret;
	if (!sl_tsp_spool_closed(r.state))
		return sl_tsp_fail(sp->st, -EINPROGRESS, "envelope %016" PRIx64 " is still %s",
				   sid, sl_tsp_spool_state_name(r.state));
	if (r.collected_ms)
		return 0;	/* a repeated acknowledgement */
	r.collected_ms = now_ms;
	return step(sp, r.state, &r, SL_TSP_SPOOL_AFTER_COLLECT);
}
