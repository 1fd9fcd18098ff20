// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * One line's courier: its channel keyed by the line's sessions (the hooks
 * of lines.h), the envelope it sends and the one it receives, sealed and
 * sent as COURIER control messages. See courier.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <gcrypt.h>

#include "courier_internal.h"
#include "crypto.h"
#include "dialer.h"
#include "fdio.h"
#include "hex.h"
#include "hs_driver.h"
#include "lines_internal.h"
#include "log.h"

static int64_t wall(void)
{
	return (int64_t)time(NULL);
}

/* ---- The line's courier state ------------------------------------------- */

struct sl_cline *sl_cline_get(struct sl_courier *c, struct sl_line *line)
{
	struct sl_cline *cl = line->courier;
	size_t slot = (size_t)(line - c->L->lines);

	if (cl)
		return cl;
	if (slot >= SL_CONF_MAX_LINES)
		return NULL;
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return NULL;
	cl->ch = sl_cchan_new();
	if (!cl->ch) {
		free(cl);
		return NULL;
	}
	cl->owner = c;
	cl->line = line;
	cl->env_fd = -1;
	line->courier = cl;
	c->clines[slot] = cl;
	return cl;
}

static void drop_rx(struct sl_cline *cl)
{
	sl_xrecv_free(cl->xr);
	cl->xr = NULL;
	if (cl->rx_key)
		sl_secure_free(cl->rx_key, SL_ENV_KEY_LEN);
	cl->rx_key = NULL;
	memset(&cl->rx_item, 0, sizeof(cl->rx_item));
	cl->rx_wire = 0;
}

void sl_cline_free(struct sl_cline *cl)
{
	if (!cl)
		return;
	sl_xsend_free(cl->xs);
	sl_xsend_free(cl->linger);
	if (cl->env_fd >= 0)
		close(cl->env_fd);
	drop_rx(cl);
	sl_cchan_free(cl->ch);
	free(cl);
}

static const char *tty_of(const struct sl_cline *cl)
{
	return sl_line_tty(cl->line);
}

/* ---- Sending messages ------------------------------------------------------ */

static int seal_send(struct sl_cline *cl, const uint8_t *plain, size_t n,
		     size_t *wire)
{
	struct sl_lines *L = cl->line->owner;
	uint8_t msg[SL_CCHAN_MAX_MSG];
	size_t len;
	int ret;

	ret = sl_cchan_seal(cl->ch, msg, &len, plain, n);
	if (ret)
		return ret;
	/* A held delivery's line has no discipline: the dialer frames. */
	ret = cl->held ? sl_dialer_leg_send(cl->line->dial, msg, len) :
	      L->kops->send_control(L->kctx, tty_of(cl), msg, len);
	*wire = len;
	return ret;
}

void sl_cline_pump(struct sl_courier *c, struct sl_cline *cl, int64_t now)
{
	uint8_t plain[SL_CCHAN_MAX_PLAIN];

	if (!sl_cchan_ready(cl->ch) ||
	    (!cl->held && cl->line->status != SL_LINE_REGISTERED))
		return;
	/* Bounded: the engines' windows stop them long before. */
	for (int guard = 0; guard < 64; guard++) {
		struct sl_xsend *xs = NULL;
		struct sl_xrecv *xr = NULL;
		size_t n = 0, wire = 0;
		int ret;

		if (cl->xr && (n = sl_xrecv_output(cl->xr, (uint64_t)now, plain)))
			xr = cl->xr;
		else if (cl->linger &&
			 (n = sl_xsend_output(cl->linger, (uint64_t)now, plain)))
			xs = cl->linger;
		else if (cl->xs && (n = sl_xsend_output(cl->xs, (uint64_t)now,
							plain)))
			xs = cl->xs;
		if (!n)
			break;
		ret = seal_send(cl, plain, n, &wire);
		if (ret) {
			if (ret != -ENOBUFS)
				sl_log(LOG_WARNING, "%s: courier message not sent: %s",
				       tty_of(cl), sl_nl_strerror(ret));
			if (xr)
				sl_xrecv_unsent(xr, (uint64_t)now);
			else
				sl_xsend_unsent(xs, (uint64_t)now);
			break;
		}
		if (xs == cl->xs)
			cl->xs_wire += wire;
		else if (xr)
			cl->rx_wire += wire;
	}
	sl_courier_sent(c, cl, now);
}

int64_t sl_cline_next_timer(const struct sl_cline *cl)
{
	int64_t t = 0, v;

#define TAKE(x)	do { v = (int64_t)(x); if (v && (!t || v < t)) t = v; } while (0)
	if (cl->xs)
		TAKE(sl_xsend_next_timer(cl->xs));
	if (cl->linger) {
		TAKE(sl_xsend_next_timer(cl->linger));
		TAKE(cl->linger_until);
	}
	if (cl->xr)
		TAKE(sl_xrecv_next_timer(cl->xr));
	if (cl->calling[0]) {
		TAKE(cl->call_deadline);
		if (cl->idle_since)
			TAKE(cl->idle_since + SL_COURIER_CALL_IDLE_MS);
	}
#undef TAKE
	return t;
}

/* ---- Sending an envelope ---------------------------------------------------- */

static int env_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct sl_cline *cl = ctx;
	ssize_t n = pread(cl->env_fd, buf, len, (off_t)off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int sl_cline_send(struct sl_courier *c, struct sl_cline *cl,
		  struct sl_ob_item *it, int64_t now)
{
	uint8_t header[SL_ENV_HEADER_LEN];
	struct sl_xsend_cfg cfg = { .read = env_read, .ctx = cl };
	int fd, ret;

	if (cl->xs)
		return -EBUSY;
	fd = sl_outbox_open_env(&c->ob, it);
	if (fd < 0)
		return fd;
	if (pread(fd, header, sizeof(header), 0) != (ssize_t)sizeof(header)) {
		close(fd);
		return -EIO;
	}
	gcry_randomize(&cfg.id, sizeof(cfg.id), GCRY_STRONG_RANDOM);
	cfg.id |= 1;
	cfg.size = it->size;
	cfg.header = header;
	cl->env_fd = fd;
	ret = sl_xsend_new(&cl->xs, &cfg, (uint64_t)now);
	if (ret) {
		close(fd);
		cl->env_fd = -1;
		return ret;
	}
	memcpy(cl->xs_id, it->id, SL_ENV_ID_LEN);
	cl->xs_wire = 0;
	cl->xs_progress_at = 0;
	cl->idle_since = 0;
	if (cl->calling[0])
		cl->call_transferred = true;
	sl_log(LOG_NOTICE, "%s: sending envelope %s to %s (%" PRIu64 " bytes, attempt %" PRIu32 ")",
	       tty_of(cl), it->hex, it->to, it->size, it->attempts);
	sl_cline_pump(c, cl, now);
	return 0;
}

bool sl_cline_withdraw(struct sl_courier *c, const uint8_t id[SL_ENV_ID_LEN],
		       int64_t now)
{
	for (unsigned int i = 0; i < c->L->n; i++) {
		struct sl_cline *cl = sl_courier_line(c, i);

		if (!cl || !cl->xs || memcmp(cl->xs_id, id, SL_ENV_ID_LEN))
			continue;
		sl_xsend_abort(cl->xs, SL_XFER_ABORT_CANCELLED, (uint64_t)now);
		sl_cline_pump(c, cl, now);
		return true;
	}
	return false;
}

/* ---- Receiving an envelope --------------------------------------------------- */

/* The recipient's look-up of the sender: the key store, by static key. */
static int find_peer(void *ctx, const uint8_t pub[SL_ENV_KEY_LEN],
		     struct sl_env_peer *peer)
{
	const struct sl_keystore *ks = ctx;

	for (size_t i = 0; i < ks->n_peers; i++) {
		const struct sl_peer *p = &ks->peers[i];

		if (!p->has_pub || !p->ltk || memcmp(p->pub, pub, SL_ENV_KEY_LEN))
			continue;
		memset(peer, 0, sizeof(*peer));
		snprintf(peer->account, sizeof(peer->account), "%s", p->account);
		memcpy(peer->pub, p->pub, SL_ENV_KEY_LEN);
		peer->ltk = p->ltk;
		peer->allowed = sl_ks_peer_allowed(p);
		return 0;
	}
	return -ENOENT;
}

static void refuse_offer(struct sl_courier *c, struct sl_cline *cl,
			 const uint8_t *id, const char *sender, uint64_t size,
			 enum sl_env_reason reason, const char *detail,
			 int64_t now)
{
	struct sl_env_refusal why = { .reason = reason };
	char hex[SL_CS_HEX_ID];

	snprintf(why.detail, sizeof(why.detail), "%s", detail);
	sl_hex_encode(hex, id, SL_ENV_ID_LEN);
	sl_log(LOG_NOTICE, "%s: envelope %s%s%s%s refused: %s (%s)", tty_of(cl),
	       hex, sender[0] ? " from " : "", sender,
	       cl->held ? " by way of the TSP" : "",
	       sl_env_reason_name(reason), detail);
	sl_spool_log_refusal(&c->sp, id, sender, size,
			     cl->held ? SL_SP_VIA_TSP : "", &why, wall());
	sl_xrecv_refuse(cl->xr, (uint8_t)reason, detail, (uint64_t)now);
}

/* Room on the spool's file system for size more bytes and the margin. */
static bool room_for(const char *dir, uint64_t size, uint64_t margin)
{
	struct statvfs v;

	if (statvfs(dir, &v))
		return true;		/* the write will tell */
	return (uint64_t)v.f_bavail * v.f_frsize >= size + margin;
}

/* An OFFER: the envelope's header opened, limits checked, resumed or
 * started in the spool, or refused; a replay gets its receipt. */
static void on_offer(struct sl_courier *c, struct sl_cline *cl,
		     const uint8_t *msg, size_t len, int64_t now)
{
	const struct sl_xrecv_offer *o;
	struct sl_env_self me = {
		.priv = c->ks->id.priv,
	};
	struct sl_env_opened op;
	struct sl_env_refusal why;
	enum sl_env_reason r;
	char rcpt[SL_RCPT_MAX_LEN + 1];
	const uint8_t *id;
	uint64_t from;
	ssize_t n;
	int ret;

	drop_rx(cl);
	ret = sl_xrecv_new(&cl->xr, msg, len, (uint64_t)now);
	if (ret == -EINVAL &&
	    !sl_xrecv_new_refused(&cl->xr, msg, len, SL_ENV_BAD_FORMAT,
				  "a malformed OFFER (its length, envelope size or piece size)",
				  (uint64_t)now)) {
		/* No sender of ours offers that: say so at once rather
		 * than let the other side wait for its timeout. */
		sl_log(LOG_NOTICE, "%s: a malformed courier OFFER refused",
		       tty_of(cl));
		return;
	}
	if (ret)
		return;
	o = sl_xrecv_offer(cl->xr);
	id = o->header + SL_ENV_CLEAR_LEN - SL_ENV_ID_LEN;
	snprintf(me.account, sizeof(me.account), "%s", c->ks->id.account);
	memcpy(me.pub, c->ks->id.pub, SL_ENV_KEY_LEN);

	n = sl_spool_receipt(&c->sp, id, rcpt, sizeof(rcpt));
	if (n > 0) {
		char hex[SL_CS_HEX_ID];

		sl_hex_encode(hex, id, SL_ENV_ID_LEN);
		sl_log(LOG_NOTICE, "%s: envelope %s was delivered before: its receipt again",
		       tty_of(cl), hex);
		sl_xrecv_result(cl->xr, 0, rcpt, (size_t)n, (uint64_t)now);
		return;
	}
	if (!c->conf.receive) {
		refuse_offer(c, cl, id, "", o->size, SL_ENV_NOT_AUTHORISED,
			     "this installation takes no envelopes ([courier] receive = no)",
			     now);
		return;
	}
	r = sl_env_header_open(&op, o->header, SL_ENV_HEADER_LEN, &me,
			       find_peer, c->ks, &why);
	if (r != SL_ENV_OK) {
		refuse_offer(c, cl, id, "", o->size, r, why.detail, now);
		return;
	}
	if (cl->held && strcmp(op.sender, cl->held_from)) {
		/* T named one sender at the offer and brings another's
		 * envelope: its word is all the offer had to go on. */
		snprintf(why.detail, sizeof(why.detail),
			 "sealed by %s, but the TSP announced a delivery from %s",
			 op.sender, cl->held_from);
		refuse_offer(c, cl, id, op.sender, o->size,
			     SL_ENV_NOT_AUTHORISED, why.detail, now);
		goto out;
	}
	if (o->size > c->limits.max_envelope_bytes) {
		snprintf(why.detail, sizeof(why.detail),
			 "%" PRIu64 " bytes, over the limit of %" PRIu64,
			 o->size, c->limits.max_envelope_bytes);
		refuse_offer(c, cl, id, op.sender, o->size, SL_ENV_TOO_BIG,
			     why.detail, now);
		goto out;
	}
	if (!room_for(c->conf.spool, o->size, c->limits.min_free_bytes)) {
		snprintf(why.detail, sizeof(why.detail),
			 "no room for %" PRIu64 " bytes with %" PRIu64 " kept free ([courier] min_free)",
			 o->size, c->limits.min_free_bytes);
		refuse_offer(c, cl, id, op.sender, o->size, SL_ENV_NO_SPACE,
			     why.detail, now);
		goto out;
	}
	if (sl_cline_receiving(c, id, cl)) {
		refuse_offer(c, cl, id, op.sender, o->size, SL_ENV_INTERNAL,
			     "it is being received on another line", now);
		goto out;
	}
	if (sl_courier_unpack_pending(c, id)) {
		/* Every chunk is in: RESULT once it is unpacked. */
		sl_xrecv_accept(cl->xr, o->chunks, (uint64_t)now);
		goto out;
	}
	memset(&cl->rx_item, 0, sizeof(cl->rx_item));
	memcpy(cl->rx_item.id, id, SL_ENV_ID_LEN);
	snprintf(cl->rx_item.sender, sizeof(cl->rx_item.sender), "%s",
		 op.sender);
	snprintf(cl->rx_item.via, sizeof(cl->rx_item.via), "%s",
		 cl->held ? SL_SP_VIA_TSP : "");
	cl->rx_item.size = o->size;
	cl->rx_item.chunks = o->chunks;
	cl->rx_item.started = wall();
	ret = sl_spool_begin(&c->sp, &cl->rx_item, o->header, op.key, &from);
	if (ret) {
		snprintf(why.detail, sizeof(why.detail), "the spool: %s",
			 strerror(-ret));
		refuse_offer(c, cl, id, op.sender, o->size,
			     ret == -ENOSPC ? SL_ENV_NO_SPACE : SL_ENV_IO,
			     why.detail, now);
		goto out;
	}
	cl->rx_key = sl_secure_alloc(SL_ENV_KEY_LEN);
	if (!cl->rx_key) {
		refuse_offer(c, cl, id, op.sender, o->size, SL_ENV_INTERNAL,
			     "out of secure memory", now);
		goto out;
	}
	memcpy(cl->rx_key, op.key, SL_ENV_KEY_LEN);
	sl_log(LOG_NOTICE, "%s: receiving envelope %s from %s%s (%" PRIu64 " bytes, %s chunk %" PRIu64 " of %" PRIu64 ")",
	       tty_of(cl), cl->rx_item.hex, op.sender,
	       cl->held ? " by way of the TSP" : "", o->size,
	       from ? "resuming at" : "from", from, o->chunks);
	sl_xrecv_accept(cl->xr, from, (uint64_t)now);
	if (from == o->chunks)
		sl_courier_queue_unpack(c, id);
out:
	sl_env_opened_wipe(&op);
}

/* Chunks the engine has complete: verified, durable, acknowledged. */
static void take_chunks(struct sl_courier *c, struct sl_cline *cl, int64_t now)
{
	uint8_t *plain = NULL;
	const uint8_t *buf;
	uint64_t idx;
	size_t len;

	while (cl->xr && cl->rx_key &&
	       sl_xrecv_take_chunk(cl->xr, &idx, &buf, &len)) {
		struct sl_env_refusal why = { 0 };
		bool last;
		int ret;

		if (!plain && !(plain = malloc(SL_ENV_CHUNK_WIRE_LEN)))
			break;
		if (sl_env_chunk_open(plain, cl->rx_key, idx, buf, len, &last) ||
		    last != (idx + 1 == cl->rx_item.chunks)) {
			why.reason = SL_ENV_DAMAGED;
			snprintf(why.detail, sizeof(why.detail),
				 "chunk %" PRIu64 " does not authenticate", idx);
		} else if ((ret = sl_spool_put_chunk(&c->sp, &cl->rx_item, idx,
						     buf, len))) {
			why.reason = ret == -ENOSPC ? SL_ENV_NO_SPACE : SL_ENV_IO;
			snprintf(why.detail, sizeof(why.detail),
				 "writing chunk %" PRIu64 ": %s", idx,
				 strerror(-ret));
		}
		sl_wipe(plain, SL_ENV_CHUNK_WIRE_LEN);
		if (why.reason) {
			sl_log(LOG_WARNING, "%s: envelope %s from %s refused: %s",
			       tty_of(cl), cl->rx_item.hex, cl->rx_item.sender,
			       why.detail);
			sl_spool_refused(&c->sp, &cl->rx_item, &why, false, wall());
			sl_xrecv_result(cl->xr, (uint8_t)why.reason, why.detail,
					strlen(why.detail), (uint64_t)now);
			break;
		}
		sl_xrecv_chunk_done(cl->xr, (uint64_t)now);
		if (idx + 1 == cl->rx_item.chunks)
			sl_courier_queue_unpack(c, cl->rx_item.id);
	}
	free(plain);
}

/* The receiving engine's state after an input or timer. */
static void rx_settle(struct sl_courier *c, struct sl_cline *cl, int64_t now)
{
	struct sl_xrecv_status st;

	if (!cl->xr)
		return;
	take_chunks(c, cl, now);
	sl_xrecv_get_status(cl->xr, &st);
	if (cl->rx_item.hex[0] && st.bytes) {
		cl->rx_item.wire_bytes += cl->rx_wire;
		cl->rx_wire = 0;
	}
	if (st.state == SL_XRECV_ABORTED && cl->rx_item.hex[0]) {
		sl_log(LOG_NOTICE, "%s: envelope %s withdrawn by its sender %s: spool removed",
		       tty_of(cl), cl->rx_item.hex, cl->rx_item.sender);
		sl_spool_drop(&c->sp, cl->rx_item.id);
	}
	if (st.state == SL_XRECV_STALLED && cl->rx_item.hex[0])
		sl_log(LOG_NOTICE, "%s: envelope %s from %s: the sender went quiet at chunk %" PRIu64 " of %" PRIu64 "; kept for its next attempt",
		       tty_of(cl), cl->rx_item.hex, cl->rx_item.sender,
		       st.durable, st.chunks);
	if (sl_xrecv_finished(cl->xr, (uint64_t)now)) {
		if (cl->rx_item.hex[0])
			sl_spool_save(&c->sp, &cl->rx_item);
		drop_rx(cl);
	}
}

void sl_cline_result(struct sl_courier *c, const uint8_t id[SL_ENV_ID_LEN],
		     uint8_t code, const char *text, size_t len, int64_t now)
{
	for (unsigned int i = 0; i < c->L->n; i++) {
		struct sl_cline *cl = sl_courier_line(c, i);
		const struct sl_xrecv_offer *o;

		if (!cl || !cl->xr)
			continue;
		o = sl_xrecv_offer(cl->xr);
		if (memcmp(o->header + SL_ENV_CLEAR_LEN - SL_ENV_ID_LEN, id,
			   SL_ENV_ID_LEN))
			continue;
		sl_xrecv_result(cl->xr, code, text, len, (uint64_t)now);
		sl_cline_pump(c, cl, now);
	}
}

bool sl_cline_receiving(struct sl_courier *c, const uint8_t id[SL_ENV_ID_LEN],
			const struct sl_cline *except)
{
	for (unsigned int i = 0; i < c->L->n; i++) {
		struct sl_cline *cl = sl_courier_line(c, i);

		if (cl && cl != except && cl->xr && cl->rx_item.hex[0] &&
		    !memcmp(cl->rx_item.id, id, SL_ENV_ID_LEN))
			return true;
	}
	return false;
}

/* ---- The engines' inputs ------------------------------------------------------ */

static void on_message(struct sl_courier *c, struct sl_cline *cl,
		       const uint8_t *plain, size_t n, int64_t now)
{
	uint8_t kind;
	uint32_t id;

	if (!sl_xfer_peek(plain, n, &kind, &id))
		return;
	if (sl_xfer_for_sender(kind)) {
		if (cl->xs && id == sl_xsend_id(cl->xs))
			sl_xsend_input(cl->xs, plain, n, (uint64_t)now);
		else if (cl->linger && id == sl_xsend_id(cl->linger))
			sl_xsend_input(cl->linger, plain, n, (uint64_t)now);
		return;
	}
	if (kind == SL_XFER_OFFER &&
	    (!cl->xr || sl_xrecv_offer(cl->xr)->id != id)) {
		on_offer(c, cl, plain, n, now);
		return;
	}
	if (cl->xr && sl_xrecv_offer(cl->xr)->id == id &&
	    sl_xrecv_input(cl->xr, plain, n, (uint64_t)now) == -EMSGSIZE &&
	    cl->rx_item.hex[0]) {
		/* The engine refused it (BAD_FORMAT): padding past the
		 * bucket. What arrived stays for another attempt. */
		struct sl_env_refusal why = { .reason = SL_ENV_BAD_FORMAT };

		snprintf(why.detail, sizeof(why.detail),
			 "padding past the envelope's size bucket");
		sl_log(LOG_WARNING, "%s: envelope %s from %s refused: %s",
		       tty_of(cl), cl->rx_item.hex, cl->rx_item.sender,
		       why.detail);
		sl_spool_refused(&c->sp, &cl->rx_item, &why, false, wall());
	}
}

void sl_cline_input(struct sl_courier *c, struct sl_cline *cl,
		    const uint8_t *msg, size_t len, int64_t now)
{
	uint8_t plain[SL_CCHAN_MAX_MSG];
	size_t n;
	int ret;

	ret = sl_cchan_open(cl->ch, plain, &n, msg, len);
	if (ret) {
		sl_log(LOG_DEBUG, "%s: courier message dropped: %s", tty_of(cl),
		       ret == -EALREADY ? "a copy or a replay" :
		       ret == -ENOKEY ? "no session with its hsid" :
		       ret == -EBADMSG ? "does not authenticate" : "malformed");
		return;
	}
	on_message(c, cl, plain, n, now);
	sl_wipe(plain, sizeof(plain));
	rx_settle(c, cl, now);
	sl_cline_pump(c, cl, now);
}

static bool hook_control(void *ctx, struct sl_line *line, const uint8_t *msg,
			 size_t len, int64_t now)
{
	struct sl_cline *cl = sl_cline_of(line);

	if (!sl_cchan_is_courier(msg, len))
		return false;
	/* No courier state: no session's keys, nothing opens. */
	if (cl && !cl->held)
		sl_cline_input(ctx, cl, msg, len, now);
	return true;
}

void sl_cline_timer(struct sl_courier *c, struct sl_cline *cl, int64_t now)
{
	if (cl->linger && (sl_xsend_finished(cl->linger, (uint64_t)now) ||
			   now >= cl->linger_until)) {
		if (!sl_xsend_next_timer(cl->linger) || now >= cl->linger_until) {
			sl_xsend_free(cl->linger);
			cl->linger = NULL;
		}
	}
	rx_settle(c, cl, now);
	sl_cline_pump(c, cl, now);
}

/* ---- The line's hooks ---------------------------------------------------------- */

static void hook_stage(void *ctx, struct sl_line *line,
		       const struct sl_drv_action *a)
{
	struct sl_courier *c = ctx;
	struct sl_cline *cl;

	if (!a->courier_tx || !a->courier_rx)
		return;
	cl = sl_cline_get(c, line);
	if (!cl) {
		sl_log(LOG_ERR, "%s: out of memory: no courier on this line",
		       sl_line_tty(line));
		return;
	}
	if (sl_cchan_stage(cl->ch, a->hsid, a->epoch, a->courier_tx,
			   a->courier_rx))
		sl_log(LOG_ERR, "%s: the session's courier keys were refused",
		       sl_line_tty(line));
}

static void hook_activate(void *ctx, struct sl_line *line, uint32_t epoch)
{
	struct sl_cline *cl = line->courier;

	(void)ctx;
	if (cl)
		sl_cchan_activate(cl->ch, epoch);
}

static void hook_session(void *ctx, struct sl_line *line, const char *peer,
			 bool fresh, int64_t now)
{
	struct sl_courier *c = ctx;
	struct sl_cline *cl = sl_cline_get(c, line);

	if (!cl)
		return;
	if (fresh && cl->xs) {
		/* A new session, not a rekey, while sending: the other side
		 * started it because it lost its keys (a restarted daemon),
		 * and with them the transfer. Start again at once rather than
		 * wait for this one to time out: the recipient's spool says
		 * where to resume. */
		struct sl_ob_item *it = sl_outbox_get(&c->ob, cl->xs_id);

		sl_xsend_free(cl->xs);
		cl->xs = NULL;
		close(cl->env_fd);
		cl->env_fd = -1;
		if (it && !sl_ob_final(it->state)) {
			it->wire_bytes += cl->xs_wire;
			it->state = SL_OB_QUEUED;
			it->next_try = wall();
			sl_outbox_save(&c->ob, it);
			sl_log(LOG_NOTICE, "%s: envelope %s: a new session with %s; its transfer starts again",
			       sl_line_tty(line), it->hex, peer);
		}
	}
	if (fresh || strcmp(cl->peer, peer)) {
		snprintf(cl->peer, sizeof(cl->peer), "%s", peer);
		/* A new session: the peer may be back; try at once what
		 * waits for it. */
		for (size_t i = 0; i < c->ob.n; i++) {
			struct sl_ob_item *it = &c->ob.items[i];

			if (!sl_ob_final(it->state) && !strcmp(it->to, peer) &&
			    it->next_try > wall()) {
				it->next_try = wall();
				sl_outbox_save(&c->ob, it);
			}
		}
	}
	cl->up = sl_cchan_ready(cl->ch);
	if (cl->calling[0] && !strcmp(cl->calling, peer))
		cl->call_deadline = 0;
	sl_courier_schedule(c, now);
	sl_cline_pump(c, cl, now);
}

static void hook_down(void *ctx, struct sl_line *line, const char *why,
		      int64_t now)
{
	struct sl_cline *cl = sl_cline_of(line);

	if (cl && !cl->held)
		sl_cline_down(ctx, cl, why, now);
}

void sl_cline_down(struct sl_courier *c, struct sl_cline *cl, const char *why,
		   int64_t now)
{
	struct sl_line *line = cl->line;

	cl->up = false;
	cl->peer[0] = 0;
	sl_cchan_clear(cl->ch);
	if (cl->xs) {
		/* Its attempt ends; the recipient's spool keeps what came. */
		struct sl_ob_item *it = sl_outbox_get(&c->ob, cl->xs_id);
		char text[160];

		snprintf(text, sizeof(text), "%s: %s", sl_line_tty(line), why);
		sl_xsend_free(cl->xs);
		cl->xs = NULL;
		close(cl->env_fd);
		cl->env_fd = -1;
		if (it && !sl_ob_final(it->state)) {
			it->wire_bytes += cl->xs_wire;
			sl_courier_fail_attempt(c, it, text, now);
		}
	}
	sl_xsend_free(cl->linger);
	cl->linger = NULL;
	/* Not one whose delivery is done and whose RESULT was still on
	 * its way: the next attempt gets its receipt again. */
	if (cl->xr && cl->rx_item.hex[0] &&
	    !sl_spool_delivered(&c->sp, cl->rx_item.id)) {
		cl->rx_item.wire_bytes += cl->rx_wire;
		sl_spool_save(&c->sp, &cl->rx_item);
		sl_log(LOG_NOTICE, "%s: envelope %s from %s interrupted (%s); kept for its next attempt",
		       sl_line_tty(line), cl->rx_item.hex, cl->rx_item.sender,
		       why);
	}
	drop_rx(cl);
	sl_courier_schedule(c, now);
}

static void hook_call_ended(void *ctx, struct sl_line *line, const char *why,
			    int64_t now)
{
	struct sl_courier *c = ctx;
	struct sl_cline *cl = line->courier;
	struct sl_ob_item *it;

	if (!cl || !cl->calling[0])
		return;
	it = sl_outbox_get(&c->ob, cl->call_for);
	if (it && !cl->call_transferred && !sl_ob_final(it->state)) {
		char text[200];

		snprintf(text, sizeof(text), "the call to %s: %s", cl->calling,
			 why);
		sl_courier_fail_attempt(c, it, text, now);
	}
	cl->calling[0] = 0;
	cl->call_transferred = false;
	cl->call_deadline = 0;
	cl->idle_since = 0;
	sl_courier_schedule(c, now);
}

static void hook_status(void *ctx, struct sl_line *line,
			struct sl_ipc_builder *b)
{
	struct sl_cline *cl = line->courier;
	struct sl_xsend_status ss;
	struct sl_xrecv_status rs;
	char hex[SL_CS_HEX_ID];

	(void)ctx;
	if (!cl)
		return;
	sl_ipc_add(b, "courier", sl_cchan_ready(cl->ch) ? "keyed" : "idle");
	if (cl->xs) {
		sl_xsend_get_status(cl->xs, &ss);
		sl_hex_encode(hex, cl->xs_id, SL_ENV_ID_LEN);
		sl_ipc_add(b, "courier_sending", hex);
		sl_ipc_addf(b, "courier_sent", "%" PRIu64, ss.bytes_acked);
	}
	if (cl->xr && cl->rx_item.hex[0]) {
		sl_xrecv_get_status(cl->xr, &rs);
		sl_ipc_add(b, "courier_receiving", cl->rx_item.hex);
		sl_ipc_addf(b, "courier_chunks", "%" PRIu64 "/%" PRIu64,
			    rs.durable, rs.chunks);
	}
	if (cl->calling[0])
		sl_ipc_add(b, "courier_call", cl->calling);
	if (cl->held)
		sl_ipc_add(b, "courier_held_from", cl->held_from);
}

void sl_cline_hooks(struct sl_line_hooks *h, struct sl_courier *c)
{
	memset(h, 0, sizeof(*h));
	h->ctx = c;
	h->stage = hook_stage;
	h->activate = hook_activate;
	h->session = hook_session;
	h->down = hook_down;
	h->control = hook_control;
	h->call_ended = hook_call_ended;
	h->status = hook_status;
	h->held = sl_cheld_offer;
}
