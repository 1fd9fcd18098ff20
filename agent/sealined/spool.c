// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The recipient's spool, staging, inbox and receipts (spool.h).
 */
#include <ctype.h>
#include <dirent.h>
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
#include "hex.h"
#include "log.h"
#include "spool.h"

#define ENV_SUFFIX	".env"
#define STATE_SUFFIX	".state"
#define RCPT_SUFFIX	".receipt"
#define VIA_SUFFIX	".via"
/* How deep sl_spool_walk goes: as deep as an envelope may. */
#define WALK_DEPTH	(SL_ENV_DEPTH_MAX + 1)

static void name_of(char *out, size_t size, const uint8_t *id,
		    const char *suffix)
{
	sl_cs_name(out, size, id, suffix);
}

/* ---- Records ------------------------------------------------------------- */

static int save(struct sl_spool *sp, const struct sl_sp_item *it)
{
	struct sl_cs_rec *r = malloc(sizeof(*r));
	char name[64];
	int ret;

	if (!r)
		return -ENOMEM;
	sl_cs_rec_init(r, SL_SP_MAGIC);
	sl_cs_put(r, "id", it->hex);
	sl_cs_put(r, "sender", it->sender);
	if (it->via[0])
		sl_cs_put(r, "via", it->via);
	sl_cs_put_u64(r, "size", it->size);
	sl_cs_put_u64(r, "chunks", it->chunks);
	sl_cs_putf(r, "started", "%" PRId64, it->started);
	sl_cs_put_u64(r, "wire_bytes", it->wire_bytes);
	sl_cs_put_u64(r, "attempts", it->attempts);
	name_of(name, sizeof(name), it->id, STATE_SUFFIX);
	ret = sl_cs_rec_write(sp->spoolfd, name, r);
	free(r);
	return ret;
}

static int load(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN],
		struct sl_sp_item *it)
{
	struct sl_cs_rec *r = malloc(sizeof(*r));
	uint64_t started, attempts;
	const char *s;
	char name[64];
	int ret;

	if (!r)
		return -ENOMEM;
	memset(it, 0, sizeof(*it));
	name_of(name, sizeof(name), id, STATE_SUFFIX);
	ret = sl_cs_rec_read(sp->spoolfd, name, SL_SP_MAGIC, r);
	if (ret)
		goto out;
	ret = -EINVAL;
	memcpy(it->id, id, SL_ENV_ID_LEN);
	sl_hex_encode(it->hex, id, SL_ENV_ID_LEN);
	s = sl_cs_get(r, "sender");
	if (!s || !sl_account_valid(s) || !sl_cs_get(r, "id") ||
	    strcmp(sl_cs_get(r, "id"), it->hex))
		goto out;
	snprintf(it->sender, sizeof(it->sender), "%s", s);
	s = sl_cs_get(r, "via");
	if (s && strcmp(s, SL_SP_VIA_TSP))
		goto out;
	snprintf(it->via, sizeof(it->via), "%s", s ? s : "");
	if (sl_cs_get_u64(r, "size", &it->size) ||
	    sl_cs_get_u64(r, "chunks", &it->chunks) ||
	    sl_cs_get_u64(r, "started", &started) ||
	    sl_cs_get_u64(r, "wire_bytes", &it->wire_bytes) ||
	    sl_cs_get_u64(r, "attempts", &attempts) ||
	    attempts > UINT32_MAX)
		goto out;
	it->started = (int64_t)started;
	it->attempts = (uint32_t)attempts;
	ret = 0;
out:
	free(r);
	return ret;
}

static enum sl_env_reason refuse(struct sl_env_refusal *why,
				 enum sl_env_reason reason, const char *text)
{
	why->reason = reason;
	snprintf(why->detail, sizeof(why->detail), "%s", text);
	return reason;
}

static void reason_token(char *out, size_t size, enum sl_env_reason reason)
{
	const char *n = sl_env_reason_name(reason);
	size_t i;

	for (i = 0; n[i] && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)n[i]);
	out[i] = 0;
}

/* ---- Walking the inbox ---------------------------------------------------- */

static int walk(int dirfd, char *path, size_t len, int depth,
		sl_spool_walk_fn fn, void *ctx)
{
	struct dirent *de;
	int fd = sl_cs_reopen(dirfd), ret = 0;
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			char **p;

			cap = cap ? 2 * cap : 16;
			p = realloc(names, cap * sizeof(*p));
			if (!p) {
				ret = -ENOMEM;
				break;
			}
			names = p;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			ret = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	for (size_t i = 0; i < n && !ret; i++)
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];

				names[i] = names[j];
				names[j] = t;
			}
	for (size_t i = 0; i < n && !ret; i++) {
		size_t nl = strlen(names[i]);
		struct stat st;
		char type;

		if (len + 1 + nl >= PATH_MAX)
			continue;
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW))
			continue;
		if (len)
			path[len] = '/';
		memcpy(path + len + (len ? 1 : 0), names[i], nl + 1);
		type = S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : 'f';
		ret = fn(ctx, path, type, S_ISREG(st.st_mode) ?
			 (uint64_t)st.st_size : 0, st.st_mtim.tv_sec);
		if (!ret && type == 'd' && depth < WALK_DEPTH) {
			int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY |
					 O_NOFOLLOW | O_CLOEXEC);

			if (sub >= 0) {
				ret = walk(sub, path, len + (len ? 1 : 0) + nl,
					   depth + 1, fn, ctx);
				close(sub);
			}
		}
		path[len] = 0;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

int sl_spool_walk(struct sl_spool *sp, const char *hex, sl_spool_walk_fn fn,
		  void *ctx)
{
	char path[PATH_MAX] = "";
	uint8_t id[SL_ENV_ID_LEN];
	int fd, ret;

	if (!sl_cs_parse_name(hex, "", id))
		return -EINVAL;
	fd = openat(sp->inboxfd, hex, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = walk(fd, path, 0, 1, fn, ctx);
	close(fd);
	return ret;
}

/* ---- The receive log -------------------------------------------------------- */

struct names_ctx {
	struct sl_jb *j;
	bool cut;
};

static int add_name(void *arg, const char *name, char type, uint64_t size,
		    int64_t mtime)
{
	struct names_ctx *c = arg;

	(void)mtime;
	if (sl_jb_room(c->j) < strlen(name) * 6 + 256) {
		c->cut = true;
		return 1;		/* enough: stop walking */
	}
	sl_jb_open(c->j, NULL, '{');
	sl_jb_str(c->j, "name", name);
	sl_jb_str(c->j, "type", type == 'd' ? "directory" :
		  type == 'l' ? "symlink" : "file");
	sl_jb_u64(c->j, "size", size);
	sl_jb_close(c->j, '}');
	return 0;
}

/*
 * One record: delivered (rx and the receipt; the inbox walked for the
 * names), or a refusal (why).
 */
static int log_record(struct sl_spool *sp, const char *hex, const char *sender,
		      const char *via, uint64_t size, uint64_t wire_bytes,
		      const struct sl_env_received *rx, const char *receipt,
		      const struct sl_env_refusal *why, int64_t now)
{
	const char *outcome = rx ? "delivered" : "refused";
	char tok[32], path[PATH_MAX + SL_CS_HEX_ID + 1];
	struct sl_jb j;
	int ret;

	/* A delivery is logged once, whatever crash came between; each
	 * refusal is an event of its own. */
	if (!sp->log || (rx && sl_clog_has(sp->log, hex, outcome)))
		return 0;
	sl_jb_init(&j, SL_CS_LOG_RECORD_MAX);
	sl_jb_open(&j, NULL, '{');
	sl_jb_time(&j, "time", now);
	sl_jb_str(&j, "id", hex);
	sl_jb_str_or_null(&j, "peer", sender);
	sl_jb_str(&j, "via", via[0] ? via : "line");
	sl_jb_str(&j, "outcome", outcome);
	if (why) {
		reason_token(tok, sizeof(tok), why->reason);
		sl_jb_str(&j, "reason", tok);
		sl_jb_str_or_null(&j, "detail", why->detail);
	} else {
		sl_jb_str_or_null(&j, "reason", NULL);
		sl_jb_str_or_null(&j, "detail", NULL);
	}
	sl_jb_u64(&j, "size", size);
	sl_jb_u64(&j, "wire_bytes", wire_bytes);
	if (rx) {
		struct names_ctx c = { .j = &j };

		sl_jb_u64(&j, "files", rx->files);
		sl_jb_u64(&j, "content_bytes", rx->content_bytes);
		snprintf(path, sizeof(path), "%s/%s", sp->dirs.inbox, hex);
		sl_jb_str(&j, "inbox", path);
		sl_jb_str(&j, "receipt", receipt);
		sl_jb_open(&j, "names", '[');
		sl_spool_walk(sp, hex, add_name, &c);
		sl_jb_close(&j, ']');
		sl_jb_key(&j, "names_complete");
		sl_jb_raw(&j, c.cut ? "false" : "true");
	}
	sl_jb_close(&j, '}');
	ret = j.overflow ? -EOVERFLOW : sl_clog_append(sp->log, j.buf, j.len);
	sl_jb_free(&j);
	return ret;
}

/* ---- Open and recovery ------------------------------------------------------ */

static bool exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Reads a receipt back into what the log wants of a delivery. */
static void received_of(struct sl_env_received *rx, const struct sl_sp_item *it,
			const char *receipt, size_t len)
{
	struct sl_rcpt r;
	char why[64];

	memset(rx, 0, sizeof(*rx));
	memcpy(rx->id, it->id, SL_ENV_ID_LEN);
	snprintf(rx->sender, sizeof(rx->sender), "%s", it->sender);
	rx->bytes = it->size;
	snprintf(rx->name, sizeof(rx->name), "%s", it->hex);
	if (!sl_rcpt_verify(&r, receipt, len, NULL, why, sizeof(why))) {
		rx->files = r.files;
		rx->content_bytes = r.bytes;
	}
}

/* The commit happened (INBOX/ID exists): receipt, log, spool files. */
static int finish_delivery(struct sl_spool *sp, struct sl_sp_item *it,
			   const struct sl_env_received *rx)
{
	char name[64], rcpt[SL_RCPT_MAX_LEN + 1];
	struct sl_env_received fallback;
	ssize_t n;
	int ret;

	if (it->via[0]) {
		/* Before the receipt: once that is there, the delivery is
		 * not finished again. */
		name_of(name, sizeof(name), it->id, VIA_SUFFIX);
		ret = sl_cs_write_file(sp->rcptfd, name, it->via,
				       strlen(it->via));
		if (ret)
			return ret;
	}
	name_of(name, sizeof(name), it->id, RCPT_SUFFIX);
	n = sl_cs_read_file(sp->rcptfd, name, rcpt, sizeof(rcpt));
	if (n == -ENOENT) {
		n = sl_cs_read_file(sp->spoolfd, name, rcpt, sizeof(rcpt));
		if (n < 0)
			return (int)n;
		ret = sl_cs_write_file(sp->rcptfd, name, rcpt, (size_t)n);
		if (ret)
			return ret;
		SL_CS_CRASH_POINT("spool: receipt stored, not logged");
	} else if (n < 0) {
		return (int)n;
	}
	rcpt[n] = 0;
	if (!rx) {
		received_of(&fallback, it, rcpt, (size_t)n);
		rx = &fallback;
	}
	ret = log_record(sp, it->hex, it->sender, it->via, it->size,
			 it->wire_bytes, rx, rcpt, NULL, (int64_t)time(NULL));
	if (ret)
		return ret;
	SL_CS_CRASH_POINT("spool: logged, spool still there");
	return sl_spool_drop(sp, it->id);
}

static int recover(struct sl_spool *sp)
{
	uint8_t id[SL_ENV_ID_LEN];
	struct dirent *de;
	int fd = sl_cs_reopen(sp->spoolfd), ret = 0;
	DIR *d;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)) && !ret) {
		struct sl_sp_item it;
		char name[64];

		if (!sl_cs_parse_name(de->d_name, STATE_SUFFIX, id)) {
			if ((sl_cs_parse_name(de->d_name, ENV_SUFFIX, id) ||
			     sl_cs_parse_name(de->d_name, RCPT_SUFFIX, id))) {
				name_of(name, sizeof(name), id, STATE_SUFFIX);
				if (!exists(sp->spoolfd, name))
					unlinkat(sp->spoolfd, de->d_name, 0);
			}
			continue;
		}
		if (load(sp, id, &it)) {
			sl_log(LOG_ERR, "spool %s: %s: unreadable record: left alone",
			       sp->dirs.spool, de->d_name);
			continue;
		}
		if (exists(sp->inboxfd, it.hex)) {
			ret = finish_delivery(sp, &it, NULL);
			continue;
		}
		/* Signed but never committed: never given either. */
		name_of(name, sizeof(name), id, RCPT_SUFFIX);
		unlinkat(sp->spoolfd, name, 0);
	}
	closedir(d);
	fsync(sp->spoolfd);
	return ret;
}

static void discard_staging(struct sl_spool *sp)
{
	int fd = sl_cs_reopen(sp->stagingfd);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		sl_log(LOG_NOTICE, "staging %s: removing %s, left by an unpacking that did not finish",
		       sp->dirs.staging, de->d_name);
		sl_env_discard(sp->stagingfd, de->d_name);
	}
	closedir(d);
}

int sl_spool_open(struct sl_spool *sp, const struct sl_spool_dirs *dirs,
		  struct sl_clog *log, char *err, size_t err_len)
{
	struct stat a, b;
	int ret;

	memset(sp, 0, sizeof(*sp));
	sp->spoolfd = sp->stagingfd = sp->inboxfd = sp->rcptfd = -1;
	sp->dirs = *dirs;
	sp->log = log;
	if ((sp->spoolfd = sl_cs_dir_open(dirs->spool, err, err_len)) < 0 ||
	    (sp->stagingfd = sl_cs_dir_open(dirs->staging, err, err_len)) < 0 ||
	    (sp->inboxfd = sl_cs_dir_open(dirs->inbox, err, err_len)) < 0 ||
	    (sp->rcptfd = sl_cs_dir_open(dirs->receipts, err, err_len)) < 0) {
		ret = -EIO;
		goto fail;
	}
	if (fstat(sp->stagingfd, &a) || fstat(sp->inboxfd, &b) ||
	    a.st_dev != b.st_dev) {
		ret = sl_errf(err, err_len, -EXDEV,
			      "staging %s and inbox %s are on different file systems: an envelope must move into the inbox whole, by one rename (set [courier] staging to a directory on the inbox's file system)",
			      dirs->staging, dirs->inbox);
		goto fail;
	}
	sl_cs_sweep_tmp(sp->spoolfd);
	sl_cs_sweep_tmp(sp->rcptfd);
	discard_staging(sp);
	ret = recover(sp);
	if (ret) {
		sl_errf(err, err_len, ret, "spool %s: %s", dirs->spool,
			strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	sl_spool_close(sp);
	return ret;
}

void sl_spool_close(struct sl_spool *sp)
{
	int *fds[] = { &sp->spoolfd, &sp->stagingfd, &sp->inboxfd, &sp->rcptfd };

	for (size_t i = 0; i < 4; i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

/* ---- Offers and chunks --------------------------------------------------------- */

ssize_t sl_spool_receipt(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN],
			 char *buf, size_t size)
{
	char name[64];
	ssize_t n;

	name_of(name, sizeof(name), id, RCPT_SUFFIX);
	n = sl_cs_read_file(sp->rcptfd, name, buf, size);
	if (n >= 0)
		buf[n] = 0;
	return n;
}

bool sl_spool_delivered(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN])
{
	char name[64];

	name_of(name, sizeof(name), id, RCPT_SUFFIX);
	return exists(sp->rcptfd, name);
}

const char *sl_spool_via(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN])
{
	char name[64], via[SL_SP_VIA_MAX];
	ssize_t n;

	name_of(name, sizeof(name), id, VIA_SUFFIX);
	n = sl_cs_read_file(sp->rcptfd, name, via, sizeof(via) - 1);
	if (n > 0) {
		via[n] = 0;
		if (!strcmp(via, SL_SP_VIA_TSP))
			return SL_SP_VIA_TSP;
	}
	return "line";
}

/* How many whole chunks of the spool verify, from the start; the file
 * is cut after them. */
static int verified_prefix(int fd, const struct sl_sp_item *it,
			   const uint8_t *header, const uint8_t *key,
			   uint64_t *from)
{
	uint8_t head[SL_ENV_HEADER_LEN];
	uint8_t *wire = NULL, *plain = NULL;
	uint64_t i;
	struct stat st;
	int ret = 0;

	*from = 0;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (sl_read_full(fd, head, sizeof(head)) != (ssize_t)sizeof(head) ||
	    memcmp(head, header, sizeof(head)))
		goto cut;		/* another envelope's header: afresh */
	wire = malloc(SL_ENV_CHUNK_WIRE_LEN);
	plain = malloc(SL_ENV_CHUNK_WIRE_LEN);
	if (!wire || !plain) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < it->chunks; i++) {
		uint64_t off = sl_env_chunk_offset(i);
		size_t len = i + 1 < it->chunks ? SL_ENV_CHUNK_WIRE_LEN :
			     (size_t)(it->size - off);
		bool last;

		if (off + len > (uint64_t)st.st_size ||
		    pread(fd, wire, len, (off_t)off) != (ssize_t)len ||
		    sl_env_chunk_open(plain, key, i, wire, len, &last) ||
		    last != (i + 1 == it->chunks))
			break;
	}
	*from = i;
	if (ftruncate(fd, (off_t)sl_env_chunk_offset(i)) < 0 || fdatasync(fd) < 0)
		ret = -errno;
	goto out;
cut:
	if (ftruncate(fd, 0) < 0)
		ret = -errno;
	if (!ret)
		ret = sl_pwrite_all(fd, header, SL_ENV_HEADER_LEN, 0);
	if (!ret && fdatasync(fd) < 0)
		ret = -errno;
out:
	if (plain)
		sl_wipe(plain, SL_ENV_CHUNK_WIRE_LEN);
	free(plain);
	free(wire);
	return ret;
}

int sl_spool_begin(struct sl_spool *sp, struct sl_sp_item *it,
		   const uint8_t *header, const uint8_t key[SL_ENV_KEY_LEN],
		   uint64_t *from)
{
	struct sl_sp_item old;
	char name[64];
	int fd, ret;

	*from = 0;
	sl_hex_encode(it->hex, it->id, SL_ENV_ID_LEN);
	if (!load(sp, it->id, &old) && old.size == it->size &&
	    !strcmp(old.sender, it->sender)) {
		it->started = old.started;
		it->wire_bytes = old.wire_bytes;
		it->attempts = old.attempts;
	}
	it->attempts++;
	name_of(name, sizeof(name), it->id, ENV_SUFFIX);
	fd = openat(sp->spoolfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0)
		return -errno;
	ret = verified_prefix(fd, it, header, key, from);
	close(fd);
	if (ret)
		return ret;
	if (fsync(sp->spoolfd) < 0)
		return -errno;
	SL_CS_CRASH_POINT("spool: envelope file, no record");
	return save(sp, it);
}

int sl_spool_put_chunk(struct sl_spool *sp, const struct sl_sp_item *it,
		       uint64_t i, const uint8_t *buf, size_t len)
{
	char name[64];
	int fd, ret;

	name_of(name, sizeof(name), it->id, ENV_SUFFIX);
	fd = openat(sp->spoolfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	ret = sl_pwrite_all(fd, buf, len, (off_t)sl_env_chunk_offset(i));
	if (!ret && fdatasync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int sl_spool_save(struct sl_spool *sp, const struct sl_sp_item *it)
{
	char name[64];

	/* Delivered or dropped meanwhile (the line's transfer ends after
	 * the commit, at END or a cut): no record without its envelope. */
	name_of(name, sizeof(name), it->id, ENV_SUFFIX);
	if (!exists(sp->spoolfd, name))
		return 0;
	return save(sp, it);
}

int sl_spool_open_env(struct sl_spool *sp, const struct sl_sp_item *it)
{
	char name[64];
	int fd;

	name_of(name, sizeof(name), it->id, ENV_SUFFIX);
	fd = openat(sp->spoolfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

int sl_spool_list(struct sl_spool *sp, struct sl_sp_item **items, size_t *n)
{
	uint8_t id[SL_ENV_ID_LEN];
	struct dirent *de;
	size_t cap = 0;
	int fd = sl_cs_reopen(sp->spoolfd);
	DIR *d;

	*items = NULL;
	*n = 0;
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct sl_sp_item it;
		struct stat st;
		char name[64];

		if (!sl_cs_parse_name(de->d_name, STATE_SUFFIX, id) ||
		    load(sp, id, &it))
			continue;
		name_of(name, sizeof(name), id, ENV_SUFFIX);
		if (fstatat(sp->spoolfd, name, &st, AT_SYMLINK_NOFOLLOW) ||
		    (uint64_t)st.st_size != it.size)
			continue;
		if (*n == cap) {
			struct sl_sp_item *p;

			cap = cap ? 2 * cap : 8;
			p = realloc(*items, cap * sizeof(*p));
			if (!p)
				break;
			*items = p;
		}
		(*items)[(*n)++] = it;
	}
	closedir(d);
	return 0;
}

/* ---- Commit ------------------------------------------------------------------ */

enum sl_env_reason sl_spool_commit(struct sl_spool *sp, struct sl_sp_item *it,
				   const struct sl_env_received *rx,
				   const char *receipt, size_t len,
				   struct sl_env_refusal *why)
{
	enum sl_env_reason r;
	char name[64];
	int ret;

	name_of(name, sizeof(name), it->id, RCPT_SUFFIX);
	ret = sl_cs_write_file(sp->spoolfd, name, receipt, len);
	if (ret)
		return refuse(why, SL_ENV_IO, "cannot store the receipt");
	if (sl_cs_crash_hook && sl_cs_crash_hook("spool: signed, not committed"))
		return refuse(why, SL_ENV_INTERNAL, "crash point");
	r = sl_env_commit(sp->stagingfd, sp->inboxfd, rx, why);
	if (r != SL_ENV_OK) {
		unlinkat(sp->spoolfd, name, 0);
		return r;
	}
	if (sl_cs_crash_hook && sl_cs_crash_hook("spool: committed"))
		return refuse(why, SL_ENV_INTERNAL, "crash point");
	ret = finish_delivery(sp, it, rx);
	if (ret)
		sl_log(LOG_ERR, "spool: envelope %s is in the inbox, but finishing its delivery failed: %s (done at the next start)",
		       it->hex, strerror(-ret));
	return ret == -ECANCELED ?
	       refuse(why, SL_ENV_INTERNAL, "crash point") : SL_ENV_OK;
}

int sl_spool_refused(struct sl_spool *sp, struct sl_sp_item *it,
		     const struct sl_env_refusal *why, bool drop, int64_t now)
{
	int ret = log_record(sp, it->hex, it->sender, it->via, it->size,
			     it->wire_bytes, NULL, NULL, why, now);

	if (drop) {
		int r2 = sl_spool_drop(sp, it->id);

		if (!ret)
			ret = r2;
	}
	return ret;
}

int sl_spool_drop(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN])
{
	static const char *const suffixes[] = {
		ENV_SUFFIX, RCPT_SUFFIX, STATE_SUFFIX,
	};
	char name[64];
	int ret = 0;

	/* The record last: until it goes, the rest is found again. */
	for (size_t i = 0; i < 3; i++) {
		name_of(name, sizeof(name), id, suffixes[i]);
		if (unlinkat(sp->spoolfd, name, 0) < 0 && errno != ENOENT)
			ret = -errno;
	}
	if (fsync(sp->spoolfd) < 0 && !ret)
		ret = -errno;
	return ret;
}

int sl_spool_log_refusal(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN],
			 const char *sender, uint64_t size, const char *via,
			 const struct sl_env_refusal *why, int64_t now)
{
	char hex[SL_CS_HEX_ID];

	sl_hex_encode(hex, id, SL_ENV_ID_LEN);
	return log_record(sp, hex, sender, via, size, 0, NULL, NULL, why, now);
}
