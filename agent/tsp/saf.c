// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Store and forward in sealtspd (Documentation/store-and-forward.rst):
 * the spool on its own store connection, recovered at start; a leg on
 * which T is the courier peer (a sender's hand-over, purpose 3, and the
 * receipts and notices T holds for it, purposes 3 and 4); the upkeep
 * (expiry).
 *
 * A courier leg runs the courier's channel (cchan.h) under the leg's
 * courier keys, with the call's hsid, in control frames on the raw line:
 * the sender's OFFER starts a hand-over (deposit.c), whose ciphertext
 * goes into the spool chunk by chunk; then one NOTE per closed row of
 * the sender not collected yet, each until its NOTE_ACK (or a few
 * sends); then CALL_STATUS ended and the line hangs up.
 *
 * Why the spool's steps run in the loop and not on the store's thread
 * (tspq.h): each step is a file write with its fsync() and one
 * transaction, in an order that makes a crash between two of them
 * recoverable (tspspool.h), and the transfer engine must not acknowledge
 * a chunk before it is durable. Run in the loop, the order is the code's
 * order. The price: a hand-over's fsync()s hold up the loop for as long
 * as they take (one per 64 KiB chunk); the spool has a store connection
 * of its own, so the call checks of the other lines never wait behind
 * it. Moving the spool to a thread of its own is a later step.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gcrypt.h>

#include "cchan.h"
#include "delivery.h"
#include "deposit.h"
#include "envelope.h"		/* refusal names, no code of it */
#include "log.h"
#include "tsp_internal.h"
#include "xfer.h"

/* Limits and timing (all in one place). */
#define SL_TSP_SPOOL_DIR_NAME	"tsp-spool"
#define SL_TSP_UPKEEP_MS	1000	/* expiry, due deliveries */
/* After the store failed the upkeep: try again this much later (a store
 * that is down must not hold the loop up every second). */
#define SL_TSP_UPKEEP_RETRY_MS	30000
#define SL_TSP_SAF_IDLE_MS	60000	/* a courier leg with nothing */
#define SL_TSP_NOTES_MAX	32	/* NOTEs per call; the rest next time */
#define SL_TSP_NOTE_SENDS	4
#define SL_TSP_NOTE_RESEND_MS	3000
#define SL_TSP_DUE_MAX		16	/* rows looked at per upkeep */
/* Deliveries take at most this share of the lines (1/n): the rest stay
 * free for callers. */
#define SL_TSP_DELIVERY_SHARE	2

enum saf_phase {
	SAF_WAIT_OFFER,		/* purpose 3: the sender's OFFER */
	SAF_DEPOSIT,		/* the hand-over runs */
	SAF_NOTES,		/* receipts and notices for the sender */
	SAF_DELIVERY,		/* T delivers a held envelope */
	SAF_DONE,
};

struct tsp_saf {
	struct tsp_call *c;
	enum saf_phase phase;
	struct sl_cchan *ch;
	struct sl_tsp_deposit *dep;
	struct sl_tsp_delivery *dlv;
	uint64_t sid;			/* the delivery's row */
	bool keyed;			/* the delivery leg has its keys */
	int64_t idle_at;		/* end the leg if nothing by then */
	/* NOTEs: the rows, the one out, its id and sends. */
	uint64_t notes[SL_TSP_NOTES_MAX];
	unsigned int n_notes, note;
	uint32_t note_id;
	unsigned int note_sends;
	int64_t note_at;
	unsigned int collected;
	int64_t clock;			/* the latest now an engine was given */
	int64_t offset;			/* engine time = now - offset */
};

/*
 * The transfer engines take differences of the times they are given
 * (unsigned): never let one go backwards. The loop's now is taken before
 * epoll_wait() and a message's after it, so a timer may come with an
 * earlier now than the message before it. A delivery's engine is made
 * when T dials (the attempt counts from there) but works only once the
 * leg is keyed: the dialling and the call setup do not count against its
 * idle limit (offset).
 */
static uint64_t eng_now(struct tsp_saf *s, int64_t now)
{
	if (now - s->offset > s->clock)
		s->clock = now - s->offset;
	return (uint64_t)s->clock;
}

/* ------------------------------------------------------------ the spool */

int sl_tspd_saf_open(struct tsp *t, char *err, size_t err_len)
{
	const struct sl_tsp_conf *tc = &t->cfg->tsp;
	struct sl_tsp_spool_limits lim;
	struct sl_tsp_spool_recovery rec;
	char dir[PATH_MAX];
	int ret, n;

	if (tc->spool[0])
		n = snprintf(dir, sizeof(dir), "%s", tc->spool);
	else
		n = snprintf(dir, sizeof(dir), "%s/%s", t->cfg->state_dir,
			     SL_TSP_SPOOL_DIR_NAME);
	if (n < 0 || (size_t)n >= sizeof(dir)) {
		snprintf(err, err_len, "spool: path too long");
		return -ENAMETOOLONG;
	}
	ret = sl_sign_key_derive(&t->sign, t->ks.id.priv, SL_TSP_SIGN_ACCOUNT);
	if (ret) {
		snprintf(err, err_len, "signing key: %s", strerror(-ret));
		return ret;
	}
	/* Not SL_TSP_OPEN_SERVER: the lease is the queue's connection's. */
	ret = sl_tsp_store_open(&t->spool_st, tc->store, t->instance,
				SL_TSP_OPEN_CREATE, err, err_len);
	if (ret)
		goto fail_key;
	sl_tsp_spool_limits_default(&lim);
	lim.max_envelope = tc->max_envelope;
	lim.quota_bytes = tc->quota_bytes;
	lim.quota_envelopes = tc->quota_envelopes;
	lim.min_free = tc->min_free;
	lim.max_hold_ms = tc->max_hold * 1000LL;
	lim.max_attempts = tc->max_attempts;
	lim.receive_timeout_ms = tc->receive_timeout * 1000LL;
	lim.batch_ms = tc->batch_interval * 1000LL;
	ret = sl_tsp_spool_open(&t->sp, dir, &t->spool_st, &lim, sl_wall_ms(),
				&rec, err, err_len);
	if (ret && ret != -EUCLEAN)
		goto fail_store;
	if (ret)
		sl_log(LOG_CRIT, "spool %s: %u accepted envelopes have no file: they are lost (store-and-forward.rst, \"Recovery\")",
		       dir, rec.lost);
	if (rec.requeued || rec.unlinked || rec.created)
		sl_log(LOG_NOTICE, "spool %s: recovered: %u deliveries to try again, %u files removed, %u hand-over files made again",
		       dir, rec.requeued, rec.unlinked, rec.created);
	sl_log(LOG_INFO, "spool %s: T's signing key %02x%02x%02x%02x...",
	       dir, t->sign.pub[0], t->sign.pub[1], t->sign.pub[2],
	       t->sign.pub[3]);
	t->spool_open = true;
	return 0;

fail_store:
	sl_tsp_store_close(&t->spool_st);
fail_key:
	sl_sign_key_wipe(&t->sign);
	return ret;
}

void sl_tspd_saf_close(struct tsp *t)
{
	if (!t->spool_open)
		return;
	sl_tsp_spool_close(&t->sp);
	sl_tsp_store_close(&t->spool_st);
	sl_sign_key_wipe(&t->sign);
	t->spool_open = false;
}

static void saf_free(struct tsp_saf *s)
{
	if (!s)
		return;
	sl_tsp_deposit_free(s->dep);
	sl_tsp_delivery_free(s->dlv);
	sl_cchan_free(s->ch);
	free(s);
}

struct due_list {
	uint64_t sids[SL_TSP_DUE_MAX];
	unsigned int n;
};

struct due_ctx {
	struct tsp *t;
	struct due_list *d;
};

static bool is_lost(const struct tsp *t, uint64_t sid)
{
	for (unsigned int i = 0; i < t->n_lost; ++i)
		if (t->lost[i] == sid)
			return true;
	return false;
}

static int due_row(const struct sl_tsp_spool_row *r, void *arg)
{
	struct due_ctx *c = arg;

	if (is_lost(c->t, r->sid))
		return 0;
	c->d->sids[c->d->n++] = r->sid;
	return c->d->n == SL_TSP_DUE_MAX;
}

/*
 * Dial the recipient of a due row on out_line: the attempt counts from
 * here (sl_tsp_delivery_new() makes the row delivering). false if the
 * row could not be taken (another attempt has it, or the store failed).
 */
static bool delivery_start(struct tsp *t, struct tsp_line *out_line,
			   uint64_t sid, int64_t now)
{
	struct sl_tsp_delivery_cfg dc = { .sp = &t->sp, .sid = sid };
	enum sl_tsp_spool_state state;
	struct sl_tsp_spool_row row;
	struct sl_tsp_account acct;
	struct sl_tsp_cdr_start cs = { .line = out_line->name };
	struct sl_tsp_cdr_update u = {
		.set = SL_TSP_CDR_SET_CALLER | SL_TSP_CDR_SET_RECIPIENT,
	};
	const char *why = NULL;
	struct tsp_call *c;
	struct tsp_saf *s;
	int ret;

	if (sl_tsp_spool_get(&t->spool_st, sid, &row))
		return false;
	c = calloc(1, sizeof(*c));
	s = calloc(1, sizeof(*s));
	if (!c || !s || !(s->ch = sl_cchan_new()) ||
	    sl_tsp_tracking_new(&c->id))
		goto fail;
	do
		gcry_create_nonce(&dc.xfer_id, sizeof(dc.xfer_id));
	while (!dc.xfer_id);
	ret = sl_tsp_delivery_new(&s->dlv, &dc, eng_now(s, now), sl_wall_ms());
	if (ret == -EUCLEAN && !is_lost(t, sid)) {
		sl_log(LOG_CRIT, "spool %016" PRIx64 ": an accepted envelope's file is gone: it is not delivered, and stays held for the operator (sealctl tsp spool)",
		       sid);
		if (t->n_lost < sizeof(t->lost) / sizeof(t->lost[0]))
			t->lost[t->n_lost++] = sid;
	} else if (ret && ret != -ESTALE) {
		sl_log(LOG_ERR, "spool %016" PRIx64 ": cannot deliver: %s",
		       sid, sl_tsp_store_error(&t->spool_st));
	}
	if (ret)
		goto fail;
	s->c = c;
	s->sid = sid;
	s->phase = SAF_DELIVERY;
	ret = sl_tsp_account_get(&t->spool_st, row.recipient, &acct);
	if (ret == -ENOENT)
		why = sl_nak_reason_name(SL_NAK_UNKNOWN_ACCOUNT);
	else if (!ret && !acct.enabled)
		why = sl_nak_reason_name(SL_NAK_ACCOUNT_DISABLED);
	if (why || ret || !acct.phone[0]) {
		/* Gone, disabled, or no number: for good, or try later. */
		if (sl_tsp_delivery_call_failed(s->dlv, why ? why :
						sl_nak_reason_name(SL_NAK_NO_ANSWER),
						why != NULL, sl_wall_ms(),
						&state) == 0)
			sl_log(LOG_NOTICE, "spool %016" PRIx64 ": recipient %s %s: %s",
			       sid, row.recipient, why ? why : "cannot be called",
			       sl_tsp_spool_state_name(state));
		goto fail;
	}
	memcpy(c->caller_acct, row.sender, sizeof(c->caller_acct));
	memcpy(c->recipient, row.recipient, sizeof(c->recipient));
	snprintf(c->phone, sizeof(c->phone), "%s", acct.phone);
	c->saf = s;
	t->calls++;
	cs.ring_ms = sl_wall_ms();
	sl_tspq_cdr_open(t->q, c->id, &cs);
	u.caller_account = c->caller_acct;
	u.recipient_account = c->recipient;
	u.now_ms = cs.ring_ms;
	sl_tspq_cdr_update(t->q, c->id, &u);
	sl_log(LOG_INFO, "call %016" PRIx64 ": delivering spool %016" PRIx64 " from %s to %s",
	       c->id, sid, c->caller_acct, c->recipient);
	sl_tspd_dial_out(t, c, out_line, now);
	return true;

fail:
	saf_free(s);
	free(c);
	return false;
}

/* The due rows, each on a free line, within the deliveries' share. */
static void deliver_due(struct tsp *t, int64_t now)
{
	struct due_list due = { .n = 0 };
	struct due_ctx dc = { .t = t, .d = &due };
	unsigned int busy = 0;

	for (unsigned int i = 0; i < t->n; ++i)
		if (t->lines[i].call && t->lines[i].call->saf &&
		    t->lines[i].call->saf->phase == SAF_DELIVERY)
			busy++;
	if (busy >= (t->n + SL_TSP_DELIVERY_SHARE - 1) / SL_TSP_DELIVERY_SHARE)
		return;
	if (sl_tsp_spool_due(&t->sp, sl_wall_ms(), due_row, &dc) < 0) {
		sl_log(LOG_ERR, "spool: %s", sl_tsp_store_error(&t->spool_st));
		return;
	}
	for (unsigned int i = 0; i < due.n; ++i) {
		struct tsp_line *l;

		if (busy >= (t->n + SL_TSP_DELIVERY_SHARE - 1) /
			    SL_TSP_DELIVERY_SHARE)
			return;
		l = sl_tspd_free_line(t);
		if (!l)
			return;
		if (delivery_start(t, l, due.sids[i], now))
			busy++;
	}
}

void sl_tspd_saf_upkeep(struct tsp *t, int64_t now)
{
	unsigned int n = 0;
	int ret;

	if (!t->spool_open || now < t->next_upkeep)
		return;
	t->next_upkeep = now + SL_TSP_UPKEEP_MS;
	ret = sl_tsp_spool_expire(&t->sp, sl_wall_ms(), &n);
	if (ret) {
		if (!t->upkeep_failed)
			sl_log(LOG_ERR, "spool: the store does not answer (%s): no expiry, no delivery until it does; trying every %d s",
			       sl_tsp_store_error(&t->spool_st),
			       SL_TSP_UPKEEP_RETRY_MS / 1000);
		t->upkeep_failed = true;
		t->next_upkeep = now + SL_TSP_UPKEEP_RETRY_MS;
		return;
	}
	if (t->upkeep_failed)
		sl_log(LOG_NOTICE, "spool: the store answers again");
	t->upkeep_failed = false;
	if (n)
		sl_log(LOG_NOTICE, "spool: %u envelopes expired or abandoned",
		       n);
	deliver_due(t, now);
}

/* ------------------------------------------------------------ the leg */

/* Seal and send one plaintext on the leg. */
static void saf_send(struct tsp_line *l, struct tsp_saf *s,
		     const uint8_t *plain, size_t len)
{
	uint8_t msg[SL_CCHAN_MAX_MSG];
	size_t n;
	int ret = sl_cchan_seal(s->ch, msg, &n, plain, len);

	if (ret) {
		sl_log(LOG_ERR, "line %s: courier message not sealed: %s",
		       l->name, strerror(-ret));
		return;
	}
	sl_tspd_line_send(l, msg, n);
}

/* The leg is over: "ended" to the sender, then hang up. */
static void saf_finish(struct tsp_line *l, struct tsp_saf *s, int64_t now)
{
	struct tsp_call *c = s->c;
	struct sl_call_actions out;

	s->phase = SAF_DONE;
	if (l->leg && sl_tsp_leg_end(l->leg, (uint64_t)now, &out) == 0)
		sl_tspd_leg_actions(l, &out, now);
	sl_tspd_line_set(l, TL_CLOSING);
	l->close_at = now + SL_TSP_NAK_HANGUP_MS;
	sl_tspd_call_end(l->t, c, SL_TSP_OUTCOME_COMPLETED, NULL, now);
}

static int collect_row(const struct sl_tsp_spool_row *r, void *arg)
{
	struct tsp_saf *s = arg;

	if (r->collected_ms)
		return 0;
	s->notes[s->n_notes++] = r->sid;
	return s->n_notes == SL_TSP_NOTES_MAX;
}

/* The next NOTE, or the end. */
static void note_send(struct tsp_line *l, struct tsp_saf *s, int64_t now)
{
	struct tsp *t = l->t;
	uint8_t msg[SL_CCHAN_MAX_PLAIN];
	struct sl_tsp_spool_row r;
	int n;

	for (; s->note < s->n_notes; s->note++, s->note_sends = 0) {
		if (s->note_sends >= SL_TSP_NOTE_SENDS) {
			sl_log(LOG_NOTICE, "call %016" PRIx64 ": no acknowledgement of envelope %016" PRIx64 "'s note; it goes again on the sender's next call",
			       s->c->id, s->notes[s->note]);
			continue;
		}
		if (sl_tsp_spool_get(&t->spool_st, s->notes[s->note], &r)) {
			sl_log(LOG_ERR, "spool: %s",
			       sl_tsp_store_error(&t->spool_st));
			continue;
		}
		if (r.state == SL_TSP_SPOOL_DELIVERED) {
			msg[5] = SL_XFER_NOTE_RECEIPT;
			n = snprintf((char *)msg + SL_XFER_NOTE_HDR,
				     sizeof(msg) - SL_XFER_NOTE_HDR, "%s",
				     r.receipt);
			if (n < 0 || (size_t)n >= sizeof(msg) - SL_XFER_NOTE_HDR)
				continue;
		} else {
			msg[5] = SL_XFER_NOTE_NOTICE;
			n = sl_tsp_notice((char *)msg + SL_XFER_NOTE_HDR,
					  sizeof(msg) - SL_XFER_NOTE_HDR, &r,
					  &t->sign);
			if (n < 0)
				continue;
		}
		if (!s->note_sends)
			gcry_create_nonce(&s->note_id, sizeof(s->note_id));
		msg[0] = SL_XFER_NOTE;
		msg[1] = (uint8_t)(s->note_id >> 24);
		msg[2] = (uint8_t)(s->note_id >> 16);
		msg[3] = (uint8_t)(s->note_id >> 8);
		msg[4] = (uint8_t)s->note_id;
		saf_send(l, s, msg, SL_XFER_NOTE_HDR + (size_t)n);
		s->note_sends++;
		s->note_at = now + SL_TSP_NOTE_RESEND_MS;
		return;
	}
	sl_log(LOG_INFO, "call %016" PRIx64 ": %u receipts and notices collected by %s",
	       s->c->id, s->collected, s->c->caller_acct);
	saf_finish(l, s, now);
}

static void notes_begin(struct tsp_line *l, struct tsp_saf *s, int64_t now)
{
	struct tsp *t = l->t;

	s->phase = SAF_NOTES;
	s->n_notes = s->note = s->note_sends = 0;
	if (sl_tsp_spool_pending(&t->sp, s->c->caller_acct, collect_row, s) < 0)
		sl_log(LOG_ERR, "spool: %s", sl_tsp_store_error(&t->spool_st));
	note_send(l, s, now);
}

static void note_ack(struct tsp_line *l, struct tsp_saf *s,
		     const uint8_t *p, size_t n, int64_t now)
{
	uint32_t id;

	if (s->phase != SAF_NOTES || s->note >= s->n_notes ||
	    n != SL_XFER_NOTE_ACK_LEN)
		return;
	id = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
	     (uint32_t)p[3] << 8 | p[4];
	if (id != s->note_id)
		return;		/* a late copy's */
	if (sl_tsp_spool_collect(&l->t->sp, s->notes[s->note], sl_wall_ms()))
		sl_log(LOG_ERR, "spool: %s",
		       sl_tsp_store_error(&l->t->spool_st));
	else
		s->collected++;
	s->note++;
	s->note_sends = 0;
	note_send(l, s, now);
}

/* What the hand-over wants sent; once it is over, the notes. */
static void deposit_pump(struct tsp_line *l, struct tsp_saf *s, int64_t now)
{
	uint8_t buf[SL_CCHAN_MAX_PLAIN];
	struct sl_tsp_deposit_status st;
	size_t n;

	while (l->fd >= 0 &&
	       (n = sl_tsp_deposit_output(s->dep, eng_now(s, now), buf)))
		saf_send(l, s, buf, n);
	if (!sl_tsp_deposit_finished(s->dep, eng_now(s, now)))
		return;
	sl_tsp_deposit_get_status(s->dep, &st);
	if (!st.decided)
		sl_log(LOG_NOTICE, "call %016" PRIx64 ": hand-over from %s stalled after %" PRIu64 " chunks; it resumes on the next deposit",
		       s->c->id, s->c->caller_acct, st.xfer.durable);
	sl_tsp_deposit_free(s->dep);
	s->dep = NULL;
	notes_begin(l, s, now);
}

static void deposit_offer(struct tsp_line *l, struct tsp_saf *s,
			  const uint8_t *p, size_t n, int64_t now)
{
	struct tsp *t = l->t;
	uint32_t r;
	struct sl_tsp_deposit_cfg dc = {
		.sp = &t->sp, .sender = s->c->caller_acct,
		.recipient = s->c->recipient, .window = SL_TSP_WINDOW_NONE,
		.key = &t->sign,
	};
	struct sl_tsp_deposit_status st;
	int ret;

	if (t->cfg->tsp.random_delay) {
		gcry_create_nonce(&r, sizeof(r));
		dc.delay_ms = (int64_t)(r % (t->cfg->tsp.random_delay + 1)) * 1000;
	}
	ret = sl_tsp_deposit_new(&s->dep, &dc, p, n, eng_now(s, now),
				 sl_wall_ms());
	if (ret == -EINVAL && n >= 5) {
		/* No transfer engine takes an offer of a size no envelope
		 * has: answer it here, as the engine's refusal would be. */
		static const char why[] = "not an offer of an envelope";
		uint8_t a[10 + sizeof(why) - 1] = { SL_XFER_ANSWER };

		memcpy(a + 1, p + 1, 4);
		a[5] = SL_ENV_BAD_FORMAT;
		memcpy(a + 10, why, sizeof(why) - 1);
		sl_log(LOG_NOTICE, "call %016" PRIx64 ": a malformed OFFER from %s refused: BAD_FORMAT",
		       s->c->id, s->c->caller_acct);
		saf_send(l, s, a, sizeof(a));
		notes_begin(l, s, now);
		return;
	}
	if (ret) {
		sl_log(LOG_ERR, "call %016" PRIx64 ": an OFFER from %s not taken: %s",
		       s->c->id, s->c->caller_acct, strerror(-ret));
		return;
	}
	s->phase = SAF_DEPOSIT;
	sl_tsp_deposit_get_status(s->dep, &st);
	if (st.decided && st.code)
		sl_log(LOG_NOTICE, "call %016" PRIx64 ": envelope from %s for %s refused: %s (%s)",
		       s->c->id, s->c->caller_acct, s->c->recipient,
		       sl_env_reason_name(st.code), st.detail);
	else
		sl_log(LOG_INFO, "call %016" PRIx64 ": hand-over from %s for %s, spool %016" PRIx64 ", from chunk %" PRIu64,
		       s->c->id, s->c->caller_acct, s->c->recipient, st.sid,
		       st.resumed_at);
	deposit_pump(l, s, now);
}

/* What the delivery wants sent, while the line takes it; its end ends
 * the call (sl_tspd_saf_call_end() steps the row). */
static void delivery_pump(struct tsp_line *l, struct tsp_saf *s, int64_t now)
{
	uint8_t buf[SL_CCHAN_MAX_PLAIN];
	size_t n;

	while (l->fd >= 0 && sl_byteq_len(&l->out) < SL_OUTQ_HIGH &&
	       (n = sl_tsp_delivery_output(s->dlv, eng_now(s, now), buf)))
		saf_send(l, s, buf, n);
	if (sl_tsp_delivery_finished(s->dlv, eng_now(s, now)))
		saf_finish(l, s, now);
}

void sl_tspd_saf_accepted(struct tsp_line *l, int64_t now)
{
	struct tsp_call *c = l->call;
	struct tsp_saf *s = c->saf;
	uint8_t keys[SL_CALL_COURIER_KEYS_LEN];
	struct sl_tsp_cdr_update u = {
		.set = SL_TSP_CDR_SET_ANSWER, .answer_ms = sl_wall_ms(),
	};
	struct sl_call_actions out;
	int ret;

	u.now_ms = u.answer_ms;
	sl_tspq_cdr_update(l->t->q, c->id, &u);
	c->connected = true;
	if (sl_tsp_leg_connected(l->leg, (uint64_t)now, &out) == 0)
		sl_tspd_leg_actions(l, &out, now);
	if (l->fd < 0 || l->call != c)
		return;
	ret = sl_tsp_leg_courier_keys(l->leg, keys);
	if (!ret)
		ret = sl_cchan_stage(s->ch, c->hsid, 1, keys + SEALINE_KEY_LEN,
				     keys);
	sl_wipe(keys, sizeof(keys));
	if (ret || sl_cchan_activate(s->ch, 1)) {
		sl_log(LOG_ERR, "call %016" PRIx64 ": no courier keys for the delivery",
		       c->id);
		saf_finish(l, s, now);
		return;
	}
	s->keyed = true;
	s->offset = now - s->clock;	/* the engine's time resumes here */
	s->idle_at = now + SL_TSP_SAF_IDLE_MS;
	sl_tspd_line_set(l, TL_COURIER);
	sl_log(LOG_INFO, "call %016" PRIx64 ": %s takes the delivery of spool %016" PRIx64 " on line %s",
	       c->id, c->recipient, s->sid, l->name);
	delivery_pump(l, s, now);
}

void sl_tspd_saf_control(struct tsp_line *l, const uint8_t *msg, size_t len,
			 int64_t now)
{
	struct tsp_call *c = l->call;
	struct tsp_saf *s = c ? c->saf : NULL;
	uint8_t p[SL_CCHAN_MAX_MSG];
	struct sl_tsp_deposit_status st;
	bool was_decided;
	size_t n;
	int ret;

	if (!s || s->phase == SAF_DONE)
		return;
	ret = sl_cchan_open(s->ch, p, &n, msg, len);
	if (ret || n < 1) {
		sl_log(LOG_DEBUG, "line %s: courier message dropped: %s",
		       l->name, ret ? strerror(-ret) : "empty");
		return;
	}
	s->idle_at = now + SL_TSP_SAF_IDLE_MS;
	switch (s->phase) {
	case SAF_WAIT_OFFER:
		if (p[0] == SL_XFER_OFFER)
			deposit_offer(l, s, p, n, now);
		break;
	case SAF_DEPOSIT:
		sl_tsp_deposit_get_status(s->dep, &st);
		was_decided = st.decided;
		sl_tsp_deposit_input(s->dep, p, n, eng_now(s, now), sl_wall_ms());
		sl_tsp_deposit_get_status(s->dep, &st);
		if (!was_decided && st.decided && st.code)
			sl_log(LOG_NOTICE, "call %016" PRIx64 ": envelope from %s for %s refused: %s (%s)",
			       c->id, c->caller_acct, c->recipient,
			       sl_env_reason_name(st.code), st.detail);
		else if (!was_decided && st.decided)
			sl_log(LOG_INFO, "call %016" PRIx64 ": envelope from %s for %s accepted, spool %016" PRIx64,
			       c->id, c->caller_acct, c->recipient, st.sid);
		deposit_pump(l, s, now);
		break;
	case SAF_NOTES:
		if (p[0] == SL_XFER_NOTE_ACK)
			note_ack(l, s, p, n, now);
		break;
	case SAF_DELIVERY:
		sl_tsp_delivery_input(s->dlv, p, n, eng_now(s, now));
		delivery_pump(l, s, now);
		break;
	case SAF_DONE:
		break;
	}
	sl_wipe(p, sizeof(p));
}

void sl_tspd_saf_begin(struct tsp_line *l, int64_t now)
{
	struct tsp_call *c = l->call;
	uint8_t keys[SL_CALL_COURIER_KEYS_LEN];
	struct sl_call_actions out;
	struct tsp_saf *s;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		goto internal;
	s->c = c;
	s->ch = sl_cchan_new();
	if (!s->ch)
		goto internal_free;
	ret = sl_tsp_leg_deposit(l->leg, c->id, (uint64_t)now, &out);
	if (ret)
		goto internal_free;
	if (sl_tsp_leg_courier_keys(l->leg, keys))
		goto internal_free;
	/* T sends with k_t2e and receives with k_e2t. */
	ret = sl_cchan_stage(s->ch, c->hsid, 1, keys + SEALINE_KEY_LEN, keys);
	sl_wipe(keys, sizeof(keys));
	if (ret || sl_cchan_activate(s->ch, 1))
		goto internal_free;
	c->saf = s;
	sl_tspd_line_set(l, TL_COURIER);
	s->idle_at = now + SL_TSP_SAF_IDLE_MS;
	sl_tspd_leg_actions(l, &out, now);
	if (l->fd < 0 || !l->call)
		return;
	sl_log(LOG_INFO, "call %016" PRIx64 ": %s %s on line %s",
	       c->id, c->caller_acct,
	       c->purpose == SL_CALL_PURPOSE_DEPOSIT ? "hands an envelope over" :
	       "collects receipts and notices", l->name);
	if (c->purpose == SL_CALL_PURPOSE_COLLECT)
		notes_begin(l, s, now);
	else
		s->phase = SAF_WAIT_OFFER;
	return;

internal_free:
	sl_cchan_free(s->ch);
	free(s);
internal:
	sl_log(LOG_ERR, "call %016" PRIx64 ": no courier session (out of memory)",
	       c->id);
	sl_tspd_call_refuse(l->t, c, SL_NAK_INTERNAL, 0, SL_TSP_OUTCOME_FAILED,
			    now);
}

void sl_tspd_saf_timers(struct tsp_line *l, int64_t now)
{
	struct tsp_saf *s = l->call ? l->call->saf : NULL;

	if (!s || l->st != TL_COURIER)
		return;
	if (now >= s->idle_at) {
		sl_log(LOG_NOTICE, "call %016" PRIx64 ": nothing from %s for %d s: hanging up",
		       s->c->id, s->c->caller_acct, SL_TSP_SAF_IDLE_MS / 1000);
		saf_finish(l, s, now);
		return;
	}
	if (s->phase == SAF_DEPOSIT)
		deposit_pump(l, s, now);
	else if (s->phase == SAF_DELIVERY)
		delivery_pump(l, s, now);
	else if (s->phase == SAF_NOTES && s->note_at && now >= s->note_at)
		note_send(l, s, now);
}

int64_t sl_tspd_saf_next_timer(const struct tsp_line *l)
{
	const struct tsp_saf *s = l->call ? l->call->saf : NULL;
	int64_t next;

	if (!s || l->st != TL_COURIER)
		return 0;
	next = s->idle_at;
	if (s->phase == SAF_DEPOSIT || s->phase == SAF_DELIVERY) {
		int64_t d = (int64_t)(s->dep ?
				      sl_tsp_deposit_next_timer(s->dep) :
				      sl_tsp_delivery_next_timer(s->dlv));

		/* In the loop's time (eng_now()). */
		if (d && d + s->offset < next)
			next = d + s->offset;
	} else if (s->phase == SAF_NOTES && s->note_at && s->note_at < next) {
		next = s->note_at;
	}
	return next;
}

/* Why an attempt that never reached a transfer failed, for the row. */
static const char *not_reached(enum sl_tsp_outcome outcome, const char *nak)
{
	if (nak)
		return nak;
	switch (outcome) {
	case SL_TSP_OUTCOME_BUSY:
		return sl_nak_reason_name(SL_NAK_BUSY);
	case SL_TSP_OUTCOME_NO_ANSWER:
		return sl_nak_reason_name(SL_NAK_NO_ANSWER);
	default:
		return SL_TSP_REASON_CUT;
	}
}

void sl_tspd_saf_call_end(struct tsp *t, struct tsp_call *c,
			  enum sl_tsp_outcome outcome, const char *nak)
{
	struct tsp_saf *s = c->saf;
	enum sl_tsp_spool_state state;
	const char *reason;
	int ret;

	if (!s)
		return;
	c->saf = NULL;
	/* A hand-over cut here resumes on the sender's next deposit: its
	 * row stays receiving with the chunks on disk. A delivery's
	 * attempt is over: the row learns how. */
	if (s->dlv) {
		reason = not_reached(outcome, nak);
		ret = s->keyed ?
		      sl_tsp_delivery_finish(s->dlv, sl_wall_ms(), &state) :
		      sl_tsp_delivery_call_failed(s->dlv, reason,
						  !strcmp(reason, sl_nak_reason_name(SL_NAK_NOT_AUTHORISED)),
						  sl_wall_ms(), &state);
		if (ret)
			sl_log(LOG_ERR, "spool %016" PRIx64 ": %s", s->sid,
			       sl_tsp_store_error(&t->spool_st));
		else
			sl_log(state == SL_TSP_SPOOL_DELIVERED ? LOG_INFO : LOG_NOTICE,
			       "call %016" PRIx64 ": spool %016" PRIx64 " %s%s%s",
			       c->id, s->sid, sl_tsp_spool_state_name(state),
			       s->keyed ? "" : " after ",
			       s->keyed ? "" : reason);
	}
	saf_free(s);
}
