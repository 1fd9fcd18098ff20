/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The TSP's spool: envelopes held for later delivery
 * (Documentation/store-and-forward.rst, "The spool").
 *
 * One directory of files named by spool id (16 hex digits), each an
 * envelope exactly as its sender sent it, and one store row per envelope
 * (tspstore.h, struct sl_tsp_spool_row) that says what it is. Every
 * transition is a fixed sequence of durable steps (a file written and
 * fsync()ed, or one committed transaction), in an order that makes any
 * crash between two of them recoverable by sl_tsp_spool_open(): no
 * accepted envelope is lost, none is delivered after its receipt is
 * recorded, none is held twice. Each transition's row change is one
 * conditional update (the row must still be in the state the step
 * expects), so two instances sharing a store never both take a step.
 *
 * The spool never opens an envelope: it checks only that its size is one
 * an envelope can have and its limits. Times are ms since the epoch,
 * given by the caller; the random delivery delay too, so tests are exact.
 *
 *	sl_tsp_spool_open(&sp, dir, store, &limits, now, &rec, err, len)
 *	hand-over:  receive_begin, receive_write..., receive_done
 *	delivery:   due, deliver_begin, then delivered | retry | bounce
 *	upkeep:     expire (held too long, stalled hand-overs)
 *	sender:     pending (closed, not collected), collect
 *
 * Not thread-safe: one thread (the TSP's store thread) per spool.
 */
#ifndef SEALINE_AGENT_TSPSPOOL_H
#define SEALINE_AGENT_TSPSPOOL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "tspstore.h"

/* The envelope format's sizes (courier/envelope.h; sealtspd does not
 * link the courier's library). */
#define SL_TSP_SPOOL_HEADER_LEN		153
#define SL_TSP_SPOOL_CHUNK_LEN		65536
#define SL_TSP_SPOOL_TAG_LEN		16

/* Defaults of the limits (store-and-forward.rst, "Limits"): the [tsp]
 * settings' (config.h), and the back-off, which is not a setting. */
#define SL_TSP_SPOOL_MAX_HOLD_MS	(SL_CONF_TSP_MAX_HOLD * 1000LL)
#define SL_TSP_SPOOL_RETRY_MS		(5LL * 60 * 1000)
#define SL_TSP_SPOOL_RETRY_MAX_MS	(4LL * 3600 * 1000)

struct sl_tsp_spool_limits {
	uint64_t max_envelope;		/* bytes */
	uint64_t quota_bytes;		/* per sender, open rows */
	unsigned int quota_envelopes;	/* per sender, open rows */
	uint64_t min_free;		/* bytes the spool's fs keeps free */
	int64_t max_hold_ms;		/* then expired */
	unsigned int max_attempts;	/* then bounced */
	int64_t receive_timeout_ms;	/* a stalled hand-over: abandoned */
	int64_t retry_ms, retry_max_ms;	/* back-off, doubling */
	/* Deliveries start on ticks of this period (ms since the epoch a
	 * multiple of it): every next_ms the spool sets is rounded up to
	 * one. 0: no batches. */
	int64_t batch_ms;
};

void sl_tsp_spool_limits_default(struct sl_tsp_spool_limits *l);

/* The points after each durable step, for crash tests. */
enum sl_tsp_spool_point {
	SL_TSP_SPOOL_AFTER_INSERT = 1,	/* row receiving committed */
	SL_TSP_SPOOL_AFTER_CREATE,	/* its file created, dir synced */
	SL_TSP_SPOOL_AFTER_WRITE,	/* a chunk written and synced */
	SL_TSP_SPOOL_AFTER_SYNC,	/* the whole file synced, hashed */
	SL_TSP_SPOOL_AFTER_HELD,	/* row held committed */
	SL_TSP_SPOOL_AFTER_DELIVERING,	/* row delivering committed */
	SL_TSP_SPOOL_AFTER_CLOSE,	/* row closed (any outcome) */
	SL_TSP_SPOOL_AFTER_UNLINK,	/* a closed row's file removed */
	SL_TSP_SPOOL_AFTER_RETRY,	/* row back to held committed */
	SL_TSP_SPOOL_AFTER_COLLECT,	/* collected_ms committed */
	SL_TSP_SPOOL_AFTER_RECOVER,	/* one repair of the recovery */
};

typedef void (*sl_tsp_spool_crash_fn)(void *arg, enum sl_tsp_spool_point p);

struct sl_tsp_spool {
	int dirfd;
	char dir[PATH_MAX];
	struct sl_tsp_store *st;
	struct sl_tsp_spool_limits lim;
};

/* What sl_tsp_spool_open() repaired, for the log. */
struct sl_tsp_spool_recovery {
	unsigned int requeued;		/* delivering -> held */
	unsigned int unlinked;		/* files of closed rows, or no row */
	unsigned int created;		/* receiving rows' missing files */
	unsigned int lost;		/* open rows without a file: a bug */
};

/*
 * Open (creating, 0700) the spool directory dir and recover from a crash
 * (store-and-forward.rst, "Recovery") the rows of st's instance. -EUCLEAN
 * if an accepted envelope's file is missing (rec->lost says how many;
 * the spool is usable, the log must say it loudly). On failure err says
 * why.
 */
int sl_tsp_spool_open(struct sl_tsp_spool *sp, const char *dir,
		      struct sl_tsp_store *st,
		      const struct sl_tsp_spool_limits *lim, int64_t now_ms,
		      struct sl_tsp_spool_recovery *rec, char *err,
		      size_t err_len);
void sl_tsp_spool_close(struct sl_tsp_spool *sp);
/* Test hook, for the whole process: fn is called after every durable
 * step of every spool (recovery's too); NULL: none. */
void sl_tsp_spool_set_crash_hook(sl_tsp_spool_crash_fn fn, void *arg);

/* The first tick of lim.batch_ms at or after ms, and the last at or
 * before it (ms itself without batches). */
int64_t sl_tsp_spool_tick_up(const struct sl_tsp_spool *sp, int64_t ms);
int64_t sl_tsp_spool_tick(const struct sl_tsp_spool *sp, int64_t ms);

/* true if some payload makes an envelope of exactly size bytes. */
bool sl_tsp_spool_size_valid(uint64_t size);
/* true if a row with this window may be delivered at now_ms (UTC). */
bool sl_tsp_spool_in_window(int window, int64_t now_ms);

/* What the sender's OFFER and call setup say. */
struct sl_tsp_spool_offer {
	uint8_t envelope[SL_TSP_ENVELOPE_ID_LEN];
	const char *sender, *recipient;
	uint64_t size;
	int64_t not_before_ms;		/* 0: none */
	int window;			/* SL_TSP_WINDOW_NONE: none */
};

/*
 * A hand-over begins: a new row (receiving) and its empty file, or the
 * sender's earlier, unfinished hand-over of the same envelope, whose
 * first *resume bytes are on disk: 0, or the header and whole chunks
 * (153 + 65,552 k; the rest was cut off). row: the row.
 * -EEXIST: this envelope is held already (or closed): row is it, answer
 * with its acceptance again. -EALREADY: the sender has an envelope of
 * this id with another size (REPLAY). -EFBIG: over max_envelope
 * (TOO_BIG). -EINVAL: not a size an envelope can have (BAD_FORMAT).
 * -EDQUOT: over the sender's quota (QUOTA). -ENOSPC: the spool's file
 * system would keep less than min_free with the whole envelope on it
 * (NO_SPACE).
 */
int sl_tsp_spool_receive_begin(struct sl_tsp_spool *sp,
			       const struct sl_tsp_spool_offer *o,
			       int64_t now_ms, struct sl_tsp_spool_row *row,
			       uint64_t *resume);
/* Bytes of an envelope the spool holds (receiving or held): -ENODATA if
 * fewer than len are there. */
int sl_tsp_spool_read(struct sl_tsp_spool *sp, uint64_t sid, uint64_t offset,
		      void *buf, size_t len);
/* Bytes of the envelope at offset, made durable (fdatasync()). */
int sl_tsp_spool_receive_write(struct sl_tsp_spool *sp, uint64_t sid,
			       uint64_t offset, const void *buf, size_t len);
/*
 * The whole envelope is there: synced, hashed, the row held, due at
 * now + delay_ms (not before its not-before time), rounded up to a tick
 * of lim.batch_ms. row: the held row,
 * for the acceptance. -EPROTO if the file is not size bytes long.
 */
int sl_tsp_spool_receive_done(struct sl_tsp_spool *sp, uint64_t sid,
			      int64_t now_ms, int64_t delay_ms,
			      struct sl_tsp_spool_row *row);

/* The held rows of this instance due at the last tick at or before
 * now_ms (time and window; batch_ms), not expired at now_ms, in received
 * order; fn's non-zero value stops the list. fn must not write to the
 * store (collect the ids, then deliver). */
int sl_tsp_spool_due(struct sl_tsp_spool *sp, int64_t now_ms,
		     sl_tsp_spool_fn fn, void *arg);
/* A delivery call begins: the row delivering, attempts + 1, and *fd the
 * file to send (read-only; the caller closes it). -ESTALE: not held (an
 * earlier attempt delivered it, or another took it). */
int sl_tsp_spool_deliver_begin(struct sl_tsp_spool *sp, uint64_t sid,
			       int64_t now_ms, int *fd);
/* R's receipt (the receipt text, checked by the caller against the row):
 * delivered, the file removed. */
int sl_tsp_spool_delivered(struct sl_tsp_spool *sp, uint64_t sid,
			   const char *receipt, int64_t now_ms);
/* The attempt failed (busy, no answer, a retryable refusal): held again
 * after the back-off; bounced with reason after max_attempts, expired
 * when the next attempt would come after expiry. *state: which. */
int sl_tsp_spool_retry(struct sl_tsp_spool *sp, uint64_t sid,
		       const char *reason, int64_t now_ms,
		       enum sl_tsp_spool_state *state);
/* R refused it for good: bounced with reason, the file removed. */
int sl_tsp_spool_bounce(struct sl_tsp_spool *sp, uint64_t sid,
			const char *reason, int64_t now_ms);
/* Held rows past expiry: expired; receiving rows older than the receive
 * timeout: abandoned; their files removed. *n: how many. */
int sl_tsp_spool_expire(struct sl_tsp_spool *sp, int64_t now_ms,
			unsigned int *n);
/* Closed rows of sender not yet collected (receipts, notices); fn must
 * not write to the store. */
int sl_tsp_spool_pending(struct sl_tsp_spool *sp, const char *sender,
			 sl_tsp_spool_fn fn, void *arg);
/* The sender acknowledged the receipt or notice. */
int sl_tsp_spool_collect(struct sl_tsp_spool *sp, uint64_t sid,
			 int64_t now_ms);

#endif
