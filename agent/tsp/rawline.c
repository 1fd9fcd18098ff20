// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Control frames in user space and a non-blocking output queue (see
 * rawline.h for why the TSP keeps its lines raw).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rawline.h"

/* ------------------------------------------------------------ queue */

int sl_outq_push(struct sl_outq *q, const void *data, size_t len)
{
	if (len > SL_OUTQ_MAX - q->len)
		return -ENOBUFS;
	if (!q->buf) {
		q->buf = malloc(SL_OUTQ_MAX);
		if (!q->buf)
			return -ENOMEM;
		q->head = 0;
	}
	/* Compact only when the tail would run off the end. */
	if (q->head + q->len + len > SL_OUTQ_MAX) {
		memmove(q->buf, q->buf + q->head, q->len);
		q->head = 0;
	}
	memcpy(q->buf + q->head + q->len, data, len);
	q->len += len;
	return 0;
}

int sl_outq_flush(struct sl_outq *q, int fd, uint64_t *written)
{
	while (q->len) {
		ssize_t n = write(fd, q->buf + q->head, q->len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -errno;
		}
		if (n == 0)
			return 0;
		q->head += (size_t)n;
		q->len -= (size_t)n;
		if (written)
			*written += (uint64_t)n;
	}
	q->head = 0;
	return 0;
}

void sl_outq_clear(struct sl_outq *q)
{
	q->head = 0;
	q->len = 0;
}

void sl_outq_free(struct sl_outq *q)
{
	free(q->buf);
	q->buf = NULL;
	sl_outq_clear(q);
}

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

int sl_rawline_send(struct sl_outq *q, const uint8_t *msg, size_t len)
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
	return sl_outq_push(q, wire, n);
}
