// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Dial-on-demand (dialer.h): the pseudo-terminal published for
 * applications, the relay between it and the call's virtual tty, the
 * bytes held while a call is set up, and the back-off after a failed
 * demand call. Its descriptors sit in the dialer's epoll set.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "clock.h"
#include "crypto.h"
#include "dialer.h"
#include "dialer_internal.h"
#include "log.h"

/* Keep fd's registration in the epoll set at want (0: not in it, so a
 * hung-up descriptor we do not want to hear from cannot spin the loop). */
void sl_demand_watch(struct dl_demand *m, int fd, enum dl_tag tag,
		   uint32_t *cur, uint32_t want)
{
	struct epoll_event ev = { .events = want, .data.u32 = tag };
	int ret = 0;

	if (fd < 0 || *cur == want)
		return;
	if (!want) {
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, fd, NULL);
	} else if (!*cur) {
		ret = epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev);
		if (ret && errno == EEXIST)
			ret = epoll_ctl(m->epfd, EPOLL_CTL_MOD, fd, &ev);
	} else {
		ret = epoll_ctl(m->epfd, EPOLL_CTL_MOD, fd, &ev);
		if (ret && errno == ENOENT)
			ret = epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ev);
	}
	if (ret) {
		sl_log(LOG_ERR, "epoll_ctl: %s", strerror(errno));
		return;
	}
	*cur = want;
}

void sl_demand_forget(struct dl_demand *m, int fd, uint32_t *cur)
{
	if (*cur && fd >= 0)
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, fd, NULL);
	*cur = 0;
}

static void vtty_close(struct sl_dialer *d)
{
	struct dl_demand *m = d->dod;

	if (m->vtty < 0)
		return;
	sl_demand_forget(m, m->vtty, &m->ev_vtty);
	close(m->vtty);
	m->vtty = -1;
}

static void set_raw(int fd)
{
	struct termios t;

	if (tcgetattr(fd, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(fd, TCSANOW, &t);
	}
}

/* Called from sl_dialer_end_call(): a demand call that never keyed failed, and
 * what waited for it goes; bytes left over from a keyed call go too. */
void sl_demand_call_over(struct sl_dialer *d, const char *why,
			     int64_t now)
{
	struct dl_demand *m = d->dod;

	if (!m)
		return;
	vtty_close(d);
	if (m->demand_call && !m->keyed) {
		m->backoff_ms = m->backoff_ms ? m->backoff_ms * 2 :
				SL_DIALER_BACKOFF_MS;
		if (m->backoff_ms > SL_DIALER_BACKOFF_MAX_MS)
			m->backoff_ms = SL_DIALER_BACKOFF_MAX_MS;
		m->backoff_until = now + m->backoff_ms;
		m->backoff_dropped = 0;
		sl_log(LOG_WARNING, "%s: dial-on-demand call to %s failed (%s): %zu buffered bytes dropped; writes to %s are dropped for %" PRId64 " s",
		       sl_dialer_tty(d), d->base->dial_on_demand, why, m->up.len,
		       m->link, m->backoff_ms / 1000);
		sl_byteq_drop(&m->up);
	} else if (m->up.len) {
		sl_log(LOG_NOTICE, "%s: the call ended (%s) with %zu bytes from %s not sent: dropped",
		       sl_dialer_tty(d), why, m->up.len, m->link);
		sl_byteq_drop(&m->up);
	}
	m->demand_call = false;
	m->keyed = false;
	m->key_deadline = 0;
}

/* An application wrote while no call is up: call, as `sealctl call`. */
static void demand_dial(struct sl_dialer *d, int64_t now)
{
	struct dl_demand *m = d->dod;
	char err[256];
	int ret;

	sl_log(LOG_NOTICE, "%s: dial-on-demand: an application wrote %zu bytes to %s: calling %s",
	       sl_dialer_tty(d), m->up.len, m->link, d->base->dial_on_demand);
	/* Set first: the modem may fail the call before this returns. */
	m->demand_call = true;
	m->keyed = false;
	m->key_deadline = now + SL_DIALER_KEY_MS;
	ret = sl_dialer_call(d, d->base->dial_on_demand, NULL, now, err,
			     sizeof(err));
	if (ret)
		sl_demand_call_over(d, err, now);
}

/* The relay follows the call: the virtual tty is ours while the call's
 * session is keyed; waiting bytes start a call. */
void sl_demand_sync(struct sl_dialer *d, int64_t now)
{
	struct dl_demand *m = d->dod;
	uint32_t index;
	bool keyed = d->st == DL_CONNECTED && d->ops->keyed(d->ctx, &index);
	char path[64];

	if (!keyed) {
		vtty_close(d);
	} else if (m->vtty < 0) {
		snprintf(path, sizeof(path), "/dev/%s%" PRIu32,
			 SEALINE_VTTY_NAME, index);
		m->vtty = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK |
			       O_CLOEXEC);
		if (m->vtty < 0) {
			char why[128];

			snprintf(why, sizeof(why), "cannot open %s: %s", path,
				 strerror(errno));
			sl_log(LOG_ERR, "%s: dial-on-demand: %s", sl_dialer_tty(d), why);
			sl_dialer_end_call(d, why, now);
			return;
		}
		set_raw(m->vtty);
		if (!m->keyed)
			sl_log(LOG_INFO, "%s: keyed: relaying %s <-> %s (%zu bytes waiting)",
			       sl_dialer_tty(d), m->link, path, m->up.len);
		m->keyed = true;
		m->key_deadline = 0;
		m->backoff_ms = 0;
		m->last_io = now;
	}
	if (m->up.len && d->st == DL_IDLE && now >= m->backoff_until)
		demand_dial(d, now);
}

void sl_demand_io(struct sl_dialer *d, enum dl_tag tag, uint32_t events,
		      int64_t now)
{
	struct dl_demand *m = d->dod;
	ssize_t r;

	if (tag == TAG_MASTER && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		if (now < m->backoff_until && !m->keyed) {
			uint8_t junk[512];

			/* Backing off: the application is not blocked, its
			 * bytes go nowhere (counted, logged once). */
			r = read(m->master, junk, sizeof(junk));
			sl_wipe(junk, sizeof(junk));
			if (r > 0 && !m->backoff_dropped++)
				sl_log(LOG_WARNING, "%s: dial-on-demand backs off after a failed call (%" PRId64 " s left): bytes written to %s are dropped",
				       sl_dialer_tty(d), (m->backoff_until - now + 999) / 1000,
				       m->link);
		} else {
			r = sl_byteq_fill(&m->up, m->master);
			if (r > 0 && m->keyed)
				m->last_io = now;
		}
		if (r < 0 && r != -EAGAIN && r != -EINTR && r != -EIO)
			sl_log(LOG_WARNING, "%s: %s: %s", sl_dialer_tty(d), m->link,
			       strerror((int)-r));
	}
	if (tag == TAG_MASTER && (events & EPOLLOUT) &&
	    sl_byteq_flush(&m->down, m->master) > 0)
		m->last_io = now;
	if (tag == TAG_VTTY && m->vtty >= 0) {
		if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
		    m->down.len < m->down.size) {
			r = sl_byteq_fill(&m->down, m->vtty);
			if (r > 0)
				m->last_io = now;
			else if (r == 0 || (r != -EAGAIN && r != -EINTR)) {
				/* Hung up under us (the serial line's carrier
				 * went, or it was detached): the call is gone
				 * too, and reopening would only spin. */
				sl_log(LOG_NOTICE, "%s: the virtual tty was hung up (%s)",
				       sl_dialer_tty(d), r ? strerror((int)-r) : "end of file");
				vtty_close(d);
				sl_dialer_hangup(d, "the virtual tty was hung up", now);
				return;
			}
		}
		if ((events & EPOLLOUT) && sl_byteq_flush(&m->up, m->vtty) > 0)
			m->last_io = now;
	}
}

void sl_demand_events(struct sl_dialer *d)
{
	struct dl_demand *m = d->dod;
	uint32_t want;

	want = 0;
	if (m->up.len < m->up.size)
		want |= EPOLLIN;
	if (m->down.len)
		want |= EPOLLOUT;
	sl_demand_watch(m, m->master, TAG_MASTER, &m->ev_master, want);
	if (m->vtty >= 0) {
		want = 0;
		if (m->down.len < m->down.size)
			want |= EPOLLIN;
		if (m->up.len)
			want |= EPOLLOUT;
		sl_demand_watch(m, m->vtty, TAG_VTTY, &m->ev_vtty, want);
	}
}

void sl_demand_free(struct sl_dialer *d)
{
	struct dl_demand *m = d->dod;
	char target[PATH_MAX];
	ssize_t n;

	if (!m)
		return;
	vtty_close(d);
	if (m->link_made) {
		/* Only our own link: another daemon may have replaced it. */
		n = readlink(m->link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			if (m->master >= 0 && ptsname(m->master) &&
			    !strcmp(target, ptsname(m->master)))
				unlink(m->link);
		}
	}
	if (m->slave >= 0)
		close(m->slave);
	if (m->master >= 0)
		close(m->master);
	if (m->epfd >= 0)
		close(m->epfd);
	sl_byteq_free(&m->up);
	sl_byteq_free(&m->down);
	free(m);
	d->dod = NULL;
}

/* The pty and its link: the link is replaced atomically (rename), so a
 * stale one from a crashed daemon goes, but anything that is not a link
 * is left alone. */
int sl_demand_new(struct sl_dialer *d)
{
	struct dl_demand *m = calloc(1, sizeof(*m));
	char tmp[PATH_MAX + 16], dir[PATH_MAX];
	const char *slave;
	struct stat st;
	int ret;

	if (!m)
		return -ENOMEM;
	d->dod = m;
	m->epfd = m->master = m->slave = m->vtty = -1;
	snprintf(m->link, sizeof(m->link), "%s", d->base->demand_link);
	sl_byteq_init(&m->up, SL_DIALER_DEMAND_BUF);
	sl_byteq_init(&m->down, SL_DIALER_RELAY_BUF);
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->epfd < 0)
		goto err_errno;
	m->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m->master < 0 || grantpt(m->master) || unlockpt(m->master))
		goto err_errno;
	if (fcntl(m->master, F_SETFL, O_NONBLOCK))
		goto err_errno;
	slave = ptsname(m->master);
	if (!slave)
		goto err_errno;
	m->slave = open(slave, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m->slave < 0)
		goto err_errno;
	/* Like the virtual ttys: root's, and raw, so that bytes pass
	 * unchanged even to an application that does not set the tty up. */
	if (fchmod(m->slave, 0600))
		goto err_errno;
	set_raw(m->slave);
	if (lstat(m->link, &st) == 0 && !S_ISLNK(st.st_mode)) {
		sl_log(LOG_ERR, "%s: demand_link %s exists and is not a symbolic link: not replaced",
		       sl_dialer_tty(d), m->link);
		ret = -EEXIST;
		goto err_free;
	}
	snprintf(dir, sizeof(dir), "%s", m->link);
	if (mkdir(dirname(dir), 0755) && errno != EEXIST)
		goto err_errno;
	snprintf(tmp, sizeof(tmp), "%s.%ld", m->link, (long)getpid());
	unlink(tmp);
	if (symlink(slave, tmp))
		goto err_errno;
	if (rename(tmp, m->link)) {
		ret = -errno;
		unlink(tmp);
		goto err_log;
	}
	m->link_made = true;
	sl_log(LOG_NOTICE, "%s: dial-on-demand: applications use %s (-> %s); a write calls %s; idle calls hang up after %s%" PRIu32 " s",
	       sl_dialer_tty(d), m->link, slave, d->base->dial_on_demand,
	       d->base->idle_hangup ? "" : "(never) ", d->base->idle_hangup);
	return 0;

err_errno:
	ret = -errno;
err_log:
	sl_log(LOG_ERR, "%s: dial-on-demand: cannot set up the pty for %s: %s",
	       sl_dialer_tty(d), m->link, strerror(-ret));
err_free:
	sl_demand_free(d);
	return ret;
}

void sl_demand_status(const struct sl_dialer *d, struct sl_ipc_builder *b)
{
	const struct dl_demand *m = d->dod;
	int64_t now = sl_now_ms();

	sl_ipc_add(b, "dial_on_demand", d->base->dial_on_demand);
	sl_ipc_add(b, "demand_link", m->link);
	sl_ipc_addf(b, "idle_hangup", "%" PRIu32, d->base->idle_hangup);
	if (m->vtty >= 0)
		sl_ipc_addf(b, "idle_s", "%" PRId64, (now - m->last_io) / 1000);
	sl_ipc_addf(b, "demand_waiting", "%zu", m->up.len);
	if (now < m->backoff_until)
		sl_ipc_addf(b, "demand_backoff_s", "%" PRId64,
			    (m->backoff_until - now + 999) / 1000);
}

void sl_demand_flush(struct sl_dialer *d, int64_t now)
{
	struct dl_demand *m = d->dod;

	/* Bytes that just arrived go on at once, not a loop later. */
	if (m->vtty >= 0 && m->up.len && sl_byteq_flush(&m->up, m->vtty) > 0)
		m->last_io = now;
	if (m->down.len && sl_byteq_flush(&m->down, m->master) > 0)
		m->last_io = now;
}
