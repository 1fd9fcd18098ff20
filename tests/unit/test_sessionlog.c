// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of the session log (agent/lib/sessionlog.c): the record
 * format, its parser, appending and reading.
 */
#include <errno.h>

#include "check.h"
#include "sessionlog.h"
#include "daemon_test.h"

static void sample_rec(struct sl_session_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->start = 1795714913;
	r->end = 1795716113;
	snprintf(r->line, sizeof(r->line), "ttyS1");
	snprintf(r->kind, sizeof(r->kind), "session");
	snprintf(r->role, sizeof(r->role), "initiator");
	snprintf(r->peer, sizeof(r->peer), "210987654321");
	r->bytes_tx = 1048576;
	r->bytes_rx = 18446744073709551615ULL;
	r->rekeys = 3;
	snprintf(r->outcome, sizeof(r->outcome), "ok");
	snprintf(r->detail, sizeof(r->detail), "line \"down\"\n\\ \x01 \xc3\xa9 \xc2\x9b \xff");
}

TEST(slog_format_parse)
{
	struct sl_session_rec r, back;
	char buf[SL_SLOG_MAX_RECORD + 1];
	int n;

	sample_rec(&r);
	n = sl_slog_format(buf, sizeof(buf), &r);
	if (!CHECK(n > 0))
		return;
	CHECK_EQ(buf[n - 1], '\n');
	CHECK(!memchr(buf, '\n', (size_t)n - 1));
	CHECKF(strstr(buf, "\"start\": \"2026-11-26T17:41:53Z\"") != NULL, "%s", buf);
	CHECK(strstr(buf, "\"reason\": null") != NULL);
	CHECK(strstr(buf, "\"bytes_rx\": 18446744073709551615") != NULL);
	/* UTF-8 kept, C0 and C1 controls escaped, an invalid byte U+FFFD
	 * (the writer every JSON output shares, json.h). */
	CHECKF(strstr(buf, "\\\"down\\\"\\n\\\\ \\u0001 \xc3\xa9 \\u009b \\ufffd") != NULL, "%s", buf);

	if (!CHECK(!sl_slog_parse(buf, (size_t)n - 1, &back)))
		return;
	CHECK_EQ(back.start, r.start);
	CHECK_EQ(back.end, r.end);
	CHECK(!strcmp(back.line, "ttyS1"));
	CHECK(!strcmp(back.kind, "session"));
	CHECK(!strcmp(back.role, "initiator"));
	CHECK(!strcmp(back.peer, "210987654321"));
	CHECK_EQ(back.bytes_tx, r.bytes_tx);
	CHECK_EQ(back.bytes_rx, r.bytes_rx);
	CHECK_EQ(back.rekeys, 3);
	CHECK(!strcmp(back.outcome, "ok"));
	CHECK(!back.reason[0]);
	/* Control characters come back as '?' (a reader that prints the
	 * detail must not be fed terminal controls), UTF-8 as it was. */
	CHECKF(!strcmp(back.detail, "line \"down\"?\\ ? \xc3\xa9 ? ?"), "%s", back.detail);

	/* An unknown peer is null, and null reads back as empty. */
	r.peer[0] = '\0';
	n = sl_slog_format(buf, sizeof(buf), &r);
	CHECK(strstr(buf, "\"peer\": null") != NULL);
	CHECK(!sl_slog_parse(buf, (size_t)n - 1, &back) && !back.peer[0]);

	/* Too long for a record. */
	memset(r.detail, 'x', sizeof(r.detail) - 1);
	r.detail[sizeof(r.detail) - 1] = '\0';
	CHECK_EQ(sl_slog_format(buf, 200, &r), -EOVERFLOW);
}

TEST(slog_parse_rejects)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\"}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\"} x",
		"{\"start\": \"yesterday\", \"line\": \"ttyS1\", \"outcome\": \"ok\"}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\", \"bytes_tx\": -1}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\", \"bytes_tx\": 99999999999999999999}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\", \"x\": {}}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"tty\\qS1\", \"outcome\": \"ok\"}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\"",
		"{\"start\": \"2026-11-26T17:41:53Z\" \"line\": \"ttyS1\", \"outcome\": \"ok\"}",
		"{\"start\": \"2026-11-26T17:41:53Z\", \"line\": null, \"outcome\": \"ok\"}",
	};
	struct sl_session_rec r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i)
		CHECKF(sl_slog_parse(bad[i], strlen(bad[i]), &r) != 0,
		       "accepted: %s", bad[i]);
	/* Unknown keys of a later version are fine, as are true/false. */
	{
		const char *ok = "{\"start\": \"2026-11-26T17:41:53Z\", \"new\": [1], \"line\": \"ttyS1\", \"outcome\": \"ok\"}";
		const char *ok2 = "{\"future\": true, \"start\": \"2026-11-26T17:41:53Z\", \"line\": \"ttyS1\", \"outcome\": \"ok\", \"x\": false}";

		/* A nested array is not something this log writes. */
		CHECK(sl_slog_parse(ok, strlen(ok), &r) != 0);
		CHECK(!sl_slog_parse(ok2, strlen(ok2), &r));
	}
}

static int count_rec(const struct sl_session_rec *rec, void *arg)
{
	unsigned int *n = arg;

	(void)rec;
	++*n;
	return 0;
}

TEST(slog_append_read)
{
	struct sl_slog log;
	struct sl_session_rec r;
	char path[PATH_MAX], err[512], text[8192];
	unsigned int n = 0, bad = 0;
	FILE *f;

	path_in(path, sizeof(path), "sessions.log");
	unlink(path);
	if (!CHECKF(!sl_slog_open(&log, path, err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(mode_of(path), 0600);
	sample_rec(&r);
	CHECK(!sl_slog_append(&log, &r));
	snprintf(r.outcome, sizeof(r.outcome), "nak-received");
	snprintf(r.reason, sizeof(r.reason), "unknown_peer");
	CHECK(!sl_slog_append(&log, &r));
	sl_slog_close(&log);

	/* Appending after a reopen keeps what was there; a torn last line
	 * (a crash mid-write) is skipped by readers. */
	if (!CHECKF(!sl_slog_open(&log, path, err, sizeof(err)), "%s", err))
		return;
	CHECK(!sl_slog_reopen(&log, err, sizeof(err)));
	CHECK(!sl_slog_append(&log, &r));
	sl_slog_close(&log);
	{
		int fd = open(path, O_WRONLY | O_APPEND);

		CHECK(write(fd, "{\"start\": \"2026", 15) == 15);
		close(fd);
	}
	CHECK(read_text(path, text, sizeof(text)));
	CHECK(strstr(text, "\"reason\": \"unknown_peer\"") != NULL);

	f = fopen(path, "r");
	CHECK(f != NULL);
	if (!f)
		return;
	CHECK(!sl_slog_read(f, count_rec, &n, &bad));
	fclose(f);
	CHECK_EQ(n, 3);
	CHECK_EQ(bad, 1);

	/* Appending to a closed log fails cleanly. */
	CHECK_EQ(sl_slog_append(&log, &r), -EBADF);
	CHECK(sl_slog_open(&log, "/nonexistent/dir/x.log", err, sizeof(err)) < 0);
}

TEST(slog_time)
{
	char s[32];
	int64_t t;

	sl_slog_time(s, 0);
	CHECK(!strcmp(s, "1970-01-01T00:00:00Z"));
	CHECK(!sl_slog_parse_time("2026-11-26T17:41:53Z", &t));
	CHECK_EQ(t, 1795714913);
	CHECK(sl_slog_parse_time("2026-11-26 17:41:53", &t) < 0);
	CHECK(sl_slog_parse_time("2026-11-26T17:41:53Zjunk", &t) < 0);
}

int main(int argc, char **argv)
{
	daemon_test_start(argc, argv, "test_sessionlog");
	RUN(slog_format_parse);
	RUN(slog_parse_rejects);
	RUN(slog_append_read);
	RUN(slog_time);
	return daemon_test_finish();
}
