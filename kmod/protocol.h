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
 *	bit 5..4  type: 0 data, 1 control, 2 keepalive
 *	bit 3..0  low 4 bits of the key epoch (data, keepalive; 0 for control)
 *
 * Data and keepalive frames (AEAD, the header and counter are the AAD):
 *
 *	hdr(1) | counter(4, big endian, low 32 bits) | ciphertext(n) | tag(16)
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

#endif /* SEALINE_PROTOCOL_H */
