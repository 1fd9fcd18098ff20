/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Frame layer: COBS encoding with a 0x00 delimiter, frame headers, the
 * control-frame CRC and a streaming decoder that resynchronises after
 * noise. Plain C: built into the module and the host tests alike.
 */
#ifndef SEALINE_FRAME_H
#define SEALINE_FRAME_H

#include "protocol.h"

struct sealine_frame {
	enum sealine_frame_type type;
	u8 epoch4;		/* low 4 bits of the key epoch */
	u32 counter32;		/* data, keepalive: low 32 bits of the counter */
	const u8 *body;		/* data, keepalive: ciphertext and tag */
	size_t body_len;	/* control: the message */
};

enum sealine_decode_event {
	SEALINE_DECODE_MORE,	/* all input consumed, no frame yet */
	SEALINE_DECODE_FRAME,	/* a frame is in frame[0..frame_len) */
	SEALINE_DECODE_RESYNC,	/* bytes were discarded, decoder resynced */
};

struct sealine_decoder {
	u8 buf[SEALINE_FRAME_MAX_WIRE];
	size_t len;
	bool discarding;	/* skip to the next delimiter */
	bool dirty;		/* bytes were thrown away while discarding */
	size_t frame_len;
};

u8 sealine_frame_header(enum sealine_frame_type type, u32 epoch);
void sealine_put_counter32(u8 *p, u64 counter);
void sealine_nonce(u8 nonce[SEALINE_NONCE_LEN], u64 counter);

u32 sealine_crc32(const u8 *data, size_t len);
size_t sealine_control_build(u8 *out, const u8 *msg, size_t len);

size_t sealine_cobs_encode(const u8 *in, size_t len, u8 *out);
long sealine_cobs_decode(u8 *buf, size_t len);

int sealine_frame_parse(const u8 *raw, size_t len, struct sealine_frame *f);

void sealine_decoder_init(struct sealine_decoder *d);
void sealine_decoder_poison(struct sealine_decoder *d);
size_t sealine_decoder_feed(struct sealine_decoder *d, const u8 *in,
			    size_t len, enum sealine_decode_event *event);

#endif /* SEALINE_FRAME_H */
