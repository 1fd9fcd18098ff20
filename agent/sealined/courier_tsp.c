// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Store and forward, the sender's side (Documentation/store-and-forward.rst):
 * an envelope sent --via-tsp is handed to the TSP on a leg of its own
 * (call setup purpose 3), the TSP's signed acceptance is checked against
 * the envelope and kept with it (held); R's receipt, or T's non-delivery
 * notice, comes back as a NOTE on any later leg to the TSP (a hand-over,
 * or purpose 4, which this file places while envelopes are held, on a
 * schedule and on `sealctl outbox collect`), is checked as a direct
 * delivery's receipt is, or under T's pinned key, and makes the envelope
 * delivered, expired or bounced. A NOTE that does not verify is logged and
 * not acknowledged: T keeps it, and nothing here changes.
 *
 * The leg itself is proto/safleg.c (the engine sim-courier runs too) on a
 * dial-up line the dialer leaves without the line discipline
 * (sl_dialer_leg()): it carries control frames only, never a session.
 *
 * T's signing key: S learns it inside the leg's channel, which only T can
 * open (the XK handshake under T's pinned static key), from T's first
 * acceptance or notice, and pins it (outbox.h, tsp-KEY.sign): a text
 * signed by any other key afterwards is refused, whoever made it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "courier_internal.h"
#include "dialer.h"
#include "hex.h"
#include "lines_internal.h"
#include "log.h"
#include "receipt.h"
#include "safleg.h"
#include "tsptext.h"

static int64_t wall(void)
{
	return (int64_t)time(NULL);
}

bool sl_ctsp_via(const struct sl_ob_item *it)
{
	return !strcmp(it->via, SL_OB_VIA_TSP);
}

/* A dial-up line that can reach the TSP; idle, if idle is asked. */
static struct sl_line *tsp_line(struct sl_courier *c, bool idle)
{
	for (unsigned int i = 0; i < c->L->n; i++) {
		struct sl_line *line = &c->L->lines[i];

		if (!line->dial || !line->conf->has_tsp_key ||
		    !line->conf->tsp_number[0])
			continue;
		if (!idle || sl_dialer_idle(line->dial))
			return line;
	}
	return NULL;
}

bool sl_ctsp_reachable(struct sl_courier *c)
{
	return tsp_line(c, false) != NULL;
}

static bool any_held(const struct sl_courier *c)
{
	for (size_t i = 0; i < c->ob.n; i++)
		if (c->ob.items[i].state == SL_OB_HELD)
			return true;
	return false;
}

static const uint8_t *tsp_pub(const struct sl_courier *c)
{
	return c->tsp.line->conf->tsp_key;
}

/* ---- T's texts ------------------------------------------------------------ */

/*
 * An acceptance or notice of T's: its signature under T's pinned key (or,
 * the first time, the key it names, then pinned), its kind, and that it
 * is about it (this envelope's id, hash and size, our account, it->to).
 * it NULL: found by the text's envelope id (*found). 0 or -errno, why.
 */
static int tsp_text_check(struct sl_courier *c, enum sl_tsptext_kind kind,
			  const char *text, size_t len, struct sl_ob_item **found,
			  struct sl_tsptext *t, char *why, size_t why_len)
{
	uint8_t pinned[SL_SIGN_PUB_LEN];
	char hex[2 * SL_SIGN_PUB_LEN + 1];
	bool have = !sl_outbox_tsp_key(&c->ob, tsp_pub(c), pinned);
	struct sl_ob_item *it;
	int ret;

	ret = sl_tsptext_verify(t, text, len, have ? pinned : NULL, why,
				why_len);
	if (ret)
		return ret;
	if (t->kind != kind)
		return sl_errf(why, why_len, -EINVAL, "an %s where an %s belongs",
			       t->kind == SL_TSPTEXT_NOTICE ? "notice" : "acceptance",
			       kind == SL_TSPTEXT_NOTICE ? "notice" : "acceptance");
	it = *found ? *found : sl_outbox_get(&c->ob, t->id);
	if (!it || !sl_ctsp_via(it))
		return sl_errf(why, why_len, -ENOENT,
			       "about an envelope this outbox did not hand to the TSP");
	if (!sl_tsptext_matches(t, it->id, it->sha256, it->size,
				c->ks->id.account, it->to))
		return sl_errf(why, why_len, -EBADMSG,
			       "not about envelope %s as it was sealed (another hash, size or account)",
			       it->hex);
	*found = it;
	if (have)
		return 0;
	sl_hex_encode(hex, t->key, SL_SIGN_PUB_LEN);
	ret = sl_outbox_pin_tsp_key(&c->ob, tsp_pub(c), t->key);
	if (ret)
		return sl_errf(why, why_len, ret, "cannot pin the TSP's key: %s",
			       strerror(-ret));
	sl_log(LOG_NOTICE, "the TSP signs with key %s (learnt from its first %s, inside the leg its static key authenticated)",
	       hex, kind == SL_TSPTEXT_NOTICE ? "notice" : "acceptance");
	return 0;
}

/* ---- NOTEs -------------------------------------------------------------------- */

static int note_receipt(struct sl_courier *c, const char *text, size_t len)
{
	struct sl_ob_item *it;
	struct sl_rcpt r;
	char why[256];

	if (sl_rcpt_verify(&r, text, len, NULL, why, sizeof(why))) {
		char id[2 * SL_ENV_ID_LEN + 1] = "?", head[80];
		size_t n = len < sizeof(head) - 1 ? len : sizeof(head) - 1;

		/* Which envelope it claims to be about, for the log. */
		memcpy(head, text, n);
		head[n] = 0;
		sscanf(head, SL_RCPT_MAGIC "\nenvelope %32[0-9a-f]", id);
		sl_log(LOG_ALERT, "envelope %s: the receipt the TSP passes on does not verify: %s; not acknowledged",
		       id, why);
		return -EBADMSG;
	}
	it = sl_outbox_get(&c->ob, r.id);
	if (!it || !sl_ctsp_via(it)) {
		sl_log(LOG_WARNING, "the TSP passes on a receipt for an envelope this outbox did not hand to it: not acknowledged");
		return -ENOENT;
	}
	if (it->state == SL_OB_DELIVERED)
		return 0;		/* a copy: the first one is kept */
	if (sl_courier_check_receipt(c, it, text, len, why, sizeof(why))) {
		sl_log(LOG_ALERT, "envelope %s to %s: the receipt the TSP passes on does not verify: %s; not acknowledged",
		       it->hex, it->to, why);
		return -EBADMSG;
	}
	if (sl_outbox_delivered(&c->ob, it, text, len, wall())) {
		sl_log(LOG_ERR, "envelope %s: the receipt cannot be stored in %s",
		       it->hex, c->conf.outbox);
		return -EIO;
	}
	c->delivered++;
	c->tsp.stored++;
	sl_log(LOG_NOTICE, "envelope %s delivered to %s by the TSP: receipt verified",
	       it->hex, it->to);
	sl_courier_notify(c, it, "delivered", NULL);
	return 0;
}

static int note_acceptance(struct sl_courier *c, const char *text, size_t len)
{
	struct sl_ob_item *it = NULL;
	struct sl_tsptext t;
	char why[256];

	if (tsp_text_check(c, SL_TSPTEXT_ACCEPTANCE, text, len, &it, &t, why,
			   sizeof(why)) || !it) {
		sl_log(LOG_ALERT, "the TSP's acceptance does not verify: %s; not acknowledged",
		       why);
		return -EBADMSG;
	}
	if (it->state != SL_OB_QUEUED && it->state != SL_OB_SENDING)
		return 0;
	if (sl_outbox_held(&c->ob, it, text, len))
		return -EIO;
	c->tsp.stored++;
	sl_log(LOG_NOTICE, "envelope %s to %s held at the TSP: acceptance verified",
	       it->hex, it->to);
	sl_courier_notify(c, it, "held", NULL);
	return 0;
}

static int note_notice(struct sl_courier *c, const char *text, size_t len)
{
	struct sl_ob_item *it = NULL;
	struct sl_tsptext t;
	char why[256], detail[SL_OB_DETAIL_MAX];
	enum sl_ob_state st;

	if (tsp_text_check(c, SL_TSPTEXT_NOTICE, text, len, &it, &t, why,
			   sizeof(why)) || !it) {
		sl_log(LOG_ALERT, "the TSP's non-delivery notice does not verify: %s; not acknowledged",
		       why);
		return -EBADMSG;
	}
	if (!strcmp(t.outcome, "expired")) {
		st = SL_OB_EXPIRED;
	} else if (!strcmp(t.outcome, "bounced")) {
		st = SL_OB_BOUNCED;
	} else {
		sl_log(LOG_ALERT, "envelope %s: a notice of the TSP's with outcome '%s': not acknowledged",
		       it->hex, t.outcome);
		return -EINVAL;
	}
	if (it->state == SL_OB_DELIVERED) {
		/* R's signed receipt proves it was delivered. */
		sl_log(LOG_WARNING, "envelope %s: the TSP says %s, but its recipient's receipt is here: kept delivered",
		       it->hex, t.outcome);
		return 0;
	}
	if (sl_ob_final(it->state))
		return 0;
	if (st == SL_OB_EXPIRED)
		snprintf(detail, sizeof(detail),
			 "the TSP held it until it expired, %" PRIu64 " delivery attempts",
			 t.attempts);
	else
		snprintf(detail, sizeof(detail),
			 "the TSP could not deliver it: %s, after %" PRIu64 " attempts",
			 t.reason, t.attempts);
	if (sl_outbox_undelivered(&c->ob, it, st, detail, text, len, wall()))
		return -EIO;
	c->tsp.stored++;
	sl_log(LOG_WARNING, "envelope %s to %s %s: %s (the TSP's signed notice)",
	       it->hex, it->to, sl_ob_state_name(st), detail);
	sl_courier_notify(c, it, sl_ob_state_name(st), detail);
	return 0;
}

static int leg_note(void *ctx, uint8_t kind, const char *text, size_t len)
{
	struct sl_courier *c = ctx;

	switch (kind) {
	case SL_XFER_NOTE_RECEIPT:
		return note_receipt(c, text, len);
	case SL_XFER_NOTE_ACCEPTANCE:
		return note_acceptance(c, text, len);
	default:
		return note_notice(c, text, len);
	}
}

/* ---- The hand-over ------------------------------------------------------------ */

/* T's answer to the hand-over: held with its acceptance, or refused. */
static void deposit_result(struct sl_courier *c, struct sl_ob_item *it,
			   const struct sl_xsend_status *xs, int64_t now)
{
	struct sl_tsptext t;
	char why[256];

	if (xs->state == SL_XSEND_FAILED) {
		snprintf(why, sizeof(why), "the hand-over to the TSP failed: %.200s",
			 xs->text);
		sl_courier_fail_attempt(c, it, why, now);
		return;
	}
	if (xs->code != SL_ENV_OK) {
		snprintf(why, sizeof(why), "the TSP refused it: %s%s%.200s",
			 sl_env_reason_name((enum sl_env_reason)xs->code),
			 xs->text[0] ? ": " : "", xs->text);
		if (sl_env_reason_retryable((enum sl_env_reason)xs->code)) {
			sl_courier_fail_attempt(c, it, why, now);
			return;
		}
		sl_log(LOG_WARNING, "envelope %s to %s: %s", it->hex, it->to, why);
		sl_outbox_finish(&c->ob, it, SL_OB_REFUSED, xs->code, why, wall());
		sl_courier_notify(c, it, "refused", why);
		return;
	}
	if (tsp_text_check(c, SL_TSPTEXT_ACCEPTANCE, xs->text, xs->text_len,
			   &it, &t, why, sizeof(why))) {
		char text[SL_OB_DETAIL_MAX];

		sl_log(LOG_ALERT, "envelope %s to %s: the TSP's acceptance does not verify: %s",
		       it->hex, it->to, why);
		snprintf(text, sizeof(text), "the TSP's acceptance does not verify: %.200s",
			 why);
		sl_courier_fail_attempt(c, it, text, now);
		return;
	}
	if (sl_outbox_held(&c->ob, it, xs->text, xs->text_len)) {
		sl_log(LOG_ERR, "envelope %s: the acceptance cannot be stored in %s",
		       it->hex, c->conf.outbox);
		sl_courier_fail_attempt(c, it, "cannot store the TSP's acceptance",
					now);
		return;
	}
	sl_log(LOG_NOTICE, "envelope %s to %s held at the TSP (spool %016" PRIx64 ", until %" PRId64 "): acceptance verified",
	       it->hex, it->to, t.spool, t.expires);
	sl_courier_notify(c, it, "held", NULL);
	if (!c->tsp.collect_at)
		c->tsp.collect_at = now + SL_CTSP_COLLECT_MS;
}

static int env_read(void *ctx, uint64_t off, uint8_t *buf, size_t len)
{
	struct sl_courier *c = ctx;
	ssize_t n = pread(c->tsp.env_fd, buf, len, (off_t)off);

	return n == (ssize_t)len ? 0 : -EIO;
}

/* ---- The leg ---------------------------------------------------------------------- */

static void leg_check(struct sl_courier *c, int64_t now)
{
	struct sl_ctsp *t = &c->tsp;
	struct sl_safleg_status st;
	struct sl_ob_item *it;

	if (!t->leg)
		return;
	sl_safleg_get_status(t->leg, &st);
	if (t->deposit && !t->decided && st.xfer_started) {
		it = sl_outbox_get(&c->ob, t->id);
		if (it && !sl_ob_final(it->state)) {
			sl_courier_progress(c, it, &st.xfer, now);
			it->acked = st.xfer.durable;
		}
		if (st.xfer.state == SL_XSEND_DONE ||
		    st.xfer.state == SL_XSEND_FAILED) {
			t->decided = true;
			if (it && !sl_ob_final(it->state))
				deposit_result(c, it, &st.xfer, now);
		}
	}
	if (sl_safleg_over(t->leg) && t->line)
		sl_dialer_hangup(t->line->dial, st.state == SL_SAFLEG_ENDED ?
				 "the TSP ended the leg" : st.why, now);
}

static int leg_send(void *ctx, const uint8_t *msg, size_t len)
{
	struct sl_courier *c = ctx;

	return c->tsp.line ? sl_dialer_leg_send(c->tsp.line->dial, msg, len) :
	       -ENOTCONN;
}

static void leg_up(void *ctx, int64_t now)
{
	struct sl_courier *c = ctx;
	struct sl_ctsp *t = &c->tsp;
	const struct sl_line_conf *conf = t->line->conf;
	struct sl_safleg_cfg lc = {
		.static_priv = c->ks->id.priv, .tsp_pub = conf->tsp_key,
		.baud = conf->baud, .send = leg_send, .note = leg_note,
		.ctx = c,
		.purpose = t->deposit ? SL_CALL_PURPOSE_DEPOSIT :
			   SL_CALL_PURPOSE_COLLECT,
	};
	uint8_t header[SL_ENV_HEADER_LEN];
	struct sl_ob_item *it = NULL;
	int ret;

	memcpy(lc.account, c->ks->id.account, sizeof(lc.account));
	if (t->deposit) {
		it = sl_outbox_get(&c->ob, t->id);
		if (!it || sl_ob_final(it->state) ||
		    pread(t->env_fd, header, sizeof(header), 0) !=
		    (ssize_t)sizeof(header)) {
			sl_dialer_hangup(t->line->dial,
					 "the envelope is gone (cancelled?)", now);
			return;
		}
		snprintf(lc.recipient, sizeof(lc.recipient), "%s", it->to);
		lc.xfer = (struct sl_xsend_cfg){
			.size = it->size, .header = header, .read = env_read,
			.ctx = c,
			.has_schedule = it->deliver_after_ms ||
					it->deliver_window >= 0,
			.not_before_ms = it->deliver_after_ms,
			.window = it->deliver_window >= 0 ?
				  it->deliver_window : SL_XFER_WINDOW_NONE,
		};
	}
	ret = sl_safleg_new(&t->leg, &lc, (uint64_t)now);
	if (ret) {
		sl_log(LOG_ERR, "%s: the leg to the TSP cannot start: %s",
		       sl_line_tty(t->line), strerror(-ret));
		sl_dialer_hangup(t->line->dial, "the leg could not start", now);
		return;
	}
	leg_check(c, now);
}

static void leg_control(void *ctx, const uint8_t *msg, size_t len,
			int64_t now)
{
	struct sl_courier *c = ctx;

	if (!c->tsp.leg)
		return;
	sl_safleg_input(c->tsp.leg, msg, len, (uint64_t)now);
	leg_check(c, now);
}

/* Why a leg failed, for people: T's NAK in words where there is one. */
static void leg_failure(char *out, size_t size,
			const struct sl_safleg_status *st, const char *line_why)
{
	const char *what;

	if (st->state != SL_SAFLEG_FAILED) {
		snprintf(out, size, "the leg to the TSP ended before the TSP decided (%s)",
			 line_why);
		return;
	}
	switch (st->nak) {
	case SL_NAK_NOT_AUTHORISED:
		what = "the recipient does not take envelopes from this account";
		break;
	case SL_NAK_UNKNOWN_ACCOUNT:
		what = st->nak_detail == SL_NAK_DETAIL_RECIPIENT ?
		       "the recipient's account is not known to the TSP" :
		       "this account is not known to the TSP";
		break;
	case SL_NAK_ACCOUNT_DISABLED:
		what = st->nak_detail == SL_NAK_DETAIL_RECIPIENT ?
		       "the recipient's account is disabled" :
		       "this account is disabled";
		break;
	case SL_NAK_CALLER_ID_MISMATCH:
		what = "this line's caller ID is not bound to this account";
		break;
	case SL_NAK_IDENTITY_MISMATCH:
		what = "this key is not the one the TSP has for this account";
		break;
	default:
		what = NULL;
		break;
	}
	if (st->nak && st->nak_remote)
		snprintf(out, size, "the TSP refused the leg: %s (%s)",
			 what ? what : st->why, sl_nak_reason_name(st->nak));
	else
		snprintf(out, size, "call setup with the TSP failed: %s", st->why);
}

static void leg_ended(void *ctx, const char *why, int64_t now)
{
	struct sl_courier *c = ctx;
	struct sl_ctsp *t = &c->tsp;
	struct sl_safleg_status st = { .state = SL_SAFLEG_SETUP };
	bool reached = false;
	char text[SL_OB_DETAIL_MAX];

	if (t->leg) {
		sl_safleg_get_status(t->leg, &st);
		reached = st.state == SL_SAFLEG_COURIER ||
			  st.state == SL_SAFLEG_ENDED;
	}
	leg_failure(text, sizeof(text), &st, why);
	if (t->deposit && !t->decided) {
		struct sl_ob_item *it = sl_outbox_get(&c->ob, t->id);

		if (it && it->state == SL_OB_SENDING)
			sl_courier_fail_attempt(c, it, text, now);
	}
	/* The next collection: on schedule after one that reached T,
	 * backing off after one that did not. */
	if (reached) {
		t->collect_backoff_ms = 0;
	} else {
		t->collect_backoff_ms = t->collect_backoff_ms ?
					2 * t->collect_backoff_ms :
					SL_CTSP_RETRY_MS;
		if (t->collect_backoff_ms > SL_CTSP_RETRY_MAX_MS)
			t->collect_backoff_ms = SL_CTSP_RETRY_MAX_MS;
	}
	t->collect_at = any_held(c) ? now + (reached ? SL_CTSP_COLLECT_MS :
					     t->collect_backoff_ms) : 0;
	if (t->waiting) {
		if (reached)
			sl_ipc_sendf(t->waiting, "ok notes=%u", t->stored);
		else
			sl_ipc_send_err(t->waiting, -EHOSTUNREACH, "%s", text);
		t->waiting->courier = NULL;
		t->waiting = NULL;
	}
	sl_log(reached ? LOG_INFO : LOG_NOTICE, "leg to the TSP (%s, tracking %016" PRIx64 ") over: %s; %u receipts or notices stored",
	       t->deposit ? "hand-over" : "collection", st.tracking,
	       reached ? "the TSP took it" : text, t->stored);
	sl_safleg_free(t->leg);
	t->leg = NULL;
	t->line = NULL;
	if (t->env_fd >= 0)
		close(t->env_fd);
	t->env_fd = -1;
	t->deposit = false;
	t->decided = false;
}

static const struct sl_dialer_leg_ops leg_ops = {
	.up = leg_up,
	.control = leg_control,
	.ended = leg_ended,
};

/* ---- The schedule ------------------------------------------------------------------ */

static int place(struct sl_courier *c, struct sl_line *line, int64_t now)
{
	char err[256];
	int ret;

	c->tsp.line = line;
	c->tsp.stored = 0;
	ret = sl_dialer_leg(line->dial, &leg_ops, c, now, err, sizeof(err));
	if (ret) {
		sl_log(LOG_WARNING, "%s: cannot call the TSP: %s",
		       sl_line_tty(line), err);
		c->tsp.line = NULL;
	}
	return ret;
}

static void deposit(struct sl_courier *c, struct sl_line *line,
		    struct sl_ob_item *it, int64_t now)
{
	struct sl_ctsp *t = &c->tsp;
	int fd = sl_outbox_open_env(&c->ob, it);

	it->attempts++;
	it->last_try = wall();
	if (fd < 0) {
		sl_courier_fail_attempt(c, it, "cannot read the envelope", now);
		return;
	}
	t->env_fd = fd;
	t->deposit = true;
	t->decided = false;
	memcpy(t->id, it->id, SL_ENV_ID_LEN);
	it->state = SL_OB_SENDING;
	sl_outbox_save(&c->ob, it);
	if (place(c, line, now)) {
		close(t->env_fd);
		t->env_fd = -1;
		t->deposit = false;
		sl_courier_fail_attempt(c, it, "the modem could not dial the TSP",
					now);
		return;
	}
	sl_log(LOG_NOTICE, "%s: calling the TSP to hand over envelope %s for %s",
	       sl_line_tty(line), it->hex, it->to);
	sl_courier_notify(c, it, "sending", "to the TSP");
}

void sl_ctsp_schedule(struct sl_courier *c, int64_t now)
{
	struct sl_ctsp *t = &c->tsp;
	struct sl_line *line;
	int64_t t0 = wall();

	if (t->line)
		return;
	line = tsp_line(c, true);
	if (!line)
		return;
	for (size_t i = 0; i < c->ob.n; i++) {
		struct sl_ob_item *it = &c->ob.items[i];

		if (sl_ctsp_via(it) && it->state == SL_OB_QUEUED &&
		    it->next_try <= t0) {
			deposit(c, line, it, now);
			return;
		}
	}
	if (t->collect_asked || (t->collect_at && now >= t->collect_at &&
				 any_held(c))) {
		t->collect_asked = false;
		t->deposit = false;
		if (place(c, line, now) == 0)
			sl_log(LOG_INFO, "%s: calling the TSP to collect receipts and notices",
			       sl_line_tty(line));
		else
			t->collect_at = now + SL_CTSP_RETRY_MS;
	}
}

void sl_ctsp_timer(struct sl_courier *c, int64_t now)
{
	struct sl_ctsp *t = &c->tsp;
	uint64_t due;

	if (t->leg) {
		due = sl_safleg_next_timer(t->leg);
		if (due && (uint64_t)now >= due) {
			sl_safleg_timer(t->leg, (uint64_t)now);
			leg_check(c, now);
		}
	}
	if (!t->collect_at && any_held(c))
		t->collect_at = now;	/* at start: what came meanwhile */
	sl_ctsp_schedule(c, now);
}

int64_t sl_ctsp_next_timer(const struct sl_courier *c)
{
	const struct sl_ctsp *t = &c->tsp;
	int64_t next = 0, t0 = wall(), now = sl_now_ms();
	bool waiting = t->collect_asked;

	if (t->leg)
		next = (int64_t)sl_safleg_next_timer(t->leg);
	if (t->collect_at && (!next || t->collect_at < next))
		next = t->collect_at;
	for (size_t i = 0; !waiting && i < c->ob.n; i++) {
		const struct sl_ob_item *it = &c->ob.items[i];

		waiting = sl_ctsp_via(it) && it->state == SL_OB_QUEUED &&
			  it->next_try <= t0;
	}
	/* Something waits for the line to come free: look again soon. */
	if (waiting && !t->line && (!next || now + SL_CTSP_POLL_MS < next))
		next = now + SL_CTSP_POLL_MS;
	return next;
}

void sl_ctsp_collect(struct sl_courier *c, struct sl_ipc_client *client,
		     int64_t now)
{
	struct sl_ctsp *t = &c->tsp;

	if (!tsp_line(c, false)) {
		sl_ipc_send_err(client, -ENETUNREACH, "no line of this sealined can call the TSP (modem = yes, tsp_number and tsp_key)");
		return;
	}
	if (t->waiting) {
		sl_ipc_send_err(client, -EBUSY, "a collection is already waited for");
		return;
	}
	t->waiting = client;
	client->courier = t;	/* busy: not an idle connection */
	if (!t->line)
		t->collect_asked = true;
	sl_ctsp_schedule(c, now);
}

void sl_ctsp_client_gone(struct sl_courier *c, struct sl_ipc_client *client)
{
	if (c->tsp.waiting == client)
		c->tsp.waiting = NULL;
}

void sl_ctsp_fini(struct sl_courier *c)
{
	struct sl_ctsp *t = &c->tsp;

	/* The leg's keys go now. Its line and dialer are not ours: main()
	 * has freed the lines already (their dialers hang up there), so
	 * t->line may point at freed memory and must not be read.
	 */
	sl_safleg_free(t->leg);
	t->leg = NULL;
	t->line = NULL;
	if (t->env_fd >= 0)
		close(t->env_fd);
	t->env_fd = -1;
}

void sl_ctsp_status(struct sl_courier *c, struct sl_ipc_builder *b)
{
	size_t held = 0;

	for (size_t i = 0; i < c->ob.n; i++)
		held += c->ob.items[i].state == SL_OB_HELD;
	sl_ipc_addf(b, "held_at_tsp", "%zu", held);
	if (c->tsp.line)
		sl_ipc_add(b, "tsp_leg", c->tsp.deposit ? "hand-over" :
			   "collection");
}
