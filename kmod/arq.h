/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Reliable mode: selective-repeat ARQ over sealed frames. Plain C, built
 * into the module and the host tests alike; see arq.c and
 * Documentation/protocol.rst, "Reliable mode".
 *
 * One struct sealine_arq per line holds both directions: the stream this
 * side sends (a ring of written, unacknowledged bytes) and the stream it
 * receives from the peer (a ring of bytes not yet delivered, in order or
 * not). Nothing here allocates, sleeps or reads a clock: the caller owns
 * the rings, passes the time in milliseconds (any u32 clock that wraps),
 * and serialises all calls on one line, for example under its spinlock.
 *
 * The caller seals what sealine_arq_tx_build() returns under a counter it
 * has never used with that key, and opens received reliable frames before
 * handing their plaintext to sealine_arq_rx(). A resend is built again,
 * never kept sealed and sent twice.
 */
#ifndef SEALINE_ARQ_H
#define SEALINE_ARQ_H

#include "protocol.h"

/* sealine_arq_take_events() bits. */
#define SEALINE_ARQ_EV_WRITABLE	0x01	/* room in the send ring again */
#define SEALINE_ARQ_EV_READABLE	0x02	/* in-order bytes to read */
#define SEALINE_ARQ_EV_DEAD	0x04	/* nothing acknowledged for dead_ms */
#define SEALINE_ARQ_EV_ALIVE	0x08	/* acknowledgements again after DEAD */
#define SEALINE_ARQ_EV_TX_RESET	0x10	/* the peer lost our stream: the bytes
					 * not acknowledged were dropped
					 */
#define SEALINE_ARQ_EV_RX_RESET	0x20	/* the peer began a new stream: bytes
					 * of its old one not read were dropped
					 */

/* sealine_arq_timeout() when no timer is needed. */
#define SEALINE_ARQ_NO_TIMEOUT	0xffffffffu

/* A parsed ARQ header; sealine_arq_hdr_put() writes one. */
struct sealine_arq_hdr {
	u8 flags;
	u32 sid;
	u32 offset;
	u32 ack;
	u16 window;
	u32 echo;
	u8 nsack;
	struct {
		u16 start;	/* from ack, at least 1 */
		u16 len;
	} sack[SEALINE_ARQ_MAX_SACK];
	const u8 *payload;
	size_t payload_len;
};

/* Settings; sealine_arq_init() fills in the defaults. */
struct sealine_arq_config {
	u32 dead_ms;		/* unacknowledged this long: EV_DEAD */
	u32 line_rate;		/* bytes per second, 0 if unknown */
	u16 max_frame;		/* payload limits, adaptive size in between */
	u16 min_frame;
	u16 ack_delay_ms;
	u16 rto_initial_ms;	/* RTO until the first round trip is measured */
};

struct sealine_arq_stats {
	u64 retransmits;	/* frames resent, all causes */
	u64 fast_retransmits;	/* losses found by a later frame's ACK */
	u64 timeouts;		/* RTO expiries */
	u64 acks_tx;		/* frames that carried only an ACK or RST */
	u64 duplicates_rx;	/* data frames with nothing new */
	u64 out_of_order_rx;	/* data frames stored ahead of a gap */
	u64 window_drops;	/* frames or parts outside the receive window */
	u64 stale_drops;	/* SYN or RST in a frame that was not the newest */
	u64 resets;		/* streams dropped by RST or a new peer stream */
};

/* A snapshot for statistics (GET_LINE) and tests. */
struct sealine_arq_info {
	u32 srtt_ms;
	u32 rttvar_ms;
	u32 rto_ms;		/* with the back-off applied */
	u32 in_flight;		/* bytes sent, not acknowledged */
	u32 queued;		/* bytes written, not sent */
	u32 peer_window;	/* bytes the peer can take beyond in_flight */
	u32 rx_pending;		/* bytes received, not read */
	u16 frame_size;		/* the current adaptive payload size */
	u8 backoff;
	bool opened;		/* the peer acknowledged our stream's start */
	bool have_peer;		/* we receive a stream from the peer */
	bool dead;
};

/* One frame in flight, in stream order. */
struct sealine_arq_seg {
	u32 off;
	u16 len;
	u8 flags;
	u8 tx_count;		/* transmissions, saturating */
	u32 tx_seq;		/* order of the latest transmission */
	u32 depart;		/* when its last byte left (estimated) */
};

struct sealine_arq_range {
	u32 start;
	u32 end;
};

struct sealine_arq {
	struct sealine_arq_config cfg;

	/* Send side: ring holds stream bytes [una, end). */
	u8 *tx_ring;
	u32 tx_size;
	u32 sid;		/* our stream id: the offset of its first byte */
	u32 una;		/* oldest byte not acknowledged */
	u32 nxt;		/* next byte never sent */
	u32 end;		/* one past the last byte written */
	u32 peer_right;		/* the peer takes bytes before this */
	bool opened;
	bool probe_mode;	/* after an RTO: one resend until progress */
	bool probe_sent;
	bool rto_armed;
	bool waiting;		/* bytes in flight, dead timer running */
	bool dead;
	u8 backoff;
	u8 nsegs;
	struct sealine_arq_seg segs[SEALINE_ARQ_MAX_SEGS];
	u32 tx_seq;
	u32 high_delivered;	/* latest tx_seq known to have arrived */
	bool any_delivered;
	bool have_rtt;
	u32 srtt_x8;		/* smoothed RTT, 1/8 ms */
	u32 rttvar_x8;
	u32 rto;
	u32 rto_deadline;
	u32 waiting_since;
	u32 line_free;		/* when the line will have sent what we built */
	u32 line_rem;		/* and the fraction of a ms, times line_rate */
	u32 loss_bytes;		/* adaptive size: bytes whose fate is known */
	u32 loss_x256;		/* and losses among them, times 256 */
	u16 mss;
	/* Nonce tripwire: the key and counter of the last frame built. */
	bool guard_valid;
	u64 guard_key;
	u64 guard_counter;

	/* Receive side: ring holds stream bytes [deliv, deliv + rx_size). */
	u8 *rx_ring;
	u32 rx_size;
	bool have_peer;
	bool ack_pending;
	bool echo_pending;
	bool rst_pending;
	u8 unacked_frames;
	u8 nranges;
	u32 peer_sid;
	u32 deliv;		/* next byte to read */
	u32 rcv_nxt;		/* first byte missing */
	u32 ack_due;
	u32 adv_right;		/* right edge we last advertised */
	struct sealine_arq_range ranges[SEALINE_ARQ_RX_RANGES];

	u32 events;
	struct sealine_arq_stats stats;
};

int sealine_arq_hdr_parse(const u8 *pt, size_t len, struct sealine_arq_hdr *h);
size_t sealine_arq_hdr_put(u8 *out, const struct sealine_arq_hdr *h);

int sealine_arq_init(struct sealine_arq *arq, u8 *tx_ring, u32 tx_size,
		     u8 *rx_ring, u32 rx_size, u32 isn, u32 now);
int sealine_arq_set_config(struct sealine_arq *arq,
			   const struct sealine_arq_config *cfg);
void sealine_arq_reset(struct sealine_arq *arq, u32 isn, u32 now);

size_t sealine_arq_write(struct sealine_arq *arq, const u8 *buf, size_t len);
size_t sealine_arq_write_room(const struct sealine_arq *arq);
size_t sealine_arq_chars_in_buffer(const struct sealine_arq *arq);
void sealine_arq_flush_unsent(struct sealine_arq *arq);

bool sealine_arq_tx_pending(const struct sealine_arq *arq, u32 now);
int sealine_arq_tx_build(struct sealine_arq *arq, u32 now, u64 key_id,
			 u64 counter, u8 *out, size_t room);

int sealine_arq_rx(struct sealine_arq *arq, const u8 *pt, size_t len,
		   bool newest, u32 now);
size_t sealine_arq_rx_avail(const struct sealine_arq *arq);
size_t sealine_arq_read(struct sealine_arq *arq, u8 *buf, size_t len,
			u32 now);

void sealine_arq_tick(struct sealine_arq *arq, u32 now);
u32 sealine_arq_timeout(const struct sealine_arq *arq, u32 now);
u32 sealine_arq_take_events(struct sealine_arq *arq);
void sealine_arq_get_info(const struct sealine_arq *arq,
			  struct sealine_arq_info *info);

#endif /* SEALINE_ARQ_H */
