// SPDX-License-Identifier: GPL-2.0
/*
 * Frame layer of sealine. See protocol.h for the layout.
 *
 * Why COBS and not HDLC-style byte stuffing: COBS costs at most one byte in
 * 254 whatever the data, where escaping can double a frame full of the
 * escaped values; the line rate is the scarce resource here.
 */
#include "frame.h"

u8 sealine_frame_header(enum sealine_frame_type type, u32 epoch)
{
	return (u8)((SEALINE_WIRE_VERSION << 6) | ((type & 0x3) << 4) |
		    (epoch & SEALINE_EPOCH_WIRE_MASK));
}

void sealine_put_counter32(u8 *p, u64 counter)
{
	p[0] = (u8)(counter >> 24);
	p[1] = (u8)(counter >> 16);
	p[2] = (u8)(counter >> 8);
	p[3] = (u8)counter;
}

/*
 * The 96-bit AEAD nonce: four zero bytes, then the full 64-bit counter,
 * little endian. Each direction has its own key, so a counter is never
 * used twice under one key.
 */
void sealine_nonce(u8 nonce[SEALINE_NONCE_LEN], u64 counter)
{
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (u8)(counter >> (8 * i));
}

/* CRC-32 (IEEE 802.3, reflected, as in zlib), bitwise: control frames are
 * rare and short, a table would only cost memory.
 */
u32 sealine_crc32(const u8 *data, size_t len)
{
	u32 crc = 0xffffffffu;
	size_t i;
	int bit;

	for (i = 0; i < len; i++) {
		crc ^= data[i];
		for (bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

/* Writes a control frame (header, message, CRC) and returns its length.
 * The caller checks 1 <= len <= SEALINE_MAX_CONTROL.
 */
size_t sealine_control_build(u8 *out, const u8 *msg, size_t len)
{
	u32 crc;

	out[0] = sealine_frame_header(SEALINE_FRAME_CONTROL, 0);
	memcpy(out + SEALINE_HDR_LEN, msg, len);
	crc = sealine_crc32(out, SEALINE_HDR_LEN + len);
	out[SEALINE_HDR_LEN + len + 0] = (u8)crc;
	out[SEALINE_HDR_LEN + len + 1] = (u8)(crc >> 8);
	out[SEALINE_HDR_LEN + len + 2] = (u8)(crc >> 16);
	out[SEALINE_HDR_LEN + len + 3] = (u8)(crc >> 24);
	return SEALINE_HDR_LEN + len + SEALINE_CRC_LEN;
}

/*
 * COBS-encodes len bytes of in into out, which must hold
 * sealine_cobs_max(len) bytes, and returns the encoded length. The output
 * contains no 0x00; the caller appends the delimiter.
 *
 * It may encode in place: output byte k is written only after input byte
 * k - 1 - len / 254 has been read, so in may overlap out if it starts at
 * least sealine_cobs_lead(len) bytes after it (the transmit path builds
 * each frame that far into its wire buffer and encodes it where it is).
 */
size_t sealine_cobs_encode(const u8 *in, size_t len, u8 *out)
{
	size_t code_pos = 0, o = 1, i;
	u8 code = 1;

	for (i = 0; i < len; i++) {
		if (in[i]) {
			out[o++] = in[i];
			code++;
		}
		if (!in[i] || code == 0xff) {
			out[code_pos] = code;
			code_pos = o++;
			code = 1;
		}
	}
	out[code_pos] = code;
	return o;
}

/*
 * Decodes a COBS block (without its delimiter) in place. Returns the
 * decoded length, or -1 if the block is not valid COBS (a zero byte, or a
 * code pointing past the end: line noise).
 */
long sealine_cobs_decode(u8 *buf, size_t len)
{
	size_t i = 0, o = 0;

	while (i < len) {
		u8 code = buf[i];
		size_t run, k;

		if (!code || i + code > len)
			return -1;
		run = code - 1u;
		for (k = 0; k < run; k++) {
			if (!buf[i + 1 + k])
				return -1;
			buf[o++] = buf[i + 1 + k];
		}
		i += code;
		if (code != 0xff && i < len)
			buf[o++] = 0;
	}
	return (long)o;
}

int sealine_frame_parse(const u8 *raw, size_t len, struct sealine_frame *f)
{
	u8 hdr;

	if (len < SEALINE_HDR_LEN)
		return -1;
	hdr = raw[0];
	if ((hdr >> 6) != SEALINE_WIRE_VERSION)
		return -1;
	f->type = (enum sealine_frame_type)((hdr >> 4) & 0x3);
	f->epoch4 = hdr & SEALINE_EPOCH_WIRE_MASK;

	switch (f->type) {
	case SEALINE_FRAME_DATA:
	case SEALINE_FRAME_KEEPALIVE:
	case SEALINE_FRAME_RELIABLE:
		if (len < SEALINE_AAD_LEN + SEALINE_TAG_LEN ||
		    len > SEALINE_FRAME_MAX_RAW)
			return -1;
		/* A reliable frame holds at least its ARQ header's flags. */
		if (f->type == SEALINE_FRAME_RELIABLE &&
		    len == SEALINE_AAD_LEN + SEALINE_TAG_LEN)
			return -1;
		f->counter32 = (u32)raw[1] << 24 | (u32)raw[2] << 16 |
			       (u32)raw[3] << 8 | raw[4];
		f->body = raw + SEALINE_AAD_LEN;
		f->body_len = len - SEALINE_AAD_LEN;
		/* A keepalive carries no data, only the tag. */
		if (f->type == SEALINE_FRAME_KEEPALIVE &&
		    f->body_len != SEALINE_TAG_LEN)
			return -1;
		return 0;
	case SEALINE_FRAME_CONTROL: {
		size_t msg_len;
		u32 crc;

		if (f->epoch4 || len < SEALINE_HDR_LEN + 1 + SEALINE_CRC_LEN)
			return -1;
		msg_len = len - SEALINE_HDR_LEN - SEALINE_CRC_LEN;
		if (msg_len > SEALINE_MAX_CONTROL)
			return -1;
		crc = (u32)raw[len - 4] | (u32)raw[len - 3] << 8 |
		      (u32)raw[len - 2] << 16 | (u32)raw[len - 1] << 24;
		if (crc != sealine_crc32(raw, len - SEALINE_CRC_LEN))
			return -1;
		f->counter32 = 0;
		f->body = raw + SEALINE_HDR_LEN;
		f->body_len = msg_len;
		return 0;
	}
	default:
		return -1;
	}
}

void sealine_decoder_init(struct sealine_decoder *d)
{
	d->len = 0;
	d->frame_len = 0;
	d->dirty = false;
	/* Whatever arrives before the first delimiter may be the tail of a
	 * frame sent before we attached: skip it.
	 */
	d->discarding = true;
}

/* The driver flagged a byte (parity, framing, overrun): the frame it lands
 * in is lost, so stop collecting until the next delimiter.
 */
void sealine_decoder_poison(struct sealine_decoder *d)
{
	d->discarding = true;
	d->dirty = true;
	d->len = 0;
}

/*
 * Consumes input up to and including the first frame delimiter and returns
 * the number of bytes consumed. On SEALINE_DECODE_FRAME the decoded frame is
 * in d->buf[0..d->frame_len) until the next call. SEALINE_DECODE_RESYNC
 * reports that a damaged or oversized frame was thrown away.
 */
size_t sealine_decoder_feed(struct sealine_decoder *d, const u8 *in,
			    size_t len, enum sealine_decode_event *event)
{
	size_t i;

	for (i = 0; i < len; i++) {
		u8 c = in[i];
		long n;

		if (c) {
			if (d->discarding) {
				d->dirty = true;
				continue;
			}
			if (d->len == sizeof(d->buf)) {
				d->discarding = true;
				d->dirty = true;
				d->len = 0;
				continue;
			}
			d->buf[d->len++] = c;
			continue;
		}

		/* Delimiter. */
		if (d->discarding) {
			bool dirty = d->dirty;

			d->discarding = false;
			d->dirty = false;
			d->len = 0;
			if (!dirty)
				continue;
			*event = SEALINE_DECODE_RESYNC;
			return i + 1;
		}
		if (!d->len)
			continue;	/* idle fill between frames */
		n = sealine_cobs_decode(d->buf, d->len);
		d->len = 0;
		if (n <= 0) {
			*event = SEALINE_DECODE_RESYNC;
			return i + 1;
		}
		d->frame_len = (size_t)n;
		*event = SEALINE_DECODE_FRAME;
		return i + 1;
	}
	*event = SEALINE_DECODE_MORE;
	return len;
}
