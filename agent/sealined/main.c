// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealined: the sealine keying agent.
 *
 * One process, one thread, one poll() loop over
 *
 *	a signalfd		SIGTERM/SIGINT stop, SIGHUP re-reads the
 *				configuration and the peers and reopens the
 *				session log
 *	the agent socket	generic netlink: requests, and what the kernel
 *				unicasts to a line's agent (control messages,
 *				key events)
 *	the monitor socket	generic netlink, joined to the "events" group:
 *				line up and down
 *	the control socket	sealctl's requests (ipc.h)
 *
 * plus timers: the handshakes' (lines.c) and a periodic rescan of the
 * lines that catches what events cannot (a line attached while the module
 * was being loaded, an agent that took a line over, lost events).
 *
 * The daemon does not fork: run it under systemd (Type=notify, see
 * sealined.service) or in the foreground with -f for tests. Several
 * instances run side by side when each has its own configuration, state
 * directory, control socket and lines.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "courier.h"
#include "hex.h"
#include "hs_driver.h"
#include "config.h"
#include "crypto.h"
#include "daemon.h"
#include "ipc.h"
#include "keystore.h"
#include "lines.h"
#include "log.h"
#include "netlink.h"
#include "sdnotify.h"
#include "sessionlog.h"
#include "version.h"

/* Seconds between rescans of the lines. */
#define RESCAN_INTERVAL_MS	5000
/* Records "log" sends at most. */
#define LOG_MAX_RECORDS		10000

struct daemon {
	struct sl_config *cfg;
	const struct sl_daemon_opts *opts;
	struct sl_keystore ks;
	struct sl_slog slog;
	struct sl_lines lines;
	struct sl_courier *courier;
	struct sl_ipc_server ipc;
	const struct sl_hs_driver *drv;

	struct sl_nl agent;		/* requests + unicast events */
	struct sl_nl mon;		/* multicast events */
	bool nl_open;
	bool nl_warned;			/* "module not loaded" said once */

	int sigfd;
	bool stop;
	int64_t started;		/* wall clock */
	int64_t next_rescan_ms;
};

static const char *prog = "sealined";

/* ------------------------------------------------------------ netlink */

static void nl_close_all(struct daemon *d)
{
	if (!d->nl_open)
		return;
	sl_nl_close(&d->agent);
	sl_nl_close(&d->mon);
	d->nl_open = false;
}

static int mon_event(const struct sl_attrs *a, void *arg)
{
	/* Key events come to the agent socket too (unicast): only line up
	 * and down are taken from the group. */
	if (a->cmd != SEALINE_CMD_LINE_UP && a->cmd != SEALINE_CMD_LINE_DOWN)
		return 0;
	return sl_lines_enqueue(a, arg);
}

static int nl_open_all(struct daemon *d)
{
	int ret;

	ret = sl_nl_open(&d->agent);
	if (ret)
		return ret;
	ret = sl_nl_open(&d->mon);
	if (ret) {
		sl_nl_close(&d->agent);
		return ret;
	}
	if (d->agent.family_version != SEALINE_GENL_VERSION)
		sl_log(LOG_WARNING, "the sealine module speaks netlink version %" PRIu32 ", this sealined was built for version %d",
		       d->agent.family_version, SEALINE_GENL_VERSION);
	sl_nl_set_event_handler(&d->agent, sl_lines_enqueue, &d->lines);
	sl_nl_set_event_handler(&d->mon, mon_event, &d->lines);
	/* Subscribe before the first scan, so no LINE_UP falls between. */
	ret = sl_nl_subscribe_events(&d->mon);
	if (ret) {
		sl_log(LOG_ERR, "cannot join the sealine events group: %s",
		       sl_nl_strerror(ret));
		sl_nl_close(&d->agent);
		sl_nl_close(&d->mon);
		return ret;
	}
	d->nl_open = true;
	d->lines.kctx = &d->agent;
	sl_log(LOG_INFO, "connected to the sealine module (netlink port %" PRIu32 ")",
	       sl_nl_portid(&d->agent));
	return 0;
}

static bool any_registered(const struct daemon *d)
{
	for (unsigned int i = 0; i < d->lines.n; ++i)
		if (d->lines.lines[i].status == SL_LINE_REGISTERED)
			return true;
	return false;
}

/*
 * Make sure the netlink sockets talk to the loaded module. While no line
 * is registered, closing them costs nothing; so then a module that was
 * unloaded (or reloaded: a new family id) is noticed and followed.
 */
static void nl_check(struct daemon *d, int64_t now_ms)
{
	struct sl_nl probe;
	int ret;

	if (d->nl_open && any_registered(d))
		return;
	ret = sl_nl_open(&probe);
	if (ret) {
		if (d->nl_open) {
			sl_log(LOG_WARNING, "the sealine module is gone: %s",
			       sl_nl_strerror(ret));
			sl_lines_detach_all(&d->lines, "sealine module unloaded",
					    now_ms);
			nl_close_all(d);
		}
		if (!d->nl_warned)
			sl_log(LOG_WARNING, "cannot reach the sealine module: %s; waiting for it",
			       sl_nl_strerror(ret));
		d->nl_warned = true;
		return;
	}
	if (d->nl_open && probe.family_id == d->agent.family_id) {
		sl_nl_close(&probe);
		return;
	}
	sl_nl_close(&probe);
	if (d->nl_open) {
		sl_log(LOG_NOTICE, "the sealine module was reloaded; reconnecting");
		sl_lines_detach_all(&d->lines, "sealine module reloaded", now_ms);
		nl_close_all(d);
	}
	ret = nl_open_all(d);
	if (ret) {
		if (!d->nl_warned)
			sl_log(LOG_WARNING, "cannot reach the sealine module: %s; waiting for it",
			       sl_nl_strerror(ret));
		d->nl_warned = true;
		return;
	}
	d->nl_warned = false;
}

static void rescan(struct daemon *d, int64_t now_ms)
{
	nl_check(d, now_ms);
	if (d->nl_open)
		sl_lines_rescan(&d->lines, now_ms);
	sl_lines_process(&d->lines, now_ms);
	d->next_rescan_ms = now_ms + RESCAN_INTERVAL_MS;
}

static void nl_readable(struct daemon *d, struct sl_nl *nl, int64_t now_ms)
{
	int ret = sl_nl_wait(nl, 0, NULL);

	if (ret >= 0 || ret == -EINTR)
		return;
	if (ret == -ENOBUFS) {
		sl_log(LOG_WARNING, "netlink: %s; rescanning the lines",
		       sl_nl_strerror(ret));
		d->next_rescan_ms = now_ms;
		return;
	}
	sl_log(LOG_ERR, "netlink: %s", sl_nl_strerror(ret));
	d->next_rescan_ms = now_ms;
}

/* ------------------------------------------------------------ control socket */

static void send_daemon_record(struct daemon *d, struct sl_ipc_client *c)
{
	struct sl_ipc_builder b;
	char hex[2 * SL_X25519_KEY_LEN + 1];
	char fp[SL_KS_FINGERPRINT_LEN + 1];
	char when[32];
	size_t authorised = 0, revoked = 0;

	for (size_t i = 0; i < d->ks.n_peers; ++i) {
		authorised += sl_ks_peer_allowed(&d->ks.peers[i]);
		revoked += d->ks.peers[i].revoked;
	}
	sl_hex_encode(hex, d->ks.id.pub, SL_X25519_KEY_LEN);
	sl_ks_fingerprint(fp, d->ks.id.pub);

	sl_ipc_build(&b, "daemon");
	sl_ipc_addf(&b, "pid", "%ld", (long)getpid());
	sl_ipc_add(&b, "version", SEALINE_VERSION);
	if (d->cfg->name[0])
		sl_ipc_add(&b, "name", d->cfg->name);
	sl_ipc_add(&b, "config", d->cfg->path);
	sl_ipc_add(&b, "state_dir", d->cfg->state_dir);
	sl_ipc_add(&b, "socket", d->cfg->socket_path);
	sl_ipc_add(&b, "session_log", d->cfg->session_log);
	sl_ipc_add(&b, "account", d->ks.id.account);
	sl_ipc_add(&b, "public_key", hex);
	sl_ipc_add(&b, "fingerprint", fp);
	sl_ipc_add(&b, "handshake", d->drv ? d->drv->name : "unavailable");
	sl_slog_time(when, d->started);
	sl_ipc_add(&b, "started", when);
	sl_ipc_addf(&b, "uptime", "%" PRId64, (int64_t)time(NULL) - d->started);
	sl_ipc_add(&b, "netlink", d->nl_open ? "connected" : "no-module");
	if (d->nl_open)
		sl_ipc_addf(&b, "portid", "%" PRIu32, sl_nl_portid(&d->agent));
	sl_ipc_addf(&b, "lines", "%u", d->lines.n);
	sl_ipc_addf(&b, "peers", "%zu", d->ks.n_peers);
	sl_ipc_addf(&b, "peers_authorised", "%zu", authorised);
	sl_ipc_addf(&b, "peers_revoked", "%zu", revoked);
	if (d->courier)
		sl_courier_status(d->courier, &b);
	sl_ipc_send_record(c, &b);
}

static void send_peers(struct daemon *d, struct sl_ipc_client *c)
{
	for (size_t i = 0; i < d->ks.n_peers; ++i) {
		const struct sl_peer *p = &d->ks.peers[i];
		struct sl_ipc_builder b;
		char when[32];

		sl_ipc_build(&b, "peer");
		sl_ipc_add(&b, "account", p->account);
		sl_ipc_add(&b, "authorised", p->authorised ? "yes" : "no");
		sl_ipc_add(&b, "revoked", p->revoked ? "yes" : "no");
		sl_ipc_add(&b, "ltk", p->ltk ? "yes" : "no");
		if (p->has_pub) {
			char fp[SL_KS_FINGERPRINT_LEN + 1];

			sl_ks_fingerprint(fp, p->pub);
			sl_ipc_add(&b, "fingerprint", fp);
		}
		if (p->paired) {
			sl_slog_time(when, p->paired);
			sl_ipc_add(&b, "paired", when);
		}
		if (p->changed) {
			sl_slog_time(when, p->changed);
			sl_ipc_add(&b, "changed", when);
		}
		if (p->name[0])
			sl_ipc_add(&b, "name", p->name);
		if (p->company[0])
			sl_ipc_add(&b, "company", p->company);
		if (p->has_receipt_key) {
			char rk[2 * sizeof(p->receipt_key) + 1];

			sl_hex_encode(rk, p->receipt_key, sizeof(p->receipt_key));
			sl_ipc_add(&b, "receipt_key", rk);
		}
		sl_ipc_send_record(c, &b);
	}
}

struct log_ring {
	char **lines;
	size_t cap, n, next;
	bool truncated;
};

static int log_collect(const struct sl_session_rec *rec, void *arg)
{
	struct log_ring *r = arg;
	char buf[SL_SLOG_MAX_RECORD + 1];
	int n = sl_slog_format(buf, sizeof(buf), rec);
	char *copy;

	if (n <= 0)
		return 0;
	buf[n - 1] = '\0';	/* no '\n' */
	copy = strdup(buf);
	if (!copy)
		return -ENOMEM;
	if (r->n == r->cap) {
		free(r->lines[r->next]);
		r->truncated = true;
	} else {
		r->n++;
	}
	r->lines[r->next] = copy;
	r->next = (r->next + 1) % r->cap;
	return 0;
}

static void send_log(struct daemon *d, struct sl_ipc_client *c,
		     const char *count_arg)
{
	struct log_ring r = { 0 };
	unsigned long count = LOG_MAX_RECORDS;
	unsigned int bad = 0;
	struct sl_ipc_builder b;
	FILE *f;
	int ret;

	if (count_arg) {
		char *end;

		errno = 0;
		count = strtoul(count_arg, &end, 10);
		if (errno || *end || count_arg[0] < '0' || count_arg[0] > '9' ||
		    !count) {
			sl_ipc_send_err(c, -EINVAL, "COUNT must be a positive number");
			return;
		}
		if (count > LOG_MAX_RECORDS)
			count = LOG_MAX_RECORDS;
	}
	f = fopen(d->cfg->session_log, "re");
	if (!f) {
		if (errno == ENOENT) {
			sl_ipc_build(&b, "ok");
			sl_ipc_add(&b, "records", "0");
			sl_ipc_add(&b, "path", d->cfg->session_log);
			sl_ipc_send_record(c, &b);
		} else {
			sl_ipc_send_err(c, -errno, "%s: %s", d->cfg->session_log,
					strerror(errno));
		}
		return;
	}
	r.cap = count;
	r.lines = calloc(r.cap, sizeof(*r.lines));
	if (!r.lines) {
		fclose(f);
		sl_ipc_send_err(c, -ENOMEM, "out of memory");
		return;
	}
	ret = sl_slog_read(f, log_collect, &r, &bad);
	fclose(f);
	if (ret) {
		sl_ipc_send_err(c, ret, "%s: %s", d->cfg->session_log,
				strerror(-ret));
	} else {
		size_t start = r.n == r.cap ? r.next : 0;

		for (size_t i = 0; i < r.n; ++i)
			sl_ipc_sendf(c, "session %s", r.lines[(start + i) % r.cap]);
		sl_ipc_build(&b, "ok");
		sl_ipc_addf(&b, "records", "%zu", r.n);
		sl_ipc_addf(&b, "bad_lines", "%u", bad);
		sl_ipc_add(&b, "truncated", r.truncated ? "yes" : "no");
		sl_ipc_add(&b, "path", d->cfg->session_log);
		sl_ipc_send_record(c, &b);
	}
	for (size_t i = 0; i < r.n; ++i)
		free(r.lines[i]);
	free(r.lines);
}

static void peers_op(struct daemon *d, struct sl_ipc_client *c,
		     const char *verb, const char *account, int64_t now_ms)
{
	char err[512] = "";
	bool created = false;
	int ret;

	if (!strcmp(verb, "authorise"))
		ret = sl_ks_authorise(&d->ks, account, &created, err, sizeof(err));
	else if (!strcmp(verb, "revoke"))
		ret = sl_ks_revoke(&d->ks, account, err, sizeof(err));
	else
		ret = sl_ks_forget(&d->ks, account, err, sizeof(err));
	if (ret) {
		sl_ipc_send_err(c, ret, "%s", err);
		return;
	}
	sl_log(LOG_NOTICE, "peer %s %s%s (by pid %d)", account,
	       !strcmp(verb, "authorise") ? "authorised" :
	       !strcmp(verb, "revoke") ? "revoked" : "forgotten: record and long-term key deleted",
	       created ? " (new record, not paired yet)" : "", (int)c->pid);
	sl_lines_peers_changed(&d->lines, now_ms);
	if (!strcmp(verb, "authorise")) {
		struct sl_ipc_builder b;

		sl_ipc_build(&b, "ok");
		sl_ipc_add(&b, "created", created ? "yes" : "no");
		sl_ipc_send_record(c, &b);
	} else {
		sl_ipc_send_ok(c);
	}
}

static void reload(struct daemon *d, int64_t now_ms)
{
	char err[512];
	int ret;

	ret = sl_ks_reload(&d->ks, err, sizeof(err));
	if (ret)
		sl_log(LOG_ERR, "reload: %s", err);
	else
		sl_log(LOG_NOTICE, "reload: %zu peers", d->ks.n_peers);
	ret = sl_slog_reopen(&d->slog, err, sizeof(err));
	if (ret)
		sl_log(LOG_ERR, "reload: session log: %s", err);
	if (d->courier)
		sl_courier_reload(d->courier);
	sl_lines_peers_changed(&d->lines, now_ms);
}

/*
 * The same settings, wherever in the file they stand: lineno comes last
 * in both structures (config.h), and the parser fills calloc()ed ones,
 * padding zero.
 */
static bool line_conf_same(const struct sl_line_conf *a,
			   const struct sl_line_conf *b)
{
	return !memcmp(a, b, offsetof(struct sl_line_conf, lineno));
}

static bool courier_conf_same(const struct sl_courier_conf *a,
			      const struct sl_courier_conf *b)
{
	return !memcmp(a, b, offsetof(struct sl_courier_conf, lineno));
}

/*
 * SIGHUP: read the configuration file again. The log settings apply now;
 * anything else that changed (lines, account, paths) is named in the log
 * and waits for a restart, since applying it would drop keyed lines. A
 * file that no longer parses is reported and the running one kept.
 */
static void reread_config(struct daemon *d)
{
	const struct sl_daemon_opts *o = d->opts;
	struct sl_config *old = d->cfg, *cfg;
	char err[1024];
	bool lines_changed;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		sl_log(LOG_ERR, "reload: out of memory; keeping the running configuration");
		return;
	}
	if (sl_config_load(cfg, o->config_path, err, sizeof(err)) ||
	    sl_config_override(cfg, o->state_dir, o->socket_path, err,
			       sizeof(err))) {
		sl_log(LOG_ERR, "reload: %s; keeping the running configuration",
		       err);
		goto out;
	}
	if (cfg->tsp.enabled) {
		sl_log(LOG_ERR, "reload: %s is now a TSP configuration ([tsp]); keeping the running configuration",
		       cfg->path);
		goto out;
	}
	lines_changed = cfg->n_lines != old->n_lines;
	for (unsigned int i = 0; i < cfg->n_lines && !lines_changed; ++i)
		lines_changed = !line_conf_same(&cfg->lines[i], &old->lines[i]);
	if (lines_changed)
		sl_log(LOG_WARNING, "reload: the [line ...] sections changed; they apply at the next restart (systemctl restart sealined), which ends every keyed session");
	if (!courier_conf_same(&cfg->courier, &old->courier))
		sl_log(LOG_WARNING, "reload: [courier] changed; it applies at the next restart (envelopes being sent or received then resume where they stopped)");
	if (strcmp(cfg->account, old->account) ||
	    strcmp(cfg->state_dir, old->state_dir) ||
	    strcmp(cfg->socket_path, old->socket_path) ||
	    strcmp(cfg->session_log, old->session_log) ||
	    strcmp(cfg->name, old->name))
		sl_log(LOG_WARNING, "reload: [agent] account, state_dir, socket, session_log or name changed; they apply at the next restart");
	/* Last, so that what is said above still reaches the old log. */
	if (cfg->log_targets != old->log_targets ||
	    cfg->log_level != old->log_level) {
		sl_log(LOG_NOTICE, "reload: applying the new log settings (log, log_level)");
		old->log_targets = cfg->log_targets;
		old->log_level = cfg->log_level;
		sl_daemon_log_setup(&sl_sealined_prog, o, old);
	}
out:
	free(cfg);
}

static void on_request(struct sl_ipc_client *c, const char *text, size_t len,
		       void *arg)
{
	struct daemon *d = arg;
	const struct sl_ipc_verb *verb;
	struct sl_ipc_req req;
	int64_t now = sl_now_ms();
	char err[512];
	const char *v;
	int ret;

	verb = sl_ipc_request(c, text, len, &req);
	if (!verb)
		goto out;
	v = verb->name;
	sl_log(LOG_DEBUG, "control socket: pid %d: %s", (int)c->pid, v);
	/* Inside a pairing only its own answers make sense. */
	if (c->pairing && strcmp(v, "confirm") && strcmp(v, "sas")) {
		struct sl_ipc_builder b;

		sl_ipc_build(&b, "invalid");
		sl_ipc_add(&b, "text", "a pairing is in progress on this connection: answer with confirm or sas");
		sl_ipc_send_record(c, &b);
		return;
	}

	if (d->courier && sl_courier_request(d->courier, c, &req, now)) {
		/* the courier's (courier_ipc.c) */
	} else if (!strcmp(v, "peer-name") || !strcmp(v, "peer-company")) {
		char name[SL_IPC_MAX_LINE] = "";

		if (req.argc > 2) {
			snprintf(name, sizeof(name), "%s", req.argv[2]);
			if (sl_ipc_unescape(name)) {
				sl_ipc_send_err(c, -EINVAL, "a bad %%-encoding in the %s",
						v + 5);
				goto out;
			}
		}
		ret = !strcmp(v, "peer-name") ?
		      sl_ks_set_name(&d->ks, req.argv[1], name, err, sizeof(err)) :
		      sl_ks_set_company(&d->ks, req.argv[1], name, err,
					sizeof(err));
		if (ret)
			sl_ipc_send_err(c, ret, "%s", err);
		else
			sl_ipc_send_ok(c);
	} else if (!strcmp(v, "hello")) {
		sl_ipc_sendf(c, "ok version=%d daemon=sealined pid=%ld",
			     SL_IPC_VERSION, (long)getpid());
	} else if (!strcmp(v, "status")) {
		send_daemon_record(d, c);
		sl_lines_status(&d->lines, c);
		sl_lines_process(&d->lines, now);
		sl_ipc_send_ok(c);
	} else if (!strcmp(v, "peers")) {
		send_peers(d, c);
		sl_ipc_send_ok(c);
	} else if (!strcmp(v, "authorise") || !strcmp(v, "revoke") ||
		   !strcmp(v, "forget")) {
		peers_op(d, c, v, req.argv[1], now);
	} else if (!strcmp(v, "log")) {
		send_log(d, c, req.argc > 1 ? req.argv[1] : NULL);
	} else if (!strcmp(v, "reload")) {
		reload(d, now);
		sl_ipc_send_ok(c);
	} else if (!strcmp(v, "pair")) {
		struct sl_line_ref ref;
		bool replace = false;
		unsigned long wait = 0;

		if (sl_line_parse(req.argv[1], &ref) || ref.by_index) {
			sl_ipc_send_err(c, -EINVAL, "'%s' is not a tty name",
					req.argv[1]);
			return;
		}
		for (int i = 2; i < req.argc; ++i) {
			char *end;

			if (!strcmp(req.argv[i], "replace")) {
				replace = true;
				continue;
			}
			if (!strncmp(req.argv[i], "wait=", 5)) {
				errno = 0;
				wait = strtoul(req.argv[i] + 5, &end, 10);
				if (!errno && *end == '\0' && wait >= 1 &&
				    wait <= SL_IPC_PAIR_WAIT_MAX_S)
					continue;
			}
			sl_ipc_send_err(c, -EINVAL, "pair: '%s' is neither replace nor wait=SECONDS (1 to %d)",
					req.argv[i], SL_IPC_PAIR_WAIT_MAX_S);
			return;
		}
		ret = sl_lines_pair(&d->lines, ref.tty, c, replace,
				    (uint32_t)wait, now, err, sizeof(err));
		if (ret)
			sl_ipc_send_err(c, ret, "%s", err);
	} else if (!strcmp(v, "call") || !strcmp(v, "hangup")) {
		const char *line = !strcmp(v, "call") ?
				   (req.argc > 2 ? req.argv[2] : NULL) :
				   req.argv[1];
		struct sl_line_ref ref;

		if (line && (sl_line_parse(line, &ref) || ref.by_index)) {
			sl_ipc_send_err(c, -EINVAL, "'%s' is not a tty name",
					line);
			return;
		}
		if (!strcmp(v, "call"))
			ret = sl_lines_call(&d->lines, line ? ref.tty : NULL,
					    req.argv[1], c, now, err,
					    sizeof(err));
		else
			ret = sl_lines_hangup(&d->lines, ref.tty, now, err,
					      sizeof(err));
		if (ret)
			sl_ipc_send_err(c, ret, "%s", err);
		else if (!strcmp(v, "hangup"))
			sl_ipc_send_ok(c);
	} else if (!strcmp(v, "confirm") || !strcmp(v, "sas")) {
		struct sl_ipc_builder b;

		if (!strcmp(v, "confirm")) {
			const char *a = req.argv[1];
			bool yes = !strcmp(a, "yes");

			if (!yes && strcmp(a, "no")) {
				ret = -EINVAL;
				snprintf(err, sizeof(err), "confirm takes yes or no");
			} else {
				ret = sl_lines_operator_confirm(&d->lines, c, yes,
								now, err,
								sizeof(err));
			}
		} else {
			ret = sl_lines_operator_sas(&d->lines, c, req.argv[1],
						    now, err, sizeof(err));
		}
		if (ret) {
			sl_ipc_build(&b, "invalid");
			sl_ipc_add(&b, "text", err);
		} else {
			sl_ipc_build(&b, "accepted");
		}
		sl_ipc_send_record(c, &b);
	}
out:
	sl_wipe(&req, sizeof(req));
}

static void client_gone(struct daemon *d, struct sl_ipc_client *c,
			int64_t now_ms)
{
	if (c->pairing)
		sl_lines_operator_gone(&d->lines, c, now_ms);
	if (d->courier)
		sl_courier_client_gone(d->courier, c);
	sl_ipc_drop(&d->ipc, c);
}

/* ------------------------------------------------------------ loop */

static int setup_signals(struct daemon *d)
{
	d->sigfd = sl_daemon_signalfd();
	return d->sigfd < 0 ? d->sigfd : 0;
}

static void on_signal(struct daemon *d, int64_t now_ms)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			sl_log(LOG_NOTICE, "%s (from pid %u): stopping",
			       strsignal((int)si.ssi_signo), si.ssi_pid);
			d->stop = true;
			break;
		case SIGHUP:
			sl_log(LOG_NOTICE, "SIGHUP: re-reading the configuration and the peers, reopening the session log");
			sl_sd_notify("RELOADING=1");
			reread_config(d);
			reload(d, now_ms);
			sl_sd_notify("READY=1");
			break;
		}
	}
}

enum { FD_SIG, FD_AGENT, FD_MON, FD_LISTEN, FD_CLIENTS };

static int run(struct daemon *d)
{
	struct pollfd pfd[FD_CLIENTS + SL_IPC_MAX_CLIENTS + SL_CONF_MAX_LINES +
			  SL_COURIER_MAX_POLLFDS];
	struct sl_ipc_client *who[SL_IPC_MAX_CLIENTS];

	while (!d->stop) {
		int64_t now = sl_now_ms(), next, timeout;
		nfds_t n = FD_CLIENTS;
		int ret;

		sl_lines_timers(&d->lines, now);
		sl_lines_process(&d->lines, now);
		if (d->courier)
			sl_courier_timers(d->courier, now);
		if (now >= d->next_rescan_ms)
			rescan(d, now);

		/* Idle control connections (not an operator mid-pairing). */
		for (size_t i = 0; i < SL_IPC_MAX_CLIENTS; ++i) {
			struct sl_ipc_client *c = d->ipc.clients[i];

			if (c && !c->pairing && !c->courier &&
			    now / 1000 - c->last_active > SL_IPC_IDLE_TIMEOUT)
				client_gone(d, c, now);
		}

		pfd[FD_SIG] = (struct pollfd){ .fd = d->sigfd, .events = POLLIN };
		pfd[FD_AGENT] = (struct pollfd){
			.fd = d->nl_open ? sl_nl_fd(&d->agent) : -1,
			.events = POLLIN };
		pfd[FD_MON] = (struct pollfd){
			.fd = d->nl_open ? sl_nl_fd(&d->mon) : -1,
			.events = POLLIN };
		pfd[FD_LISTEN] = (struct pollfd){ .fd = d->ipc.fd, .events = POLLIN };
		for (size_t i = 0; i < SL_IPC_MAX_CLIENTS; ++i) {
			struct sl_ipc_client *c = d->ipc.clients[i];

			if (!c)
				continue;
			who[n - FD_CLIENTS] = c;
			pfd[n++] = (struct pollfd){
				.fd = c->fd,
				.events = (short)((c->closing ? 0 : POLLIN) |
						  (c->out_len ? POLLOUT : 0)) };
		}

		/* Dial-up lines' serial ports (dialer.h) come last. */
		nfds_t n_dial = sl_lines_pollfds(&d->lines, pfd + n,
						 SL_CONF_MAX_LINES);
		nfds_t first_dial = n, first_courier, n_courier = 0;

		n += n_dial;
		first_courier = n;
		if (d->courier) {
			n_courier = sl_courier_pollfds(d->courier, pfd + n,
						       SL_COURIER_MAX_POLLFDS);
			n += n_courier;
		}
		next = d->next_rescan_ms;
		if (sl_lines_next_timer(&d->lines) &&
		    sl_lines_next_timer(&d->lines) < next)
			next = sl_lines_next_timer(&d->lines);
		if (d->courier && sl_courier_next_timer(d->courier) &&
		    sl_courier_next_timer(d->courier) < next)
			next = sl_courier_next_timer(d->courier);
		timeout = next > now ? next - now : 0;
		if (timeout > 1000)
			timeout = 1000;	/* idle connections, coarse */

		ret = poll(pfd, n, (int)timeout);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0) {
			sl_log(LOG_ERR, "poll: %s", strerror(errno));
			return -errno;
		}
		now = sl_now_ms();
		if (pfd[FD_SIG].revents)
			on_signal(d, now);
		if (d->nl_open && pfd[FD_AGENT].revents)
			nl_readable(d, &d->agent, now);
		if (d->nl_open && pfd[FD_MON].revents)
			nl_readable(d, &d->mon, now);
		sl_lines_process(&d->lines, now);
		sl_lines_poll_done(&d->lines, pfd + first_dial,
				   (unsigned int)n_dial, now);
		sl_lines_process(&d->lines, now);
		if (d->courier) {
			sl_courier_poll_done(d->courier, pfd + first_courier,
					     (unsigned int)n_courier, now);
			sl_lines_process(&d->lines, now);
		}
		for (nfds_t i = FD_CLIENTS; i < first_dial; ++i) {
			struct sl_ipc_client *c = who[i - FD_CLIENTS];
			short re = pfd[i].revents;

			if (!re)
				continue;
			if (re & (POLLIN | POLLHUP | POLLERR)) {
				if (sl_ipc_client_read(c, on_request, d,
						       now / 1000)) {
					client_gone(d, c, now);
					continue;
				}
				sl_lines_process(&d->lines, now);
			}
			if (c->out_len || c->closing) {
				if (sl_ipc_client_flush(c)) {
					client_gone(d, c, now);
					continue;
				}
			}
		}
		if (pfd[FD_LISTEN].revents)
			sl_ipc_accept(&d->ipc, now / 1000);
		/* Output queued by lines.c (operator messages) outside a
		 * client's own turn. */
		for (size_t i = 0; i < SL_IPC_MAX_CLIENTS; ++i) {
			struct sl_ipc_client *c = d->ipc.clients[i];

			if (c && c->out_len && sl_ipc_client_flush(c))
				client_gone(d, c, now);
		}
	}
	return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char *argv[])
{
	struct sl_daemon_opts opts;
	struct daemon d = { .sigfd = -1 };
	char err[1024];
	int ret, status = 1;

	ret = sl_daemon_options(&sl_sealined_prog, argc, argv, &opts);
	if (ret >= 0)
		return ret;
	d.cfg = calloc(1, sizeof(*d.cfg));
	if (!d.cfg) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	d.opts = &opts;
	status = sl_daemon_setup(&sl_sealined_prog, &opts, d.cfg);
	if (status)
		goto out_free;
	status = SL_EXIT_CONFIG;
	if (d.cfg->tsp.enabled) {
		/* A TSP is another program: it keys no lines and links the
		 * account store, which an endpoint never needs. */
		fprintf(stderr, "%s: %s is a TSP configuration ([tsp] at line %u): run it with sealtspd -c %s\n",
			prog, d.cfg->path, d.cfg->tsp.lineno, d.cfg->path);
		goto out_free;
	}
	if (opts.check) {
		if (sl_sealined_check_courier(d.cfg))
			goto out_free;
		sl_sealined_print_config(d.cfg);
		sl_sealined_missing_ttys(d.cfg, true);
		status = 0;
		goto out_free;
	}

	status = 1;
	sl_daemon_log_setup(&sl_sealined_prog, &opts, d.cfg);
	d.drv = sl_hs_builtin_driver();
	d.started = (int64_t)time(NULL);

	ret = sl_crypto_init(0, 0, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "cryptography: %s", err);
		goto out_log;
	}
	ret = sl_ks_open(&d.ks, d.cfg->state_dir, d.cfg->account, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "key store: %s", err);
		goto out_log;
	}
	{
		char fp[SL_KS_FINGERPRINT_LEN + 1];

		sl_ks_fingerprint(fp, d.ks.id.pub);
		sl_log(LOG_NOTICE, "sealined %s starting: account %s, key fingerprint %s%s, %zu peers, state in %s",
		       SEALINE_VERSION, d.ks.id.account, fp,
		       d.ks.identity_created ? " (identity created now)" : "",
		       d.ks.n_peers, d.cfg->state_dir);
	}
	ret = sl_slog_open(&d.slog, d.cfg->session_log, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "session log: %s", err);
		goto out_ks;
	}
	ret = sl_lines_init(&d.lines, d.cfg, &d.ks, &d.slog, d.drv,
			    &sl_kernel_netlink, &d.agent);
	if (ret) {
		sl_log(LOG_ERR, "out of memory");
		goto out_slog;
	}
	if (!d.cfg->n_lines)
		sl_log(LOG_WARNING, "%s names no line ([line TTY] sections): nothing to key",
		       d.cfg->path);
	sl_sealined_missing_ttys(d.cfg, false);
	ret = sl_courier_init(&d.courier, d.cfg, &d.ks, &d.lines, err,
			      sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "courier: %s", err);
		goto out_lines;
	}
	if (!d.drv)
		sl_log(LOG_WARNING, "this sealined has no handshake implementation: it registers as its lines' agent and keeps them fail-closed, but pairing and sessions are not available yet");
	else
		sl_log(LOG_INFO, "handshake: %s", d.drv->name);

	ret = setup_signals(&d);
	if (ret) {
		sl_log(LOG_ERR, "signals: %s", strerror(-ret));
		goto out_lines;
	}
	ret = sl_ipc_listen(&d.ipc, d.cfg->socket_path, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "control socket: %s", err);
		goto out_lines;
	}
	sl_log(LOG_INFO, "control socket %s", d.cfg->socket_path);

	rescan(&d, sl_now_ms());
	sl_sd_notify("READY=1\nSTATUS=running");
	ret = run(&d);
	sl_sd_notify("STOPPING=1");
	status = ret ? 1 : 0;

	sl_ipc_close(&d.ipc);
out_lines:
	sl_lines_fini(&d.lines, "agent stopped");
	sl_courier_fini(d.courier);
	if (d.nl_open) {
		/* Closing the agent socket ends our registrations, and the
		 * kernel wipes those lines' keys. */
		nl_close_all(&d);
		sl_log(LOG_NOTICE, "netlink closed: the kernel ends our registrations and wipes those lines' keys");
	}
	if (d.sigfd >= 0)
		close(d.sigfd);
out_slog:
	sl_slog_close(&d.slog);
out_ks:
	sl_ks_close(&d.ks);
out_log:
	sl_log(status ? LOG_ERR : LOG_NOTICE, "sealined %s", status ? "failed" : "stopped");
	sl_log_close();
out_free:
	free(d.cfg);
	return status;
}
