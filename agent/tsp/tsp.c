// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealtspd's process (tsp.h): the identity and the account store, the
 * lines, one epoll loop over the lines, the signals and the control
 * socket (sealctl status). A line's state machine is tspline.c's, calls
 * are routing.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "daemon.h"
#include "hex.h"
#include "log.h"
#include "sdnotify.h"
#include "tsp_internal.h"
#include "version.h"

/* ------------------------------------------------------------ control */

/* The epoll tags of the control socket and its clients, and of the
 * store's answers. */
static char ipc_tag, store_tag;

static void send_status(struct tsp *t, struct sl_ipc_client *c)
{
	char hex[2 * SL_X25519_KEY_LEN + 1], fp[SL_KS_FINGERPRINT_LEN + 1];
	struct sl_ipc_builder b;

	sl_hex_encode(hex, t->ks.id.pub, SL_X25519_KEY_LEN);
	sl_ks_fingerprint(fp, t->ks.id.pub);
	sl_ipc_build(&b, "daemon");
	sl_ipc_addf(&b, "pid", "%ld", (long)getpid());
	sl_ipc_add(&b, "version", SEALINE_VERSION);
	sl_ipc_add(&b, "role", "tsp");
	if (t->cfg->name[0])
		sl_ipc_add(&b, "name", t->cfg->name);
	sl_ipc_add(&b, "config", t->cfg->path);
	sl_ipc_add(&b, "state_dir", t->cfg->state_dir);
	sl_ipc_add(&b, "store", t->store_shown);
	sl_ipc_add(&b, "instance", t->instance);
	sl_ipc_add(&b, "store_state", sl_tspq_up(t->q) ? "up" : "unreachable");
	sl_ipc_addf(&b, "backlog", "%u", sl_tspq_backlog(t->q));
	sl_ipc_addf(&b, "store_queue", "%u", sl_tspq_pending(t->q));
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
		sl_ipc_add(&b, "state", sl_tspd_state_name(l->st));
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
		sl_ipc_sendf(c, "ok version=%d daemon=sealtspd role=tsp pid=%ld",
			     SL_IPC_VERSION, (long)getpid());
	} else if (!strcmp(verb->name, "status")) {
		send_status(t, c);
		sl_ipc_send_ok(c);
	} else {
		sl_ipc_send_err(c, -EOPNOTSUPP, "this is sealtspd, a TSP: it has no peers, session log or lines to pair or call on (its accounts and call records: sealctl tsp)");
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

/* A terminal server's port joins the glob's list as it is. */
static int glob_append(glob_t *g, const char *spec)
{
	char **v = realloc(g->gl_pathv, (g->gl_pathc + 2) * sizeof(*v));

	if (!v)
		return GLOB_NOSPACE;
	g->gl_pathv = v;
	v[g->gl_pathc] = strdup(spec);
	if (!v[g->gl_pathc])
		return GLOB_NOSPACE;
	v[++g->gl_pathc] = NULL;
	return 0;
}

static int add_lines(struct tsp *t, char *err, size_t err_len)
{
	const struct sl_tsp_conf *tc = &t->cfg->tsp;
	glob_t g = { 0 };
	int ret = 0;

	for (unsigned int i = 0; i < tc->n_lines; ++i) {
		int r;

		/* Terminal servers' ports are no paths to expand. */
		if (strstr(tc->lines[i], "://"))
			r = glob_append(&g, tc->lines[i]);
		else
			r = glob(tc->lines[i], GLOB_APPEND | GLOB_NOCHECK, NULL, &g);

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
	t->dirty = calloc(g.gl_pathc ? g.gl_pathc : 1, sizeof(*t->dirty));
	if (!t->lines || !t->dirty) {
		ret = -ENOMEM;
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < g.gl_pathc; ++i) {
		struct tsp_line *l = &t->lines[t->n];
		const char *base = strrchr(g.gl_pathv[i], '/');

		l->t = t;
		l->fd = -1;
		if (strstr(g.gl_pathv[i], "://")) {
			char why[512];

			ret = sl_tspd_port_parse(l, g.gl_pathv[i], why, sizeof(why));
			if (ret) {
				snprintf(err, err_len, "lines: %s", why);
				goto out;
			}
			base = l->name;
		} else {
			base = base ? base + 1 : g.gl_pathv[i];
			if (strlen(g.gl_pathv[i]) >= sizeof(l->path) ||
			    !sl_tsp_line_valid(base)) {
				snprintf(err, err_len, "lines: '%.200s' is not a usable serial port name",
					 g.gl_pathv[i]);
				ret = -EINVAL;
				goto out;
			}
			snprintf(l->path, sizeof(l->path), "%s", g.gl_pathv[i]);
		}
		for (unsigned int j = 0; j < t->n; ++j) {
			if (!strcmp(t->lines[j].name, base)) {
				snprintf(err, err_len, "lines: two lines are named '%s' (%.200s, %.200s): names identify lines in call records",
					 base, t->lines[j].path, g.gl_pathv[i]);
				ret = -EINVAL;
				goto out;
			}
		}
		sl_byteq_init(&l->out, SL_OUTQ_MAX);
		if (base != l->name)
			snprintf(l->name, sizeof(l->name), "%s", base);
		t->n++;
	}
out:
	globfree(&g);
	return ret;
}

/* SIGTERM and SIGINT stop, SIGHUP is logged, through a signalfd in the
 * epoll set (its tag is NULL). */
static int watch_signals(struct tsp *t)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };

	t->sigfd = sl_daemon_signalfd();
	if (t->sigfd < 0)
		return t->sigfd;
	if (epoll_ctl(t->ep, EPOLL_CTL_ADD, t->sigfd, &e) < 0)
		return -errno;
	return 0;
}

static void on_signal(struct tsp *t)
{
	struct signalfd_siginfo si;

	while (read(t->sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			sl_log(LOG_NOTICE, "SIGHUP: nothing to reload (the account store is read at every call; restart to apply configuration changes)");
			continue;
		}
		sl_log(LOG_NOTICE, "%s (from pid %u): stopping",
		       strsignal((int)si.ssi_signo), si.ssi_pid);
		t->stop = true;
	}
}

/* The events l waits for, given to epoll if they changed. */
static void line_interest(struct tsp *t, struct tsp_line *l)
{
	uint32_t want = sl_tspd_line_wanted(l);
	struct epoll_event e = { .events = want, .data.ptr = l };

	l->dirty = false;
	if (l->fd < 0 || (l->ep_added && want == l->ep_mask))
		return;
	/* A relayed line whose partner is backed up stays in the set
	 * with no events (hangups are still reported). */
	if (epoll_ctl(t->ep, l->ep_added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
		      l->fd, &e) < 0) {
		sl_log(LOG_ERR, "line %s: epoll: %s", l->name, strerror(errno));
		return;
	}
	l->ep_added = true;
	l->ep_mask = want;
}

static void touch_one(struct tsp *t, struct tsp_line *l)
{
	if (l->dirty || t->n_dirty >= t->n)
		return;
	l->dirty = true;
	t->dirty[t->n_dirty++] = (unsigned int)(l - t->lines);
}

/* A relayed line reads only while its partner's queue has room: what
 * changes one changes the other's interest too. */
void sl_tspd_line_touch(struct tsp_line *l)
{
	struct tsp_line *o = sl_tspd_partner(l);

	touch_one(l->t, l);
	if (o)
		touch_one(l->t, o);
}

/*
 * Every line's timers and interest: when a timer is due, and at least
 * every SL_TSP_SCAN_MS. In between only the lines something happened to
 * (sl_tspd_line_touch()) are looked at, so that a busy TSP's work per
 * event does not grow with its number of lines. Returns the earliest
 * timer of all lines (0: none).
 */
static int64_t full_scan(struct tsp *t, int64_t now)
{
	int64_t next = 0;

	for (unsigned int i = 0; i < t->n; ++i)
		sl_tspd_line_timers(&t->lines[i], now);
	sl_tspd_saf_upkeep(t, now);
	for (unsigned int i = 0; i < t->n; ++i) {
		int64_t d;

		line_interest(t, &t->lines[i]);
		d = sl_tspd_line_next_timer(&t->lines[i]);
		if (d && (!next || d < next))
			next = d;
	}
	t->n_dirty = 0;
	t->last_scan = now;
	return next;
}

/* Only the touched lines: their interest, and their timers lower the
 * earliest (a timer moved later is found by the next full scan). */
static int64_t touched(struct tsp *t, int64_t next)
{
	for (unsigned int i = 0; i < t->n_dirty; ++i) {
		struct tsp_line *l = &t->lines[t->dirty[i]];
		int64_t d;

		line_interest(t, l);
		d = sl_tspd_line_next_timer(l);
		if (d && (!next || d < next))
			next = d;
	}
	t->n_dirty = 0;
	return next;
}

/* The store answered checks: carry them out, in order. */
static void store_answers(struct tsp *t)
{
	struct sl_tspq_req *r;

	sl_tspq_ack(t->q);
	while ((r = sl_tspq_answer(t->q))) {
		sl_tspd_store_answer(t, r);
		free(r);
	}
}

static int loop(struct tsp *t)
{
	struct epoll_event evs[SL_TSP_EVENTS];
	int64_t next = 0;

	while (!t->stop) {
		int64_t now = sl_now_ms(), timeout;
		int n;

		if ((next && now >= next) || now - t->last_scan >= SL_TSP_SCAN_MS)
			next = full_scan(t, now);
		else
			next = touched(t, next);
		ipc_interest(t);
		timeout = !next ? 1000 : next > now ? next - now : 0;
		if (timeout > 1000)
			timeout = 1000;
		n = epoll_wait(t->ep, evs, SL_TSP_EVENTS, (int)timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			sl_log(LOG_ERR, "epoll_wait: %s", strerror(errno));
			return -errno;
		}
		now = sl_now_ms();
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
			if ((void *)l == &store_tag) {
				store_answers(t);
				continue;
			}
			if (l->fd < 0)
				continue;
			sl_tspd_line_touch(l);
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				sl_tspd_line_readable(l, now);
			if (l->fd >= 0 && (evs[i].events & EPOLLOUT))
				sl_tspd_line_writable(l, now);
		}
	}
	return 0;
}

static void shutdown_calls(struct tsp *t)
{
	int64_t now = sl_now_ms();

	for (unsigned int i = 0; i < t->n; ++i) {
		struct tsp_call *c = t->lines[i].call;

		if (c)
			sl_tspd_call_end(t, c, SL_TSP_OUTCOME_INTERRUPTED, NULL,
					 now);
	}
	for (unsigned int i = 0; i < t->n; ++i) {
		struct tsp_line *l = &t->lines[i];

		sl_tsp_leg_free(l->leg);
		l->leg = NULL;
		sl_byteq_free(&l->out);
		/* HUPCL: closing drops DTR, which hangs the modem up. */
		sl_tspd_line_close_fd(l);
	}
}

/* Open the store and start its thread (tspq.h). */
static int start_store(struct tsp *t, char *err, size_t err_len)
{
	const struct sl_tsp_conf *tc = &t->cfg->tsp;
	char backlog[PATH_MAX];
	struct sl_tspq_conf qc = {
		.backlog = backlog, .lease_ms = (int64_t)tc->lease * 1000,
	};
	struct sl_tspq_started s;
	struct sl_tsp_store st;
	int ret, n;

	if (tc->backlog[0])
		n = snprintf(backlog, sizeof(backlog), "%s", tc->backlog);
	else
		n = snprintf(backlog, sizeof(backlog), "%s/%s",
			     t->cfg->state_dir, SL_TSP_BACKLOG_NAME);
	if (n < 0 || (size_t)n >= sizeof(backlog)) {
		snprintf(err, err_len, "backlog: path too long");
		return -ENAMETOOLONG;
	}
	sl_tsp_store_redact(t->store_shown, sizeof(t->store_shown), tc->store);
	ret = sl_tsp_store_open(&st, tc->store, t->instance,
				SL_TSP_OPEN_CREATE | SL_TSP_OPEN_SERVER, err,
				err_len);
	if (ret)
		return ret;
	ret = sl_tspq_start(&t->q, &st, &qc, &t->qfd, &s, err, err_len);
	if (ret)
		return ret;
	if (s.lease_held)
		sl_log(LOG_WARNING, "instance %s: its lease in the store had not expired: an earlier run did not stop cleanly, or another TSP uses the same instance name (give each its own)",
		       t->instance);
	if (s.replayed)
		sl_log(LOG_NOTICE, "%u record events of an earlier run written from the backlog %s",
		       s.replayed, backlog);
	sl_log(LOG_NOTICE, "store %s: %u open call records from before closed as interrupted",
	       t->store_shown, s.recovered);
	return 0;
}

int sl_tsp_main(const struct sl_config *cfg)
{
	struct tsp t = { .cfg = cfg, .ep = -1, .sigfd = -1, .qfd = -1 };
	const char *instance = cfg->tsp.instance;
	char err[1024], host[SL_CONF_TSP_INSTANCE_MAX + 1] = "";
	char fp[SL_KS_FINGERPRINT_LEN + 1], hex[2 * SL_X25519_KEY_LEN + 1];
	struct sl_tspq_req *r;
	struct rlimit rl;
	int ret, status = 1;

	ret = add_lines(&t, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "%s: %s", cfg->path, err);
		goto out_lines;
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
	snprintf(t.instance, sizeof(t.instance), "%s", instance);
	ret = start_store(&t, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "account store: %s", err);
		goto out_ks;
	}
	ret = sl_tspd_saf_open(&t, err, sizeof(err));
	if (ret) {
		sl_log(LOG_ERR, "store and forward: %s", err);
		goto out_store;
	}
	sl_ks_fingerprint(fp, t.ks.id.pub);
	sl_hex_encode(hex, t.ks.id.pub, SL_X25519_KEY_LEN);
	sl_log(LOG_NOTICE, "TSP %s starting: %u lines, store %s, static key %s (fingerprint %s): endpoints pin this key",
	       t.instance, t.n, t.store_shown, hex, fp);

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

		struct epoll_event qe = { .events = EPOLLIN, .data.ptr = &store_tag };

		for (int i = 0; i < SL_IPC_MAX_CLIENTS; ++i)
			t.ipc_fds[i] = -1;
		if (epoll_ctl(t.ep, EPOLL_CTL_ADD, t.ipc.fd, &e) < 0 ||
		    epoll_ctl(t.ep, EPOLL_CTL_ADD, t.qfd, &qe) < 0) {
			sl_log(LOG_ERR, "epoll: %s", strerror(errno));
			goto out_ipc;
		}
	}
	t.started = (int64_t)time(NULL);
	for (unsigned int i = 0; i < t.n; ++i)
		sl_tspd_line_open(&t.lines[i], sl_now_ms());
	/* Ready: the store is open, the control socket listens and every
	 * line is open, its modem being initialised (a line that failed
	 * is retried and logged; the others serve calls). */
	sl_sd_notify("READY=1\nSTATUS=serving calls");
	ret = loop(&t);
	sl_sd_notify("STOPPING=1");
	status = ret ? 1 : 0;
	shutdown_calls(&t);
out_ipc:
	sl_ipc_close(&t.ipc);
out_ep:
	if (t.sigfd >= 0)
		close(t.sigfd);
	close(t.ep);
out_store:
	/* Every record event written (or in the backlog), then the
	 * calls whose checks were still out can go. */
	sl_tspq_stop(t.q);
	while ((r = sl_tspq_answer(t.q))) {
		sl_tspd_store_answer(&t, r);
		free(r);
	}
	sl_tspq_free(t.q);
	sl_tspd_saf_close(&t);
out_ks:
	sl_ks_close(&t.ks);
out_lines:
	for (unsigned int i = 0; i < t.n; ++i) {
		sl_byteq_free(&t.lines[i].out);
		sl_tspd_line_close_fd(&t.lines[i]);
	}
	for (unsigned int i = 0; i < t.n; ++i)
		free(t.lines[i].tn);
	free(t.lines);
	free(t.dirty);
	sl_log(status ? LOG_ERR : LOG_NOTICE, "TSP %s", status ? "failed" : "stopped");
	return status;
}

