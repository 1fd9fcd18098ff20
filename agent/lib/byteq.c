// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A bounded byte queue (byteq.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "byteq.h"
#include "crypto.h"

void sl_byteq_init(struct sl_byteq *q, size_t size)
{
	memset(q, 0, sizeof(*q));
	q->size = size;
}

static int alloc(struct sl_byteq *q)
{
	if (!q->buf) {
		q->buf = malloc(q->size);
		if (!q->buf)
			return -ENOMEM;
		q->head = q->len = 0;
	}
	return 0;
}

int sl_byteq_push(struct sl_byteq *q, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t tail, n;
	int err;

	if (len > q->size - q->len)
		return -ENOBUFS;
	err = alloc(q);
	if (err)
		return err;
	tail = (q->head + q->len) % q->size;
	n = len < q->size - tail ? len : q->size - tail;
	memcpy(q->buf + tail, p, n);
	memcpy(q->buf, p + n, len - n);
	q->len += len;
	return 0;
}

ssize_t sl_byteq_fill(struct sl_byteq *q, int fd)
{
	size_t tail, n;
	ssize_t r;
	int err;

	if (q->len == q->size)
		return 0;
	err = alloc(q);
	if (err)
		return err;
	tail = (q->head + q->len) % q->size;
	n = tail + (q->size - q->len) > q->size ? q->size - tail :
						   q->size - q->len;
	r = read(fd, q->buf + tail, n);
	if (r < 0)
		return -errno;
	q->len += (size_t)r;
	return r;
}

size_t sl_byteq_peek(const struct sl_byteq *q, const uint8_t **p)
{
	*p = q->buf + q->head;
	return q->head + q->len > q->size ? q->size - q->head : q->len;
}

void sl_byteq_consume(struct sl_byteq *q, size_t n)
{
	if (n > q->len)
		n = q->len;
	while (n) {
		const uint8_t *p;
		size_t k = sl_byteq_peek(q, &p);

		if (k > n)
			k = n;
		sl_wipe(q->buf + q->head, k);
		q->head = (q->head + k) % q->size;
		q->len -= k;
		n -= k;
	}
	if (!q->len)
		q->head = 0;
}

ssize_t sl_byteq_flush(struct sl_byteq *q, int fd)
{
	ssize_t total = 0;

	while (q->len) {
		const uint8_t *p;
		size_t n = sl_byteq_peek(q, &p);
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w < 0)
			return -errno;
		if (!w)
			break;
		sl_byteq_consume(q, (size_t)w);
		total += w;
	}
	return total;
}

void sl_byteq_drop(struct sl_byteq *q)
{
	if (q->buf)
		sl_wipe(q->buf, q->size);
	q->head = q->len = 0;
}

void sl_byteq_free(struct sl_byteq *q)
{
	sl_byteq_drop(q);
	free(q->buf);
	q->buf = NULL;
}
