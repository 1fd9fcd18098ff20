/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The sender's outbox: envelopes sealed for delivery and what became of
 * them, durable across any crash (Documentation/courier.rst, "Outbox").
 *
 *	OUTBOX/			0700 (default STATE_DIR/outbox)
 *	    ID.state		the state record (cstore.h), the commit point
 *	    ID.env		the sealed envelope, 0600, until delivered or
 *				cancelled
 *	    ID.files		what it holds: one line per archive entry,
 *				"TYPE MODE SIZE MTIME NAME" (NAME %-encoded)
 *	    ID.receipt		the recipient's receipt, once delivered
 *	    ID.acceptance	the TSP's signed acceptance (sent --via-tsp)
 *	    ID.notice		the TSP's signed non-delivery notice
 *	    tsp-KEY.sign	T's signing key, pinned when T first signed
 *				for us (KEY: its static key, 16 hex digits)
 *	    .ID.env.part	being sealed; .ID.files.part likewise
 *
 * Creation: the envelope and its list are written and fsync()ed under
 * their .part names, renamed, then the state record is written: an
 * envelope exists once its record does. At open, .part files, envelopes
 * and lists without a record are deleted. Delivery: the receipt is
 * written, then the record says delivered (and "not logged"), then the
 * send log gets its record (once, cstore.h), then the record says logged,
 * then the envelope is deleted. Open finishes whatever a crash left
 * between those steps.
 *
 * States:
 *	queued		waiting for its next attempt (next_try); via "tsp":
 *			to be handed to the TSP
 *	sending		an attempt in progress (at open: queued again)
 *	held		the TSP accepted it (its signed acceptance kept)
 *			and holds it for the recipient; the envelope stays
 *			until the receipt or a notice comes
 *	delivered	receipted; the envelope is gone, the record, list and
 *			receipt stay
 *	refused		the recipient refused it for good (reason, detail);
 *			the envelope stays, the sender keeps it
 *	failed		no attempt succeeded (attempts exhausted); kept
 *	cancelled	withdrawn by the operator; the envelope is gone
 *	expired		the TSP's signed notice: not delivered before it
 *			stopped holding it; the envelope stays
 *	bounced		the TSP's signed notice: the recipient refused it
 *			or could not be reached (the reason in the notice);
 *			the envelope stays
 */
#ifndef SEALINE_AGENT_OUTBOX_H
#define SEALINE_AGENT_OUTBOX_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/sealine.h>

#include "cstore.h"
#include "envelope.h"
#include "wire.h"

#define SL_OB_MAGIC		"sealine-outbox 1"
#define SL_OB_VIA_MAX		(SEALINE_TTY_NAME_MAX + 8)
#define SL_OB_DETAIL_MAX	256

enum sl_ob_state {
	SL_OB_QUEUED = 1,
	SL_OB_SENDING,
	SL_OB_HELD,
	SL_OB_DELIVERED,		/* the first final state */
	SL_OB_REFUSED,
	SL_OB_FAILED,
	SL_OB_CANCELLED,
	SL_OB_EXPIRED,
	SL_OB_BOUNCED,
};
#define SL_OB_STATE_LAST	SL_OB_BOUNCED

/* How an envelope handed to the TSP travels (sealctl send --via-tsp). */
#define SL_OB_VIA_TSP		"tsp"

const char *sl_ob_state_name(enum sl_ob_state st);
static inline bool sl_ob_final(enum sl_ob_state st)
{
	return st >= SL_OB_DELIVERED;
}

struct sl_ob_item {
	uint8_t id[SL_ENV_ID_LEN];
	char hex[SL_CS_HEX_ID];
	char to[SL_ACCOUNT_LEN + 1];
	/* How to reach it: "auto", "line:TTY", "call", "call:TTY", or
	 * "tsp" (handed to the TSP, store and forward). */
	char via[SL_OB_VIA_MAX];
	int64_t queued;			/* wall clock */
	uint64_t size, chunks, files, content_bytes;
	uint8_t sha256[SL_ENV_HASH_LEN];
	enum sl_ob_state state;
	uint32_t attempts;
	int64_t next_try;		/* wall clock; 0: at once */
	int64_t last_try;
	uint64_t acked;			/* chunks durable at the recipient */
	uint64_t wire_bytes;		/* courier bytes sent for it, all
					 * attempts */
	uint8_t reason;			/* refusal (enum sl_env_reason) */
	char detail[SL_OB_DETAIL_MAX];	/* refusal or failure, for people */
	int64_t finished;		/* when it became final */
	bool logged;			/* its final record is in the log */
	uid_t uid;			/* who sent it */
	/* via "tsp": the schedule the TSP is asked to keep. */
	int64_t deliver_after_ms;	/* epoch ms, 0: none */
	int32_t deliver_window;		/* start * 1440 + end, UTC; -1: none */
};

struct sl_outbox {
	int dirfd;
	char dir[PATH_MAX];
	struct sl_clog *log;		/* the send log */
	struct sl_ob_item *items;
	size_t n, cap;
};

/*
 * Opens (creating) dir, finishes what a crash interrupted, loads every
 * envelope. log: where final records go. 0 or -errno with err.
 */
int sl_outbox_open(struct sl_outbox *ob, const char *dir, struct sl_clog *log,
		   char *err, size_t err_len);
void sl_outbox_close(struct sl_outbox *ob);

/* By id, or by a unique prefix of its hex (at least 4 digits). NULL:
 * none; *ambiguous set if several match. */
struct sl_ob_item *sl_outbox_find(struct sl_outbox *ob, const char *hex,
				  bool *ambiguous);
struct sl_ob_item *sl_outbox_get(struct sl_outbox *ob,
				 const uint8_t id[SL_ENV_ID_LEN]);

/*
 * A new envelope: .ID.env.part is created for the sealer (fd returned),
 * then sl_outbox_add() with what it wrote (item: id, to, via, size,
 * chunks, sha256, files, content_bytes, uid), the list's text and that
 * fd; or sl_outbox_abandon(). The item is queued.
 */
int sl_outbox_create(struct sl_outbox *ob, const uint8_t id[SL_ENV_ID_LEN]);
int sl_outbox_add(struct sl_outbox *ob, const struct sl_ob_item *item,
		  int env_fd, const char *list, size_t list_len,
		  struct sl_ob_item **out);
void sl_outbox_abandon(struct sl_outbox *ob, const uint8_t id[SL_ENV_ID_LEN],
		       int env_fd);

/* The envelope, read only: an fd or -errno. */
int sl_outbox_open_env(struct sl_outbox *ob, const struct sl_ob_item *it);
/* Its list, whole (malloc'ed, NUL-terminated): length or -errno. */
ssize_t sl_outbox_read_list(struct sl_outbox *ob, const struct sl_ob_item *it,
			    char **out);
ssize_t sl_outbox_read_receipt(struct sl_outbox *ob,
			       const struct sl_ob_item *it, char *buf,
			       size_t size);

/* The TSP's acceptance, or its notice: length or -errno. */
ssize_t sl_outbox_read_acceptance(struct sl_outbox *ob,
				  const struct sl_ob_item *it, char *buf,
				  size_t size);
ssize_t sl_outbox_read_notice(struct sl_outbox *ob,
			      const struct sl_ob_item *it, char *buf,
			      size_t size);

/* Its record, as the item now says (attempts, next try, acked...). */
int sl_outbox_save(struct sl_outbox *ob, struct sl_ob_item *it);

/*
 * Delivered with this (verified) receipt: the steps of the header. peer
 * name for the log (may be ""). 0 or -errno; -ECANCELED at a crash
 * point.
 */
int sl_outbox_delivered(struct sl_outbox *ob, struct sl_ob_item *it,
			const char *receipt, size_t len, int64_t now);
/*
 * Final without a receipt: refused (reason, detail), failed (detail),
 * cancelled (the envelope deleted). Logged as the header says.
 */
int sl_outbox_finish(struct sl_outbox *ob, struct sl_ob_item *it,
		     enum sl_ob_state st, uint8_t reason, const char *detail,
		     int64_t now);
/*
 * Held at the TSP with this (verified) acceptance: the acceptance is
 * written, then the record says held. 0 or -errno.
 */
int sl_outbox_held(struct sl_outbox *ob, struct sl_ob_item *it,
		   const char *acceptance, size_t len);
/*
 * The TSP's (verified) non-delivery notice: written, then final expired
 * or bounced with detail, logged; the envelope stays. 0 or -errno.
 */
int sl_outbox_undelivered(struct sl_outbox *ob, struct sl_ob_item *it,
			  enum sl_ob_state st, const char *detail,
			  const char *notice, size_t len, int64_t now);

/* T's signing key pinned for the TSP whose static key is tsp_pub: 0,
 * -ENOENT if none yet, or -errno; and pinning one. */
int sl_outbox_tsp_key(struct sl_outbox *ob, const uint8_t tsp_pub[32],
		      uint8_t key[32]);
int sl_outbox_pin_tsp_key(struct sl_outbox *ob, const uint8_t tsp_pub[32],
			  const uint8_t key[32]);

/* Back to queued, attempts reset (sealctl outbox retry): only refused,
 * failed, expired or bounced ones whose envelope is still there. */
int sl_outbox_retry(struct sl_outbox *ob, struct sl_ob_item *it,
		    int64_t now);

/* Final records older than keep_s seconds: deleted with their files.
 * Returns how many. */
unsigned int sl_outbox_prune(struct sl_outbox *ob, int64_t now,
			     int64_t keep_s);

#endif
