// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A line's handshake object (hs_driver.h): created when the line is
 * registered, fed every input, and the actions it returns carried out
 * (kernel requests, the key store, the session log, the operator), then
 * the follow-ups they cause. See lines.h.
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

#include "dialer.h"
#include "lines.h"
#include "lines_internal.h"
#include "log.h"
#include "names.h"

/* Follow-up inputs (ACTION_FAILED, LINE_INFO) one batch may cause, at
 * most: a core that keeps asking is a bug, not a reason to spin. */
#define MAX_CHAIN 8

static int64_t wall(void)
{
	return (int64_t)time(NULL);
}

static const char *how_outcome(enum sl_drv_how how)
{
	switch (how) {
	case SL_DRV_NAK_SENT:		return "nak-sent";
	case SL_DRV_NAK_RECEIVED:	return "nak-received";
	case SL_DRV_TIMEOUT:		return "timeout";
	case SL_DRV_LOCAL:		return "failed";
	case SL_DRV_ABORTED:		return "aborted";
	}
	return "failed";
}

/* ------------------------------------------------------------ session log */

static void write_record(struct sl_lines *L, const struct sl_session_rec *rec)
{
	int ret = sl_slog_append(L->slog, rec);

	if (ret)
		sl_log(LOG_ERR, "%s: cannot write the session log %s: %s",
		       rec->line, L->slog->path, strerror(-ret));
}

void sl_line_end_session(struct sl_lines *L, struct sl_line *line,
			const char *outcome, const char *detail)
{
	struct sl_session_rec *rec = &line->rec;

	if (!line->in_session)
		return;
	rec->end = wall();
	rec->bytes_tx = line->tx_bytes >= line->base_tx ?
			line->tx_bytes - line->base_tx : 0;
	rec->bytes_rx = line->rx_bytes >= line->base_rx ?
			line->rx_bytes - line->base_rx : 0;
	snprintf(rec->outcome, sizeof(rec->outcome), "%s", outcome);
	snprintf(rec->detail, sizeof(rec->detail), "%s", detail ? detail : "");
	write_record(L, rec);
	sl_log(LOG_NOTICE, "%s: session with %s ended (%s): %" PRIu64 " bytes sent, %" PRIu64 " received, %" PRIu32 " rekeys",
	       sl_line_tty(line), rec->peer[0] ? rec->peer : "unknown peer",
	       detail && *detail ? detail : outcome, rec->bytes_tx,
	       rec->bytes_rx, rec->rekeys);
	line->in_session = false;
}

static void start_session(struct sl_lines *L, struct sl_line *line,
			  const struct sl_drv_action *a)
{
	struct sl_session_rec *rec = &line->rec;

	sl_line_end_session(L, line, "ok", "replaced by a new session");
	sl_line_refresh(L, line);
	memset(rec, 0, sizeof(*rec));
	rec->start = wall();
	snprintf(rec->line, sizeof(rec->line), "%s", sl_line_tty(line));
	snprintf(rec->kind, sizeof(rec->kind), "session");
	snprintf(rec->role, sizeof(rec->role), "%s", sl_drv_role_name(a->role));
	snprintf(rec->peer, sizeof(rec->peer), "%s", a->peer);
	line->base_tx = line->tx_bytes;
	line->base_rx = line->rx_bytes;
	line->in_session = true;
}

/* ------------------------------------------------------------ actions */

static void wipe_action(struct sl_drv_action *a)
{
	if (a->key_tx)
		sl_wipe(a->key_tx, SEALINE_KEY_LEN);
	if (a->key_rx)
		sl_wipe(a->key_rx, SEALINE_KEY_LEN);
	if (a->courier_tx)
		sl_wipe(a->courier_tx, SEALINE_KEY_LEN);
	if (a->courier_rx)
		sl_wipe(a->courier_rx, SEALINE_KEY_LEN);
	if (a->ltk)
		sl_wipe(a->ltk, SL_X25519_KEY_LEN);
	a->key_tx = a->key_rx = a->courier_tx = a->courier_rx = a->ltk = NULL;
}

static void report_done(struct sl_lines *L, struct sl_line *line,
			const struct sl_drv_action *a, int64_t now_ms)
{
	const char *peer = a->peer[0] ? a->peer : "unknown peer";
	const char *cipher = sl_cipher_name(a->cipher);

	bool fresh = a->kind == SL_DRV_KIND_SESSION || !line->in_session;

	switch (a->kind) {
	case SL_DRV_KIND_SESSION:
		start_session(L, line, a);
		sl_log(LOG_NOTICE, "%s: session with %s keyed (epoch %" PRIu32 ", %s, %s)",
		       sl_line_tty(line), peer, a->epoch, cipher ? cipher : "?",
		       sl_drv_role_name(a->role));
		break;
	case SL_DRV_KIND_REKEY:
		if (!line->in_session)
			start_session(L, line, a);
		else
			line->rec.rekeys++;
		sl_log(LOG_INFO, "%s: rekeyed with %s (epoch %" PRIu32 ", %s)",
		       sl_line_tty(line), peer, a->epoch, cipher ? cipher : "?");
		break;
	case SL_DRV_KIND_PAIRING: {
		struct sl_session_rec rec = { 0 };

		rec.start = rec.end = wall();
		snprintf(rec.line, sizeof(rec.line), "%s", sl_line_tty(line));
		snprintf(rec.kind, sizeof(rec.kind), "pairing");
		snprintf(rec.role, sizeof(rec.role), "%s", sl_drv_role_name(a->role));
		snprintf(rec.peer, sizeof(rec.peer), "%s", a->peer);
		snprintf(rec.outcome, sizeof(rec.outcome), "ok");
		write_record(L, &rec);
		sl_log(LOG_NOTICE, "%s: paired with %s: long-term key stored",
		       sl_line_tty(line), peer);
		sl_line_op_end(line, 0, a->peer, NULL);
		break;
	}
	}
	if (a->kind != SL_DRV_KIND_PAIRING && a->peer[0] && L->hooks &&
	    L->hooks->session)
		L->hooks->session(L->hooks->ctx, line, a->peer, fresh, now_ms);
}

static void report_failed(struct sl_lines *L, struct sl_line *line,
			  const struct sl_drv_action *a)
{
	const char *reason = sl_nak_reason_token(a->reason);
	struct sl_session_rec rec = { 0 };
	char text[256];

	rec.start = rec.end = wall();
	snprintf(rec.line, sizeof(rec.line), "%s", sl_line_tty(line));
	snprintf(rec.kind, sizeof(rec.kind), "%s", sl_drv_kind_name(a->kind));
	snprintf(rec.role, sizeof(rec.role), "%s", sl_drv_role_name(a->role));
	snprintf(rec.peer, sizeof(rec.peer), "%s", a->peer);
	snprintf(rec.outcome, sizeof(rec.outcome), "%s", how_outcome(a->how));
	snprintf(rec.reason, sizeof(rec.reason), "%s",
		 a->reason ? (reason ? reason : "unknown") : "");
	snprintf(rec.detail, sizeof(rec.detail), "%s", a->text);
	write_record(L, &rec);

	snprintf(text, sizeof(text), "%s%s%s failed (%s%s%s)",
		 sl_drv_kind_name(a->kind), a->peer[0] ? " with " : "", a->peer,
		 how_outcome(a->how), a->reason ? ", " : "",
		 a->reason ? (reason ? reason : "unknown") : "");
	sl_log(a->alert ? LOG_ALERT : LOG_WARNING, "%s: %s%s%s%s", sl_line_tty(line),
	       text, a->text[0] ? ": " : "", a->text,
	       a->alert ? " -- possible man-in-the-middle attack" : "");
	if (a->how == SL_DRV_NAK_RECEIVED && a->reason == SL_NAK_REVOKED)
		sl_log(LOG_WARNING, "%s: peer %s has revoked this installation (account %s): only its operator can allow it again (sealctl peers authorise %s on its side)",
		       sl_line_tty(line), a->peer[0] ? a->peer : "(unknown)",
		       L->ks->id.account, L->ks->id.account);
	if (a->kind == SL_DRV_KIND_PAIRING && !a->refusal) {
		sl_line_op_failure(text, sizeof(text), a);
		sl_line_op_end(line, a->how == SL_DRV_TIMEOUT ? -ETIMEDOUT :
			     a->reason == SL_NAK_SAS_MISMATCH ? -EKEYREJECTED :
			     -ECONNREFUSED, NULL, text);
	}
}

/*
 * The peer ended the session for good (an authentic SESSION_CLOSE): it
 * revoked or forgot this installation. The line fails closed now and
 * visibly (no key: writes block) rather than sending into a key the peer
 * threw away until that key's hard limit.
 */
static void peer_closed(struct sl_lines *L, struct sl_line *line,
			const struct sl_drv_action *a, bool alive,
			int64_t now_ms)
{
	const char *why = a->reason == SL_CLOSE_REVOKED ? "revoked" :
			  a->reason == SL_CLOSE_FORGOTTEN ? "forgotten" :
			  "no longer authorised";
	char detail[160];
	int ret = -ENODEV;

	sl_line_hook_down(L, line, "the peer closed the session", now_ms);
	if (alive) {
		sl_line_refresh(L, line);
		ret = L->kops->clear_keys ?
		      L->kops->clear_keys(L->kctx, sl_line_tty(line)) : -EOPNOTSUPP;
	}
	sl_log(LOG_WARNING, "%s: peer %s ended the session: it has %s this installation; line keys %s. Only its operator can undo this (sealctl peers authorise %s on its side)",
	       sl_line_tty(line), a->peer[0] ? a->peer : "(unknown)", why,
	       ret ? "could not be cleared" : "cleared", L->ks->id.account);
	snprintf(detail, sizeof(detail), "the peer %s this installation", why);
	sl_line_end_session(L, line, "closed-by-peer", detail);
}

struct followup {
	bool action_failed;
	int failed_type;
	int err;
	uint32_t epoch;
	bool query;
};

/*
 * The highest key epoch staged on a line, kept in STATE_DIR/epoch.TTY
 * ("N\n", 0600) so that a restarted daemon does not number a new
 * session's keys like an earlier one (the kernel forgets its epochs when
 * it wipes the keys).
 */
static void epoch_load(struct sl_lines *L, struct sl_line *line)
{
	char name[96], buf[16];
	unsigned long v;
	ssize_t n;
	int fd;

	if (line->epoch_loaded || !L->ks || L->ks->dirfd < 0)
		return;
	line->epoch_loaded = true;
	snprintf(name, sizeof(name), "epoch.%s", sl_line_tty(line));
	fd = openat(L->ks->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	v = strtoul(buf, NULL, 10);
	line->epoch_high = v < UINT32_MAX ? (uint32_t)v : UINT32_MAX;
}

static void epoch_note(struct sl_lines *L, struct sl_line *line,
		       uint32_t epoch)
{
	char name[96], buf[16];
	int ret;

	if (epoch <= line->epoch_high)
		return;
	line->epoch_high = epoch;
	if (!L->ks || L->ks->dirfd < 0)
		return;
	snprintf(name, sizeof(name), "epoch.%s", sl_line_tty(line));
	snprintf(buf, sizeof(buf), "%" PRIu32 "\n", epoch);
	ret = sl_ks_write_atomic(L->ks->dirfd, name, buf, strlen(buf));
	if (ret)
		sl_log(LOG_WARNING, "%s: cannot record key epoch %" PRIu32 " in %s: %s",
		       sl_line_tty(line), epoch, name, strerror(-ret));
}

/*
 * Carry out a batch. alive: the line is still attached and ours (false
 * after LINE_DOWN: only reports and logs are acted on).
 */
static void run_actions(struct sl_lines *L, struct sl_line *line,
			struct sl_drv_actions *acts, bool alive,
			int64_t now_ms, struct followup *fu)
{
	const char *tty = sl_line_tty(line);
	bool skip = false;
	int ret;

	for (unsigned int i = 0; i < acts->n && i < SL_DRV_MAX_ACTIONS; ++i) {
		struct sl_drv_action *a = &acts->a[i];

		if (skip) {
			wipe_action(a);
			continue;
		}
		switch (a->type) {
		case SL_DRV_SEND:
			if (!alive)
				break;
			ret = L->kops->send_control(L->kctx, tty, a->msg, a->len);
			if (ret)
				sl_log(LOG_WARNING, "%s: sending a control message of %zu bytes failed: %s",
				       tty, a->len, sl_nl_strerror(ret));
			else	/* type and size only: the timeline of a handshake */
				sl_log(LOG_DEBUG, "%s: control message 0x%02x sent (%zu bytes)",
				       tty, a->len >= 2 ? a->msg[1] : 0, a->len);
			break;
		case SL_DRV_STAGE_KEY:
			ret = alive ? L->kops->set_key(L->kctx, tty, a->epoch,
						       a->cipher, a->key_tx,
						       a->key_rx) : -ENODEV;
			if (ret) {
				sl_log(LOG_ERR, "%s: staging key epoch %" PRIu32 " failed: %s",
				       tty, a->epoch, sl_nl_strerror(ret));
				*fu = (struct followup){ true, a->type, ret, a->epoch, false };
				skip = true;
				wipe_action(a);
			} else {
				sl_log(LOG_DEBUG, "%s: key epoch %" PRIu32 " staged",
				       tty, a->epoch);
				epoch_note(L, line, a->epoch);
			}
			if (!ret && L->hooks && L->hooks->stage)
				L->hooks->stage(L->hooks->ctx, line, a);
			wipe_action(a);
			break;
		case SL_DRV_ACTIVATE:
			ret = alive ? L->kops->activate_key(L->kctx, tty, a->epoch) :
			      -ENODEV;
			if (ret) {
				sl_log(LOG_ERR, "%s: activating key epoch %" PRIu32 " failed: %s",
				       tty, a->epoch, sl_nl_strerror(ret));
				*fu = (struct followup){ true, a->type, ret, a->epoch, false };
				skip = true;
			} else {
				sl_log(LOG_DEBUG, "%s: key epoch %" PRIu32 " active",
				       tty, a->epoch);
				if (L->hooks && L->hooks->activate)
					L->hooks->activate(L->hooks->ctx, line,
							   a->epoch);
			}
			break;
		case SL_DRV_QUERY_LINE:
			if (alive)
				fu->query = true;
			break;
		case SL_DRV_STORE_PEER: {
			const struct sl_peer *old = sl_ks_find(L->ks, a->peer);
			char why[512] = "";

			/* The driver stores over a record with a key, or a
			 * revoked one, only at the operator's --replace. */
			if (old && (old->has_pub || old->revoked))
				sl_log(LOG_NOTICE, "%s: replacing the stored pairing with %s (%s) at the operator's request (sealctl pair --replace)",
				       tty, a->peer, old->revoked ? "revoked" :
				       old->authorised ? "authorised" :
				       "not authorised");
			ret = a->ltk ? sl_ks_store_pair(L->ks, a->peer, a->peer_pub,
							a->ltk, why, sizeof(why)) :
			      -EINVAL;
			wipe_action(a);
			if (ret) {
				sl_log(LOG_ERR, "%s: storing the pairing with %s failed: %s",
				       tty, a->peer, ret == -EINVAL && !why[0] ?
				       "no key" : why);
				*fu = (struct followup){ true, a->type, ret, 0, false };
				skip = true;
			}
			break;
		}
		case SL_DRV_SHOW_SAS:
		case SL_DRV_ASK_SAS:
			sl_line_op_prompt(line, a);
			if (line->op)
				break;
			sl_log(LOG_NOTICE, "%s: a pairing with %s waits for its operator to %s the code: sealctl pair %s",
			       tty, a->peer, a->type == SL_DRV_SHOW_SAS ?
			       "compare" : "type", tty);
			break;
		case SL_DRV_PAIR_WAIT:
			sl_line_op_waiting(line, a->reason, a->ms);
			break;
		case SL_DRV_SAS_MATCHED:
			if (line->op) {
				struct sl_ipc_builder b;

				sl_ipc_build(&b, "matched");
				sl_ipc_send_record(line->op, &b);
			}
			break;
		case SL_DRV_CLEAR_KEYS:
			peer_closed(L, line, a, alive, now_ms);
			break;
		case SL_DRV_TIMER:
			line->timer_ms = a->ms ? now_ms + a->ms : 0;
			break;
		case SL_DRV_DONE:
			report_done(L, line, a, now_ms);
			break;
		case SL_DRV_FAILED:
			report_failed(L, line, a);
			break;
		case SL_DRV_LOG:
			sl_log(a->level >= LOG_EMERG && a->level <= LOG_DEBUG ?
			       a->level : LOG_INFO, "%s: %s", tty, a->text);
			break;
		default:
			sl_log(LOG_ERR, "%s: the handshake asked for unknown action %d",
			       tty, (int)a->type);
			wipe_action(a);
			break;
		}
	}
	/* Whatever the core put beyond its batch size is not read. */
}

void sl_line_destroy_hs(struct sl_lines *L, struct sl_line *line)
{
	if (line->hs)
		L->drv->destroy(line->hs);
	line->hs = NULL;
	line->timer_ms = 0;
}

/* env->line_info: GET_LINE now. */
static int env_line_info(void *ctx, struct sl_drv_line_info *out)
{
	struct sl_line *line = ctx;
	int ret = sl_line_refresh(line->owner, line);

	if (!ret)
		*out = line->info;
	return ret;
}

int sl_line_create_hs(struct sl_lines *L, struct sl_line *line)
{
	int ret;

	if (!L->drv || line->hs)
		return 0;
	epoch_load(L, line);
	line->env = (struct sl_drv_env){
		.tty = sl_line_tty(line),
		.index = line->index,
		.conf = line->conf,
		.self = &L->ks->id,
		.ks = L->ks,
		.line_info = env_line_info,
		.line_ctx = line,
		.call_peer = line->call_peer[0] ? line->call_peer : NULL,
		.call_caller = line->call_caller,
		.epoch_floor = line->epoch_high,
	};
	ret = L->drv->create(&line->hs, &line->env);
	if (ret) {
		line->hs = NULL;
		sl_log(LOG_ERR, "%s: cannot create the handshake: %s", sl_line_tty(line),
		       strerror(-ret));
	}
	return ret;
}

/*
 * Give the line's handshake one input and carry out what it asks, then
 * the follow-ups (ACTION_FAILED, LINE_INFO) that causes. depth: 1 when
 * this is the fresh object's LINE_READY after an internal failure, which
 * is not retried again.
 */
static void feed_depth(struct sl_lines *L, struct sl_line *line,
		       struct sl_drv_input *in, int64_t now_ms, int depth)
{
	bool alive = in->type != SL_DRV_IN_LINE_DOWN;

	for (int round = 0; line->hs && round < MAX_CHAIN; ++round) {
		struct sl_drv_actions *acts = calloc(1, sizeof(*acts));
		struct followup fu = { 0 };
		int ret;

		if (!acts) {
			sl_log(LOG_ERR, "%s: out of memory", sl_line_tty(line));
			return;
		}
		in->now_ms = now_ms;
		ret = L->drv->input(line->hs, in, acts);
		if (acts->n > SL_DRV_MAX_ACTIONS)
			acts->n = SL_DRV_MAX_ACTIONS;
		run_actions(L, line, acts, alive, now_ms, &fu);
		sl_wipe(acts, sizeof(*acts));
		free(acts);
		if (ret) {
			sl_log(LOG_ERR, "%s: the handshake failed internally (%s); starting afresh",
			       sl_line_tty(line), strerror(-ret));
			sl_line_destroy_hs(L, line);
			sl_line_op_end(line, -EIO, NULL, "the handshake failed internally");
			if (alive && !depth && !sl_line_create_hs(L, line)) {
				struct sl_drv_input ready = {
					.type = SL_DRV_IN_LINE_READY,
					.info = line->info,
				};

				feed_depth(L, line, &ready, now_ms, depth + 1);
			}
			return;
		}
		if (!alive)
			return;
		memset(in, 0, sizeof(*in));
		if (fu.action_failed) {
			in->type = SL_DRV_IN_ACTION_FAILED;
			in->failed_action = fu.failed_type;
			in->err = fu.err;
			in->epoch = fu.epoch;
		} else if (fu.query) {
			ret = sl_line_refresh(L, line);
			if (ret) {
				sl_log(LOG_WARNING, "%s: GET_LINE failed: %s",
				       sl_line_tty(line), sl_nl_strerror(ret));
				return;
			}
			in->type = SL_DRV_IN_LINE_INFO;
			in->info = line->info;
		} else {
			return;
		}
	}
	if (line->hs)
		sl_log(LOG_ERR, "%s: the handshake keeps asking for follow-ups; stopped after %d",
		       sl_line_tty(line), MAX_CHAIN);
}

void sl_line_feed(struct sl_lines *L, struct sl_line *line,
		 struct sl_drv_input *in, int64_t now_ms)
{
	feed_depth(L, line, in, now_ms, 0);
}

void sl_line_feed_simple(struct sl_lines *L, struct sl_line *line,
			enum sl_drv_input_type type, int64_t now_ms)
{
	struct sl_drv_input in = { .type = type };

	sl_line_feed(L, line, &in, now_ms);
}

