// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The courier's transfer protocol, both sides (xfer.h): the sender's
 * window, resends and deadlines, the recipient's reassembly of chunks
 * and its acknowledgements.
 *
 * Why one file of about 1,250 lines: the two sides are one protocol; they
 * share the message codecs, the sequence numbering of pieces, the
 * padding's budget and the map arithmetic of ACKs, which must agree bit for bit, and test_xfer
 * and fuzz_xfer drive both against each other. Split, those helpers
 * would become an interface with these two files as its only users.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "xfer.h"

#define MIN(a, b)	((a) < (b) ? (a) : (b))
#define MAX(a, b)	((a) > (b) ? (a) : (b))

/* ---- Shared ------------------------------------------------------------ */

static void put(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

bool sl_xfer_peek(const uint8_t *msg, size_t len, uint8_t *kind, uint32_t *id)
{
	if (len < 5)
		return false;
	*kind = msg[0];
	*id = (uint32_t)get(msg + 1, 4);
	return true;
}

uint64_t sl_xfer_chunks(uint64_t size)
{
	uint64_t wire;

	if (size < SL_XFER_HEADER_LEN + SL_XFER_TAG_LEN ||
	    size > (1ULL << 56))
		return 0;
	wire = size - SL_XFER_HEADER_LEN;
	return (wire + SL_XFER_CHUNK_WIRE - 1) / SL_XFER_CHUNK_WIRE;
}

size_t sl_xfer_chunk_len(uint64_t size, uint64_t i)
{
	uint64_t n = sl_xfer_chunks(size);

	if (i >= n)
		return 0;
	if (i + 1 < n)
		return SL_XFER_CHUNK_WIRE;
	return (size_t)(size - SL_XFER_HEADER_LEN - i * SL_XFER_CHUNK_WIRE);
}

static uint64_t chunk_offset(uint64_t i)
{
	return SL_XFER_HEADER_LEN + i * (uint64_t)SL_XFER_CHUNK_WIRE;
}

static unsigned int pieces_per_chunk(unsigned int piece)
{
	return (SL_XFER_CHUNK_WIRE + piece - 1) / piece;
}

/* ---- Sender ------------------------------------------------------------ */

enum piece_state {
	P_UNSENT = 0,
	P_FLIGHT,		/* sent, not acknowledged */
	P_LOST,			/* to be sent again */
	P_ACKED,
	P_NONE,			/* past the last chunk's end */
};

struct spiece {
	uint8_t st;
	uint8_t sends;
	uint64_t sent_at;
	uint64_t order;		/* of its last send, among all DATA sent */
};

#define SWIN	(SL_XFER_RX_CHUNKS * SL_XFER_PPC_MAX)

struct sl_xsend {
	struct sl_xsend_cfg cfg;
	uint8_t header[SL_XFER_HEADER_LEN];
	enum sl_xsend_state st;
	uint64_t chunks;
	unsigned int ppc;
	uint64_t last_seq;		/* one past the last piece */

	/* OFFERING */
	uint64_t offer_at;
	unsigned int offer_sends;
	uint32_t offer_rto;

	/* SENDING: pieces of chunks [base, base + RX_CHUNKS) */
	uint64_t base;			/* chunks durable at the recipient */
	struct spiece p[SWIN];
	uint64_t orders;		/* DATA sends so far */
	uint64_t max_acked_order;
	bool any_acked;
	unsigned int in_flight;

	/* Round trip and rate. */
	uint32_t srtt, rttvar, rto;
	bool have_rtt;
	unsigned int backoff;		/* RTO doublings since progress */
	uint64_t rate;			/* bytes a second, 0: not measured */
	uint64_t rate_t0, rate_b0;
	unsigned int cap;		/* pieces in flight allowed now */

	uint64_t blocked_until;
	uint64_t last_heard;
	uint64_t finished_at;		/* DONE/FAILED/ABORTED: when */

	/* What to answer: END for a RESULT, ABORT while withdrawing. */
	bool end_due;
	unsigned int abort_sends;
	uint8_t abort_reason;
	/* The last output, for unsent(). */
	uint8_t last_kind;
	int64_t last_seq_out;

	/* PAD: bytes to send in all, sent; the envelope's bytes this
	 * attempt sends (from the resume point on), sent for the first
	 * time so far. */
	uint64_t pad_total, pad_sent;
	uint64_t fresh_total, fresh_sent;
	size_t last_pad;		/* the last PAD's bytes, for unsent() */

	struct sl_xsend_status s;
};

static int64_t seq_index(const struct sl_xsend *x, uint64_t seq)
{
	uint64_t first = x->base * x->ppc;

	if (seq < first || seq >= first + (uint64_t)SL_XFER_RX_CHUNKS * x->ppc)
		return -1;
	return (int64_t)(seq - first);
}

/* Length of piece seq, 0 if it does not exist. */
static size_t piece_len(const struct sl_xsend *x, uint64_t seq, uint64_t *chunk,
			size_t *off)
{
	uint64_t c = seq / x->ppc;
	size_t o = (size_t)(seq % x->ppc) * x->cfg.piece;
	size_t clen = sl_xfer_chunk_len(x->cfg.size, c);

	if (o >= clen)
		return 0;
	if (chunk)
		*chunk = c;
	if (off)
		*off = o;
	return MIN((size_t)x->cfg.piece, clen - o);
}

/* Marks the pieces of the window that do not exist (the last chunk's
 * end) and the chunks past the end. */
static void mark_none(struct sl_xsend *x)
{
	for (unsigned int i = 0; i < SL_XFER_RX_CHUNKS * x->ppc; i++) {
		uint64_t seq = x->base * x->ppc + i;

		if (x->p[i].st == P_UNSENT && !piece_len(x, seq, NULL, NULL))
			x->p[i].st = P_NONE;
	}
}

static void fail(struct sl_xsend *x, uint64_t now, const char *why)
{
	size_t n = strlen(why);

	x->st = SL_XSEND_FAILED;
	x->finished_at = now;
	n = MIN(n, sizeof(x->s.text) - 1);
	memcpy(x->s.text, why, n);
	x->s.text[n] = 0;
	x->s.text_len = n;
}

int sl_xsend_new(struct sl_xsend **out, const struct sl_xsend_cfg *cfg,
		 uint64_t now)
{
	struct sl_xsend *x;
	uint16_t piece = cfg->piece ? cfg->piece : SL_XFER_PIECE_DEFAULT;

	*out = NULL;
	if (!cfg->id || !cfg->header || !cfg->read ||
	    !sl_xfer_chunks(cfg->size) || piece < SL_XFER_PIECE_MIN ||
	    piece > SL_XFER_PIECE_MAX)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->cfg = *cfg;
	x->cfg.piece = piece;
	memcpy(x->header, cfg->header, SL_XFER_HEADER_LEN);
	x->cfg.header = x->header;
	x->chunks = sl_xfer_chunks(cfg->size);
	x->ppc = pieces_per_chunk(piece);
	x->last_seq = (x->chunks - 1) * x->ppc +
		      (sl_xfer_chunk_len(cfg->size, x->chunks - 1) + piece - 1) /
		      piece;
	if (cfg->pad_to > cfg->size)
		x->pad_total = cfg->pad_to - cfg->size;
	x->st = SL_XSEND_OFFERING;
	x->offer_at = now;
	x->offer_rto = SL_XFER_RTO_INIT_MS;
	x->rto = SL_XFER_RTO_INIT_MS;
	x->cap = 4;
	x->last_heard = now;
	x->last_seq_out = -1;
	x->s.chunks = x->chunks;
	*out = x;
	return 0;
}

void sl_xsend_free(struct sl_xsend *x)
{
	if (!x)
		return;
	sl_wipe(x, sizeof(*x));
	free(x);
}

uint32_t sl_xsend_id(const struct sl_xsend *x)
{
	return x->cfg.id;
}

static bool ended(enum sl_xsend_state st)
{
	return st == SL_XSEND_DONE || st == SL_XSEND_FAILED ||
	       st == SL_XSEND_ABORTED;
}

/* The window moves to chunk d: everything before it is durable there. */
static void advance(struct sl_xsend *x, uint64_t d)
{
	uint64_t shift;
	size_t keep;

	if (d <= x->base)
		return;
	d = MIN(d, x->chunks);
	shift = (d - x->base) * x->ppc;
	for (uint64_t i = 0; i < MIN(shift, (uint64_t)SWIN); i++)
		if (x->p[i].st == P_FLIGHT)
			x->in_flight--;
	keep = shift < SWIN ? SWIN - (size_t)shift : 0;
	if (keep)
		memmove(x->p, x->p + shift, keep * sizeof(x->p[0]));
	memset(x->p + keep, 0, (SWIN - keep) * sizeof(x->p[0]));
	x->base = d;
	x->s.durable = d;
	mark_none(x);
}

static void rtt_sample(struct sl_xsend *x, uint64_t rtt)
{
	uint32_t r = rtt > SL_XFER_RTO_MAX_MS ? SL_XFER_RTO_MAX_MS : (uint32_t)rtt;

	/* RFC 6298, in milliseconds. */
	if (!x->have_rtt) {
		x->srtt = r;
		x->rttvar = r / 2;
		x->have_rtt = true;
	} else {
		uint32_t d = x->srtt > r ? x->srtt - r : r - x->srtt;

		x->rttvar = (3 * x->rttvar + d) / 4;
		x->srtt = (7 * x->srtt + r) / 8;
	}
	x->rto = MAX((uint32_t)SL_XFER_RTO_MIN_MS,
		     MIN((uint32_t)SL_XFER_RTO_MAX_MS, x->srtt + 4 * x->rttvar));
}

/* Pieces allowed in flight: about TARGET_DELAY of the delivery rate. */
static void set_cap(struct sl_xsend *x)
{
	uint64_t bytes = x->rate * SL_XFER_TARGET_DELAY_MS / 1000;
	uint64_t n = bytes / x->cfg.piece;

	if (!x->rate)
		return;
	x->cap = (unsigned int)MAX((uint64_t)SL_XFER_WINDOW_MIN,
				   MIN(n, (uint64_t)SL_XFER_WINDOW));
}

static void acked(struct sl_xsend *x, struct spiece *p, uint64_t seq,
		  uint64_t now, uint64_t *newest_sample, uint64_t *rtt)
{
	if (p->st == P_ACKED || p->st == P_NONE || p->st == P_UNSENT)
		return;
	if (p->st == P_FLIGHT)
		x->in_flight--;
	p->st = P_ACKED;
	x->s.bytes_acked += piece_len(x, seq, NULL, NULL);
	if (!x->any_acked || p->order > x->max_acked_order)
		x->max_acked_order = p->order;
	x->any_acked = true;
	/* Karn: only a piece sent once times the round trip. */
	if (p->sends == 1 && p->order >= *newest_sample) {
		*newest_sample = p->order;
		*rtt = now - p->sent_at;
	}
}

static void on_ack(struct sl_xsend *x, const uint8_t *m, size_t len,
		   uint64_t now)
{
	uint64_t durable, next, map, newest = 0, rtt = UINT64_MAX;
	uint64_t before = x->s.bytes_acked;
	uint64_t first;

	if (len != 22)
		return;
	durable = get(m + 5, 4);
	next = get(m + 9, 4);
	map = get(m + 13, 8);
	if (durable > x->chunks)
		return;
	if (x->st != SL_XSEND_SENDING && x->st != SL_XSEND_WAIT_RESULT)
		return;
	if (durable > x->base) {
		/* Bytes of chunks made durable count as acknowledged. */
		for (uint64_t i = 0; i < (durable - x->base) * x->ppc && i < SWIN;
		     i++) {
			struct spiece *p = &x->p[i];

			acked(x, p, x->base * x->ppc + i, now, &newest, &rtt);
		}
		advance(x, durable);
	}
	first = x->base * x->ppc;
	for (uint64_t seq = first; seq < next; seq++) {
		int64_t i = seq_index(x, seq);

		if (i < 0)
			break;
		acked(x, &x->p[i], seq, now, &newest, &rtt);
	}
	for (int b = 0; b < SL_XFER_MAP_BITS; b++) {
		int64_t i;

		if (!(map >> b & 1))
			continue;
		i = seq_index(x, next + 1 + (uint64_t)b);
		if (i >= 0)
			acked(x, &x->p[i], next + 1 + (uint64_t)b, now, &newest,
			      &rtt);
	}
	if (rtt != UINT64_MAX)
		rtt_sample(x, rtt);
	if (x->s.bytes_acked > before) {
		x->backoff = 0;
		if (now - x->rate_t0 >= SL_XFER_RATE_SAMPLE_MS) {
			uint64_t sample = (x->s.bytes_acked - x->rate_b0) * 1000 /
					  (now - x->rate_t0);

			x->rate = x->rate ? (3 * x->rate + sample) / 4 : sample;
			x->rate_t0 = now;
			x->rate_b0 = x->s.bytes_acked;
			set_cap(x);
		}
	}
	/* A piece sent DUP_THRESHOLD sends before one that arrived is
	 * lost: a serial line does not reorder. */
	if (x->any_acked) {
		for (unsigned int i = 0; i < SL_XFER_RX_CHUNKS * x->ppc; i++) {
			struct spiece *p = &x->p[i];

			if (p->st == P_FLIGHT &&
			    p->order + SL_XFER_DUP_THRESHOLD <= x->max_acked_order) {
				p->st = P_LOST;
				x->in_flight--;
			}
		}
	}
	if (x->st == SL_XSEND_SENDING && x->base == x->chunks)
		x->st = SL_XSEND_WAIT_RESULT;
	if (m[21] == SL_XFER_ACK_COMPLETE && x->base == x->chunks)
		x->st = SL_XSEND_WAIT_RESULT;
}

static void on_answer(struct sl_xsend *x, const uint8_t *m, size_t len,
		      uint64_t now)
{
	uint64_t from;
	size_t n;

	if (len < 10 || len > 10 + SL_XFER_DETAIL_MAX)
		return;
	if (x->st != SL_XSEND_OFFERING)
		return;			/* a copy */
	x->s.answered = true;
	if (m[5]) {
		x->st = SL_XSEND_DONE;
		x->finished_at = now;
		x->s.code = m[5];
		n = len - 10;
		memcpy(x->s.text, m + 10, n);
		x->s.text[n] = 0;
		x->s.text_len = n;
		return;
	}
	from = get(m + 6, 4);
	if (from > x->chunks)
		return;
	x->s.from = from;
	x->base = 0;
	memset(x->p, 0, sizeof(x->p));
	advance(x, from);
	mark_none(x);
	x->s.durable = from;
	x->st = from == x->chunks ? SL_XSEND_WAIT_RESULT : SL_XSEND_SENDING;
	x->fresh_total = x->cfg.size - chunk_offset(from);
	x->rate_t0 = now;
	x->rate_b0 = x->s.bytes_acked;
}

static void on_result(struct sl_xsend *x, const uint8_t *m, size_t len,
		      uint64_t now)
{
	size_t n;

	if (len < 6 || len - 6 > SL_XFER_TEXT_MAX)
		return;
	x->end_due = true;	/* every copy gets an END */
	if (ended(x->st))
		return;
	x->s.answered = true;
	x->st = SL_XSEND_DONE;
	x->finished_at = now;
	x->s.code = m[5];
	n = len - 6;
	memcpy(x->s.text, m + 6, n);
	x->s.text[n] = 0;
	x->s.text_len = n;
}

int sl_xsend_input(struct sl_xsend *x, const uint8_t *msg, size_t len,
		   uint64_t now)
{
	uint8_t kind;
	uint32_t id;

	if (!sl_xfer_peek(msg, len, &kind, &id) || id != x->cfg.id ||
	    !sl_xfer_for_sender(kind))
		return -EINVAL;
	if (x->st == SL_XSEND_ABORTED)
		return 0;
	x->last_heard = now;
	switch (kind) {
	case SL_XFER_ANSWER:
		on_answer(x, msg, len, now);
		break;
	case SL_XFER_ACK:
		on_ack(x, msg, len, now);
		break;
	case SL_XFER_RESULT:
		on_result(x, msg, len, now);
		break;
	}
	return 0;
}

static size_t out_offer(struct sl_xsend *x, uint64_t now, uint8_t *buf)
{
	buf[0] = SL_XFER_OFFER;
	put(buf + 1, x->cfg.id, 4);
	put(buf + 5, x->cfg.size, 8);
	put(buf + 13, x->cfg.piece, 2);
	memcpy(buf + 15, x->header, SL_XFER_HEADER_LEN);
	x->offer_sends++;
	x->offer_at = now + x->offer_rto;
	x->offer_rto = MIN(x->offer_rto * 2, (uint32_t)SL_XFER_RTO_MAX_MS);
	if (!x->cfg.has_schedule)
		return SL_XFER_OFFER_LEN;
	put(buf + SL_XFER_OFFER_LEN, (uint64_t)x->cfg.not_before_ms, 8);
	put(buf + SL_XFER_OFFER_LEN + 8, (uint32_t)x->cfg.window, 4);
	return SL_XFER_OFFER_LEN + SL_XFER_SCHEDULE_LEN;
}

/* Pieces in flight past their RTO are lost; the RTO doubles. */
static void check_rto(struct sl_xsend *x, uint64_t now)
{
	uint64_t rto = (uint64_t)x->rto << MIN(x->backoff, 6u);
	bool expired = false;

	rto = MIN(rto, (uint64_t)SL_XFER_RTO_MAX_MS);
	for (unsigned int i = 0; i < SL_XFER_RX_CHUNKS * x->ppc; i++) {
		struct spiece *p = &x->p[i];

		if (p->st == P_FLIGHT && now >= p->sent_at + rto) {
			p->st = P_LOST;
			x->in_flight--;
			expired = true;
		}
	}
	if (expired && x->backoff < 6)
		x->backoff++;
}

/*
 * Whether PAD goes before the next new piece (plen bytes): the padding
 * sent keeps pace with the new DATA, and is all out before the last new
 * piece. Repeats of lost pieces neither add nor wait for any.
 */
static bool pad_due(const struct sl_xsend *x, size_t plen)
{
	unsigned __int128 want;

	if (x->pad_sent >= x->pad_total || !x->fresh_total)
		return false;
	want = (unsigned __int128)x->pad_total * (x->fresh_sent + plen) /
	       x->fresh_total;
	return x->pad_sent < want;
}

/* One PAD, as long as a full DATA (or what is left to pad). */
static size_t out_pad(struct sl_xsend *x, uint8_t *buf)
{
	size_t n = MIN((uint64_t)x->cfg.piece + SL_XFER_DATA_HDR -
		       SL_XFER_PAD_HDR, x->pad_total - x->pad_sent);

	buf[0] = SL_XFER_PAD;
	put(buf + 1, x->cfg.id, 4);
	memset(buf + SL_XFER_PAD_HDR, 0, n);
	x->pad_sent += n;
	x->last_pad = n;
	x->s.pad_bytes = x->pad_sent;
	return SL_XFER_PAD_HDR + n;
}

static size_t out_data(struct sl_xsend *x, uint64_t now, uint8_t *buf)
{
	unsigned int n = SL_XFER_RX_CHUNKS * x->ppc;
	int64_t pick = -1;
	uint64_t seq, chunk;
	size_t off, plen;
	struct spiece *p;
	int err;

	if (x->in_flight >= x->cap)
		return 0;
	for (unsigned int i = 0; i < n && pick < 0; i++)
		if (x->p[i].st == P_LOST)
			pick = i;
	for (unsigned int i = 0; i < n && pick < 0; i++)
		if (x->p[i].st == P_UNSENT)
			pick = i;
	if (pick < 0)
		return 0;
	seq = x->base * x->ppc + (uint64_t)pick;
	if (seq >= x->last_seq)
		return 0;
	plen = piece_len(x, seq, &chunk, &off);
	if (!plen)
		return 0;
	p = &x->p[pick];
	if (!p->sends && pad_due(x, plen))
		return out_pad(x, buf);
	if (!p->sends)
		x->fresh_sent += plen;
	buf[0] = SL_XFER_DATA;
	put(buf + 1, x->cfg.id, 4);
	put(buf + 5, chunk, 4);
	put(buf + 9, off, 4);
	err = x->cfg.read(x->cfg.ctx, chunk_offset(chunk) + off,
			  buf + SL_XFER_DATA_HDR, plen);
	if (err) {
		fail(x, now, "cannot read the envelope");
		return 0;
	}
	if (p->sends)
		x->s.resends++;
	if (p->sends < UINT8_MAX)
		p->sends++;
	p->st = P_FLIGHT;
	p->sent_at = now;
	p->order = ++x->orders;
	x->in_flight++;
	x->s.pieces_sent++;
	x->s.data_bytes += plen;
	x->last_seq_out = (int64_t)seq;
	return SL_XFER_DATA_HDR + plen;
}

size_t sl_xsend_output(struct sl_xsend *x, uint64_t now, uint8_t *buf)
{
	size_t n = 0;

	x->last_kind = 0;
	if (x->abort_sends) {
		x->abort_sends--;
		buf[0] = SL_XFER_ABORT;
		put(buf + 1, x->cfg.id, 4);
		buf[5] = x->abort_reason;
		x->last_kind = SL_XFER_ABORT;
		x->s.messages++;
		return 6;
	}
	if (x->end_due) {
		x->end_due = false;
		buf[0] = SL_XFER_END;
		put(buf + 1, x->cfg.id, 4);
		x->last_kind = SL_XFER_END;
		x->s.messages++;
		return 5;
	}
	if (ended(x->st) || now < x->blocked_until)
		return 0;
	x->blocked_until = 0;
	if (now - x->last_heard >= SL_XFER_IDLE_MS) {
		fail(x, now, x->s.answered ?
		     "the recipient stopped answering" :
		     "the recipient does not answer");
		return 0;
	}
	switch (x->st) {
	case SL_XSEND_OFFERING:
		if (now < x->offer_at)
			return 0;
		if (x->offer_sends >= SL_XFER_OFFER_SENDS) {
			fail(x, now, "the recipient does not answer");
			return 0;
		}
		n = out_offer(x, now, buf);
		x->last_kind = SL_XFER_OFFER;
		break;
	case SL_XSEND_SENDING:
		check_rto(x, now);
		n = out_data(x, now, buf);
		if (n)
			x->last_kind = buf[0];
		break;
	default:
		break;
	}
	if (n)
		x->s.messages++;
	return n;
}

void sl_xsend_unsent(struct sl_xsend *x, uint64_t now)
{
	x->blocked_until = now + SL_XFER_BLOCKED_MS;
	switch (x->last_kind) {
	case SL_XFER_DATA: {
		int64_t i = x->last_seq_out >= 0 ?
			    seq_index(x, (uint64_t)x->last_seq_out) : -1;

		if (i >= 0 && x->p[i].st == P_FLIGHT) {
			x->p[i].st = P_LOST;
			x->in_flight--;
		}
		break;
	}
	case SL_XFER_PAD:
		/* Not sent: it goes again (its bytes are all alike). */
		x->pad_sent -= x->last_pad;
		x->last_pad = 0;
		x->s.pad_bytes = x->pad_sent;
		break;
	case SL_XFER_OFFER:
		x->offer_at = now + SL_XFER_BLOCKED_MS;
		break;
	case SL_XFER_END:
		x->end_due = true;
		break;
	case SL_XFER_ABORT:
		x->abort_sends++;
		break;
	}
	x->last_kind = 0;
}

uint64_t sl_xsend_next_timer(const struct sl_xsend *x)
{
	uint64_t t = 0, rto;

#define TAKE(v)	do { uint64_t v_ = (v); if (v_ && (!t || v_ < t)) t = v_; } while (0)
	if (x->abort_sends || x->end_due)
		TAKE(1);
	if (ended(x->st))
		return t;
	TAKE(x->blocked_until);
	TAKE(x->last_heard + SL_XFER_IDLE_MS);
	if (x->st == SL_XSEND_OFFERING)
		TAKE(x->offer_at);
	if (x->st == SL_XSEND_SENDING) {
		rto = MIN((uint64_t)x->rto << MIN(x->backoff, 6u),
			  (uint64_t)SL_XFER_RTO_MAX_MS);
		for (unsigned int i = 0; i < SL_XFER_RX_CHUNKS * x->ppc; i++)
			if (x->p[i].st == P_FLIGHT)
				TAKE(x->p[i].sent_at + rto);
	}
#undef TAKE
	return t;
}

void sl_xsend_abort(struct sl_xsend *x, uint8_t reason, uint64_t now)
{
	if (ended(x->st))
		return;
	x->st = SL_XSEND_ABORTED;
	x->finished_at = now;
	x->abort_sends = SL_XFER_ABORT_SENDS;
	x->abort_reason = reason;
}

void sl_xsend_get_status(const struct sl_xsend *x, struct sl_xsend_status *st)
{
	*st = x->s;
	st->state = x->st;
	st->srtt_ms = x->srtt;
	st->rto_ms = x->rto;
	st->window = x->cap;
}

bool sl_xsend_finished(const struct sl_xsend *x, uint64_t now)
{
	(void)now;
	return ended(x->st) && !x->abort_sends && !x->end_due;
}

/* ---- Recipient ----------------------------------------------------------- */

struct rchunk {
	bool complete, taken;
	unsigned int have;
	uint8_t bits[(SL_XFER_PPC_MAX + 7) / 8];
	uint8_t data[SL_XFER_CHUNK_WIRE];
};

struct sl_xrecv {
	struct sl_xrecv_offer offer;
	enum sl_xrecv_state st;
	unsigned int ppc;
	uint64_t durable;
	struct rchunk buf[SL_XFER_RX_CHUNKS];

	uint64_t last_heard;
	uint64_t ack_at;		/* a delayed ACK, 0: none */
	bool ack_now;
	unsigned int unacked;
	uint64_t heartbeat_at;

	/* ANSWER or RESULT, kept to answer copies. */
	uint8_t reply[SL_CCHAN_MAX_PLAIN];
	size_t reply_len;
	bool reply_due;
	unsigned int result_sends;
	uint64_t result_at;
	uint32_t result_rto;
	uint64_t done_at;
	uint8_t last_kind;

	struct sl_xrecv_status s;
};

int sl_xrecv_new(struct sl_xrecv **out, const uint8_t *m, size_t len,
		 uint64_t now)
{
	struct sl_xrecv *x;
	uint64_t size;
	uint16_t piece;

	*out = NULL;
	if ((len != SL_XFER_OFFER_LEN &&
	     len != SL_XFER_OFFER_LEN + SL_XFER_SCHEDULE_LEN) ||
	    m[0] != SL_XFER_OFFER)
		return -EINVAL;
	size = get(m + 5, 8);
	piece = (uint16_t)get(m + 13, 2);
	if (!get(m + 1, 4) || !sl_xfer_chunks(size) ||
	    piece < SL_XFER_PIECE_MIN || piece > SL_XFER_PIECE_MAX)
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->offer.id = (uint32_t)get(m + 1, 4);
	x->offer.size = size;
	x->offer.chunks = sl_xfer_chunks(size);
	x->offer.piece = piece;
	memcpy(x->offer.header, m + 15, SL_XFER_HEADER_LEN);
	x->offer.window = SL_XFER_WINDOW_NONE;
	if (len > SL_XFER_OFFER_LEN) {
		x->offer.has_schedule = true;
		x->offer.not_before_ms = (int64_t)get(m + SL_XFER_OFFER_LEN, 8);
		x->offer.window = (int32_t)(uint32_t)get(m + SL_XFER_OFFER_LEN + 8,
							 4);
	}
	x->ppc = pieces_per_chunk(piece);
	x->st = SL_XRECV_ASKED;
	x->last_heard = now;
	x->s.chunks = x->offer.chunks;
	*out = x;
	return 0;
}

int sl_xrecv_new_refused(struct sl_xrecv **out, const uint8_t *m,
			 size_t len, uint8_t code, const char *detail,
			 uint64_t now)
{
	struct sl_xrecv *x;

	*out = NULL;
	if (len < 5 || m[0] != SL_XFER_OFFER || !get(m + 1, 4))
		return -EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->offer.id = (uint32_t)get(m + 1, 4);
	x->st = SL_XRECV_ASKED;
	x->last_heard = now;
	sl_xrecv_refuse(x, code, detail, now);
	*out = x;
	return 0;
}

void sl_xrecv_free(struct sl_xrecv *x)
{
	if (!x)
		return;
	sl_wipe(x, sizeof(*x));
	free(x);
}

const struct sl_xrecv_offer *sl_xrecv_offer(const struct sl_xrecv *x)
{
	return &x->offer;
}

static bool rended(enum sl_xrecv_state st)
{
	return st == SL_XRECV_DONE || st == SL_XRECV_STALLED ||
	       st == SL_XRECV_ABORTED;
}

static void answer(struct sl_xrecv *x, uint8_t code, uint64_t from,
		   const char *detail)
{
	size_t n = detail ? MIN(strlen(detail), (size_t)SL_XFER_DETAIL_MAX) : 0;

	x->reply[0] = SL_XFER_ANSWER;
	put(x->reply + 1, x->offer.id, 4);
	x->reply[5] = code;
	put(x->reply + 6, from, 4);
	if (n)
		memcpy(x->reply + 10, detail, n);
	x->reply_len = 10 + n;
	x->reply_due = true;
}

static void became_complete(struct sl_xrecv *x, uint64_t now)
{
	x->st = SL_XRECV_COMPLETE;
	x->ack_now = true;
	x->heartbeat_at = now + SL_XFER_HEARTBEAT_MS;
}

void sl_xrecv_accept(struct sl_xrecv *x, uint64_t from, uint64_t now)
{
	if (x->st != SL_XRECV_ASKED)
		return;
	from = MIN(from, x->offer.chunks);
	x->durable = from;
	x->s.from = x->s.durable = from;
	answer(x, 0, from, NULL);
	x->st = SL_XRECV_RECEIVING;
	x->last_heard = now;
	if (from == x->offer.chunks)
		became_complete(x, now);
}

void sl_xrecv_refuse(struct sl_xrecv *x, uint8_t code, const char *detail,
		     uint64_t now)
{
	if (rended(x->st) || x->st == SL_XRECV_RESULT)
		return;
	answer(x, code ? code : 1, 0, detail);
	x->st = SL_XRECV_DONE;
	x->done_at = now;
}

void sl_xrecv_result(struct sl_xrecv *x, uint8_t code, const char *text,
		     size_t len, uint64_t now)
{
	if (rended(x->st) || x->st == SL_XRECV_RESULT)
		return;
	len = MIN(len, (size_t)SL_XFER_TEXT_MAX);
	x->reply[0] = SL_XFER_RESULT;
	put(x->reply + 1, x->offer.id, 4);
	x->reply[5] = code;
	if (len)
		memcpy(x->reply + 6, text, len);
	x->reply_len = 6 + len;
	x->reply_due = true;
	x->st = SL_XRECV_RESULT;
	x->result_sends = 0;
	x->result_rto = SL_XFER_RTO_INIT_MS;
	x->result_at = now;
	x->last_heard = now;
}

static struct rchunk *slot(struct sl_xrecv *x, uint64_t c)
{
	return &x->buf[c % SL_XFER_RX_CHUNKS];
}

static unsigned int chunk_pieces(const struct sl_xrecv *x, uint64_t c)
{
	size_t clen = sl_xfer_chunk_len(x->offer.size, c);

	return (unsigned int)((clen + x->offer.piece - 1) / x->offer.piece);
}

static bool have_piece(struct sl_xrecv *x, uint64_t seq)
{
	uint64_t c = seq / x->ppc;
	unsigned int j = (unsigned int)(seq % x->ppc);

	if (c < x->durable)
		return true;
	if (c >= x->durable + SL_XFER_RX_CHUNKS || c >= x->offer.chunks)
		return false;
	if (j >= chunk_pieces(x, c))
		return true;	/* no such piece: nothing missing */
	return slot(x, c)->bits[j / 8] >> (j % 8) & 1;
}

static void on_data(struct sl_xrecv *x, const uint8_t *m, size_t len,
		    uint64_t now)
{
	uint64_t c = get(m + 5, 4), seq;
	size_t off = (size_t)get(m + 9, 4), n = len - SL_XFER_DATA_HDR, clen;
	unsigned int j;
	struct rchunk *r;
	bool in_order;

	if (x->st != SL_XRECV_RECEIVING && x->st != SL_XRECV_COMPLETE)
		return;
	clen = sl_xfer_chunk_len(x->offer.size, c);
	if (!clen || off % x->offer.piece || off >= clen ||
	    n != MIN((size_t)x->offer.piece, clen - off))
		return;			/* not a piece of this envelope */
	x->s.pieces++;
	j = (unsigned int)(off / x->offer.piece);
	seq = c * x->ppc + j;
	if (c < x->durable || c >= x->durable + SL_XFER_RX_CHUNKS ||
	    have_piece(x, seq)) {
		/* A copy (our ACK was lost?), or beyond our memory. */
		x->s.duplicates++;
		x->ack_now = true;
		return;
	}
	/* In order: every piece before it (from the durable chunk on) is
	 * here. Otherwise something was lost: tell the sender at once. */
	in_order = true;
	for (uint64_t s2 = x->durable * x->ppc; s2 < seq && in_order; s2++)
		in_order = have_piece(x, s2);
	r = slot(x, c);
	memcpy(r->data + off, m + SL_XFER_DATA_HDR, n);
	r->bits[j / 8] |= (uint8_t)(1u << (j % 8));
	r->have++;
	x->s.bytes += n;
	if (r->have == chunk_pieces(x, c)) {
		r->complete = true;
		x->ack_now = true;
	}
	if (!in_order || ++x->unacked >= SL_XFER_ACK_EVERY)
		x->ack_now = true;
	else if (!x->ack_at)
		x->ack_at = now + SL_XFER_ACK_DELAY_MS;
}

/*
 * Padding: counted and discarded while receiving; anywhere else (before
 * the ANSWER, once every chunk is here, after the RESULT) it is dropped.
 * One longer than a full DATA, or more in all than the bucket less the
 * envelope, is a sender that lies about its padding: refused.
 */
static int on_pad(struct sl_xrecv *x, size_t n, uint64_t now)
{
	uint64_t budget = sl_xfer_bucket(x->offer.size);

	if (x->st != SL_XRECV_RECEIVING) {
		x->s.pad_dropped++;
		return -EINVAL;
	}
	budget = budget > x->offer.size ? budget - x->offer.size : 0;
	if (n > (size_t)x->offer.piece + SL_XFER_DATA_HDR - SL_XFER_PAD_HDR ||
	    n > budget - x->s.pad_bytes) {
		static const char why[] = "padding past the envelope's size bucket";

		x->s.pad_refused = true;
		sl_xrecv_result(x, SL_XFER_BAD_FORMAT, why, sizeof(why) - 1, now);
		return -EMSGSIZE;
	}
	x->last_heard = now;
	x->s.pad_bytes += n;
	return 0;
}

int sl_xrecv_input(struct sl_xrecv *x, const uint8_t *msg, size_t len,
		   uint64_t now)
{
	uint8_t kind;
	uint32_t id;

	if (!sl_xfer_peek(msg, len, &kind, &id) || id != x->offer.id ||
	    sl_xfer_for_sender(kind))
		return -EINVAL;
	switch (kind) {
	case SL_XFER_OFFER:
		/* A copy: the same answer (or result) again. (One of
		 * sl_xrecv_new_refused() kept no offer to compare: any
		 * OFFER of its id gets the refusal again.) */
		if (x->offer.chunks &&
		    ((len != SL_XFER_OFFER_LEN &&
		      len != SL_XFER_OFFER_LEN + SL_XFER_SCHEDULE_LEN) ||
		     get(msg + 5, 8) != x->offer.size ||
		     memcmp(msg + 15, x->offer.header, SL_XFER_HEADER_LEN)))
			return -EINVAL;
		x->last_heard = now;
		if (x->reply_len && x->st != SL_XRECV_STALLED &&
		    x->st != SL_XRECV_ABORTED)
			x->reply_due = true;
		return 0;
	case SL_XFER_DATA:
		if (len <= SL_XFER_DATA_HDR)
			return -EINVAL;
		x->last_heard = now;
		on_data(x, msg, len, now);
		return 0;
	case SL_XFER_PAD:
		return on_pad(x, len - SL_XFER_PAD_HDR, now);
	case SL_XFER_END:
		if (x->st == SL_XRECV_RESULT) {
			x->st = SL_XRECV_DONE;
			x->done_at = now;
			x->reply_due = false;
		}
		return 0;
	case SL_XFER_ABORT:
		if (len != 6)
			return -EINVAL;
		if (!rended(x->st)) {
			x->st = SL_XRECV_ABORTED;
			x->s.abort_reason = msg[5];
			x->done_at = now;
			x->reply_due = false;
		}
		return 0;
	default:
		return -EINVAL;
	}
}

bool sl_xrecv_take_chunk(struct sl_xrecv *x, uint64_t *index,
			 const uint8_t **buf, size_t *len)
{
	struct rchunk *r;

	if (x->st != SL_XRECV_RECEIVING || x->durable >= x->offer.chunks)
		return false;
	r = slot(x, x->durable);
	if (!r->complete || r->taken)
		return false;
	r->taken = true;
	*index = x->durable;
	*buf = r->data;
	*len = sl_xfer_chunk_len(x->offer.size, x->durable);
	return true;
}

void sl_xrecv_chunk_done(struct sl_xrecv *x, uint64_t now)
{
	struct rchunk *r;

	if (x->st != SL_XRECV_RECEIVING)
		return;
	r = slot(x, x->durable);
	if (!r->taken)
		return;
	sl_wipe(r, sizeof(*r));
	x->durable++;
	x->s.durable = x->durable;
	x->ack_now = true;
	if (x->durable == x->offer.chunks)
		became_complete(x, now);
}

/* The first sequence number not received, and the map after it. */
static size_t out_ack(struct sl_xrecv *x, uint8_t *buf)
{
	uint64_t next = x->durable * x->ppc, map = 0;
	uint64_t end = (x->durable + SL_XFER_RX_CHUNKS) * x->ppc;

	while (next < end && have_piece(x, next))
		next++;
	for (int b = 0; b < SL_XFER_MAP_BITS; b++) {
		uint64_t seq = next + 1 + (uint64_t)b;

		if (seq < end && have_piece(x, seq))
			map |= 1ULL << b;
	}
	buf[0] = SL_XFER_ACK;
	put(buf + 1, x->offer.id, 4);
	put(buf + 5, x->durable, 4);
	put(buf + 9, next, 4);
	put(buf + 13, map, 8);
	buf[21] = x->st == SL_XRECV_COMPLETE ? SL_XFER_ACK_COMPLETE :
		  SL_XFER_ACK_RECEIVING;
	x->ack_now = false;
	x->ack_at = 0;
	x->unacked = 0;
	return 22;
}

size_t sl_xrecv_output(struct sl_xrecv *x, uint64_t now, uint8_t *buf)
{
	x->last_kind = 0;
	if (x->st == SL_XRECV_RECEIVING &&
	    now - x->last_heard >= SL_XFER_IDLE_MS) {
		x->st = SL_XRECV_STALLED;
		x->done_at = now;
		return 0;
	}
	if (x->st == SL_XRECV_RESULT && !x->reply_due && now >= x->result_at) {
		if (x->result_sends >= SL_XFER_RESULT_SENDS) {
			/* Never acknowledged: a later OFFER of the same
			 * envelope gets the stored receipt. */
			x->st = SL_XRECV_DONE;
			x->done_at = now;
			return 0;
		}
		x->reply_due = true;
	}
	if (x->reply_due && x->st != SL_XRECV_STALLED &&
	    x->st != SL_XRECV_ABORTED) {
		x->reply_due = false;
		memcpy(buf, x->reply, x->reply_len);
		x->last_kind = x->reply[0];
		if (x->st == SL_XRECV_RESULT) {
			x->result_sends++;
			x->result_at = now + x->result_rto;
			x->result_rto = MIN(x->result_rto * 2,
					    (uint32_t)SL_XFER_RTO_MAX_MS);
		}
		x->s.messages++;
		return x->reply_len;
	}
	if (x->st != SL_XRECV_RECEIVING && x->st != SL_XRECV_COMPLETE)
		return 0;
	if (x->st == SL_XRECV_COMPLETE && now >= x->heartbeat_at) {
		x->ack_now = true;
		x->heartbeat_at = now + SL_XFER_HEARTBEAT_MS;
	}
	if (x->ack_now || (x->ack_at && now >= x->ack_at)) {
		x->last_kind = SL_XFER_ACK;
		x->s.messages++;
		return out_ack(x, buf);
	}
	return 0;
}

void sl_xrecv_unsent(struct sl_xrecv *x, uint64_t now)
{
	if (x->last_kind == SL_XFER_ACK)
		x->ack_at = now + SL_XFER_BLOCKED_MS;
	else if (x->last_kind == SL_XFER_ANSWER)
		x->reply_due = true;
	else if (x->last_kind == SL_XFER_RESULT) {
		/* Not sent: it does not count, and goes again shortly. */
		if (x->result_sends)
			x->result_sends--;
		x->result_at = now + SL_XFER_BLOCKED_MS;
	}
	x->last_kind = 0;
}

uint64_t sl_xrecv_next_timer(const struct sl_xrecv *x)
{
	uint64_t t = 0;

#define TAKE(v)	do { uint64_t v_ = (v); if (v_ && (!t || v_ < t)) t = v_; } while (0)
	if (x->reply_due && x->st != SL_XRECV_STALLED &&
	    x->st != SL_XRECV_ABORTED)
		TAKE(1);
	switch (x->st) {
	case SL_XRECV_RECEIVING:
		TAKE(x->last_heard + SL_XFER_IDLE_MS);
		if (x->ack_now)
			TAKE(1);
		TAKE(x->ack_at);
		break;
	case SL_XRECV_COMPLETE:
		TAKE(x->heartbeat_at);
		if (x->ack_now)
			TAKE(1);
		TAKE(x->ack_at);
		break;
	case SL_XRECV_RESULT:
		TAKE(x->result_at);
		break;
	default:
		break;
	}
#undef TAKE
	return t;
}

void sl_xrecv_get_status(const struct sl_xrecv *x, struct sl_xrecv_status *st)
{
	*st = x->s;
	st->state = x->st;
}

bool sl_xrecv_finished(const struct sl_xrecv *x, uint64_t now)
{
	(void)now;
	return rended(x->st) && !x->reply_due;
}
