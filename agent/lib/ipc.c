// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The control socket between sealctl and sealined. See ipc.h for the
 * protocol.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hex.h"
#include "ipc.h"
#include "log.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ parsing */

int sl_ipc_parse_request(const char *line, size_t len, struct sl_ipc_req *req,
			 char *err, size_t err_len)
{
	char *p;

	memset(req, 0, sizeof(*req));
	if (len && line[len - 1] == '\r')
		--len;
	if (len > SL_IPC_MAX_LINE) {
		snprintf(err, err_len, "request longer than %d bytes", SL_IPC_MAX_LINE);
		return -EMSGSIZE;
	}
	for (size_t i = 0; i < len; ++i) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c >= 0x7f) {
			snprintf(err, err_len, "request holds a byte 0x%02x that is not printable ASCII",
				 c);
			return -EINVAL;
		}
	}
	memcpy(req->buf, line, len);
	req->buf[len] = '\0';
	p = req->buf;
	for (;;) {
		while (*p == ' ' || *p == '\t')
			*p++ = '\0';
		if (!*p)
			break;
		if (req->argc == SL_IPC_MAX_ARGS) {
			snprintf(err, err_len, "more than %d words", SL_IPC_MAX_ARGS);
			return -E2BIG;
		}
		req->argv[req->argc++] = p;
		while (*p && *p != ' ' && *p != '\t')
			++p;
	}
	if (!req->argc) {
		snprintf(err, err_len, "empty request");
		return -EINVAL;
	}
	return 0;
}

static const struct sl_ipc_verb verbs[] = {
	{ "hello", 0, 0, "hello" },
	{ "status", 0, 0, "status" },
	{ "peers", 0, 0, "peers" },
	{ "authorise", 1, 1, "authorise ACCOUNT" },
	{ "revoke", 1, 1, "revoke ACCOUNT" },
	{ "forget", 1, 1, "forget ACCOUNT" },
	{ "log", 0, 1, "log [COUNT]" },
	{ "reload", 0, 0, "reload" },
	{ "pair", 1, 3, "pair LINE [replace] [wait=SECONDS]" },
	{ "confirm", 1, 1, "confirm yes|no" },
	{ "sas", 1, 1, "sas TEXT" },
	{ "call", 1, 2, "call ACCOUNT [LINE]" },
	{ "hangup", 1, 1, "hangup LINE" },
	{ "send", 1, 4,
	  "send ACCOUNT [line=TTY|call|tsp [after=MS|window=W]] [wait]" },
	{ "outbox", 0, 0, "outbox" },
	{ "outbox-cancel", 1, 1, "outbox-cancel ID" },
	{ "outbox-retry", 1, 1, "outbox-retry ID" },
	{ "outbox-receipt", 1, 1, "outbox-receipt ID" },
	{ "outbox-acceptance", 1, 1, "outbox-acceptance ID" },
	{ "outbox-notice", 1, 1, "outbox-notice ID" },
	{ "outbox-collect", 0, 0, "outbox-collect" },
	{ "inbox", 0, 0, "inbox" },
	{ "inbox-show", 1, 1, "inbox-show ID" },
	{ "courier-log", 1, 2, "courier-log sent|received [COUNT]" },
	{ "peer-name", 1, 2, "peer-name ACCOUNT [NAME]" },
	{ "peer-company", 1, 2, "peer-company ACCOUNT [COMPANY]" },
};

const struct sl_ipc_verb *sl_ipc_lookup(const struct sl_ipc_req *req,
					char *err, size_t err_len)
{
	const char *name = req->argv[0];
	int nargs = req->argc - 1;

	for (size_t i = 0; i < ARRAY_SIZE(verbs); ++i) {
		if (strcmp(name, verbs[i].name))
			continue;
		if (nargs < verbs[i].min_args || nargs > verbs[i].max_args) {
			snprintf(err, err_len, "EINVAL usage: %s", verbs[i].usage);
			return NULL;
		}
		return &verbs[i];
	}
	/* "authorize" is the same word in another spelling. */
	if (!strcmp(name, "authorize") && nargs == 1)
		return &verbs[3];
	snprintf(err, err_len, "ENOSYS unknown request '%.40s'", name);
	return NULL;
}

static bool must_escape(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '%' || c == '=';
}

bool sl_ipc_escape(char *out, size_t size, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *s; ++s) {
		unsigned char c = (unsigned char)*s;
		size_t need = must_escape(c) ? 3 : 1;

		if (n + need >= size) {
			if (size)
				out[0] = '\0';
			return false;
		}
		if (need == 3) {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		} else {
			out[n++] = (char)c;
		}
	}
	if (!size)
		return false;
	out[n] = '\0';
	return true;
}

int sl_ipc_unescape(char *s)
{
	char *w = s;

	for (; *s; ++s) {
		if (*s != '%') {
			*w++ = *s;
			continue;
		}
		int hi = sl_hex_digit((unsigned char)s[1]);
		int lo = hi >= 0 ? sl_hex_digit((unsigned char)s[2]) : -1;

		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
			return -EINVAL;
		*w++ = (char)(hi << 4 | lo);
		s += 2;
	}
	*w = '\0';
	return 0;
}

int sl_ipc_parse_record(char *line, struct sl_ipc_record *rec)
{
	char *p = line, *word;

	memset(rec, 0, sizeof(*rec));
	while (*p == ' ')
		++p;
	if (!*p)
		return -EINVAL;
	rec->type = p;
	while (*p && *p != ' ')
		++p;
	if (*p)
		*p++ = '\0';
	for (const char *t = rec->type; *t; ++t)
		if (!((*t >= 'a' && *t <= 'z') || *t == '-' || *t == '_'))
			return -EINVAL;
	if (!strcmp(rec->type, "err")) {
		while (*p == ' ')
			++p;
		rec->errname = p;
		while (*p && *p != ' ')
			++p;
		if (*p)
			*p++ = '\0';
		rec->text = p;
		return *rec->errname ? 0 : -EINVAL;
	}
	if (!strcmp(rec->type, "session") || !strcmp(rec->type, "entry")) {
		/* The rest is a JSON record, kept whole. */
		rec->text = p;
		return 0;
	}
	for (;;) {
		char *eq;

		while (*p == ' ')
			*p++ = '\0';
		if (!*p)
			break;
		word = p;
		while (*p && *p != ' ')
			++p;
		if (*p)
			*p++ = '\0';
		eq = strchr(word, '=');
		if (!eq || eq == word)
			return -EINVAL;
		*eq = '\0';
		if (sl_ipc_unescape(eq + 1))
			return -EINVAL;
		if (rec->n == (int)ARRAY_SIZE(rec->kv))
			return -E2BIG;
		rec->kv[rec->n].key = word;
		rec->kv[rec->n].val = eq + 1;
		rec->n++;
	}
	return 0;
}

const char *sl_ipc_get(const struct sl_ipc_record *rec, const char *key)
{
	for (int i = 0; i < rec->n; ++i)
		if (!strcmp(rec->kv[i].key, key))
			return rec->kv[i].val;
	return NULL;
}

void sl_ipc_build(struct sl_ipc_builder *b, const char *type)
{
	b->overflow = false;
	b->len = (size_t)snprintf(b->buf, sizeof(b->buf), "%s", type);
	if (b->len >= sizeof(b->buf))
		b->overflow = true;
}

void sl_ipc_add(struct sl_ipc_builder *b, const char *key, const char *val)
{
	char enc[SL_IPC_MAX_LINE];
	int n;

	if (b->overflow)
		return;
	if (!sl_ipc_escape(enc, sizeof(enc), val ? val : "")) {
		b->overflow = true;
		return;
	}
	n = snprintf(b->buf + b->len, sizeof(b->buf) - b->len, " %s=%s", key,
		     enc);
	if (n < 0 || (size_t)n >= sizeof(b->buf) - b->len ||
	    b->len + (size_t)n > SL_IPC_MAX_LINE - 1) {
		b->overflow = true;
		b->buf[b->len] = '\0';
		return;
	}
	b->len += (size_t)n;
}

void sl_ipc_addf(struct sl_ipc_builder *b, const char *key, const char *fmt, ...)
{
	char val[SL_IPC_MAX_LINE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	sl_ipc_add(b, key, val);
}

/* ------------------------------------------------------------ server */

/* Is a daemon answering at path? */
static bool someone_listens(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool yes;

	if (fd < 0)
		return false;
	yes = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0;
	close(fd);
	return yes;
}

/* The socket's directory: created 0755 if missing (only the socket itself
 * needs to be private). */
static int make_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; ++p) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int sl_ipc_listen(struct sl_ipc_server *srv, const char *path, char *err,
		  size_t err_len)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old_umask;
	int ret;

	memset(srv, 0, sizeof(*srv));
	srv->fd = -1;
	if (path[0] != '/' || strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, err_len, "socket path '%s' must be absolute and shorter than %zu bytes",
			 path, sizeof(addr.sun_path));
		return -EINVAL;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	memcpy(srv->path, path, strlen(path) + 1);

	ret = make_parent(srv->path);
	if (ret) {
		snprintf(err, err_len, "cannot create the directory of %s: %s",
			 srv->path, strerror(-ret));
		return ret;
	}
	if (lstat(srv->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, err_len, "%s exists and is not a socket", srv->path);
			return -EEXIST;
		}
		if (someone_listens(&addr)) {
			snprintf(err, err_len, "another sealined is already listening on %s",
				 srv->path);
			return -EADDRINUSE;
		}
		/* Left behind by a daemon that was killed. */
		unlink(srv->path);
	}

	srv->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (srv->fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "socket: %s", strerror(errno));
		return ret;
	}
	/* Never a moment with a socket anyone could connect to. */
	old_umask = umask(0177);
	ret = bind(srv->fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_umask);
	if (ret < 0) {
		ret = -errno;
		snprintf(err, err_len, "cannot bind %s: %s", srv->path, strerror(errno));
		goto fail;
	}
	if (chmod(srv->path, 0600) < 0 || stat(srv->path, &st) < 0) {
		ret = -errno;
		snprintf(err, err_len, "%s: %s", srv->path, strerror(errno));
		unlink(srv->path);
		goto fail;
	}
	srv->dev = st.st_dev;
	srv->ino = st.st_ino;
	if (listen(srv->fd, 16) < 0) {
		ret = -errno;
		snprintf(err, err_len, "listen on %s: %s", srv->path, strerror(errno));
		unlink(srv->path);
		goto fail;
	}
	return 0;
fail:
	close(srv->fd);
	srv->fd = -1;
	return ret;
}

static void close_fds(struct sl_ipc_client *c)
{
	for (int i = 0; i < c->n_fds; i++)
		if (c->fds[i] >= 0)
			close(c->fds[i]);
	c->n_fds = 0;
}

int sl_ipc_take_fd(struct sl_ipc_client *c)
{
	for (int i = 0; i < c->n_fds; i++) {
		int fd = c->fds[i];

		if (fd >= 0) {
			c->fds[i] = -1;
			return fd;
		}
	}
	return -1;
}

static void free_client(struct sl_ipc_client *c)
{
	close_fds(c);
	if (c->fd >= 0)
		close(c->fd);
	free(c->out);
	explicit_bzero(c->in, sizeof(c->in));
	free(c);
}

void sl_ipc_drop(struct sl_ipc_server *srv, struct sl_ipc_client *c)
{
	for (size_t i = 0; i < SL_IPC_MAX_CLIENTS; ++i) {
		if (srv->clients[i] == c) {
			srv->clients[i] = NULL;
			break;
		}
	}
	free_client(c);
}

void sl_ipc_close(struct sl_ipc_server *srv)
{
	struct stat st;

	for (size_t i = 0; i < SL_IPC_MAX_CLIENTS; ++i) {
		if (srv->clients[i]) {
			free_client(srv->clients[i]);
			srv->clients[i] = NULL;
		}
	}
	if (srv->fd >= 0) {
		close(srv->fd);
		srv->fd = -1;
		/* A newer daemon may have taken the path over. */
		if (stat(srv->path, &st) == 0 && st.st_dev == srv->dev &&
		    st.st_ino == srv->ino)
			unlink(srv->path);
	}
}

void sl_ipc_accept(struct sl_ipc_server *srv, int64_t now)
{
	for (;;) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		struct sl_ipc_client *c;
		size_t slot;
		int fd;

		fd = accept4(srv->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR &&
			    errno != ECONNABORTED)
				sl_log(LOG_WARNING, "control socket: accept: %s",
				       strerror(errno));
			return;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			sl_log(LOG_WARNING, "control socket: SO_PEERCRED: %s",
			       strerror(errno));
			close(fd);
			continue;
		}
		if (cred.uid != 0 && cred.uid != geteuid()) {
			static const char msg[] =
				"err EACCES only root may talk to sealined\n";

			sl_log(LOG_NOTICE, "control socket: refused uid %u (pid %d)",
			       (unsigned int)cred.uid, (int)cred.pid);
			if (write(fd, msg, sizeof(msg) - 1) < 0) {
				/* nothing more to tell it */
			}
			close(fd);
			continue;
		}
		for (slot = 0; slot < SL_IPC_MAX_CLIENTS; ++slot)
			if (!srv->clients[slot])
				break;
		if (slot == SL_IPC_MAX_CLIENTS) {
			static const char msg[] =
				"err EBUSY too many connections to sealined\n";

			sl_log(LOG_WARNING, "control socket: too many connections; refused pid %d",
			       (int)cred.pid);
			if (write(fd, msg, sizeof(msg) - 1) < 0) {
				/* nothing more to tell it */
			}
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->last_active = now;
		srv->clients[slot] = c;
		sl_log(LOG_DEBUG, "control socket: connection from pid %d",
		       (int)cred.pid);
	}
}

int sl_ipc_client_read(struct sl_ipc_client *c, sl_ipc_line_fn fn, void *arg,
		       int64_t now)
{
	for (;;) {
		size_t room = sizeof(c->in) - 1 - c->in_len;
		union {
			char buf[CMSG_SPACE(SL_IPC_MAX_FDS * sizeof(int))];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { c->in + c->in_len, room };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
		char *nl;

		/* Descriptors passed along: kept for the request they came
		 * with (closed after it); more than allowed are closed. */
		for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL;
		     cm; cm = CMSG_NXTHDR(&msg, cm)) {
			size_t k;

			if (cm->cmsg_level != SOL_SOCKET ||
			    cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
				       sizeof(int));
				if (c->n_fds < SL_IPC_MAX_FDS)
					c->fds[c->n_fds++] = fd;
				else
					close(fd);
			}
		}

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -EPIPE;
		c->in_len += (size_t)n;
		c->last_active = now;
		while ((nl = memchr(c->in, '\n', c->in_len))) {
			size_t len = (size_t)(nl - c->in);

			if (c->in_overflow) {
				c->in_overflow = false;
			} else if (!c->closing) {
				*nl = '\0';
				fn(c, c->in, len, arg);
			}
			close_fds(c);
			memmove(c->in, nl + 1, c->in_len - len - 1);
			c->in_len -= len + 1;
		}
		if (c->in_len == sizeof(c->in) - 1) {
			/* A line longer than any request: refuse it, and
			 * skip to its end. */
			if (!c->in_overflow)
				sl_ipc_send_err(c, -EMSGSIZE,
						"request longer than %d bytes",
						SL_IPC_MAX_LINE);
			c->in_overflow = true;
			c->in_len = 0;
		}
	}
}

void sl_ipc_send(struct sl_ipc_client *c, const char *line)
{
	size_t len = strlen(line);

	if (c->closing)
		return;
	if (c->out_len + len + 1 > SL_IPC_MAX_PENDING) {
		sl_log(LOG_WARNING, "control socket: pid %d does not read its responses; dropped",
		       (int)c->pid);
		c->closing = true;
		c->out_len = 0;
		return;
	}
	if (c->out_len + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *p;

		while (cap < c->out_len + len + 1)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p) {
			c->closing = true;
			c->out_len = 0;
			return;
		}
		c->out = p;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, line, len);
	c->out[c->out_len + len] = '\n';
	c->out_len += len + 1;
}

void sl_ipc_sendf(struct sl_ipc_client *c, const char *fmt, ...)
{
	char line[SL_IPC_MAX_LINE * 2 + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *p = line; *p; ++p)
		if (*p == '\n')
			*p = ' ';
	sl_ipc_send(c, line);
}

void sl_ipc_send_record(struct sl_ipc_client *c, const struct sl_ipc_builder *b)
{
	if (b->overflow) {
		/* Never half a record: a client would read it as whole. */
		sl_log(LOG_ERR, "control socket: a %.20s record did not fit a line",
		       b->buf);
		return;
	}
	sl_ipc_send(c, b->buf);
}

void sl_ipc_send_ok(struct sl_ipc_client *c)
{
	sl_ipc_send(c, "ok");
}

void sl_ipc_send_err(struct sl_ipc_client *c, int err, const char *fmt, ...)
{
	const char *name = strerrorname_np(err < 0 ? -err : err);
	char text[SL_IPC_MAX_LINE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	sl_ipc_sendf(c, "err %s %s", name ? name : "EIO", text);
}

int sl_ipc_client_flush(struct sl_ipc_client *c)
{
	size_t off = 0;

	while (off < c->out_len) {
		ssize_t n = send(c->fd, c->out + off, c->out_len - off,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			return -EPIPE;
		off += (size_t)n;
	}
	memmove(c->out, c->out + off, c->out_len - off);
	c->out_len -= off;
	if (c->closing && !c->out_len)
		return -EPIPE;
	return 0;
}

/* ------------------------------------------------------------ client */

int sl_ipc_connect(const char *path, char *err, size_t err_len)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, err_len, "socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, err_len, "socket: %s", strerror(errno));
		return ret;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno;
		if (errno == ENOENT || errno == ECONNREFUSED)
			snprintf(err, err_len, "sealined is not running (nothing listens on %s)",
				 path);
		else if (errno == EACCES)
			snprintf(err, err_len, "%s: permission denied (only root may talk to sealined)",
				 path);
		else
			snprintf(err, err_len, "cannot connect to %s: %s", path,
				 strerror(errno));
		close(fd);
		return ret;
	}
	return fd;
}

int sl_ipc_write_request(int fd, const char *line)
{
	size_t len = strlen(line);
	char buf[SL_IPC_MAX_LINE + 2];
	size_t off = 0;

	if (len > SL_IPC_MAX_LINE)
		return -EMSGSIZE;
	memcpy(buf, line, len);
	buf[len++] = '\n';
	while (off < len) {
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

int sl_ipc_write_request_fd(int fd, const char *line, int pass)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	size_t len = strlen(line);
	char buf[SL_IPC_MAX_LINE + 2];
	struct iovec iov = { buf, len + 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	ssize_t n;

	if (len > SL_IPC_MAX_LINE)
		return -EMSGSIZE;
	memcpy(buf, line, len);
	buf[len] = '\n';
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &pass, sizeof(int));
	do {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	/* The descriptor went with the first byte; the rest plainly. */
	if ((size_t)n < len + 1) {
		const char *rest = buf + n;
		size_t left = len + 1 - (size_t)n;

		while (left) {
			ssize_t m = send(fd, rest, left, MSG_NOSIGNAL);

			if (m < 0 && errno == EINTR)
				continue;
			if (m < 0)
				return -errno;
			rest += m;
			left -= (size_t)m;
		}
	}
	return 0;
}

int sl_ipc_read_line(struct sl_ipc_reader *r, char **line, int timeout_ms)
{
	for (;;) {
		char *start = r->buf + r->start;
		char *nl = memchr(start, '\n', r->len - r->start);
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		ssize_t n;
		int ret;

		if (nl) {
			*nl = '\0';
			*line = start;
			r->start = (size_t)(nl + 1 - r->buf);
			return 0;
		}
		/* Keep the partial line at the start of the buffer. */
		memmove(r->buf, start, r->len - r->start);
		r->len -= r->start;
		r->start = 0;
		if (r->len == sizeof(r->buf))
			return -EMSGSIZE;
		ret = poll(&pfd, 1, timeout_ms);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (!ret)
			return -ETIMEDOUT;
		n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return -EPIPE;
		r->len += (size_t)n;
	}
}

const struct sl_ipc_verb *sl_ipc_request(struct sl_ipc_client *c,
					 const char *line, size_t len,
					 struct sl_ipc_req *req)
{
	const struct sl_ipc_verb *verb;
	char err[512];

	if (sl_ipc_parse_request(line, len, req, err, sizeof(err))) {
		sl_ipc_send_err(c, -EINVAL, "%s", err);
		return NULL;
	}
	verb = sl_ipc_lookup(req, err, sizeof(err));
	if (!verb)
		sl_ipc_sendf(c, "err %s", err);
	return verb;
}
