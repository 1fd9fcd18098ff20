// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealined's lines and the execution of handshake actions. See lines.h
 * and agent.h.
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
#include "log.h"
#include "names.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Follow-up inputs (ACTION_FAILED, LINE_INFO) one batch may cause, at
 * most: a core that keeps asking is a bug, not a reason to spin. */
#define MAX_CHAIN 8

/* How often "control message dropped" is logged per line. */
#define DROP_LOG_INTERVAL_MS 60000

int64_t sl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t wall(void)
{
	return (int64_t)time(NULL);
}

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

/* ------------------------------------------------------------ netlink */

static uint32_t nl_portid(void *ctx)
{
	return sl_nl_portid(ctx);
}

static int line_request(struct sl_nl *nl, uint8_t cmd, const char *tty,
			struct nl_msg **out)
{
	struct sl_line_ref ref = { .by_index = false };
	struct nl_msg *msg;

	snprintf(ref.tty, sizeof(ref.tty), "%s", tty);
	msg = sl_nl_new_request(nl, cmd, 0);
	if (!msg)
		return -ENOMEM;
	if (sl_nl_put_line(msg, &ref)) {
		sl_nl_free_msg(msg);
		return -EMSGSIZE;
	}
	*out = msg;
	return 0;
}

struct get_line_ctx {
	const char *tty;
	struct sl_attrs *out;
	bool got;
};

static int get_line_reply(const struct sl_attrs *a, void *arg)
{
	struct get_line_ctx *ctx = arg;

	if (a->cmd != SEALINE_CMD_GET_LINE)
		return 0;
	if (ctx->got || !(a->present & SL_HAS(SEALINE_A_LINE_TTY)) ||
	    strcmp(a->tty, ctx->tty))
		return -EPROTO;
	*ctx->out = *a;
	ctx->out->control = NULL;
	ctx->out->control_len = 0;
	ctx->got = true;
	return 0;
}

static int nl_get_line(void *c, const char *tty, struct sl_attrs *out)
{
	struct get_line_ctx ctx = { .tty = tty, .out = out };
	struct nl_msg *msg;
	int ret;

	ret = line_request(c, SEALINE_CMD_GET_LINE, tty, &msg);
	if (ret)
		return ret;
	ret = sl_nl_request(c, msg, get_line_reply, &ctx);
	if (!ret && !ctx.got)
		ret = -EPROTO;
	return ret;
}

static int nl_register_agent(void *c, const char *tty)
{
	struct nl_msg *msg;
	int ret;

	ret = line_request(c, SEALINE_CMD_REGISTER_AGENT, tty, &msg);
	if (ret)
		return ret;
	return sl_nl_request(c, msg, NULL, NULL);
}

static int nl_send_control(void *c, const char *tty, const uint8_t *data,
			   size_t len)
{
	struct nl_msg *msg;
	int ret;

	if (!len || len > SEALINE_MAX_CONTROL)
		return -EMSGSIZE;
	ret = line_request(c, SEALINE_CMD_SEND_CONTROL, tty, &msg);
	if (ret)
		return ret;
	if (nla_put(msg, SEALINE_A_CONTROL, (int)len, data) < 0) {
		sl_nl_free_msg(msg);
		return -EMSGSIZE;
	}
	return sl_nl_request(c, msg, NULL, NULL);
}

static int nl_set_key(void *c, const char *tty, uint32_t epoch, uint8_t cipher,
		      const uint8_t *tx, const uint8_t *rx)
{
	struct nl_msg *msg;
	int ret;

	ret = line_request(c, SEALINE_CMD_SET_KEY, tty, &msg);
	if (ret)
		return ret;
	if (nla_put_u32(msg, SEALINE_A_KEY_EPOCH, epoch) < 0 ||
	    nla_put_u8(msg, SEALINE_A_CIPHER, cipher) < 0 ||
	    nla_put(msg, SEALINE_A_KEY_TX, SEALINE_KEY_LEN, tx) < 0 ||
	    nla_put(msg, SEALINE_A_KEY_RX, SEALINE_KEY_LEN, rx) < 0) {
		sl_nl_free_msg(msg);	/* wipes */
		return -EMSGSIZE;
	}
	/* sl_nl_request wipes the request buffer, keys included. */
	return sl_nl_request(c, msg, NULL, NULL);
}

static int nl_activate_key(void *c, const char *tty, uint32_t epoch)
{
	struct nl_msg *msg;
	int ret;

	ret = line_request(c, SEALINE_CMD_ACTIVATE_KEY, tty, &msg);
	if (ret)
		return ret;
	if (nla_put_u32(msg, SEALINE_A_KEY_EPOCH, epoch) < 0) {
		sl_nl_free_msg(msg);
		return -EMSGSIZE;
	}
	return sl_nl_request(c, msg, NULL, NULL);
}

static int nl_clear_keys(void *c, const char *tty)
{
	struct nl_msg *msg;
	int ret;

	ret = line_request(c, SEALINE_CMD_CLEAR_KEYS, tty, &msg);
	if (ret)
		return ret;
	return sl_nl_request(c, msg, NULL, NULL);
}

const struct sl_kernel_ops sl_kernel_netlink = {
	.portid = nl_portid,
	.get_line = nl_get_line,
	.register_agent = nl_register_agent,
	.send_control = nl_send_control,
	.set_key = nl_set_key,
	.activate_key = nl_activate_key,
	.clear_keys = nl_clear_keys,
};

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
		L->lines[i].since = wall();
	}
	for (unsigned int i = 0; i < L->n; ++i) {
		int ret;

		if (!cfg->lines[i].modem)
			continue;
		ret = sl_dialer_new(L, &L->lines[i], sl_now_ms(),
				    &L->lines[i].dial);
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

static const char *tty_of(const struct sl_line *line)
{
	return line->conf->tty;
}

static void set_status(struct sl_line *line, enum sl_line_status status)
{
	if (line->status != status)
		line->since = wall();
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

static int refresh(struct sl_lines *L, struct sl_line *line)
{
	struct sl_attrs a;
	int ret = L->kops->get_line(L->kctx, tty_of(line), &a);

	if (!ret)
		take_info(line, &a);
	return ret;
}

/* ------------------------------------------------------------ session log */

static void write_record(struct sl_lines *L, const struct sl_session_rec *rec)
{
	int ret = sl_slog_append(L->slog, rec);

	if (ret)
		sl_log(LOG_ERR, "%s: cannot write the session log %s: %s",
		       rec->line, L->slog->path, strerror(-ret));
}

static void end_session(struct sl_lines *L, struct sl_line *line,
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
	       tty_of(line), rec->peer[0] ? rec->peer : "unknown peer",
	       detail && *detail ? detail : outcome, rec->bytes_tx,
	       rec->bytes_rx, rec->rekeys);
	line->in_session = false;
}

static void start_session(struct sl_lines *L, struct sl_line *line,
			  const struct sl_drv_action *a)
{
	struct sl_session_rec *rec = &line->rec;

	end_session(L, line, "ok", "replaced by a new session");
	refresh(L, line);
	memset(rec, 0, sizeof(*rec));
	rec->start = wall();
	snprintf(rec->line, sizeof(rec->line), "%s", tty_of(line));
	snprintf(rec->kind, sizeof(rec->kind), "session");
	snprintf(rec->role, sizeof(rec->role), "%s", sl_drv_role_name(a->role));
	snprintf(rec->peer, sizeof(rec->peer), "%s", a->peer);
	line->base_tx = line->tx_bytes;
	line->base_rx = line->rx_bytes;
	line->in_session = true;
}

/* ------------------------------------------------------------ operator */

/*
 * Why a pairing failed, in the operator's words: what happened and what
 * to do, no protocol internals. alert only where the protocol saw what
 * an honest peer never sends.
 */
static void operator_failure(char *buf, size_t len,
			     const struct sl_drv_action *a)
{
	bool ours = a->how == SL_DRV_NAK_SENT;

	switch (a->how == SL_DRV_NAK_SENT || a->how == SL_DRV_NAK_RECEIVED ?
		a->reason : SL_NAK_NONE) {
	case SL_NAK_SAS_MISMATCH:
		snprintf(buf, len, "%s: the two sides computed different codes. Nothing is stored. This is what a man in the middle causes: check the line before pairing again",
			 ours ? "the code typed 3 times is not this side's code" :
				"the other operator typed a code different from theirs 3 times");
		return;
	case SL_NAK_REFUSED:
		if (a->detail == 1 && ours)
			snprintf(buf, len, "this installation holds a pairing with %s already (or has revoked it); to replace it, pair with sealctl pair --replace. Nothing is stored",
				 a->peer[0] ? a->peer : "that account");
		else if (a->detail == 1)
			snprintf(buf, len, "the other side holds a pairing with this installation's account already; its operator must pair with sealctl pair --replace. Nothing is stored");
		else
			snprintf(buf, len, ours ? "the pairing was refused here. Nothing is stored" :
				 "the other operator refused the pairing or left. Nothing is stored");
		return;
	case SL_NAK_NOT_ARMED:
		snprintf(buf, len, "the other side is not waiting to pair: its operator must run sealctl pair on its line");
		return;
	case SL_NAK_VERSION:
		snprintf(buf, len, "the two sides speak different protocol versions (%s side: %u to %u): update sealine on the older side",
			 ours ? "this" : "the other", a->ver_min, a->ver_max);
		return;
	case SL_NAK_IDENTITY_MISMATCH:
		snprintf(buf, len, "%s account is not the one this call is for: the call was connected to someone else. Nothing is stored",
			 ours ? "the other side's" : "this side's");
		return;
	case SL_NAK_BUSY:
		snprintf(buf, len, "the other side is busy with another handshake: try again in a moment");
		return;
	case SL_NAK_TIMEOUT:
		snprintf(buf, len, ours ? "no decision on the code in time. Nothing is stored" :
			 "the other side gave up waiting. Nothing is stored");
		return;
	case SL_NAK_BAD_MESSAGE:
		snprintf(buf, len, a->alert ?
			 "the other side's key did not match its commitment: this is what a man in the middle causes. Nothing is stored" :
			 "a malformed message ended the pairing (see the logs of both sides). Nothing is stored");
		return;
	case SL_NAK_INTERNAL:
		snprintf(buf, len, "%s failed internally (see its log). Nothing is stored",
			 ours ? "this side" : "the other side");
		return;
	}
	if (a->how == SL_DRV_ABORTED)
		snprintf(buf, len, "the pairing was cut off (%s). Nothing is stored",
			 a->note[0] ? a->note : "line down");
	else
		snprintf(buf, len, "%s. Nothing is stored",
			 a->note[0] ? a->note : "the pairing failed");
}

/*
 * The operator's pairing waits for the other side: reason 0 at the start,
 * NOT_ARMED (reachable, its operator not there yet) or TIMEOUT (no
 * answer at all) later; ms: the time the operator still waits.
 */
static void operator_waiting(struct sl_line *line, uint8_t reason,
			     uint32_t ms)
{
	struct sl_ipc_builder b;

	if (!line->op)
		return;
	sl_ipc_build(&b, "waiting");
	sl_ipc_add(&b, "reason", reason == SL_NAK_NOT_ARMED ? "not-armed" :
		   reason == SL_NAK_TIMEOUT ? "no-answer" : "start");
	sl_ipc_addf(&b, "seconds", "%u", (ms + 999) / 1000);
	sl_ipc_send_record(line->op, &b);
}

/* SHOW_SAS or ASK_SAS to the operator: the code, or a request for it,
 * with the peer's claimed identity and the time left to decide. */
static void operator_prompt(struct sl_line *line, const struct sl_drv_action *a)
{
	char fp[SL_KS_FINGERPRINT_LEN + 1];
	struct sl_ipc_builder b;

	if (!line->op)
		return;
	sl_ks_fingerprint(fp, a->peer_pub);
	if (a->type == SL_DRV_SHOW_SAS) {
		sl_ipc_build(&b, "sas");
		sl_ipc_add(&b, "code", a->sas);
	} else {
		sl_ipc_build(&b, "ask-sas");
		sl_ipc_addf(&b, "attempts", "%u", a->attempts);
	}
	sl_ipc_add(&b, "peer", a->peer);
	sl_ipc_add(&b, "fingerprint", fp);
	sl_ipc_addf(&b, "seconds", "%u", (a->ms + 999) / 1000);
	sl_ipc_send_record(line->op, &b);
}

static void operator_end(struct sl_line *line, int err, const char *peer,
			 const char *text)
{
	struct sl_ipc_client *c = line->op;

	if (!c)
		return;
	if (err) {
		sl_ipc_send_err(c, err, "%s", text);
	} else {
		struct sl_ipc_builder b;

		sl_ipc_build(&b, "ok");
		sl_ipc_add(&b, "peer", peer);
		sl_ipc_send_record(c, &b);
	}
	c->pairing = NULL;
	line->op = NULL;
}

/* ------------------------------------------------------------ actions */

static void wipe_action(struct sl_drv_action *a)
{
	if (a->key_tx)
		sl_wipe(a->key_tx, SEALINE_KEY_LEN);
	if (a->key_rx)
		sl_wipe(a->key_rx, SEALINE_KEY_LEN);
	if (a->ltk)
		sl_wipe(a->ltk, SL_X25519_KEY_LEN);
	a->key_tx = a->key_rx = a->ltk = NULL;
}

static void report_done(struct sl_lines *L, struct sl_line *line,
			const struct sl_drv_action *a)
{
	const char *peer = a->peer[0] ? a->peer : "unknown peer";
	const char *cipher = sl_cipher_name(a->cipher);

	switch (a->kind) {
	case SL_DRV_KIND_SESSION:
		start_session(L, line, a);
		sl_log(LOG_NOTICE, "%s: session with %s keyed (epoch %" PRIu32 ", %s, %s)",
		       tty_of(line), peer, a->epoch, cipher ? cipher : "?",
		       sl_drv_role_name(a->role));
		break;
	case SL_DRV_KIND_REKEY:
		if (!line->in_session)
			start_session(L, line, a);
		else
			line->rec.rekeys++;
		sl_log(LOG_INFO, "%s: rekeyed with %s (epoch %" PRIu32 ", %s)",
		       tty_of(line), peer, a->epoch, cipher ? cipher : "?");
		break;
	case SL_DRV_KIND_PAIRING: {
		struct sl_session_rec rec = { 0 };

		rec.start = rec.end = wall();
		snprintf(rec.line, sizeof(rec.line), "%s", tty_of(line));
		snprintf(rec.kind, sizeof(rec.kind), "pairing");
		snprintf(rec.role, sizeof(rec.role), "%s", sl_drv_role_name(a->role));
		snprintf(rec.peer, sizeof(rec.peer), "%s", a->peer);
		snprintf(rec.outcome, sizeof(rec.outcome), "ok");
		write_record(L, &rec);
		sl_log(LOG_NOTICE, "%s: paired with %s: long-term key stored",
		       tty_of(line), peer);
		operator_end(line, 0, a->peer, NULL);
		break;
	}
	}
}

static void report_failed(struct sl_lines *L, struct sl_line *line,
			  const struct sl_drv_action *a)
{
	const char *reason = sl_nak_reason_token(a->reason);
	struct sl_session_rec rec = { 0 };
	char text[256];

	rec.start = rec.end = wall();
	snprintf(rec.line, sizeof(rec.line), "%s", tty_of(line));
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
	sl_log(a->alert ? LOG_ALERT : LOG_WARNING, "%s: %s%s%s%s", tty_of(line),
	       text, a->text[0] ? ": " : "", a->text,
	       a->alert ? " -- possible man-in-the-middle attack" : "");
	if (a->how == SL_DRV_NAK_RECEIVED && a->reason == SL_NAK_REVOKED)
		sl_log(LOG_WARNING, "%s: peer %s has revoked this installation (account %s): only its operator can allow it again (sealctl peers authorise %s on its side)",
		       tty_of(line), a->peer[0] ? a->peer : "(unknown)",
		       L->ks->id.account, L->ks->id.account);
	if (a->kind == SL_DRV_KIND_PAIRING && !a->refusal) {
		operator_failure(text, sizeof(text), a);
		operator_end(line, a->how == SL_DRV_TIMEOUT ? -ETIMEDOUT :
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
			const struct sl_drv_action *a, bool alive)
{
	const char *why = a->reason == SL_CLOSE_REVOKED ? "revoked" :
			  a->reason == SL_CLOSE_FORGOTTEN ? "forgotten" :
			  "no longer authorised";
	char detail[160];
	int ret = -ENODEV;

	if (alive) {
		refresh(L, line);
		ret = L->kops->clear_keys ?
		      L->kops->clear_keys(L->kctx, tty_of(line)) : -EOPNOTSUPP;
	}
	sl_log(LOG_WARNING, "%s: peer %s ended the session: it has %s this installation; line keys %s. Only its operator can undo this (sealctl peers authorise %s on its side)",
	       tty_of(line), a->peer[0] ? a->peer : "(unknown)", why,
	       ret ? "could not be cleared" : "cleared", L->ks->id.account);
	snprintf(detail, sizeof(detail), "the peer %s this installation", why);
	end_session(L, line, "closed-by-peer", detail);
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
	snprintf(name, sizeof(name), "epoch.%s", tty_of(line));
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
	snprintf(name, sizeof(name), "epoch.%s", tty_of(line));
	snprintf(buf, sizeof(buf), "%" PRIu32 "\n", epoch);
	ret = sl_ks_write_atomic(L->ks->dirfd, name, buf, strlen(buf));
	if (ret)
		sl_log(LOG_WARNING, "%s: cannot record key epoch %" PRIu32 " in %s: %s",
		       tty_of(line), epoch, name, strerror(-ret));
}

/*
 * Carry out a batch. alive: the line is still attached and ours (false
 * after LINE_DOWN: only reports and logs are acted on).
 */
static void run_actions(struct sl_lines *L, struct sl_line *line,
			struct sl_drv_actions *acts, bool alive,
			int64_t now_ms, struct followup *fu)
{
	const char *tty = tty_of(line);
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
			wipe_action(a);
			if (ret) {
				sl_log(LOG_ERR, "%s: staging key epoch %" PRIu32 " failed: %s",
				       tty, a->epoch, sl_nl_strerror(ret));
				*fu = (struct followup){ true, a->type, ret, a->epoch, false };
				skip = true;
			} else {
				sl_log(LOG_DEBUG, "%s: key epoch %" PRIu32 " staged",
				       tty, a->epoch);
				epoch_note(L, line, a->epoch);
			}
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
			}
			break;
		case SL_DRV_QUERY_LINE:
			if (alive)
				fu->query = true;
			break;
		case SL_DRV_STORE_PEER: {
			const struct sl_peer *old = sl_ks_find(L->ks, a->peer);
			char why[512];

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
			operator_prompt(line, a);
			if (line->op)
				break;
			sl_log(LOG_NOTICE, "%s: a pairing with %s waits for its operator to %s the code: sealctl pair %s",
			       tty, a->peer, a->type == SL_DRV_SHOW_SAS ?
			       "compare" : "type", tty);
			break;
		case SL_DRV_PAIR_WAIT:
			operator_waiting(line, a->reason, a->ms);
			break;
		case SL_DRV_SAS_MATCHED:
			if (line->op) {
				struct sl_ipc_builder b;

				sl_ipc_build(&b, "matched");
				sl_ipc_send_record(line->op, &b);
			}
			break;
		case SL_DRV_CLEAR_KEYS:
			peer_closed(L, line, a, alive);
			break;
		case SL_DRV_TIMER:
			line->timer_ms = a->ms ? now_ms + a->ms : 0;
			break;
		case SL_DRV_DONE:
			report_done(L, line, a);
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

static void destroy_hs(struct sl_lines *L, struct sl_line *line)
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
	int ret = refresh(line->owner, line);

	if (!ret)
		*out = line->info;
	return ret;
}

static int create_hs(struct sl_lines *L, struct sl_line *line)
{
	int ret;

	if (!L->drv || line->hs)
		return 0;
	epoch_load(L, line);
	line->env = (struct sl_drv_env){
		.tty = tty_of(line),
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
		sl_log(LOG_ERR, "%s: cannot create the handshake: %s", tty_of(line),
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
			sl_log(LOG_ERR, "%s: out of memory", tty_of(line));
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
			       tty_of(line), strerror(-ret));
			destroy_hs(L, line);
			operator_end(line, -EIO, NULL, "the handshake failed internally");
			if (alive && !depth && !create_hs(L, line)) {
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
			ret = refresh(L, line);
			if (ret) {
				sl_log(LOG_WARNING, "%s: GET_LINE failed: %s",
				       tty_of(line), sl_nl_strerror(ret));
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
		       tty_of(line), MAX_CHAIN);
}

static void feed(struct sl_lines *L, struct sl_line *line,
		 struct sl_drv_input *in, int64_t now_ms)
{
	feed_depth(L, line, in, now_ms, 0);
}

static void feed_simple(struct sl_lines *L, struct sl_line *line,
			enum sl_drv_input_type type, int64_t now_ms)
{
	struct sl_drv_input in = { .type = type };

	feed(L, line, &in, now_ms);
}

/* ------------------------------------------------------------ life cycle */

static void line_registered(struct sl_lines *L, struct sl_line *line,
			    int64_t now_ms)
{
	struct sl_drv_input in = { .type = SL_DRV_IN_LINE_READY };

	set_status(line, SL_LINE_REGISTERED);
	line->control_dropped = 0;
	if (!L->drv) {
		sl_log(LOG_WARNING, "%s: registered as the agent of /dev/%s%" PRIu32 " (netlink port %" PRIu32 "), but this sealined has no handshake implementation: pairing and sessions are not available yet, and the line stays fail-closed",
		       tty_of(line), SEALINE_VTTY_NAME, line->index,
		       line->agent_portid);
		return;
	}
	sl_log(LOG_NOTICE, "%s: registered as the agent of /dev/%s%" PRIu32 " (netlink port %" PRIu32 ")",
	       tty_of(line), SEALINE_VTTY_NAME, line->index, line->agent_portid);
	/* A call's line: its handshake waits for the call to be bridged. */
	if (line->dial && !sl_dialer_connected(line->dial)) {
		sl_dialer_line_up(line->dial, now_ms);
		return;
	}
	if (create_hs(L, line))
		return;
	in.info = line->info;
	feed(L, line, &in, now_ms);
}

/* Try to become the line's agent. */
static void attach(struct sl_lines *L, struct sl_line *line, int64_t now_ms)
{
	uint32_t ours = L->kops->portid(L->kctx);
	struct sl_attrs a;
	int ret;

	ret = L->kops->get_line(L->kctx, tty_of(line), &a);
	if (ret) {
		if (line->status != SL_LINE_DETACHED &&
		    line->status != SL_LINE_FAILED)
			sl_log(LOG_INFO, "%s: not attached to sealine", tty_of(line));
		if (line->status == SL_LINE_FAILED)
			return;
		set_status(line, SL_LINE_DETACHED);
		return;
	}
	take_info(line, &a);
	if (line->agent_portid && line->agent_portid != ours) {
		if (line->status != SL_LINE_BUSY)
			sl_log(LOG_ERR, "%s: another process (netlink port %" PRIu32 ") is already this line's agent; not taking it over (another sealined for the same line?)",
			       tty_of(line), line->agent_portid);
		set_status(line, SL_LINE_BUSY);
		return;
	}
	if (line->agent_portid != ours) {
		ret = L->kops->register_agent(L->kctx, tty_of(line));
		if (ret) {
			if (line->status != SL_LINE_FAILED || line->last_err != ret)
				sl_log(LOG_ERR, "%s: cannot register as the line's agent: %s",
				       tty_of(line), sl_nl_strerror(ret));
			line->last_err = ret;
			set_status(line, SL_LINE_FAILED);
			return;
		}
		/* Read back what the kernel now says about the line. */
		ret = refresh(L, line);
		if (ret || line->agent_portid != ours) {
			sl_log(LOG_ERR, "%s: registered, but the kernel names another agent (%" PRIu32 ")",
			       tty_of(line), line->agent_portid);
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
	if (line->hs) {
		feed_simple(L, line, SL_DRV_IN_LINE_DOWN, now_ms);
		destroy_hs(L, line);
	}
	end_session(L, line, "ok", why);
	operator_end(line, -ENOLINK, NULL, "the line went down");
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
		ret = refresh(L, line);
		if (ret) {
			sl_log(LOG_NOTICE, "%s: line is gone (%s)", tty_of(line),
			       sl_nl_strerror(ret));
			line_gone(L, line, "line down", now_ms);
			continue;
		}
		if (line->agent_portid != ours) {
			sl_log(LOG_ERR, "%s: another process (netlink port %" PRIu32 ") took over as the line's agent; this daemon no longer keys it",
			       tty_of(line), line->agent_portid);
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
			sl_log(LOG_NOTICE, "%s: %s", tty_of(line), why);
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
			refresh(L, line);
		if (line->hs) {
			feed_simple(L, line, SL_DRV_IN_LINE_DOWN, now);
			destroy_hs(L, line);
		}
		end_session(L, line, "ok", why);
		operator_end(line, -ESHUTDOWN, NULL, why);
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
	if (!line->hs) {
		line->control_dropped++;
		if (!line->drop_logged_ms ||
		    now_ms - line->drop_logged_ms >= DROP_LOG_INTERVAL_MS) {
			sl_log(LOG_WARNING, "%s: control message of %zu bytes dropped (%" PRIu64 " so far): %s",
			       tty_of(line), a->control_len, line->control_dropped,
			       L->drv ? "no handshake object" :
			       "no handshake implementation in this build, the peer's handshake cannot be answered");
			line->drop_logged_ms = now_ms;
		}
		return;
	}
	sl_log(LOG_DEBUG, "%s: control message 0x%02x received (%zu bytes)",
	       tty_of(line), a->control_len >= 2 ? a->control[1] : 0,
	       a->control_len);
	feed(L, line, &in, now_ms);
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
	       "%s: key epoch %" PRIu32 " %s (%s limit)%s", tty_of(line),
	       a->key_epoch, expired ? "expired: the line is fail-closed" :
	       "needs replacing", limit ? limit : "unknown",
	       L->drv ? "" : "; no handshake implementation to rekey it");
	if (expired) {
		refresh(L, line);
		end_session(L, line, "expired", "key passed its hard limit");
	}
	if (line->hs)
		feed(L, line, &in, now_ms);
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
			if (!refresh(L, line) &&
			    line->agent_portid == L->kops->portid(L->kctx))
				break;
			/* Down and up again while we were not looking (a
			 * lost LINE_DOWN): the registration belonged to the
			 * old line. */
			line_gone(L, line, "line re-attached", now_ms);
		}
		sl_log(LOG_INFO, "%s: line attached", tty_of(line));
		attach(L, line, now_ms);
		break;
	case SEALINE_CMD_LINE_DOWN:
		if (line->status == SL_LINE_REGISTERED) {
			if ((a->present & SL_HAS(SEALINE_A_LINE_INDEX)) &&
			    a->index != line->index)
				break;	/* an older attach of the tty */
			sl_log(LOG_NOTICE, "%s: line detached", tty_of(line));
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
			feed_simple(L, line, SL_DRV_IN_TIMER, now_ms);
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

int sl_lines_send_control(struct sl_lines *L, struct sl_line *line,
			  const uint8_t *msg, size_t len)
{
	return L->kops->send_control(L->kctx, tty_of(line), msg, len);
}

void sl_lines_call_connected(struct sl_lines *L, struct sl_line *line,
			     const char *peer, bool caller, int64_t now_ms)
{
	struct sl_drv_input in = { .type = SL_DRV_IN_LINE_READY };

	snprintf(line->call_peer, sizeof(line->call_peer), "%s", peer);
	line->call_caller = caller;
	if (line->status != SL_LINE_REGISTERED || create_hs(L, line))
		return;
	refresh(L, line);
	in.info = line->info;
	feed(L, line, &in, now_ms);
}

void sl_lines_call_over(struct sl_lines *L, struct sl_line *line,
			const char *why, int64_t now_ms)
{
	if (line->hs) {
		feed_simple(L, line, SL_DRV_IN_LINE_DOWN, now_ms);
		destroy_hs(L, line);
	}
	if (line->status == SL_LINE_REGISTERED) {
		refresh(L, line);
		L->kops->clear_keys(L->kctx, tty_of(line));
	}
	end_session(L, line, "ok", why);
	operator_end(line, -ECONNRESET, NULL, why);
	memset(line->call_peer, 0, sizeof(line->call_peer));
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
			 tty_of(line));
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

		if (line->status == SL_LINE_REGISTERED && refresh(L, line))
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
		sl_ipc_addf(&b, "control_dropped", "%" PRIu64,
			    line->control_dropped);
		sl_ipc_send_record(c, &b);
	}
}

/* ------------------------------------------------------------ operator */

static int say(char *err, size_t err_len, int ret, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int say(char *err, size_t err_len, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return ret;
}

int sl_lines_pair(struct sl_lines *L, const char *tty, struct sl_ipc_client *c,
		  bool replace, uint32_t wait_s, int64_t now_ms, char *err,
		  size_t err_len)
{
	struct sl_line *line = sl_lines_find(L, tty);
	struct sl_drv_input in = {
		.type = SL_DRV_IN_PAIR,
		.replace = replace,
		.wait_ms = (wait_s ? wait_s : SL_IPC_PAIR_WAIT_S) * 1000u,
	};

	if (!line)
		return say(err, err_len, -ENOENT,
			   "%s is not a line of this sealined (no [line %s] in %s)",
			   tty, tty, L->cfg->path);
	if (!L->drv)
		return say(err, err_len, -ENOSYS,
			   "pairing is not available: this sealined has no handshake implementation yet");
	if (c->pairing)
		return say(err, err_len, -EBUSY,
			   "this connection is already the operator of a pairing");
	if (line->status != SL_LINE_REGISTERED || !line->hs)
		return say(err, err_len, -ENOTCONN, "%s is %s, not ready to pair",
			   tty, sl_line_status_name(line->status));
	if (line->op)
		return say(err, err_len, -EBUSY,
			   "another operator is already pairing on %s", tty);
	line->op = c;
	c->pairing = line;
	sl_log(LOG_NOTICE, "%s: operator (pid %d) starts a pairing (waits %" PRIu32 " s%s)",
	       tty, (int)c->pid, in.wait_ms / 1000,
	       replace ? ", may replace a stored peer" : "");
	feed(L, line, &in, now_ms);
	return 0;
}

static struct sl_line *operator_line(struct sl_lines *L,
				     struct sl_ipc_client *c)
{
	for (unsigned int i = 0; i < L->n; ++i)
		if (c->pairing == &L->lines[i] && L->lines[i].op == c)
			return &L->lines[i];
	return NULL;
}

int sl_lines_operator_confirm(struct sl_lines *L, struct sl_ipc_client *c,
			      bool yes, int64_t now_ms, char *err,
			      size_t err_len)
{
	struct sl_line *line = operator_line(L, c);
	struct sl_drv_input in = { .type = SL_DRV_IN_SAS_CONFIRM, .confirm = yes };

	if (!line || !line->hs)
		return say(err, err_len, -EINVAL,
			   "no pairing in progress on this connection");
	feed(L, line, &in, now_ms);
	return 0;
}

int sl_lines_operator_sas(struct sl_lines *L, struct sl_ipc_client *c,
			  const char *typed, int64_t now_ms, char *err,
			  size_t err_len)
{
	struct sl_line *line = operator_line(L, c);
	struct sl_drv_input in = { .type = SL_DRV_IN_SAS_TYPED };

	if (!line || !line->hs)
		return say(err, err_len, -EINVAL,
			   "no pairing in progress on this connection");
	if (sl_sas_normalize(in.sas, typed))
		return say(err, err_len, -EINVAL,
			   "not a code: 5 characters from 2-9 and A-Z without I and O");
	feed(L, line, &in, now_ms);
	sl_wipe(&in, sizeof(in));
	return 0;
}

void sl_lines_operator_gone(struct sl_lines *L, struct sl_ipc_client *c,
			    int64_t now_ms)
{
	struct sl_line *line = operator_line(L, c);

	for (unsigned int i = 0; i < L->n; ++i)
		if (L->lines[i].dial)
			sl_dialer_operator_gone(L->lines[i].dial, c);
	c->pairing = NULL;
	if (!line)
		return;
	line->op = NULL;
	sl_log(LOG_NOTICE, "%s: the pairing's operator went away", tty_of(line));
	if (line->hs)
		feed_simple(L, line, SL_DRV_IN_OPERATOR_GONE, now_ms);
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

	refresh(L, line);		/* the byte counts up to now */
	if (line->hs)
		feed(L, line, &close, now_ms);
	ret = L->kops->clear_keys ? L->kops->clear_keys(L->kctx, tty_of(line)) :
	      -EOPNOTSUPP;
	if (ret)
		sl_log(LOG_ERR, "%s: clearing the keys of the session with %s failed: %s; the line keeps them until they expire or the peer rekeys (refused)",
		       tty_of(line), line->rec.peer, sl_nl_strerror(ret));
	else
		sl_log(LOG_NOTICE, "%s: peer %s is %s: session ended, line keys cleared, the peer told",
		       tty_of(line), line->rec.peer, outcome);
	snprintf(detail, sizeof(detail), "peer %s by the operator%s", outcome,
		 ret ? "; clearing the keys failed" : ": keys cleared");
	end_session(L, line, outcome, detail);
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
			feed_simple(L, line, SL_DRV_IN_PEERS_CHANGED, now_ms);
	}
}
