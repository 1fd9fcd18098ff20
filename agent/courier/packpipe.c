// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The packed files on the pipe of a "send" request (ipc.h): what sealctl
 * send and sealine-ui both write for sealined to seal. Records "TYPE
 * LEN(4, big-endian) BYTES": 'D' payload, 'F' one entry, 'E' the end
 * (files and content bytes), 'X' packing failed (a reason).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "fdio.h"
#include "ipc.h"

#define PIPE_RECORD_MAX	(64 * 1024)	/* payload bytes of one 'D' */

struct packing {
	int fd;			/* the pipe's write end */
	int err;
};

static int put_record(struct packing *p, uint8_t type, const void *buf,
		      size_t len)
{
	uint8_t head[5] = {
		type, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
		(uint8_t)(len >> 8), (uint8_t)len,
	};
	int ret;

	if (p->err)
		return p->err;
	ret = sl_write_all(p->fd, head, sizeof(head));
	if (!ret && len)
		ret = sl_write_all(p->fd, buf, len);
	if (ret)
		p->err = ret;
	return ret;
}

static int sink_write(void *ctx, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	while (len) {
		size_t n = len > PIPE_RECORD_MAX ? PIPE_RECORD_MAX : len;
		int ret = put_record(ctx, 'D', b, n);

		if (ret)
			return ret;
		b += n;
		len -= n;
	}
	return 0;
}

static int sink_entry(void *ctx, const struct sl_env_entry *e)
{
	char name[3 * SL_ENV_PATH_MAX + 1];
	char line[sizeof(name) + 96];
	int n;

	if (!sl_ipc_escape(name, sizeof(name), e->name))
		return -ENAMETOOLONG;
	n = snprintf(line, sizeof(line), "%c %o %" PRIu64 " %" PRId64 " %s",
		     (char)e->type, e->mode, e->size, e->mtime, name);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -ENAMETOOLONG;
	return put_record(ctx, 'F', line, (size_t)n);
}

int sl_env_pack_pipe(int fd, const char *const *paths, size_t n_paths,
		     int level, uint64_t *files, uint64_t *content_bytes,
		     char *why, size_t why_len)
{
	struct packing pk = { .fd = fd };
	struct sl_env_pack_out sink = {
		.write = sink_write, .entry = sink_entry, .ctx = &pk,
	};
	uint8_t end[16];
	int ret;

	ret = sl_env_pack(paths, n_paths, level, &sink, files, content_bytes,
			  why, why_len);
	if (ret) {
		if (!why[0])
			snprintf(why, why_len, "%s", strerror(-ret));
		/* sealined learns why and drops what it sealed. */
		pk.err = 0;
		put_record(&pk, 'X', why, strlen(why));
		return ret;
	}
	for (int i = 0; i < 8; i++) {
		end[i] = (uint8_t)(*files >> (56 - 8 * i));
		end[8 + i] = (uint8_t)(*content_bytes >> (56 - 8 * i));
	}
	ret = put_record(&pk, 'E', end, sizeof(end));
	if (ret)
		snprintf(why, why_len, "sealined stopped reading: %s",
			 strerror(-ret));
	return ret;
}
