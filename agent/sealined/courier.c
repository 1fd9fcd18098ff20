// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The courier (courier.h): setting up, the schedule of deliveries (which
 * envelope goes on which line, when a call is placed, the back-off after
 * a failed attempt), what becomes of a transfer, unpacking, sealctl
 * waiting for its envelope, and the event loop's part.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "courier_internal.h"
#include "crypto.h"
#include "dialer.h"
#include "hex.h"
#include "lines_internal.h"
#include "log.h"
#include "receipt.h"
#include "sessionlog.h"

static int64_t wall(void)
{
	return (int64_t)time(NULL);
}

struct sl_cline *sl_courier_line(struct sl_courier *c, unsigned int i)
{
	return i < c->L->n ? c->L->lines[i].courier : NULL;
}

/* ---- sealctl send --wait ------------------------------------------------- */

static struct sl_waiter *waiter_of(struct sl_courier *c,
				   const uint8_t id[SL_ENV_ID_LEN])
{
	for (int i = 0; i < SL_COURIER_MAX_WAITERS; i++)
		if (c->waiters[i].client &&
		    !memcmp(c->waiters[i].id, id, SL_ENV_ID_LEN))
			return &c->waiters[i];
	return NULL;
}

bool sl_courier_waiting(struct sl_courier *c, struct sl_ipc_client *client,
			const uint8_t id[SL_ENV_ID_LEN])
{
	for (int i = 0; i < SL_COURIER_MAX_WAITERS; i++) {
		struct sl_waiter *w = &c->waiters[i];

		if (w->client)
			continue;
		w->client = client;
		memcpy(w->id, id, SL_ENV_ID_LEN);
		w->progress_at = 0;
		client->courier = w;
		return true;
	}
	return false;
}

void sl_courier_notify(struct sl_courier *c, const struct sl_ob_item *it,
		       const char *state, const char *detail)
{
	struct sl_waiter *w = waiter_of(c, it->id);
	struct sl_ipc_builder b;
	char when[32];

	if (!w)
		return;
	sl_ipc_build(&b, "state");
	sl_ipc_add(&b, "id", it->hex);
	sl_ipc_add(&b, "state", state);
	sl_ipc_addf(&b, "attempts", "%" PRIu32, it->attempts);
	if (detail && *detail)
		sl_ipc_add(&b, "detail", detail);
	if (!sl_ob_final(it->state) && it->next_try > wall() &&
	    !strcmp(state, "queued")) {
		sl_slog_time(when, it->next_try);
		sl_ipc_add(&b, "next_try", when);
	}
	sl_ipc_send_record(w->client, &b);
	if (!sl_ob_final(it->state) && it->state != SL_OB_HELD)
		return;
	/* The end of sealctl's wait: delivered, or (sent --via-tsp) held
	 * at the TSP, whose delivery may be days away. */
	if (it->state == SL_OB_DELIVERED || it->state == SL_OB_HELD) {
		sl_ipc_sendf(w->client, "ok id=%s state=%s", it->hex,
			     sl_ob_state_name(it->state));
	} else {
		char tok[64];

		snprintf(tok, sizeof(tok), "%s", it->state == SL_OB_REFUSED ?
			 sl_env_reason_name((enum sl_env_reason)it->reason) :
			 sl_ob_state_name(it->state));
		sl_ipc_send_err(w->client, it->state == SL_OB_REFUSED ?
				-ECONNREFUSED : it->state == SL_OB_CANCELLED ?
				-ECANCELED : -ETIMEDOUT,
				"envelope %s %s: %s%s%s", it->hex,
				sl_ob_state_name(it->state), tok,
				it->detail[0] ? ": " : "", it->detail);
	}
	w->client->courier = NULL;
	w->client = NULL;
}

void sl_courier_progress(struct sl_courier *c, const struct sl_ob_item *it,
			 const struct sl_xsend_status *st, int64_t now)
{
	struct sl_waiter *w = waiter_of(c, it->id);
	struct sl_ipc_builder b;

	if (!w || now - w->progress_at < SL_COURIER_PROGRESS_MS)
		return;
	w->progress_at = now;
	sl_ipc_build(&b, "progress");
	sl_ipc_add(&b, "id", it->hex);
	sl_ipc_addf(&b, "acked", "%" PRIu64,
		    st->from * (uint64_t)SL_ENV_CHUNK_WIRE_LEN + st->bytes_acked);
	sl_ipc_addf(&b, "size", "%" PRIu64, it->size);
	sl_ipc_addf(&b, "durable", "%" PRIu64, st->durable);
	sl_ipc_addf(&b, "chunks", "%" PRIu64, it->chunks);
	sl_ipc_send_record(w->client, &b);
}

void sl_courier_client_gone(struct sl_courier *c, struct sl_ipc_client *client)
{
	for (int i = 0; i < SL_COURIER_MAX_INTAKES; i++)
		if (c->intakes[i] && sl_intake_of(c->intakes[i], client))
			sl_intake_abort(c, c->intakes[i],
					"sealctl went away before the files were packed");
	for (int i = 0; i < SL_COURIER_MAX_WAITERS; i++)
		if (c->waiters[i].client == client)
			c->waiters[i].client = NULL;
	sl_ctsp_client_gone(c, client);
	client->courier = NULL;
}

/* ---- Attempts and their back-off ------------------------------------------ */

/*
 * [courier] tsp_after: an envelope sent "auto" (no route asked for) whose
 * direct attempts failed that often goes to the TSP instead, as if sent
 * --via-tsp (store-and-forward.rst): its attempts count again from 0.
 */
static bool fall_back_to_tsp(struct sl_courier *c, struct sl_ob_item *it,
			     const char *why)
{
	uint32_t failed = it->attempts;

	if (!c->conf.tsp_after || failed < c->conf.tsp_after ||
	    strcmp(it->via, "auto") || !sl_ctsp_reachable(c))
		return false;
	snprintf(it->via, sizeof(it->via), SL_OB_VIA_TSP);
	it->attempts = 0;
	it->state = SL_OB_QUEUED;
	it->next_try = wall();
	snprintf(it->detail, sizeof(it->detail),
		 "%" PRIu32 " direct attempts failed (the last: %s): handed to the TSP",
		 failed, why);
	sl_outbox_save(&c->ob, it);
	sl_log(LOG_NOTICE, "envelope %s to %s: %s (tsp_after = %" PRIu32 ")",
	       it->hex, it->to, it->detail, c->conf.tsp_after);
	sl_courier_notify(c, it, "queued", it->detail);
	return true;
}

void sl_courier_fail_attempt(struct sl_courier *c, struct sl_ob_item *it,
			     const char *why, int64_t now)
{
	uint64_t delay = c->conf.retry;

	(void)now;
	if (fall_back_to_tsp(c, it, why))
		return;
	for (uint32_t i = 1; i < it->attempts && delay < c->conf.retry_max; i++)
		delay *= 2;
	if (delay > c->conf.retry_max)
		delay = c->conf.retry_max;
	if (it->attempts >= c->conf.attempts) {
		char text[SL_OB_DETAIL_MAX];

		snprintf(text, sizeof(text), "%" PRIu32 " attempts failed; the last: %s",
			 it->attempts, why);
		sl_log(LOG_WARNING, "envelope %s to %s: %s: given up (sealctl outbox retry %s tries again)",
		       it->hex, it->to, text, it->hex);
		sl_outbox_finish(&c->ob, it, SL_OB_FAILED, 0, text, wall());
		sl_courier_notify(c, it, "failed", text);
		return;
	}
	it->state = SL_OB_QUEUED;
	it->next_try = wall() + (int64_t)delay;
	snprintf(it->detail, sizeof(it->detail), "%s", why);
	sl_outbox_save(&c->ob, it);
	sl_log(LOG_NOTICE, "envelope %s to %s: attempt %" PRIu32 " failed (%s); next in %" PRIu64 " s",
	       it->hex, it->to, it->attempts, why, delay);
	sl_courier_notify(c, it, "queued", why);
}

/* The receipt of a transfer, checked: its signature (under the key the
 * peer signed with before, if we know one: else this one is learnt over
 * the session, which only the peer could open) and that it is about this
 * envelope, between these accounts. */
int sl_courier_check_receipt(struct sl_courier *c, struct sl_ob_item *it,
			     const char *text, size_t len, char *why,
			     size_t why_len)
{
	const struct sl_peer *p = sl_ks_find(c->ks, it->to);
	struct sl_env_sealed sealed = { 0 };
	struct sl_rcpt r;
	char err[256];
	int ret;

	ret = sl_rcpt_verify(&r, text, len,
			     p && p->has_receipt_key ? p->receipt_key : NULL,
			     why, why_len);
	if (ret)
		return ret;
	memcpy(sealed.id, it->id, SL_ENV_ID_LEN);
	memcpy(sealed.sha256, it->sha256, SL_ENV_HASH_LEN);
	sealed.bytes = it->size;
	sealed.chunks = it->chunks;
	if (!sl_rcpt_matches(&r, &sealed, c->ks->id.account, it->to)) {
		snprintf(why, why_len, "the receipt is not about this envelope or these accounts");
		return -EBADMSG;
	}
	if (p && !p->has_receipt_key) {
		char hex[2 * SL_SIGN_PUB_LEN + 1];

		sl_hex_encode(hex, r.key, SL_SIGN_PUB_LEN);
		if (sl_ks_set_receipt_key(c->ks, it->to, r.key, err, sizeof(err)))
			sl_log(LOG_WARNING, "peer %s: cannot store its receipt key: %s",
			       it->to, err);
		else
			sl_log(LOG_NOTICE, "peer %s signs its receipts with key %s (learnt from its first receipt)",
			       it->to, hex);
	}
	return 0;
}

/* A transfer ended: what it means for the envelope. */
static void transfer_done(struct sl_courier *c, struct sl_cline *cl,
			  const struct sl_xsend_status *st, int64_t now)
{
	struct sl_ob_item *it = sl_outbox_get(&c->ob, cl->xs_id);
	const char *tty = sl_line_tty(cl->line);
	char why[256];

	if (!it || sl_ob_final(it->state))
		return;			/* cancelled meanwhile */
	it->wire_bytes += cl->xs_wire;
	it->acked = st->durable;
	if (st->state == SL_XSEND_FAILED) {
		snprintf(why, sizeof(why), "%s: %.200s", tty, st->text);
		sl_courier_fail_attempt(c, it, why, now);
		return;
	}
	if (st->state != SL_XSEND_DONE)
		return;
	if (st->code == SL_ENV_OK) {
		if (sl_courier_check_receipt(c, it, st->text, st->text_len, why,
					     sizeof(why))) {
			sl_log(LOG_ALERT, "%s: envelope %s to %s: the recipient's receipt does not verify: %s",
			       tty, it->hex, it->to, why);
			sl_courier_fail_attempt(c, it, "the receipt does not verify",
						now);
			return;
		}
		if (sl_outbox_delivered(&c->ob, it, st->text, st->text_len,
					wall())) {
			sl_log(LOG_ERR, "envelope %s: the receipt cannot be stored in %s",
			       it->hex, c->conf.outbox);
			sl_courier_fail_attempt(c, it, "cannot store the receipt",
						now);
			return;
		}
		c->delivered++;
		sl_log(LOG_NOTICE, "%s: envelope %s delivered to %s: receipt verified (%" PRIu64 " bytes on the wire)",
		       tty, it->hex, it->to, it->wire_bytes);
		sl_courier_notify(c, it, "delivered", NULL);
		return;
	}
	snprintf(why, sizeof(why), "%s%s%.220s",
		 sl_env_reason_name((enum sl_env_reason)st->code),
		 st->text[0] ? ": " : "", st->text);
	if (sl_env_reason_retryable((enum sl_env_reason)st->code)) {
		sl_courier_fail_attempt(c, it, why, now);
		return;
	}
	sl_log(LOG_WARNING, "%s: envelope %s refused by %s: %s", tty, it->hex,
	       it->to, why);
	sl_outbox_finish(&c->ob, it, SL_OB_REFUSED, st->code, st->text, wall());
	sl_courier_notify(c, it, "refused", why);
}

/* After a line's engines ran: progress, a transfer's end, the next. */
void sl_courier_sent(struct sl_courier *c, struct sl_cline *cl, int64_t now)
{
	struct sl_xsend_status st;
	struct sl_ob_item *it;

	if (!cl->xs)
		goto idle;
	sl_xsend_get_status(cl->xs, &st);
	it = sl_outbox_get(&c->ob, cl->xs_id);
	if (it)
		sl_courier_progress(c, it, &st, now);
	if (!sl_xsend_finished(cl->xs, (uint64_t)now) &&
	    st.state != SL_XSEND_DONE && st.state != SL_XSEND_FAILED)
		return;
	if (st.state == SL_XSEND_ABORTED && !sl_xsend_finished(cl->xs,
							       (uint64_t)now))
		return;
	transfer_done(c, cl, &st, now);
	/* Kept a while to answer copies of its RESULT with END. */
	sl_xsend_free(cl->linger);
	cl->linger = cl->xs;
	cl->linger_until = now + SL_XFER_LINGER_MS;
	cl->xs = NULL;
	close(cl->env_fd);
	cl->env_fd = -1;
	sl_courier_schedule(c, now);
idle:
	if (cl->calling[0] && !cl->xs && !cl->xr && !cl->idle_since)
		cl->idle_since = now;
	if (cl->xs || cl->xr)
		cl->idle_since = 0;
}

/* ---- The schedule ----------------------------------------------------------- */

static bool via_line(const struct sl_ob_item *it, const struct sl_line *line)
{
	const char *tty = sl_line_tty(line);

	if (!strcmp(it->via, "auto"))
		return true;
	if (!strcmp(it->via, "call"))
		return line->dial != NULL;
	if (!strncmp(it->via, "line:", 5))
		return !strcmp(it->via + 5, tty);
	if (!strncmp(it->via, "call:", 5))
		return !strcmp(it->via + 5, tty);
	return false;
}

static bool via_calls(const struct sl_ob_item *it)
{
	return !strcmp(it->via, "auto") || !strncmp(it->via, "call", 4);
}

static bool being_sent(struct sl_courier *c, const struct sl_ob_item *it)
{
	for (unsigned int i = 0; i < c->L->n; i++) {
		struct sl_cline *cl = sl_courier_line(c, i);

		if (cl && cl->xs && !memcmp(cl->xs_id, it->id, SL_ENV_ID_LEN))
			return true;
	}
	return false;
}

/* A line keyed with it->to, free to send, that it may go on. */
static struct sl_cline *keyed_line(struct sl_courier *c,
				   const struct sl_ob_item *it)
{
	for (unsigned int i = 0; i < c->L->n; i++) {
		struct sl_cline *cl = sl_courier_line(c, i);

		if (cl && cl->up && !cl->xs && sl_cchan_ready(cl->ch) &&
		    !strcmp(cl->peer, it->to) && via_line(it, cl->line))
			return cl;
	}
	return NULL;
}

/* A call to it->to in progress (placed, or up with another peer's). */
static bool calling(struct sl_courier *c, const struct sl_ob_item *it)
{
	for (unsigned int i = 0; i < c->L->n; i++) {
		struct sl_line *line = &c->L->lines[i];
		struct sl_cline *cl = line->courier;

		if (cl && !strcmp(cl->calling, it->to))
			return true;
		if (line->dial && !sl_dialer_idle(line->dial) &&
		    !strcmp(sl_dialer_peer(line->dial), it->to))
			return true;
	}
	return false;
}

static void place_call(struct sl_courier *c, struct sl_ob_item *it,
		       int64_t now)
{
	for (unsigned int i = 0; i < c->L->n; i++) {
		struct sl_line *line = &c->L->lines[i];
		struct sl_cline *cl;
		char err[256];
		int ret;

		if (!line->dial || !sl_dialer_idle(line->dial) ||
		    !via_line(it, line))
			continue;
		cl = sl_cline_get(c, line);
		if (!cl)
			return;
		ret = sl_dialer_call(line->dial, it->to, NULL, now, err,
				     sizeof(err));
		if (ret) {
			sl_log(LOG_WARNING, "%s: cannot call %s for envelope %s: %s",
			       sl_line_tty(line), it->to, it->hex, err);
			continue;
		}
		snprintf(cl->calling, sizeof(cl->calling), "%s", it->to);
		memcpy(cl->call_for, it->id, SL_ENV_ID_LEN);
		cl->call_transferred = false;
		cl->call_deadline = now + SL_COURIER_CALL_KEY_MS;
		cl->idle_since = 0;
		it->attempts++;
		it->last_try = wall();
		it->state = SL_OB_SENDING;
		sl_outbox_save(&c->ob, it);
		sl_log(LOG_NOTICE, "%s: calling %s to deliver envelope %s",
		       sl_line_tty(line), it->to, it->hex);
		sl_courier_notify(c, it, "calling", sl_line_tty(line));
		return;
	}
}

void sl_courier_schedule(struct sl_courier *c, int64_t now)
{
	int64_t t = wall();

	for (size_t i = 0; i < c->ob.n; i++) {
		struct sl_ob_item *it = &c->ob.items[i];
		struct sl_cline *cl;
		bool counted;

		/* Handed to the TSP (courier_tsp.c), or held there. */
		if (sl_ob_final(it->state) || being_sent(c, it) ||
		    sl_ctsp_via(it) || it->state == SL_OB_HELD)
			continue;
		cl = keyed_line(c, it);
		if (cl && (it->next_try <= t ||
			   (cl->calling[0] && !cl->call_transferred))) {
			/* The call placed for it counted its attempt. */
			counted = cl->calling[0] && !cl->call_transferred &&
				  !memcmp(cl->call_for, it->id, SL_ENV_ID_LEN);
			if (!counted)
				it->attempts++;
			it->last_try = t;
			it->state = SL_OB_SENDING;
			sl_outbox_save(&c->ob, it);
			if (sl_cline_send(c, cl, it, now)) {
				sl_courier_fail_attempt(c, it,
							"cannot read the envelope",
							now);
				continue;
			}
			sl_courier_notify(c, it, "sending",
					  sl_line_tty(cl->line));
			continue;
		}
		if (it->next_try <= t && via_calls(it) && !calling(c, it))
			place_call(c, it, now);
	}
	sl_ctsp_schedule(c, now);
}

/* A call the courier placed: hung up once both ways are idle and
 * nothing more waits for its peer, or if it never got keyed. */
static void call_check(struct sl_courier *c, struct sl_cline *cl, int64_t now)
{
	struct sl_line *line = cl->line;
	const char *why = NULL;

	if (!cl->calling[0] || !line->dial)
		return;
	if (cl->call_deadline && now >= cl->call_deadline)
		why = "the call was not keyed in time";
	if (!why && cl->idle_since && now >= cl->idle_since + SL_COURIER_CALL_IDLE_MS) {
		for (size_t i = 0; i < c->ob.n; i++) {
			const struct sl_ob_item *it = &c->ob.items[i];

			if (!sl_ob_final(it->state) && !strcmp(it->to, cl->calling) &&
			    !sl_ctsp_via(it) && it->state != SL_OB_HELD &&
			    it->next_try <= wall()) {
				cl->idle_since = 0;
				return;	/* more for this peer: schedule it */
			}
		}
		why = "the courier's deliveries are done";
	}
	if (!why)
		return;
	sl_log(LOG_NOTICE, "%s: hanging up the call to %s: %s",
	       sl_line_tty(line), cl->calling, why);
	sl_dialer_hangup(line->dial, why, now);
}

/* ---- Unpacking ------------------------------------------------------------------ */

bool sl_courier_unpack_pending(const struct sl_courier *c,
			       const uint8_t id[SL_ENV_ID_LEN])
{
	if (c->unpacking && !memcmp(c->unpacking_id, id, SL_ENV_ID_LEN))
		return true;
	for (unsigned int i = 0; i < c->n_queue; i++)
		if (!memcmp(c->queue[i], id, SL_ENV_ID_LEN))
			return true;
	return false;
}

void sl_courier_queue_unpack(struct sl_courier *c,
			     const uint8_t id[SL_ENV_ID_LEN])
{
	if (sl_courier_unpack_pending(c, id))
		return;
	if (c->n_queue == SL_COURIER_MAX_QUEUE) {
		sl_log(LOG_WARNING, "courier: %d envelopes wait to be unpacked; this one waits for a restart or its sender's next attempt",
		       SL_COURIER_MAX_QUEUE);
		return;
	}
	memcpy(c->queue[c->n_queue++], id, SL_ENV_ID_LEN);
}

static void start_unpack(struct sl_courier *c)
{
	while (!c->unpacking && c->n_queue) {
		struct sl_unpack_job *job;
		const struct sl_peer *p;
		uint8_t id[SL_ENV_ID_LEN];
		struct sl_sp_item *items = NULL;
		size_t n = 0;
		int ret;

		memcpy(id, c->queue[0], SL_ENV_ID_LEN);
		memmove(c->queue, c->queue + 1, --c->n_queue * sizeof(c->queue[0]));
		job = calloc(1, sizeof(*job));
		if (!job)
			return;
		job->env_fd = -1;
		/* Its record, whole in the spool. */
		sl_spool_list(&c->sp, &items, &n);
		for (size_t i = 0; i < n; i++)
			if (!memcmp(items[i].id, id, SL_ENV_ID_LEN))
				job->it = items[i];
		free(items);
		if (!job->it.hex[0]) {
			sl_unpack_job_free(job);
			continue;
		}
		job->env_fd = sl_spool_open_env(&c->sp, &job->it);
		job->staging_fd = c->sp.stagingfd;
		snprintf(job->me.account, sizeof(job->me.account), "%s",
			 c->ks->id.account);
		job->me.priv = c->ks->id.priv;
		memcpy(job->me.pub, c->ks->id.pub, SL_ENV_KEY_LEN);
		p = sl_ks_find(c->ks, job->it.sender);
		if (p && p->has_pub && p->ltk) {
			uint8_t *ltk = sl_secure_alloc(SL_ENV_KEY_LEN);

			if (ltk) {
				memcpy(ltk, p->ltk, SL_ENV_KEY_LEN);
				snprintf(job->peer.account,
					 sizeof(job->peer.account), "%s",
					 p->account);
				memcpy(job->peer.pub, p->pub, SL_ENV_KEY_LEN);
				job->peer.ltk = ltk;
				job->peer.allowed = sl_ks_peer_allowed(p);
				job->have_peer = true;
			}
		}
		job->limits = c->limits;
		if (job->env_fd < 0) {
			sl_unpack_job_free(job);
			continue;
		}
		memcpy(c->unpacking_id, id, SL_ENV_ID_LEN);
		ret = sl_unpacker_start(c->unp, job);
		if (ret) {
			sl_log(LOG_ERR, "courier: cannot start unpacking %s: %s",
			       job->it.hex, strerror(-ret));
			sl_unpack_job_free(job);
			return;
		}
		c->unpacking = true;
		sl_log(LOG_INFO, "courier: unpacking envelope %s from %s",
		       job->it.hex, job->it.sender);
	}
}

static void unpack_done(struct sl_courier *c, int64_t now)
{
	struct sl_unpack_job *job = sl_unpacker_done(c->unp);
	struct sl_env_refusal why = { 0 };
	enum sl_env_reason r;
	char text[SL_RCPT_MAX_LEN + 1];
	size_t len = 0;

	if (!job)
		return;
	c->unpacking = false;
	r = job->reason;
	why = job->why;
	if (r == SL_ENV_OK) {
		struct sl_rcpt rc;

		sl_rcpt_from_received(&rc, &job->got, wall());
		if (sl_rcpt_sign(text, sizeof(text), &len, &rc, &c->sign,
				 why.detail, sizeof(why.detail))) {
			why.reason = r = SL_ENV_INTERNAL;
			sl_env_discard(c->sp.stagingfd, job->got.name);
		} else {
			text[len] = 0;
			r = sl_spool_commit(&c->sp, &job->it, &job->got, text,
					    len, &why);
		}
	}
	if (r == SL_ENV_OK || r == SL_ENV_REPLAY) {
		ssize_t n = sl_spool_receipt(&c->sp, job->it.id, text,
					     sizeof(text));

		if (r == SL_ENV_OK) {
			c->received_count++;
			sl_log(LOG_NOTICE, "envelope %s from %s delivered into %s/%s: %" PRIu64 " files, %" PRIu64 " bytes",
			       job->it.hex, job->it.sender, c->conf.inbox,
			       job->it.hex, job->got.files,
			       job->got.content_bytes);
		}
		if (n > 0)
			sl_cline_result(c, job->it.id, 0, text, (size_t)n, now);
	} else {
		sl_log(LOG_WARNING, "envelope %s from %s refused: %s (%s)",
		       job->it.hex, job->it.sender, sl_env_reason_name(r),
		       why.detail);
		sl_spool_refused(&c->sp, &job->it, &why,
				 !sl_env_reason_retryable(r), wall());
		sl_cline_result(c, job->it.id, (uint8_t)r, why.detail,
				strlen(why.detail), now);
	}
	sl_unpack_job_free(job);
	start_unpack(c);
}

/* ---- The event loop ---------------------------------------------------------------- */

void sl_courier_timers(struct sl_courier *c, int64_t now)
{
	for (unsigned int i = 0; i < c->L->n; i++) {
		struct sl_cline *cl = sl_courier_line(c, i);
		int64_t t;

		if (!cl)
			continue;
		t = sl_cline_next_timer(cl);
		if (t && t <= now) {
			sl_cline_timer(c, cl, now);
			call_check(c, cl, now);
		}
	}
	if (now >= c->next_prune) {
		unsigned int n = sl_outbox_prune(&c->ob, wall(),
						 (int64_t)c->conf.keep_days * 86400);

		if (n)
			sl_log(LOG_INFO, "outbox: %u final records older than %" PRIu32 " days removed",
			       n, c->conf.keep_days);
		c->next_prune = now + SL_COURIER_PRUNE_MS;
		sl_courier_schedule(c, now);
	}
	sl_ctsp_timer(c, now);
	start_unpack(c);
}

int64_t sl_courier_next_timer(const struct sl_courier *c)
{
	int64_t next = c->next_prune, due = 0, t0 = wall();

	for (unsigned int i = 0; i < c->L->n; i++) {
		const struct sl_cline *cl = c->L->lines[i].courier;
		int64_t t = cl ? sl_cline_next_timer(cl) : 0;

		if (t && t < next)
			next = t;
	}
	/* The next envelope due: a monotonic time from the wall clock's
	 * distance to it. */
	for (size_t i = 0; i < c->ob.n; i++) {
		const struct sl_ob_item *it = &c->ob.items[i];

		if (!sl_ob_final(it->state) && it->next_try > t0 &&
		    (!due || it->next_try < due))
			due = it->next_try;
	}
	if (due) {
		int64_t t = sl_now_ms() + (due - t0) * 1000;

		if (t < next)
			next = t;
	}
	due = sl_ctsp_next_timer(c);
	if (due && due < next)
		next = due;
	return next;
}

unsigned int sl_courier_pollfds(struct sl_courier *c, struct pollfd *pfd,
				unsigned int max)
{
	unsigned int n = 0;

	for (int i = 0; i < SL_COURIER_MAX_INTAKES && n < max; i++)
		pfd[n++] = (struct pollfd){
			.fd = c->intakes[i] ? sl_intake_fd(c->intakes[i]) : -1,
			.events = POLLIN,
		};
	if (n < max)
		pfd[n++] = (struct pollfd){
			.fd = sl_unpacker_fd(c->unp), .events = POLLIN,
		};
	return n;
}

void sl_courier_poll_done(struct sl_courier *c, const struct pollfd *pfd,
			  unsigned int n, int64_t now)
{
	unsigned int k = 0;

	for (int i = 0; i < SL_COURIER_MAX_INTAKES && k < n; i++, k++)
		if (c->intakes[i] && pfd[k].fd >= 0 && pfd[k].revents)
			sl_intake_ready(c, c->intakes[i], now);
	if (k < n && pfd[k].fd >= 0 && pfd[k].revents)
		unpack_done(c, now);
	sl_courier_schedule(c, now);
}

/* ---- Setting up ---------------------------------------------------------------- */

static int resolve(char *dst, size_t size, const char *conf,
		   const char *state_dir, const char *name, char *err,
		   size_t err_len)
{
	int n = conf[0] ? snprintf(dst, size, "%s", conf) :
			  snprintf(dst, size, "%s/%s", state_dir, name);

	if (n < 0 || (size_t)n >= size)
		return sl_errf(err, err_len, -ENAMETOOLONG, "%s: path too long",
			       name);
	return 0;
}

int sl_courier_init(struct sl_courier **out, const struct sl_config *cfg,
		    struct sl_keystore *ks, struct sl_lines *L, char *err,
		    size_t err_len)
{
	struct sl_courier *c = calloc(1, sizeof(*c));
	struct sl_spool_dirs dirs;
	const char *sd = cfg->state_dir;
	struct sl_sp_item *items = NULL;
	size_t n = 0;
	int ret;

	*out = NULL;
	if (!c)
		return sl_errf(err, err_len, -ENOMEM, "out of memory");
	c->cfg = cfg;
	c->conf = cfg->courier;
	c->ks = ks;
	c->L = L;
	c->sent.fd = c->received.fd = -1;
	c->ob.dirfd = -1;
	c->tsp.env_fd = -1;
	c->sp.spoolfd = c->sp.stagingfd = c->sp.inboxfd = c->sp.rcptfd = -1;
	if ((ret = resolve(c->conf.outbox, PATH_MAX, cfg->courier.outbox, sd,
			   "outbox", err, err_len)) ||
	    (ret = resolve(c->conf.spool, PATH_MAX, cfg->courier.spool, sd,
			   "spool", err, err_len)) ||
	    (ret = resolve(c->conf.staging, PATH_MAX, cfg->courier.staging, sd,
			   "staging", err, err_len)) ||
	    (ret = resolve(c->conf.inbox, PATH_MAX, cfg->courier.inbox, sd,
			   "inbox", err, err_len)) ||
	    (ret = resolve(c->conf.receipts, PATH_MAX, cfg->courier.receipts,
			   sd, "receipts", err, err_len)) ||
	    (ret = resolve(c->conf.sent_log, PATH_MAX, cfg->courier.sent_log,
			   sd, "sent.log", err, err_len)) ||
	    (ret = resolve(c->conf.received_log, PATH_MAX,
			   cfg->courier.received_log, sd, "received.log", err,
			   err_len)))
		goto fail;
	sl_env_limits_default(&c->limits);
	c->limits.max_envelope_bytes = c->conf.max_envelope;
	c->limits.max_unpacked_bytes = c->conf.max_unpacked;
	c->limits.max_files = c->conf.max_files;
	c->limits.max_ratio = c->conf.max_ratio;
	c->limits.min_free_bytes = c->conf.min_free;

	if ((ret = sl_clog_open(&c->sent, c->conf.sent_log, err, err_len)) ||
	    (ret = sl_clog_open(&c->received, c->conf.received_log, err,
				err_len)) ||
	    (ret = sl_outbox_open(&c->ob, c->conf.outbox, &c->sent, err,
				  err_len)))
		goto fail;
	memcpy(dirs.spool, c->conf.spool, PATH_MAX);
	memcpy(dirs.staging, c->conf.staging, PATH_MAX);
	memcpy(dirs.inbox, c->conf.inbox, PATH_MAX);
	memcpy(dirs.receipts, c->conf.receipts, PATH_MAX);
	ret = sl_spool_open(&c->sp, &dirs, &c->received, err, err_len);
	if (ret)
		goto fail;
	ret = sl_sign_key_derive(&c->sign, ks->id.priv, ks->id.account);
	if (ret) {
		sl_errf(err, err_len, ret, "cannot derive the receipt key: %s",
			strerror(-ret));
		goto fail;
	}
	ret = sl_unpacker_new(&c->unp);
	if (ret) {
		sl_errf(err, err_len, ret, "unpacker: %s", strerror(-ret));
		goto fail;
	}
	/* Envelopes whole in the spool and not delivered (a crash, or
	 * their sender went away before the end): unpacked now. */
	sl_spool_list(&c->sp, &items, &n);
	for (size_t i = 0; i < n; i++)
		sl_courier_queue_unpack(c, items[i].id);
	free(items);
	for (size_t i = 0; i < c->ob.n; i++) {
		struct sl_ob_item *it = &c->ob.items[i];

		if (it->state == SL_OB_SENDING)
			it->state = SL_OB_QUEUED;	/* the attempt died */
	}
	sl_cline_hooks(&c->hooks, c);
	L->hooks = &c->hooks;
	c->next_prune = sl_now_ms();
	*out = c;
	return 0;
fail:
	sl_courier_fini(c);
	return ret;
}

void sl_courier_fini(struct sl_courier *c)
{
	if (!c)
		return;
	for (int i = 0; i < SL_COURIER_MAX_INTAKES; i++)
		if (c->intakes[i])
			sl_intake_abort(c, c->intakes[i], "sealined stops");
	for (int i = 0; i < SL_COURIER_MAX_WAITERS; i++)
		if (c->waiters[i].client)
			c->waiters[i].client->courier = NULL;
	if (c->tsp.waiting)
		c->tsp.waiting->courier = NULL;
	sl_ctsp_fini(c);
	if (c->L) {
		/* sealined frees its lines first (sl_lines_fini): then
		 * there are none here, and c->clines holds their states. */
		for (unsigned int i = 0; i < c->L->n; i++)
			c->L->lines[i].courier = NULL;
		if (c->L->hooks == &c->hooks)
			c->L->hooks = NULL;
	}
	for (int i = 0; i < SL_CONF_MAX_LINES; i++)
		sl_cline_free(c->clines[i]);
	sl_unpacker_free(c->unp);
	sl_sign_key_wipe(&c->sign);
	sl_spool_close(&c->sp);
	sl_outbox_close(&c->ob);
	sl_clog_close(&c->sent);
	sl_clog_close(&c->received);
	free(c);
}

void sl_courier_status(struct sl_courier *c, struct sl_ipc_builder *b)
{
	char hex[2 * SL_SIGN_PUB_LEN + 1];
	size_t queued = 0;

	for (size_t i = 0; i < c->ob.n; i++)
		queued += !sl_ob_final(c->ob.items[i].state);
	sl_hex_encode(hex, c->sign.pub, SL_SIGN_PUB_LEN);
	sl_ipc_add(b, "receipt_key", hex);
	sl_ipc_add(b, "inbox", c->conf.inbox);
	sl_ipc_add(b, "outbox", c->conf.outbox);
	sl_ipc_addf(b, "outbox_pending", "%zu", queued);
	sl_ctsp_status(c, b);
	sl_ipc_add(b, "receive", c->conf.receive ? "yes" : "no");
}

void sl_courier_reload(struct sl_courier *c)
{
	char err[256];

	if (sl_clog_reopen(&c->sent, err, sizeof(err)))
		sl_log(LOG_ERR, "reload: send log: %s", err);
	if (sl_clog_reopen(&c->received, err, sizeof(err)))
		sl_log(LOG_ERR, "reload: receive log: %s", err);
}
