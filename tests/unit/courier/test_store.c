// SPDX-License-Identifier: GPL-2.0
/*
 * The courier's durable stores in sealined (agent/sealined/outbox.c,
 * spool.c, cstore.c) with a "crash" injected at every point between two
 * durable steps (sl_cs_crash_hook): after each, the store is opened again
 * as a restarted daemon would, and must show a state the design allows:
 *
 *   outbox  an envelope exists whole (record, envelope, list) or not at
 *           all; a delivery is either not done (the envelope still there,
 *           queued) or done (receipt, record, log record exactly once,
 *           envelope gone); a refusal or cancellation likewise;
 *   spool   an envelope is in the inbox whole or not at all; its receipt
 *           is stored (and so can be given) exactly when it is in the
 *           inbox; the receive log has its record once; nothing is left
 *           in staging; an uncommitted envelope stays in the spool and is
 *           unpacked again.
 *
 * And the spool's resume: chunks verified again at an offer, a torn tail
 * cut, another envelope's leftovers replaced.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "crypto.h"
#include "cstore.h"
#include "agent_test.h"
#include "hex.h"
#include "courier_test.h"
#include "outbox.h"
#include "receipt.h"
#include "sign.h"
#include "spool.h"

static int crash_at, crash_seen;
static const char *crashed_step;

static int crash_hook(const char *step)
{
	if (++crash_seen == crash_at) {
		crashed_step = step;
		return 1;
	}
	return 0;
}

static void arm(int k)
{
	crash_at = k;
	crash_seen = 0;
	crashed_step = NULL;
	sl_cs_crash_hook = crash_hook;
}

static void disarm(void)
{
	sl_cs_crash_hook = NULL;
}

/* Records of the log about envelope hex (or holding what, if not a
 * 32-digit id). */
static int log_count(const char *path, const char *what)
{
	size_t len;
	uint8_t *buf = read_file(path, &len);
	char key[80];
	int n = 0;

	if (!buf)
		return 0;
	buf[len] = 0;
	if (strlen(what) == 32)
		snprintf(key, sizeof(key), "\"id\": \"%s\"", what);
	else
		snprintf(key, sizeof(key), "%s", what);
	for (char *p = (char *)buf; (p = strstr(p, key)); p++)
		n++;
	free(buf);
	return n;
}

static bool file_exists(const char *dir, const char *hex, const char *suffix)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s%s", dir, hex, suffix);
	return stat(path, &st) == 0;
}

/* ---- Outbox ------------------------------------------------------------------ */

struct obox {
	char dir[256], logpath[PATH_MAX];
	struct sl_clog log;
	struct sl_outbox ob;
};

static void ob_open(struct obox *b)
{
	char err[256];

	CHECKF(!sl_clog_open(&b->log, b->logpath, err, sizeof(err)), "%s", err);
	CHECKF(!sl_outbox_open(&b->ob, b->dir, &b->log, err, sizeof(err)),
	       "%s", err);
}

static void ob_close(struct obox *b)
{
	sl_outbox_close(&b->ob);
	sl_clog_close(&b->log);
}

/* A queued envelope of a few bytes; 0 or what add returned. */
static int ob_add(struct obox *b, uint8_t id[16])
{
	struct sl_ob_item proto = { 0 }, *it;
	static const char list[] = "f 644 5 1700000000 hello%20world\n";
	int fd, ret;

	check_fill_random(id, 16);
	memcpy(proto.id, id, 16);
	snprintf(proto.to, sizeof(proto.to), "%s", RECIPIENT_ACCOUNT);
	snprintf(proto.via, sizeof(proto.via), "auto");
	proto.size = 400;
	proto.chunks = 1;
	proto.files = 1;
	proto.content_bytes = 5;
	proto.queued = 1700000000;
	fd = sl_outbox_create(&b->ob, id);
	if (!CHECK(fd >= 0))
		return fd;
	if (write(fd, "x", 1) != 1)
		abort();
	ret = sl_outbox_add(&b->ob, &proto, fd, list, sizeof(list) - 1, &it);
	close(fd);
	return ret;
}

TEST(outbox_create_crash_points)
{
	struct obox b;
	uint8_t id[16];
	int k, ret;

	scratch_dir(b.dir, sizeof(b.dir), "outbox");
	snprintf(b.logpath, sizeof(b.logpath), "%s.log", b.dir);
	for (k = 1; k < 20; k++) {
		struct sl_ob_item *it;
		char hex[33];

		ob_open(&b);
		arm(k);
		ret = ob_add(&b, id);
		disarm();
		ob_close(&b);
		ob_open(&b);
		sl_hex_encode(hex, id, 16);
		it = sl_outbox_get(&b.ob, id);
		if (ret == -ECANCELED) {
			CHECKF(!it && !file_exists(b.dir, hex, ".env") &&
			       !file_exists(b.dir, hex, ".files") &&
			       count_entries(b.dir) == (int)b.ob.n * 3,
			       "crash at '%s' left something", crashed_step);
		} else {
			CHECK_EQ(ret, 0);
			CHECK(it && it->state == SL_OB_QUEUED);
			CHECK(file_exists(b.dir, hex, ".env"));
			CHECK(file_exists(b.dir, hex, ".files"));
			ob_close(&b);
			break;
		}
		ob_close(&b);
	}
	CHECKF(k >= 4, "only %d crash points", k - 1);
	rm_rf(b.dir);
	unlink(b.logpath);
}

TEST(outbox_delivery_crash_points)
{
	struct obox b;
	uint8_t id[16];
	int k;

	scratch_dir(b.dir, sizeof(b.dir), "outbox");
	snprintf(b.logpath, sizeof(b.logpath), "%s.log", b.dir);
	for (k = 1; k < 20; k++) {
		static const char rcpt[] = "a receipt\n";
		struct sl_ob_item *it;
		char hex[33];
		int ret;

		ob_open(&b);
		CHECK_EQ(ob_add(&b, id), 0);
		sl_hex_encode(hex, id, 16);
		it = sl_outbox_get(&b.ob, id);
		it->state = SL_OB_SENDING;
		CHECK_EQ(sl_outbox_save(&b.ob, it), 0);
		arm(k);
		ret = sl_outbox_delivered(&b.ob, it, rcpt, sizeof(rcpt) - 1,
					  1700000100);
		disarm();
		ob_close(&b);
		ob_open(&b);
		it = sl_outbox_get(&b.ob, id);
		if (!CHECK(it))
			break;
		if (it->state == SL_OB_DELIVERED) {
			CHECKF(!file_exists(b.dir, hex, ".env"),
			       "crash at '%s': envelope kept", crashed_step);
			CHECK(file_exists(b.dir, hex, ".receipt"));
			CHECK(it->logged);
			CHECKF(log_count(b.logpath, hex) == 1,
			       "crash at '%s': %d log records", crashed_step,
			       log_count(b.logpath, hex));
		} else {
			/* Not delivered: to be sent again (the recipient
			 * answers with its stored receipt). */
			CHECK_EQ(it->state, SL_OB_QUEUED);
			CHECK(file_exists(b.dir, hex, ".env"));
			CHECK_EQ(log_count(b.logpath, hex), 0);
		}
		ob_close(&b);
		if (ret != -ECANCELED) {
			CHECK_EQ(ret, 0);
			break;
		}
	}
	CHECKF(k >= 5, "only %d crash points", k - 1);
	rm_rf(b.dir);
	unlink(b.logpath);
}

TEST(outbox_refuse_cancel_retry_prune)
{
	struct obox b;
	uint8_t id[16], id2[16];
	struct sl_ob_item *it;
	bool amb;
	char hex[33];

	scratch_dir(b.dir, sizeof(b.dir), "outbox");
	snprintf(b.logpath, sizeof(b.logpath), "%s.log", b.dir);
	ob_open(&b);
	CHECK_EQ(ob_add(&b, id), 0);
	CHECK_EQ(ob_add(&b, id2), 0);
	sl_hex_encode(hex, id, 16);
	it = sl_outbox_find(&b.ob, hex, &amb);
	CHECK(it && !amb);
	CHECK(!sl_outbox_find(&b.ob, "zz", &amb));
	/* Refused: the envelope stays, the log says why. */
	CHECK_EQ(sl_outbox_finish(&b.ob, it, SL_OB_REFUSED, SL_ENV_TOO_BIG,
				  "over 1 GiB", 1700000200), 0);
	CHECK(file_exists(b.dir, hex, ".env"));
	CHECK_EQ(log_count(b.logpath, hex), 1);
	CHECK(log_count(b.logpath, "\"reason\": \"too_big\"") == 1);
	/* Retry: queued again; cancel: the envelope goes. */
	CHECK_EQ(sl_outbox_retry(&b.ob, it, 1700000300), 0);
	CHECK_EQ(it->state, SL_OB_QUEUED);
	CHECK_EQ(sl_outbox_finish(&b.ob, it, SL_OB_CANCELLED, 0, "by the operator",
				  1700000400), 0);
	CHECK(!file_exists(b.dir, hex, ".env"));
	CHECK_EQ(sl_outbox_retry(&b.ob, it, 1700000500), -EINVAL);
	CHECK_EQ(log_count(b.logpath, hex), 2);
	/* Prune: final and old ones only. */
	CHECK_EQ(sl_outbox_prune(&b.ob, 1700000400 + 100, 1000), 0);
	CHECK_EQ(sl_outbox_prune(&b.ob, 1700000400 + 2000, 1000), 1);
	CHECK_EQ(b.ob.n, 1);
	CHECK(!file_exists(b.dir, hex, ".state"));
	ob_close(&b);
	ob_open(&b);
	CHECK_EQ(b.ob.n, 1);
	CHECK(sl_outbox_get(&b.ob, id2) != NULL);
	ob_close(&b);
	rm_rf(b.dir);
	unlink(b.logpath);
}

/*
 * Sent through the TSP: its schedule kept across a restart, held with the
 * acceptance, then the TSP's notice: bounced, the envelope kept for a
 * retry, the notice kept; a crash between the notice written and the
 * record leaves it held (the NOTE was not acknowledged: T sends it
 * again); and T's signing key pinned per TSP.
 */
TEST(outbox_via_tsp)
{
	static const char acc[] = "sealine-acceptance 1\n(the TSP's)\n";
	static const char notice[] = "sealine-notice 1\n(the TSP's)\n";
	uint8_t id[16], pub[32] = { 1 }, other[32] = { 2 }, key[32] = { 9 }, got[32];
	char hex[33], buf[128];
	struct sl_ob_item *it;
	struct obox b;

	scratch_dir(b.dir, sizeof(b.dir), "outbox-tsp");
	snprintf(b.logpath, sizeof(b.logpath), "%s.log", b.dir);
	ob_open(&b);
	CHECK_EQ(ob_add(&b, id), 0);
	sl_hex_encode(hex, id, 16);
	it = sl_outbox_get(&b.ob, id);
	snprintf(it->via, sizeof(it->via), SL_OB_VIA_TSP);
	it->deliver_after_ms = 0;
	it->deliver_window = 22 * 60 * 1440 + 6 * 60;
	CHECK_EQ(sl_outbox_save(&b.ob, it), 0);
	CHECK_EQ(sl_outbox_read_acceptance(&b.ob, it, buf, sizeof(buf)), -ENOENT);
	CHECK_EQ(sl_outbox_held(&b.ob, it, acc, sizeof(acc) - 1), 0);
	CHECK(!sl_ob_final(it->state));
	ob_close(&b);
	ob_open(&b);
	it = sl_outbox_get(&b.ob, id);
	if (!CHECK(it))
		goto out;
	CHECK_EQ(it->state, SL_OB_HELD);
	CHECK(!strcmp(it->via, "tsp"));
	CHECK_EQ(it->deliver_window, 22 * 60 * 1440 + 6 * 60);
	CHECK_EQ(sl_outbox_read_acceptance(&b.ob, it, buf, sizeof(buf)),
		 (ssize_t)sizeof(acc) - 1);
	CHECK(!memcmp(buf, acc, sizeof(acc) - 1));
	/* Crash after the notice was written: still held. */
	arm(1);
	CHECK_EQ(sl_outbox_undelivered(&b.ob, it, SL_OB_BOUNCED,
				       "NOT_AUTHORISED", notice,
				       sizeof(notice) - 1, 1700000600),
		 -ECANCELED);
	disarm();
	ob_close(&b);
	ob_open(&b);
	it = sl_outbox_get(&b.ob, id);
	if (!CHECK(it))
		goto out;
	CHECK_EQ(it->state, SL_OB_HELD);
	/* Again, whole: bounced, the envelope and notice kept. */
	CHECK_EQ(sl_outbox_undelivered(&b.ob, it, SL_OB_DELIVERED, "x", notice,
				       sizeof(notice) - 1, 1700000600), -EINVAL);
	CHECK_EQ(sl_outbox_undelivered(&b.ob, it, SL_OB_BOUNCED,
				       "NOT_AUTHORISED", notice,
				       sizeof(notice) - 1, 1700000600), 0);
	CHECK_EQ(it->state, SL_OB_BOUNCED);
	CHECK(sl_ob_final(it->state));
	CHECK(file_exists(b.dir, hex, ".env"));
	CHECK_EQ(sl_outbox_read_notice(&b.ob, it, buf, sizeof(buf)),
		 (ssize_t)sizeof(notice) - 1);
	CHECK(log_count(b.logpath, "\"outcome\": \"bounced\"") == 1);
	CHECK_EQ(sl_outbox_retry(&b.ob, it, 1700000700), 0);
	CHECK_EQ(it->state, SL_OB_QUEUED);
	/* T's key, pinned per TSP. */
	CHECK_EQ(sl_outbox_tsp_key(&b.ob, pub, got), -ENOENT);
	CHECK_EQ(sl_outbox_pin_tsp_key(&b.ob, pub, key), 0);
	CHECK_EQ(sl_outbox_tsp_key(&b.ob, pub, got), 0);
	CHECK(!memcmp(got, key, 32));
	CHECK_EQ(sl_outbox_tsp_key(&b.ob, other, got), -ENOENT);
out:
	ob_close(&b);
	rm_rf(b.dir);
	unlink(b.logpath);
}

/* ---- Spool -------------------------------------------------------------------- */

struct rbox {
	char top[256], logpath[PATH_MAX];
	struct sl_spool_dirs dirs;
	struct sl_clog log;
	struct sl_spool sp;
};

static void rb_open(struct rbox *r)
{
	char err[512];

	CHECKF(!sl_clog_open(&r->log, r->logpath, err, sizeof(err)), "%s", err);
	CHECKF(!sl_spool_open(&r->sp, &r->dirs, &r->log, err, sizeof(err)),
	       "%s", err);
}

static void rb_close(struct rbox *r)
{
	sl_spool_close(&r->sp);
	sl_clog_close(&r->log);
}

static void rb_init(struct rbox *r)
{
	scratch_dir(r->top, sizeof(r->top), "spool");
	snprintf(r->logpath, sizeof(r->logpath), "%s/received.log", r->top);
	snprintf(r->dirs.spool, PATH_MAX, "%s/spool", r->top);
	snprintf(r->dirs.staging, PATH_MAX, "%s/staging", r->top);
	snprintf(r->dirs.inbox, PATH_MAX, "%s/inbox", r->top);
	snprintf(r->dirs.receipts, PATH_MAX, "%s/receipts", r->top);
}

/* An envelope of a small tree, sealed sender -> recipient, in memory. */
static uint8_t *seal_tree(struct world *w, const char *top, size_t *len,
			  struct sl_env_sealed *out)
{
	char src[300], path[PATH_MAX], why[256];
	const char *paths[1] = { src };
	uint8_t big[3 * 65536];
	uint8_t *buf;
	int fd;

	snprintf(src, sizeof(src), "%s/tree", top);
	mkdir(src, 0755);
	snprintf(path, sizeof(path), "%s/a.txt", src);
	write_file(path, "hello\n", 6);
	snprintf(path, sizeof(path), "%s/big.bin", src);
	check_fill_random(big, sizeof(big));
	write_file(path, big, sizeof(big));
	fd = memfd_create("env", 0);
	if (fd < 0)
		abort();
	if (!CHECKF(!sl_env_seal(fd, &w->sender.self, &w->recipient_at_sender,
				 paths, 1, NULL, out, why, sizeof(why)),
		    "%s", why))
		abort();
	buf = malloc(out->bytes);
	if (pread(fd, buf, out->bytes, 0) != (ssize_t)out->bytes)
		abort();
	close(fd);
	*len = out->bytes;
	return buf;
}

/* Receives env into the spool (begin, every chunk verified and put);
 * via: how it came ("" or SL_SP_VIA_TSP). */
static void spool_in(struct rbox *r, struct world *w, const uint8_t *env,
		     size_t len, const char *via, struct sl_sp_item *it,
		     uint64_t upto)
{
	struct sl_env_opened o;
	struct sl_env_refusal why;
	uint8_t plain[SL_ENV_CHUNK_WIRE_LEN];
	uint64_t from;

	CHECK_EQ(sl_env_header_open(&o, env, len, &w->recipient.self,
				    find_peer, w, &why), SL_ENV_OK);
	memset(it, 0, sizeof(*it));
	memcpy(it->id, o.id, 16);
	snprintf(it->sender, sizeof(it->sender), "%s", o.sender);
	snprintf(it->via, sizeof(it->via), "%s", via);
	it->size = len;
	it->chunks = (len - SL_ENV_HEADER_LEN + SL_ENV_CHUNK_WIRE_LEN - 1) /
		     SL_ENV_CHUNK_WIRE_LEN;
	it->started = 1700000000;
	CHECK_EQ(sl_spool_begin(&r->sp, it, env, o.key, &from), 0);
	for (uint64_t i = from; i < it->chunks && i < upto; i++) {
		uint64_t off = sl_env_chunk_offset(i);
		size_t clen = i + 1 < it->chunks ? SL_ENV_CHUNK_WIRE_LEN :
			      (size_t)(len - off);
		bool last;

		CHECK_EQ(sl_env_chunk_open(plain, o.key, i, env + off, clen,
					   &last), 0);
		CHECK_EQ(sl_spool_put_chunk(&r->sp, it, i, env + off, clen), 0);
	}
	sl_env_opened_wipe(&o);
}

static bool delivered_cb(void *ctx, const uint8_t id[16])
{
	return sl_spool_delivered(ctx, id);
}

/* Unpack from the spool, sign, commit: what the daemon does. */
static enum sl_env_reason deliver(struct rbox *r, struct world *w,
				  struct sl_sp_item *it)
{
	struct sl_env_receive rx = {
		.me = &w->recipient.self, .find_peer = find_peer,
		.delivered = delivered_cb, .ctx = NULL,
	};
	struct sl_env_received got;
	struct sl_env_refusal why;
	struct sl_sign_key key;
	struct sl_rcpt rc;
	char text[SL_RCPT_MAX_LEN];
	enum sl_env_reason res;
	size_t tl;
	int fd;

	sl_env_limits_default(&rx.limits);
	rx.limits.min_free_bytes = 0;
	/* find_peer and delivered take different contexts: a small shim. */
	rx.ctx = w;
	rx.delivered = NULL;
	fd = sl_spool_open_env(&r->sp, it);
	CHECK(fd >= 0);
	res = sl_env_unpack(fd, r->sp.stagingfd, &rx, &got, &why);
	close(fd);
	if (res != SL_ENV_OK)
		return res;
	CHECK_EQ(sl_sign_key_derive(&key, w->recipient.priv, RECIPIENT_ACCOUNT), 0);
	sl_rcpt_from_received(&rc, &got, 1700000050);
	CHECK_EQ(sl_rcpt_sign(text, sizeof(text), &tl, &rc, &key, NULL, 0), 0);
	sl_sign_key_wipe(&key);
	return sl_spool_commit(&r->sp, it, &got, text, tl, &why);
}

TEST(spool_delivery_crash_points)
{
	struct world w;
	struct rbox r;
	struct sl_env_sealed sealed;
	uint8_t *env;
	size_t len;
	int k;

	world_init(&w);
	rb_init(&r);
	env = seal_tree(&w, r.top, &len, &sealed);
	CHECK(sealed.chunks >= 2);
	for (k = 1; k < 20; k++) {
		struct sl_sp_item it;
		enum sl_env_reason res;
		char hex[33];
		bool in_inbox;

		rb_open(&r);
		/* Every other round a held delivery from the TSP: how it
		 * came survives every crash point too. */
		spool_in(&r, &w, env, len, k % 2 ? SL_SP_VIA_TSP : "", &it,
			 UINT64_MAX);
		arm(k);
		res = deliver(&r, &w, &it);
		disarm();
		rb_close(&r);
		rb_open(&r);		/* the restart */
		sl_hex_encode(hex, it.id, 16);
		in_inbox = file_exists(r.dirs.inbox, hex, "");
		CHECKF(count_entries(r.dirs.staging) == 0,
		       "crash at '%s': staging not empty", crashed_step);
		CHECKF(in_inbox == sl_spool_delivered(&r.sp, it.id),
		       "crash at '%s': inbox %d, receipt %d", crashed_step,
		       in_inbox, sl_spool_delivered(&r.sp, it.id));
		CHECKF(log_count(r.logpath, hex) == (in_inbox ? 1 : 0),
		       "crash at '%s': %d log records", crashed_step,
		       log_count(r.logpath, hex));
		if (in_inbox) {
			CHECKF(count_entries(r.dirs.spool) == 0,
			       "crash at '%s': spool not emptied", crashed_step);
			CHECK_EQ(count_entries(r.dirs.inbox), 1);
			CHECKF(!strcmp(sl_spool_via(&r.sp, it.id),
				       k % 2 ? SL_SP_VIA_TSP : "line"),
			       "crash at '%s': via %s", crashed_step,
			       sl_spool_via(&r.sp, it.id));
			CHECK_EQ(log_count(r.logpath, k % 2 ? "\"via\": \"tsp\"" :
					   "\"via\": \"line\""), 1);
		} else {
			/* Still in the spool, whole: unpacked again. */
			struct sl_sp_item *items;
			size_t n;

			CHECK_EQ(sl_spool_list(&r.sp, &items, &n), 0);
			CHECKF(n == 1, "crash at '%s': %zu in the spool",
			       crashed_step, n);
			free(items);
			CHECK_EQ(deliver(&r, &w, &it), SL_ENV_OK);
			CHECK(sl_spool_delivered(&r.sp, it.id));
		}
		rb_close(&r);
		if (res == SL_ENV_OK && !crashed_step)
			break;
		/* Start the next round from nothing. */
		rm_rf(r.top);
		mkdir(r.top, 0700);
		env = (free(env), seal_tree(&w, r.top, &len, &sealed));
	}
	CHECKF(k >= 5, "only %d crash points", k - 1);
	free(env);
	rm_rf(r.top);
	world_free(&w);
}

TEST(spool_resume_and_replay)
{
	struct world w;
	struct rbox r;
	struct sl_env_sealed sealed;
	struct sl_sp_item it;
	struct sl_env_opened o;
	struct sl_env_refusal why;
	uint64_t from;
	char path[PATH_MAX + 64], rcpt[SL_RCPT_MAX_LEN + 1];
	uint8_t *env;
	size_t len;
	int fd;

	world_init(&w);
	rb_init(&r);
	env = seal_tree(&w, r.top, &len, &sealed);
	rb_open(&r);
	/* Two chunks in, then a torn third one. */
	spool_in(&r, &w, env, len, "", &it, 2);
	snprintf(path, sizeof(path), "%s/%s.env", r.dirs.spool, it.hex);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(fd >= 0 && write(fd, env + sl_env_chunk_offset(2), 1000) == 1000);
	close(fd);
	rb_close(&r);
	rb_open(&r);
	CHECK_EQ(sl_env_header_open(&o, env, len, &w.recipient.self, find_peer,
				    &w, &why), SL_ENV_OK);
	CHECK_EQ(sl_spool_begin(&r.sp, &it, env, o.key, &from), 0);
	CHECK_EQ(from, 2);
	CHECK_EQ(it.attempts, 2);
	/* A changed chunk in the spool is found, and cut. */
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, "X", 1, (off_t)sl_env_chunk_offset(1) + 9) == 1);
	close(fd);
	CHECK_EQ(sl_spool_begin(&r.sp, &it, env, o.key, &from), 0);
	CHECK_EQ(from, 1);
	sl_env_opened_wipe(&o);
	spool_in(&r, &w, env, len, "", &it, UINT64_MAX);
	CHECK_EQ(deliver(&r, &w, &it), SL_ENV_OK);
	/* Delivered: the receipt is there for a replay; delivered again
	 * (the inbox has it) is a REPLAY. */
	CHECK(sl_spool_receipt(&r.sp, it.id, rcpt, sizeof(rcpt)) > 0);
	CHECK(!strncmp(rcpt, "sealine-receipt 1\n", 18));
	spool_in(&r, &w, env, len, "", &it, UINT64_MAX);
	CHECK_EQ(deliver(&r, &w, &it), SL_ENV_REPLAY);
	CHECK_EQ(count_entries(r.dirs.staging), 0);
	CHECK_EQ(count_entries(r.dirs.inbox), 1);
	rb_close(&r);
	free(env);
	rm_rf(r.top);
	world_free(&w);
}

TEST(spool_refusal_logged)
{
	struct world w;
	struct rbox r;
	struct sl_env_refusal why = { .reason = SL_ENV_TOO_BIG };
	uint8_t id[16];

	world_init(&w);
	rb_init(&r);
	rb_open(&r);
	check_fill_random(id, 16);
	snprintf(why.detail, sizeof(why.detail), "1 GiB at most");
	CHECK_EQ(sl_spool_log_refusal(&r.sp, id, SENDER_ACCOUNT, 1 << 30, "",
				      &why, 1700000000), 0);
	CHECK_EQ(sl_spool_log_refusal(&r.sp, id, SENDER_ACCOUNT, 1 << 30,
				      SL_SP_VIA_TSP, &why, 1700000001), 0);
	CHECK_EQ(log_count(r.logpath, "\"reason\": \"too_big\""), 2);
	CHECK_EQ(log_count(r.logpath, "\"via\": \"line\""), 1);
	CHECK_EQ(log_count(r.logpath, "\"via\": \"tsp\""), 1);
	rb_close(&r);
	rm_rf(r.top);
	world_free(&w);
}

/* The logs' JSON goes through the one writer (lib/json.h): UTF-8 kept
 * (a name "Müller GmbH" came out as "M\u00c3\u00bcller GmbH"), controls
 * (C0, DEL, C1) escaped, a byte that is not UTF-8 U+FFFD, sizes numbers,
 * absent values null. */
TEST(log_json_text)
{
	static const char want[] =
		"{\"name\": \"M\xc3\xbcller GmbH/\xe6\x97\xa5"
		"\\u0001\\\"\\u007f\\u009b\\ufffd\", "
		"\"detail\": null, \"size\": 18446744073709551615}";
	struct sl_jb j;

	sl_jb_init(&j, 4096);
	sl_jb_open(&j, NULL, '{');
	sl_jb_str(&j, "name", "M\xc3\xbcller GmbH/\xe6\x97\xa5\x01\"\x7f\xc2\x9b\xff");
	sl_jb_str_or_null(&j, "detail", "");
	sl_jb_u64(&j, "size", UINT64_MAX);
	sl_jb_close(&j, '}');
	CHECK(!j.overflow);
	CHECKF(j.buf && !strcmp(j.buf, want), "got %s", j.buf ? j.buf : "(null)");
	sl_jb_free(&j);
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	init_or_die(0);
	RUN(outbox_create_crash_points);
	RUN(outbox_delivery_crash_points);
	RUN(outbox_refuse_cancel_retry_prune);
	RUN(outbox_via_tsp);
	RUN(spool_delivery_crash_points);
	RUN(spool_resume_and_replay);
	RUN(spool_refusal_logged);
	RUN(log_json_text);
	return check_summary();
}
