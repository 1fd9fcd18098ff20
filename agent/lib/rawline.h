/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A line without the sealine line discipline: control frames encoded and
 * decoded in user space with the kernel's own framing code (kmod/frame.c,
 * plain C), queued for a non-blocking fd (lib/byteq.h).
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
#include "byteq.h"

/*
 * Output queued per line at most (the size of its struct sl_byteq). A relayed call stops reading the
 * sending line above SL_OUTQ_HIGH, so a slow line never makes the TSP
 * buffer without bound; control frames are tiny.
 */
#define SL_OUTQ_MAX		(64 * 1024)
#define SL_OUTQ_HIGH		(16 * 1024)

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
int sl_rawline_send(struct sl_byteq *q, const uint8_t *msg, size_t len);

#endif
