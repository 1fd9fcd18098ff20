/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The courier's transfer protocol (Documentation/courier.rst, "Transfer"):
 * one envelope from a sender to a recipient over one line, in the
 * plaintexts of COURIER messages (cchan.h seals them). A pure engine, as
 * the handshake's: no I/O of its own, no clock; the daemon hands it what
 * arrives and the time, takes the messages it wants sent, and does the
 * disk work it asks for.
 *
 *	sender				recipient
 *	OFFER (id, size, piece,
 *	       the envelope header) ->	opens the header, checks limits,
 *				     <-	ANSWER accept from chunk k | refuse
 *	DATA (chunk, offset, bytes) ->	reassembles a chunk, the daemon
 *	  ... a window of them		verifies it and makes it durable
 *				     <-	ACK (chunks durable, pieces seen)
 *	  ... resends of what is lost	...
 *				     <-	RESULT (receipt | refusal)
 *	END			     ->
 *	(ABORT: the sender withdraws)
 *
 * A chunk of the envelope (65,552 bytes on the wire, envelope.h) travels
 * as pieces of `piece` bytes (the sender's choice, 1928 by default: 34 to
 * a chunk). Piece j of chunk c has the sequence number c * ppc + j (ppc:
 * pieces in a full chunk); ACKs name the first sequence number not yet
 * received and a 64-bit map of the ones after it, so a lost message costs
 * one resend of that message. The sender keeps at most SL_XFER_WINDOW
 * pieces in flight, fewer on a slow line (about SL_XFER_TARGET_DELAY_MS
 * of measured delivery rate, so that a handshake's control message never
 * waits long behind the courier's in the kernel's queue), and never sends
 * into a chunk more than SL_XFER_RX_CHUNKS ahead of the last durable one
 * (the recipient's memory). Resends: on the retransmission timer (RFC
 * 6298 on the measured round trip, doubling) and when the map shows a
 * piece missing with three later ones seen. Every chunk reaches the
 * recipient's daemon once and in order (sl_xrecv_take_chunk()); after a
 * cut the next attempt's ANSWER says where to resume (its first chunk not
 * durable), so nothing acknowledged is sent again.
 *
 * Messages (all integers big-endian; xfer: the transfer's 4-byte id,
 * random, chosen by the sender for each attempt):
 *
 *	OFFER   1 | xfer | size (8) | piece (2) | header (153)
 *	        [ | not_before (8) | window (4) ]
 *	ANSWER  2 | xfer | code (1) | from (4) | detail (0..240)
 *	DATA    3 | xfer | chunk (4) | offset (4) | bytes
 *	ACK     4 | xfer | durable (4) | next (4) | map (8) | state (1)
 *	RESULT  5 | xfer | code (1) | receipt or detail
 *	END     6 | xfer
 *	ABORT   7 | xfer | reason (1)
 *	PAD     8 | xfer | bytes (at most piece + 8: no longer than DATA)
 *
 * code: 0 accepted / delivered, else a refusal (enum sl_env_reason, the
 * courier's numbers). OFFER's optional schedule is for a TSP that holds
 * the envelope (store-and-forward.rst): not_before, ms since the epoch
 * (0: none), and window, start * 1440 + end minutes of the UTC day (-1:
 * none); a recipient that is no TSP ignores it.
 *
 * PAD (store-and-forward.rst, "Padding to size buckets"): a sender whose
 * transfer goes through a TSP (pad_to: the envelope's bucket) sends, in
 * between its first sends of DATA, PAD messages of the same length whose
 * bytes make up the difference, so that what crosses the line is the
 * bucket whatever the envelope's size; all of them before the last new
 * piece, so they arrive before the recipient can be complete. They take
 * no window and are never resent or answered. The recipient counts and
 * discards them: only while receiving (anywhere else a PAD is dropped),
 * none longer than a full DATA, and never more in all than the bucket
 * less the envelope; a sender that pads past that is refused
 * (BAD_FORMAT) by the engine itself. Not thread-safe; one engine per
 * transfer.
 */
#ifndef SEALINE_AGENT_XFER_H
#define SEALINE_AGENT_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cchan.h"

/* ---- The format (envelope.h has the same; the engine does not link the
 * courier's library) ----------------------------------------------------- */
#define SL_XFER_HEADER_LEN	153	/* SL_ENV_HEADER_LEN */
#define SL_XFER_CHUNK_WIRE	65552	/* SL_ENV_CHUNK_WIRE_LEN */
#define SL_XFER_TAG_LEN		16	/* the smallest chunk */

/* ---- Limits and timing ------------------------------------------------ */
#define SL_XFER_DATA_HDR	13
#define SL_XFER_PIECE_DEFAULT	1928	/* 34 pieces make a chunk */
#define SL_XFER_PIECE_MIN	512
#define SL_XFER_PIECE_MAX	(SL_CCHAN_MAX_PLAIN - SL_XFER_DATA_HDR)
#define SL_XFER_PPC_MAX		((SL_XFER_CHUNK_WIRE + SL_XFER_PIECE_MIN - 1) / \
				 SL_XFER_PIECE_MIN)
#define SL_XFER_WINDOW		10	/* pieces in flight at most: below
					 * the kernel's 16 queued control
					 * messages, with room for others */
#define SL_XFER_WINDOW_MIN	2
#define SL_XFER_RX_CHUNKS	2	/* chunks the recipient holds */
#define SL_XFER_MAP_BITS	64
#define SL_XFER_ACK_EVERY	4	/* pieces per ACK, at most */
#define SL_XFER_ACK_DELAY_MS	100
#define SL_XFER_DUP_THRESHOLD	3	/* later pieces seen: resend */
#define SL_XFER_RTO_INIT_MS	3000
/* Never below what a full window can queue in the kernel (about
 * TARGET_DELAY), or a long queue would look like loss. */
#define SL_XFER_RTO_MIN_MS	3000
#define SL_XFER_RTO_MAX_MS	60000
#define SL_XFER_TARGET_DELAY_MS	2000
#define SL_XFER_RATE_SAMPLE_MS	500
#define SL_XFER_BLOCKED_MS	50	/* the kernel's queue was full */
#define SL_XFER_IDLE_MS		60000	/* nothing from the other side */
#define SL_XFER_OFFER_SENDS	6
#define SL_XFER_RESULT_SENDS	6
#define SL_XFER_ABORT_SENDS	2
#define SL_XFER_HEARTBEAT_MS	5000	/* recipient, while unpacking */
#define SL_XFER_LINGER_MS	30000	/* answer late copies */
#define SL_XFER_DETAIL_MAX	240
#define SL_XFER_OFFER_LEN	(15 + SL_XFER_HEADER_LEN)
#define SL_XFER_SCHEDULE_LEN	12	/* OFFER's optional schedule */
#define SL_XFER_WINDOW_NONE	(-1)
#define SL_XFER_TEXT_MAX	(SL_CCHAN_MAX_PLAIN - 6)
#define SL_XFER_PAD_HDR		5
/* The smallest size bucket (store-and-forward.rst). */
#define SL_XFER_BUCKET_MIN	65536ULL
/* The refusal the engine makes itself, of a sender that pads past the
 * bucket: the courier's BAD_FORMAT (envelope.h; asserted in deposit.c). */
#define SL_XFER_BAD_FORMAT	1

enum sl_xfer_kind {
	SL_XFER_OFFER = 1,
	SL_XFER_ANSWER,
	SL_XFER_DATA,
	SL_XFER_ACK,
	SL_XFER_RESULT,
	SL_XFER_END,
	SL_XFER_ABORT,
	SL_XFER_PAD,		/* a sender's padding: counted, discarded */
	/* Store and forward (store-and-forward.rst, "Receipts and notices
	 * back to the sender"): not part of a transfer. T sends
	 * NOTE 9 | id | kind (1) | text for each receipt or notice it
	 * holds for the sender; the sender answers NOTE_ACK 10 | id once
	 * it has stored it. id: T's, random per NOTE. */
	SL_XFER_NOTE = 9,
	SL_XFER_NOTE_ACK = 10,
};

/* NOTE's kind. */
enum sl_xfer_note_kind {
	SL_XFER_NOTE_RECEIPT = 1,	/* the recipient's signed receipt */
	SL_XFER_NOTE_ACCEPTANCE = 2,	/* T's acceptance, again */
	SL_XFER_NOTE_NOTICE = 3,	/* T's signed non-delivery notice */
};
#define SL_XFER_NOTE_HDR	6
#define SL_XFER_NOTE_ACK_LEN	5

/* ACK's state byte. */
enum sl_xfer_ack_state {
	SL_XFER_ACK_RECEIVING = 0,
	SL_XFER_ACK_COMPLETE = 1,	/* every chunk durable: unpacking */
};

/* ABORT's reason. */
enum sl_xfer_abort_reason {
	SL_XFER_ABORT_CANCELLED = 1,	/* the sender's operator */
	SL_XFER_ABORT_LOCAL = 2,	/* the sender cannot go on */
};

/* A message's kind and transfer id; false if it is too short. */
bool sl_xfer_peek(const uint8_t *msg, size_t len, uint8_t *kind,
		  uint32_t *id);
/* Whether the sender of a transfer (true) or its recipient receives
 * messages of this kind. */
static inline bool sl_xfer_for_sender(uint8_t kind)
{
	return kind == SL_XFER_ANSWER || kind == SL_XFER_ACK ||
	       kind == SL_XFER_RESULT;
}

/* An envelope's size class on a line through a TSP: max(64 KiB, the
 * next power of two); 0 for a size over 2^62. */
static inline uint64_t sl_xfer_bucket(uint64_t size)
{
	uint64_t b = SL_XFER_BUCKET_MIN;

	while (b < size) {
		if (b >> 62)
			return 0;
		b <<= 1;
	}
	return b;
}

/* An envelope of size bytes: its chunks, and chunk i's length on the
 * wire; 0 chunks for a size no envelope has. */
uint64_t sl_xfer_chunks(uint64_t size);
size_t sl_xfer_chunk_len(uint64_t size, uint64_t i);

/* ---- Sender ----------------------------------------------------------- */

enum sl_xsend_state {
	SL_XSEND_OFFERING = 1,
	SL_XSEND_SENDING,
	SL_XSEND_WAIT_RESULT,	/* every chunk durable at the recipient */
	SL_XSEND_DONE,		/* RESULT came: outcome in the status */
	SL_XSEND_FAILED,	/* no answer, no progress, a local failure */
	SL_XSEND_ABORTED,	/* sl_xsend_abort() */
};

struct sl_xsend_cfg {
	uint32_t id;			/* nonzero, random */
	uint64_t size;			/* the envelope's bytes */
	const uint8_t *header;		/* its first SL_XFER_HEADER_LEN */
	uint16_t piece;			/* 0: SL_XFER_PIECE_DEFAULT */
	/* The envelope's bytes [off, off + len) into buf: 0 or -errno. */
	int (*read)(void *ctx, uint64_t off, uint8_t *buf, size_t len);
	void *ctx;
	/* For a TSP (has_schedule): deliver not before, inside the window. */
	bool has_schedule;
	int64_t not_before_ms;		/* 0: none */
	int32_t window;			/* SL_XFER_WINDOW_NONE: none */
	/* Through a TSP: DATA and PAD bytes make up this many
	 * (sl_xfer_bucket(size)); 0: no padding. */
	uint64_t pad_to;
};

struct sl_xsend_status {
	enum sl_xsend_state state;
	uint64_t chunks;
	uint64_t from;			/* where the recipient resumed */
	uint64_t durable;		/* chunks the recipient made durable */
	uint64_t bytes_acked;		/* envelope bytes acknowledged */
	uint64_t pieces_sent, resends;	/* DATA messages, and of them resent */
	uint64_t data_bytes;		/* envelope bytes sent in DATA */
	uint64_t pad_bytes;		/* padding bytes sent in PAD */
	uint64_t messages;		/* every message handed out */
	uint32_t srtt_ms, rto_ms, window;
	/* DONE: code 0 and the receipt, or the refusal (enum
	 * sl_env_reason) with its detail; FAILED: why, for people. */
	uint8_t code;
	bool answered;			/* an ANSWER or RESULT came */
	char text[SL_XFER_TEXT_MAX + 1];
	size_t text_len;
};

struct sl_xsend;

/* -EINVAL for a bad configuration, -ENOMEM. */
int sl_xsend_new(struct sl_xsend **x, const struct sl_xsend_cfg *cfg,
		 uint64_t now);
void sl_xsend_free(struct sl_xsend *x);
uint32_t sl_xsend_id(const struct sl_xsend *x);

/*
 * A message for this transfer (its id, a sender's kind). 0, or -EINVAL
 * for a malformed one (dropped; the transfer goes on).
 */
int sl_xsend_input(struct sl_xsend *x, const uint8_t *msg, size_t len,
		   uint64_t now);
/*
 * The next message to send now into buf (SL_CCHAN_MAX_PLAIN bytes):
 * its length, or 0 when nothing is due (call again at the next timer or
 * after an input). Timers are handled here: resends, deadlines. A read
 * error fails the transfer (FAILED).
 */
size_t sl_xsend_output(struct sl_xsend *x, uint64_t now, uint8_t *buf);
/* The last message output() gave could not be sent (the kernel's queue
 * was full): it counts as lost, and nothing goes out for a moment. */
void sl_xsend_unsent(struct sl_xsend *x, uint64_t now);
/* When output() next has something to do; 0: never (done). */
uint64_t sl_xsend_next_timer(const struct sl_xsend *x);
/* Withdraw: ABORT (sent twice), then ABORTED. */
void sl_xsend_abort(struct sl_xsend *x, uint8_t reason, uint64_t now);
void sl_xsend_get_status(const struct sl_xsend *x, struct sl_xsend_status *st);
/* Ended (DONE, FAILED, ABORTED) and nothing more to send or answer. */
bool sl_xsend_finished(const struct sl_xsend *x, uint64_t now);

/* ---- Recipient --------------------------------------------------------- */

enum sl_xrecv_state {
	SL_XRECV_ASKED = 1,	/* OFFER in: the daemon decides */
	SL_XRECV_RECEIVING,
	SL_XRECV_COMPLETE,	/* every chunk durable: the daemon unpacks */
	SL_XRECV_RESULT,	/* RESULT sent, waiting for END */
	SL_XRECV_DONE,		/* END came, or refused at the offer */
	SL_XRECV_STALLED,	/* nothing from the sender for too long */
	SL_XRECV_ABORTED,	/* the sender withdrew */
};

struct sl_xrecv_offer {
	uint32_t id;
	uint64_t size;
	uint64_t chunks;
	uint16_t piece;
	uint8_t header[SL_XFER_HEADER_LEN];
	bool has_schedule;		/* the sender's, for a TSP */
	int64_t not_before_ms;
	int32_t window;
};

struct sl_xrecv_status {
	enum sl_xrecv_state state;
	uint64_t chunks, from, durable;
	uint64_t pieces, duplicates;	/* DATA received, and copies */
	uint64_t bytes;			/* new envelope bytes received */
	uint64_t messages;
	uint8_t abort_reason;
	uint64_t pad_bytes;		/* padding counted and discarded */
	uint64_t pad_dropped;		/* PADs outside the receiving */
	bool pad_refused;		/* padded past the bucket: refused */
};

struct sl_xrecv;

/*
 * A new recipient from an OFFER: -EINVAL if it is not a valid one (a
 * size no envelope has, a piece size out of range), -ENOMEM.
 */
int sl_xrecv_new(struct sl_xrecv **x, const uint8_t *msg, size_t len,
		 uint64_t now);
/*
 * For an OFFER sl_xrecv_new() found invalid: a recipient that only refuses
 * it (ANSWER with code and detail, then DONE), so that its sender learns
 * at once instead of by its timeout. -EINVAL if the message names no
 * transfer (not an OFFER, no id), -ENOMEM.
 */
int sl_xrecv_new_refused(struct sl_xrecv **x, const uint8_t *msg,
			 size_t len, uint8_t code, const char *detail,
			 uint64_t now);
void sl_xrecv_free(struct sl_xrecv *x);
const struct sl_xrecv_offer *sl_xrecv_offer(const struct sl_xrecv *x);

/* The daemon's decision on the offer: take it from chunk `from` (the
 * first not durable in its spool; chunks: all there, it unpacks at once),
 * or refuse it (code, detail: ANSWER; the transfer is DONE). */
void sl_xrecv_accept(struct sl_xrecv *x, uint64_t from, uint64_t now);
void sl_xrecv_refuse(struct sl_xrecv *x, uint8_t code, const char *detail,
		     uint64_t now);
/*
 * The outcome: code 0 with the receipt's text, or a refusal with its
 * detail; RESULT goes out, and again until END comes. Any state but DONE:
 * a replay is answered with a RESULT straight after the OFFER.
 */
void sl_xrecv_result(struct sl_xrecv *x, uint8_t code, const char *text,
		     size_t len, uint64_t now);

/* A message of the sender's kinds (OFFER copies, DATA, PAD, END, ABORT)
 * for this transfer. 0 or -EINVAL (malformed or out of place, dropped).
 * A PAD past the bucket makes the engine refuse the transfer itself
 * (RESULT BAD_FORMAT; status pad_refused) and returns -EMSGSIZE. */
int sl_xrecv_input(struct sl_xrecv *x, const uint8_t *msg, size_t len,
		   uint64_t now);
/*
 * The next chunk to verify, if complete: its index (always the first not
 * durable), bytes and length. The daemon verifies it, writes it to its
 * spool durably, then calls chunk_done(); or refuses the envelope with
 * sl_xrecv_result() (DAMAGED, NO_SPACE, IO). Each chunk is handed out
 * once, in order.
 */
bool sl_xrecv_take_chunk(struct sl_xrecv *x, uint64_t *index,
			 const uint8_t **buf, size_t *len);
void sl_xrecv_chunk_done(struct sl_xrecv *x, uint64_t now);

size_t sl_xrecv_output(struct sl_xrecv *x, uint64_t now, uint8_t *buf);
void sl_xrecv_unsent(struct sl_xrecv *x, uint64_t now);
uint64_t sl_xrecv_next_timer(const struct sl_xrecv *x);
void sl_xrecv_get_status(const struct sl_xrecv *x, struct sl_xrecv_status *st);
/* DONE, STALLED or ABORTED, and nothing more to answer. */
bool sl_xrecv_finished(const struct sl_xrecv *x, uint64_t now);

#endif
