/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A line without the sealine line discipline: control frames encoded and
 * decoded in user space with the kernel's own framing code (kmod/frame.c,
 * plain C), and a bounded output queue for a non-blocking fd.
 *
 * The TSP needs no kernel support at all: call setup uses only control
 * frames, which the kernel neither encrypts nor authenticates, and a
 * bridged call is relayed byte for byte. Keeping its lines in raw mode
 * lets one TSP process serve hundreds of modems (or pseudo-terminals in
 * the load test) on any Linux machine, and keeps it unable to decrypt
 * anything: it never has a data key, and no key can be installed on a
 * line it does not attach the discipline to.
 */
#ifndef SEALINE_AGENT_RAWLINE_H
#define SEALINE_AGENT_RAWLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../kmod/frame.h"

/*
 * Output queued per line at most. A relayed call stops reading the
 * sending line above SL_OUTQ_HIGH, so a slow line never makes the TSP
 * buffer without bound; control frames are tiny.
 */
#define SL_OUTQ_MAX		(64 * 1024)
#define SL_OUTQ_HIGH		(16 * 1024)

struct sl_outq {
	uint8_t *buf;		/* SL_OUTQ_MAX bytes, allocated on demand */
	size_t head;		/* first unsent byte */
	size_t len;		/* bytes queued from head */
};

/* Append len bytes: 0, or -ENOBUFS if they do not fit (nothing queued). */
int sl_outq_push(struct sl_outq *q, const void *data, size_t len);
/*
 * Write as much as the fd takes. 0 when everything went or the fd would
 * block (check sl_outq_len()), or a negative errno (the line is gone).
 * Adds the bytes written to *written when written is not NULL.
 */
int sl_outq_flush(struct sl_outq *q, int fd, uint64_t *written);
static inline size_t sl_outq_len(const struct sl_outq *q)
{
	return q->len;
}
void sl_outq_clear(struct sl_outq *q);
void sl_outq_free(struct sl_outq *q);

struct sl_rawline {
	struct sealine_decoder dec;
	uint64_t frames;	/* control frames delivered */
	uint64_t ignored;	/* data/keepalive frames: not ours */
	uint64_t bad;		/* damaged frames, resyncs */
	bool stop;		/* sl_rawline_stop() was called */
};

void sl_rawline_init(struct sl_rawline *rl);

/* Called for every intact control frame: the message inside it. */
typedef void (*sl_rawline_msg_fn)(void *ctx, const uint8_t *msg, size_t len);

/*
 * Decode len received bytes, calling fn for each control message in
 * them, in order. Returns the number of bytes consumed: len, or less if
 * fn asked to stop (sl_rawline_stop() from inside fn: the rest of the
 * buffer is for the caller, e.g. to relay once a call is bridged).
 */
size_t sl_rawline_decode(struct sl_rawline *rl, const uint8_t *buf,
			 size_t len, sl_rawline_msg_fn fn, void *ctx);
void sl_rawline_stop(struct sl_rawline *rl);

/*
 * Queue msg as one control frame: a leading delimiter (ends any damaged
 * frame the peer may be holding), COBS, the trailing delimiter. 0,
 * -EMSGSIZE, or -ENOBUFS when the queue is full.
 */
int sl_rawline_send(struct sl_outq *q, const uint8_t *msg, size_t len);

#endif
