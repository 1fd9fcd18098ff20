// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * An endpoint's dial-up line (dialer.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "call.h"
#include "crypto.h"
#include "dialer.h"
#include "dialer_internal.h"
#include "clock.h"
#include "keystore.h"
#include "log.h"
#include "modem.h"

static const char *const dl_names[] = {
	[DL_DOWN] = "down", [DL_INIT] = "init", [DL_IDLE] = "idle",
	[DL_DIALLING] = "dialling", [DL_ANSWERING] = "answering",
	[DL_SETUP] = "setup", [DL_CONNECTED] = "connected",
	[DL_HANGUP] = "hangup", [DL_LEG] = "tsp-leg",
};
const char *sl_dialer_state_name(enum dl_state st)
{
	return dl_names[st];
}

const char *sl_dialer_tty(const struct sl_dialer *d)
{
	return d->base->tty;
}

void sl_dialer_set_state(struct sl_dialer *d, enum dl_state st)
{
	if (d->st != st)
		sl_log(LOG_DEBUG, "%s: dialer %s -> %s", sl_dialer_tty(d), dl_names[d->st],
		       dl_names[st]);
	d->st = st;
}

static void op_info(struct sl_dialer *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void op_info(struct sl_dialer *d, const char *fmt, ...)
{
	struct sl_ipc_builder b;
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	sl_log(LOG_INFO, "%s: %s", sl_dialer_tty(d), text);
	if (!d->op)
		return;
	sl_ipc_build(&b, "info");
	sl_ipc_add(&b, "text", text);
	sl_ipc_send_record(d->op, &b);
}

/* Ends the operator's `sealctl call`: err 0 is ok. */
static void op_end(struct sl_dialer *d, int err, const char *text)
{
	struct sl_ipc_client *c = d->op;

	if (!c)
		return;
	d->op = NULL;
	c->pairing = NULL;
	if (!err)
		sl_ipc_sendf(c, "ok peer=%s tracking=%016" PRIx64, d->peer,
			     d->tracking);
	else
		sl_ipc_send_err(c, err, "%s", text);
}

/* ------------------------------------------------------------ ending */

static void end_call(struct sl_dialer *d, const char *why, int64_t now);

/* Back to command mode and on hook; the call's keys and handshake go. A
 * leg to the TSP learns its end last, when the modem is hanging up: what
 * it places next waits for the line to be idle again. */
void sl_dialer_end_call(struct sl_dialer *d, const char *why, int64_t now)
{
	const struct sl_dialer_leg_ops *leg = d->leg;
	void *ctx = d->leg_ctx;

	if (leg) {
		if (d->st == DL_LEG)
			sl_log(LOG_NOTICE, "%s: leg to the TSP ended: %s",
			       sl_dialer_tty(d), why);
		d->leg = NULL;
		d->leg_ctx = NULL;
		sl_byteq_drop(&d->leg_out);
	}
	end_call(d, why, now);
	if (leg)
		leg->ended(ctx, why, now);
}

static void end_call(struct sl_dialer *d, const char *why, int64_t now)
{
	struct sl_modem_events ev;
	int ldisc = N_TTY;
	bool attempt = d->st == DL_DIALLING || d->st == DL_ANSWERING ||
		       d->st == DL_SETUP || d->st == DL_CONNECTED;

	sl_demand_call_over(d, why, now);
	if (d->call) {
		sl_call_free(d->call);
		d->call = NULL;
		d->call_timer = 0;
	}
	op_end(d, -ECONNRESET, why);
	if (d->st == DL_SETUP || d->st == DL_CONNECTED) {
		/* Without the discipline (an answer's call setup before the
		 * offer) the line never had a key or a handshake. */
		if (!d->framed) {
			d->ops->over(d->ctx, why, now);
			/* The kernel wipes the line's keys as the discipline
			 * goes. */
			if (d->fd >= 0 && ioctl(d->fd, TIOCSETD, &ldisc) < 0)
				sl_log(LOG_WARNING, "%s: back to N_TTY: %s",
				       sl_dialer_tty(d), strerror(errno));
		}
		sl_log(LOG_NOTICE, "%s: call with %s (tracking %016" PRIx64 ") ended: %s",
		       sl_dialer_tty(d), d->peer[0] ? d->peer : "(not known yet)",
		       d->tracking, why);
	}
	if (attempt && d->ops->ended && d->st != DL_LEG && !d->caller_leg)
		d->ops->ended(d->ctx, why, now);
	d->caller_leg = false;
	d->framed = false;
	sl_byteq_drop(&d->leg_out);
	d->accept_pending = false;
	d->nak_hangup_at = 0;
	d->held_hsid = 0;
	d->held_heard = 0;
	memset(d->peer, 0, sizeof(d->peer));
	memset(d->recipient, 0, sizeof(d->recipient));
	d->tracking = 0;
	d->attach_deadline = 0;
	if (d->fd < 0)
		return;
	switch (sl_modem_state(&d->modem)) {
	case SL_MODEM_READY:
		sl_dialer_set_state(d, DL_IDLE);
		return;
	case SL_MODEM_HANGING_UP:
		sl_dialer_set_state(d, DL_HANGUP);
		return;
	default:
		break;
	}
	sl_dialer_set_state(d, DL_HANGUP);
	if (sl_modem_hangup(&d->modem, now, &ev) == 0)
		sl_dialer_modem_events(d, &ev, now);
}

static void port_down(struct sl_dialer *d, const char *why, int64_t now)
{
	sl_log(LOG_ERR, "%s: modem: %s; trying again in %d s", sl_dialer_tty(d), why,
	       SL_DIALER_REOPEN_MS / 1000);
	sl_dialer_end_call(d, why, now);
	if (d->fd >= 0) {
		sl_modem_release(&d->modem);
		if (d->dod)
			sl_demand_forget(d->dod, d->fd, &d->dod->ev_port);
		close(d->fd);
		d->fd = -1;
	}
	sl_dialer_set_state(d, DL_DOWN);
	d->retry_at = now + SL_DIALER_REOPEN_MS;
}

/* ------------------------------------------------------------ the call */

static void start_setup(struct sl_dialer *d, int64_t now);

static void connected_modem(struct sl_dialer *d, int64_t now)
{
	int ldisc = d->base->ldisc ? d->base->ldisc : SEALINE_LDISC_DEFAULT;

	if (d->leg) {
		sl_dialer_leg_up(d, now);
		return;
	}
	if (!d->caller) {
		/* Call setup before the discipline: the offer says whether
		 * this is a call or a held delivery (dialer.h). */
		sl_dialer_frame_here(d);
		sl_dialer_set_state(d, DL_SETUP);
		sl_log(LOG_INFO, "%s: answered; call setup with the TSP",
		       sl_dialer_tty(d));
		start_setup(d, now);
		return;
	}

	if (ioctl(d->fd, TIOCSETD, &ldisc) < 0) {
		int err = errno;

		sl_log(LOG_ERR, "%s: cannot attach the sealine line discipline (%d): %s%s",
		       sl_dialer_tty(d), ldisc, strerror(err),
		       err == EINVAL ? " (is the sealine module loaded?)" : "");
		op_end(d, -err, "cannot attach the sealine line discipline");
		sl_dialer_end_call(d, "no line discipline", now);
		return;
	}
	sl_dialer_set_state(d, DL_SETUP);
	d->attach_deadline = now + SL_DIALER_ATTACH_MS;
	op_info(d, "connected to the TSP, line discipline attached");
	/* The line appears in the kernel now: become its agent. */
	d->ops->attached(d->ctx, now);
}

void sl_dialer_line_up(struct sl_dialer *d, int64_t now)
{
	if (d->st != DL_SETUP || d->framed)
		return;
	d->attach_deadline = 0;
	if (d->accept_pending) {
		/* The call we accepted: its discipline is there now. */
		d->accept_pending = false;
		sl_dialer_offer_reply(d, SL_NAK_NONE, now);
		return;
	}
	if (!d->call)
		start_setup(d, now);
}

static void start_setup(struct sl_dialer *d, int64_t now)
{
	struct sl_call_config cc = {
		.static_priv = d->ks->id.priv,
		.tsp_pub = d->base->tsp_key,
		.baud = d->base->baud,
	};
	struct sl_call_actions out;
	int err, ret;

	memcpy(cc.account, d->ks->id.account, SL_ACCOUNT_LEN);
	d->call = sl_call_new(&cc, &err);
	if (!d->call) {
		sl_log(LOG_ERR, "%s: call setup: %s", sl_dialer_tty(d), strerror(-err));
		sl_dialer_end_call(d, "call setup could not start", now);
		return;
	}
	ret = sl_call_start(d->call, d->caller ? SL_CALL_PURPOSE_CALL :
			    SL_CALL_PURPOSE_ANSWER,
			    d->caller ? d->recipient : NULL, (uint64_t)now,
			    &out);
	if (ret) {
		sl_log(LOG_ERR, "%s: call setup: %s", sl_dialer_tty(d), strerror(-ret));
		sl_dialer_end_call(d, "call setup could not start", now);
		return;
	}
	sl_dialer_call_actions(d, &out, now);
}

bool sl_dialer_connected(const struct sl_dialer *d)
{
	return d->st == DL_CONNECTED;
}

bool sl_dialer_idle(const struct sl_dialer *d)
{
	return d->st == DL_IDLE;
}

const char *sl_dialer_peer(const struct sl_dialer *d)
{
	if (d->peer[0])
		return d->peer;
	return d->recipient;
}

bool sl_dialer_control(struct sl_dialer *d, const uint8_t *msg, size_t len,
		       int64_t now)
{
	struct sl_call_actions out;
	uint8_t type = len >= 2 ? msg[1] : 0;

	if (!d->call)
		return d->st == DL_SETUP;	/* nothing end to end yet */
	/* Before the bridge everything is call setup; after it only
	 * CALL_STATUS (ended) is, the rest is the handshake's. */
	if (d->st == DL_CONNECTED && type != SL_MSG_CALL_STATUS)
		return false;
	if (d->st != DL_CONNECTED && !sl_call_msg_is_setup(type) &&
	    type != SL_MSG_NAK)
		return true;
	if (sl_call_input(d->call, msg, len, (uint64_t)now, &out) == 0)
		sl_dialer_call_actions(d, &out, now);
	return true;
}

/* The answerer's decision: a caller it knows and authorised, or any
 * caller on a line that takes pairings (first contact). */
static bool accept_caller(struct sl_dialer *d, const char *caller)
{
	const struct sl_peer *p = sl_ks_find(d->ks, caller);

	if (p && sl_ks_peer_allowed(p))
		return true;
	if (p && p->revoked)
		return false;
	return d->base->pairing;
}

/*
 * What the operator reads when a call fails (sealctl call, the log): the
 * TSP's refusal in words, its reason's protocol name in parentheses (what
 * the TSP's log and call record say).
 */
static void call_failure_text(char *out, size_t size,
			      const struct sl_call_action *a)
{
	bool rcpt = a->detail == SL_NAK_DETAIL_RECIPIENT;
	const char *whose = rcpt ? "the recipient's" : "your";
	const char *what;
	char buf[96];

	switch (a->reason) {
	case SL_NAK_NONE:
		snprintf(out, size, "call setup failed: %s",
			 a->text ? a->text : "unknown error");
		return;
	case SL_NAK_UNKNOWN_ACCOUNT:
		snprintf(buf, sizeof(buf), "%s account is not known to the TSP",
			 whose);
		what = buf;
		break;
	case SL_NAK_ACCOUNT_DISABLED:
		snprintf(buf, sizeof(buf), "%s account is disabled", whose);
		what = buf;
		break;
	case SL_NAK_CALLER_ID_MISMATCH:
		what = "this line's caller ID is not bound to your account";
		break;
	case SL_NAK_NOT_AUTHORISED:
		what = "the recipient does not take calls from your account";
		break;
	case SL_NAK_IDENTITY_MISMATCH:
		what = "your key is not the one the TSP has for your account";
		break;
	case SL_NAK_BUSY:
	case SL_NAK_NO_ANSWER:
		/* Not a refusal: the TSP tried. */
		snprintf(out, size, "the call did not go through: %s (%s)",
			 a->reason == SL_NAK_BUSY ? "the recipient's line is busy" :
			 "the recipient did not answer",
			 sl_nak_reason_name(a->reason));
		return;
	default:
		what = NULL;
		break;
	}
	if (a->remote)
		snprintf(out, size, "the TSP refused the call: %s (%s)",
			 what ? what : "no reason given",
			 sl_nak_reason_name(a->reason));
	else
		snprintf(out, size, "call setup failed: %s (%s)",
			 what ? what : (a->text ? a->text : "refused"),
			 sl_nak_reason_name(a->reason));
}

/* Our answer to the offer: accept (reason SL_NAK_NONE) or a NAK. */
void sl_dialer_offer_reply(struct sl_dialer *d, uint8_t reason, int64_t now)
{
	struct sl_call_actions out;

	if (d->call && sl_call_offer_reply(d->call, reason == SL_NAK_NONE,
					   reason, SL_NAK_DETAIL_CALLER,
					   (uint64_t)now, &out) == 0)
		sl_dialer_call_actions(d, &out, now);
}

/* T offers a call from caller: the discipline is attached before
 * CALL_ACCEPT, so that the rest of the call runs through the kernel as
 * when we call. */
static void offer_call(struct sl_dialer *d, const char *caller, int64_t now)
{
	int ldisc = d->base->ldisc ? d->base->ldisc : SEALINE_LDISC_DEFAULT;

	if (!accept_caller(d, caller)) {
		sl_log(LOG_NOTICE, "%s: the TSP offers a call from %s (tracking %016" PRIx64 "): refused, not an authorised peer and pairing is off",
		       sl_dialer_tty(d), caller, d->tracking);
		sl_dialer_offer_reply(d, SL_NAK_NOT_AUTHORISED, now);
		return;
	}
	if (ioctl(d->fd, TIOCSETD, &ldisc) < 0) {
		int err = errno;

		sl_log(LOG_ERR, "%s: the TSP offers a call from %s (tracking %016" PRIx64 "): refused, the sealine line discipline (%d) cannot be attached: %s%s",
		       sl_dialer_tty(d), caller, d->tracking, ldisc,
		       strerror(err),
		       err == EINVAL ? " (is the sealine module loaded?)" : "");
		sl_dialer_offer_reply(d, SL_NAK_REFUSED, now);
		return;
	}
	sl_log(LOG_NOTICE, "%s: the TSP offers a call from %s (tracking %016" PRIx64 "): accepted, line discipline attached",
	       sl_dialer_tty(d), caller, d->tracking);
	d->framed = false;
	sl_byteq_drop(&d->leg_out);
	d->accept_pending = true;
	d->attach_deadline = now + SL_DIALER_ATTACH_MS;
	/* The line appears in the kernel now: become its agent; its
	 * registration sends CALL_ACCEPT (sl_dialer_line_up()). */
	d->ops->attached(d->ctx, now);
}

void sl_dialer_call_actions(struct sl_dialer *d,
			    const struct sl_call_actions *out, int64_t now)
{
	d->call_timer = (int64_t)out->next_timer;
	for (unsigned int i = 0; i < out->n && d->call; ++i) {
		const struct sl_call_action *a = &out->a[i];
		int ret;

		switch (a->type) {
		case SL_CALL_ACT_SEND:
			ret = d->framed ? sl_dialer_leg_send(d, a->msg, a->len) :
			      d->ops->send_control(d->ctx, a->msg, a->len);
			if (ret)
				sl_log(LOG_WARNING, "%s: %s not sent: %s",
				       sl_dialer_tty(d), sl_hs_msg_name(a->msg_type),
				       strerror(-ret));
			break;
		case SL_CALL_ACT_NAK:
			sl_log(LOG_NOTICE, "%s: call setup: NAK %s %s (detail %s)%s",
			       sl_dialer_tty(d), sl_nak_reason_name(a->reason),
			       a->sent ? "sent" : "received",
			       a->detail == SL_NAK_DETAIL_CALLER ? "caller" :
			       a->detail == SL_NAK_DETAIL_RECIPIENT ?
			       "recipient" : "-",
			       a->unauthenticated ? ", unauthenticated" : "");
			break;
		case SL_CALL_ACT_DIALLING:
			d->tracking = a->tracking_id;
			op_info(d, "the TSP accepted the call (tracking %016" PRIx64 ") and dials the recipient",
				d->tracking);
			break;
		case SL_CALL_ACT_OFFER:
			d->tracking = a->tracking_id;
			snprintf(d->peer, sizeof(d->peer), "%s", a->account);
			if (a->flags & SL_CALL_OFFER_HELD)
				sl_dialer_offer_held(d, a->account, now);
			else
				offer_call(d, a->account, now);
			break;
		case SL_CALL_ACT_CONNECTED:
			d->tracking = a->tracking_id;
			snprintf(d->peer, sizeof(d->peer), "%s", a->account);
			if (a->flags & SL_CALL_OFFER_HELD) {
				sl_dialer_held_connected(d, a->hsid, now);
				break;
			}
			sl_dialer_set_state(d, DL_CONNECTED);
			sl_log(LOG_NOTICE, "%s: call %s %s connected (tracking %016" PRIx64 ")",
			       sl_dialer_tty(d), d->caller ? "to" : "from", d->peer,
			       d->tracking);
			op_end(d, 0, NULL);
			d->ops->connected(d->ctx, d->peer, d->caller, now);
			break;
		case SL_CALL_ACT_ENDED:
			sl_dialer_end_call(d, "the other side hung up", now);
			return;
		case SL_CALL_ACT_FAILED: {
			char why[192];

			call_failure_text(why, sizeof(why), a);
			sl_log(LOG_NOTICE, "%s: %s", sl_dialer_tty(d), why);
			op_end(d, a->reason == SL_NAK_BUSY ? -EBUSY :
			       a->reason ? -ECONNREFUSED : -ETIMEDOUT, why);
			if (d->framed && !a->remote && a->reason) {
				/* Our NAK (a refused offer) must leave before
				 * the modem hangs up. */
				sl_call_free(d->call);
				d->call = NULL;
				d->call_timer = 0;
				snprintf(d->nak_why, sizeof(d->nak_why), "%s", why);
				d->nak_hangup_at = now + SL_DIALER_NAK_HANGUP_MS;
				return;
			}
			sl_dialer_end_call(d, why, now);
			return;
		}
		default:
			break;
		}
	}
}

int sl_dialer_call(struct sl_dialer *d, const char *recipient,
		   struct sl_ipc_client *c, int64_t now, char *err,
		   size_t err_len)
{
	struct sl_modem_events ev;
	int ret;

	if (!sl_account_valid(recipient)) {
		snprintf(err, err_len, "'%s' is not an account number (12 digits)",
			 recipient);
		return -EINVAL;
	}
	if (!strcmp(recipient, d->ks->id.account)) {
		snprintf(err, err_len, "%s is this installation's own account",
			 recipient);
		return -EINVAL;
	}
	if (d->st != DL_IDLE) {
		snprintf(err, err_len, "%s is %s, not idle", sl_dialer_tty(d),
			 dl_names[d->st]);
		return -EBUSY;
	}
	if (c && c->pairing) {
		snprintf(err, err_len, "this connection is already waiting for a pairing or a call");
		return -EBUSY;
	}
	ret = sl_modem_dial(&d->modem, d->base->tsp_number, now, &ev);
	if (ret) {
		snprintf(err, err_len, "the modem cannot dial: %s", strerror(-ret));
		return ret;
	}
	d->caller = true;
	snprintf(d->recipient, sizeof(d->recipient), "%s", recipient);
	if (c) {
		d->op = c;
		c->pairing = d;		/* busy: no idle timeout */
	}
	sl_dialer_set_state(d, DL_DIALLING);
	op_info(d, "dialling the TSP for a call to %s", recipient);
	sl_dialer_modem_events(d, &ev, now);
	return 0;
}

int sl_dialer_hangup(struct sl_dialer *d, const char *why, int64_t now)
{
	if (d->st != DL_DIALLING && d->st != DL_ANSWERING &&
	    d->st != DL_SETUP && d->st != DL_CONNECTED && d->st != DL_LEG)
		return -ENOTCONN;
	sl_dialer_end_call(d, why, now);
	return 0;
}

void sl_dialer_operator_gone(struct sl_dialer *d, struct sl_ipc_client *c)
{
	if (d->op == c)
		d->op = NULL;	/* the call goes on without its operator */
}

/* ------------------------------------------------------------ modem */

void sl_dialer_modem_events(struct sl_dialer *d,
			    const struct sl_modem_events *ev, int64_t now)
{
	for (unsigned int i = 0; i < ev->n && d->fd >= 0; ++i) {
		const struct sl_modem_event *e = &ev->ev[i];
		char text[256];

		sl_log(sl_modem_event_level(e), "%s",
		       sl_modem_event_str(&d->modem, e, text, sizeof(text)));
		switch (e->type) {
		case SL_MODEM_EV_READY:
			if (d->st == DL_INIT)
				sl_dialer_set_state(d, DL_IDLE);
			break;
		case SL_MODEM_EV_RING:
			if (d->st == DL_IDLE) {
				struct sl_modem_events ev2;

				d->caller = false;
				if (sl_modem_answer(&d->modem, now, &ev2) == 0) {
					sl_dialer_set_state(d, DL_ANSWERING);
					sl_dialer_modem_events(d, &ev2, now);
				}
			}
			break;
		case SL_MODEM_EV_CONNECT:
			if (d->st == DL_DIALLING || d->st == DL_ANSWERING)
				connected_modem(d, now);
			break;
		case SL_MODEM_EV_BUSY:
		case SL_MODEM_EV_NO_ANSWER:
		case SL_MODEM_EV_NO_CARRIER:
		case SL_MODEM_EV_NO_DIALTONE:
		case SL_MODEM_EV_ERROR:
		case SL_MODEM_EV_TIMEOUT:
			if (d->st == DL_INIT) {
				port_down(d, "the modem does not take its init string", now);
				break;
			}
			if (d->framed) {
				sl_dialer_end_call(d, text, now);
				break;
			}
			if (d->st == DL_DIALLING || d->st == DL_ANSWERING) {
				op_end(d, e->type == SL_MODEM_EV_BUSY ? -EBUSY :
				       -EHOSTUNREACH, text);
				sl_dialer_end_call(d, text, now);
			} else if (sl_modem_state(&d->modem) == SL_MODEM_OFF) {
				struct sl_modem_events ev2;

				sl_dialer_set_state(d, DL_INIT);
				if (sl_modem_init(&d->modem, d->base->modem_init[0] ?
						  d->base->modem_init : NULL,
						  now, &ev2) == 0)
					sl_dialer_modem_events(d, &ev2, now);
			}
			break;
		case SL_MODEM_EV_HUNG_UP:
			if (d->st == DL_HANGUP)
				sl_dialer_set_state(d, DL_IDLE);
			else if (d->framed)
				sl_dialer_end_call(d, text, now);
			break;
		case SL_MODEM_EV_IO_ERROR:
			port_down(d, strerror(e->err), now);
			break;
		default:
			break;
		}
	}
}

static void modem_log(void *ctx, int level, const char *msg)
{
	(void)ctx;
	sl_log(level, "%s", msg);
}

static void port_open(struct sl_dialer *d, int64_t now)
{
	struct sl_modem_events ev;
	char err[256];
	int ret;

	ret = sl_modem_open_tty(d->path, d->base->baud, false, &d->fd, err,
				sizeof(err));
	if (ret) {
		d->fd = -1;
		port_down(d, err, now);
		return;
	}
	sl_modem_setup(&d->modem, sl_dialer_tty(d), d->fd, modem_log, NULL);
	sl_dialer_set_state(d, DL_INIT);
	if (sl_modem_init(&d->modem, d->base->modem_init[0] ?
			  d->base->modem_init : NULL, now, &ev)) {
		port_down(d, "the init string cannot be sent", now);
		return;
	}
	sl_dialer_modem_events(d, &ev, now);
}

/* ------------------------------------------------------------ loop */

/* The port's events: with the discipline attached the line is the
 * kernel's. */
static short port_events(const struct sl_dialer *d)
{
	short events = 0;

	if (d->fd < 0)
		return 0;
	if ((sl_modem_wants_read(&d->modem) && d->st != DL_SETUP &&
	     d->st != DL_CONNECTED) || d->framed)
		events |= POLLIN;
	if (sl_modem_wants_write(&d->modem) ||
	    (d->framed && sl_byteq_len(&d->leg_out)))
		events |= POLLOUT;
	return events;
}

void sl_dialer_pollfd(struct sl_dialer *d, struct pollfd *pfd)
{
	pfd->fd = -1;
	pfd->events = 0;
	pfd->revents = 0;
	if (d->dod) {
		sl_demand_sync(d, sl_now_ms());
		/* poll's and epoll's IN/OUT bits are the same */
		sl_demand_watch(d->dod, d->fd, TAG_PORT, &d->dod->ev_port,
		       (uint32_t)port_events(d));
		sl_demand_events(d);
		pfd->fd = d->dod->epfd;
		pfd->events = POLLIN;
		return;
	}
	pfd->events = port_events(d);
	if (pfd->events)
		pfd->fd = d->fd;
}

static void port_ready(struct sl_dialer *d, short revents, int64_t now)
{
	struct sl_modem_events ev;

	if (d->fd < 0)
		return;
	if ((revents & POLLOUT) && d->framed) {
		if (sl_byteq_flush(&d->leg_out, d->fd) < 0 && errno != EAGAIN) {
			sl_dialer_end_call(d, strerror(errno), now);
			return;
		}
	} else if (revents & POLLOUT) {
		sl_modem_output(&d->modem, now, &ev);
		sl_dialer_modem_events(d, &ev, now);
	}
	if (d->fd >= 0 && (revents & (POLLIN | POLLHUP | POLLERR))) {
		uint8_t buf[512];
		ssize_t n = read(d->fd, buf, sizeof(buf));
		size_t off = 0;

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			port_down(d, strerror(errno), now);
			return;
		}
		/* End of file: the port hung up for good (a pty whose
		 * master closed, an adapter unplugged); poll() would say so
		 * again at once, for ever. Closed, and opened again later. */
		if (n == 0) {
			port_down(d, "the port hung up (end of file)", now);
			return;
		}
		while (n > 0 && off < (size_t)n && d->fd >= 0 &&
		       sl_modem_wants_read(&d->modem)) {
			size_t used = sl_modem_input(&d->modem, buf + off,
						     (size_t)n - off, now, &ev);

			sl_dialer_modem_events(d, &ev, now);
			if (!used && !ev.n)
				break;
			off += used;
		}
		/* After CONNECT the rest is the leg's. */
		if (n > 0 && off < (size_t)n && d->framed)
			sl_dialer_leg_data(d, buf + off, (size_t)n - off, now);
	}
}

/* How many epoll events one wake-up takes: one per descriptor. */
#define DL_EPOLL_EVENTS	3

void sl_dialer_ready(struct sl_dialer *d, short revents, int64_t now)
{
	struct epoll_event ev[DL_EPOLL_EVENTS];
	int n;

	if (!d->dod) {
		port_ready(d, revents, now);
		return;
	}
	n = epoll_wait(d->dod->epfd, ev, DL_EPOLL_EVENTS, 0);
	for (int i = 0; i < n && d->dod; ++i) {
		switch (ev[i].data.u32) {
		case TAG_PORT:
			/* mask what a call's end stopped wanting */
			if (d->dod->ev_port)
				port_ready(d, (short)ev[i].events, now);
			break;
		case TAG_MASTER:
		case TAG_VTTY:
			sl_demand_io(d, ev[i].data.u32, ev[i].events, now);
			break;
		default:
			break;
		}
	}
	sl_demand_flush(d, now);
}

void sl_dialer_timer(struct sl_dialer *d, int64_t now)
{
	int64_t due;

	if (d->st == DL_DOWN) {
		if (now >= d->retry_at)
			port_open(d, now);
		return;
	}
	due = sl_modem_next_timer(&d->modem);
	if (due && now >= due) {
		struct sl_modem_events ev;

		sl_modem_timer(&d->modem, now, &ev);
		sl_dialer_modem_events(d, &ev, now);
	}
	if (d->call && d->call_timer && now >= d->call_timer) {
		struct sl_call_actions out;

		d->call_timer = 0;
		if (sl_call_timer(d->call, (uint64_t)now, &out) == 0)
			sl_dialer_call_actions(d, &out, now);
	}
	if (d->st == DL_SETUP && d->attach_deadline &&
	    now >= d->attach_deadline)
		sl_dialer_end_call(d, "the line did not come up after CONNECT", now);
	if (d->nak_hangup_at && now >= d->nak_hangup_at)
		sl_dialer_end_call(d, d->nak_why, now);
	if (d->st == DL_LEG && d->call && d->held_heard &&
	    now >= d->held_heard + SL_DIALER_HELD_IDLE_MS)
		sl_dialer_end_call(d, "nothing from the TSP during a held delivery for 60 s", now);
	if (d->dod && d->dod->key_deadline && now >= d->dod->key_deadline &&
	    sl_dialer_hangup(d, "the demand call was not keyed in time",
			     now) == -ENOTCONN)
		d->dod->key_deadline = 0;
	if (d->dod && d->dod->vtty >= 0 && d->base->idle_hangup &&
	    now >= d->dod->last_io + d->base->idle_hangup * 1000LL) {
		char why[64];

		snprintf(why, sizeof(why), "no application data for %" PRIu32 " s",
			 d->base->idle_hangup);
		sl_log(LOG_NOTICE, "%s: %s: hanging up", sl_dialer_tty(d), why);
		sl_dialer_hangup(d, why, now);
	}
}

int64_t sl_dialer_next_timer(const struct sl_dialer *d)
{
	const struct dl_demand *m = d->dod;
	int64_t c[8] = {
		d->st == DL_DOWN ? d->retry_at : 0,
		d->nak_hangup_at,
		d->st == DL_LEG && d->call && d->held_heard ?
			d->held_heard + SL_DIALER_HELD_IDLE_MS : 0,
		d->fd >= 0 ? sl_modem_next_timer(&d->modem) : 0,
		d->call ? d->call_timer : 0,
		d->st == DL_SETUP ? d->attach_deadline : 0,
		m ? m->key_deadline : 0,
		m && m->vtty >= 0 && d->base->idle_hangup ?
			m->last_io + d->base->idle_hangup * 1000LL : 0,
	};
	int64_t next = 0;

	for (int i = 0; i < 8; ++i)
		if (c[i] && (!next || c[i] < next))
			next = c[i];
	return next;
}

void sl_dialer_status(const struct sl_dialer *d, struct sl_ipc_builder *b)
{
	sl_ipc_add(b, "call_state", dl_names[d->st]);
	if (d->call)
		sl_ipc_add(b, "call_setup", sl_call_state(d->call));
	if (d->peer[0])
		sl_ipc_add(b, "call_peer", d->peer);
	if (d->tracking)
		sl_ipc_addf(b, "call_tracking", "%016" PRIx64, d->tracking);
	if (d->st != DL_IDLE && d->st != DL_DOWN && d->st != DL_INIT)
		sl_ipc_add(b, "call_direction", d->caller ? "out" : "in");
	if (d->dod)
		sl_demand_status(d, b);
}

/* ------------------------------------------------------------ life */

int sl_dialer_new(const struct sl_line_conf *conf, const struct sl_keystore *ks,
		  const struct sl_dialer_ops *ops, void *ctx, int64_t now,
		  struct sl_dialer **out)
{
	struct sl_dialer *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->ops = ops;
	d->ctx = ctx;
	d->ks = ks;
	d->base = conf;
	d->fd = -1;
	sl_byteq_init(&d->leg_out, SL_OUTQ_MAX);
	/* The kernel's name of /dev/pts/3 is "pts3" (tty_name()). */
	if (!strncmp(conf->tty, "pts", 3) && conf->tty[3] >= '0' &&
	    conf->tty[3] <= '9')
		snprintf(d->path, sizeof(d->path), "/dev/pts/%s", conf->tty + 3);
	else
		snprintf(d->path, sizeof(d->path), "/dev/%s", conf->tty);
	if (d->base->dial_on_demand[0]) {
		int ret = sl_demand_new(d);

		if (ret) {
			free(d);
			return ret;
		}
	}
	port_open(d, now);
	*out = d;
	return 0;
}

void sl_dialer_free(struct sl_dialer *d)
{
	if (!d)
		return;
	sl_call_free(d->call);
	sl_byteq_free(&d->leg_out);
	if (d->dod) {
		/* A call's leftovers are dropped and logged. */
		if (d->dod->up.len)
			sl_log(LOG_NOTICE, "%s: %zu bytes from %s not sent: dropped",
			       sl_dialer_tty(d), d->dod->up.len, d->dod->link);
		sl_demand_free(d);
	}
	if (d->fd >= 0) {
		int ldisc = N_TTY;

		ioctl(d->fd, TIOCSETD, &ldisc);
		sl_modem_release(&d->modem);
		/* HUPCL: the close drops DTR, which hangs the modem up. */
		close(d->fd);
	}
	free(d);
}
