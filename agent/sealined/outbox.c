// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The sender's outbox (outbox.h): records, crash recovery, the send log.
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
#include <unistd.h>

#include "fdio.h"
#include "hex.h"
#include "ipc.h"
#include "log.h"
#include "outbox.h"
#include "receipt.h"

#define ENV_SUFFIX	".env"
#define LIST_SUFFIX	".files"
#define STATE_SUFFIX	".state"
#define RCPT_SUFFIX	".receipt"
#define ACC_SUFFIX	".acceptance"
#define NOTICE_SUFFIX	".notice"
#define PART		".part"

static const char *const state_names[] = {
	[SL_OB_QUEUED] = "queued",
	[SL_OB_SENDING] = "sending",
	[SL_OB_HELD] = "held",
	[SL_OB_DELIVERED] = "delivered",
	[SL_OB_REFUSED] = "refused",
	[SL_OB_FAILED] = "failed",
	[SL_OB_CANCELLED] = "cancelled",
	[SL_OB_EXPIRED] = "expired",
	[SL_OB_BOUNCED] = "bounced",
};

const char *sl_ob_state_name(enum sl_ob_state st)
{
	if (st < SL_OB_QUEUED || st > SL_OB_STATE_LAST)
		return "?";
	return state_names[st];
}

static int state_parse(const char *s)
{
	for (int i = SL_OB_QUEUED; i <= SL_OB_STATE_LAST; i++)
		if (!strcmp(s, state_names[i]))
			return i;
	return -EINVAL;
}

static void name_of(char *out, size_t size, const uint8_t *id,
		    const char *suffix, bool part)
{
	char hex[SL_CS_HEX_ID];

	sl_hex_encode(hex, id, SL_ENV_ID_LEN);
	snprintf(out, size, "%s%s%s%s", part ? "." : "", hex, suffix,
		 part ? PART : "");
}

/* ---- Records ------------------------------------------------------------- */

static int save(struct sl_outbox *ob, const struct sl_ob_item *it)
{
	struct sl_cs_rec *r = malloc(sizeof(*r));
	char name[64];
	int ret;

	if (!r)
		return -ENOMEM;
	sl_cs_rec_init(r, SL_OB_MAGIC);
	sl_cs_put(r, "id", it->hex);
	sl_cs_put(r, "to", it->to);
	sl_cs_put(r, "via", it->via);
	sl_cs_putf(r, "queued", "%" PRId64, it->queued);
	sl_cs_put_u64(r, "size", it->size);
	sl_cs_put_u64(r, "chunks", it->chunks);
	sl_cs_put_hex(r, "sha256", it->sha256, SL_ENV_HASH_LEN);
	sl_cs_put_u64(r, "files", it->files);
	sl_cs_put_u64(r, "content_bytes", it->content_bytes);
	sl_cs_put(r, "state", sl_ob_state_name(it->state));
	sl_cs_put_u64(r, "attempts", it->attempts);
	sl_cs_putf(r, "next_try", "%" PRId64, it->next_try);
	sl_cs_putf(r, "last_try", "%" PRId64, it->last_try);
	sl_cs_put_u64(r, "acked", it->acked);
	sl_cs_put_u64(r, "wire_bytes", it->wire_bytes);
	sl_cs_put_u64(r, "reason", it->reason);
	sl_cs_put(r, "detail", it->detail);
	sl_cs_putf(r, "finished", "%" PRId64, it->finished);
	sl_cs_put(r, "logged", it->logged ? "yes" : "no");
	sl_cs_put_u64(r, "uid", it->uid);
	if (!strcmp(it->via, SL_OB_VIA_TSP)) {
		sl_cs_putf(r, "deliver_after", "%" PRId64, it->deliver_after_ms);
		sl_cs_putf(r, "deliver_window", "%" PRId32, it->deliver_window);
	}
	name_of(name, sizeof(name), it->id, STATE_SUFFIX, false);
	ret = sl_cs_rec_write(ob->dirfd, name, r);
	free(r);
	return ret;
}

static int get_i64(const struct sl_cs_rec *r, const char *key, int64_t *v)
{
	const char *s = sl_cs_get(r, key);
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int load(struct sl_outbox *ob, const uint8_t id[SL_ENV_ID_LEN],
		struct sl_ob_item *it)
{
	struct sl_cs_rec *r = malloc(sizeof(*r));
	uint64_t reason = 0, uid = 0, attempts = 0;
	const char *s;
	char name[64];
	int ret, st;

	if (!r)
		return -ENOMEM;
	memset(it, 0, sizeof(*it));
	name_of(name, sizeof(name), id, STATE_SUFFIX, false);
	ret = sl_cs_rec_read(ob->dirfd, name, SL_OB_MAGIC, r);
	if (ret)
		goto out;
	ret = -EINVAL;
	memcpy(it->id, id, SL_ENV_ID_LEN);
	sl_hex_encode(it->hex, id, SL_ENV_ID_LEN);
	s = sl_cs_get(r, "id");
	if (!s || strcmp(s, it->hex))
		goto out;
	s = sl_cs_get(r, "to");
	if (!s || !sl_account_valid(s))
		goto out;
	snprintf(it->to, sizeof(it->to), "%s", s);
	s = sl_cs_get(r, "via");
	if (!s || strlen(s) >= sizeof(it->via))
		goto out;
	snprintf(it->via, sizeof(it->via), "%s", s);
	s = sl_cs_get(r, "state");
	st = s ? state_parse(s) : -EINVAL;
	if (st < 0)
		goto out;
	it->state = (enum sl_ob_state)st;
	s = sl_cs_get(r, "detail");
	snprintf(it->detail, sizeof(it->detail), "%s", s ? s : "");
	s = sl_cs_get(r, "logged");
	it->logged = s && !strcmp(s, "yes");
	if (get_i64(r, "queued", &it->queued) ||
	    sl_cs_get_u64(r, "size", &it->size) ||
	    sl_cs_get_u64(r, "chunks", &it->chunks) ||
	    sl_cs_get_hex(r, "sha256", it->sha256, SL_ENV_HASH_LEN) ||
	    sl_cs_get_u64(r, "files", &it->files) ||
	    sl_cs_get_u64(r, "content_bytes", &it->content_bytes) ||
	    sl_cs_get_u64(r, "attempts", &attempts) ||
	    get_i64(r, "next_try", &it->next_try) ||
	    get_i64(r, "last_try", &it->last_try) ||
	    sl_cs_get_u64(r, "acked", &it->acked) ||
	    sl_cs_get_u64(r, "wire_bytes", &it->wire_bytes) ||
	    sl_cs_get_u64(r, "reason", &reason) ||
	    get_i64(r, "finished", &it->finished) ||
	    sl_cs_get_u64(r, "uid", &uid) || reason > 255 ||
	    attempts > UINT32_MAX)
		goto out;
	it->attempts = (uint32_t)attempts;
	it->reason = (uint8_t)reason;
	it->uid = (uid_t)uid;
	it->deliver_window = -1;
	if (sl_cs_get(r, "deliver_after") &&
	    get_i64(r, "deliver_after", &it->deliver_after_ms))
		goto out;
	if (sl_cs_get(r, "deliver_window")) {
		int64_t w;

		if (get_i64(r, "deliver_window", &w) || w < -1 ||
		    w >= 1440 * 1440)
			goto out;
		it->deliver_window = (int32_t)w;
	}
	ret = 0;
out:
	free(r);
	return ret;
}

/* ---- The send log ----------------------------------------------------------- */

static void reason_token(char *out, size_t size, uint8_t reason)
{
	const char *n = sl_env_reason_name((enum sl_env_reason)reason);
	size_t i;

	for (i = 0; n[i] && i + 1 < size; i++)
		out[i] = (char)tolower((unsigned char)n[i]);
	out[i] = 0;
}

/* The list's entries as "names": name, type, size; cut to fit. */
static void add_names(struct sl_jb *j, char *list)
{
	bool cut = false;
	char *save = NULL;

	sl_jb_open(j, "names", '[');
	for (char *line = strtok_r(list, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char type, *name;
		unsigned int mode;
		uint64_t size;
		int64_t mtime;
		int used = 0;

		if (sscanf(line, "%c %o %" SCNu64 " %" SCNd64 " %n", &type,
			   &mode, &size, &mtime, &used) != 4 || !used)
			continue;
		name = line + used;
		if (sl_ipc_unescape(name))
			continue;
		if (sl_jb_room(j) < strlen(name) * 6 + 256) {
			cut = true;
			break;
		}
		sl_jb_open(j, NULL, '{');
		sl_jb_str(j, "name", name);
		sl_jb_str(j, "type", type == 'd' ? "directory" :
			  type == 'l' ? "symlink" : "file");
		sl_jb_u64(j, "size", size);
		sl_jb_close(j, '}');
	}
	sl_jb_close(j, ']');
	sl_jb_key(j, "names_complete");
	sl_jb_raw(j, cut ? "false" : "true");
}

static int log_final(struct sl_outbox *ob, struct sl_ob_item *it)
{
	const char *outcome = sl_ob_state_name(it->state);
	char tok[32], rcpt[SL_RCPT_MAX_LEN + 1];
	char *list = NULL;
	struct sl_jb j;
	ssize_t n;
	int ret;

	if (!ob->log || it->logged)
		return 0;
	if (sl_clog_has(ob->log, it->hex, outcome))
		goto logged;
	sl_jb_init(&j, SL_CS_LOG_RECORD_MAX);
	sl_jb_open(&j, NULL, '{');
	sl_jb_time(&j, "time", it->finished);
	sl_jb_str(&j, "id", it->hex);
	sl_jb_str(&j, "peer", it->to);
	sl_jb_str(&j, "outcome", outcome);
	if (it->state == SL_OB_REFUSED) {
		reason_token(tok, sizeof(tok), it->reason);
		sl_jb_str(&j, "reason", tok);
	} else {
		sl_jb_str_or_null(&j, "reason", NULL);
	}
	sl_jb_str_or_null(&j, "detail", it->detail);
	sl_jb_time(&j, "queued", it->queued);
	sl_jb_str(&j, "via", it->via);
	sl_jb_u64(&j, "attempts", it->attempts);
	sl_jb_u64(&j, "size", it->size);
	sl_jb_u64(&j, "wire_bytes", it->wire_bytes);
	sl_jb_u64(&j, "files", it->files);
	sl_jb_u64(&j, "content_bytes", it->content_bytes);
	n = it->state == SL_OB_DELIVERED ?
	    sl_outbox_read_receipt(ob, it, rcpt, sizeof(rcpt)) : -ENOENT;
	if (n > 0) {
		rcpt[n] = 0;
		sl_jb_str(&j, "receipt", rcpt);
	} else {
		sl_jb_str_or_null(&j, "receipt", NULL);
	}
	if (sl_outbox_read_list(ob, it, &list) >= 0) {
		add_names(&j, list);
		free(list);
	}
	sl_jb_close(&j, '}');
	if (j.overflow) {
		sl_jb_free(&j);
		return -EOVERFLOW;
	}
	ret = sl_clog_append(ob->log, j.buf, j.len);
	sl_jb_free(&j);
	if (ret)
		return ret;
	SL_CS_CRASH_POINT("outbox: logged, record not updated");
logged:
	it->logged = true;
	return save(ob, it);
}

/* ---- Open and recovery ----------------------------------------------------- */

static struct sl_ob_item *append(struct sl_outbox *ob)
{
	if (ob->n == ob->cap) {
		size_t cap = ob->cap ? 2 * ob->cap : 16;
		struct sl_ob_item *p = realloc(ob->items, cap * sizeof(*p));

		if (!p)
			return NULL;
		ob->items = p;
		ob->cap = cap;
	}
	return &ob->items[ob->n++];
}

static bool exists(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* What a crash left between the steps of delivery or cancellation. */
static int finish_recovery(struct sl_outbox *ob, struct sl_ob_item *it)
{
	char name[64];
	int ret;

	if (it->state == SL_OB_SENDING)
		it->state = SL_OB_QUEUED;
	if (!sl_ob_final(it->state))
		return 0;
	ret = log_final(ob, it);
	if (ret)
		return ret;
	if (it->state == SL_OB_DELIVERED || it->state == SL_OB_CANCELLED) {
		name_of(name, sizeof(name), it->id, ENV_SUFFIX, false);
		ret = sl_cs_remove(ob->dirfd, name);
	}
	return ret;
}

int sl_outbox_open(struct sl_outbox *ob, const char *dir, struct sl_clog *log,
		   char *err, size_t err_len)
{
	struct dirent *de;
	uint8_t id[SL_ENV_ID_LEN];
	char name[64];
	DIR *d;
	int fd, ret = 0;

	memset(ob, 0, sizeof(*ob));
	ob->log = log;
	snprintf(ob->dir, sizeof(ob->dir), "%s", dir);
	ob->dirfd = sl_cs_dir_open(dir, err, err_len);
	if (ob->dirfd < 0)
		return ob->dirfd;
	sl_cs_sweep_tmp(ob->dirfd);
	fd = sl_cs_reopen(ob->dirfd);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		ret = -errno;
		if (fd >= 0)
			close(fd);
		sl_outbox_close(ob);
		return sl_errf(err, err_len, ret, "%s: %s", dir, strerror(-ret));
	}
	while ((de = readdir(d))) {
		const char *n = de->d_name;

		if (n[0] == '.' && strstr(n, PART)) {
			/* sealing that never completed */
			unlinkat(ob->dirfd, n, 0);
			continue;
		}
		if (sl_cs_parse_name(n, ENV_SUFFIX, id) ||
		    sl_cs_parse_name(n, LIST_SUFFIX, id) ||
		    sl_cs_parse_name(n, RCPT_SUFFIX, id) ||
		    sl_cs_parse_name(n, ACC_SUFFIX, id) ||
		    sl_cs_parse_name(n, NOTICE_SUFFIX, id)) {
			name_of(name, sizeof(name), id, STATE_SUFFIX, false);
			if (!exists(ob->dirfd, name))
				unlinkat(ob->dirfd, n, 0);	/* not committed */
			continue;
		}
		if (sl_cs_parse_name(n, STATE_SUFFIX, id)) {
			struct sl_ob_item *it = append(ob);

			if (!it) {
				ret = -ENOMEM;
				break;
			}
			ret = load(ob, id, it);
			if (ret) {
				sl_log(LOG_ERR, "outbox %s: %s: unreadable record (%s): left alone",
				       dir, n, strerror(-ret));
				ob->n--;
				ret = 0;
			}
		}
	}
	closedir(d);
	fsync(ob->dirfd);
	for (size_t i = 0; !ret && i < ob->n; i++) {
		ret = finish_recovery(ob, &ob->items[i]);
		if (ret == -ECANCELED)
			break;
		if (ret) {
			sl_log(LOG_ERR, "outbox %s: envelope %s: %s", dir,
			       ob->items[i].hex, strerror(-ret));
			ret = 0;
		}
	}
	if (ret) {
		sl_outbox_close(ob);
		return sl_errf(err, err_len, ret, "%s: %s", dir, strerror(-ret));
	}
	return 0;
}

void sl_outbox_close(struct sl_outbox *ob)
{
	if (ob->dirfd >= 0)
		close(ob->dirfd);
	ob->dirfd = -1;
	free(ob->items);
	ob->items = NULL;
	ob->n = ob->cap = 0;
}

/* ---- Look-ups ----------------------------------------------------------- */

struct sl_ob_item *sl_outbox_get(struct sl_outbox *ob,
				 const uint8_t id[SL_ENV_ID_LEN])
{
	for (size_t i = 0; i < ob->n; i++)
		if (!memcmp(ob->items[i].id, id, SL_ENV_ID_LEN))
			return &ob->items[i];
	return NULL;
}

struct sl_ob_item *sl_outbox_find(struct sl_outbox *ob, const char *hex,
				  bool *ambiguous)
{
	struct sl_ob_item *found = NULL;
	size_t n = strlen(hex);
	char low[SL_CS_HEX_ID];

	*ambiguous = false;
	if (n < 4 || n > 2 * SL_ENV_ID_LEN)
		return NULL;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)hex[i]);
	for (size_t i = 0; i < ob->n; i++) {
		if (strncmp(ob->items[i].hex, low, n))
			continue;
		if (found) {
			*ambiguous = true;
			return NULL;
		}
		found = &ob->items[i];
	}
	return found;
}

/* ---- Creation -------------------------------------------------------------- */

int sl_outbox_create(struct sl_outbox *ob, const uint8_t id[SL_ENV_ID_LEN])
{
	char name[64];
	int fd;

	name_of(name, sizeof(name), id, ENV_SUFFIX, true);
	fd = openat(ob->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	return fd < 0 ? -errno : fd;
}

void sl_outbox_abandon(struct sl_outbox *ob, const uint8_t id[SL_ENV_ID_LEN],
		       int env_fd)
{
	char name[64];

	if (env_fd >= 0)
		close(env_fd);
	name_of(name, sizeof(name), id, ENV_SUFFIX, true);
	unlinkat(ob->dirfd, name, 0);
	name_of(name, sizeof(name), id, LIST_SUFFIX, true);
	unlinkat(ob->dirfd, name, 0);
}

int sl_outbox_add(struct sl_outbox *ob, const struct sl_ob_item *item,
		  int env_fd, const char *list, size_t list_len,
		  struct sl_ob_item **out)
{
	char from[64], to[64];
	struct sl_ob_item *it;
	int fd, ret;

	*out = NULL;
	if (sl_outbox_get(ob, item->id))
		return -EEXIST;
	if (fsync(env_fd) < 0)
		return -errno;
	SL_CS_CRASH_POINT("outbox: envelope written");
	name_of(from, sizeof(from), item->id, LIST_SUFFIX, true);
	fd = openat(ob->dirfd, from, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
		    O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	ret = sl_write_all(fd, list, list_len);
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	if (ret)
		return ret;
	SL_CS_CRASH_POINT("outbox: list written");
	name_of(to, sizeof(to), item->id, LIST_SUFFIX, false);
	if (renameat(ob->dirfd, from, ob->dirfd, to) < 0)
		return -errno;
	name_of(from, sizeof(from), item->id, ENV_SUFFIX, true);
	name_of(to, sizeof(to), item->id, ENV_SUFFIX, false);
	if (renameat(ob->dirfd, from, ob->dirfd, to) < 0)
		return -errno;
	if (fsync(ob->dirfd) < 0)
		return -errno;
	SL_CS_CRASH_POINT("outbox: renamed, no record");
	it = append(ob);
	if (!it)
		return -ENOMEM;
	*it = *item;
	sl_hex_encode(it->hex, it->id, SL_ENV_ID_LEN);
	it->state = SL_OB_QUEUED;
	it->logged = false;
	ret = save(ob, it);
	if (ret) {
		ob->n--;
		return ret;
	}
	*out = it;
	return 0;
}

/* ---- Reading ------------------------------------------------------------------ */

int sl_outbox_open_env(struct sl_outbox *ob, const struct sl_ob_item *it)
{
	char name[64];
	int fd;

	name_of(name, sizeof(name), it->id, ENV_SUFFIX, false);
	fd = openat(ob->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	return fd < 0 ? -errno : fd;
}

ssize_t sl_outbox_read_list(struct sl_outbox *ob, const struct sl_ob_item *it,
			    char **out)
{
	char name[64];
	struct stat st;
	ssize_t n;
	char *buf;
	int fd;

	*out = NULL;
	name_of(name, sizeof(name), it->id, LIST_SUFFIX, false);
	fd = openat(ob->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || st.st_size > 64 << 20) {
		close(fd);
		return -EFBIG;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = sl_read_full(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n < 0) {
		free(buf);
		return n;
	}
	buf[n] = 0;
	*out = buf;
	return n;
}

/* A text kept with the envelope (receipt, acceptance, notice). */
static ssize_t read_text(struct sl_outbox *ob, const struct sl_ob_item *it,
			 const char *suffix, char *buf, size_t size)
{
	char name[64];

	name_of(name, sizeof(name), it->id, suffix, false);
	return sl_cs_read_file(ob->dirfd, name, buf, size);
}

ssize_t sl_outbox_read_receipt(struct sl_outbox *ob,
			       const struct sl_ob_item *it, char *buf,
			       size_t size)
{
	return read_text(ob, it, RCPT_SUFFIX, buf, size);
}

ssize_t sl_outbox_read_acceptance(struct sl_outbox *ob,
				  const struct sl_ob_item *it, char *buf,
				  size_t size)
{
	return read_text(ob, it, ACC_SUFFIX, buf, size);
}

ssize_t sl_outbox_read_notice(struct sl_outbox *ob,
			      const struct sl_ob_item *it, char *buf,
			      size_t size)
{
	return read_text(ob, it, NOTICE_SUFFIX, buf, size);
}

/* ---- T's signing key ---------------------------------------------------------- */

static void tsp_key_name(char *out, size_t size, const uint8_t tsp_pub[32])
{
	char hex[17];

	sl_hex_encode(hex, tsp_pub, 8);
	snprintf(out, size, "tsp-%s.sign", hex);
}

int sl_outbox_tsp_key(struct sl_outbox *ob, const uint8_t tsp_pub[32],
		      uint8_t key[32])
{
	char name[64], text[80];
	ssize_t n;

	tsp_key_name(name, sizeof(name), tsp_pub);
	n = sl_cs_read_file(ob->dirfd, name, text, sizeof(text));
	if (n < 0)
		return (int)n;
	if (n != 65 || text[64] != '\n' || sl_hex_decode(key, 32, text, 64))
		return -EINVAL;
	return 0;
}

int sl_outbox_pin_tsp_key(struct sl_outbox *ob, const uint8_t tsp_pub[32],
			  const uint8_t key[32])
{
	char name[64], text[66];

	tsp_key_name(name, sizeof(name), tsp_pub);
	sl_hex_encode(text, key, 32);
	text[64] = '\n';
	text[65] = 0;
	return sl_cs_write_file(ob->dirfd, name, text, 65);
}

/* ---- Changes ---------------------------------------------------------------- */

int sl_outbox_save(struct sl_outbox *ob, struct sl_ob_item *it)
{
	return save(ob, it);
}

int sl_outbox_delivered(struct sl_outbox *ob, struct sl_ob_item *it,
			const char *receipt, size_t len, int64_t now)
{
	char name[64];
	int ret;

	name_of(name, sizeof(name), it->id, RCPT_SUFFIX, false);
	ret = sl_cs_write_file(ob->dirfd, name, receipt, len);
	if (ret)
		return ret;
	SL_CS_CRASH_POINT("outbox: receipt written");
	it->state = SL_OB_DELIVERED;
	it->finished = now;
	it->logged = false;
	it->reason = 0;
	it->detail[0] = 0;
	ret = save(ob, it);
	if (ret)
		return ret;
	SL_CS_CRASH_POINT("outbox: delivered, not logged");
	ret = log_final(ob, it);
	if (ret)
		return ret;
	SL_CS_CRASH_POINT("outbox: logged, envelope still there");
	name_of(name, sizeof(name), it->id, ENV_SUFFIX, false);
	return sl_cs_remove(ob->dirfd, name);
}

int sl_outbox_finish(struct sl_outbox *ob, struct sl_ob_item *it,
		     enum sl_ob_state st, uint8_t reason, const char *detail,
		     int64_t now)
{
	char name[64];
	int ret;

	if (!sl_ob_final(st) || st == SL_OB_DELIVERED)
		return -EINVAL;
	it->state = st;
	it->reason = st == SL_OB_REFUSED ? reason : 0;
	snprintf(it->detail, sizeof(it->detail), "%s", detail ? detail : "");
	it->finished = now;
	it->logged = false;
	ret = save(ob, it);
	if (ret)
		return ret;
	SL_CS_CRASH_POINT("outbox: final, not logged");
	ret = log_final(ob, it);
	if (ret)
		return ret;
	if (st != SL_OB_CANCELLED)
		return 0;
	SL_CS_CRASH_POINT("outbox: cancelled, envelope still there");
	name_of(name, sizeof(name), it->id, ENV_SUFFIX, false);
	return sl_cs_remove(ob->dirfd, name);
}

int sl_outbox_held(struct sl_outbox *ob, struct sl_ob_item *it,
		   const char *acceptance, size_t len)
{
	char name[64];
	int ret;

	name_of(name, sizeof(name), it->id, ACC_SUFFIX, false);
	ret = sl_cs_write_file(ob->dirfd, name, acceptance, len);
	if (ret)
		return ret;
	SL_CS_CRASH_POINT("outbox: acceptance written");
	it->state = SL_OB_HELD;
	it->reason = 0;
	it->detail[0] = 0;
	it->next_try = 0;
	return save(ob, it);
}

int sl_outbox_undelivered(struct sl_outbox *ob, struct sl_ob_item *it,
			  enum sl_ob_state st, const char *detail,
			  const char *notice, size_t len, int64_t now)
{
	char name[64];
	int ret;

	if (st != SL_OB_EXPIRED && st != SL_OB_BOUNCED)
		return -EINVAL;
	name_of(name, sizeof(name), it->id, NOTICE_SUFFIX, false);
	ret = sl_cs_write_file(ob->dirfd, name, notice, len);
	if (ret)
		return ret;
	SL_CS_CRASH_POINT("outbox: notice written");
	return sl_outbox_finish(ob, it, st, 0, detail, now);
}

int sl_outbox_retry(struct sl_outbox *ob, struct sl_ob_item *it, int64_t now)
{
	char name[64];

	if (it->state != SL_OB_REFUSED && it->state != SL_OB_FAILED &&
	    it->state != SL_OB_EXPIRED && it->state != SL_OB_BOUNCED)
		return -EINVAL;
	name_of(name, sizeof(name), it->id, ENV_SUFFIX, false);
	if (!exists(ob->dirfd, name))
		return -ENOENT;
	it->state = SL_OB_QUEUED;
	it->attempts = 0;
	it->next_try = now;
	it->reason = 0;
	it->detail[0] = 0;
	it->finished = 0;
	it->logged = false;
	return save(ob, it);
}

unsigned int sl_outbox_prune(struct sl_outbox *ob, int64_t now, int64_t keep_s)
{
	static const char *const suffixes[] = {
		ENV_SUFFIX, LIST_SUFFIX, RCPT_SUFFIX, ACC_SUFFIX,
		NOTICE_SUFFIX, STATE_SUFFIX,
	};
	unsigned int pruned = 0;
	size_t k = 0;

	for (size_t i = 0; i < ob->n; i++) {
		struct sl_ob_item *it = &ob->items[i];
		char name[64];

		if (!sl_ob_final(it->state) || !it->logged ||
		    now - it->finished < keep_s) {
			ob->items[k++] = *it;
			continue;
		}
		/* the record last: until it goes, the rest is found again */
		for (size_t s = 0; s < sizeof(suffixes) / sizeof(suffixes[0]); s++) {
			name_of(name, sizeof(name), it->id, suffixes[s], false);
			unlinkat(ob->dirfd, name, 0);
		}
		pruned++;
	}
	ob->n = k;
	if (pruned)
		fsync(ob->dirfd);
	return pruned;
}
