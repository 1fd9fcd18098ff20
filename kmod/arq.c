// SPDX-License-Identifier: GPL-2.0
/*
 * Reliable mode of sealine: selective-repeat ARQ over sealed frames.
 * Documentation/protocol.rst, "Reliable mode", has the wire format and the
 * rules; this file is their implementation.
 *
 * The design in brief:
 * - Each direction is a byte stream numbered modulo 2^32 from a stream id
 *   (sid), like TCP's sequence space. Frames carry the offset of their
 *   first byte, so a resend may be cut into smaller frames than the
 *   original when the line gets worse.
 * - The receiver acknowledges cumulatively (the first byte it misses) and
 *   selectively (up to three runs it holds beyond a gap), and advertises
 *   how much more it can hold (flow control end to end).
 * - Every transmission gets its own transmission number (tx_seq). A frame
 *   is lost when a frame sent after it has arrived and it has not (a serial
 *   line does not reorder), or when the retransmission timer expires
 *   (RFC 6298: SRTT, RTTVAR, Karn's rule, exponential back-off).
 * - Every transmission, resends included, is a new plaintext (its ARQ
 *   header reflects the moment) that the caller seals under a new counter.
 *   Nothing here ever sees a key or a counter, except to trip on a counter
 *   that does not move.
 *
 * Why one file of about 1,300 lines: it is one state machine, both
 * directions of one ARQ session, whose every part (sending, resending,
 * acknowledging, the timer, flow control, resets) reads and writes the
 * same struct sealine_arq under the line's lock; like tcp_input.c, split
 * along its banners each piece would have to expose that state to the
 * others. It is plain C with no kernel headers, so the host tests and the
 * fuzzer run this very file.
 */
#include "arq.h"

/* struct sealine_arq_seg.flags */
#define SEG_SACKED	0x01	/* the peer holds it beyond a gap */
#define SEG_LOST	0x02	/* to be sent again */
#define SEG_PROBE	0x04	/* sent beyond the peer's window */

#define ARQ_BACKOFF_LIMIT	16
/* Consecutive timeouts after which the round-trip estimate is presumed
 * stale (RFC 6298, section 5) and forgotten.
 */
#define ARQ_BACKOFF_CLEAR	5

/* Stream offsets, transmission numbers and times all wrap modulo 2^32. */
static bool seq_before(u32 a, u32 b)
{
	return (s32)(a - b) < 0;
}

static bool seq_after(u32 a, u32 b)
{
	return (s32)(a - b) > 0;
}

static bool time_reached(u32 now, u32 t)
{
	return (s32)(now - t) >= 0;
}

static u32 time_until(u32 now, u32 t)
{
	return time_reached(now, t) ? 0 : t - now;
}

static u32 min_u32(u32 a, u32 b)
{
	return a < b ? a : b;
}

static u32 max_u32(u32 a, u32 b)
{
	return a > b ? a : b;
}

static u32 get_be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

static u16 get_be16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static void put_be32(u8 *p, u32 v)
{
	p[0] = (u8)(v >> 24);
	p[1] = (u8)(v >> 16);
	p[2] = (u8)(v >> 8);
	p[3] = (u8)v;
}

static void put_be16(u8 *p, u16 v)
{
	p[0] = (u8)(v >> 8);
	p[1] = (u8)v;
}

/*
 * Parses the ARQ header at the start of a reliable frame's plaintext.
 * Returns -EBADMSG for anything this version would not send: reserved bits,
 * fields that need another field's flag, truncated fields, a DATA frame
 * without payload or a payload without DATA, SACK blocks that are empty,
 * start at the ACK or are not in ascending order with a gap between.
 */
int sealine_arq_hdr_parse(const u8 *pt, size_t len, struct sealine_arq_hdr *h)
{
	size_t need, p = 1;
	u32 prev_end = 0;
	unsigned int i;
	u8 f;

	if (len < 1 || len > SEALINE_MAX_PAYLOAD)
		return -EBADMSG;
	f = pt[0];
	memset(h, 0, sizeof(*h));
	h->flags = f;
	h->nsack = (f & SEALINE_ARQ_F_SACK_MASK) >> SEALINE_ARQ_F_SACK_SHIFT;
	if (f & SEALINE_ARQ_F_RESERVED)
		return -EBADMSG;
	if ((f & SEALINE_ARQ_F_SYN) && !(f & SEALINE_ARQ_F_DATA))
		return -EBADMSG;
	if (!(f & SEALINE_ARQ_F_ACK) &&
	    (f & (SEALINE_ARQ_F_ECHO | SEALINE_ARQ_F_SACK_MASK)))
		return -EBADMSG;

	need = 1 + (f & SEALINE_ARQ_F_SYN ? 4 : 0) +
	       (f & SEALINE_ARQ_F_DATA ? 4 : 0) +
	       (f & SEALINE_ARQ_F_ACK ? 6 : 0) +
	       (f & SEALINE_ARQ_F_ECHO ? 4 : 0) + 4 * h->nsack;
	if (len < need)
		return -EBADMSG;

	if (f & SEALINE_ARQ_F_SYN) {
		h->sid = get_be32(pt + p);
		p += 4;
	}
	if (f & SEALINE_ARQ_F_DATA) {
		h->offset = get_be32(pt + p);
		p += 4;
	}
	if (f & SEALINE_ARQ_F_ACK) {
		h->ack = get_be32(pt + p);
		h->window = get_be16(pt + p + 4);
		p += 6;
	}
	if (f & SEALINE_ARQ_F_ECHO) {
		h->echo = get_be32(pt + p);
		p += 4;
	}
	for (i = 0; i < h->nsack; i++) {
		u32 start = get_be16(pt + p), blen = get_be16(pt + p + 2);

		p += 4;
		/* The byte at the ACK, and the one after each block, is
		 * missing by definition.
		 */
		if (!blen || start <= prev_end || start + blen > 0xffff)
			return -EBADMSG;
		h->sack[i].start = (u16)start;
		h->sack[i].len = (u16)blen;
		prev_end = start + blen;
	}
	h->payload = pt + p;
	h->payload_len = len - p;
	if (!(f & SEALINE_ARQ_F_DATA) != !h->payload_len)
		return -EBADMSG;
	return 0;
}

/* Writes the header h describes (not the payload); returns its length. */
size_t sealine_arq_hdr_put(u8 *out, const struct sealine_arq_hdr *h)
{
	u8 f = (h->flags & ~SEALINE_ARQ_F_SACK_MASK) |
	       (h->nsack << SEALINE_ARQ_F_SACK_SHIFT);
	size_t p = 1;
	unsigned int i;

	out[0] = f;
	if (f & SEALINE_ARQ_F_SYN) {
		put_be32(out + p, h->sid);
		p += 4;
	}
	if (f & SEALINE_ARQ_F_DATA) {
		put_be32(out + p, h->offset);
		p += 4;
	}
	if (f & SEALINE_ARQ_F_ACK) {
		put_be32(out + p, h->ack);
		put_be16(out + p + 4, h->window);
		p += 6;
	}
	if (f & SEALINE_ARQ_F_ECHO) {
		put_be32(out + p, h->echo);
		p += 4;
	}
	for (i = 0; i < h->nsack; i++) {
		put_be16(out + p, h->sack[i].start);
		put_be16(out + p + 2, h->sack[i].len);
		p += 4;
	}
	return p;
}

/* Rings: stream offset off lives at ring[off & (size - 1)]. */
static void ring_in(u8 *ring, u32 size, u32 off, const u8 *src, u32 len)
{
	u32 pos = off & (size - 1), first = min_u32(len, size - pos);

	memcpy(ring + pos, src, first);
	memcpy(ring, src + first, len - first);
}

static void ring_out(const u8 *ring, u32 size, u32 off, u8 *dst, u32 len)
{
	u32 pos = off & (size - 1), first = min_u32(len, size - pos);

	memcpy(dst, ring + pos, first);
	memcpy(dst + first, ring, len - first);
}

/* Plaintext does not outlive its use. */
static void ring_wipe(u8 *ring, u32 size, u32 off, u32 len)
{
	u32 pos = off & (size - 1), first = min_u32(len, size - pos);

	memzero_explicit(ring + pos, first);
	memzero_explicit(ring, len - first);
}

static bool ring_size_ok(u32 size)
{
	return size >= SEALINE_ARQ_RING_MIN && size <= SEALINE_ARQ_RING_MAX &&
	       !(size & (size - 1));
}

/* ---- Round trip and retransmission timer (RFC 6298) ------------------ */

static void arq_rtt_sample(struct sealine_arq *arq, u32 rtt)
{
	u32 delta;

	rtt = min_u32(rtt, SEALINE_ARQ_RTO_CEILING_MS);
	if (!arq->have_rtt) {
		arq->srtt_x8 = rtt * 8;
		arq->rttvar_x8 = rtt * 4;
		arq->have_rtt = true;
	} else {
		/* RTTVAR first: it uses the SRTT before this sample. */
		delta = arq->srtt_x8 > rtt * 8 ? arq->srtt_x8 - rtt * 8 :
						 rtt * 8 - arq->srtt_x8;
		arq->rttvar_x8 = arq->rttvar_x8 - arq->rttvar_x8 / 4 + delta / 4;
		arq->srtt_x8 = arq->srtt_x8 - arq->srtt_x8 / 8 + rtt;
	}
	/* RTO = SRTT + max(G, 4 * RTTVAR), G = 1 ms. */
	arq->rto = arq->srtt_x8 / 8 + max_u32(1, arq->rttvar_x8 / 2);
	arq->rto = max_u32(arq->rto, SEALINE_ARQ_RTO_MIN_MS);
	arq->rto = min_u32(arq->rto, SEALINE_ARQ_RTO_CEILING_MS);
	/* Karn: the back-off stays until a frame sent once is acknowledged,
	 * which is the only kind of sample taken.
	 */
	arq->backoff = 0;
}

/*
 * The RTO with the back-off applied. With a measured round trip it doubles
 * up to RTO_MAX (or the RTO, if larger): the line recovers quickly from an
 * outage. Without one it doubles further, so a line slower than the
 * initial RTO still gets a frame acknowledged before it is sent again,
 * which is the only kind of sample Karn's rule lets us take.
 */
static u32 arq_rto_cap(const struct sealine_arq *arq, bool measured)
{
	u32 cap = SEALINE_ARQ_RTO_MAX_MS;

	/* Unmeasured, it may reach a quarter of the dead time: a line is
	 * still probed a few times before it is declared dead.
	 */
	if (!measured)
		cap = max_u32(cap, min_u32(arq->cfg.dead_ms / 4,
					   SEALINE_ARQ_RTO_CEILING_MS));
	return max_u32(arq->rto, cap);
}

static u32 arq_rto_backed(const struct sealine_arq *arq)
{
	u32 cap = arq_rto_cap(arq, arq->have_rtt), rto = arq->rto;
	unsigned int i;

	for (i = 0; i < arq->backoff && rto < cap; i++)
		rto <<= 1;
	return min_u32(rto, cap);
}

/* ---- Adaptive frame size --------------------------------------------- */

static u32 arq_isqrt(u32 x)
{
	u32 root = 0, bit = 1u << 30;

	while (bit > x)
		bit >>= 2;
	while (bit) {
		if (x >= root + bit) {
			x -= root + bit;
			root = (root >> 1) + bit;
		} else {
			root >>= 1;
		}
		bit >>= 2;
	}
	return root;
}

/*
 * A frame of n payload bytes and h bytes of overhead arrives with
 * probability (1 - e)^(n + h); goodput n / (n + h) * (1 - e)^(n + h) peaks
 * near n = sqrt(h / e) for small e. e is losses / bytes over the horizon.
 */
static void arq_update_mss(struct sealine_arq *arq)
{
	u32 hi = min_u32(arq->cfg.max_frame, arq->tx_size / 2), lo, n;

	/* On a slow line a frame takes at most an eighth of the dead time,
	 * so a slow line acknowledges often enough never to look dead.
	 */
	if (arq->cfg.line_rate && arq->cfg.line_rate < 65536)
		hi = min_u32(hi, arq->cfg.line_rate *
				 min_u32(arq->cfg.dead_ms / 8, 60000) / 1000);
	hi = max_u32(hi, 1);
	lo = min_u32(arq->cfg.min_frame, hi);
	n = hi;

	if (arq->loss_x256) {
		/* < 2^13 * 2^18: loss_bytes stays below the horizon plus one
		 * frame, so this fits in 32 bits.
		 */
		n = arq_isqrt(SEALINE_ARQ_FRAME_OVERHEAD * 256 *
			      arq->loss_bytes / arq->loss_x256);
		n = max_u32(lo, min_u32(n, hi));
	}
	arq->mss = (u16)n;
}

static void arq_account(struct sealine_arq *arq, u32 len, bool lost)
{
	arq->loss_bytes += len + SEALINE_ARQ_FRAME_OVERHEAD;
	if (lost)
		arq->loss_x256 += 256;
	while (arq->loss_bytes >= SEALINE_ARQ_LOSS_HORIZON) {
		arq->loss_bytes /= 2;
		arq->loss_x256 /= 2;
	}
	arq_update_mss(arq);
}

/* ---- Line occupancy -------------------------------------------------- */

static u32 arq_wire_ms(const struct sealine_arq *arq, u32 wire)
{
	u32 rate = arq->cfg.line_rate, ms = wire * 1000 / rate;

	return ms * rate < wire * 1000 ? ms + 1 : ms;
}

/*
 * Returns when the last byte of a frame with pt_len bytes of plaintext
 * leaves, if the line sends line_rate bytes a second and the caller hands
 * frames to it as they are built. Round trips are measured from there, so
 * a long frame, or one queued behind others, does not look like a slow
 * peer. Without a rate: now. The wire length is that of typical sealed
 * data (random bytes: COBS adds a code byte, rarely more), plus the
 * delimiter; the remainder is kept so that whole milliseconds do not add up.
 */
static u32 arq_departure(struct sealine_arq *arq, u32 now, u32 pt_len)
{
	u32 raw = SEALINE_AAD_LEN + pt_len + SEALINE_TAG_LEN;
	u32 rate = arq->cfg.line_rate, wire, total, cap;

	if (!rate) {
		arq->line_free = now;
		return now;
	}
	if (!time_reached(arq->line_free, now)) {
		arq->line_free = now;
		arq->line_rem = 0;
	}
	wire = raw + raw / 1024 + 2;
	total = wire * 1000 + arq->line_rem;
	arq->line_free += total / rate;
	arq->line_rem = total % rate;
	/* A line faster than its nominal rate (a pty) must not push the
	 * estimate ever further ahead: no more than the ring and two frames
	 * can wait.
	 */
	cap = now + arq_wire_ms(arq, arq->tx_size + 2 * SEALINE_FRAME_MAX_WIRE);
	if (seq_after(arq->line_free, cap)) {
		arq->line_free = cap;
		arq->line_rem = 0;
	}
	return arq->line_rem ? arq->line_free + 1 : arq->line_free;
}

/* Before the first sample: the configured RTO, but on a slow line at
 * least the time a full frame and its ACK take.
 */
static u32 arq_initial_rto(const struct sealine_arq *arq)
{
	u32 rto = arq->cfg.rto_initial_ms;

	if (arq->cfg.line_rate)
		rto = max_u32(rto, 2 * arq_wire_ms(arq, arq->mss +
						    SEALINE_FRAME_MAX_WIRE -
						    SEALINE_MAX_PAYLOAD));
	return min_u32(rto, SEALINE_ARQ_RTO_CEILING_MS);
}

/* ---- Set-up ---------------------------------------------------------- */

static void arq_tx_reset(struct sealine_arq *arq, u32 isn, u32 now)
{
	memzero_explicit(arq->tx_ring, arq->tx_size);
	arq->sid = isn;
	arq->una = isn;
	arq->nxt = isn;
	arq->end = isn;
	arq->peer_right = isn + SEALINE_ARQ_RING_MIN;
	arq->opened = false;
	arq->probe_mode = false;
	arq->probe_sent = false;
	arq->rto_armed = false;
	arq->waiting = false;
	arq->dead = false;
	arq->backoff = 0;
	arq->nsegs = 0;
	arq->any_delivered = false;
	arq->line_free = now;
	arq->line_rem = 0;
}

static void arq_rx_reset(struct sealine_arq *arq, bool have_peer, u32 sid)
{
	memzero_explicit(arq->rx_ring, arq->rx_size);
	arq->have_peer = have_peer;
	arq->peer_sid = sid;
	arq->deliv = sid;
	arq->rcv_nxt = sid;
	arq->adv_right = sid + arq->rx_size;
	arq->nranges = 0;
	arq->ack_pending = false;
	arq->echo_pending = false;
	arq->rst_pending = false;
	arq->unacked_frames = 0;
}

/*
 * Sets up a line's ARQ with the caller's rings (powers of two between
 * SEALINE_ARQ_RING_MIN and SEALINE_ARQ_RING_MAX bytes; the defaults are
 * SEALINE_ARQ_TX_RING and SEALINE_ARQ_RX_RING) and the default settings.
 * isn is the id of our first stream; take it from a random source, so a
 * peer that remembers our previous attachment does not mistake the new
 * stream for the old one.
 */
int sealine_arq_init(struct sealine_arq *arq, u8 *tx_ring, u32 tx_size,
		     u8 *rx_ring, u32 rx_size, u32 isn, u32 now)
{
	if (!tx_ring || !rx_ring || !ring_size_ok(tx_size) ||
	    !ring_size_ok(rx_size))
		return -EINVAL;
	memset(arq, 0, sizeof(*arq));
	arq->tx_ring = tx_ring;
	arq->tx_size = tx_size;
	arq->rx_ring = rx_ring;
	arq->rx_size = rx_size;
	arq->cfg.dead_ms = SEALINE_ARQ_DEAD_MS;
	arq->cfg.line_rate = 0;
	arq->cfg.max_frame = SEALINE_ARQ_MAX_DATA;
	arq->cfg.min_frame = SEALINE_ARQ_MIN_FRAME;
	arq->cfg.ack_delay_ms = SEALINE_ARQ_ACK_DELAY_MS;
	arq->cfg.rto_initial_ms = SEALINE_ARQ_RTO_INITIAL_MS;
	arq->rto = arq->cfg.rto_initial_ms;
	arq->loss_bytes = SEALINE_ARQ_LOSS_PRIOR;
	arq_update_mss(arq);
	sealine_arq_reset(arq, isn, now);
	return 0;
}

/* Applies new settings; -EINVAL (nothing changed) if they make no sense. */
int sealine_arq_set_config(struct sealine_arq *arq,
			   const struct sealine_arq_config *cfg)
{
	if (!cfg->dead_ms || cfg->dead_ms > SEALINE_ARQ_DEAD_MAX_MS ||
	    cfg->line_rate > SEALINE_ARQ_LINE_RATE_MAX ||
	    !cfg->min_frame ||
	    cfg->min_frame > cfg->max_frame ||
	    cfg->max_frame > SEALINE_ARQ_MAX_DATA ||
	    cfg->ack_delay_ms > SEALINE_ARQ_RTO_MIN_MS / 2 ||
	    cfg->rto_initial_ms < SEALINE_ARQ_RTO_MIN_MS ||
	    cfg->rto_initial_ms > SEALINE_ARQ_RTO_CEILING_MS)
		return -EINVAL;
	arq->cfg = *cfg;
	arq_update_mss(arq);
	if (!arq->have_rtt)
		arq->rto = arq_initial_rto(arq);
	return 0;
}

/*
 * Starts both directions afresh, as on a new session (keys cleared): every
 * byte held is wiped, our next stream is isn. Settings, the round-trip
 * estimate, the frame size and the statistics stay: they describe the line.
 */
void sealine_arq_reset(struct sealine_arq *arq, u32 isn, u32 now)
{
	arq_tx_reset(arq, isn, now);
	arq_rx_reset(arq, false, 0);
	arq->events = SEALINE_ARQ_EV_WRITABLE;
}

/* ---- Writers --------------------------------------------------------- */

size_t sealine_arq_write_room(const struct sealine_arq *arq)
{
	return arq->tx_size - (arq->end - arq->una);
}

/* Bytes written and not yet acknowledged: what close() waits for. */
size_t sealine_arq_chars_in_buffer(const struct sealine_arq *arq)
{
	return arq->end - arq->una;
}

/* Queues up to len bytes for sending; returns how many it took. */
size_t sealine_arq_write(struct sealine_arq *arq, const u8 *buf, size_t len)
{
	size_t room = sealine_arq_write_room(arq);

	if (len > room)
		len = room;
	ring_in(arq->tx_ring, arq->tx_size, arq->end, buf, (u32)len);
	arq->end += (u32)len;
	return len;
}

/* Drops what was written and never sent (a tty flush); bytes in flight
 * cannot be called back and stay.
 */
void sealine_arq_flush_unsent(struct sealine_arq *arq)
{
	ring_wipe(arq->tx_ring, arq->tx_size, arq->nxt, arq->end - arq->nxt);
	arq->end = arq->nxt;
	arq->events |= SEALINE_ARQ_EV_WRITABLE;
}

/* ---- Transmit -------------------------------------------------------- */

/* The frame to send again, lowest offset first; -1 if none. After an RTO
 * only one goes until the peer answers: the line may still be cut.
 */
static int arq_find_resend(const struct sealine_arq *arq)
{
	unsigned int i;

	if (arq->probe_mode && arq->probe_sent)
		return -1;
	for (i = 0; i < arq->nsegs; i++)
		if ((arq->segs[i].flags & (SEG_LOST | SEG_SACKED)) == SEG_LOST)
			return (int)i;
	return -1;
}

/* Length of the next new frame; 0 if none may go now. */
static u32 arq_new_len(const struct sealine_arq *arq)
{
	u32 avail = arq->end - arq->nxt, room, len;

	if (!avail || arq->nsegs == SEALINE_ARQ_MAX_SEGS || arq->probe_mode)
		return 0;
	if (seq_before(arq->nxt, arq->peer_right))
		room = arq->peer_right - arq->nxt;
	else if (!arq->nsegs)
		room = 1;	/* window closed: probe it with one byte */
	else
		return 0;
	len = min_u32(min_u32(avail, room), arq->mss);
	/* No runt while frames are in flight if only the peer's window or
	 * our full ring cut it short: their ACK brings room for a full frame.
	 * A writer that has simply written little (a keystroke) is not held.
	 */
	if (len < arq->mss && arq->nsegs &&
	    (len < avail || arq->end - arq->una == arq->tx_size))
		return 0;
	return len;
}

/*
 * The longest frame to send again. After timeouts the probe halves with
 * each back-off: if bit errors, not an outage, kill the frames, a shorter
 * one gets through, and if the line is out, it costs less.
 */
static u32 arq_probe_len(const struct sealine_arq *arq)
{
	u32 lo = min_u32(SEALINE_ARQ_MIN_FRAME, arq->mss);

	if (!arq->probe_mode)
		return arq->mss;
	return max_u32(arq->mss >> min_u32(arq->backoff, 15), lo);
}

/* True if sealine_arq_tx_build() has a frame to build at now. */
bool sealine_arq_tx_pending(const struct sealine_arq *arq, u32 now)
{
	if (arq->rst_pending)
		return true;
	if (arq->have_peer && arq->ack_pending &&
	    time_reached(now, arq->ack_due))
		return true;
	return arq_find_resend(arq) >= 0 || arq_new_len(arq);
}

static void arq_fill_ack(struct sealine_arq *arq, struct sealine_arq_hdr *h)
{
	u32 right = arq->deliv + arq->rx_size;
	unsigned int i;

	h->flags |= SEALINE_ARQ_F_ACK;
	h->ack = arq->rcv_nxt;
	h->window = (u16)(right - arq->rcv_nxt);
	if (arq->echo_pending) {
		h->flags |= SEALINE_ARQ_F_ECHO;
		h->echo = arq->peer_sid;
	}
	/* The lowest runs: the first gap is the one holding delivery up. */
	h->nsack = (u8)min_u32(arq->nranges, SEALINE_ARQ_MAX_SACK);
	for (i = 0; i < h->nsack; i++) {
		h->sack[i].start = (u16)(arq->ranges[i].start - arq->rcv_nxt);
		h->sack[i].len = (u16)(arq->ranges[i].end -
				       arq->ranges[i].start);
	}
	arq->ack_pending = false;
	arq->unacked_frames = 0;
	arq->adv_right = right;
}

/* Makes room for a segment at index i, moving the later ones up. */
static struct sealine_arq_seg *arq_seg_insert(struct sealine_arq *arq,
					      unsigned int i)
{
	memmove(&arq->segs[i + 1], &arq->segs[i],
		(arq->nsegs - i) * sizeof(arq->segs[0]));
	arq->nsegs++;
	return &arq->segs[i];
}

/*
 * Builds the next frame's plaintext (ARQ header and payload) into out,
 * which holds at least SEALINE_MAX_PAYLOAD bytes, and returns its length:
 * 0 if there is nothing to send, -EINVAL if room is short or the caller is
 * about to reuse a nonce.
 *
 * key_id names the key (any value unique per key on this line) and counter
 * the AEAD counter the caller will seal this plaintext under. A counter
 * that does not increase under the same key is refused: sealing this new
 * plaintext under it would reuse a nonce. Sealed frames are never kept:
 * a resend is a new plaintext under a new counter.
 *
 * Priority: a frame to send again, then new bytes, then a due ACK alone.
 * A due ACK goes alone first when the data frame would be long.
 */
int sealine_arq_tx_build(struct sealine_arq *arq, u32 now, u64 key_id,
			 u64 counter, u8 *out, size_t room)
{
	struct sealine_arq_seg *seg = NULL;
	struct sealine_arq_hdr h;
	bool want_ack, ack_due;
	int resend;
	u32 off = 0, len, depart;
	size_t hlen;

	if (room < SEALINE_MAX_PAYLOAD)
		return -EINVAL;
	if (arq->guard_valid && key_id == arq->guard_key &&
	    counter <= arq->guard_counter)
		return -EINVAL;

	want_ack = arq->have_peer && arq->ack_pending;
	ack_due = want_ack && time_reached(now, arq->ack_due);
	resend = arq_find_resend(arq);
	if (resend >= 0) {
		off = arq->segs[resend].off;
		len = min_u32(arq->segs[resend].len, arq_probe_len(arq));
	} else {
		off = arq->nxt;
		len = arq_new_len(arq);
	}
	if (len >= SEALINE_ARQ_ACK_ALONE_MIN && ack_due)
		len = 0;
	if (!len && !ack_due && !arq->rst_pending)
		return 0;

	arq->guard_valid = true;
	arq->guard_key = key_id;
	arq->guard_counter = counter;

	memset(&h, 0, sizeof(h));
	if (len && resend >= 0) {
		seg = &arq->segs[resend];
		if (len < seg->len) {
			if (arq->nsegs < SEALINE_ARQ_MAX_SEGS) {
				/* The rest stays lost and goes next. */
				struct sealine_arq_seg *rest;

				rest = arq_seg_insert(arq, resend + 1);
				seg = &arq->segs[resend];
				*rest = *seg;
				rest->off = seg->off + len;
				rest->len = (u16)(seg->len - len);
				seg->len = (u16)len;
			} else {
				len = seg->len;
			}
		}
		arq->stats.retransmits++;
		if (arq->probe_mode)
			arq->probe_sent = true;
	} else if (len) {
		seg = &arq->segs[arq->nsegs++];
		seg->off = off;
		seg->len = (u16)len;
		seg->flags = 0;
		seg->tx_count = 0;
		arq->nxt += len;
	}
	if (len) {
		h.flags |= SEALINE_ARQ_F_DATA;
		h.offset = off;
		if (!arq->opened) {
			h.flags |= SEALINE_ARQ_F_SYN;
			h.sid = arq->sid;
		}
	}
	if (want_ack)
		arq_fill_ack(arq, &h);
	if (arq->rst_pending) {
		h.flags |= SEALINE_ARQ_F_RST;
		arq->rst_pending = false;
	}
	hlen = sealine_arq_hdr_put(out, &h);
	if (len)
		ring_out(arq->tx_ring, arq->tx_size, off, out + hlen, len);
	depart = arq_departure(arq, now, (u32)hlen + len);

	if (!seg) {
		arq->stats.acks_tx++;
		return (int)hlen;
	}
	seg->flags &= ~SEG_LOST;
	if (seq_before(seg->off, arq->peer_right))
		seg->flags &= ~SEG_PROBE;
	else
		seg->flags |= SEG_PROBE;
	if (seg->tx_count < 0xff)
		seg->tx_count++;
	seg->tx_seq = ++arq->tx_seq;
	seg->depart = depart;
	if (!arq->rto_armed || (resend >= 0 && arq->probe_mode)) {
		arq->rto_deadline = depart + arq_rto_backed(arq);
		/* Backed-off probes vary by up to an eighth, so that they
		 * cannot keep falling into a line's periodic outages.
		 */
		if (arq->backoff)
			arq->rto_deadline -= arq_rto_backed(arq) / 8 *
					     (arq->tx_seq % 5) / 4;
		arq->rto_armed = true;
	}
	if (!arq->waiting) {
		arq->waiting = true;
		arq->waiting_since = now;
	}
	return (int)(hlen + len);
}

/* ---- Receive: acknowledgements ---------------------------------------- */

/*
 * The round trip an ACK measures is that of the latest frame it reports,
 * the one whose arrival sent it; older frames it reports may have waited
 * behind a gap or a lost ACK.
 */
struct arq_sample {
	bool have;
	bool clean;		/* that frame was sent once, after the rest */
	bool any_before;	/* something was known delivered before */
	u32 high_before;	/* the latest tx_seq known delivered before */
	u32 tx_seq;
	u32 depart;
};

static void arq_seg_delivered(struct sealine_arq *arq,
			      const struct sealine_arq_seg *seg,
			      struct arq_sample *sample)
{
	if (!arq->any_delivered || seq_after(seg->tx_seq, arq->high_delivered)) {
		arq->high_delivered = seg->tx_seq;
		arq->any_delivered = true;
	}
	if (!(seg->flags & SEG_PROBE))
		arq_account(arq, seg->len, false);
	if (sample->have && !seq_after(seg->tx_seq, sample->tx_seq))
		return;
	sample->have = true;
	sample->tx_seq = seg->tx_seq;
	sample->depart = seg->depart;
	/* Karn: a frame sent more than once gives no sample, since nobody
	 * knows which of its transmissions arrived. Nor does one sent before
	 * a frame already known to have arrived: this ACK is not the one its
	 * arrival caused.
	 */
	sample->clean = seg->tx_count == 1 &&
			(!sample->any_before ||
			 seq_after(seg->tx_seq, sample->high_before));
}

static void arq_rearm(struct sealine_arq *arq, u32 now)
{
	unsigned int i;

	for (i = 0; i < arq->nsegs; i++) {
		if (arq->segs[i].flags & SEG_SACKED)
			continue;
		arq->rto_deadline = (seq_after(arq->segs[i].depart, now) ?
				     arq->segs[i].depart : now) +
				    arq_rto_backed(arq);
		arq->rto_armed = true;
		return;
	}
}

static void arq_alive(struct sealine_arq *arq, u32 now)
{
	arq->waiting_since = now;
	if (arq->dead) {
		arq->dead = false;
		arq->events |= SEALINE_ARQ_EV_ALIVE;
	}
}

static void arq_rx_ack(struct sealine_arq *arq, const struct sealine_arq_hdr *h,
		       u32 now)
{
	struct arq_sample sample = {
		.any_before = arq->any_delivered,
		.high_before = arq->high_delivered,
	};
	bool progress = false;
	u32 ack = h->ack, right = h->ack + h->window;
	unsigned int i, n;

	/* An ACK counts for the stream it names: while ours is opening,
	 * only one that echoes our sid; later, none that echoes another.
	 */
	if (h->flags & SEALINE_ARQ_F_ECHO) {
		if (h->echo != arq->sid)
			return;
	} else if (!arq->opened) {
		return;
	}
	if (seq_before(ack, arq->una) || seq_after(ack, arq->nxt))
		return;
	arq->opened = true;
	if (seq_after(right, arq->peer_right)) {
		/* The window opened: whatever probed it may stop. */
		arq->peer_right = right;
		arq->probe_mode = false;
	}

	/* Cumulative: everything before ack arrived. */
	for (n = 0; n < arq->nsegs; n++) {
		struct sealine_arq_seg *seg = &arq->segs[n];

		if (seq_after(seg->off + seg->len, ack))
			break;
		if (!(seg->flags & SEG_SACKED))
			arq_seg_delivered(arq, seg, &sample);
	}
	memmove(&arq->segs[0], &arq->segs[n],
		(arq->nsegs - n) * sizeof(arq->segs[0]));
	arq->nsegs -= n;
	if (arq->nsegs && seq_after(ack, arq->segs[0].off)) {
		/* The peer took only part of a frame (its window ended). */
		arq->segs[0].len -= (u16)(ack - arq->segs[0].off);
		arq->segs[0].off = ack;
	}
	if (seq_after(ack, arq->una)) {
		ring_wipe(arq->tx_ring, arq->tx_size, arq->una, ack - arq->una);
		arq->una = ack;
		arq->events |= SEALINE_ARQ_EV_WRITABLE;
		progress = true;
	}

	/* Selective: whole frames inside a block arrived. */
	for (i = 0; i < h->nsack; i++) {
		u32 start = ack + h->sack[i].start;
		u32 end = start + h->sack[i].len;

		for (n = 0; n < arq->nsegs; n++) {
			struct sealine_arq_seg *seg = &arq->segs[n];

			if ((seg->flags & SEG_SACKED) ||
			    seq_before(seg->off, start) ||
			    seq_after(seg->off + seg->len, end))
				continue;
			seg->flags |= SEG_SACKED;
			seg->flags &= ~SEG_LOST;
			arq_seg_delivered(arq, seg, &sample);
			progress = true;
		}
	}

	if (sample.have && sample.clean)
		arq_rtt_sample(arq, seq_after(now, sample.depart) ?
				    now - sample.depart : 0);

	for (n = 0; n < arq->nsegs; n++) {
		struct sealine_arq_seg *seg = &arq->segs[n];

		if (seg->flags & (SEG_SACKED | SEG_LOST))
			continue;
		if (seg->flags & SEG_PROBE) {
			/* Refused for want of room, which there is now. */
			if (seq_before(seg->off, arq->peer_right))
				seg->flags |= SEG_LOST;
			continue;
		}
		/* Sent before a frame that arrived: lost on the way. */
		if (arq->any_delivered &&
		    seq_before(seg->tx_seq, arq->high_delivered)) {
			seg->flags |= SEG_LOST;
			arq->stats.fast_retransmits++;
			arq_account(arq, seg->len, true);
		}
	}

	if (progress) {
		arq->probe_mode = false;
		arq_alive(arq, now);
		arq_rearm(arq, now);
	} else if (!h->window) {
		/* A full peer that answers is slow, not gone. */
		arq_alive(arq, now);
	}
	if (!arq->nsegs) {
		arq->waiting = false;
		arq->rto_armed = false;
		arq->probe_mode = false;
	}
}

/* The peer has no stream of ours: it was reset. What it did not
 * acknowledge is gone with it, and must not reach whoever comes next.
 */
static bool arq_rx_rst(struct sealine_arq *arq, bool newest, u32 now)
{
	if (!arq->opened)
		return false;	/* our SYN is on its way */
	if (!newest) {
		arq->stats.stale_drops++;
		return false;
	}
	arq_tx_reset(arq, arq->una + 0x80000000u, now);
	arq->events |= SEALINE_ARQ_EV_TX_RESET | SEALINE_ARQ_EV_WRITABLE;
	arq->stats.resets++;
	return true;
}

/* ---- Receive: data ----------------------------------------------------- */

/*
 * Records [a, b) as held beyond the first gap. Returns 0 if it added
 * something, 1 if all of it was held already, -1 if it would need one
 * range more than there is room for (the frame is then dropped: the
 * sender sends it again, and nothing acknowledged is ever given up).
 */
static int arq_range_add(struct sealine_arq *arq, u32 a, u32 b)
{
	struct sealine_arq_range *r = arq->ranges;
	unsigned int i = 0, j;

	while (i < arq->nranges && seq_before(r[i].end, a))
		i++;
	if (i < arq->nranges && !seq_after(r[i].start, a) &&
	    !seq_before(r[i].end, b))
		return 1;
	if (i == arq->nranges || seq_after(r[i].start, b)) {
		if (arq->nranges == SEALINE_ARQ_RX_RANGES)
			return -1;
		memmove(&r[i + 1], &r[i], (arq->nranges - i) * sizeof(r[0]));
		r[i].start = a;
		r[i].end = b;
		arq->nranges++;
		return 0;
	}
	if (seq_before(a, r[i].start))
		r[i].start = a;
	if (seq_after(b, r[i].end))
		r[i].end = b;
	for (j = i + 1; j < arq->nranges && !seq_after(r[j].start, r[i].end);
	     j++)
		if (seq_after(r[j].end, r[i].end))
			r[i].end = r[j].end;
	memmove(&r[i + 1], &r[j], (arq->nranges - j) * sizeof(r[0]));
	arq->nranges -= (u8)(j - i - 1);
	return 0;
}

enum arq_store {
	ARQ_STORE_IN_ORDER,
	ARQ_STORE_AHEAD,
	ARQ_STORE_OLD,
	ARQ_STORE_DROPPED,
};

static enum arq_store arq_rx_store(struct sealine_arq *arq, u32 off,
				   const u8 *p, u32 len)
{
	u32 lo = arq->rcv_nxt, hi = arq->deliv + arq->rx_size;
	u32 a = off, b = off + len;
	int added;

	if (!seq_after(b, lo)) {
		arq->stats.duplicates_rx++;
		return ARQ_STORE_OLD;
	}
	if (!seq_before(a, hi)) {
		arq->stats.window_drops++;
		return ARQ_STORE_DROPPED;
	}
	if (seq_before(a, lo)) {
		p += lo - a;
		a = lo;
	}
	if (seq_after(b, hi)) {
		b = hi;
		arq->stats.window_drops++;
	}
	if (a == lo) {
		ring_in(arq->rx_ring, arq->rx_size, a, p, b - a);
		arq->rcv_nxt = b;
		while (arq->nranges &&
		       !seq_after(arq->ranges[0].start, arq->rcv_nxt)) {
			if (seq_after(arq->ranges[0].end, arq->rcv_nxt))
				arq->rcv_nxt = arq->ranges[0].end;
			memmove(&arq->ranges[0], &arq->ranges[1],
				(arq->nranges - 1) * sizeof(arq->ranges[0]));
			arq->nranges--;
		}
		return ARQ_STORE_IN_ORDER;
	}
	added = arq_range_add(arq, a, b);
	if (added < 0) {
		arq->stats.window_drops++;
		return ARQ_STORE_DROPPED;
	}
	if (added > 0) {
		arq->stats.duplicates_rx++;
		return ARQ_STORE_OLD;
	}
	ring_in(arq->rx_ring, arq->rx_size, a, p, b - a);
	arq->stats.out_of_order_rx++;
	return ARQ_STORE_AHEAD;
}

static void arq_rx_data(struct sealine_arq *arq,
			const struct sealine_arq_hdr *h, bool newest, u32 now)
{
	bool at_once = false;
	enum arq_store got;
	u32 before;

	if (h->flags & SEALINE_ARQ_F_SYN) {
		if (!arq->have_peer || h->sid != arq->peer_sid) {
			/* A new stream only from the newest frame: an old
			 * one held back must not restart an old stream.
			 */
			if (!newest) {
				arq->stats.stale_drops++;
				return;
			}
			if (arq->have_peer) {
				arq->events |= SEALINE_ARQ_EV_RX_RESET;
				arq->stats.resets++;
			}
			arq_rx_reset(arq, true, h->sid);
		}
		arq->echo_pending = true;
		at_once = true;
	} else if (arq->have_peer) {
		arq->echo_pending = false;	/* the peer saw our echo */
	} else {
		arq->rst_pending = true;
		return;
	}

	before = arq->rcv_nxt;
	got = arq_rx_store(arq, h->offset, h->payload, (u32)h->payload_len);
	/* Delay the ACK only for the first in-order frame with no gap:
	 * anything else tells the sender something it needs now.
	 */
	if (arq->unacked_frames < 0xff)
		arq->unacked_frames++;
	if (got != ARQ_STORE_IN_ORDER || arq->nranges ||
	    arq->unacked_frames >= 2)
		at_once = true;
	if (at_once) {
		arq->ack_due = now;
	} else if (!arq->ack_pending ||
		   seq_after(arq->ack_due, now + arq->cfg.ack_delay_ms)) {
		arq->ack_due = now + arq->cfg.ack_delay_ms;
	}
	arq->ack_pending = true;
	if (arq->rcv_nxt != before)
		arq->events |= SEALINE_ARQ_EV_READABLE;
}

/*
 * Takes the plaintext of an authenticated reliable frame. newest says that
 * its counter is above every counter accepted so far under its key (the
 * current or staged key, or the previous one while nothing has arrived
 * under the current one yet): only such a frame may start a new peer
 * stream or reset ours, so that a frame an attacker held back and releases
 * later cannot. Returns -EBADMSG (nothing changed) for a malformed header.
 */
int sealine_arq_rx(struct sealine_arq *arq, const u8 *pt, size_t len,
		   bool newest, u32 now)
{
	struct sealine_arq_hdr h;
	bool reset = false;

	if (sealine_arq_hdr_parse(pt, len, &h))
		return -EBADMSG;
	if (h.flags & SEALINE_ARQ_F_RST)
		reset = arq_rx_rst(arq, newest, now);
	if ((h.flags & SEALINE_ARQ_F_ACK) && !reset)
		arq_rx_ack(arq, &h, now);
	if (h.flags & SEALINE_ARQ_F_DATA)
		arq_rx_data(arq, &h, newest, now);
	return 0;
}

/* ---- Readers ----------------------------------------------------------- */

size_t sealine_arq_rx_avail(const struct sealine_arq *arq)
{
	return arq->rcv_nxt - arq->deliv;
}

/*
 * Moves up to len in-order bytes to buf (or drops them if buf is NULL) and
 * returns how many. Once the window has opened by half a ring since it was
 * last advertised, an ACK tells the peer at once.
 */
size_t sealine_arq_read(struct sealine_arq *arq, u8 *buf, size_t len,
			u32 now)
{
	u32 n = arq->rcv_nxt - arq->deliv, right;

	if (len < n)
		n = (u32)len;
	if (!n)
		return 0;
	if (buf)
		ring_out(arq->rx_ring, arq->rx_size, arq->deliv, buf, n);
	ring_wipe(arq->rx_ring, arq->rx_size, arq->deliv, n);
	arq->deliv += n;
	right = arq->deliv + arq->rx_size;
	if (arq->have_peer && seq_after(right, arq->adv_right) &&
	    right - arq->adv_right >= arq->rx_size / 2) {
		arq->ack_pending = true;
		arq->ack_due = now;
	}
	return n;
}

/* ---- Timers ------------------------------------------------------------ */

/*
 * Runs the timers due at now: the retransmission timer (everything in
 * flight is presumed lost, the back-off doubles, one frame probes the line)
 * and the dead-line timer. Call it when sealine_arq_timeout() says, then
 * build frames while sealine_arq_tx_pending().
 */
void sealine_arq_tick(struct sealine_arq *arq, u32 now)
{
	unsigned int i;

	if (arq->rto_armed && !arq->nsegs)
		arq->rto_armed = false;
	if (arq->rto_armed && time_reached(now, arq->rto_deadline)) {
		/* Probing a closed window: the peer answers, it is full. */
		bool persist = arq->segs[0].flags & SEG_PROBE;

		arq->stats.timeouts++;
		/* An outage loses every frame in flight, whatever its size:
		 * it counts once for the frame size, not once a frame.
		 */
		if (!arq->backoff && !persist)
			arq_account(arq, arq->mss, true);
		if (arq->backoff < ARQ_BACKOFF_LIMIT &&
		    (!persist || arq_rto_backed(arq) < arq_rto_cap(arq, true)))
			arq->backoff++;
		if (arq->have_rtt && arq->backoff >= ARQ_BACKOFF_CLEAR &&
		    !persist) {
			/* Probably bogus by now: start over from where the
			 * back-off got to, doubling without RTO_MAX.
			 */
			arq->rto = arq_rto_backed(arq);
			arq->have_rtt = false;
			arq->srtt_x8 = 0;
			arq->rttvar_x8 = 0;
			arq->backoff = 1;
		}
		for (i = 0; i < arq->nsegs; i++)
			if (!(arq->segs[i].flags & SEG_SACKED))
				arq->segs[i].flags |= SEG_LOST;
		/* If the peer holds them all, the ACK saying so was lost:
		 * send the first again, which asks for another.
		 */
		arq->segs[0].flags &= ~SEG_SACKED;
		arq->segs[0].flags |= SEG_LOST;
		arq->probe_mode = true;
		arq->probe_sent = false;
		arq->rto_deadline = now + arq_rto_backed(arq);
	}
	if (arq->waiting && !arq->dead &&
	    time_reached(now, arq->waiting_since + arq->cfg.dead_ms)) {
		arq->dead = true;
		arq->events |= SEALINE_ARQ_EV_DEAD;
	}
}

/* Milliseconds until sealine_arq_tick() or a due ACK needs the caller;
 * SEALINE_ARQ_NO_TIMEOUT if nothing waits.
 */
u32 sealine_arq_timeout(const struct sealine_arq *arq, u32 now)
{
	u32 t = SEALINE_ARQ_NO_TIMEOUT;

	if (arq->rto_armed && arq->nsegs)
		t = time_until(now, arq->rto_deadline);
	if (arq->have_peer && arq->ack_pending)
		t = min_u32(t, time_until(now, arq->ack_due));
	if (arq->rst_pending)
		t = 0;
	if (arq->waiting && !arq->dead)
		t = min_u32(t, time_until(now, arq->waiting_since +
					       arq->cfg.dead_ms));
	return t;
}

u32 sealine_arq_take_events(struct sealine_arq *arq)
{
	u32 events = arq->events;

	arq->events = 0;
	return events;
}

void sealine_arq_get_info(const struct sealine_arq *arq,
			  struct sealine_arq_info *info)
{
	memset(info, 0, sizeof(*info));
	info->srtt_ms = arq->srtt_x8 / 8;
	info->rttvar_ms = arq->rttvar_x8 / 8;
	info->rto_ms = arq_rto_backed(arq);
	info->in_flight = arq->nxt - arq->una;
	info->queued = arq->end - arq->nxt;
	info->peer_window = seq_after(arq->peer_right, arq->nxt) ?
			    arq->peer_right - arq->nxt : 0;
	info->rx_pending = arq->rcv_nxt - arq->deliv;
	info->frame_size = arq->mss;
	info->backoff = arq->backoff;
	info->opened = arq->opened;
	info->have_peer = arq->have_peer;
	info->dead = arq->dead;
}
