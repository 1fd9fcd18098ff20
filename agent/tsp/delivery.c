// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The TSP's side of a delivery (delivery.h): the courier's sender engine
 * reading a held envelope from the spool, and the outcome's step on the
 * spool's row.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delivery.h"
#include "envelope.h"
#include "receipt.h"

struct sl_tsp_delivery {
	struct sl_tsp_spool *sp;
	struct sl_tsp_spool_row row;	/* as it was when the attempt began */
	int fd;
	uint8_t header[SL_ENV_HEADER_LEN];
	struct sl_xsend *xs;
	bool done;			/* finish() or call_failed() ran */
};

static int read_spool(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct sl_tsp_delivery *d = ctx;
	ssize_t n;

	while (len) {
		n = pread(d->fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -ENODATA;
		buf += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int sl_tsp_delivery_new(struct sl_tsp_delivery **dp,
			const struct sl_tsp_delivery_cfg *cfg, uint64_t now,
			int64_t wall_ms)
{
	struct sl_xsend_cfg xc = {
		.id = cfg->xfer_id, .piece = cfg->piece, .read = read_spool,
	};
	struct sl_tsp_delivery *d;
	int ret;

	*dp = NULL;
	if (!cfg->xfer_id)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->sp = cfg->sp;
	d->fd = -1;
	ret = sl_tsp_spool_get(cfg->sp->st, cfg->sid, &d->row);
	if (!ret)
		ret = sl_tsp_spool_deliver_begin(cfg->sp, cfg->sid, wall_ms, &d->fd);
	if (ret)
		goto fail;
	ret = read_spool(d, 0, d->header, sizeof(d->header));
	if (!ret) {
		xc.size = d->row.size;
		xc.pad_to = sl_xfer_bucket(d->row.size);
		xc.header = d->header;
		xc.ctx = d;
		ret = sl_xsend_new(&d->xs, &xc, now);
	}
	if (ret) {
		enum sl_tsp_spool_state state;

		/* The attempt began: it ends as a local failure. */
		d->done = true;
		sl_tsp_spool_retry(cfg->sp, cfg->sid, "INTERNAL", wall_ms, &state);
		goto fail;
	}
	*dp = d;
	return 0;

fail:
	if (d->fd >= 0)
		close(d->fd);
	free(d);
	return ret;
}

void sl_tsp_delivery_free(struct sl_tsp_delivery *d)
{
	if (!d)
		return;
	sl_xsend_free(d->xs);
	if (d->fd >= 0)
		close(d->fd);
	free(d);
}

int sl_tsp_delivery_input(struct sl_tsp_delivery *d, const uint8_t *msg,
			  size_t len, uint64_t now)
{
	return sl_xsend_input(d->xs, msg, len, now);
}

size_t sl_tsp_delivery_output(struct sl_tsp_delivery *d, uint64_t now,
			      uint8_t *buf)
{
	return sl_xsend_output(d->xs, now, buf);
}

uint64_t sl_tsp_delivery_next_timer(const struct sl_tsp_delivery *d)
{
	return sl_xsend_next_timer(d->xs);
}

bool sl_tsp_delivery_finished(const struct sl_tsp_delivery *d, uint64_t now)
{
	return sl_xsend_finished(d->xs, now);
}

void sl_tsp_delivery_get_status(const struct sl_tsp_delivery *d,
				struct sl_xsend_status *st)
{
	sl_xsend_get_status(d->xs, st);
}

/* Is text a receipt, signed by the key it names, for exactly the row's
 * envelope between the row's accounts? */
static bool receipt_fits(const struct sl_tsp_spool_row *row, const char *text,
			 size_t len)
{
	struct sl_rcpt r;
	char why[128];

	if (sl_rcpt_verify(&r, text, len, NULL, why, sizeof(why)))
		return false;
	return !memcmp(r.id, row->envelope, sizeof(r.id)) &&
	       row->have_sha256 &&
	       !memcmp(r.sha256, row->sha256, sizeof(r.sha256)) &&
	       r.size == row->size && !strcmp(r.sender, row->sender) &&
	       !strcmp(r.recipient, row->recipient);
}

int sl_tsp_delivery_finish(struct sl_tsp_delivery *d, int64_t wall_ms,
			   enum sl_tsp_spool_state *state)
{
	struct sl_xsend_status st;
	char receipt[SL_RCPT_MAX_LEN + 1];
	const char *name;

	if (d->done)
		return -EALREADY;
	d->done = true;
	sl_xsend_get_status(d->xs, &st);
	if (st.state != SL_XSEND_DONE)
		return sl_tsp_spool_retry(d->sp, d->row.sid, SL_TSP_REASON_CUT,
					  wall_ms, state);
	if (st.code == SL_ENV_OK || st.code == SL_ENV_REPLAY) {
		/* REPLAY comes with the receipt of the first delivery
		 * (courier.rst, "Commit and replay"); without one it is a
		 * recipient that already had the envelope and lost the
		 * receipt, which no one can prove: a failed attempt. */
		if (st.text_len > SL_RCPT_MAX_LEN ||
		    !receipt_fits(&d->row, st.text, st.text_len))
			return sl_tsp_spool_retry(d->sp, d->row.sid,
						  SL_TSP_REASON_BAD_RECEIPT,
						  wall_ms, state);
		memcpy(receipt, st.text, st.text_len);
		receipt[st.text_len] = '\0';
		*state = SL_TSP_SPOOL_DELIVERED;
		return sl_tsp_spool_delivered(d->sp, d->row.sid, receipt,
					      wall_ms);
	}
	name = sl_env_reason_name((enum sl_env_reason)st.code);
	if (!strcmp(name, "?"))
		name = "INTERNAL";	/* a code this TSP does not know */
	if (sl_env_reason_retryable((enum sl_env_reason)st.code) &&
	    !(st.code == SL_ENV_DAMAGED && !strcmp(d->row.reason, name)))
		return sl_tsp_spool_retry(d->sp, d->row.sid, name, wall_ms,
					  state);
	*state = SL_TSP_SPOOL_BOUNCED;
	return sl_tsp_spool_bounce(d->sp, d->row.sid, name, wall_ms);
}

int sl_tsp_delivery_call_failed(struct sl_tsp_delivery *d, const char *reason,
				bool for_good, int64_t wall_ms,
				enum sl_tsp_spool_state *state)
{
	if (d->done)
		return -EALREADY;
	d->done = true;
	if (for_good) {
		*state = SL_TSP_SPOOL_BOUNCED;
		return sl_tsp_spool_bounce(d->sp, d->row.sid, reason, wall_ms);
	}
	return sl_tsp_spool_retry(d->sp, d->row.sid, reason, wall_ms, state);
}
