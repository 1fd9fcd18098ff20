/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A bounded byte queue (a ring) between non-blocking descriptors: the
 * TSP's output to each line, the dial-on-demand relay between a pty and
 * a call's virtual tty, the simulated endpoints of the TSP tests. Its
 * memory is allocated on the first byte and wiped whenever bytes leave
 * it or are dropped (the relay carries application data in clear).
 */
#ifndef SEALINE_AGENT_BYTEQ_H
#define SEALINE_AGENT_BYTEQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct sl_byteq {
	uint8_t *buf;		/* size bytes, allocated on demand */
	size_t size;		/* capacity */
	size_t head;		/* first byte queued */
	size_t len;		/* bytes queued from head */
};

/* An empty queue of size bytes; nothing is allocated yet. */
void sl_byteq_init(struct sl_byteq *q, size_t size);
/* Append len bytes: 0, -ENOBUFS if they do not fit (nothing queued), or
 * -ENOMEM. */
int sl_byteq_push(struct sl_byteq *q, const void *data, size_t len);
/* read(2) from fd into the free space: bytes read, 0 at end of file or
 * when full, -errno (-EAGAIN: nothing now). */
ssize_t sl_byteq_fill(struct sl_byteq *q, int fd);
/* write(2) from the queue to fd, as much as fd takes: bytes written (0:
 * empty, or fd would block), or -errno (the descriptor is gone). */
ssize_t sl_byteq_flush(struct sl_byteq *q, int fd);
/* The queue's first contiguous bytes: *p, and how many (0: empty). */
size_t sl_byteq_peek(const struct sl_byteq *q, const uint8_t **p);
/* Take n <= sl_byteq_len() bytes off the front (wiped). */
void sl_byteq_consume(struct sl_byteq *q, size_t n);
/* Empty it (the bytes wiped); the memory stays. */
void sl_byteq_drop(struct sl_byteq *q);
/* Empty it and free its memory. */
void sl_byteq_free(struct sl_byteq *q);

static inline size_t sl_byteq_len(const struct sl_byteq *q)
{
	return q->len;
}

static inline size_t sl_byteq_room(const struct sl_byteq *q)
{
	return q->size - q->len;
}

#endif
