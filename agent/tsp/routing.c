// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Calls through the TSP (tsp_internal.h): the checks of handshake.rst on
 * the caller's and the answerer's keys against the account store (asked
 * of the store's thread, tspq.c, and carried out when it answers),
 * dialling the recipient on a free line, bridging the two legs and
 * relaying them, and the call detail record, closed exactly once whatever
 * ends the call.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cchan.h"
#include "log.h"
#include "tsp_internal.h"

/* ------------------------------------------------------------ calls */

/* Closes the record and unlinks both lines; hangs up a dialled leg that
 * is still in setup. Idempotent through l->call. */
void sl_tspd_call_end(struct tsp *t, struct tsp_call *c,
		      enum sl_tsp_outcome outcome, const char *nak, int64_t now)
{
	struct tsp_line *legs[2] = { c->caller, c->callee };

	sl_tspd_saf_call_end(t, c, outcome, nak);
	if (c->connected) {
		struct sl_tsp_cdr_update u = {
			.set = SL_TSP_CDR_SET_BYTES, .bytes_up = c->up,
			.bytes_down = c->down, .now_ms = sl_wall_ms(),
		};

		sl_tspq_cdr_update(t->q, c->id, &u);
	}
	sl_tspq_cdr_close(t->q, c->id, sl_wall_ms(), outcome, nak);
	sl_log(LOG_NOTICE, "call %016" PRIx64 ": ended, %s%s%s, %" PRIu64 " bytes to the recipient, %" PRIu64 " back",
	       c->id, sl_tsp_outcome_name(outcome), nak ? " " : "",
	       nak ? nak : "", c->up, c->down);
	for (int i = 0; i < 2; ++i) {
		struct tsp_line *l = legs[i];

		if (!l)
			continue;
		l->call = NULL;
		/* A leg still in setup or dialling has no last message to
		 * send: hang it up now. Lines with a NAK or "ended" queued
		 * are CLOSING and hang up by themselves. */
		if (l->st == TL_DIALLING || l->st == TL_SETUP ||
		    l->st == TL_BRIDGED || l->st == TL_RELAY ||
		    l->st == TL_COURIER)
			sl_tspd_line_hangup(l, now);
	}
	c->caller = c->callee = NULL;
	c->ended = true;
	t->calls--;
	/* A check still out comes back to it: freed then. */
	if (!c->asking)
		free(c);
}

/* Refuse the caller (a NAK on its leg, then hangup) and end the call. */
void sl_tspd_call_refuse(struct tsp *t, struct tsp_call *c, uint8_t reason,
			 uint8_t detail, enum sl_tsp_outcome outcome,
			 int64_t now)
{
	struct tsp_line *cl = c->caller;
	struct sl_call_actions out;

	/* The caller's line ends with the NAK, not with the hangup of
	 * sl_tspd_call_end(). */
	if (cl) {
		c->caller = NULL;
		cl->call = NULL;
	}
	sl_log(LOG_NOTICE, "call %016" PRIx64 ": refused: %s (%s)", c->id,
	       sl_nak_reason_name(reason),
	       detail == SL_NAK_DETAIL_CALLER ? "caller" :
	       detail == SL_NAK_DETAIL_RECIPIENT ? "recipient" : "-");
	sl_tspd_call_end(t, c, outcome,
			 outcome == SL_TSP_OUTCOME_NAK ?
			 sl_nak_reason_name(reason) : NULL, now);
	if (cl && cl->leg &&
	    !sl_tsp_leg_refuse(cl->leg, reason, detail, (uint64_t)now, &out))
		sl_tspd_leg_actions(cl, &out, now);
	else if (cl && cl->st != TL_CLOSING && cl->st != TL_HANGUP)
		sl_tspd_line_hangup(cl, now);
}

struct tsp_line *sl_tspd_free_line(struct tsp *t)
{
	for (unsigned int i = 0; i < t->n; ++i) {
		struct tsp_line *l = &t->lines[(t->next_out + i) % t->n];

		if (l->st == TL_IDLE && !l->call &&
		    sl_modem_state(&l->modem) == SL_MODEM_READY) {
			t->next_out = (t->next_out + i + 1) % t->n;
			return l;
		}
	}
	return NULL;
}

/*
 * Dial the recipient on out_line (a free line), or on another free one
 * when the modem finds no dial tone (the exchange started ringing that
 * line just as it was taken: glare). No line left: BUSY to the caller.
 */
void sl_tspd_dial_out(struct tsp *t, struct tsp_call *c,
		      struct tsp_line *out_line, int64_t now)
{
	struct sl_modem_events ev;
	int ret;

	if (!out_line || ++c->dial_tries > SL_TSP_DIAL_TRIES) {
		sl_log(LOG_WARNING, "call %016" PRIx64 ": no free line to dial out on",
		       c->id);
		sl_tspd_call_refuse(t, c, SL_NAK_BUSY, SL_NAK_DETAIL_RECIPIENT,
				    SL_TSP_OUTCOME_BUSY, now);
		return;
	}
	ret = sl_modem_dial(&out_line->modem, c->phone, now, &ev);
	if (ret) {
		sl_log(LOG_ERR, "line %s: cannot dial: %s", out_line->name,
		       strerror(-ret));
		sl_tspd_call_refuse(t, c, SL_NAK_NO_ANSWER,
				    SL_NAK_DETAIL_RECIPIENT,
				    SL_TSP_OUTCOME_FAILED, now);
		return;
	}
	c->callee = out_line;
	out_line->call = c;
	if (!c->answer_deadline)
		c->answer_deadline = now +
			(int64_t)t->cfg->tsp.answer_timeout * 1000;
	sl_tspd_line_set(out_line, TL_DIALLING);
	sl_log(LOG_INFO, "call %016" PRIx64 ": %s calls %s: dialling on line %s",
	       c->id, c->caller_acct, c->recipient, out_line->name);
	sl_tspd_modem_events(out_line, &ev, now);
}

/* The answerer is not the recipient (or could not be checked): NAK its
 * leg, and tell the caller no one answered. */
static void answerer_refused(struct tsp_line *l, const char *claims,
			     const char *key_of, int64_t now)
{
	struct tsp *t = l->t;
	struct tsp_call *c = l->call;
	struct sl_call_actions out;

	sl_log(LOG_WARNING, "line %s: the answerer is not account %s (key %s, claims %s)",
	       l->name, c->recipient, key_of, claims);
	if (!sl_tsp_leg_refuse(l->leg, SL_NAK_IDENTITY_MISMATCH, 0,
			       (uint64_t)now, &out)) {
		c->callee = NULL;
		l->call = NULL;
		sl_tspd_leg_actions(l, &out, now);
	}
	sl_tspd_call_refuse(t, c, SL_NAK_NO_ANSWER, SL_NAK_DETAIL_RECIPIENT,
			    SL_TSP_OUTCOME_NAK, now);
}

/* The caller proved its key: the store checks it (tspq.c, check_caller()
 * has the checks of handshake.rst, in order). */
static void caller_authenticated(struct tsp_line *l,
				 const struct sl_call_action *a, int64_t now)
{
	struct tsp *t = l->t;
	struct tsp_call *c = l->call;
	struct sl_tspq_req *r;

	if (a->purpose != SL_CALL_PURPOSE_CALL &&
	    a->purpose != SL_CALL_PURPOSE_DEPOSIT &&
	    a->purpose != SL_CALL_PURPOSE_COLLECT) {
		sl_tspd_call_refuse(t, c, SL_NAK_BAD_MESSAGE, 0,
				    SL_TSP_OUTCOME_NAK, now);
		return;
	}
	r = sl_tspq_req_new(SL_TSPQ_CHECK_CALLER, c->id, c);
	if (!r) {
		sl_tspd_call_refuse(t, c, SL_NAK_INTERNAL, 0,
				    SL_TSP_OUTCOME_FAILED, now);
		return;
	}
	c->purpose = a->purpose;
	c->hsid = a->hsid;
	r->caller.purpose = a->purpose;
	memcpy(r->caller.pub, a->static_pub, sizeof(r->caller.pub));
	snprintf(r->caller.claimed, sizeof(r->caller.claimed), "%s", a->account);
	snprintf(r->caller.peer, sizeof(r->caller.peer), "%s", a->peer);
	snprintf(r->caller.caller_id, sizeof(r->caller.caller_id), "%s", l->cid);
	snprintf(r->caller.line, sizeof(r->caller.line), "%s", l->name);
	c->asking++;
	sl_tspq_ask(t->q, r);
}

/* The store's answer about the caller: refuse, or dial the recipient. */
static void caller_checked(struct tsp *t, struct tsp_call *c,
			   const struct sl_tspq_caller *k, int64_t now)
{
	struct tsp_line *l = c->caller, *out_line;
	struct sl_call_actions out;

	if (k->caller[0])
		memcpy(c->caller_acct, k->caller, sizeof(c->caller_acct));
	if (k->why[0])
		sl_log(k->reason == SL_NAK_UNAVAILABLE ||
		       k->reason == SL_NAK_INTERNAL ? LOG_ERR : LOG_WARNING,
		       "call %016" PRIx64 " on line %s: %s", c->id,
		       l ? l->name : "-", k->why);
	if (k->reason != SL_NAK_NONE) {
		sl_tspd_call_refuse(t, c, k->reason, k->detail, k->outcome, now);
		return;
	}
	if (c->purpose == SL_CALL_PURPOSE_DEPOSIT ||
	    c->purpose == SL_CALL_PURPOSE_COLLECT) {
		/* Store and forward: T is this leg's courier peer. */
		memcpy(c->recipient, k->recipient, sizeof(c->recipient));
		if (l && l->leg)
			sl_tspd_saf_begin(l, now);
		return;
	}
	out_line = sl_tspd_free_line(t);
	if (!out_line) {
		sl_log(LOG_WARNING, "call %016" PRIx64 ": no free line to dial out on",
		       c->id);
		sl_tspd_call_refuse(t, c, SL_NAK_BUSY, SL_NAK_DETAIL_RECIPIENT,
				    SL_TSP_OUTCOME_BUSY, now);
		return;
	}
	memcpy(c->recipient, k->recipient, sizeof(c->recipient));
	snprintf(c->phone, sizeof(c->phone), "%s", k->phone);
	if (l && l->leg &&
	    sl_tsp_leg_dialling(l->leg, c->id, (uint64_t)now, &out) == 0)
		sl_tspd_leg_actions(l, &out, now);
	if (!l || !l->call)
		return;		/* the caller went away meanwhile */
	sl_tspd_dial_out(t, c, out_line, now);
}

/* The dialled line's answerer proved its key: the store says whose. */
static void answerer_authenticated(struct tsp_line *l,
				   const struct sl_call_action *a, int64_t now)
{
	struct tsp *t = l->t;
	struct tsp_call *c = l->call;
	struct sl_tspq_req *r;

	if (a->purpose != SL_CALL_PURPOSE_ANSWER ||
	    strcmp(a->account, c->recipient)) {
		answerer_refused(l, a->account, "-", now);
		return;
	}
	r = sl_tspq_req_new(SL_TSPQ_CHECK_ANSWERER, c->id, c);
	if (!r) {
		answerer_refused(l, a->account, "unchecked", now);
		return;
	}
	c->hsid = a->hsid;
	memcpy(r->answerer.pub, a->static_pub, sizeof(r->answerer.pub));
	c->asking++;
	sl_tspq_ask(t->q, r);
}

/* The store's answer about the answerer: offer it the call if it is the
 * recipient. */
static void answerer_checked(struct tsp *t, struct tsp_call *c,
			     const struct sl_tspq_answerer *k, int64_t now)
{
	struct tsp_line *l = c->callee;
	struct sl_call_actions out;

	(void)t;
	if (!l || !l->leg || l->st != TL_SETUP)
		return;		/* the leg went away meanwhile */
	if (k->unavailable || strcmp(k->account, c->recipient)) {
		answerer_refused(l, c->recipient, k->unavailable ? "unchecked" :
				 k->account[0] ? k->account : "unknown", now);
		return;
	}
	if ((c->saf ? sl_tsp_leg_offer_held : sl_tsp_leg_offer)
	    (l->leg, c->caller_acct, c->id, (uint64_t)now, &out) == 0)
		sl_tspd_leg_actions(l, &out, now);
}

void sl_tspd_store_answer(struct tsp *t, struct sl_tspq_req *r)
{
	struct tsp_call *c = r->ctx;
	int64_t now = sl_now_ms();

	c->asking--;
	if (c->ended) {
		if (!c->asking)
			free(c);
		return;
	}
	if (r->type == SL_TSPQ_CHECK_CALLER)
		caller_checked(t, c, &r->caller, now);
	else if (r->type == SL_TSPQ_CHECK_ANSWERER)
		answerer_checked(t, c, &r->answerer, now);
}

/* The recipient accepted: tell both, answerer first (handshake.rst). */
static void call_accepted(struct tsp_line *l, int64_t now)
{
	struct tsp *t = l->t;
	struct tsp_call *c = l->call;
	struct sl_tsp_cdr_update u = {
		.set = SL_TSP_CDR_SET_ANSWER, .answer_ms = sl_wall_ms(),
	};
	struct sl_call_actions out;

	if (c->saf) {
		sl_tspd_saf_accepted(l, now);	/* a held delivery */
		return;
	}
	u.now_ms = u.answer_ms;
	sl_tspq_cdr_update(t->q, c->id, &u);
	c->connected = true;
	c->cdr_saved = now;
	sl_tspd_line_set(c->callee, TL_BRIDGED);
	sl_tspd_line_set(c->caller, TL_BRIDGED);
	if (sl_tsp_leg_connected(c->callee->leg, (uint64_t)now, &out) == 0)
		sl_tspd_leg_actions(c->callee, &out, now);
	if (c->caller && c->caller->leg &&
	    sl_tsp_leg_connected(c->caller->leg, (uint64_t)now, &out) == 0)
		sl_tspd_leg_actions(c->caller, &out, now);
	sl_log(LOG_NOTICE, "call %016" PRIx64 ": %s -> %s connected (lines %s, %s)",
	       c->id, c->caller_acct, c->recipient, c->caller->name,
	       c->callee->name);
}

/* A leg ended without completing (timeout, a NAK either way). */
static void leg_failed(struct tsp_line *l, const struct sl_call_action *a,
		       int64_t now)
{
	struct tsp *t = l->t;
	struct tsp_call *c = l->call;

	sl_log(LOG_NOTICE, "line %s: call setup failed: %s%s%s", l->name,
	       a->text ? a->text : "",
	       a->reason ? ", NAK " : "",
	       a->reason ? sl_nak_reason_name(a->reason) : "");
	if (c && c->callee == l) {
		/* The recipient refused the offer: pass its reason on. */
		uint8_t reason = a->remote && a->reason ? a->reason :
				 SL_NAK_NO_ANSWER;

		c->callee = NULL;
		l->call = NULL;
		sl_tspd_call_refuse(t, c, reason, SL_NAK_DETAIL_RECIPIENT,
				    reason == SL_NAK_NO_ANSWER ?
				    SL_TSP_OUTCOME_NO_ANSWER :
				    SL_TSP_OUTCOME_NAK, now);
	} else if (c) {
		sl_tspd_call_end(t, c, a->remote ? SL_TSP_OUTCOME_ABANDONED :
				 SL_TSP_OUTCOME_FAILED, NULL, now);
	}
	if (l->st != TL_CLOSING && l->st != TL_HANGUP)
		sl_tspd_line_hangup(l, now);
}

void sl_tspd_leg_actions(struct tsp_line *l, const struct sl_call_actions *out,
			 int64_t now)
{
	l->leg_timer = (int64_t)out->next_timer;
	for (unsigned int i = 0; i < out->n; ++i) {
		const struct sl_call_action *a = &out->a[i];

		switch (a->type) {
		case SL_CALL_ACT_SEND:
			sl_tspd_line_send(l, a->msg, a->len);
			break;
		case SL_CALL_ACT_NAK:
			sl_log(LOG_NOTICE, "line %s: NAK %s %s (detail %u, %s)%s",
			       l->name, sl_nak_reason_name(a->reason),
			       a->sent ? "sent" : "received", a->detail,
			       sl_hs_msg_name(a->ref_type),
			       a->unauthenticated ? ", unauthenticated" : "");
			if (a->sent && a->ended) {
				sl_tspd_line_set(l, TL_CLOSING);
				l->close_at = now + SL_TSP_NAK_HANGUP_MS;
			}
			break;
		case SL_CALL_ACT_AUTHENTICATED:
			l->setup_deadline = 0;
			if (!l->call)
				break;
			if (l->call->caller == l)
				caller_authenticated(l, a, now);
			else
				answerer_authenticated(l, a, now);
			break;
		case SL_CALL_ACT_ACCEPTED:
			if (l->call && l->call->callee == l)
				call_accepted(l, now);
			break;
		case SL_CALL_ACT_FAILED:
			leg_failed(l, a, now);
			break;
		default:
			break;
		}
		if (l->fd < 0)
			break;
	}
}

/* ------------------------------------------------------------ data */

static void relay(struct tsp_line *from, const uint8_t *p, size_t n)
{
	struct tsp_line *to = sl_tspd_partner(from);
	struct tsp_call *c = from->call;

	if (!n || !to || to->st != TL_RELAY)
		return;
	if (sl_byteq_push(&to->out, p, n)) {
		/* Cannot happen: reading stops above SL_OUTQ_HIGH. */
		sl_log(LOG_WARNING, "line %s: relay queue full, %zu bytes lost",
		       to->name, n);
		return;
	}
	if (c->caller == from)
		c->up += n;
	else
		c->down += n;
	sl_tspd_line_flush(to);
}

/* The caller's first end-to-end message went through: from now on both
 * lines are relayed as they are, frames and all. */
static void start_relay(struct tsp_call *c)
{
	struct tsp_line *b = c->callee, *a = c->caller;

	sl_tspd_line_set(a, TL_RELAY);
	sl_tspd_line_set(b, TL_RELAY);
	/* Bytes of a frame the answerer had half sent stay in the stream. */
	if (b->rl.dec.len && !b->rl.dec.discarding)
		relay(b, b->rl.dec.buf, b->rl.dec.len);
	sl_rawline_init(&a->rl);
	sl_rawline_init(&b->rl);
	sl_log(LOG_INFO, "call %016" PRIx64 ": end-to-end handshake started, relaying",
	       c->id);
}

static void on_control(void *ctx, const uint8_t *msg, size_t len)
{
	struct tsp_line *l = ctx;
	int64_t now = sl_now_ms();
	struct sl_call_actions out;
	uint64_t wire;
	uint8_t type;

	if (len < 2)
		return;
	type = msg[1];
	if (l->st == TL_COURIER) {
		if (sl_cchan_is_courier(msg, len))
			sl_tspd_saf_control(l, msg, len, now);
		else if (l->leg && sl_call_msg_is_setup(type) &&
			 sl_tsp_leg_input(l->leg, msg, len, (uint64_t)now,
					  &out) == 0)
			sl_tspd_leg_actions(l, &out, now);
		return;
	}
	if (l->st == TL_SETUP) {
		if (!l->leg || (!sl_call_msg_is_setup(type) &&
				type != SL_MSG_NAK))
			return;
		if (sl_tsp_leg_input(l->leg, msg, len, (uint64_t)now, &out) == 0)
			sl_tspd_leg_actions(l, &out, now);
		return;
	}
	if (l->st != TL_BRIDGED)
		return;
	if (sl_call_msg_is_setup(type)) {
		if (l->leg &&
		    sl_tsp_leg_input(l->leg, msg, len, (uint64_t)now, &out) == 0)
			sl_tspd_leg_actions(l, &out, now);
		return;
	}
	if (!sl_tspd_partner(l))
		return;
	/* Counted as the bytes the frame takes on the wire, as relayed
	 * bytes are: a record's byte counts are in one unit. */
	{
		struct tsp_line *o = sl_tspd_partner(l);
		uint64_t before = o->written + sl_byteq_len(&o->out);

		sl_tspd_line_send(o, msg, len);
		wire = o->written + sl_byteq_len(&o->out) - before;
	}
	if (l->call->caller == l) {
		l->call->up += wire;
		start_relay(l->call);
		sl_rawline_stop(&l->rl);
	} else {
		l->call->down += wire;
	}
}

void sl_tspd_data_in(struct tsp_line *l, const uint8_t *p, size_t n)
{
	size_t used;

	switch (l->st) {
	case TL_SETUP:
	case TL_BRIDGED:
	case TL_COURIER:
		used = sl_rawline_decode(&l->rl, p, n, on_control, l);
		if (used < n && l->st == TL_RELAY)
			relay(l, p + used, n - used);
		break;
	case TL_RELAY:
		relay(l, p, n);
		break;
	default:
		break;		/* CLOSING: whatever comes is dropped */
	}
}

/* The far end hung up (NO CARRIER in data mode). */
void sl_tspd_remote_hangup(struct tsp_line *l, int64_t now)
{
	struct tsp *t = l->t;
	struct tsp_call *c = l->call;
	struct tsp_line *o = sl_tspd_partner(l);

	sl_log(LOG_INFO, "line %s: the far end hung up", l->name);
	sl_tsp_leg_free(l->leg);
	l->leg = NULL;
	l->leg_timer = 0;
	sl_byteq_drop(&l->out);
	sl_rawline_init(&l->rl);
	sl_tspd_line_set(l, TL_IDLE);
	if (!c)
		return;
	if (c->connected) {
		struct sl_call_actions out;

		/* Tell the other end, authenticated, then hang it up. */
		c->caller = NULL;
		c->callee = NULL;
		l->call = NULL;
		if (o) {
			o->call = NULL;
			if (o->leg &&
			    sl_tsp_leg_end(o->leg, (uint64_t)now, &out) == 0)
				sl_tspd_leg_actions(o, &out, now);
			sl_tspd_line_set(o, TL_CLOSING);
			o->close_at = now + SL_TSP_NAK_HANGUP_MS;
		}
		sl_tspd_call_end(t, c, SL_TSP_OUTCOME_COMPLETED, NULL, now);
	} else if (c->caller == l) {
		c->caller = NULL;
		l->call = NULL;
		sl_tspd_call_end(t, c, SL_TSP_OUTCOME_ABANDONED, NULL, now);
	} else {
		c->callee = NULL;
		l->call = NULL;
		sl_tspd_call_refuse(t, c, SL_NAK_NO_ANSWER,
				    SL_NAK_DETAIL_RECIPIENT,
				    SL_TSP_OUTCOME_NO_ANSWER, now);
	}
}

