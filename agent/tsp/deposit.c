// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The TSP's side of a hand-over (deposit.h): the courier's recipient
 * engine (xfer.c) in front of the spool (tspspool.c), with the checks a
 * TSP can make without a key and the signed acceptance.
 *
 * Chunk i of an envelope lives at byte 153 + 65,552 i of the spool file
 * (courier.rst, "Chunks"); the header, which comes in the OFFER, at 0. A
 * resumed hand-over starts at the first chunk not on disk; if the sender
 * offers another header for the same envelope id and size (a new seal:
 * none of the old chunks would open under it), it starts again at 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "deposit.h"
#include "envelope.h"		/* the refusal codes, no code of it */
#include "hex.h"

#define CHUNK_WIRE	(SL_TSP_SPOOL_CHUNK_LEN + SL_TSP_SPOOL_TAG_LEN)
#define MAGIC_LEN	7
#define ID_OFFSET	8

_Static_assert(SL_TSP_SPOOL_HEADER_LEN == SL_XFER_HEADER_LEN &&
	       SL_TSP_SPOOL_HEADER_LEN == SL_ENV_HEADER_LEN &&
	       CHUNK_WIRE == SL_XFER_CHUNK_WIRE,
	       "the spool, the transfer and the envelope agree on the format");
_Static_assert(SL_XFER_BAD_FORMAT == SL_ENV_BAD_FORMAT,
	       "the transfer engine's own refusal is the courier's BAD_FORMAT");
_Static_assert(SL_TSP_ENVELOPE_ID_LEN == SL_ENV_ID_LEN &&
	       ID_OFFSET + SL_ENV_ID_LEN == SL_ENV_CLEAR_LEN,
	       "the envelope id is bytes 8..23 of the header");

struct sl_tsp_deposit {
	struct sl_tsp_deposit_cfg cfg;
	char sender[SL_ACCOUNT_LEN + 1];
	char recipient[SL_ACCOUNT_LEN + 1];
	struct sl_xrecv *xr;
	struct sl_tsp_spool_row row;
	bool have_row;
	bool decided;
	uint8_t code;
	uint64_t from;
	char detail[SL_XFER_DETAIL_MAX + 1];
	char text[SL_TSP_ACCEPTANCE_MAX + 1];
};

/* ------------------------------------------------------------ acceptance */

static void utc_seconds(char out[32], int64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int sl_tsp_acceptance(char *out, size_t len, const struct sl_tsp_spool_row *r,
		      const struct sl_sign_key *key)
{
	char env[2 * SL_TSP_ENVELOPE_ID_LEN + 1], sha[2 * SL_TSP_SHA256_LEN + 1];
	char pub[2 * SL_SIGN_PUB_LEN + 1], sig_hex[2 * SL_SIGN_SIG_LEN + 1];
	char accepted[32], expires[32];
	uint8_t sig[SL_SIGN_SIG_LEN];
	int n, m, ret;

	if (!r->have_sha256 || !r->accepted_ms)
		return -EINVAL;
	sl_hex_encode(env, r->envelope, sizeof(r->envelope));
	sl_hex_encode(sha, r->sha256, sizeof(r->sha256));
	sl_hex_encode(pub, key->pub, sizeof(key->pub));
	utc_seconds(accepted, r->accepted_ms);
	utc_seconds(expires, r->expires_ms);
	n = snprintf(out, len,
		     SL_TSP_ACCEPTANCE_MAGIC "\n"
		     "envelope %s\n"
		     "sha256 %s\n"
		     "size %" PRIu64 "\n"
		     "sender %s\n"
		     "recipient %s\n"
		     "accepted %s\n"
		     "expires %s\n"
		     "spool %016" PRIx64 "\n"
		     "key %s\n",
		     env, sha, r->size, r->sender, r->recipient, accepted,
		     expires, r->sid, pub);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	ret = sl_sign(sig, key, out, (size_t)n);
	if (ret)
		return ret;
	sl_hex_encode(sig_hex, sig, sizeof(sig));
	m = snprintf(out + n, len - (size_t)n, "signature %s\n", sig_hex);
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -ENOSPC;
	return n + m;
}

int sl_tsp_notice(char *out, size_t len, const struct sl_tsp_spool_row *r,
		  const struct sl_sign_key *key)
{
	char env[2 * SL_TSP_ENVELOPE_ID_LEN + 1], sha[2 * SL_TSP_SHA256_LEN + 1];
	char pub[2 * SL_SIGN_PUB_LEN + 1], sig_hex[2 * SL_SIGN_SIG_LEN + 1];
	char when[32];
	uint8_t sig[SL_SIGN_SIG_LEN];
	int n, m, ret;

	if ((r->state != SL_TSP_SPOOL_EXPIRED &&
	     r->state != SL_TSP_SPOOL_BOUNCED) || !r->have_sha256)
		return -EINVAL;
	sl_hex_encode(env, r->envelope, sizeof(r->envelope));
	sl_hex_encode(sha, r->sha256, sizeof(r->sha256));
	sl_hex_encode(pub, key->pub, sizeof(key->pub));
	utc_seconds(when, r->done_ms);
	n = snprintf(out, len,
		     SL_TSP_NOTICE_MAGIC "\n"
		     "envelope %s\n"
		     "sha256 %s\n"
		     "size %" PRIu64 "\n"
		     "sender %s\n"
		     "recipient %s\n"
		     "outcome %s\n"
		     "reason %s\n"
		     "attempts %u\n"
		     "time %s\n"
		     "key %s\n",
		     env, sha, r->size, r->sender, r->recipient,
		     sl_tsp_spool_state_name(r->state),
		     r->reason[0] ? r->reason : "none", r->attempts, when, pub);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	ret = sl_sign(sig, key, out, (size_t)n);
	if (ret)
		return ret;
	sl_hex_encode(sig_hex, sig, sizeof(sig));
	m = snprintf(out + n, len - (size_t)n, "signature %s\n", sig_hex);
	if (m < 0 || (size_t)m >= len - (size_t)n)
		return -ENOSPC;
	return n + m;
}

/* ------------------------------------------------------------ decisions */

static void refuse(struct sl_tsp_deposit *d, uint8_t code, uint64_t now,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse(struct sl_tsp_deposit *d, uint8_t code, uint64_t now,
		   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->detail, sizeof(d->detail), fmt, ap);
	va_end(ap);
	d->decided = true;
	d->code = code;
	sl_xrecv_refuse(d->xr, code, d->detail, now);
}

/* The end of a transfer the spool took: RESULT with the refusal. */
static void fail(struct sl_tsp_deposit *d, uint8_t code, uint64_t now,
		 const char *what)
{
	snprintf(d->detail, sizeof(d->detail), "%s", what);
	d->decided = true;
	d->code = code;
	sl_xrecv_result(d->xr, code, d->detail, strlen(d->detail), now);
}

/* The held row's acceptance as the RESULT. */
static void acknowledge(struct sl_tsp_deposit *d, uint64_t now)
{
	int n = sl_tsp_acceptance(d->text, sizeof(d->text), &d->row,
				  d->cfg.key);

	if (n < 0) {
		fail(d, SL_ENV_INTERNAL, now, "the TSP cannot sign its acceptance");
		return;
	}
	d->decided = true;
	d->code = SL_ENV_OK;
	d->detail[0] = '\0';
	sl_xrecv_result(d->xr, SL_ENV_OK, d->text, (size_t)n, now);
}

static uint8_t spool_error_code(int err)
{
	switch (err) {
	case -ENOSPC:
	case -EDQUOT:
		return SL_ENV_NO_SPACE;
	case -EIO:
	case -EROFS:
		return SL_ENV_IO;
	default:
		return SL_ENV_INTERNAL;
	}
}

/* Every chunk is on disk: hash, hold, acknowledge. */
static void complete(struct sl_tsp_deposit *d, uint64_t now, int64_t wall_ms)
{
	int ret = sl_tsp_spool_receive_done(d->cfg.sp, d->row.sid, wall_ms,
					    d->cfg.delay_ms, &d->row);

	if (ret == -EEXIST)
		ret = sl_tsp_spool_get(d->cfg.sp->st, d->row.sid, &d->row);
	if (ret) {
		fail(d, spool_error_code(ret), now,
		     "the TSP could not keep the envelope");
		return;
	}
	acknowledge(d, now);
}

/* Where an unfinished hand-over resumes: its chunk, or 0 after writing
 * the header (a new one, or another than the one on disk). */
static int resume_chunk(struct sl_tsp_deposit *d, const uint8_t *header,
			uint64_t resume, uint64_t *from)
{
	uint8_t disk[SL_TSP_SPOOL_HEADER_LEN];
	int ret;

	if (resume >= SL_TSP_SPOOL_HEADER_LEN &&
	    !sl_tsp_spool_read(d->cfg.sp, d->row.sid, 0, disk, sizeof(disk)) &&
	    !memcmp(disk, header, sizeof(disk))) {
		*from = (resume - SL_TSP_SPOOL_HEADER_LEN) / CHUNK_WIRE;
		return 0;
	}
	*from = 0;
	ret = sl_tsp_spool_receive_write(d->cfg.sp, d->row.sid, 0, header,
					 SL_TSP_SPOOL_HEADER_LEN);
	return ret;
}

static void decide(struct sl_tsp_deposit *d, uint64_t now, int64_t wall_ms)
{
	const struct sl_xrecv_offer *o = sl_xrecv_offer(d->xr);
	struct sl_tsp_spool_offer so = {
		.sender = d->sender, .recipient = d->recipient,
		.size = o->size, .not_before_ms = d->cfg.not_before_ms,
		.window = d->cfg.window,
	};
	uint64_t resume;
	int ret;

	/* The sender's schedule (--deliver-after, --deliver-window) comes
	 * with its OFFER. */
	if (o->has_schedule) {
		if (!sl_tsp_window_valid(o->window) || o->not_before_ms < 0) {
			refuse(d, SL_ENV_BAD_FORMAT, now,
			       "a delivery window is two different times of day");
			return;
		}
		if (o->not_before_ms > wall_ms + d->cfg.sp->lim.max_hold_ms) {
			refuse(d, SL_ENV_BAD_FORMAT, now,
			       "the TSP holds an envelope %" PRId64 " s at most (max_hold)",
			       d->cfg.sp->lim.max_hold_ms / 1000);
			return;
		}
		so.not_before_ms = o->not_before_ms;
		so.window = o->window;
	}

	if (memcmp(o->header, SL_ENV_MAGIC, MAGIC_LEN)) {
		refuse(d, SL_ENV_BAD_FORMAT, now, "not a sealine envelope");
		return;
	}
	if (o->header[MAGIC_LEN] != SL_ENV_VERSION) {
		refuse(d, SL_ENV_BAD_VERSION, now,
		       "envelope version %u; this TSP holds version %u",
		       o->header[MAGIC_LEN], SL_ENV_VERSION);
		return;
	}
	memcpy(so.envelope, o->header + ID_OFFSET, sizeof(so.envelope));
	ret = sl_tsp_spool_receive_begin(d->cfg.sp, &so, wall_ms, &d->row,
					 &resume);
	d->have_row = !ret || ret == -EEXIST;
	switch (ret) {
	case 0:
		break;
	case -EEXIST:
		if (d->row.state == SL_TSP_SPOOL_ABANDONED) {
			refuse(d, SL_ENV_REPLAY, now,
			       "this envelope's hand-over was abandoned: seal the files again");
			return;
		}
		/* Held (or delivered) already: the first acceptance. */
		d->from = o->chunks;
		acknowledge(d, now);
		return;
	case -EALREADY:
		refuse(d, SL_ENV_REPLAY, now,
		       "another envelope of this sender has this id");
		return;
	case -EFBIG:
		refuse(d, SL_ENV_TOO_BIG, now, "over the TSP's limit of %" PRIu64 " bytes",
		       d->cfg.sp->lim.max_envelope);
		return;
	case -EINVAL:
		refuse(d, SL_ENV_BAD_FORMAT, now, "no envelope has %" PRIu64 " bytes",
		       o->size);
		return;
	case -ENOSPC:
		refuse(d, SL_ENV_NO_SPACE, now,
		       "the TSP has no room for this envelope now; try again later");
		return;
	case -EDQUOT:
		refuse(d, SL_ENV_QUOTA, now,
		       "the TSP holds %u envelopes or %" PRIu64 " bytes of an account at most",
		       d->cfg.sp->lim.quota_envelopes, d->cfg.sp->lim.quota_bytes);
		return;
	default:
		refuse(d, SL_ENV_INTERNAL, now,
		       "the TSP cannot take envelopes now; try again later");
		return;
	}
	ret = resume_chunk(d, o->header, resume, &d->from);
	if (ret) {
		refuse(d, spool_error_code(ret), now,
		       "the TSP could not write the envelope");
		return;
	}
	sl_xrecv_accept(d->xr, d->from, now);
	if (d->from == o->chunks)
		complete(d, now, wall_ms);
}

/* ------------------------------------------------------------ engine */

int sl_tsp_deposit_new(struct sl_tsp_deposit **dp,
		       const struct sl_tsp_deposit_cfg *cfg,
		       const uint8_t *offer, size_t len, uint64_t now,
		       int64_t wall_ms)
{
	struct sl_tsp_deposit *d;
	int ret;

	*dp = NULL;
	if (!cfg->sp || !cfg->key || !sl_account_valid(cfg->sender) ||
	    !sl_account_valid(cfg->recipient))
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	snprintf(d->sender, sizeof(d->sender), "%s", cfg->sender);
	snprintf(d->recipient, sizeof(d->recipient), "%s", cfg->recipient);
	ret = sl_xrecv_new(&d->xr, offer, len, now);
	if (ret) {
		free(d);
		return ret;
	}
	decide(d, now, wall_ms);
	*dp = d;
	return 0;
}

void sl_tsp_deposit_free(struct sl_tsp_deposit *d)
{
	if (!d)
		return;
	sl_xrecv_free(d->xr);
	free(d);
}

int sl_tsp_deposit_input(struct sl_tsp_deposit *d, const uint8_t *msg,
			 size_t len, uint64_t now, int64_t wall_ms)
{
	struct sl_xrecv_status st;
	const uint8_t *buf;
	uint64_t index;
	size_t n;
	int ret = sl_xrecv_input(d->xr, msg, len, now);

	if (ret == -EMSGSIZE && !d->decided) {
		/* The engine refused a sender that pads past the bucket:
		 * nothing is accepted; the row stays receiving. */
		d->decided = true;
		d->code = SL_ENV_BAD_FORMAT;
		snprintf(d->detail, sizeof(d->detail),
			 "padding past the envelope's size bucket");
	}
	if (ret)
		return ret;
	while (!d->decided && sl_xrecv_take_chunk(d->xr, &index, &buf, &n)) {
		ret = sl_tsp_spool_receive_write(d->cfg.sp, d->row.sid,
						 SL_TSP_SPOOL_HEADER_LEN +
						 index * CHUNK_WIRE, buf, n);
		if (ret) {
			fail(d, spool_error_code(ret), now,
			     "the TSP could not write the envelope");
			return 0;
		}
		sl_xrecv_chunk_done(d->xr, now);
	}
	sl_xrecv_get_status(d->xr, &st);
	if (!d->decided && st.state == SL_XRECV_COMPLETE)
		complete(d, now, wall_ms);
	return 0;
}

size_t sl_tsp_deposit_output(struct sl_tsp_deposit *d, uint64_t now,
			     uint8_t *buf)
{
	return sl_xrecv_output(d->xr, now, buf);
}

uint64_t sl_tsp_deposit_next_timer(const struct sl_tsp_deposit *d)
{
	return sl_xrecv_next_timer(d->xr);
}

bool sl_tsp_deposit_finished(const struct sl_tsp_deposit *d, uint64_t now)
{
	return sl_xrecv_finished(d->xr, now);
}

void sl_tsp_deposit_get_status(const struct sl_tsp_deposit *d,
			       struct sl_tsp_deposit_status *st)
{
	memset(st, 0, sizeof(*st));
	st->decided = d->decided;
	st->code = d->code;
	st->sid = d->have_row ? d->row.sid : 0;
	st->resumed_at = d->from;
	snprintf(st->detail, sizeof(st->detail), "%s", d->detail);
	sl_xrecv_get_status(d->xr, &st->xfer);
}
