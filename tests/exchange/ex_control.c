// SPDX-License-Identifier: GPL-2.0
/*
 * ex_control.c - the control socket (--control): text commands that force
 * lines busy or unanswering, set impairments, arm replays, hang up, show
 * the lines' status, and quit.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "exchange.h"

struct ctl_client {
	int fd;
	char in[CTL_LINE_MAX + 1];
	size_t in_len;
	bool overlong;
	bool eof;		/* the client is done sending */
	char *out;
	size_t out_len, out_cap;
	bool closing;
};

static const char *const state_names[] = {
	[ST_IDLE] = "idle", [ST_OFFHOOK] = "offhook", [ST_DIALING] = "dialing",
	[ST_RINGING] = "ringing", [ST_ONLINE] = "online",
	[ST_ONLINE_CMD] = "online-command",
};

static struct ctl_client clients[CTL_CLIENTS_MAX];
static int ctl_listen = -1;
static const char *ctl_path;

static void ctl_reply(struct ctl_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void ctl_reply(struct ctl_client *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = c->out_cap - c->out_len;

		va_start(ap, fmt);
		n = vsnprintf(c->out + c->out_len, room, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if ((size_t)n + 2 <= room)
			break;
		c->out_cap = (c->out_cap + (size_t)n + 2) * 2;
		c->out = realloc(c->out, c->out_cap);
		if (!c->out)
			ex_fatal("out of memory");
	}
	c->out_len += (size_t)n;
	c->out[c->out_len++] = '\n';
}

/* "NUMBER" (all its lines) or "NUMBER-INDEX" (one line). */
static bool sel_match(const struct line *l, const char *sel)
{
	size_t n = strlen(l->number);

	if (!strcmp(sel, l->number))
		return true;
	return !strncmp(sel, l->number, n) && !strcmp(sel, l->id);
}

static size_t sel_count(const char *sel)
{
	size_t k = 0;

	for (size_t i = 0; i < ex_nlines; i++)
		k += sel_match(&ex_lines[i], sel);
	return k;
}

static bool parse_onoff(const char *s, bool *out)
{
	if (!strcmp(s, "on")) {
		*out = true;
		return true;
	}
	if (!strcmp(s, "off")) {
		*out = false;
		return true;
	}
	return false;
}

static const char ctl_help[] =
	"commands: ping | help | status [SEL] | busy SEL on|off | noanswer SEL on|off | "
	"nodialtone SEL on|off | noise SEL [flip=R] [drop=R] [insert=R] | replay SEL [K] | "
	"hangup SEL | quit; SEL is NUMBER (all its lines) or NUMBER-INDEX; R per million bytes";

static void ctl_command(struct ctl_client *c, char *cmdline)
{
	char *argv[8], *tok, *save = NULL;
	int argc = 0;
	const char *cmd;
	bool on = false;

	for (tok = strtok_r(cmdline, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
		if (argc == 8) {
			ctl_reply(c, "error: too many words");
			return;
		}
		argv[argc++] = tok;
	}
	if (!argc)
		return;
	cmd = argv[0];
	if (argc >= 2 && strcmp(cmd, "status") && !sel_count(argv[1])) {
		ctl_reply(c, "error: no line %s", argv[1]);
		return;
	}
	if (!strcmp(cmd, "ping") && argc == 1) {
		ctl_reply(c, "ok pong");
	} else if (!strcmp(cmd, "help")) {
		ctl_reply(c, "ok %s", ctl_help);
	} else if (!strcmp(cmd, "quit") && argc == 1) {
		ctl_reply(c, "ok quit");
		ex_quit = true;
	} else if (!strcmp(cmd, "status") && argc <= 2) {
		size_t k = argc == 2 ? sel_count(argv[1]) : ex_nlines;

		if (!k) {
			ctl_reply(c, "error: no line %s", argv[1]);
			return;
		}
		ctl_reply(c, "ok %zu", k);
		for (size_t i = 0; i < ex_nlines; i++) {
			struct line *l = &ex_lines[i];

			if (argc == 2 && !sel_match(l, argv[1]))
				continue;
			ctl_reply(c, "%s state=%s peer=%s endpoint=%s rx=%" PRIu64 " tx=%" PRIu64
				  " busy=%s noanswer=%s flip=%lu drop=%lu insert=%lu flipped=%" PRIu64
				  " dropped=%" PRIu64 " inserted=%" PRIu64 " replayed=%" PRIu64,
				  l->id, state_names[l->st], l->peer ? l->peer->id : "-",
				  l->up ? "up" : "down", l->rx, l->tx, l->f_busy ? "on" : "off",
				  l->f_noanswer ? "on" : "off", l->flip, l->drop, l->insert,
				  l->flipped, l->dropped, l->inserted, l->replayed);
		}
	} else if ((!strcmp(cmd, "busy") || !strcmp(cmd, "noanswer") ||
		    !strcmp(cmd, "nodialtone")) && argc == 3 && parse_onoff(argv[2], &on)) {
		for (size_t i = 0; i < ex_nlines; i++) {
			struct line *l = &ex_lines[i];

			if (!sel_match(l, argv[1]))
				continue;
			if (cmd[0] == 'b')
				l->f_busy = on;
			else if (cmd[2] == 'a')
				l->f_noanswer = on;
			else
				l->f_nodialtone = on;
		}
		ex_event("control %s sel=%s %s", cmd, argv[1], argv[2]);
		ctl_reply(c, "ok %s %s %s", cmd, argv[1], argv[2]);
	} else if (!strcmp(cmd, "noise") && argc >= 3) {
		unsigned long v[3] = { ULONG_MAX, ULONG_MAX, ULONG_MAX };
		static const char *const names[3] = { "flip=", "drop=", "insert=" };

		for (int a = 2; a < argc; a++) {
			int k;

			for (k = 0; k < 3; k++)
				if (!strncmp(argv[a], names[k], strlen(names[k])))
					break;
			if (k == 3 || !ex_parse_ulong(argv[a] + strlen(names[k]), RATE_MAX, &v[k])) {
				ctl_reply(c, "error: bad noise setting '%s' (flip=R drop=R insert=R, R 0..1000000 per million bytes)",
					  argv[a]);
				return;
			}
		}
		for (size_t i = 0; i < ex_nlines; i++) {
			struct line *l = &ex_lines[i];

			if (!sel_match(l, argv[1]))
				continue;
			if (v[0] != ULONG_MAX)
				l->flip = v[0];
			if (v[1] != ULONG_MAX)
				l->drop = v[1];
			if (v[2] != ULONG_MAX)
				l->insert = v[2];
			ex_event("noise line=%s flip=%lu drop=%lu insert=%lu", l->id, l->flip,
			      l->drop, l->insert);
		}
		ctl_reply(c, "ok noise %s", argv[1]);
	} else if (!strcmp(cmd, "replay") && (argc == 2 || argc == 3)) {
		unsigned long k = 1;

		if (argc == 3 && (!ex_parse_ulong(argv[2], RING_FRAMES, &k) || !k)) {
			ctl_reply(c, "error: replay K must be 1..%d", RING_FRAMES);
			return;
		}
		for (size_t i = 0; i < ex_nlines; i++)
			if (sel_match(&ex_lines[i], argv[1]))
				ex_lines[i].replay_k = (unsigned int)k;
		ctl_reply(c, "ok replay %s armed back=%lu", argv[1], k);
	} else if (!strcmp(cmd, "hangup") && argc == 2) {
		size_t k = 0;

		for (size_t i = 0; i < ex_nlines; i++) {
			struct line *l = &ex_lines[i];

			if (!sel_match(l, argv[1]))
				continue;
			if (l->st == ST_ONLINE || l->st == ST_ONLINE_CMD) {
				/* the network drops the call: both sides lose carrier */
				ex_result(l, RC_NO_CARRIER);
				ex_end_call(l, "control");
				k++;
			} else if (l->st == ST_DIALING) {
				ex_abort_dial(l, "control", true);
				k++;
			} else if (l->st == ST_RINGING) {
				struct line *caller = l->peer;

				ex_abort_dial(caller, "control", true);
				k++;
			}
		}
		ctl_reply(c, "ok hangup %s calls=%zu", argv[1], k);
	} else {
		ctl_reply(c, "error: unknown command or bad arguments: '%s' (try help)", cmd);
	}
}

static void ctl_read(struct ctl_client *c)
{
	char buf[1024];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* closed when all its answers are out (a big status) */
		c->eof = true;
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n') {
			c->in[c->in_len] = '\0';
			if (c->overlong)
				ctl_reply(c, "error: line longer than %d characters", CTL_LINE_MAX);
			else
				ctl_command(c, c->in);
			c->in_len = 0;
			c->overlong = false;
		} else if (c->in_len < CTL_LINE_MAX) {
			c->in[c->in_len++] = buf[i];
		} else {
			c->overlong = true;
		}
	}
}

static void ctl_write(struct ctl_client *c)
{
	ssize_t w = write(c->fd, c->out, c->out_len);

	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR)
			c->closing = true;
		return;
	}
	memmove(c->out, c->out + w, c->out_len - (size_t)w);
	c->out_len -= (size_t)w;
}

static void ctl_close(struct ctl_client *c)
{
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void ctl_accept(void)
{
	int fd = accept4(ctl_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0)
		return;
	for (int i = 0; i < CTL_CLIENTS_MAX; i++) {
		if (clients[i].fd < 0) {
			clients[i].fd = fd;
			return;
		}
	}
	if (write(fd, "error: too many control clients\n", 32) < 0) {
		/* nothing more to say to it */
	}
	close(fd);
}

void ex_ctl_open(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		ex_fatal("--control path too long (max %zu): %s", sizeof(sa.sun_path) - 1, path);
	strcpy(sa.sun_path, path);
	ctl_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl_listen < 0)
		ex_fatal("socket: %s", strerror(errno));
	unlink(path);
	if (bind(ctl_listen, (struct sockaddr *)&sa, sizeof(sa)) || listen(ctl_listen, 8))
		ex_fatal("--control %s: %s", path, strerror(errno));
	ctl_path = path;
	for (int i = 0; i < CTL_CLIENTS_MAX; i++)
		clients[i].fd = -1;
}

/* The control socket's pollfds from pfd on; returns how many. */
size_t ex_ctl_pollfds(struct pollfd *pfd)
{
	size_t n = 0;

	if (ctl_listen < 0)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = ctl_listen, .events = POLLIN };
	for (int i = 0; i < CTL_CLIENTS_MAX; i++) {
		const struct ctl_client *c = &clients[i];

		if (c->fd >= 0)
			pfd[n++] = (struct pollfd){ .fd = c->fd,
				.events = (short)((c->eof ? 0 : POLLIN) | (c->out_len ? POLLOUT : 0)) };
	}
	return n;
}

/* After poll(): pfd, n as filled by ctl_pollfds. */
void ex_ctl_handle(const struct pollfd *pfd, size_t n)
{
	size_t k = 1;

	if (ctl_listen < 0)
		return;
	/* clients first: one accepted now has no pollfd yet */
	for (int i = 0; i < CTL_CLIENTS_MAX && k < n; i++) {
		struct ctl_client *c = &clients[i];

		if (c->fd < 0 || pfd[k].fd != c->fd)
			continue;
		if (pfd[k].revents & POLLERR)
			c->closing = true;
		else if (!c->eof && (pfd[k].revents & (POLLIN | POLLHUP)))
			ctl_read(c);
		k++;
	}
	if (pfd[0].revents & POLLIN)
		ctl_accept();
	for (int i = 0; i < CTL_CLIENTS_MAX; i++) {
		struct ctl_client *c = &clients[i];

		if (c->fd >= 0 && c->out_len)
			ctl_write(c);
		if (c->fd >= 0 && (c->closing || (c->eof && !c->out_len)))
			ctl_close(c);
	}
}

/* At exit: one last try to send what is queued ("ok quit"). */
void ex_ctl_flush(void)
{
	for (int i = 0; i < CTL_CLIENTS_MAX; i++)
		if (clients[i].fd >= 0 && clients[i].out_len)
			ctl_write(&clients[i]);
}

/* At exit: the socket goes. */
void ex_ctl_cleanup(void)
{
	if (ctl_path)
		unlink(ctl_path);
}
