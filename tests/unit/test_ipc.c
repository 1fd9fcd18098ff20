// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of the control protocol (agent/lib/ipc.c): requests, verbs,
 * escaping, records, the socket.
 */
#include <errno.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check.h"
#include "ipc.h"
#include "daemon_test.h"

TEST(ipc_parse_request)
{
	struct sl_ipc_req req;
	char err[256], line[SL_IPC_MAX_LINE + 10];

	CHECK(!sl_ipc_parse_request("status", 6, &req, err, sizeof(err)));
	CHECK(req.argc == 1 && !strcmp(req.argv[0], "status"));
	CHECK(!sl_ipc_parse_request("  authorise \t 123456789012  \r", 29, &req,
				    err, sizeof(err)));
	CHECK(req.argc == 2 && !strcmp(req.argv[0], "authorise") &&
	      !strcmp(req.argv[1], "123456789012"));
	CHECK_EQ(sl_ipc_parse_request("", 0, &req, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ipc_parse_request("   ", 3, &req, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ipc_parse_request("st\x01tus", 7, &req, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ipc_parse_request("st\xc3\xa9", 4, &req, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ipc_parse_request("a\0b", 3, &req, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ipc_parse_request("a b c d e f g h i", 17, &req, err,
				      sizeof(err)), -E2BIG);
	CHECK(!sl_ipc_parse_request("a b c d e f g h", 15, &req, err, sizeof(err)));
	CHECK_EQ(req.argc, SL_IPC_MAX_ARGS);
	memset(line, 'a', sizeof(line));
	CHECK_EQ(sl_ipc_parse_request(line, SL_IPC_MAX_LINE + 1, &req, err,
				      sizeof(err)), -EMSGSIZE);
	CHECK(!sl_ipc_parse_request(line, SL_IPC_MAX_LINE, &req, err, sizeof(err)));
}

static const struct sl_ipc_verb *lookup(const char *text, char *err,
					size_t err_len)
{
	static struct sl_ipc_req req;

	if (sl_ipc_parse_request(text, strlen(text), &req, err, err_len))
		return NULL;
	return sl_ipc_lookup(&req, err, err_len);
}

TEST(ipc_verbs)
{
	static const char *const good[] = {
		"hello", "status", "peers", "authorise 123456789012",
		"authorize 123456789012", "revoke 123456789012",
		"forget 123456789012", "log", "log 10", "reload", "pair ttyS1",
		"confirm yes", "sas ABCDE",
	};
	static const struct {
		const char *text;
		const char *err;
	} bad[] = {
		{ "frobnicate", "ENOSYS unknown request 'frobnicate'" },
		{ "status now", "EINVAL usage: status" },
		{ "authorise", "EINVAL usage: authorise ACCOUNT" },
		{ "revoke a b", "EINVAL usage: revoke ACCOUNT" },
		{ "log 1 2", "EINVAL usage: log [COUNT]" },
		{ "pair", "EINVAL usage: pair LINE" },
		{ "STATUS", "ENOSYS" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); ++i)
		CHECKF(lookup(good[i], err, sizeof(err)) != NULL, "%s: %s", good[i], err);
	CHECK(!strcmp(lookup("authorize 1", err, sizeof(err))->name, "authorise"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
		CHECKF(lookup(bad[i].text, err, sizeof(err)) == NULL, "%s", bad[i].text);
		CHECKF(!strncmp(err, bad[i].err, strlen(bad[i].err)), "%s: %s",
		       bad[i].text, err);
	}
}

TEST(ipc_escape)
{
	char enc[256], small[4];
	const char *s = "a b=c%d\te\xc3\xa9\x7f~";

	CHECK(sl_ipc_escape(enc, sizeof(enc), s));
	CHECKF(!strcmp(enc, "a%20b%3Dc%25d%09e%C3%A9%7F~"), "%s", enc);
	CHECK(!sl_ipc_unescape(enc));
	CHECK(!strcmp(enc, s));
	CHECK(!sl_ipc_escape(small, sizeof(small), "a b"));
	CHECK(!small[0]);
	CHECK(sl_ipc_escape(enc, sizeof(enc), "") && !enc[0]);
	{
		char b1[] = "%zz", b2[] = "%4", b3[] = "%00", b4[] = "%";

		CHECK_EQ(sl_ipc_unescape(b1), -EINVAL);
		CHECK_EQ(sl_ipc_unescape(b2), -EINVAL);
		CHECK_EQ(sl_ipc_unescape(b3), -EINVAL);
		CHECK_EQ(sl_ipc_unescape(b4), -EINVAL);
	}
}

TEST(ipc_records)
{
	struct sl_ipc_builder b;
	struct sl_ipc_record rec;
	char line[SL_IPC_MAX_LINE + 1];

	sl_ipc_build(&b, "line");
	sl_ipc_add(&b, "tty", "ttyS1");
	sl_ipc_add(&b, "detail", "no handshake = yet 100%");
	sl_ipc_addf(&b, "index", "%d", 7);
	sl_ipc_add(&b, "empty", "");
	CHECK(!b.overflow);
	snprintf(line, sizeof(line), "%s", b.buf);
	if (CHECK(!sl_ipc_parse_record(line, &rec))) {
		CHECK(!strcmp(rec.type, "line"));
		CHECK_EQ(rec.n, 4);
		CHECK(!strcmp(sl_ipc_get(&rec, "tty"), "ttyS1"));
		CHECK(!strcmp(sl_ipc_get(&rec, "detail"), "no handshake = yet 100%"));
		CHECK(!strcmp(sl_ipc_get(&rec, "index"), "7"));
		CHECK(!strcmp(sl_ipc_get(&rec, "empty"), ""));
		CHECK(sl_ipc_get(&rec, "none") == NULL);
	}
	snprintf(line, sizeof(line), "err ENOENT no peer with account 1");
	if (CHECK(!sl_ipc_parse_record(line, &rec))) {
		CHECK(!strcmp(rec.errname, "ENOENT"));
		CHECK(!strcmp(rec.text, "no peer with account 1"));
	}
	snprintf(line, sizeof(line), "session {\"a\": 1}");
	CHECK(!sl_ipc_parse_record(line, &rec) && !strcmp(rec.text, "{\"a\": 1}"));
	snprintf(line, sizeof(line), "ok");
	CHECK(!sl_ipc_parse_record(line, &rec) && !strcmp(rec.type, "ok") && !rec.n);
	snprintf(line, sizeof(line), "Line a=b");
	CHECK_EQ(sl_ipc_parse_record(line, &rec), -EINVAL);
	snprintf(line, sizeof(line), "line novalue");
	CHECK_EQ(sl_ipc_parse_record(line, &rec), -EINVAL);
	snprintf(line, sizeof(line), "line =x");
	CHECK_EQ(sl_ipc_parse_record(line, &rec), -EINVAL);
	snprintf(line, sizeof(line), "line a=%%zz");
	CHECK_EQ(sl_ipc_parse_record(line, &rec), -EINVAL);
	snprintf(line, sizeof(line), "err");
	CHECK_EQ(sl_ipc_parse_record(line, &rec), -EINVAL);

	/* A record that does not fit a line is refused whole. */
	{
		char big[SL_IPC_MAX_LINE];

		memset(big, 'v', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		sl_ipc_build(&b, "line");
		sl_ipc_add(&b, "k", big);
		CHECK(b.overflow);
	}
}

struct got_lines {
	unsigned int n;
	char last[SL_IPC_MAX_LINE + 1];
};

static void got_line(struct sl_ipc_client *c, const char *line, size_t len,
		     void *arg)
{
	struct got_lines *g = arg;

	(void)c;
	g->n++;
	snprintf(g->last, sizeof(g->last), "%.*s", (int)len, line);
}

TEST(ipc_socket)
{
	struct sl_ipc_server srv, other;
	struct sl_ipc_reader r = { 0 };
	struct got_lines got = { 0 };
	struct sl_ipc_client *c = NULL;
	char path[PATH_MAX], err[512], *line;
	char big[SL_IPC_MAX_LINE + 100];
	int fd;

	path_in(path, sizeof(path), "ipc/sub/test.sock");
	if (!CHECKF(!sl_ipc_listen(&srv, path, err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(mode_of(path), 0600);

	/* A second daemon on the same path is refused. */
	CHECK_EQ(sl_ipc_listen(&other, path, err, sizeof(err)), -EADDRINUSE);
	CHECKF(strstr(err, "already listening") != NULL, "%s", err);

	fd = sl_ipc_connect(path, err, sizeof(err));
	if (!CHECKF(fd >= 0, "%s", err))
		goto out;
	r.fd = fd;
	sl_ipc_accept(&srv, 0);
	for (size_t i = 0; i < SL_IPC_MAX_CLIENTS; ++i)
		if (srv.clients[i])
			c = srv.clients[i];
	if (!CHECK(c))
		goto out_fd;
	CHECK_EQ(c->uid, geteuid());

	CHECK(!sl_ipc_write_request(fd, "status"));
	CHECK(!sl_ipc_write_request(fd, "peers"));
	usleep(10000);
	CHECK(!sl_ipc_client_read(c, got_line, &got, 0));
	CHECK_EQ(got.n, 2);
	CHECK(!strcmp(got.last, "peers"));

	/* An over-long line is refused with an error, and the next line is
	 * read normally. */
	memset(big, 'x', sizeof(big));
	CHECK(write(fd, big, sizeof(big)) == (ssize_t)sizeof(big));
	CHECK(write(fd, "\nhello\n", 7) == 7);
	usleep(10000);
	CHECK(!sl_ipc_client_read(c, got_line, &got, 0));
	CHECK_EQ(got.n, 3);
	CHECK(!strcmp(got.last, "hello"));

	sl_ipc_send(c, "ok version=1");
	CHECK(!sl_ipc_client_flush(c));
	CHECK(!sl_ipc_read_line(&r, &line, 1000));
	CHECKF(!strncmp(line, "err EMSGSIZE", 12), "%s", line);
	CHECK(!sl_ipc_read_line(&r, &line, 1000));
	CHECK(!strcmp(line, "ok version=1"));
	CHECK_EQ(sl_ipc_read_line(&r, &line, 10), -ETIMEDOUT);

	/* The client goes: the server sees it. */
out_fd:
	close(fd);
	if (c) {
		usleep(10000);
		CHECK_EQ(sl_ipc_client_read(c, got_line, &got, 0), -EPIPE);
		sl_ipc_drop(&srv, c);
	}
out:
	sl_ipc_close(&srv);
	CHECK(!exists(path));

	/* A stale socket (its daemon died) is replaced; something that is
	 * not a socket is not. */
	{
		struct sockaddr_un addr = { .sun_family = AF_UNIX };
		int s = socket(AF_UNIX, SOCK_STREAM, 0);

		if (strlen(path) >= sizeof(addr.sun_path))
			abort();
		memcpy(addr.sun_path, path, strlen(path) + 1);
		CHECK(!bind(s, (struct sockaddr *)&addr, sizeof(addr)));
		close(s);
		CHECK(exists(path));
		if (CHECKF(!sl_ipc_listen(&srv, path, err, sizeof(err)), "%s", err))
			sl_ipc_close(&srv);
		write_file(path, "x", 0600);
		CHECK_EQ(sl_ipc_listen(&srv, path, err, sizeof(err)), -EEXIST);
		unlink(path);
	}
	CHECK_EQ(sl_ipc_connect(path, err, sizeof(err)), -ENOENT);
	CHECKF(strstr(err, "not running") != NULL, "%s", err);
	CHECK_EQ(sl_ipc_listen(&srv, "relative.sock", err, sizeof(err)), -EINVAL);
}

int main(int argc, char **argv)
{
	daemon_test_start(argc, argv, "test_ipc");
	RUN(ipc_parse_request);
	RUN(ipc_verbs);
	RUN(ipc_escape);
	RUN(ipc_records);
	RUN(ipc_socket);
	return daemon_test_finish();
}
