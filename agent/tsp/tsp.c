// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The TSP role of sealined (tsp.h): lines, calls, routing, bridging, call
 * records.
 *
 * Line states:
 *
 *	DOWN		not open (failed); reopened after SL_TSP_REOPEN_MS
 *	INIT		the modem is being initialised
 *	IDLE		on hook, waiting for a RING; may be dialled out on
 *	RINGING		rang; answered once the caller ID came (or the
 *			second RING, for lines without caller ID)
 *	ANSWERING	ATA sent
 *	DIALLING	ATDT sent for a call: this line is its recipient's leg
 *	SETUP		connected; call setup runs on the line's leg engine
 *	BRIDGED		both legs connected: call-setup messages go to the
 *			leg (copies are answered), every other control
 *			message is forwarded to the other line
 *	RELAY		byte for byte, from the caller's first end-to-end
 *			message on
 *	CLOSING		a last message (NAK, CALL_STATUS ended) is queued;
 *			the modem hangs up once it is on the wire
 *	HANGUP		the modem is hanging up
 *
 * A call links the caller's line (the one that rang) and, once dialled,
 * the recipient's. Its record is opened when the caller's line answers and
 * closed exactly once (call_end()), whatever ends it first.
 */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include "call.h"
#include "crypto.h"
#include "ipc.h"
#include "keystore.h"
#include "log.h"
#include "modem.h"
#include "rawline.h"
#include "tsp.h"
#include "tspstore.h"

enum tl_state {
	TL_DOWN,
	TL_INIT,
	TL_IDLE,
	TL_RINGING,
	TL_ANSWERING,
	TL_DIALLING,
	TL_SETUP,
	TL_BRIDGED,
	TL_RELAY,
	TL_CLOSING,
	TL_HANGUP,
};

static const char *const tl_state_names[] = {
	[TL_DOWN] = "down", [TL_INIT] = "init", [TL_IDLE] = "idle",
	[TL_RINGING] = "ringing", [TL_ANSWERING] = "answering",
	[TL_DIALLING] = "dialling", [TL_SETUP] = "setup",
	[TL_BRIDGED] = "bridged", [TL_RELAY] = "relay",
	[TL_CLOSING] = "closing", [TL_HANGUP] = "hangup",
};

struct tsp;
struct tsp_call;

struct tsp_line {
	struct tsp *t;
	char path[PATH_MAX];
	char name[SL_TSP_LINE_MAX + 1];	/* basename: logs, records */
	int fd;
	bool has_dtr;			/* TIOCMBIC works: hang up by DTR */
	bool ep_added;			/* fd is in the epoll set */
	uint32_t ep_mask;		/* with these events */
	enum tl_state st;
	struct sl_modem modem;
	struct sl_rawline rl;
	struct sl_outq out;
	uint64_t written;

	struct sl_tsp_leg *leg;
	int64_t leg_timer;
	struct tsp_call *call;

	char cid[SL_MODEM_CID_MAX + 1];	/* this ring's caller ID */
	int64_t ring_wall;		/* first RING, wall clock */
	int64_t setup_deadline;		/* SETUP: until CALL_AUTH */
	int64_t close_at;		/* CLOSING: hang up then */
	int64_t retry_at;		/* DOWN: reopen then */
};

struct tsp_call {
	uint64_t id;			/* record id = tracking id */
	struct tsp_line *caller, *callee;
	char caller_acct[SL_ACCOUNT_LEN + 1];
	char recipient[SL_ACCOUNT_LEN + 1];
	char phone[SL_TSP_PHONE_MAX + 1];	/* the recipient's */
	int64_t answer_deadline;	/* dialled: ACCEPTED by then */
	unsigned int dial_tries;	/* lines tried (glare) */
	bool connected;
	uint64_t up, down;		/* relayed bytes: to the recipient, back */
	int64_t cdr_saved;		/* bytes last written to the record */
};

struct tsp {
	const struct sl_config *cfg;
	struct sl_ipc_server ipc;	/* sealctl status */
	int ipc_fds[SL_IPC_MAX_CLIENTS];	/* client fds in the epoll set */
	int64_t started;		/* wall clock, s */
	struct sl_keystore ks;
	struct sl_tsp_store st;
	struct tsp_line *lines;
	unsigned int n;
	unsigned int next_out;		/* round robin for dialling out */
	int ep, sigfd;
	bool stop;
	unsigned int calls;		/* open calls */
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The configured init string, else the TSP's default (tsp.h: the escape
 * character disabled). */
static const char *tsp_init_string(const struct tsp *t)
{
	return t->cfg->tsp.init[0] ? t->cfg->tsp.init : SL_TSP_DEFAULT_INIT;
}

static void line_set(struct tsp_line *l, enum tl_state st)
{
	if (l->st != st)
		sl_log(LOG_DEBUG, "line %s: %s -> %s", l->name,
		       tl_state_names[l->st], tl_state_names[st]);
	l->st = st;
}

static struct tsp_line *partner(const struct tsp_line *l)
{
	if (!l->call)
		return NULL;
	return l->call->caller == l ? l->call->callee : l->call->caller;
}

static void modem_events(struct tsp_line *l, const struct sl_modem_events *ev,
			 int64_t now);
static void leg_actions(struct tsp_line *l, const struct sl_call_actions *out,
			int64_t now);
static void line_hangup(struct tsp_line *l, int64_t now);
static void line_close_fd(struct tsp_line *l);

/* ------------------------------------------------------------ output */

static void line_flush(struct tsp_line *l)
{
	int ret;

	if (l->fd < 0 || !sl_outq_len(&l->out))
		return;
	ret = sl_outq_flush(&l->out, l->fd, &l->written);
	if (ret) {
		sl_log(LOG_WARNING, "line %s: write: %s", l->name,
		       strerror(-ret));
		sl_outq_clear(&l->out);
	}
}

static void line_send(struct tsp_line *l, const uint8_t *msg, size_t len)
{
	int ret = sl_rawline_send(&l->out, msg, len);

	if (ret)
		sl_log(LOG_WARNING, "line %s: %s not sent: %s", l->name,
		       sl_hs_msg_name(msg[1]), strerror(-ret));
	line_flush(l);
}

/* ------------------------------------------------------------ calls */

/* Closes the record and unlinks both lines; hangs up a dialled leg that
 * is still in setup. Idempotent through l->call. */
static void call_end(struct tsp *t, struct tsp_call *c,
		     enum sl_tsp_outcome outcome, const char *nak, int64_t now)
{
	struct tsp_line *legs[2] = { c->caller, c->callee };
	int ret;

	if (c->connected) {
		struct sl_tsp_cdr_update u = {
			.set = SL_TSP_CDR_SET_BYTES, .bytes_up = c->up,
			.bytes_down = c->down, .now_ms = wall_ms(),
		};

		ret = sl_tsp_cdr_update(&t->st, c->id, &u);
		if (ret)
			sl_log(LOG_ERR, "call %016" PRIx64 ": record: %s", c->id,
			       sl_tsp_store_error(&t->st));
	}
	ret = sl_tsp_cdr_close(&t->st, c->id, wall_ms(), outcome, nak);
	if (ret)
		sl_log(LOG_ERR, "call %016" PRIx64 ": closing its record: %s",
		       c->id, sl_tsp_store_error(&t->st));
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
		    l->st == TL_BRIDGED || l->st == TL_RELAY)
			line_hangup(l, now);
	}
	free(c);
	t->calls--;
}

/* Refuse the caller (a NAK on its leg, then hangup) and end the call. */
static void call_refuse(struct tsp *t, struct tsp_call *c, uint8_t reason,
			uint8_t detail, enum sl_tsp_outcome outcome,
			int64_t now)
{
	struct tsp_line *cl = c->caller;
	struct sl_call_actions out;

	/* The caller's line ends with the NAK, not with call_end()'s hangup. */
	if (cl) {
		c->caller = NULL;
		cl->call = NULL;
	}
	sl_log(LOG_NOTICE, "call %016" PRIx64 ": refused: %s (%s)", c->id,
	       sl_nak_reason_name(reason),
	       detail == SL_NAK_DETAIL_CALLER ? "caller" :
	       detail == SL_NAK_DETAIL_RECIPIENT ? "recipient" : "-");
	call_end(t, c, outcome,
		 outcome == SL_TSP_OUTCOME_NAK ? sl_nak_reason_name(reason) :
		 NULL, now);
	if (cl && cl->leg &&
	    !sl_tsp_leg_refuse(cl->leg, reason, detail, (uint64_t)now, &out))
		leg_actions(cl, &out, now);
	else if (cl && cl->st != TL_CLOSING && cl->st != TL_HANGUP)
		line_hangup(cl, now);
}

static struct tsp_line *free_line(struct tsp *t)
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
static void dial_out(struct tsp *t, struct tsp_call *c,
		     struct tsp_line *out_line, int64_t now)
{
	struct sl_modem_events ev;
	int ret;

	if (!out_line || ++c->dial_tries > SL_TSP_DIAL_TRIES) {
		sl_log(LOG_WARNING, "call %016" PRIx64 ": no free line to dial out on",
		       c->id);
		call_refuse(t, c, SL_NAK_BUSY, SL_NAK_DETAIL_RECIPIENT,
			    SL_TSP_OUTCOME_BUSY, now);
		return;
	}
	ret = sl_modem_dial(&out_line->modem, c->phone, now, &ev);
	if (ret) {
		sl_log(LOG_ERR, "line %s: cannot dial: %s", out_line->name,
		       strerror(-ret));
		call_refuse(t, c, SL_NAK_NO_ANSWER, SL_NAK_DETAIL_RECIPIENT,
			    SL_TSP_OUTCOME_FAILED, now);
		return;
	}
	c->callee = out_line;
	out_line->call = c;
	if (!c->answer_deadline)
		c->answer_deadline = now +
			(int64_t)t->cfg->tsp.answer_timeout * 1000;
	line_set(out_line, TL_DIALLING);
	sl_log(LOG_INFO, "call %016" PRIx64 ": %s calls %s: dialling on line %s",
	       c->id, c->caller_acct, c->recipient, out_line->name);
	modem_events(out_line, &ev, now);
}

/* The caller proved its key: the checks of handshake.rst, in order. */
static void caller_authenticated(struct tsp_line *l,
				 const struct sl_call_action *a, int64_t now)
{
	struct tsp *t = l->t;
	struct tsp_call *c = l->call;
	struct sl_tsp_account caller, rcpt;
	struct sl_call_actions out;
	struct sl_tsp_cdr_update u = { 0 };
	struct tsp_line *out_line;
	bool ok;
	int ret;

	if (a->purpose != SL_CALL_PURPOSE_CALL) {
		call_refuse(t, c, SL_NAK_BAD_MESSAGE, 0, SL_TSP_OUTCOME_NAK, now);
		return;
	}
	ret = sl_tsp_account_by_key(&t->st, a->static_pub, &caller);
	if (ret == -ENOENT) {
		call_refuse(t, c, SL_NAK_UNKNOWN_ACCOUNT, SL_NAK_DETAIL_CALLER,
			    SL_TSP_OUTCOME_NAK, now);
		return;
	}
	if (ret)
		goto store_failed;
	/* From here on the record names the caller, whatever follows. */
	u.set = SL_TSP_CDR_SET_CALLER;
	u.caller_account = caller.number;
	u.now_ms = wall_ms();
	if (sl_tsp_cdr_update(&t->st, c->id, &u))
		goto store_failed;
	memcpy(c->caller_acct, caller.number, sizeof(c->caller_acct));
	if (strcmp(caller.number, a->account)) {
		sl_log(LOG_WARNING, "line %s: the caller's key is account %s's, but it claims %s: possible impersonation",
		       l->name, caller.number, a->account);
		call_refuse(t, c, SL_NAK_IDENTITY_MISMATCH, SL_NAK_DETAIL_CALLER,
			    SL_TSP_OUTCOME_NAK, now);
		return;
	}
	if (!caller.enabled) {
		call_refuse(t, c, SL_NAK_ACCOUNT_DISABLED, SL_NAK_DETAIL_CALLER,
			    SL_TSP_OUTCOME_NAK, now);
		return;
	}
	ret = sl_tsp_caller_bound(&t->st, caller.number, l->cid, l->name, &ok);
	if (ret)
		goto store_failed;
	if (!ok) {
		sl_log(LOG_WARNING, "line %s: account %s called from caller ID '%s', which is not bound to it",
		       l->name, caller.number, l->cid[0] ? l->cid : "(none)");
		call_refuse(t, c, SL_NAK_CALLER_ID_MISMATCH,
			    SL_NAK_DETAIL_CALLER, SL_TSP_OUTCOME_NAK, now);
		return;
	}
	ret = sl_tsp_account_get(&t->st, a->peer, &rcpt);
	if (ret == -ENOENT) {
		call_refuse(t, c, SL_NAK_UNKNOWN_ACCOUNT,
			    SL_NAK_DETAIL_RECIPIENT, SL_TSP_OUTCOME_NAK, now);
		return;
	}
	if (ret)
		goto store_failed;
	u.set = SL_TSP_CDR_SET_RECIPIENT;
	u.recipient_account = rcpt.number;
	u.now_ms = wall_ms();
	if (sl_tsp_cdr_update(&t->st, c->id, &u))
		goto store_failed;
	if (!rcpt.enabled) {
		call_refuse(t, c, SL_NAK_ACCOUNT_DISABLED,
			    SL_NAK_DETAIL_RECIPIENT, SL_TSP_OUTCOME_NAK, now);
		return;
	}
	ret = sl_tsp_caller_authorised(&t->st, rcpt.number, caller.number, &ok);
	if (ret)
		goto store_failed;
	if (!ok) {
		call_refuse(t, c, SL_NAK_NOT_AUTHORISED,
			    SL_NAK_DETAIL_RECIPIENT, SL_TSP_OUTCOME_NAK, now);
		return;
	}
	if (!rcpt.phone[0]) {
		sl_log(LOG_WARNING, "call %016" PRIx64 ": account %s has no phone number",
		       c->id, rcpt.number);
		call_refuse(t, c, SL_NAK_NO_ANSWER, SL_NAK_DETAIL_RECIPIENT,
			    SL_TSP_OUTCOME_NO_ANSWER, now);
		return;
	}
	out_line = free_line(t);
	if (!out_line) {
		sl_log(LOG_WARNING, "call %016" PRIx64 ": no free line to dial out on",
		       c->id);
		call_refuse(t, c, SL_NAK_BUSY, SL_NAK_DETAIL_RECIPIENT,
			    SL_TSP_OUTCOME_BUSY, now);
		return;
	}
	memcpy(c->recipient, rcpt.number, sizeof(c->recipient));
	snprintf(c->phone, sizeof(c->phone), "%s", rcpt.phone);
	if (sl_tsp_leg_dialling(l->leg, c->id, (uint64_t)now, &out) == 0)
		leg_actions(l, &out, now);
	if (!l->call)
		return;		/* the caller went away meanwhile */
	dial_out(t, c, out_line, now);
	return;

store_failed:
	sl_log(LOG_ERR, "call %016" PRIx64 ": account store: %s", c->id,
	       sl_tsp_store_error(&t->st));
	call_refuse(t, c, SL_NAK_INTERNAL, 0, SL_TSP_OUTCOME_FAILED, now);
}

/* The dialled line's answerer proved its key: it must be the recipient. */
static void answerer_authenticated(struct tsp_line *l,
				   const struct sl_call_action *a, int64_t now)
{
	struct tsp *t = l->t;
	struct tsp_call *c = l->call;
	struct sl_tsp_account acct;
	struct sl_call_actions out;
	int ret;

	ret = sl_tsp_account_by_key(&t->st, a->static_pub, &acct);
	if (a->purpose != SL_CALL_PURPOSE_ANSWER || ret ||
	    strcmp(acct.number, c->recipient) ||
	    strcmp(a->account, c->recipient)) {
		sl_log(LOG_WARNING, "line %s: the answerer is not account %s (key %s, claims %s)",
		       l->name, c->recipient,
		       ret ? "unknown" : acct.number, a->account);
		if (!sl_tsp_leg_refuse(l->leg, SL_NAK_IDENTITY_MISMATCH, 0,
				       (uint64_t)now, &out)) {
			c->callee = NULL;
			l->call = NULL;
			leg_actions(l, &out, now);
		}
		call_refuse(t, c, SL_NAK_NO_ANSWER, SL_NAK_DETAIL_RECIPIENT,
			    SL_TSP_OUTCOME_NAK, now);
		return;
	}
	if (sl_tsp_leg_offer(l->leg, c->caller_acct, c->id, (uint64_t)now,
			     &out) == 0)
		leg_actions(l, &out, now);
}

/* The recipient accepted: tell both, answerer first (handshake.rst). */
static void call_accepted(struct tsp_line *l, int64_t now)
{
	struct tsp *t = l->t;
	struct tsp_call *c = l->call;
	struct sl_tsp_cdr_update u = {
		.set = SL_TSP_CDR_SET_ANSWER, .answer_ms = wall_ms(),
	};
	struct sl_call_actions out;

	u.now_ms = u.answer_ms;
	if (sl_tsp_cdr_update(&t->st, c->id, &u))
		sl_log(LOG_ERR, "call %016" PRIx64 ": record: %s", c->id,
		       sl_tsp_store_error(&t->st));
	c->connected = true;
	c->cdr_saved = now;
	line_set(c->callee, TL_BRIDGED);
	line_set(c->caller, TL_BRIDGED);
	if (sl_tsp_leg_connected(c->callee->leg, (uint64_t)now, &out) == 0)
		leg_actions(c->callee, &out, now);
	if (c->caller && c->caller->leg &&
	    sl_tsp_leg_connected(c->caller->leg, (uint64_t)now, &out) == 0)
		leg_actions(c->caller, &out, now);
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
		call_refuse(t, c, reason, SL_NAK_DETAIL_RECIPIENT,
			    reason == SL_NAK_NO_ANSWER ?
			    SL_TSP_OUTCOME_NO_ANSWER : SL_TSP_OUTCOME_NAK, now);
	} else if (c) {
		call_end(t, c, a->remote ? SL_TSP_OUTCOME_ABANDONED :
			 SL_TSP_OUTCOME_FAILED, NULL, now);
	}
	if (l->st != TL_CLOSING && l->st != TL_HANGUP)
		line_hangup(l, now);
}

static void leg_actions(struct tsp_line *l, const struct sl_call_actions *out,
			int64_t now)
{
	l->leg_timer = (int64_t)out->next_timer;
	for (unsigned int i = 0; i < out->n; ++i) {
		const struct sl_call_action *a = &out->a[i];

		switch (a->type) {
		case SL_CALL_ACT_SEND:
			line_send(l, a->msg, a->len);
			break;
		case SL_CALL_ACT_NAK:
			sl_log(LOG_NOTICE, "line %s: NAK %s %s (detail %u, %s)%s",
			       l->name, sl_nak_reason_name(a->reason),
			       a->sent ? "sent" : "received", a->detail,
			       sl_hs_msg_name(a->ref_type),
			       a->unauthenticated ? ", unauthenticated" : "");
			if (a->sent && a->ended) {
				line_set(l, TL_CLOSING);
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
	struct tsp_line *to = partner(from);
	struct tsp_call *c = from->call;

	if (!n || !to || to->st != TL_RELAY)
		return;
	if (sl_outq_push(&to->out, p, n)) {
		/* Cannot happen: reading stops above SL_OUTQ_HIGH. */
		sl_log(LOG_WARNING, "line %s: relay queue full, %zu bytes lost",
		       to->name, n);
		return;
	}
	if (c->caller == from)
		c->up += n;
	else
		c->down += n;
	line_flush(to);
}

/* The caller's first end-to-end message went through: from now on both
 * lines are relayed as they are, frames and all. */
static void start_relay(struct tsp_call *c)
{
	struct tsp_line *b = c->callee, *a = c->caller;

	line_set(a, TL_RELAY);
	line_set(b, TL_RELAY);
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
	int64_t now = mono_ms();
	struct sl_call_actions out;
	uint64_t wire;
	uint8_t type;

	if (len < 2)
		return;
	type = msg[1];
	if (l->st == TL_SETUP) {
		if (!l->leg || (!sl_call_msg_is_setup(type) &&
				type != SL_MSG_NAK))
			return;
		if (sl_tsp_leg_input(l->leg, msg, len, (uint64_t)now, &out) == 0)
			leg_actions(l, &out, now);
		return;
	}
	if (l->st != TL_BRIDGED)
		return;
	if (sl_call_msg_is_setup(type)) {
		if (l->leg &&
		    sl_tsp_leg_input(l->leg, msg, len, (uint64_t)now, &out) == 0)
			leg_actions(l, &out, now);
		return;
	}
	if (!partner(l))
		return;
	/* Counted as the bytes the frame takes on the wire, as relayed
	 * bytes are: a record's byte counts are in one unit. */
	{
		struct tsp_line *o = partner(l);
		uint64_t before = o->written + sl_outq_len(&o->out);

		line_send(o, msg, len);
		wire = o->written + sl_outq_len(&o->out) - before;
	}
	if (l->call->caller == l) {
		l->call->up += wire;
		start_relay(l->call);
		sl_rawline_stop(&l->rl);
	} else {
		l->call->down += wire;
	}
}

static void data_in(struct tsp_line *l, const uint8_t *p, size_t n)
{
	size_t used;

	switch (l->st) {
	case TL_SETUP:
	case TL_BRIDGED:
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
static void remote_hangup(struct tsp_line *l, int64_t now)
{
	struct tsp *t = l->t;
	struct tsp_call *c = l->call;
	struct tsp_line *o = partner(l);

	sl_log(LOG_INFO, "line %s: the far end hung up", l->name);
	sl_tsp_leg_free(l->leg);
	l->leg = NULL;
	l->leg_timer = 0;
	sl_outq_clear(&l->out);
	sl_rawline_init(&l->rl);
	line_set(l, TL_IDLE);
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
				leg_actions(o, &out, now);
			line_set(o, TL_CLOSING);
			o->close_at = now + SL_TSP_NAK_HANGUP_MS;
		}
		call_end(t, c, SL_TSP_OUTCOME_COMPLETED, NULL, now);
	} else if (c->caller == l) {
		c->caller = NULL;
		l->call = NULL;
		call_end(t, c, SL_TSP_OUTCOME_ABANDONED, NULL, now);
	} else {
		c->callee = NULL;
		l->call = NULL;
		call_refuse(t, c, SL_NAK_NO_ANSWER, SL_NAK_DETAIL_RECIPIENT,
			    SL_TSP_OUTCOME_NO_ANSWER, now);
	}
}

/* ------------------------------------------------------------ modems */

static void answer_ring(struct tsp_line *l, int64_t now)
{
	struct sl_modem_events ev;

	if (sl_modem_answer(&l->modem, now, &ev)) {
		line_set(l, TL_IDLE);
		return;
	}
	line_set(l, TL_ANSWERING);
	modem_events(l, &ev, now);
}

static void incoming_connected(struct tsp_line *l, int64_t now)
{
	struct tsp *t = l->t;
	struct sl_tsp_config tc = {
		.static_priv = t->ks.id.priv, .baud = t->cfg->tsp.baud,
	};
	struct sl_tsp_cdr_start s = {
		.line = l->name, .caller_id = l->cid,
		.ring_ms = l->ring_wall ? l->ring_wall : wall_ms(),
	};
	struct tsp_call *c;
	int err;

	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	l->leg = sl_tsp_leg_new(&tc, &err);
	if (!l->leg) {
		sl_log(LOG_ERR, "line %s: call setup: %s", l->name,
		       strerror(-err));
		goto fail_call;
	}
	if (sl_tsp_cdr_open(&t->st, &s, &c->id)) {
		sl_log(LOG_ERR, "line %s: cannot open a call record: %s",
		       l->name, sl_tsp_store_error(&t->st));
		goto fail_leg;
	}
	c->caller = l;
	l->call = c;
	t->calls++;
	sl_rawline_init(&l->rl);
	l->setup_deadline = now + SL_TSP_SETUP_MS;
	line_set(l, TL_SETUP);
	sl_log(LOG_INFO, "call %016" PRIx64 ": answered on line %s, caller ID %s",
	       c->id, l->name, l->cid[0] ? l->cid : "(none)");
	return;

fail_leg:
	sl_tsp_leg_free(l->leg);
	l->leg = NULL;
fail_call:
	free(c);
fail:
	line_hangup(l, now);
}

static void outgoing_connected(struct tsp_line *l, int64_t now)
{
	struct tsp *t = l->t;
	struct sl_tsp_config tc = {
		.static_priv = t->ks.id.priv, .baud = t->cfg->tsp.baud,
	};
	int err;

	l->leg = sl_tsp_leg_new(&tc, &err);
	if (!l->leg) {
		struct tsp_call *c = l->call;

		sl_log(LOG_ERR, "line %s: call setup: %s", l->name,
		       strerror(-err));
		c->callee = NULL;
		l->call = NULL;
		line_hangup(l, now);
		call_refuse(t, c, SL_NAK_INTERNAL, 0, SL_TSP_OUTCOME_FAILED,
			    now);
		return;
	}
	sl_rawline_init(&l->rl);
	l->setup_deadline = now + SL_TSP_SETUP_MS;
	line_set(l, TL_SETUP);
}

/* The dialled line did not connect. */
static void dial_failed(struct tsp_line *l, uint8_t reason,
			enum sl_tsp_outcome outcome, int64_t now)
{
	struct tsp_call *c = l->call;

	l->call = NULL;
	if (sl_modem_state(&l->modem) == SL_MODEM_HANGING_UP)
		line_set(l, TL_HANGUP);
	else
		line_set(l, TL_IDLE);
	if (c) {
		c->callee = NULL;
		call_refuse(l->t, c, reason, SL_NAK_DETAIL_RECIPIENT, outcome,
			    now);
	}
}

static void line_down(struct tsp_line *l, const char *why, int64_t now);

static void modem_events(struct tsp_line *l, const struct sl_modem_events *ev,
			 int64_t now)
{
	for (unsigned int i = 0; i < ev->n && l->fd >= 0; ++i) {
		const struct sl_modem_event *e = &ev->ev[i];
		char text[256];

		sl_log(sl_modem_event_level(e), "%s",
		       sl_modem_event_str(&l->modem, e, text, sizeof(text)));
		switch (e->type) {
		case SL_MODEM_EV_READY:
			if (l->st == TL_INIT)
				line_set(l, TL_IDLE);
			break;
		case SL_MODEM_EV_RING:
			if (l->st == TL_IDLE) {
				l->cid[0] = '\0';
				l->ring_wall = wall_ms();
				line_set(l, TL_RINGING);
			}
			/* No caller ID by the second ring: none comes. */
			if (l->st == TL_RINGING && e->rings >= 2)
				answer_ring(l, now);
			break;
		case SL_MODEM_EV_CALLER_ID:
			snprintf(l->cid, sizeof(l->cid), "%s", e->cid.number);
			if (l->st == TL_RINGING)
				answer_ring(l, now);
			break;
		case SL_MODEM_EV_CONNECT:
			if (l->st == TL_ANSWERING)
				incoming_connected(l, now);
			else if (l->st == TL_DIALLING)
				outgoing_connected(l, now);
			else
				line_hangup(l, now);
			break;
		case SL_MODEM_EV_BUSY:
			if (l->st == TL_DIALLING)
				dial_failed(l, SL_NAK_BUSY, SL_TSP_OUTCOME_BUSY,
					    now);
			break;
		case SL_MODEM_EV_NO_DIALTONE:
			if (l->st == TL_DIALLING && l->call) {
				struct tsp_call *c = l->call;

				/* Glare: try the next free line. */
				c->callee = NULL;
				l->call = NULL;
				line_set(l, TL_IDLE);
				dial_out(l->t, c, free_line(l->t), now);
				break;
			}
			/* fall through */
		case SL_MODEM_EV_NO_ANSWER:
		case SL_MODEM_EV_ERROR:
			if (l->st == TL_DIALLING)
				dial_failed(l, SL_NAK_NO_ANSWER,
					    SL_TSP_OUTCOME_NO_ANSWER, now);
			else if (l->st == TL_INIT)
				line_down(l, "the modem refused the init string", now);
			else if (l->st == TL_ANSWERING)
				line_set(l, TL_IDLE);
			break;
		case SL_MODEM_EV_NO_CARRIER:
			if (l->st == TL_DIALLING)
				dial_failed(l, SL_NAK_NO_ANSWER,
					    SL_TSP_OUTCOME_NO_ANSWER, now);
			else if (l->st == TL_ANSWERING || l->st == TL_RINGING)
				line_set(l, TL_IDLE);
			else if (l->st == TL_SETUP || l->st == TL_BRIDGED ||
				 l->st == TL_RELAY || l->st == TL_CLOSING)
				remote_hangup(l, now);
			break;
		case SL_MODEM_EV_TIMEOUT:
			if (l->st == TL_DIALLING)
				dial_failed(l, SL_NAK_NO_ANSWER,
					    SL_TSP_OUTCOME_NO_ANSWER, now);
			else if (l->st == TL_INIT)
				line_down(l, "the modem does not answer", now);
			else if (sl_modem_state(&l->modem) == SL_MODEM_OFF) {
				struct sl_modem_events ev2;

				/* ATH unanswered: start over. */
				line_set(l, TL_INIT);
				if (sl_modem_init(&l->modem,
						  tsp_init_string(l->t),
						  now, &ev2) == 0)
					modem_events(l, &ev2, now);
				else
					line_down(l, "modem init failed", now);
			} else if (l->st == TL_ANSWERING) {
				line_set(l, TL_HANGUP);
			}
			break;
		case SL_MODEM_EV_HUNG_UP:
			if (l->st == TL_HANGUP || l->st == TL_CLOSING)
				line_set(l, TL_IDLE);
			break;
		case SL_MODEM_EV_IO_ERROR:
			line_down(l, strerror(e->err), now);
			break;
		}
	}
}

/* ------------------------------------------------------------ lines */

static void line_hangup(struct tsp_line *l, int64_t now)
{
	struct sl_modem_events ev;

	sl_tsp_leg_free(l->leg);
	l->leg = NULL;
	l->leg_timer = 0;
	l->setup_deadline = 0;
	sl_outq_clear(&l->out);
	sl_rawline_init(&l->rl);
	if (l->fd < 0)
		return;
	switch (sl_modem_state(&l->modem)) {
	case SL_MODEM_READY:
		line_set(l, TL_IDLE);
		return;
	case SL_MODEM_HANGING_UP:
		line_set(l, TL_HANGUP);
		return;
	default:
		break;
	}
	if (!l->has_dtr) {
		/* A port without modem control lines (the test exchange's
		 * pseudo-terminals): closing it is the DTR drop, and the
		 * TSP's modems cannot take "+++" (the escape is disabled,
		 * SL_TSP_DEFAULT_INIT: a caller's own "+++", relayed, would
		 * put the recipient's leg in command mode and swallow
		 * "ended"). Reopened after a pause, so that the other side
		 * sees the close. */
		sl_log(LOG_INFO, "line %s: no DTR: hanging up by closing the port",
		       l->name);
		line_close_fd(l);
		line_set(l, TL_DOWN);
		l->retry_at = now + SL_TSP_CLOSE_HANGUP_MS;
		return;
	}
	line_set(l, TL_HANGUP);
	if (sl_modem_hangup(&l->modem, now, &ev)) {
		line_down(l, "hangup failed", now);
		return;
	}
	modem_events(l, &ev, now);
}

static void line_close_fd(struct tsp_line *l)
{
	if (l->fd < 0)
		return;
	epoll_ctl(l->t->ep, EPOLL_CTL_DEL, l->fd, NULL);
	sl_modem_release(&l->modem);
	close(l->fd);
	l->fd = -1;
	l->ep_added = false;
	l->ep_mask = 0;
}

static void line_down(struct tsp_line *l, const char *why, int64_t now)
{
	struct tsp_call *c = l->call;

	sl_log(LOG_ERR, "line %s: %s; trying again in %d s", l->name, why,
	       SL_TSP_REOPEN_MS / 1000);
	sl_tsp_leg_free(l->leg);
	l->leg = NULL;
	l->leg_timer = 0;
	sl_outq_free(&l->out);
	line_close_fd(l);
	line_set(l, TL_DOWN);
	l->retry_at = now + SL_TSP_REOPEN_MS;
	if (c) {
		l->call = NULL;
		if (c->caller == l) {
			c->caller = NULL;
			call_end(l->t, c, SL_TSP_OUTCOME_FAILED, NULL, now);
		} else {
			c->callee = NULL;
			call_refuse(l->t, c, SL_NAK_NO_ANSWER,
				    SL_NAK_DETAIL_RECIPIENT,
				    SL_TSP_OUTCOME_FAILED, now);
		}
	}
}

static void line_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	sl_log(level, "%s", msg);
}

static void line_open(struct tsp_line *l, int64_t now)
{
	struct sl_modem_events ev;
	char err[256];
	int ret;

	ret = sl_modem_open_tty(l->path, l->t->cfg->tsp.baud, false, &l->fd,
				err, sizeof(err));
	if (ret) {
		l->fd = -1;
		line_down(l, err, now);
		return;
	}
	{
		int bits;

		l->has_dtr = !ioctl(l->fd, TIOCMGET, &bits);
	}
	sl_modem_setup(&l->modem, l->name, l->fd, line_log, NULL);
	sl_rawline_init(&l->rl);
	line_set(l, TL_INIT);
	if (sl_modem_init(&l->modem, tsp_init_string(l->t), now, &ev)) {
		line_down(l, "modem init failed", now);
		return;
	}
	modem_events(l, &ev, now);
}

static void line_readable(struct tsp_line *l, int64_t now)
{
	uint8_t buf[SL_TSP_READ_CHUNK];
	ssize_t n = read(l->fd, buf, sizeof(buf));
	size_t off = 0;

	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		line_down(l, strerror(errno), now);
		return;
	}
	if (n == 0) {
		line_down(l, "end of file (the port was hung up)", now);
		return;
	}
	while (off < (size_t)n && l->fd >= 0) {
		struct sl_modem_events ev;
		size_t used;

		if (sl_modem_wants_read(&l->modem)) {
			used = sl_modem_input(&l->modem, buf + off,
					      (size_t)n - off, now, &ev);
			modem_events(l, &ev, now);
			if (!used && !ev.n)
				break;
		} else if (sl_modem_state(&l->modem) == SL_MODEM_DATA) {
			size_t matched = l->modem.scan_matched, data;

			used = sl_modem_data_scan(&l->modem, buf + off,
						  (size_t)n - off, &ev);
			/* The modem's "NO CARRIER" is not the far end's: not
			 * relayed (the other end's driver would take it for
			 * its own carrier loss), not billed. Its first bytes
			 * may have come in an earlier read and gone out
			 * already. */
			data = used;
			if (ev.n && used + matched >= SL_TSP_NO_CARRIER_LEN)
				data = used + matched - SL_TSP_NO_CARRIER_LEN;
			else if (ev.n)
				data = 0;
			data_in(l, buf + off, data);
			modem_events(l, &ev, now);
		} else {
			break;
		}
		off += used;
	}
}

static void line_writable(struct tsp_line *l, int64_t now)
{
	struct sl_modem_events ev;

	line_flush(l);
	if (l->fd >= 0 && sl_modem_wants_write(&l->modem)) {
		sl_modem_output(&l->modem, now, &ev);
		modem_events(l, &ev, now);
	}
}

static void line_timers(struct tsp_line *l, int64_t now)
{
	struct tsp_call *c = l->call;
	int64_t due;

	if (l->st == TL_DOWN) {
		if (now >= l->retry_at)
			line_open(l, now);
		return;
	}
	due = sl_modem_next_timer(&l->modem);
	if (due && now >= due) {
		struct sl_modem_events ev;

		sl_modem_timer(&l->modem, now, &ev);
		modem_events(l, &ev, now);
		if (l->fd < 0)
			return;
	}
	if (l->fd >= 0 && l->leg && l->leg_timer && now >= l->leg_timer) {
		struct sl_call_actions out;

		l->leg_timer = 0;
		if (sl_tsp_leg_timer(l->leg, (uint64_t)now, &out) == 0)
			leg_actions(l, &out, now);
	}
	if (l->st == TL_SETUP && l->setup_deadline && now >= l->setup_deadline) {
		sl_log(LOG_NOTICE, "line %s: no call setup within %d s", l->name,
		       SL_TSP_SETUP_MS / 1000);
		l->setup_deadline = 0;
		if (c && c->callee == l) {
			c->callee = NULL;
			l->call = NULL;
			line_hangup(l, now);
			call_refuse(l->t, c, SL_NAK_NO_ANSWER,
				    SL_NAK_DETAIL_RECIPIENT,
				    SL_TSP_OUTCOME_NO_ANSWER, now);
		} else if (c) {
			call_end(l->t, c, SL_TSP_OUTCOME_ABANDONED, NULL, now);
		} else {
			line_hangup(l, now);
		}
		return;
	}
	c = l->call;
	if (c && c->callee == l && !c->connected && c->answer_deadline &&
	    now >= c->answer_deadline) {
		sl_log(LOG_NOTICE, "call %016" PRIx64 ": no answer within %u s",
		       c->id, l->t->cfg->tsp.answer_timeout);
		c->callee = NULL;
		l->call = NULL;
		line_hangup(l, now);
		call_refuse(l->t, c, SL_NAK_NO_ANSWER, SL_NAK_DETAIL_RECIPIENT,
			    SL_TSP_OUTCOME_NO_ANSWER, now);
		return;
	}
	if (c && c->caller == l && c->connected &&
	    now - c->cdr_saved >= SL_TSP_CDR_BYTES_MS) {
		struct sl_tsp_cdr_update u = {
			.set = SL_TSP_CDR_SET_BYTES, .bytes_up = c->up,
			.bytes_down = c->down, .now_ms = wall_ms(),
		};

		c->cdr_saved = now;
		if (sl_tsp_cdr_update(&l->t->st, c->id, &u))
			sl_log(LOG_ERR, "call %016" PRIx64 ": record: %s", c->id,
			       sl_tsp_store_error(&l->t->st));
	}
	if (l->st == TL_CLOSING && now >= l->close_at &&
	    (!sl_outq_len(&l->out) || now >= l->close_at + SL_TSP_DRAIN_MS))
		line_hangup(l, now);
}

static int64_t line_next_timer(const struct tsp_line *l)
{
	int64_t next = 0;
	int64_t cand[6] = {
		l->st == TL_DOWN ? l->retry_at : 0,
		l->fd >= 0 ? sl_modem_next_timer(&l->modem) : 0,
		l->leg ? l->leg_timer : 0,
		l->st == TL_SETUP ? l->setup_deadline : 0,
		l->call && l->call->callee == l && !l->call->connected ?
			l->call->answer_deadline : 0,
		l->st == TL_CLOSING ? l->close_at : 0,
	};

	for (int i = 0; i < 6; ++i)
		if (cand[i] && (!next || cand[i] < next))
			next = cand[i];
	if (l->call && l->call->caller == l && l->call->connected) {
		int64_t t = l->call->cdr_saved + SL_TSP_CDR_BYTES_MS;

		if (!next || t < next)
			next = t;
	}
	return next;
}

static uint32_t line_wanted(const struct tsp_line *l)
{
	uint32_t m = 0;

	if (l->fd < 0)
		return 0;
	if (l->st == TL_RELAY) {
		const struct tsp_line *o = partner(l);

		if (!o || sl_outq_len(&o->out) < SL_OUTQ_HIGH)
			m |= EPOLLIN;
	} else {
		m |= EPOLLIN;
	}
	if (sl_outq_len(&l->out) || sl_modem_wants_write(&l->modem))
		m |= EPOLLOUT;
	return m;
}

/* ------------------------------------------------------------ control */

/* The epoll tag of the control socket and its clients. */
static char ipc_tag;

static void send_status(struct tsp *t, struct sl_ipc_client *c)
{
	char hex[2 * SL_X25519_KEY_LEN + 1], fp[SL_KS_FINGERPRINT_LEN + 1];
	struct sl_ipc_builder b;

	for (int i = 0; i < SL_X25519_KEY_LEN; ++i)
		snprintf(hex + 2 * i, 3, "%02x", t->ks.id.pub[i]);
	sl_ks_fingerprint(fp, t->ks.id.pub);
	sl_ipc_build(&b, "daemon");
	sl_ipc_addf(&b, "pid", "%ld", (long)getpid());
	sl_ipc_add(&b, "role", "tsp");
	if (t->cfg->name[0])
		sl_ipc_add(&b, "name", t->cfg->name);
	sl_ipc_add(&b, "config", t->cfg->path);
	sl_ipc_add(&b, "state_dir", t->cfg->state_dir);
	sl_ipc_add(&b, "database", t->cfg->tsp.database);
	sl_ipc_add(&b, "public_key", hex);
	sl_ipc_add(&b, "fingerprint", fp);
	sl_ipc_addf(&b, "uptime", "%" PRId64, (int64_t)time(NULL) - t->started);
	sl_ipc_addf(&b, "lines", "%u", t->n);
	sl_ipc_addf(&b, "calls", "%u", t->calls);
	sl_ipc_send_record(c, &b);
	for (unsigned int i = 0; i < t->n; ++i) {
		const struct tsp_line *l = &t->lines[i];
		const struct tsp_call *k = l->call;

		sl_ipc_build(&b, "line");
		sl_ipc_add(&b, "tty", l->name);
		sl_ipc_add(&b, "path", l->path);
		sl_ipc_add(&b, "state", tl_state_names[l->st]);
		sl_ipc_add(&b, "modem", sl_modem_state_name(sl_modem_state(&l->modem)));
		if (k) {
			sl_ipc_addf(&b, "call_tracking", "%016" PRIx64, k->id);
			sl_ipc_add(&b, "call_leg", k->caller == l ? "caller" : "recipient");
			if (k->caller_acct[0])
				sl_ipc_add(&b, "caller", k->caller_acct);
			if (k->recipient[0])
				sl_ipc_add(&b, "recipient", k->recipient);
			sl_ipc_addf(&b, "bytes_up", "%" PRIu64, k->up);
			sl_ipc_addf(&b, "bytes_down", "%" PRIu64, k->down);
		}
		sl_ipc_send_record(c, &b);
	}
}

static void on_request(struct sl_ipc_client *c, const char *text, size_t len,
		       void *arg)
{
	struct tsp *t = arg;
	const struct sl_ipc_verb *verb;
	struct sl_ipc_req req;

	verb = sl_ipc_request(c, text, len, &req);
	if (!verb)
		goto out;
	if (!strcmp(verb->name, "hello")) {
		sl_ipc_sendf(c, "ok version=%d daemon=sealined role=tsp pid=%ld",
			     SL_IPC_VERSION, (long)getpid());
	} else if (!strcmp(verb->name, "status")) {
		send_status(t, c);
		sl_ipc_send_ok(c);
	} else {
		sl_ipc_send_err(c, -EOPNOTSUPP, "this sealined is a TSP: it has no peers, session log or lines to pair or call on (its accounts and call records: sealctl tsp)");
	}
out:
	sl_wipe(&req, sizeof(req));
}

/* The control socket or a client is readable or writable: serve them all
 * (at most SL_IPC_MAX_CLIENTS + 1 descriptors, so a poll() is cheap). */
static void ipc_ready(struct tsp *t)
{
	struct pollfd pfd[1 + SL_IPC_MAX_CLIENTS];
	int64_t now = (int64_t)time(NULL);

	pfd[0] = (struct pollfd){ .fd = t->ipc.fd, .events = POLLIN };
	for (int i = 0; i < SL_IPC_MAX_CLIENTS; ++i) {
		struct sl_ipc_client *c = t->ipc.clients[i];

		pfd[1 + i] = (struct pollfd){
			.fd = c ? c->fd : -1,
			.events = (short)(c ? ((c->closing ? 0 : POLLIN) |
					       (c->out_len ? POLLOUT : 0)) : 0),
		};
	}
	if (poll(pfd, 1 + SL_IPC_MAX_CLIENTS, 0) <= 0)
		return;
	for (int i = 0; i < SL_IPC_MAX_CLIENTS; ++i) {
		struct sl_ipc_client *c = t->ipc.clients[i];
		short re = pfd[1 + i].revents;

		if (!c || !re)
			continue;
		if ((re & (POLLIN | POLLHUP | POLLERR)) &&
		    sl_ipc_client_read(c, on_request, t, now)) {
			sl_ipc_drop(&t->ipc, c);
			continue;
		}
		if ((c->out_len || c->closing) && sl_ipc_client_flush(c))
			sl_ipc_drop(&t->ipc, c);
	}
	if (pfd[0].revents)
		sl_ipc_accept(&t->ipc, now);
}

/* New clients join the epoll set; idle ones are dropped. */
static void ipc_interest(struct tsp *t)
{
	int64_t now = (int64_t)time(NULL);

	for (int i = 0; i < SL_IPC_MAX_CLIENTS; ++i) {
		struct sl_ipc_client *c = t->ipc.clients[i];
		struct epoll_event e = { .data.ptr = &ipc_tag };

		if (c && now - c->last_active > SL_IPC_IDLE_TIMEOUT) {
			sl_ipc_drop(&t->ipc, c);
			c = NULL;
		}
		if (!c) {
			t->ipc_fds[i] = -1;	/* closed: epoll forgot it */
			continue;
		}
		e.events = EPOLLIN | (c->out_len ? EPOLLOUT : 0);
		if (t->ipc_fds[i] != c->fd) {
			if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &e) == 0)
				t->ipc_fds[i] = c->fd;
		} else {
			epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &e);
		}
	}
}

/* ------------------------------------------------------------ main */

static int add_lines(struct tsp *t, char *err, size_t err_len)
{
	const struct sl_tsp_conf *tc = &t->cfg->tsp;
	glob_t g = { 0 };
	int ret = 0;

	for (unsigned int i = 0; i < tc->n_lines; ++i) {
		int r = glob(tc->lines[i], GLOB_APPEND | GLOB_NOCHECK, NULL, &g);

		if (r && r != GLOB_NOMATCH) {
			snprintf(err, err_len, "lines: cannot expand '%.200s'",
				 tc->lines[i]);
			ret = -EINVAL;
			goto out;
		}
	}
	if (g.gl_pathc > SL_TSP_MAX_LINES) {
		snprintf(err, err_len, "lines: %zu paths, at most %d", g.gl_pathc,
			 SL_TSP_MAX_LINES);
		ret = -E2BIG;
		goto out;
	}
	t->lines = calloc(g.gl_pathc, sizeof(*t->lines));
	if (!t->lines) {
		ret = -ENOMEM;
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < g.gl_pathc; ++i) {
		struct tsp_line *l = &t->lines[t->n];
		const char *base = strrchr(g.gl_pathv[i], '/');

		base = base ? base + 1 : g.gl_pathv[i];
		if (strlen(g.gl_pathv[i]) >= sizeof(l->path) ||
		    !sl_tsp_line_valid(base)) {
			snprintf(err, err_len, "lines: '%.200s' is not a usable serial port name",
				 g.gl_pathv[i]);
			ret = -EINVAL;
			goto out;
		}
		for (unsigned int j = 0; j < t->n; ++j) {
			if (!strcmp(t->lines[j].name, base)) {
				snprintf(err, err_len, "lines: two lines are named '%s' (%.200s, %.200s): names identify lines in call records",
					 base, t->lines[j].path, g.gl_pathv[i]);
				ret = -EINVAL;
				goto out;
			}
		}
		l->t = t;
		l->fd = -1;
		snprintf(l->path, sizeof(l->path), "%s", g.gl_pathv[i]);
		snprintf(l->name, sizeof(l->name), "%s", base);
		t->n++;
	}
out:
	globfree(&g);
	return ret;
}

/* sealined's signalfd (SIGTERM, SIGINT, SIGHUP; SIGPIPE ignored). */
static int watch_signals(struct tsp *t)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };

	if (epoll_ctl(t->ep, EPOLL_CTL_ADD, t->sigfd, &e) < 0)
		return -errno;
	return 0;
}

static void on_signal(struct tsp *t)
{
	struct signalfd_siginfo si;

	while (read(t->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			sl_log(LOG_NOTICE, "SIGHUP: nothing to reload (the account store is read at every call)");
			continue;
		}
		sl_log(LOG_NOTICE, "%s: stopping", strsignal((int)si.ssi_signo));
		t->stop = true;
	}
}

static void update_interest(struct tsp *t)
{
	for (unsigned int i = 0; i < t->n; ++i) {
		struct tsp_line *l = &t->lines[i];
		uint32_t want = line_wanted(l);
		struct epoll_event e = { .events = want, .data.ptr = l };

		if (l->fd < 0 || (l->ep_added && want == l->ep_mask))
			continue;
		/* A relayed line whose partner is backed up stays in the
		 * set with no events (hangups are still reported). */
		if (epoll_ctl(t->ep, l->ep_added ? EPOLL_CTL_MOD :
			      EPOLL_CTL_ADD, l->fd, &e) < 0) {
			sl_log(LOG_ERR, "line %s: epoll: %s", l->name,
			       strerror(errno));
			continue;
		}
		l->ep_added = true;
		l->ep_mask = want;
	}
}

static int loop(struct tsp *t)
{
	struct epoll_event evs[64];

	while (!t->stop) {
		int64_t now = mono_ms(), next = 0, timeout;
		int n;

		for (unsigned int i = 0; i < t->n; ++i)
			line_timers(&t->lines[i], now);
		update_interest(t);
		ipc_interest(t);
		for (unsigned int i = 0; i < t->n; ++i) {
			int64_t d = line_next_timer(&t->lines[i]);

			if (d && (!next || d < next))
				next = d;
		}
		timeout = !next ? 1000 : next > now ? next - now : 0;
		if (timeout > 1000)
			timeout = 1000;
		n = epoll_wait(t->ep, evs, 64, (int)timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			sl_log(LOG_ERR, "epoll_wait: %s", strerror(errno));
			return -errno;
		}
		now = mono_ms();
		for (int i = 0; i < n; ++i) {
			struct tsp_line *l = evs[i].data.ptr;

			if (!l) {
				on_signal(t);
				continue;
			}
			if ((void *)l == &ipc_tag) {
				ipc_ready(t);
				continue;
			}
			if (l->fd < 0)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				line_readable(l, now);
			if (l->fd >= 0 && (evs[i].events & EPOLLOUT))
				line_writable(l, now);
		}
	}
	return 0;
}

static void shutdown_calls(struct tsp *t)
{
	int64_t now = mono_ms();

	for (unsigned int i = 0; i < t->n; ++i) {
		struct tsp_call *c = t->lines[i].call;

		if (c)
			call_end(t, c, SL_TSP_OUTCOME_INTERRUPTED, NULL, now);
	}
	for (unsigned int i = 0; i < t->n; ++i) {
		struct tsp_line *l = &t->lines[i];

		sl_tsp_leg_free(l->leg);
		l->leg = NULL;
		sl_outq_free(&l->out);
		/* HUPCL: closing drops DTR, which hangs the modem up. */
		line_close_fd(l);
	}
}

int sl_tsp_main(const struct sl_config *cfg, int sigfd)
{
	struct tsp t = { .cfg = cfg, .ep = -1, .sigfd = sigfd };
	const char *instance = cfg->tsp.instance;
	char err[1024], host[SL_CONF_TSP_INSTANCE_MAX + 1] = "";
	char fp[SL_KS_FINGERPRINT_LEN + 1], hex[2 * SL_X25519_KEY_LEN + 1];
	struct rlimit rl;
	int ret, status = 1;

	ret = add_lines(&t, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "%s: %s", cfg->path, err);
		goto out;
	}
	/* Two descriptors per line at most (the line, epoll's view of it). */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ret = sl_crypto_init(SL_CALL_TSP_POOL_SIZE(t.n), 0, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "cryptography: %s", err);
		goto out_lines;
	}
	ret = sl_ks_open(&t.ks, cfg->state_dir, cfg->account, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "key store: %s", err);
		goto out_lines;
	}
	if (!instance[0]) {
		gethostname(host, sizeof(host) - 1);
		for (char *p = host; *p; ++p)
			if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
				*p = '-';
		instance = host[0] ? host : "tsp";
	}
	ret = sl_tsp_store_open(&t.st, cfg->tsp.database, instance,
				SL_TSP_OPEN_CREATE | SL_TSP_OPEN_SERVER, err,
				sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "account store: %s", err);
		goto out_ks;
	}
	sl_ks_fingerprint(fp, t.ks.id.pub);
	for (int i = 0; i < SL_X25519_KEY_LEN; ++i)
		snprintf(hex + 2 * i, 3, "%02x", t.ks.id.pub[i]);
	sl_log(LOG_NOTICE, "TSP %s starting: %u lines, store %s (%u open call records from before closed as interrupted), static key %s (fingerprint %s): endpoints pin this key",
	       instance, t.n, cfg->tsp.database, t.st.recovered, hex, fp);

	t.ep = epoll_create1(EPOLL_CLOEXEC);
	if (t.ep < 0) {
		sl_log(LOG_ERR, "epoll: %s", strerror(errno));
		goto out_store;
	}
	ret = watch_signals(&t);
	if (ret) {
		sl_log(LOG_ERR, "signals: %s", strerror(-ret));
		goto out_ep;
	}
	ret = sl_ipc_listen(&t.ipc, cfg->socket_path, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "control socket: %s", err);
		goto out_ep;
	}
	{
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = &ipc_tag };

		for (int i = 0; i < SL_IPC_MAX_CLIENTS; ++i)
			t.ipc_fds[i] = -1;
		if (epoll_ctl(t.ep, EPOLL_CTL_ADD, t.ipc.fd, &e) < 0) {
			sl_log(LOG_ERR, "epoll: %s", strerror(errno));
			goto out_ipc;
		}
	}
	t.started = (int64_t)time(NULL);
	for (unsigned int i = 0; i < t.n; ++i)
		line_open(&t.lines[i], mono_ms());
	ret = loop(&t);
	status = ret ? 1 : 0;
	shutdown_calls(&t);
out_ipc:
	sl_ipc_close(&t.ipc);
out_ep:
	close(t.ep);
out_store:
	sl_tsp_store_close(&t.st);
out_ks:
	sl_ks_close(&t.ks);
out_lines:
	for (unsigned int i = 0; i < t.n; ++i) {
		sl_outq_free(&t.lines[i].out);
		line_close_fd(&t.lines[i]);
	}
	free(t.lines);
out:
	sl_log(status ? LOG_ERR : LOG_NOTICE, "TSP %s", status ? "failed" : "stopped");
	return status;
}
