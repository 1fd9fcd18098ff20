/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Wire format and limits of the sealine frame layer, in one place.
 * Documentation/protocol.rst describes the same layout byte by byte.
 *
 * On the wire every frame is COBS-encoded and followed by one 0x00
 * delimiter, so a receiver that lost sync (line noise, a dropped byte)
 * finds the next frame at the next 0x00 and loses at most one frame.
 *
 * Decoded, a frame starts with a header byte:
 *
 *	bit 7..6  wire version (1)
 *	bit 5..4  type: 0 data, 1 control, 2 keepalive, 3 reliable
 *	bit 3..0  low 4 bits of the key epoch (data, keepalive; 0 for control)
 *
 * Data and keepalive frames (AEAD, the header and counter are the AAD):
 *
 *	hdr(1) | counter(4, big endian, low 32 bits) | ciphertext(n) | tag(16)
 *
 * Reliable frames (type 3, kmod/arq.c) are sealed exactly like data
 * frames; their plaintext starts with the ARQ header (below).
 *
 * Control frames (handshake messages for the agent, which protect
 * themselves; the CRC only catches line noise):
 *
 *	hdr(1) | message(1..SEALINE_MAX_CONTROL) | crc32(4, little endian)
 */
#ifndef SEALINE_PROTOCOL_H
#define SEALINE_PROTOCOL_H

#include "compat.h"
#include "../uapi/linux/sealine.h"

#define SEALINE_WIRE_VERSION		1

enum sealine_frame_type {
	SEALINE_FRAME_DATA = 0,
	SEALINE_FRAME_CONTROL = 1,
	SEALINE_FRAME_KEEPALIVE = 2,
	SEALINE_FRAME_RELIABLE = 3,
};

#define SEALINE_HDR_LEN			1
#define SEALINE_COUNTER_LEN		4
#define SEALINE_AAD_LEN			(SEALINE_HDR_LEN + SEALINE_COUNTER_LEN)
#define SEALINE_TAG_LEN			16
#define SEALINE_CRC_LEN			4
#define SEALINE_NONCE_LEN		12
#define SEALINE_EPOCH_WIRE_MASK		0x0f

/* Largest decoded frame: a full data frame. */
#define SEALINE_FRAME_MAX_RAW \
	(SEALINE_AAD_LEN + SEALINE_MAX_PAYLOAD + SEALINE_TAG_LEN)
/* COBS adds one code byte per started run of 254 bytes. */
static inline size_t sealine_cobs_max(size_t len)
{
	return len + len / 254 + 1;
}

/*
 * How far ahead of sealine_cobs_encode()'s output its input of len bytes
 * must start to be encoded in place: one code byte more than a run of 254
 * bytes can add.
 */
static inline size_t sealine_cobs_lead(size_t len)
{
	return len / 254 + 1;
}

/* Largest encoded frame including its delimiter. */
#define SEALINE_FRAME_MAX_WIRE \
	(SEALINE_FRAME_MAX_RAW + SEALINE_FRAME_MAX_RAW / 254 + 1 + 1)

/*
 * Counters are 64 bits; the low 32 travel on the wire and the receiver
 * rebuilds the rest from the highest counter it accepted. A serial line
 * would need to lose 2^31 consecutive frames to confuse it.
 */
#define SEALINE_REPLAY_WINDOW		64

/*
 * Key limits (defaults). The module parameters may lower the hard limits
 * and set the soft ones anywhere up to them.
 * Soft limits raise SEALINE_CMD_REKEY_NEEDED; past a hard limit the key is
 * refused in both directions and the line is fail-closed. At 115200 baud a
 * line sends at most ~6 full frames a second, so in practice the age limit
 * is the one that fires; the message limits bound a fast (pty) link.
 */
#define SEALINE_REKEY_AFTER_MESSAGES	BIT_ULL(30)
#define SEALINE_REJECT_AFTER_MESSAGES	BIT_ULL(31)
#define SEALINE_REKEY_AFTER_SECONDS	1800
#define SEALINE_REJECT_AFTER_SECONDS	3600

/* Control messages queued for transmission per line. */
#define SEALINE_MAX_QUEUED_CONTROL	16

/*
 * Reliable mode (selective-repeat ARQ, kmod/arq.c). The plaintext of a
 * reliable frame, all fields big endian, each present only if its flag is:
 *
 *	flags(1) | sid(4) SYN | offset(4) DATA | ack(4) window(2) ACK |
 *	echo(4) ECHO | sack(2 start, 2 length) x 0..3 | payload DATA
 *
 * Offsets count stream bytes modulo 2^32 from the stream id (the offset of
 * the stream's first byte). Every transmission, resends included, is sealed
 * under a fresh counter: the ARQ header changes between them, so one nonce
 * never covers two plaintexts.
 */
#define SEALINE_ARQ_F_SYN		0x80	/* sid present: opening */
#define SEALINE_ARQ_F_DATA		0x40	/* offset and payload */
#define SEALINE_ARQ_F_ACK		0x20	/* ack and window */
#define SEALINE_ARQ_F_ECHO		0x10	/* echo of the peer's sid */
#define SEALINE_ARQ_F_SACK_MASK		0x0c	/* number of SACK blocks */
#define SEALINE_ARQ_F_SACK_SHIFT	2
#define SEALINE_ARQ_F_RST		0x02	/* no stream of yours here */
#define SEALINE_ARQ_F_RESERVED		0x01	/* must be zero */

#define SEALINE_ARQ_MAX_SACK		3
#define SEALINE_ARQ_HDR_MAX \
	(1 + 4 + 4 + 4 + 2 + 4 + 4 * SEALINE_ARQ_MAX_SACK)
/* Payload of one reliable frame: its plaintext stays within a data frame's. */
#define SEALINE_ARQ_MAX_DATA		(SEALINE_MAX_PAYLOAD - SEALINE_ARQ_HDR_MAX)

/*
 * Memory per line (what struct sealine_arq and the caller's rings cost):
 * the send ring holds written and unacknowledged bytes and replaces the
 * transmit FIFO; the receive ring holds bytes not yet delivered and
 * out-of-order bytes. Each is a power of two between the two limits (the
 * window and the SACK fields are 16 bits, and a ring holds a full frame).
 * A sender assumes SEALINE_ARQ_RING_MIN of window until the first ACK.
 */
#define SEALINE_ARQ_TX_RING		4096
#define SEALINE_ARQ_RX_RING		4096
#define SEALINE_ARQ_RING_MIN		2048
#define SEALINE_ARQ_RING_MAX		32768
#define SEALINE_ARQ_MAX_SEGS		32	/* frames in flight */
#define SEALINE_ARQ_RX_RANGES		8	/* out-of-order runs held */

/* Timers, in milliseconds. RTO as in RFC 6298, with a lower floor: a
 * point-to-point line has no congestion to protect, a resend only costs
 * line time. The back-off stops at RTO_MAX (or at the RTO itself, if the
 * line is slower than that) so a line back from an outage recovers fast.
 */
#define SEALINE_ARQ_RTO_INITIAL_MS	1000
#define SEALINE_ARQ_RTO_MIN_MS		200
#define SEALINE_ARQ_RTO_MAX_MS		3000
#define SEALINE_ARQ_RTO_CEILING_MS	60000
#define SEALINE_ARQ_ACK_DELAY_MS	10
#define SEALINE_ARQ_DEAD_MS		30000
#define SEALINE_ARQ_DEAD_MAX_MS		3600000
#define SEALINE_ARQ_LINE_RATE_MAX	1000000000	/* bytes a second */

/*
 * Adaptive frame size: the sender estimates the line's error rate per byte
 * (e) from its losses and sends frames of about sqrt(overhead / e) bytes,
 * which maximises goodput when each byte is damaged with probability e.
 * The estimate covers about the last LOSS_HORIZON bytes; LOSS_PRIOR clean
 * bytes stand in for the history a new line does not have yet.
 */
#define SEALINE_ARQ_MIN_FRAME		64
#define SEALINE_ARQ_FRAME_OVERHEAD	32
#define SEALINE_ARQ_LOSS_HORIZON	(128 * 1024)
#define SEALINE_ARQ_LOSS_PRIOR		(32 * 1024)
/* A due ACK leaves in its own small frame rather than at the head of a
 * data frame at least this long, which would hold it back (a frame is
 * only opened once it has fully arrived).
 */
#define SEALINE_ARQ_ACK_ALONE_MIN	256

#endif /* SEALINE_PROTOCOL_H */
