// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealined's lines: their life in the kernel (attach, register, detach),
 * the events that come for them, timers, calls and status. A line's
 * handshake and its actions are in line_hs.c, the operator's side of a
 * pairing in operator.c, the kernel requests in kernel_nl.c. See lines.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include "dialer.h"
#include "lines.h"
#include "lines_internal.h"
#include "log.h"
#include "names.h"

/* How often "control message dropped" is logged per line. */
#define DROP_LOG_INTERVAL_MS 60000

/* ------------------------------------------------------------ names */

const char *sl_line_status_name(enum sl_line_status status)
{
	switch (status) {
	case SL_LINE_DETACHED:		return "detached";
	case SL_LINE_REGISTERED:	return "registered";
	case SL_LINE_BUSY:		return "busy";
	case SL_LINE_FAILED:		return "failed";
	}
	return "?";
}

const char *sl_drv_kind_name(enum sl_drv_kind kind)
{
	switch (kind) {
	case SL_DRV_KIND_SESSION:	return "session";
	case SL_DRV_KIND_REKEY:		return "rekey";
	case SL_DRV_KIND_PAIRING:	return "pairing";
	}
	return "handshake";
}

const char *sl_drv_role_name(enum sl_drv_role role)
{
	switch (role) {
	case SL_DRV_ROLE_INITIATOR:	return "initiator";
	case SL_DRV_ROLE_RESPONDER:	return "responder";
	}
	return "";
}

/* ------------------------------------------------------------ calls */

/* The dialer's view of its line (dialer.h: struct sl_dialer_ops). */
static int call_send_control(void *ctx, const uint8_t *msg, size_t len)
{
	struct sl_line *line = ctx;
	struct sl_lines *L = line->owner;

	return L->kops->send_control(L->kctx, sl_line_tty(line), msg, len);
}

static void call_attached(void *ctx, int64_t now_ms)
{
	struct sl_line *line = ctx;

	sl_lines_rescan(line->owner, now_ms);
}

static void call_connected(void *ctx, const char *peer, bool caller,
			   int64_t now_ms)
{
	struct sl_line *line = ctx;
	struct sl_lines *L = line->owner;
	struct sl_drv_input in = { .type = SL_DRV_IN_LINE_READY };

	snprintf(line->call_peer, sizeof(line->call_peer), "%s", peer);
	line->call_caller = caller;
	if (line->status != SL_LINE_REGISTERED || sl_line_create_hs(L, line))
		return;
	sl_line_refresh(L, line);
	in.info = line->info;
	sl_line_feed(L, line, &in, now_ms);
}

static void call_over(void *ctx, const char *why, int64_t now_ms)
{
	struct sl_line *line = ctx;
	struct sl_lines *L = line->owner;

	sl_line_hook_down(L, line, why, now_ms);
	if (line->hs) {
		sl_line_feed_simple(L, line, SL_DRV_IN_LINE_DOWN, now_ms);
		sl_line_destroy_hs(L, line);
	}
	if (line->status == SL_LINE_REGISTERED) {
		sl_line_refresh(L, line);
		L->kops->clear_keys(L->kctx, sl_line_tty(line));
	}
	sl_line_end_session(L, line, "ok", why);
	sl_line_op_end(line, -ECONNRESET, NULL, why);
	memset(line->call_peer, 0, sizeof(line->call_peer));
}

static bool call_keyed(void *ctx, uint32_t *index)
{
	const struct sl_line *line = ctx;

	*index = line->index;
	return line->in_session && line->status == SL_LINE_REGISTERED;
}

static void call_ended(void *ctx, const char *why, int64_t now_ms)
{
	struct sl_line *line = ctx;
	struct sl_lines *L = line->owner;

	if (L->hooks && L->hooks->call_ended)
		L->hooks->call_ended(L->hooks->ctx, line, why, now_ms);
}

static uint8_t call_held(void *ctx, const char *sender,
			 const struct sl_dialer_leg_ops **leg, void **leg_ctx,
			 char *why, size_t why_len)
{
	struct sl_line *line = ctx;
	struct sl_lines *L = line->owner;

	if (!L->hooks || !L->hooks->held)
		return SL_NAK_REFUSED;
	return L->hooks->held(L->hooks->ctx, line, sender, leg, leg_ctx, why,
			      why_len);
}

static const struct sl_dialer_ops dialer_ops = {
	.send_control = call_send_control,
	.attached = call_attached,
	.connected = call_connected,
	.over = call_over,
	.keyed = call_keyed,
	.ended = call_ended,
	.held = call_held,
};

void sl_line_hook_down(struct sl_lines *L, struct sl_line *line,
		       const char *why, int64_t now_ms)
{
	if (L->hooks && L->hooks->down)
		L->hooks->down(L->hooks->ctx, line, why, now_ms);
}

/* ------------------------------------------------------------ helpers */

int sl_lines_init(struct sl_lines *L, const struct sl_config *cfg,
		  struct sl_keystore *ks, struct sl_slog *slog,
		  const struct sl_hs_driver *drv,
		  const struct sl_kernel_ops *kops, void *kctx)
{
	memset(L, 0, sizeof(*L));
	L->cfg = cfg;
	L->ks = ks;
	L->slog = slog;
	L->drv = drv;
	L->kops = kops;
	L->kctx = kctx;
	L->n = cfg->n_lines;
	if (!L->n)
		return 0;
	L->lines = calloc(L->n, sizeof(*L->lines));
	if (!L->lines)
		return -ENOMEM;
	for (unsigned int i = 0; i < L->n; ++i) {
		L->lines[i].owner = L;
		L->lines[i].conf = &cfg->lines[i];
		L->lines[i].status = SL_LINE_DETACHED;
		L->lines[i].since = (int64_t)time(NULL);
	}
	for (unsigned int i = 0; i < L->n; ++i) {
		int ret;

		if (!cfg->lines[i].modem)
			continue;
		ret = sl_dialer_new(&cfg->lines[i], ks, &dialer_ops,
				    &L->lines[i], sl_now_ms(), &L->lines[i].dial);
		if (ret)
			return ret;
	}
	return 0;
}

struct sl_line *sl_lines_find(struct sl_lines *L, const char *tty)
{
	for (unsigned int i = 0; i < L->n; ++i)
		if (!strcmp(L->lines[i].conf->tty, tty))
			return &L->lines[i];
	return NULL;
}

const char *sl_line_tty(const struct sl_line *line)
{
	return line->conf->tty;
}

static void set_status(struct sl_line *line, enum sl_line_status status)
{
	if (line->status != status)
		line->since = (int64_t)time(NULL);
	line->status = status;
}

/* What GET_LINE said, kept for status and the handshake. */
static void take_info(struct sl_line *line, const struct sl_attrs *a)
{
	struct sl_drv_line_info *info = &line->info;

	memset(info, 0, sizeof(*info));
	if (a->present & SL_HAS(SEALINE_A_LINE_INDEX))
		line->index = a->index;
	if (a->present & SL_HAS(SEALINE_A_LINE_STATE))
		info->state = a->state;
	if (a->present & SL_HAS(SEALINE_A_KEY_EPOCH)) {
		info->have_key = true;
		info->key_epoch = a->key_epoch;
	}
	if (a->present & SL_HAS(SEALINE_A_NEXT_EPOCH)) {
		info->have_staged = true;
		info->staged_epoch = a->next_epoch;
	}
	if (a->present & SL_HAS(SEALINE_A_CIPHER))
		info->cipher = a->cipher;
	line->agent_portid = (a->present & SL_HAS(SEALINE_A_AGENT_PORTID)) ?
			     a->agent_portid : 0;
	if (a->stat_present & SL_HAS(SEALINE_STAT_TX_BYTES))
		line->tx_bytes = a->stats[SEALINE_STAT_TX_BYTES];
	if (a->stat_present & SL_HAS(SEALINE_STAT_RX_BYTES))
		line->rx_bytes = a->stats[SEALINE_STAT_RX_BYTES];
}

int sl_line_refresh(struct sl_lines *L, struct sl_line *line)
{
	struct sl_attrs a;
	int ret = L->kops->get_line(L->kctx, sl_line_tty(line), &a);

	if (!ret)
		take_info(line, &a);
	return ret;
}

/* ------------------------------------------------------------ life cycle */

/*
 * The line's configured mode (sealined.conf, mode), before any session
 * key: the kernel changes it only while the line has none. A key set by
 * hand (sealctl set-key) keeps the mode the line had.
 */
static void set_mode(struct sl_lines *L, struct sl_line *line)
{
	int ret;

	if (!L->kops->set_mode)
		return;
	ret = L->kops->set_mode(L->kctx, sl_line_tty(line), line->conf->mode);
	if (ret)
		sl_log(LOG_WARNING, "%s: cannot set %s mode: %s",
		       sl_line_tty(line), sl_mode_name(line->conf->mode),
		       sl_nl_strerror(ret));
}

static void line_registered(struct sl_lines *L, struct sl_line *line,
			    int64_t now_ms)
{
	struct sl_drv_input in = { .type = SL_DRV_IN_LINE_READY };

	set_status(line, SL_LINE_REGISTERED);
	line->control_dropped = 0;
	set_mode(L, line);
	if (!L->drv) {
		sl_log(LOG_WARNING, "%s: registered as the agent of /dev/%s%" PRIu32 " (netlink port %" PRIu32 "), but this sealined has no handshake implementation: pairing and sessions are not available yet, and the line stays fail-closed",
		       sl_line_tty(line), SEALINE_VTTY_NAME, line->index,
		       line->agent_portid);
		return;
	}
	sl_log(LOG_NOTICE, "%s: registered as the agent of /dev/%s%" PRIu32 " (netlink port %" PRIu32 ")",
	       sl_line_tty(line), SEALINE_VTTY_NAME, line->index, line->agent_portid);
	/* A call's line: its handshake waits for the call to be bridged. */
	if (line->dial && !sl_dialer_connected(line->dial)) {
		sl_dialer_line_up(line->dial, now_ms);
		return;
	}
	if (sl_line_create_hs(L, line))
		return;
	in.info = line->info;
	sl_line_feed(L, line, &in, now_ms);
}

/* Try to become the line's agent. */
static void attach(struct sl_lines *L, struct sl_line *line, int64_t now_ms)
{
	uint32_t ours = L->kops->portid(L->kctx);
	struct sl_attrs a;
	int ret;

	ret = L->kops->get_line(L->kctx, sl_line_tty(line), &a);
	if (ret) {
		if (line->status != SL_LINE_DETACHED &&
		    line->status != SL_LINE_FAILED)
			sl_log(LOG_INFO, "%s: not attached to sealine", sl_line_tty(line));
		if (line->status == SL_LINE_FAILED)
			return;
		set_status(line, SL_LINE_DETACHED);
		return;
	}
	take_info(line, &a);
	if (line->agent_portid && line->agent_portid != ours) {
		if (line->status != SL_LINE_BUSY)
			sl_log(LOG_ERR, "%s: another process (netlink port %" PRIu32 ") is already this line's agent; not taking it over (another sealined for the same line?)",
			       sl_line_tty(line), line->agent_portid);
		set_status(line, SL_LINE_BUSY);
		return;
	}
	if (line->agent_portid != ours) {
		ret = L->kops->register_agent(L->kctx, sl_line_tty(line));
		if (ret) {
			if (line->status != SL_LINE_FAILED || line->last_err != ret)
				sl_log(LOG_ERR, "%s: cannot register as the line's agent: %s",
				       sl_line_tty(line), sl_nl_strerror(ret));
			line->last_err = ret;
			set_status(line, SL_LINE_FAILED);
			return;
		}
		/* Read back what the kernel now says about the line. */
		ret = sl_line_refresh(L, line);
		if (ret || line->agent_portid != ours) {
			sl_log(LOG_ERR, "%s: registered, but the kernel names another agent (%" PRIu32 ")",
			       sl_line_tty(line), line->agent_portid);
			line->last_err = ret ? ret : -EPROTO;
			set_status(line, SL_LINE_FAILED);
			return;
		}
	}
	line->last_err = 0;
	line_registered(L, line, now_ms);
}

static void line_gone(struct sl_lines *L, struct sl_line *line,
		      const char *why, int64_t now_ms)
{
	sl_line_hook_down(L, line, why, now_ms);
	if (line->hs) {
		sl_line_feed_simple(L, line, SL_DRV_IN_LINE_DOWN, now_ms);
		sl_line_destroy_hs(L, line);
	}
	sl_line_end_session(L, line, "ok", why);
	sl_line_op_end(line, -ENOLINK, NULL, "the line went down");
	line->timer_ms = 0;
	memset(&line->info, 0, sizeof(line->info));
	line->agent_portid = 0;
	set_status(line, SL_LINE_DETACHED);
}

void sl_lines_rescan(struct sl_lines *L, int64_t now_ms)
{
	uint32_t ours = L->kops->portid(L->kctx);

	for (unsigned int i = 0; i < L->n; ++i) {
		struct sl_line *line = &L->lines[i];
		int ret;

		if (line->status != SL_LINE_REGISTERED) {
			attach(L, line, now_ms);
			continue;
		}
		ret = sl_line_refresh(L, line);
		if (ret) {
			sl_log(LOG_NOTICE, "%s: line is gone (%s)", sl_line_tty(line),
			       sl_nl_strerror(ret));
			line_gone(L, line, "line down", now_ms);
			continue;
		}
		if (line->agent_portid != ours) {
			sl_log(LOG_ERR, "%s: another process (netlink port %" PRIu32 ") took over as the line's agent; this daemon no longer keys it",
			       sl_line_tty(line), line->agent_portid);
			line_gone(L, line, "another agent took the line over",
				  now_ms);
			set_status(line, SL_LINE_BUSY);
		}
	}
}

void sl_lines_detach_all(struct sl_lines *L, const char *why, int64_t now_ms)
{
	for (unsigned int i = 0; i < L->n; ++i) {
		struct sl_line *line = &L->lines[i];

		if (line->status == SL_LINE_REGISTERED) {
			sl_log(LOG_NOTICE, "%s: %s", sl_line_tty(line), why);
			line_gone(L, line, why, now_ms);
		}
		set_status(line, SL_LINE_DETACHED);
	}
}

void sl_lines_fini(struct sl_lines *L, const char *why)
{
	int64_t now = sl_now_ms();

	for (unsigned int i = 0; i < L->n; ++i) {
		struct sl_line *line = &L->lines[i];

		if (line->status == SL_LINE_REGISTERED)
			sl_line_refresh(L, line);
		sl_line_hook_down(L, line, why, now);
		if (line->hs) {
			sl_line_feed_simple(L, line, SL_DRV_IN_LINE_DOWN, now);
			sl_line_destroy_hs(L, line);
		}
		sl_line_end_session(L, line, "ok", why);
		sl_line_op_end(line, -ESHUTDOWN, NULL, why);
		sl_dialer_free(line->dial);
		line->dial = NULL;
	}
	while (L->q_head) {
		struct sl_event *e = L->q_head;

		L->q_head = e->next;
		sl_wipe(e->control, e->a.control_len);
		free(e);
	}
	L->q_tail = NULL;
	L->q_len = 0;
	free(L->lines);
	L->lines = NULL;
	L->n = 0;
}

/* ------------------------------------------------------------ events */

int sl_lines_enqueue(const struct sl_attrs *a, void *arg)
{
	struct sl_lines *L = arg;
	struct sl_event *e;

	if (L->q_len >= SL_LINES_MAX_QUEUE) {
		if (!L->q_dropped++)
			sl_log(LOG_ERR, "netlink: event queue full; dropping messages");
		return 0;
	}
	e = malloc(sizeof(*e) + a->control_len);
	if (!e) {
		L->q_dropped++;
		return 0;
	}
	e->next = NULL;
	e->a = *a;
	if (a->control_len) {
		memcpy(e->control, a->control, a->control_len);
		e->a.control = e->control;
	} else {
		e->a.control = NULL;
	}
	if (L->q_tail)
		L->q_tail->next = e;
	else
		L->q_head = e;
	L->q_tail = e;
	L->q_len++;
	return 0;
}

void sl_lines_process(struct sl_lines *L, int64_t now_ms)
{
	/* Handling an event may queue more (replies to our requests carry
	 * events along): take them until none is left. */
	while (L->q_head) {
		struct sl_event *e = L->q_head;

		L->q_head = e->next;
		if (!L->q_head)
			L->q_tail = NULL;
		L->q_len--;
		sl_lines_event(L, &e->a, now_ms);
		sl_wipe(e->control, e->a.control_len);
		free(e);
	}
	if (L->q_dropped) {
		sl_log(LOG_WARNING, "netlink: %" PRIu64 " messages were dropped; rescanning the lines",
		       L->q_dropped);
		L->q_dropped = 0;
		sl_lines_rescan(L, now_ms);
	}
}

/* The configured line an event is about, by tty or by index. */
static struct sl_line *event_line(struct sl_lines *L, const struct sl_attrs *a)
{
	if (a->present & SL_HAS(SEALINE_A_LINE_TTY))
		return sl_lines_find(L, a->tty);
	if (a->present & SL_HAS(SEALINE_A_LINE_INDEX)) {
		for (unsigned int i = 0; i < L->n; ++i)
			if (L->lines[i].status == SL_LINE_REGISTERED &&
			    L->lines[i].index == a->index)
				return &L->lines[i];
	}
	return NULL;
}

static void control_received(struct sl_lines *L, struct sl_line *line,
			     const struct sl_attrs *a, int64_t now_ms)
{
	struct sl_drv_input in = {
		.type = SL_DRV_IN_CONTROL,
		.msg = a->control,
		.len = a->control_len,
	};

	if (line->status != SL_LINE_REGISTERED || !a->control)
		return;
	if (line->dial && sl_dialer_control(line->dial, a->control,
					    a->control_len, now_ms))
		return;
	if (L->hooks && L->hooks->control &&
	    L->hooks->control(L->hooks->ctx, line, a->control, a->control_len,
			      now_ms))
		return;
	if (!line->hs) {
		line->control_dropped++;
		if (!line->drop_logged_ms ||
		    now_ms - line->drop_logged_ms >= DROP_LOG_INTERVAL_MS) {
			sl_log(LOG_WARNING, "%s: control message of %zu bytes dropped (%" PRIu64 " so far): %s",
			       sl_line_tty(line), a->control_len, line->control_dropped,
			       L->drv ? "no handshake object" :
			       "no handshake implementation in this build, the peer's handshake cannot be answered");
			line->drop_logged_ms = now_ms;
		}
		return;
	}
	sl_log(LOG_DEBUG, "%s: control message 0x%02x received (%zu bytes)",
	       sl_line_tty(line), a->control_len >= 2 ? a->control[1] : 0,
	       a->control_len);
	sl_line_feed(L, line, &in, now_ms);
}

static void key_event(struct sl_lines *L, struct sl_line *line,
		      const struct sl_attrs *a, int64_t now_ms)
{
	bool expired = a->cmd == SEALINE_CMD_KEY_EXPIRED;
	const char *limit = sl_limit_name(a->limit);
	struct sl_drv_input in = {
		.type = expired ? SL_DRV_IN_KEY_EXPIRED : SL_DRV_IN_REKEY_NEEDED,
		.epoch = a->key_epoch,
		.limit = a->limit,
	};

	sl_log(expired ? LOG_WARNING : LOG_INFO,
	       "%s: key epoch %" PRIu32 " %s (%s limit)%s", sl_line_tty(line),
	       a->key_epoch, expired ? "expired: the line is fail-closed" :
	       "needs replacing", limit ? limit : "unknown",
	       L->drv ? "" : "; no handshake implementation to rekey it");
	if (expired) {
		sl_line_refresh(L, line);
		sl_line_hook_down(L, line, "the key expired", now_ms);
		sl_line_end_session(L, line, "expired", "key passed its hard limit");
	}
	if (line->hs)
		sl_line_feed(L, line, &in, now_ms);
}

void sl_lines_event(struct sl_lines *L, const struct sl_attrs *a,
		    int64_t now_ms)
{
	struct sl_line *line = event_line(L, a);

	if (!line) {
		sl_log(LOG_DEBUG, "netlink: %s for a line not configured here",
		       sl_event_name(a->cmd) ? sl_event_name(a->cmd) : "event");
		return;
	}
	switch (a->cmd) {
	case SEALINE_CMD_LINE_UP:
		if (line->status == SL_LINE_REGISTERED) {
			/* Attached between our subscribing and our scan: the
			 * scan already registered it. */
			if (!sl_line_refresh(L, line) &&
			    line->agent_portid == L->kops->portid(L->kctx))
				break;
			/* Down and up again while we were not looking (a
			 * lost LINE_DOWN): the registration belonged to the
			 * old line. */
			line_gone(L, line, "line re-attached", now_ms);
		}
		sl_log(LOG_INFO, "%s: line attached", sl_line_tty(line));
		attach(L, line, now_ms);
		break;
	case SEALINE_CMD_LINE_DOWN:
		if (line->status == SL_LINE_REGISTERED) {
			if ((a->present & SL_HAS(SEALINE_A_LINE_INDEX)) &&
			    a->index != line->index)
				break;	/* an older attach of the tty */
			sl_log(LOG_NOTICE, "%s: line detached", sl_line_tty(line));
			line_gone(L, line, "line down", now_ms);
		} else {
			set_status(line, SL_LINE_DETACHED);
		}
		break;
	case SEALINE_CMD_CONTROL_RECEIVED:
		control_received(L, line, a, now_ms);
		break;
	case SEALINE_CMD_REKEY_NEEDED:
	case SEALINE_CMD_KEY_EXPIRED:
		if (line->status == SL_LINE_REGISTERED)
			key_event(L, line, a, now_ms);
		break;
	default:
		break;
	}
}

/* ------------------------------------------------------------ timers */

void sl_lines_timers(struct sl_lines *L, int64_t now_ms)
{
	for (unsigned int i = 0; i < L->n; ++i) {
		struct sl_line *line = &L->lines[i];

		if (line->dial && sl_dialer_next_timer(line->dial) &&
		    sl_dialer_next_timer(line->dial) <= now_ms)
			sl_dialer_timer(line->dial, now_ms);

		if (!line->timer_ms || line->timer_ms > now_ms)
			continue;
		line->timer_ms = 0;
		if (line->hs)
			sl_line_feed_simple(L, line, SL_DRV_IN_TIMER, now_ms);
	}
}

int64_t sl_lines_next_timer(const struct sl_lines *L)
{
	int64_t next = 0;

	for (unsigned int i = 0; i < L->n; ++i) {
		int64_t t = L->lines[i].timer_ms;

		if (t && (!next || t < next))
			next = t;
		t = L->lines[i].dial ? sl_dialer_next_timer(L->lines[i].dial) : 0;
		if (t && (!next || t < next))
			next = t;
	}
	return next;
}

unsigned int sl_lines_pollfds(struct sl_lines *L, struct pollfd *pfd,
			      unsigned int max)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < L->n && n < max; ++i)
		if (L->lines[i].dial)
			sl_dialer_pollfd(L->lines[i].dial, &pfd[n++]);
	return n;
}

void sl_lines_poll_done(struct sl_lines *L, const struct pollfd *pfd,
			unsigned int n, int64_t now_ms)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < L->n && k < n; ++i) {
		if (!L->lines[i].dial)
			continue;
		if (pfd[k].fd >= 0 && pfd[k].revents)
			sl_dialer_ready(L->lines[i].dial, pfd[k].revents, now_ms);
		k++;
	}
}

int sl_lines_call(struct sl_lines *L, const char *tty, const char *account,
		  struct sl_ipc_client *c, int64_t now_ms, char *err,
		  size_t err_len)
{
	struct sl_line *line = tty ? sl_lines_find(L, tty) : NULL;

	if (!tty) {
		for (unsigned int i = 0; i < L->n && !line; ++i)
			if (L->lines[i].dial)
				line = &L->lines[i];
		if (!line) {
			snprintf(err, err_len, "no line of this sealined has modem = yes (%s)",
				 L->cfg->path);
			return -ENOENT;
		}
	}
	if (!line) {
		snprintf(err, err_len, "%s is not a line of this sealined", tty);
		return -ENOENT;
	}
	if (!line->dial) {
		snprintf(err, err_len, "%s is a direct line (no modem = yes in its [line] section): it cannot dial",
			 sl_line_tty(line));
		return -EOPNOTSUPP;
	}
	if (!L->drv) {
		snprintf(err, err_len, "this sealined has no handshake implementation");
		return -ENOSYS;
	}
	return sl_dialer_call(line->dial, account, c, now_ms, err, err_len);
}

int sl_lines_hangup(struct sl_lines *L, const char *tty, int64_t now_ms,
		    char *err, size_t err_len)
{
	struct sl_line *line = sl_lines_find(L, tty);

	if (!line || !line->dial) {
		snprintf(err, err_len, "%s is not a dial-up line of this sealined",
			 tty);
		return -ENOENT;
	}
	if (sl_dialer_hangup(line->dial, "hung up by the operator", now_ms)) {
		snprintf(err, err_len, "%s has no call", tty);
		return -ENOTCONN;
	}
	return 0;
}

/* ------------------------------------------------------------ status */

void sl_lines_status(struct sl_lines *L, struct sl_ipc_client *c)
{
	for (unsigned int i = 0; i < L->n; ++i) {
		struct sl_line *line = &L->lines[i];
		const struct sl_line_conf *conf = line->conf;
		struct sl_ipc_builder b;
		char when[32];
		bool attached = line->status == SL_LINE_REGISTERED ||
				line->status == SL_LINE_BUSY;

		if (line->status == SL_LINE_REGISTERED && sl_line_refresh(L, line))
			line_gone(L, line, "line down", sl_now_ms());
		sl_ipc_build(&b, "line");
		sl_ipc_add(&b, "tty", conf->tty);
		sl_ipc_add(&b, "status", sl_line_status_name(line->status));
		sl_slog_time(when, line->since);
		sl_ipc_add(&b, "since", when);
		if (attached) {
			const char *state = sl_state_name(line->info.state);

			sl_ipc_addf(&b, "index", "%" PRIu32, line->index);
			sl_ipc_addf(&b, "vtty", "/dev/%s%" PRIu32,
				    SEALINE_VTTY_NAME, line->index);
			sl_ipc_addf(&b, "agent_portid", "%" PRIu32,
				    line->agent_portid);
			sl_ipc_add(&b, "key_state", state ? state : "unknown");
			if (line->info.have_key)
				sl_ipc_addf(&b, "key_epoch", "%" PRIu32,
					    line->info.key_epoch);
			if (line->info.have_staged)
				sl_ipc_addf(&b, "staged_epoch", "%" PRIu32,
					    line->info.staged_epoch);
		}
		if (line->status == SL_LINE_FAILED && line->last_err)
			sl_ipc_add(&b, "error", sl_nl_strerror(line->last_err));
		if (!L->drv)
			sl_ipc_add(&b, "handshake", "unavailable");
		else if (line->hs)
			sl_ipc_add(&b, "handshake", L->drv->state ?
				   L->drv->state(line->hs) : "active");
		else
			sl_ipc_add(&b, "handshake", "none");
		sl_ipc_add(&b, "peer", conf->peer);
		sl_ipc_add(&b, "role", sl_role_name(conf->role));
		sl_ipc_addf(&b, "rekey_interval", "%" PRIu32, conf->rekey_interval);
		sl_ipc_add(&b, "pairing", conf->pairing ? "yes" : "no");
		/* Armed: a PAIR_COMMIT would be answered now. Only while an
		 * operator's sealctl pair waits on a line that may respond,
		 * or by configuration (pairing = yes). */
		sl_ipc_add(&b, "pair_armed",
			   conf->pairing || (line->op &&
					     conf->role != SL_ROLE_INITIATOR) ?
			   "yes" : "no");
		if (line->in_session) {
			sl_ipc_add(&b, "session_peer", line->rec.peer);
			sl_slog_time(when, line->rec.start);
			sl_ipc_add(&b, "session_start", when);
			sl_ipc_addf(&b, "session_tx", "%" PRIu64,
				    line->tx_bytes - line->base_tx);
			sl_ipc_addf(&b, "session_rx", "%" PRIu64,
				    line->rx_bytes - line->base_rx);
			sl_ipc_addf(&b, "rekeys", "%" PRIu32, line->rec.rekeys);
		}
		if (line->op)
			sl_ipc_add(&b, "operator", "yes");
		if (line->dial)
			sl_dialer_status(line->dial, &b);
		if (L->hooks && L->hooks->status)
			L->hooks->status(L->hooks->ctx, line, &b);
		sl_ipc_addf(&b, "control_dropped", "%" PRIu64,
			    line->control_dropped);
		sl_ipc_send_record(c, &b);
	}
}

/*
 * The peer of a running session may no longer connect: the keys go now,
 * not at the next rekey (a revoked peer must not keep talking for up to
 * a rekey interval), and the peer is told with an authentic
 * SESSION_CLOSE, so that its side fails closed at once too instead of
 * writing into a key nobody reads. The handshake forgets the key, so the
 * peer's next SESSION_INIT meets the key store's verdict (NAK REVOKED,
 * NOT_AUTHORISED or UNKNOWN_PEER).
 */
static void cut_session(struct sl_lines *L, struct sl_line *line,
			const struct sl_peer *p, int64_t now_ms)
{
	const char *outcome = !p ? "forgotten" :
			      p->revoked ? "revoked" : "not-authorised";
	struct sl_drv_input close = {
		.type = SL_DRV_IN_CLOSE,
		.close_reason = !p ? SL_CLOSE_FORGOTTEN :
				p->revoked ? SL_CLOSE_REVOKED :
				SL_CLOSE_NOT_AUTHORISED,
	};
	char detail[128];
	int ret;

	sl_line_refresh(L, line);		/* the byte counts up to now */
	sl_line_hook_down(L, line, "the peer may no longer connect", now_ms);
	if (line->hs)
		sl_line_feed(L, line, &close, now_ms);
	ret = L->kops->clear_keys ? L->kops->clear_keys(L->kctx, sl_line_tty(line)) :
	      -EOPNOTSUPP;
	if (ret)
		sl_log(LOG_ERR, "%s: clearing the keys of the session with %s failed: %s; the line keeps them until they expire or the peer rekeys (refused)",
		       sl_line_tty(line), line->rec.peer, sl_nl_strerror(ret));
	else
		sl_log(LOG_NOTICE, "%s: peer %s is %s: session ended, line keys cleared, the peer told",
		       sl_line_tty(line), line->rec.peer, outcome);
	snprintf(detail, sizeof(detail), "peer %s by the operator%s", outcome,
		 ret ? "; clearing the keys failed" : ": keys cleared");
	sl_line_end_session(L, line, outcome, detail);
}

void sl_lines_peers_changed(struct sl_lines *L, int64_t now_ms)
{
	for (unsigned int i = 0; i < L->n; ++i) {
		struct sl_line *line = &L->lines[i];

		if (line->status == SL_LINE_REGISTERED && line->in_session &&
		    line->rec.peer[0]) {
			const struct sl_peer *p = sl_ks_find(L->ks,
							     line->rec.peer);

			if (!sl_ks_peer_allowed(p)) {
				cut_session(L, line, p, now_ms);
				continue;
			}
		}
		if (line->hs)
			sl_line_feed_simple(L, line, SL_DRV_IN_PEERS_CHANGED, now_ms);
	}
}
