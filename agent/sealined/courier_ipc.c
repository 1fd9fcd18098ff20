// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl's courier requests (ipc.h): send, outbox, inbox, their logs.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "courier_internal.h"
#include "dialer.h"
#include "hex.h"
#include "lines_internal.h"
#include "log.h"
#include "receipt.h"
#include "sessionlog.h"
#include "tsptext.h"

#define LOG_MAX_RECORDS	10000

static int64_t wall(void)
{
	return (int64_t)time(NULL);
}

/* ---- send ---------------------------------------------------------------- */

/* Whether some line could reach account by the way asked. */
static const char *unreachable(struct sl_courier *c, const char *via)
{
	struct sl_lines *L = c->L;

	if (!strncmp(via, "line:", 5) || !strncmp(via, "call:", 5))
		return NULL;		/* checked when parsed */
	if (!strcmp(via, SL_OB_VIA_TSP))
		return sl_ctsp_reachable(c) ? NULL :
		       "no line of this sealined can call the TSP (modem = yes with tsp_number and tsp_key): it cannot hand an envelope to the TSP";
	for (unsigned int i = 0; i < L->n; i++) {
		if (!strcmp(via, "call") && !L->lines[i].dial)
			continue;
		return NULL;
	}
	return !strcmp(via, "call") ?
	       "no line of this sealined has modem = yes: it cannot call" :
	       "this sealined has no lines";
}

int sl_courier_send_request(struct sl_courier *c, struct sl_ipc_client *cl,
			    const struct sl_ipc_req *req, int64_t now)
{
	struct sl_intake_args a = { .client = cl, .pipe_fd = -1,
				    .deliver_window = -1 };
	bool schedule = false;
	const struct sl_peer *p;
	const char *to = req->argv[1], *why;
	char err[512];
	struct stat st;
	int ret;

	(void)now;
	snprintf(a.via, sizeof(a.via), "auto");
	for (int i = 2; i < req->argc; i++) {
		const char *arg = req->argv[i];

		if (!strcmp(arg, "wait")) {
			a.wait = true;
		} else if (!strcmp(arg, "call")) {
			snprintf(a.via, sizeof(a.via), "call");
		} else if (!strncmp(arg, "line=", 5)) {
			const struct sl_line *line = sl_lines_find(c->L, arg + 5);

			if (!line) {
				sl_ipc_send_err(cl, -ENOENT, "%s is not a line of this sealined",
						arg + 5);
				return -ENOENT;
			}
			snprintf(a.via, sizeof(a.via), "%s:%s",
				 line->dial ? "call" : "line", arg + 5);
		} else if (!strcmp(arg, "tsp")) {
			snprintf(a.via, sizeof(a.via), SL_OB_VIA_TSP);
		} else if (!strncmp(arg, "after=", 6) ||
			   !strncmp(arg, "window=", 7)) {
			char *end;
			long long v;

			errno = 0;
			v = strtoll(strchr(arg, '=') + 1, &end, 10);
			if (schedule || errno || *end || end == strchr(arg, '=') + 1 ||
			    (arg[0] == 'a' && v <= wall() * 1000) ||
			    (arg[0] == 'w' && (v < 0 || v >= 1440 * 1440 ||
					       v / 1440 == v % 1440))) {
				sl_ipc_send_err(cl, -EINVAL, "send: '%s' is no schedule: after=EPOCH-MS in the future, or window=START*1440+END (minutes, UTC, START != END), one of them",
						arg);
				return -EINVAL;
			}
			schedule = true;
			if (arg[0] == 'a')
				a.deliver_after_ms = v;
			else
				a.deliver_window = (int32_t)v;
		} else {
			sl_ipc_send_err(cl, -EINVAL, "send: '%s' is neither line=TTY, call, tsp, after=, window= nor wait",
					arg);
			return -EINVAL;
		}
	}
	if (schedule && strcmp(a.via, SL_OB_VIA_TSP)) {
		sl_ipc_send_err(cl, -EINVAL, "send: a schedule (after=, window=) is for an envelope handed to the TSP: add tsp");
		return -EINVAL;
	}
	if (!sl_account_valid(to)) {
		sl_ipc_send_err(cl, -EINVAL, "'%s' is not an account number (12 digits)",
				to);
		return -EINVAL;
	}
	if (!strcmp(to, c->ks->id.account)) {
		sl_ipc_send_err(cl, -EINVAL, "%s is this installation's own account",
				to);
		return -EINVAL;
	}
	p = sl_ks_find(c->ks, to);
	if (!p || !p->has_pub || !p->ltk) {
		sl_ipc_send_err(cl, -ENOKEY, "%s is not paired with this installation: an envelope is sealed under the pair's key (sealctl pair, or sealctl call %s, first)",
				to, to);
		return -ENOKEY;
	}
	if (!sl_ks_peer_allowed(p)) {
		sl_ipc_send_err(cl, -EPERM, "%s is %s here: sealctl peers authorise %s first",
				to, p->revoked ? "revoked" : "not authorised", to);
		return -EPERM;
	}
	why = unreachable(c, a.via);
	if (why) {
		sl_ipc_send_err(cl, -ENETUNREACH, "%s", why);
		return -ENETUNREACH;
	}
	a.pipe_fd = sl_ipc_take_fd(cl);
	if (a.pipe_fd < 0 || fstat(a.pipe_fd, &st) || !S_ISFIFO(st.st_mode)) {
		if (a.pipe_fd >= 0)
			close(a.pipe_fd);
		sl_ipc_send_err(cl, -EBADF, "send needs the read end of a pipe passed along (sealctl send does that)");
		return -EBADF;
	}
	snprintf(a.to, sizeof(a.to), "%s", to);
	ret = sl_intake_start(c, &a, err, sizeof(err));
	if (ret) {
		sl_ipc_send_err(cl, ret, "%s", err);
		return ret;
	}
	return 0;
}

/* ---- outbox ---------------------------------------------------------------- */

static void item_record(struct sl_courier *c, struct sl_ipc_client *cl,
			const struct sl_ob_item *it)
{
	const struct sl_peer *p = sl_ks_find(c->ks, it->to);
	struct sl_ipc_builder b;
	char when[32];

	sl_ipc_build(&b, "envelope");
	sl_ipc_add(&b, "id", it->hex);
	sl_ipc_add(&b, "to", it->to);
	if (p && p->name[0])
		sl_ipc_add(&b, "name", p->name);
	sl_ipc_add(&b, "state", sl_ob_state_name(it->state));
	sl_slog_time(when, it->queued);
	sl_ipc_add(&b, "queued", when);
	sl_ipc_add(&b, "via", it->via);
	sl_ipc_addf(&b, "size", "%" PRIu64, it->size);
	sl_ipc_addf(&b, "files", "%" PRIu64, it->files);
	sl_ipc_addf(&b, "content_bytes", "%" PRIu64, it->content_bytes);
	sl_ipc_addf(&b, "chunks", "%" PRIu64, it->chunks);
	sl_ipc_addf(&b, "acked", "%" PRIu64, it->acked);
	sl_ipc_addf(&b, "attempts", "%" PRIu32, it->attempts);
	sl_ipc_addf(&b, "wire_bytes", "%" PRIu64, it->wire_bytes);
	if (sl_ctsp_via(it) && it->deliver_after_ms) {
		sl_slog_time(when, it->deliver_after_ms / 1000);
		sl_ipc_add(&b, "deliver_after", when);
	}
	if (sl_ctsp_via(it) && it->deliver_window >= 0)
		sl_ipc_addf(&b, "deliver_window", "%02d:%02d-%02d:%02d",
			    it->deliver_window / 1440 / 60,
			    it->deliver_window / 1440 % 60,
			    it->deliver_window % 1440 / 60,
			    it->deliver_window % 1440 % 60);
	if (!sl_ob_final(it->state) && it->next_try > wall()) {
		sl_slog_time(when, it->next_try);
		sl_ipc_add(&b, "next_try", when);
	}
	if (it->finished) {
		sl_slog_time(when, it->finished);
		sl_ipc_add(&b, "finished", when);
	}
	if (it->state == SL_OB_REFUSED)
		sl_ipc_add(&b, "reason",
			   sl_env_reason_name((enum sl_env_reason)it->reason));
	if (it->detail[0])
		sl_ipc_add(&b, "detail", it->detail);
	sl_ipc_send_record(cl, &b);
}

static struct sl_ob_item *find_item(struct sl_courier *c,
				    struct sl_ipc_client *cl, const char *hex)
{
	bool ambiguous;
	struct sl_ob_item *it = sl_outbox_find(&c->ob, hex, &ambiguous);

	if (!it)
		sl_ipc_send_err(cl, ambiguous ? -EINVAL : -ENOENT, ambiguous ?
				"%s names several envelopes: give more of the id" :
				"no envelope %s in the outbox (ids: sealctl outbox)",
				hex);
	return it;
}

static void outbox_cancel(struct sl_courier *c, struct sl_ipc_client *cl,
			  const char *hex, int64_t now)
{
	struct sl_ob_item *it = find_item(c, cl, hex);
	uint8_t id[SL_ENV_ID_LEN];
	int ret;

	if (!it)
		return;
	if (it->state == SL_OB_DELIVERED || it->state == SL_OB_CANCELLED) {
		sl_ipc_send_err(cl, -EALREADY, "envelope %s is %s already",
				it->hex, sl_ob_state_name(it->state));
		return;
	}
	if (it->state == SL_OB_HELD) {
		sl_ipc_send_err(cl, -EBUSY, "envelope %s is held at the TSP, which delivers it: nothing can withdraw it from there (the receipt or the TSP's notice will say what became of it)",
				it->hex);
		return;
	}
	memcpy(id, it->id, SL_ENV_ID_LEN);
	/* Final before the transfer is withdrawn: its end (the ABORTs sent)
	 * runs the schedule, which would start a cancelled envelope anew
	 * while it is still "sending". */
	ret = sl_outbox_finish(&c->ob, it, SL_OB_CANCELLED, 0,
			       "cancelled by the operator", wall());
	if (sl_cline_withdraw(c, id, now))
		sl_log(LOG_NOTICE, "envelope %s: transfer withdrawn", it->hex);
	if (c->tsp.line && c->tsp.deposit &&
	    !memcmp(c->tsp.id, id, SL_ENV_ID_LEN)) {
		sl_log(LOG_NOTICE, "envelope %s: hand-over to the TSP withdrawn",
		       it->hex);
		sl_dialer_hangup(c->tsp.line->dial, "the envelope was cancelled",
				 now);
	}
	it = sl_outbox_get(&c->ob, id);
	if (ret || !it) {
		sl_ipc_send_err(cl, -EIO, "the outbox cannot record it (see the log)");
		return;
	}
	sl_log(LOG_NOTICE, "envelope %s to %s cancelled (by pid %d)", it->hex,
	       it->to, (int)cl->pid);
	sl_courier_notify(c, it, "cancelled", "cancelled by the operator");
	sl_ipc_sendf(cl, "ok id=%s", it->hex);
}

static void outbox_retry(struct sl_courier *c, struct sl_ipc_client *cl,
			 const char *hex, int64_t now)
{
	struct sl_ob_item *it = find_item(c, cl, hex);
	int ret;

	if (!it)
		return;
	ret = sl_outbox_retry(&c->ob, it, wall());
	if (ret) {
		sl_ipc_send_err(cl, ret, ret == -ENOENT ?
				"envelope %s was deleted; send its files again" :
				"envelope %s is %s: only a refused, failed, expired or bounced one can be tried again",
				it->hex, sl_ob_state_name(it->state));
		return;
	}
	sl_log(LOG_NOTICE, "envelope %s to %s queued again (by pid %d)",
	       it->hex, it->to, (int)cl->pid);
	sl_ipc_sendf(cl, "ok id=%s", it->hex);
	sl_courier_schedule(c, now);
}

static void outbox_receipt(struct sl_courier *c, struct sl_ipc_client *cl,
			   const char *hex)
{
	struct sl_ob_item *it = find_item(c, cl, hex);
	char text[SL_RCPT_MAX_LEN + 1];
	struct sl_ipc_builder b;
	ssize_t n;

	if (!it)
		return;
	n = it->state == SL_OB_DELIVERED ?
	    sl_outbox_read_receipt(&c->ob, it, text, sizeof(text)) : -ENOENT;
	if (n < 0) {
		sl_ipc_send_err(cl, -ENOENT, "envelope %s has no receipt (it is %s)",
				it->hex, sl_ob_state_name(it->state));
		return;
	}
	text[n] = 0;
	sl_ipc_build(&b, "receipt");
	sl_ipc_add(&b, "id", it->hex);
	sl_ipc_add(&b, "text", text);
	sl_ipc_send_record(cl, &b);
	sl_ipc_send_ok(cl);
}

/* The TSP's acceptance or notice of an envelope sent through it. */
static void outbox_tsp_text(struct sl_courier *c, struct sl_ipc_client *cl,
			    const char *hex, bool notice)
{
	struct sl_ob_item *it = find_item(c, cl, hex);
	char text[SL_TSPTEXT_MAX_LEN + 1];
	struct sl_ipc_builder b;
	ssize_t n;

	if (!it)
		return;
	n = notice ? sl_outbox_read_notice(&c->ob, it, text, sizeof(text) - 1) :
	    sl_outbox_read_acceptance(&c->ob, it, text, sizeof(text) - 1);
	if (n < 0) {
		sl_ipc_send_err(cl, -ENOENT, "envelope %s has no %s of the TSP's (it is %s%s)",
				it->hex, notice ? "notice" : "acceptance",
				sl_ob_state_name(it->state),
				sl_ctsp_via(it) ? "" : ", not sent through the TSP");
		return;
	}
	text[n] = 0;
	sl_ipc_build(&b, notice ? "notice" : "acceptance");
	sl_ipc_add(&b, "id", it->hex);
	sl_ipc_add(&b, "text", text);
	sl_ipc_send_record(cl, &b);
	sl_ipc_send_ok(cl);
}

/* ---- inbox ------------------------------------------------------------------ */

static void inbox_list(struct sl_courier *c, struct sl_ipc_client *cl)
{
	DIR *d;
	struct dirent *de;
	int fd = sl_cs_reopen(c->sp.inboxfd);
	unsigned int n = 0;

	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		sl_ipc_send_err(cl, -errno, "%s: %s", c->conf.inbox,
				strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		char text[SL_RCPT_MAX_LEN + 1], why[128], when[32];
		uint8_t id[SL_ENV_ID_LEN];
		struct sl_ipc_builder b;
		const struct sl_peer *p;
		struct sl_rcpt r;
		ssize_t len;

		if (!sl_cs_parse_name(de->d_name, "", id))
			continue;
		len = sl_spool_receipt(&c->sp, id, text, sizeof(text));
		if (len <= 0 || sl_rcpt_verify(&r, text, (size_t)len,
					       c->sign.pub, why, sizeof(why)))
			continue;
		p = sl_ks_find(c->ks, r.sender);
		sl_ipc_build(&b, "envelope");
		sl_ipc_add(&b, "id", de->d_name);
		sl_ipc_add(&b, "from", r.sender);
		sl_ipc_add(&b, "via", sl_spool_via(&c->sp, id));
		if (p && p->name[0])
			sl_ipc_add(&b, "name", p->name);
		sl_slog_time(when, r.delivered);
		sl_ipc_add(&b, "delivered", when);
		sl_ipc_addf(&b, "files", "%" PRIu64, r.files);
		sl_ipc_addf(&b, "content_bytes", "%" PRIu64, r.bytes);
		sl_ipc_addf(&b, "size", "%" PRIu64, r.size);
		sl_ipc_addf(&b, "path", "%s/%s", c->conf.inbox, de->d_name);
		sl_ipc_send_record(cl, &b);
		n++;
	}
	closedir(d);
	sl_ipc_sendf(cl, "ok envelopes=%u", n);
}

static int file_record(void *ctx, const char *name, char type, uint64_t size,
		       int64_t mtime)
{
	struct sl_ipc_client *cl = ctx;
	struct sl_ipc_builder b;
	char when[32];

	sl_ipc_build(&b, "file");
	sl_ipc_add(&b, "name", name);
	sl_ipc_add(&b, "type", type == 'd' ? "directory" :
		   type == 'l' ? "symlink" : "file");
	sl_ipc_addf(&b, "size", "%" PRIu64, size);
	sl_slog_time(when, mtime);
	sl_ipc_add(&b, "mtime", when);
	sl_ipc_send_record(cl, &b);
	return cl->closing ? -EPIPE : 0;
}

static void inbox_show(struct sl_courier *c, struct sl_ipc_client *cl,
		       const char *arg)
{
	char hex[SL_CS_HEX_ID];
	size_t n = strlen(arg);
	int ret;

	if (n != 2 * SL_ENV_ID_LEN) {
		sl_ipc_send_err(cl, -EINVAL, "give the whole id (32 hex digits, as sealctl inbox shows it)");
		return;
	}
	for (size_t i = 0; i <= n; i++)
		hex[i] = (char)(arg[i] >= 'A' && arg[i] <= 'F' ? arg[i] + 32 :
				arg[i]);
	ret = sl_spool_walk(&c->sp, hex, file_record, cl);
	if (ret == -ENOENT || ret == -EINVAL)
		sl_ipc_send_err(cl, -ENOENT, "no envelope %s in the inbox %s",
				hex, c->conf.inbox);
	else if (ret)
		sl_ipc_send_err(cl, ret, "%s/%s: %s", c->conf.inbox, hex,
				strerror(-ret));
	else
		sl_ipc_sendf(cl, "ok path=%s/%s", c->conf.inbox, hex);
}

/* ---- The logs ---------------------------------------------------------------- */

static void log_records(struct sl_ipc_client *cl, const char *path,
			const char *count_arg)
{
	unsigned long count = LOG_MAX_RECORDS;
	char **lines;
	size_t n = 0, next = 0, cap, skipped = 0;
	char *line = NULL;
	size_t size = 0;
	ssize_t len;
	FILE *f;

	if (count_arg) {
		char *end;

		errno = 0;
		count = strtoul(count_arg, &end, 10);
		if (errno || *end || !count || count_arg[0] < '0' ||
		    count_arg[0] > '9') {
			sl_ipc_send_err(cl, -EINVAL, "COUNT must be a positive number");
			return;
		}
		if (count > LOG_MAX_RECORDS)
			count = LOG_MAX_RECORDS;
	}
	f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			sl_ipc_sendf(cl, "ok records=0");
		else
			sl_ipc_send_err(cl, -errno, "%s: %s", path,
					strerror(errno));
		return;
	}
	cap = count;
	lines = calloc(cap, sizeof(*lines));
	if (!lines) {
		fclose(f);
		sl_ipc_send_err(cl, -ENOMEM, "out of memory");
		return;
	}
	while ((len = getline(&line, &size, f)) > 0) {
		/* A torn last line after a crash is not a record. */
		if (line[len - 1] != '\n' || line[0] != '{')
			continue;
		line[len - 1] = 0;
		free(lines[next]);
		lines[next] = strdup(line);
		next = (next + 1) % cap;
		if (n < cap)
			n++;
	}
	free(line);
	fclose(f);
	/* The newest records that fit what a client may have pending
	 * (ipc.h): more and it would be dropped as not reading. */
	for (size_t i = 0, bytes = 0; i < n; i++) {
		const char *rec = lines[(next + cap - 1 - i) % cap];

		bytes += (rec ? strlen(rec) : 0) + 8;
		if (bytes > SL_IPC_MAX_PENDING / 2) {
			skipped = n - i;
			break;
		}
	}
	for (size_t i = skipped; i < n; i++) {
		const char *rec = lines[(next + cap - n + i) % cap];
		size_t rl = rec ? strlen(rec) : 0;
		char *out = rec ? malloc(rl + 8) : NULL;

		if (!out)
			continue;
		memcpy(out, "entry ", 6);
		memcpy(out + 6, rec, rl + 1);
		sl_ipc_send(cl, out);
		free(out);
	}
	for (size_t i = 0; i < cap; i++)
		free(lines[i]);
	free(lines);
	sl_ipc_sendf(cl, "ok records=%zu%s", n - skipped,
		     skipped ? " truncated=yes" : "");
}

/* ---- Dispatch ---------------------------------------------------------------- */

bool sl_courier_request(struct sl_courier *c, struct sl_ipc_client *cl,
			const struct sl_ipc_req *req, int64_t now)
{
	const char *v = req->argv[0];

	if (!strcmp(v, "send")) {
		sl_courier_send_request(c, cl, req, now);
	} else if (!strcmp(v, "outbox")) {
		for (size_t i = 0; i < c->ob.n; i++)
			item_record(c, cl, &c->ob.items[i]);
		sl_ipc_sendf(cl, "ok envelopes=%zu", c->ob.n);
	} else if (!strcmp(v, "outbox-cancel")) {
		outbox_cancel(c, cl, req->argv[1], now);
	} else if (!strcmp(v, "outbox-retry")) {
		outbox_retry(c, cl, req->argv[1], now);
	} else if (!strcmp(v, "outbox-receipt")) {
		outbox_receipt(c, cl, req->argv[1]);
	} else if (!strcmp(v, "outbox-acceptance")) {
		outbox_tsp_text(c, cl, req->argv[1], false);
	} else if (!strcmp(v, "outbox-notice")) {
		outbox_tsp_text(c, cl, req->argv[1], true);
	} else if (!strcmp(v, "outbox-collect")) {
		sl_ctsp_collect(c, cl, now);
	} else if (!strcmp(v, "inbox")) {
		inbox_list(c, cl);
	} else if (!strcmp(v, "inbox-show")) {
		inbox_show(c, cl, req->argv[1]);
	} else if (!strcmp(v, "courier-log")) {
		if (!strcmp(req->argv[1], "sent"))
			log_records(cl, c->conf.sent_log,
				    req->argc > 2 ? req->argv[2] : NULL);
		else if (!strcmp(req->argv[1], "received"))
			log_records(cl, c->conf.received_log,
				    req->argc > 2 ? req->argv[2] : NULL);
		else
			sl_ipc_send_err(cl, -EINVAL, "courier-log sent|received [COUNT]");
	} else {
		return false;
	}
	return true;
}
