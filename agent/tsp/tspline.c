// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * One line of the TSP (tsp_internal.h, "Line states"): its modem's events,
 * its output queue, its timers. What a line does for a call (checks,
 * dialling, bridging) is routing.c's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "tsp_internal.h"

static const char *const tl_state_names[] = {
	[TL_DOWN] = "down", [TL_INIT] = "init", [TL_IDLE] = "idle",
	[TL_RINGING] = "ringing", [TL_ANSWERING] = "answering",
	[TL_DIALLING] = "dialling", [TL_SETUP] = "setup",
	[TL_BRIDGED] = "bridged", [TL_RELAY] = "relay",
	[TL_COURIER] = "courier",
	[TL_CLOSING] = "closing", [TL_HANGUP] = "hangup",
};

const char *sl_tspd_state_name(enum tl_state st)
{
	return tl_state_names[st];
}

void sl_tspd_line_set(struct tsp_line *l, enum tl_state st)
{
	sl_tspd_line_touch(l);
	if (l->st != st)
		sl_log(LOG_DEBUG, "line %s: %s -> %s", l->name,
		       sl_tspd_state_name(l->st), sl_tspd_state_name(st));
	l->st = st;
}

/* The configured init string, else the TSP's default (tsp.h: the escape
 * character disabled). */
static const char *tsp_init_string(const struct tsp *t)
{
	return t->cfg->tsp.init[0] ? t->cfg->tsp.init : SL_TSP_DEFAULT_INIT;
}

/* ------------------------------------------------------------ output */

void sl_tspd_line_flush(struct tsp_line *l)
{
	ssize_t n;

	sl_tspd_line_touch(l);
	if (l->fd < 0 || !sl_tspd_port_pending(l))
		return;
	n = sl_tspd_port_flush(l);
	if (n < 0) {
		sl_log(LOG_WARNING, "line %s: write: %s", l->name,
		       strerror((int)-n));
		sl_byteq_drop(&l->out);
	} else {
		l->written += (uint64_t)n;
	}
}

void sl_tspd_line_send(struct tsp_line *l, const uint8_t *msg, size_t len)
{
	int ret = sl_rawline_send(&l->out, msg, len);

	if (ret)
		sl_log(LOG_WARNING, "line %s: %s not sent: %s", l->name,
		       sl_hs_msg_name(msg[1]), strerror(-ret));
	sl_tspd_line_flush(l);
}

/* ------------------------------------------------------------ modems */

static void answer_ring(struct tsp_line *l, int64_t now)
{
	struct sl_modem_events ev;

	if (sl_modem_answer(&l->modem, now, &ev)) {
		sl_tspd_line_set(l, TL_IDLE);
		return;
	}
	sl_tspd_line_set(l, TL_ANSWERING);
	sl_tspd_modem_events(l, &ev, now);
}

static void incoming_connected(struct tsp_line *l, int64_t now)
{
	struct tsp *t = l->t;
	struct sl_tsp_config tc = {
		.static_priv = t->ks.id.priv, .baud = t->cfg->tsp.baud,
	};
	struct sl_tsp_cdr_start s = {
		.line = l->name, .caller_id = l->cid,
		.ring_ms = l->ring_wall ? l->ring_wall : sl_wall_ms(),
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
	/* What a record cannot hold the call cannot have (tspstore.h). */
	if (l->cid[0] && !sl_tsp_caller_id_valid(l->cid)) {
		sl_log(LOG_WARNING, "line %s: caller ID '%.40s' is not 1 to %d printable characters: call refused",
		       l->name, l->cid, SL_TSP_CALLER_ID_MAX);
		goto fail_leg;
	}
	err = sl_tsp_tracking_new(&c->id);
	if (err) {
		sl_log(LOG_ERR, "line %s: no tracking id: %s", l->name,
		       strerror(-err));
		goto fail_leg;
	}
	sl_tspq_cdr_open(t->q, c->id, &s);
	c->caller = l;
	l->call = c;
	t->calls++;
	sl_rawline_init(&l->rl);
	l->setup_deadline = now + SL_TSP_SETUP_MS;
	sl_tspd_line_set(l, TL_SETUP);
	sl_log(LOG_INFO, "call %016" PRIx64 ": answered on line %s, caller ID %s",
	       c->id, l->name, l->cid[0] ? l->cid : "(none)");
	return;

fail_leg:
	sl_tsp_leg_free(l->leg);
	l->leg = NULL;
fail_call:
	free(c);
fail:
	sl_tspd_line_hangup(l, now);
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
		sl_tspd_line_hangup(l, now);
		sl_tspd_call_refuse(t, c, SL_NAK_INTERNAL, 0,
				    SL_TSP_OUTCOME_FAILED, now);
		return;
	}
	sl_rawline_init(&l->rl);
	l->setup_deadline = now + SL_TSP_SETUP_MS;
	sl_tspd_line_set(l, TL_SETUP);
}

/* The dialled line did not connect. */
static void dial_failed(struct tsp_line *l, uint8_t reason,
			enum sl_tsp_outcome outcome, int64_t now)
{
	struct tsp_call *c = l->call;

	l->call = NULL;
	if (sl_modem_state(&l->modem) == SL_MODEM_HANGING_UP)
		sl_tspd_line_set(l, TL_HANGUP);
	else
		sl_tspd_line_set(l, TL_IDLE);
	if (c) {
		c->callee = NULL;
		sl_tspd_call_refuse(l->t, c, reason, SL_NAK_DETAIL_RECIPIENT,
				    outcome, now);
	}
}

static void line_down(struct tsp_line *l, const char *why, int64_t now);

void sl_tspd_modem_events(struct tsp_line *l, const struct sl_modem_events *ev,
			  int64_t now)
{
	sl_tspd_line_touch(l);
	for (unsigned int i = 0; i < ev->n && l->fd >= 0; ++i) {
		const struct sl_modem_event *e = &ev->ev[i];
		char text[256];

		sl_log(sl_modem_event_level(e), "%s",
		       sl_modem_event_str(&l->modem, e, text, sizeof(text)));
		switch (e->type) {
		case SL_MODEM_EV_READY:
			if (l->st == TL_INIT)
				sl_tspd_line_set(l, TL_IDLE);
			break;
		case SL_MODEM_EV_RING:
			if (l->st == TL_IDLE) {
				l->cid[0] = '\0';
				l->ring_wall = sl_wall_ms();
				sl_tspd_line_set(l, TL_RINGING);
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
				sl_tspd_line_hangup(l, now);
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
				sl_tspd_line_set(l, TL_IDLE);
				sl_tspd_dial_out(l->t, c,
						 sl_tspd_free_line(l->t), now);
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
				sl_tspd_line_set(l, TL_IDLE);
			break;
		case SL_MODEM_EV_NO_CARRIER:
			if (l->st == TL_DIALLING)
				dial_failed(l, SL_NAK_NO_ANSWER,
					    SL_TSP_OUTCOME_NO_ANSWER, now);
			else if (l->st == TL_ANSWERING || l->st == TL_RINGING)
				sl_tspd_line_set(l, TL_IDLE);
			else if (l->st == TL_SETUP || l->st == TL_BRIDGED ||
				 l->st == TL_RELAY || l->st == TL_COURIER ||
				 l->st == TL_CLOSING)
				sl_tspd_remote_hangup(l, now);
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
				sl_tspd_line_set(l, TL_INIT);
				if (sl_modem_init(&l->modem,
						  tsp_init_string(l->t),
						  now, &ev2) == 0)
					sl_tspd_modem_events(l, &ev2, now);
				else
					line_down(l, "modem init failed", now);
			} else if (l->st == TL_ANSWERING) {
				sl_tspd_line_set(l, TL_HANGUP);
			}
			break;
		case SL_MODEM_EV_HUNG_UP:
			if (l->st == TL_HANGUP || l->st == TL_CLOSING)
				sl_tspd_line_set(l, TL_IDLE);
			break;
		case SL_MODEM_EV_IO_ERROR:
			line_down(l, strerror(e->err), now);
			break;
		}
	}
}

/* ------------------------------------------------------------ lines */

void sl_tspd_line_hangup(struct tsp_line *l, int64_t now)
{
	struct sl_modem_events ev;

	sl_tspd_line_touch(l);
	sl_tsp_leg_free(l->leg);
	l->leg = NULL;
	l->leg_timer = 0;
	l->setup_deadline = 0;
	sl_byteq_drop(&l->out);
	sl_rawline_init(&l->rl);
	if (l->fd < 0)
		return;
	switch (sl_modem_state(&l->modem)) {
	case SL_MODEM_READY:
		sl_tspd_line_set(l, TL_IDLE);
		return;
	case SL_MODEM_HANGING_UP:
		sl_tspd_line_set(l, TL_HANGUP);
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
		sl_tspd_port_hangup(l);
		sl_tspd_line_close_fd(l);
		sl_tspd_line_set(l, TL_DOWN);
		l->retry_at = now + SL_TSP_CLOSE_HANGUP_MS;
		return;
	}
	sl_tspd_line_set(l, TL_HANGUP);
	if (sl_modem_hangup(&l->modem, now, &ev)) {
		line_down(l, "hangup failed", now);
		return;
	}
	sl_tspd_modem_events(l, &ev, now);
}

void sl_tspd_line_close_fd(struct tsp_line *l)
{
	if (l->fd < 0)
		return;
	sl_tspd_line_touch(l);
	epoll_ctl(l->t->ep, EPOLL_CTL_DEL, l->fd, NULL);
	sl_modem_release(&l->modem);
	sl_tspd_port_close(l);
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
	sl_byteq_free(&l->out);
	sl_tspd_line_close_fd(l);
	sl_tspd_line_set(l, TL_DOWN);
	l->retry_at = now + SL_TSP_REOPEN_MS;
	if (c) {
		l->call = NULL;
		if (c->caller == l) {
			c->caller = NULL;
			sl_tspd_call_end(l->t, c, SL_TSP_OUTCOME_FAILED, NULL,
					 now);
		} else {
			c->callee = NULL;
			sl_tspd_call_refuse(l->t, c, SL_NAK_NO_ANSWER,
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

/* The port is open (a terminal server's: connected): init the modem. */
static void start_modem(struct tsp_line *l, int64_t now)
{
	struct sl_modem_events ev;

	if (sl_modem_init(&l->modem, tsp_init_string(l->t), now, &ev)) {
		line_down(l, "modem init failed", now);
		return;
	}
	sl_tspd_modem_events(l, &ev, now);
}

void sl_tspd_line_open(struct tsp_line *l, int64_t now)
{
	char err[256];
	int ret;

	ret = sl_tspd_port_open(l, err, sizeof(err));
	if (ret) {
		line_down(l, err, now);
		return;
	}
	sl_modem_setup(&l->modem, l->name, l->fd, line_log, NULL);
	sl_rawline_init(&l->rl);
	sl_tspd_line_set(l, TL_INIT);
	if (l->connecting) {
		l->connect_deadline = now + SL_TSP_CONNECT_MS;
		return;		/* EPOLLOUT: connected */
	}
	start_modem(l, now);
}

void sl_tspd_line_readable(struct tsp_line *l, int64_t now)
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
	n = (ssize_t)sl_tspd_port_input(l, buf, (size_t)n);
	if (l->tn && l->tn->carrier_lost) {
		l->tn->carrier_lost = false;
		if (l->st == TL_SETUP || l->st == TL_BRIDGED ||
		    l->st == TL_RELAY || l->st == TL_COURIER ||
		    l->st == TL_CLOSING) {
			/* The terminal server saw DCD drop: the far end is
			 * gone, whatever the modem says or does not say. */
			sl_log(LOG_INFO, "line %s: carrier lost (RFC 2217)",
			       l->name);
			sl_tspd_remote_hangup(l, now);
			sl_tspd_line_hangup(l, now);
			return;
		}
	}
	while (off < (size_t)n && l->fd >= 0) {
		struct sl_modem_events ev;
		size_t used;

		if (sl_modem_wants_read(&l->modem)) {
			used = sl_modem_input(&l->modem, buf + off,
					      (size_t)n - off, now, &ev);
			sl_tspd_modem_events(l, &ev, now);
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
			sl_tspd_data_in(l, buf + off, data);
			sl_tspd_modem_events(l, &ev, now);
		} else {
			break;
		}
		off += used;
	}
}

void sl_tspd_line_writable(struct tsp_line *l, int64_t now)
{
	struct sl_modem_events ev;

	if (l->connecting) {
		char err[256];

		if (sl_tspd_port_connected(l, err, sizeof(err))) {
			line_down(l, err, now);
			return;
		}
		sl_log(LOG_INFO, "line %s: connected to %s", l->name, l->path);
		sl_tspd_line_flush(l);
		start_modem(l, now);
		return;
	}
	sl_tspd_line_flush(l);
	if (l->fd >= 0 && sl_modem_wants_write(&l->modem)) {
		sl_modem_output(&l->modem, now, &ev);
		sl_tspd_modem_events(l, &ev, now);
	}
}

void sl_tspd_line_timers(struct tsp_line *l, int64_t now)
{
	struct tsp_call *c = l->call;
	int64_t due;

	if (l->st == TL_DOWN) {
		if (now >= l->retry_at)
			sl_tspd_line_open(l, now);
		return;
	}
	if (l->connecting) {
		if (now >= l->connect_deadline)
			line_down(l, "no connection to the terminal server's port", now);
		return;
	}
	due = sl_modem_next_timer(&l->modem);
	if (due && now >= due) {
		struct sl_modem_events ev;

		sl_modem_timer(&l->modem, now, &ev);
		sl_tspd_modem_events(l, &ev, now);
		if (l->fd < 0)
			return;
	}
	if (l->fd >= 0 && l->leg && l->leg_timer && now >= l->leg_timer) {
		struct sl_call_actions out;

		l->leg_timer = 0;
		if (sl_tsp_leg_timer(l->leg, (uint64_t)now, &out) == 0)
			sl_tspd_leg_actions(l, &out, now);
	}
	if (l->st == TL_SETUP && l->setup_deadline && now >= l->setup_deadline) {
		sl_log(LOG_NOTICE, "line %s: no call setup within %d s", l->name,
		       SL_TSP_SETUP_MS / 1000);
		l->setup_deadline = 0;
		if (c && c->callee == l) {
			c->callee = NULL;
			l->call = NULL;
			sl_tspd_line_hangup(l, now);
			sl_tspd_call_refuse(l->t, c, SL_NAK_NO_ANSWER,
					    SL_NAK_DETAIL_RECIPIENT,
					    SL_TSP_OUTCOME_NO_ANSWER, now);
		} else if (c) {
			sl_tspd_call_end(l->t, c, SL_TSP_OUTCOME_ABANDONED,
					 NULL, now);
		} else {
			sl_tspd_line_hangup(l, now);
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
		sl_tspd_line_hangup(l, now);
		sl_tspd_call_refuse(l->t, c, SL_NAK_NO_ANSWER,
				    SL_NAK_DETAIL_RECIPIENT,
				    SL_TSP_OUTCOME_NO_ANSWER, now);
		return;
	}
	if (c && c->caller == l && c->connected &&
	    now - c->cdr_saved >= SL_TSP_CDR_BYTES_MS) {
		struct sl_tsp_cdr_update u = {
			.set = SL_TSP_CDR_SET_BYTES, .bytes_up = c->up,
			.bytes_down = c->down, .now_ms = sl_wall_ms(),
		};

		c->cdr_saved = now;
		sl_tspq_cdr_update(l->t->q, c->id, &u);
	}
	sl_tspd_saf_timers(l, now);
	if (l->fd < 0)
		return;
	if (l->st == TL_CLOSING && now >= l->close_at &&
	    (!sl_byteq_len(&l->out) || now >= l->close_at + SL_TSP_DRAIN_MS))
		sl_tspd_line_hangup(l, now);
}

int64_t sl_tspd_line_next_timer(const struct tsp_line *l)
{
	int64_t next = 0;
	int64_t cand[8] = {
		sl_tspd_saf_next_timer(l),
		l->connecting ? l->connect_deadline : 0,
		l->st == TL_DOWN ? l->retry_at : 0,
		l->fd >= 0 ? sl_modem_next_timer(&l->modem) : 0,
		l->leg ? l->leg_timer : 0,
		l->st == TL_SETUP ? l->setup_deadline : 0,
		l->call && l->call->callee == l && !l->call->connected ?
			l->call->answer_deadline : 0,
		l->st == TL_CLOSING ? l->close_at : 0,
	};

	for (int i = 0; i < 8; ++i)
		if (cand[i] && (!next || cand[i] < next))
			next = cand[i];
	if (l->call && l->call->caller == l && l->call->connected) {
		int64_t t = l->call->cdr_saved + SL_TSP_CDR_BYTES_MS;

		if (!next || t < next)
			next = t;
	}
	return next;
}

uint32_t sl_tspd_line_wanted(const struct tsp_line *l)
{
	uint32_t m = 0;

	if (l->fd < 0)
		return 0;
	if (l->connecting)
		return EPOLLOUT;
	if (l->st == TL_RELAY) {
		const struct tsp_line *o = sl_tspd_partner(l);

		if (!o || sl_byteq_len(&o->out) < SL_OUTQ_HIGH)
			m |= EPOLLIN;
	} else {
		m |= EPOLLIN;
	}
	if (sl_tspd_port_pending(l) || sl_modem_wants_write(&l->modem))
		m |= EPOLLOUT;
	return m;
}

