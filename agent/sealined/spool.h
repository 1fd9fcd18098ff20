/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The recipient's side of the courier on disk (Documentation/courier.rst,
 * "Receiving"): the spool where an envelope's verified chunks wait, the
 * staging area where it is unpacked, the inbox, and the receipts given,
 * durable across any crash.
 *
 *	SPOOL/			0700 (default STATE_DIR/spool)
 *	    ID.state		who sends it, its size, when it started
 *	    ID.env		its header and the chunks verified so far,
 *				each written and fdatasync()ed before it is
 *				acknowledged; a torn tail is cut at open
 *	    ID.receipt		signed, the envelope not yet in the inbox
 *	STAGING/ID/		being unpacked (envelope.h: sl_env_unpack)
 *	INBOX/ID/		delivered, whole (one file system with STAGING)
 *	RECEIPTS/ID.receipt	every receipt given: a replay is answered
 *				with it (default STATE_DIR/receipts)
 *	RECEIPTS/ID.via		"tsp": it came as a held delivery from the
 *				TSP (none: on a line from its sender)
 *
 * Delivery, in this order: unpack into staging (synced), sign the receipt
 * into SPOOL/ID.receipt, rename staging into the inbox (the commit), copy
 * the receipt to RECEIPTS, write the receive log's record (once), delete
 * the spool's files. Open sees where a crash stopped: an inbox entry means
 * the commit happened (the rest is finished); otherwise a receipt in the
 * spool was never given (deleted) and the envelope is unpacked again.
 * Staging leftovers are removed at open.
 */
#ifndef SEALINE_AGENT_SPOOL_H
#define SEALINE_AGENT_SPOOL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cstore.h"
#include "envelope.h"
#include "receipt.h"
#include "wire.h"

#define SL_SP_MAGIC	"sealine-spool 1"
/* How an envelope came: "" on a line from its sender, or this. */
#define SL_SP_VIA_TSP	"tsp"
#define SL_SP_VIA_MAX	8

struct sl_spool_dirs {
	char spool[PATH_MAX];
	char staging[PATH_MAX];
	char inbox[PATH_MAX];
	char receipts[PATH_MAX];
};

struct sl_spool {
	struct sl_spool_dirs dirs;
	int spoolfd, stagingfd, inboxfd, rcptfd;
	struct sl_clog *log;		/* the receive log */
};

/* An envelope in the spool. */
struct sl_sp_item {
	uint8_t id[SL_ENV_ID_LEN];
	char hex[SL_CS_HEX_ID];
	char sender[SL_ACCOUNT_LEN + 1];
	char via[SL_SP_VIA_MAX];	/* "" or SL_SP_VIA_TSP */
	uint64_t size, chunks;
	int64_t started;
	uint64_t wire_bytes;		/* courier bytes received, all
					 * attempts */
	uint32_t attempts;
};

/*
 * Opens (creating) the four directories, checks that staging and inbox
 * share a file system, removes staging leftovers, finishes deliveries a
 * crash interrupted. 0 or -errno with err.
 */
int sl_spool_open(struct sl_spool *sp, const struct sl_spool_dirs *dirs,
		  struct sl_clog *log, char *err, size_t err_len);
void sl_spool_close(struct sl_spool *sp);

/* The receipt given for id, if any: its length (buf NUL-terminated) or
 * -ENOENT. */
ssize_t sl_spool_receipt(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN],
			 char *buf, size_t size);
/* Whether id was delivered before (a receipt exists): the replay check. */
bool sl_spool_delivered(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN]);
/* How delivered envelope id came: SL_SP_VIA_TSP or "line". */
const char *sl_spool_via(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN]);

/*
 * An offered envelope (its header opened: key, sender): resume what the
 * spool holds of it, or start it. *from: the first chunk to receive (each
 * chunk already there is verified again with key; the spool is cut after
 * the last good one). 0 or -errno.
 */
int sl_spool_begin(struct sl_spool *sp, struct sl_sp_item *it,
		   const uint8_t *header, const uint8_t key[SL_ENV_KEY_LEN],
		   uint64_t *from);
/* Chunk i (verified by the caller) written at its place and synced. */
int sl_spool_put_chunk(struct sl_spool *sp, const struct sl_sp_item *it,
		       uint64_t i, const uint8_t *buf, size_t len);
/* Its record (attempts, bytes) as the item now says, if the envelope is
 * still in the spool (not delivered or dropped meanwhile). */
int sl_spool_save(struct sl_spool *sp, const struct sl_sp_item *it);
/* The envelope file, read only, for unpacking: an fd or -errno. */
int sl_spool_open_env(struct sl_spool *sp, const struct sl_sp_item *it);
/* Items whose every chunk is in the spool (to unpack at start). */
int sl_spool_list(struct sl_spool *sp, struct sl_sp_item **items, size_t *n);

/*
 * After sl_env_unpack() into staging succeeded: the steps of the header
 * from the receipt on. receipt: signed text. REPLAY if the inbox has it
 * already (the staging copy removed; the stored receipt stays the one).
 */
enum sl_env_reason sl_spool_commit(struct sl_spool *sp, struct sl_sp_item *it,
				   const struct sl_env_received *rx,
				   const char *receipt, size_t len,
				   struct sl_env_refusal *why);
/*
 * A refusal of the envelope (logged); drop: its spool files go (a
 * refusal that would repeat), else they stay for another attempt.
 */
int sl_spool_refused(struct sl_spool *sp, struct sl_sp_item *it,
		     const struct sl_env_refusal *why, bool drop, int64_t now);
/* Removes an item's spool files (cancelled by the sender, too old). */
int sl_spool_drop(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN]);

/* The receive log's record of a refusal before anything was spooled
 * (sender may be "" if unknown; via as in struct sl_sp_item). */
int sl_spool_log_refusal(struct sl_spool *sp, const uint8_t id[SL_ENV_ID_LEN],
			 const char *sender, uint64_t size, const char *via,
			 const struct sl_env_refusal *why, int64_t now);

/*
 * The entries of INBOX/id, walked (never following links): fn is called
 * with each relative name, its type ('f', 'd', 'l'), size and mtime.
 * -ENOENT if the inbox has no such envelope.
 */
typedef int (*sl_spool_walk_fn)(void *ctx, const char *name, char type,
				uint64_t size, int64_t mtime);
int sl_spool_walk(struct sl_spool *sp, const char *hex, sl_spool_walk_fn fn,
		  void *ctx);

#endif
