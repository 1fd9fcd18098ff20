// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl send's files into the outbox: sealctl packs them as the user
 * who runs it (pax + zstd, sl_env_pack) and writes the payload to a pipe
 * whose read end it passed along with its request (ipc.h: the records
 * 'D', 'F', 'E', 'X'); the daemon seals what arrives into a new envelope
 * (sl_env_writer), a chunk at a time, as the event loop finds the pipe
 * readable. So sealctl never holds a key, and the daemon never opens a
 * file of the user's: it could not read more than the user could.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gcrypt.h>

#include "courier_internal.h"
#include "crypto.h"
#include "hex.h"
#include "log.h"

#define REC_HEADER	5
#define REC_MAX		(64 * 1024)
#define LIST_MAX	(64u << 20)	/* the entries' list, at most */

struct sl_intake {
	struct sl_intake_args a;
	uint8_t id[SL_ENV_ID_LEN];
	char hex[SL_CS_HEX_ID];
	int env_fd;
	struct sl_env_writer *w;
	uint8_t rec[REC_HEADER + REC_MAX];
	size_t have;
	char *list;
	size_t list_len, list_cap;
	uint64_t files, content_bytes, payload;
	int64_t started;
};

int sl_intake_fd(const struct sl_intake *in)
{
	return in->a.pipe_fd;
}

bool sl_intake_of(const struct sl_intake *in, const struct sl_ipc_client *cl)
{
	return in->a.client == cl;
}

static void intake_free(struct sl_courier *c, struct sl_intake *in)
{
	for (int i = 0; i < SL_COURIER_MAX_INTAKES; i++)
		if (c->intakes[i] == in)
			c->intakes[i] = NULL;
	if (in->a.pipe_fd >= 0)
		close(in->a.pipe_fd);
	sl_env_writer_free(in->w);
	if (in->a.client && in->a.client->courier == in)
		in->a.client->courier = NULL;
	free(in->list);
	sl_wipe(in->rec, sizeof(in->rec));
	free(in);
}

void sl_intake_abort(struct sl_courier *c, struct sl_intake *in,
		     const char *why)
{
	sl_log(LOG_NOTICE, "envelope %s to %s not queued: %s", in->hex,
	       in->a.to, why);
	sl_outbox_abandon(&c->ob, in->id, in->env_fd);
	in->env_fd = -1;
	if (in->a.client && in->a.client->courier == in)
		sl_ipc_send_err(in->a.client, -ECANCELED, "%s", why);
	intake_free(c, in);
}

int sl_intake_start(struct sl_courier *c, const struct sl_intake_args *a,
		    char *err, size_t err_len)
{
	const struct sl_peer *p = sl_ks_find(c->ks, a->to);
	struct sl_env_self me = { .priv = c->ks->id.priv };
	struct sl_env_peer to = { .allowed = true };
	struct sl_env_header_in hin = { 0 };
	struct sl_ipc_builder b;
	struct sl_intake *in;
	int slot, ret;

	for (slot = 0; slot < SL_COURIER_MAX_INTAKES; slot++)
		if (!c->intakes[slot])
			break;
	if (slot == SL_COURIER_MAX_INTAKES) {
		close(a->pipe_fd);
		return sl_errf(err, err_len, -EBUSY,
			       "%d sends are being packed already: try again when one is done",
			       SL_COURIER_MAX_INTAKES);
	}
	in = calloc(1, sizeof(*in));
	if (!in) {
		close(a->pipe_fd);
		return sl_errf(err, err_len, -ENOMEM, "out of memory");
	}
	in->a = *a;
	in->env_fd = -1;
	in->started = (int64_t)time(NULL);
	fcntl(in->a.pipe_fd, F_SETFL, fcntl(in->a.pipe_fd, F_GETFL) | O_NONBLOCK);
	gcry_randomize(in->id, SL_ENV_ID_LEN, GCRY_STRONG_RANDOM);
	sl_hex_encode(in->hex, in->id, SL_ENV_ID_LEN);
	in->env_fd = sl_outbox_create(&c->ob, in->id);
	if (in->env_fd < 0) {
		ret = sl_errf(err, err_len, in->env_fd, "outbox %s: %s",
			      c->conf.outbox, strerror(-in->env_fd));
		in->env_fd = -1;
		goto fail;
	}
	snprintf(me.account, sizeof(me.account), "%s", c->ks->id.account);
	memcpy(me.pub, c->ks->id.pub, SL_ENV_KEY_LEN);
	snprintf(to.account, sizeof(to.account), "%s", p->account);
	memcpy(to.pub, p->pub, SL_ENV_KEY_LEN);
	to.ltk = p->ltk;
	memcpy(hin.id, in->id, SL_ENV_ID_LEN);
	hin.created = in->started;
	ret = sl_env_writer_new(&in->w, in->env_fd, &me, &to, &hin);
	if (ret) {
		sl_errf(err, err_len, ret, "sealing: %s", strerror(-ret));
		goto fail;
	}
	c->intakes[slot] = in;
	in->a.client->courier = in;
	sl_ipc_build(&b, "ready");
	sl_ipc_add(&b, "id", in->hex);
	sl_ipc_send_record(in->a.client, &b);
	return 0;
fail:
	sl_outbox_abandon(&c->ob, in->id, in->env_fd);
	in->env_fd = -1;
	in->a.client = NULL;
	intake_free(c, in);
	return ret;
}

static int list_add(struct sl_intake *in, const uint8_t *p, size_t n)
{
	if (in->list_len + n + 2 > LIST_MAX)
		return -EFBIG;
	if (in->list_len + n + 2 > in->list_cap) {
		size_t cap = in->list_cap ? in->list_cap : 4096;
		char *bigger;

		while (cap < in->list_len + n + 2)
			cap *= 2;
		bigger = realloc(in->list, cap);
		if (!bigger)
			return -ENOMEM;
		in->list = bigger;
		in->list_cap = cap;
	}
	for (size_t i = 0; i < n; i++)
		if (p[i] < 0x20 || p[i] >= 0x7f)
			return -EINVAL;		/* names come %-encoded */
	memcpy(in->list + in->list_len, p, n);
	in->list_len += n;
	in->list[in->list_len++] = '\n';
	in->list[in->list_len] = 0;
	return 0;
}

/* The end: the envelope sealed, committed to the outbox. */
static void finish(struct sl_courier *c, struct sl_intake *in, int64_t now)
{
	struct sl_ob_item proto = { 0 }, *it;
	struct sl_ipc_builder b;
	int ret;

	ret = sl_env_writer_finish(in->w, &proto.size, &proto.chunks,
				   proto.sha256);
	if (ret) {
		char why[128];

		snprintf(why, sizeof(why), "sealing the envelope: %s",
			 strerror(-ret));
		sl_intake_abort(c, in, why);
		return;
	}
	memcpy(proto.id, in->id, SL_ENV_ID_LEN);
	snprintf(proto.to, sizeof(proto.to), "%s", in->a.to);
	snprintf(proto.via, sizeof(proto.via), "%s", in->a.via);
	proto.deliver_after_ms = in->a.deliver_after_ms;
	proto.deliver_window = in->a.deliver_window;
	proto.queued = (int64_t)time(NULL);
	proto.files = in->files;
	proto.content_bytes = in->content_bytes;
	proto.uid = in->a.client ? in->a.client->uid : 0;
	ret = sl_outbox_add(&c->ob, &proto, in->env_fd, in->list ? in->list : "",
			    in->list_len, &it);
	if (ret) {
		char why[PATH_MAX + 80];

		snprintf(why, sizeof(why), "outbox %s: %s", c->conf.outbox,
			 strerror(-ret));
		sl_intake_abort(c, in, why);
		return;
	}
	close(in->env_fd);
	in->env_fd = -1;
	sl_log(LOG_NOTICE, "envelope %s to %s queued: %" PRIu64 " files, %" PRIu64 " bytes, sealed into %" PRIu64 " bytes (by uid %u)",
	       it->hex, it->to, it->files, it->content_bytes, it->size,
	       (unsigned int)proto.uid);
	if (in->a.client) {
		sl_ipc_build(&b, "queued");
		sl_ipc_add(&b, "id", it->hex);
		sl_ipc_addf(&b, "size", "%" PRIu64, it->size);
		sl_ipc_addf(&b, "chunks", "%" PRIu64, it->chunks);
		sl_ipc_addf(&b, "files", "%" PRIu64, it->files);
		sl_ipc_addf(&b, "content_bytes", "%" PRIu64, it->content_bytes);
		sl_ipc_send_record(in->a.client, &b);
		in->a.client->courier = NULL;
		if (!in->a.wait || !sl_courier_waiting(c, in->a.client, it->id))
			sl_ipc_sendf(in->a.client, "ok id=%s", it->hex);
	}
	intake_free(c, in);
	sl_courier_schedule(c, now);
}

/* One record: 0 to go on, 1 at the end (the intake freed), <0 abort. */
static int record(struct sl_courier *c, struct sl_intake *in, uint8_t type,
		  const uint8_t *p, size_t n, int64_t now, char *why,
		  size_t why_len)
{
	int ret;

	switch (type) {
	case 'D':
		ret = sl_env_writer_write(in->w, p, n);
		if (ret)
			return sl_errf(why, why_len, ret, "sealing into %s: %s",
				       c->conf.outbox, strerror(-ret));
		in->payload += n;
		return 0;
	case 'F':
		ret = list_add(in, p, n);
		if (ret)
			return sl_errf(why, why_len, ret, "a bad list of files from sealctl");
		return 0;
	case 'E':
		if (n != 16)
			return sl_errf(why, why_len, -EPROTO, "a bad end record from sealctl");
		in->files = 0;
		in->content_bytes = 0;
		for (int i = 0; i < 8; i++) {
			in->files = in->files << 8 | p[i];
			in->content_bytes = in->content_bytes << 8 | p[8 + i];
		}
		finish(c, in, now);
		return 1;
	case 'X':
		snprintf(why, why_len, "%.*s", (int)(n > 400 ? 400 : n),
			 (const char *)p);
		return -ECANCELED;
	default:
		return sl_errf(why, why_len, -EPROTO,
			       "sealctl sent an unknown record");
	}
}

bool sl_intake_ready(struct sl_courier *c, struct sl_intake *in, int64_t now)
{
	char why[512] = "";

	/* A bounded amount per wake-up: other lines and requests go on. */
	for (int rounds = 0; rounds < 16; rounds++) {
		size_t want, len;
		ssize_t n;
		int ret;

		want = in->have < REC_HEADER ? REC_HEADER - in->have : 0;
		if (!want) {
			len = (size_t)in->rec[1] << 24 | in->rec[2] << 16 |
			      in->rec[3] << 8 | in->rec[4];
			if (len > REC_MAX) {
				sl_intake_abort(c, in, "sealctl sent a record too long");
				return true;
			}
			want = REC_HEADER + len - in->have;
		}
		if (want) {
			n = read(in->a.pipe_fd, in->rec + in->have, want);
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return false;
			if (n <= 0) {
				sl_intake_abort(c, in, n ? strerror(errno) :
						"sealctl ended before the files were packed");
				return true;
			}
			in->have += (size_t)n;
			if ((size_t)n < want)
				continue;
			if (in->have == REC_HEADER)
				continue;	/* the header: now its body */
		}
		len = in->have - REC_HEADER;
		ret = record(c, in, in->rec[0], in->rec + REC_HEADER, len, now,
			     why, sizeof(why));
		if (ret == 1)
			return true;
		if (ret < 0) {
			sl_intake_abort(c, in, why);
			return true;
		}
		in->have = 0;
	}
	return false;
}
