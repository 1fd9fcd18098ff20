// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Control frames in user space (see rawline.h for why the TSP keeps its
 * lines raw).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rawline.h"

/* ------------------------------------------------------------ frames */

void sl_rawline_init(struct sl_rawline *rl)
{
	memset(rl, 0, sizeof(*rl));
	sealine_decoder_init(&rl->dec);
}

void sl_rawline_stop(struct sl_rawline *rl)
{
	rl->stop = true;
}

size_t sl_rawline_decode(struct sl_rawline *rl, const uint8_t *buf,
			 size_t len, sl_rawline_msg_fn fn, void *ctx)
{
	size_t done = 0;

	while (done < len) {
		enum sealine_decode_event ev;
		struct sealine_frame f;

		done += sealine_decoder_feed(&rl->dec, buf + done, len - done,
					     &ev);
		if (ev == SEALINE_DECODE_RESYNC) {
			rl->bad++;
			continue;
		}
		if (ev != SEALINE_DECODE_FRAME)
			continue;
		if (sealine_frame_parse(rl->dec.buf, rl->dec.frame_len, &f)) {
			rl->bad++;
			continue;
		}
		if (f.type != SEALINE_FRAME_CONTROL) {
			rl->ignored++;
			continue;
		}
		rl->frames++;
		fn(ctx, f.body, f.body_len);
		if (rl->stop) {
			rl->stop = false;
			break;
		}
	}
	return done;
}

int sl_rawline_send(struct sl_byteq *q, const uint8_t *msg, size_t len)
{
	uint8_t raw[SEALINE_HDR_LEN + SEALINE_MAX_CONTROL + SEALINE_CRC_LEN];
	uint8_t wire[1 + SEALINE_FRAME_MAX_WIRE];
	size_t n;

	if (!len || len > SEALINE_MAX_CONTROL)
		return -EMSGSIZE;
	n = sealine_control_build(raw, msg, len);
	wire[0] = 0;
	n = 1 + sealine_cobs_encode(raw, n, wire + 1);
	wire[n++] = 0;
	return sl_byteq_push(q, wire, n);
}
