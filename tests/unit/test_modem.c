// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of the Hayes modem driver (agent/lib/modem.c). A fake modem
 * inside the test sits on the other end of a socketpair (or of a pty
 * pair, for the tty paths): it checks each command the driver wrote and
 * answers as a modem would. Time is driven through the "now" argument,
 * never by sleeping: timeouts and guard times are exact.
 *
 * Why one file of about 1,200 lines: it tests one module (modem.c)
 * against one fake modem, one TEST() per behaviour of the AT dialogue.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>
#include <sys/socket.h>

#include "check.h"
#include "modem.h"

#define T0		1000000		/* any monotonic start */
#define MAX_RECORDED	256
#define NUMBER		"5550100"

struct rig {
	int dfd;			/* the driver's side */
	int mfd;			/* the fake modem's side */
	bool pty;
	struct sl_modem m;
	struct sl_modem_events ev;
	int64_t now;
	size_t split;			/* feed at most this many bytes per
					 * sl_modem_input() call, 0: all */
	size_t pending;			/* said but not yet read */

	enum sl_modem_event_type types[MAX_RECORDED];
	struct sl_modem_event events[MAX_RECORDED];
	unsigned int n;
	char lines[8192];		/* event log lines */
	char logs[8192];		/* the driver's own log lines */
	uint8_t data[256];		/* bytes after CONNECT */
	size_t data_len;
};

static void log_cb(void *ctx, int level, const char *msg)
{
	struct rig *r = ctx;
	size_t used = strlen(r->logs);

	(void)level;
	snprintf(r->logs + used, sizeof(r->logs) - used, "%s\n", msg);
}

static void record(struct rig *r)
{
	char buf[256];

	for (unsigned int i = 0; i < r->ev.n; i++) {
		size_t used = strlen(r->lines);

		if (r->n < MAX_RECORDED) {
			r->types[r->n] = r->ev.ev[i].type;
			r->events[r->n] = r->ev.ev[i];
			r->n++;
		}
		sl_modem_event_str(&r->m, &r->ev.ev[i], buf, sizeof(buf));
		snprintf(r->lines + used, sizeof(r->lines) - used, "%s\n", buf);
	}
}

static void forget(struct rig *r)
{
	r->n = 0;
	r->lines[0] = '\0';
	r->logs[0] = '\0';
	r->data_len = 0;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static bool rig_open(struct rig *r)
{
	int sv[2];

	memset(r, 0, sizeof(*r));
	if (!CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv)))
		return false;
	r->dfd = sv[0];
	r->mfd = sv[1];
	set_nonblock(r->dfd);
	set_nonblock(r->mfd);
	r->now = T0;
	sl_modem_setup(&r->m, "ttyS1", r->dfd, log_cb, r);
	return true;
}

/* The driver on the slave of a pty pair, opened by sl_modem_open_tty(). */
static bool rig_open_pty(struct rig *r)
{
	char err[256];
	int ret;

	memset(r, 0, sizeof(*r));
	r->mfd = posix_openpt(O_RDWR | O_NOCTTY);
	if (!CHECK(r->mfd >= 0) || !CHECK(!grantpt(r->mfd)) ||
	    !CHECK(!unlockpt(r->mfd)))
		return false;
	set_nonblock(r->mfd);
	ret = sl_modem_open_tty(ptsname(r->mfd), 9600, false, &r->dfd, err,
				sizeof(err));
	if (!CHECKF(ret == 0, "open_tty: %s", err))
		return false;
	r->pty = true;
	r->now = T0;
	sl_modem_setup(&r->m, "ttyS1", r->dfd, log_cb, r);
	return true;
}

static void rig_close(struct rig *r)
{
	sl_modem_release(&r->m);
	close(r->dfd);
	close(r->mfd);
}

/* Everything the driver wrote so far, as the modem reads it. */
static size_t modem_read(struct rig *r, char *buf, size_t size)
{
	size_t got = 0;

	for (;;) {
		struct pollfd p = { .fd = r->mfd, .events = POLLIN };
		ssize_t n;

		/* A pty moves bytes in the kernel's own time: wait a
		 * little for them. A socketpair has them at once. */
		if (poll(&p, 1, r->pty ? 100 : 0) <= 0)
			break;
		n = read(r->mfd, buf + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	return got;
}

/* The modem gets exactly cmd, no more. */
static bool expect(struct rig *r, const char *cmd)
{
	char buf[512];

	modem_read(r, buf, sizeof(buf));
	return CHECKF(!strcmp(buf, cmd), "modem read \"%s\", expected \"%s\"",
		      buf, cmd);
}

static void feed(struct rig *r, const uint8_t *buf, size_t n)
{
	size_t off = 0;

	while (off < n) {
		size_t chunk = r->split && r->split < n - off ? r->split
							      : n - off;
		size_t used;

		if (!sl_modem_wants_read(&r->m))
			break;
		used = sl_modem_input(&r->m, buf + off, chunk, r->now, &r->ev);
		record(r);
		off += used;
		if (!used && r->ev.n == 0)
			break;
	}
	if (off < n && r->data_len + (n - off) <= sizeof(r->data)) {
		memcpy(r->data + r->data_len, buf + off, n - off);
		r->data_len += n - off;
	}
}

/* The driver's event loop: read what the modem said and feed it. */
static void pump(struct rig *r)
{
	uint8_t buf[64];

	while (r->pending) {
		struct pollfd p = { .fd = r->dfd, .events = POLLIN };
		ssize_t n;

		if (!CHECK(poll(&p, 1, 2000) == 1))
			return;
		n = read(r->dfd, buf, sizeof(buf) < r->pending ? sizeof(buf)
							       : r->pending);
		if (!CHECK(n > 0))
			return;
		r->pending -= (size_t)n;
		feed(r, buf, (size_t)n);
	}
}

static void say(struct rig *r, const char *s)
{
	size_t len = strlen(s);

	CHECK(write(r->mfd, s, len) == (ssize_t)len);
	r->pending += len;
	pump(r);
}

/* The clock moves on; the timer runs if it is due. */
static void advance(struct rig *r, int64_t ms)
{
	int64_t t;

	r->now += ms;
	t = sl_modem_next_timer(&r->m);
	if (t && r->now >= t) {
		sl_modem_timer(&r->m, r->now, &r->ev);
		record(r);
	}
}

/* The next timer is exactly ms from now. */
static bool timer_in(struct rig *r, int64_t ms)
{
	int64_t t = sl_modem_next_timer(&r->m);

	return CHECKF(t == r->now + ms, "timer in %lld ms, expected %lld",
		      (long long)(t - r->now), (long long)ms);
}

static bool got(struct rig *r, unsigned int i, enum sl_modem_event_type t)
{
	return CHECKF(r->n > i && r->types[i] == t,
		      "event %u: got %d of %u events, expected type %d\n%s", i,
		      r->n > i ? (int)r->types[i] : -1, r->n, (int)t, r->lines);
}

static bool has_line(struct rig *r, const char *text)
{
	return CHECKF(strstr(r->lines, text) != NULL,
		      "no event line \"%s\" in:\n%s", text, r->lines);
}

/* The init sequence with a well-behaved modem (V1, no echo). */
static bool bring_up(struct rig *r)
{
	if (!CHECK(sl_modem_init(&r->m, NULL, r->now, &r->ev) == 0))
		return false;
	if (!expect(r, "ATZ\r"))
		return false;
	say(r, "\r\nOK\r\n");
	advance(r, SL_MODEM_RESET_SETTLE_MS);
	if (!expect(r, SL_MODEM_DEFAULT_INIT "\r"))
		return false;
	say(r, "\r\nOK\r\n");
	if (!expect(r, "AT+VCID=1\r"))
		return false;
	say(r, "\r\nOK\r\n");
	if (!got(r, 0, SL_MODEM_EV_READY) ||
	    !CHECK_EQ(sl_modem_state(&r->m), SL_MODEM_READY))
		return false;
	forget(r);
	return true;
}

/* A call out that connects with the result line said, its events
 * forgotten: the modem in data mode. */
static void enter_data_mode(struct rig *r, const char *said)
{
	CHECK(sl_modem_dial(&r->m, NUMBER, r->now, &r->ev) == 0);
	CHECK(expect(r, "ATDT5550100\r"));
	say(r, said);
	CHECK_EQ(sl_modem_state(&r->m), SL_MODEM_DATA);
	forget(r);
}

/* A port whose kernel buffer is full: the modem's writes get EAGAIN. */
static void fill_port(struct rig *r)
{
	char junk[4096];
	int small = 4096;

	setsockopt(r->dfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	memset(junk, 'j', sizeof(junk));
	while (write(r->dfd, junk, sizeof(junk)) > 0)
		;
}

TEST(init_sequence)
{
	struct rig r;

	if (!rig_open(&r))
		return;
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_OFF);
	CHECK(!sl_modem_wants_read(&r.m));
	CHECK(sl_modem_init(&r.m, NULL, r.now, &r.ev) == 0);
	CHECK(sl_modem_wants_read(&r.m));
	CHECK(expect(&r, "ATZ\r"));
	timer_in(&r, SL_MODEM_RESET_TIMEOUT_MS);
	say(&r, "\r\nOK\r\n");
	/* Nothing goes out right after ATZ's OK: the modem settles. */
	CHECK(expect(&r, ""));
	advance(&r, SL_MODEM_RESET_SETTLE_MS - 1);
	CHECK(expect(&r, ""));
	advance(&r, 1);
	CHECK(expect(&r, "ATE0V1Q0&D2S0=0\r"));
	timer_in(&r, SL_MODEM_CMD_TIMEOUT_MS);
	say(&r, "\r\nOK\r\n");
	CHECK(expect(&r, "AT+VCID=1\r"));
	CHECK_EQ(r.n, 0);
	say(&r, "\r\nOK\r\n");
	CHECK_EQ(r.n, 1);
	got(&r, 0, SL_MODEM_EV_READY);
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_READY);
	CHECK_EQ(sl_modem_next_timer(&r.m), 0);
	CHECK(!strstr(r.logs, "no caller ID"));
	has_line(&r, "modem ttyS1: ready");
	rig_close(&r);
}

TEST(init_vcid_error_tolerated)
{
	struct rig r;

	if (!rig_open(&r))
		return;
	CHECK(sl_modem_init(&r.m, "ATE0V1Q0&D2S0=0&K3", r.now, &r.ev) == 0);
	CHECK(expect(&r, "ATZ\r"));
	say(&r, "\r\nOK\r\n");
	advance(&r, SL_MODEM_RESET_SETTLE_MS);
	CHECK(expect(&r, "ATE0V1Q0&D2S0=0&K3\r"));
	say(&r, "\r\nOK\r\n");
	CHECK(expect(&r, "AT+VCID=1\r"));
	say(&r, "\r\nERROR\r\n");
	CHECK_EQ(r.n, 1);
	got(&r, 0, SL_MODEM_EV_READY);
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_READY);
	CHECKF(strstr(r.logs, "modem ttyS1: no caller ID: the modem answers AT+VCID=1 with ERROR"),
	       "logs: %s", r.logs);
	rig_close(&r);
}

TEST(init_errors)
{
	struct rig r;

	if (!rig_open(&r))
		return;
	/* Bad init strings never reach the modem. */
	CHECK_EQ(sl_modem_init(&r.m, "ATZ\rATH", r.now, &r.ev), -EINVAL);
	CHECK_EQ(sl_modem_init(&r.m, "E0V1", r.now, &r.ev), -EINVAL);
	CHECK(strstr(r.logs, "does not start with AT"));
	CHECK_EQ(sl_modem_init(&r.m, "AT0123456789012345678901234567890123456789012345678901234567890",
			       r.now, &r.ev), -EINVAL);
	CHECK(expect(&r, ""));
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_OFF);

	/* The init string refused: ERROR naming it, and OFF. */
	CHECK(sl_modem_init(&r.m, "ATX9", r.now, &r.ev) == 0);
	CHECK(expect(&r, "ATZ\r"));
	say(&r, "\r\nOK\r\n");
	advance(&r, SL_MODEM_RESET_SETTLE_MS);
	CHECK(expect(&r, "ATX9\r"));
	say(&r, "\r\nERROR\r\n");
	got(&r, 0, SL_MODEM_EV_ERROR);
	CHECK(!strcmp(r.events[0].text, "ATX9"));
	has_line(&r, "modem ttyS1: ERROR: the modem refused ATX9");
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_OFF);
	CHECK(!sl_modem_wants_read(&r.m));
	forget(&r);

	/* No answer to ATZ: a timeout, exactly when it is due. */
	CHECK(sl_modem_init(&r.m, NULL, r.now, &r.ev) == 0);
	CHECK(expect(&r, "ATZ\r"));
	advance(&r, SL_MODEM_RESET_TIMEOUT_MS - 1);
	CHECK_EQ(r.n, 0);
	advance(&r, 1);
	got(&r, 0, SL_MODEM_EV_TIMEOUT);
	has_line(&r, "modem ttyS1: timeout: no answer in step reset (ATZ)");
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_OFF);
	CHECK_EQ(sl_modem_next_timer(&r.m), 0);
	rig_close(&r);
}

TEST(echo_on_then_off)
{
	struct rig r;

	if (!rig_open(&r))
		return;
	CHECK(sl_modem_init(&r.m, NULL, r.now, &r.ev) == 0);
	CHECK(expect(&r, "ATZ\r"));
	/* E1 from the stored profile: every command comes back first. */
	say(&r, "ATZ\r\r\nOK\r\n");
	advance(&r, SL_MODEM_RESET_SETTLE_MS);
	CHECK(expect(&r, SL_MODEM_DEFAULT_INIT "\r"));
	say(&r, SL_MODEM_DEFAULT_INIT "\r\r\nOK\r\n");
	/* E0 from now on. */
	CHECK(expect(&r, "AT+VCID=1\r"));
	say(&r, "\r\nOK\r\n");
	CHECK_EQ(r.n, 1);
	got(&r, 0, SL_MODEM_EV_READY);
	forget(&r);
	CHECK(sl_modem_dial(&r.m, NUMBER, r.now, &r.ev) == 0);
	CHECK(expect(&r, "ATDT" NUMBER "\r"));
	/* Even an echo of the dial command is not its outcome. */
	say(&r, "ATDT" NUMBER "\r");
	CHECK_EQ(r.n, 0);
	say(&r, "\r\nBUSY\r\n");
	got(&r, 0, SL_MODEM_EV_BUSY);
	rig_close(&r);
}

TEST(dial_connect)
{
	static const struct {
		const char *said;
		unsigned long speed;
	} cases[] = {
		{ "\r\nCONNECT 33600\r\n", 33600 },
		{ "\r\nCONNECT 9600/ARQ/V42BIS\r\n", 9600 },
		{ "\r\nCONNECT\r\n", 0 },
		{ "\r\nCARRIER 28800\r\n\r\nPROTOCOL: LAP-M\r\n\r\nCONNECT 115200\r\n",
		  115200 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rig r;
		char buf[128];

		if (!rig_open(&r) || !bring_up(&r))
			return;
		CHECK(sl_modem_dial(&r.m, NUMBER, r.now, &r.ev) == 0);
		CHECK(strstr(r.logs, "modem ttyS1: dialling 5550100\n"));
		CHECK(expect(&r, "ATDT5550100\r"));
		CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_DIALLING);
		timer_in(&r, SL_MODEM_DIAL_TIMEOUT_S * 1000 +
			 SL_MODEM_DIAL_MARGIN_MS);
		say(&r, cases[i].said);
		CHECKF(r.n == 1, "case %zu: %u events", i, r.n);
		got(&r, 0, SL_MODEM_EV_CONNECT);
		CHECK_EQ(r.events[0].speed, cases[i].speed);
		CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_DATA);
		CHECK(!sl_modem_wants_read(&r.m));
		CHECK_EQ(sl_modem_next_timer(&r.m), 0);
		sl_modem_event_str(&r.m, &r.events[0], buf, sizeof(buf));
		if (cases[i].speed == 33600)
			CHECK(!strcmp(buf, "modem ttyS1: CONNECT 33600 to 5550100"));
		if (!cases[i].speed)
			CHECK(!strcmp(buf, "modem ttyS1: CONNECT (no speed given) to 5550100"));
		rig_close(&r);
	}
}

TEST(dial_outcomes)
{
	static const struct {
		const char *said;
		enum sl_modem_event_type type;
		const char *line;
	} cases[] = {
		{ "\r\nBUSY\r\n", SL_MODEM_EV_BUSY,
		  "modem ttyS1: BUSY from 5550100\n" },
		{ "\r\nNO ANSWER\r\n", SL_MODEM_EV_NO_ANSWER,
		  "modem ttyS1: NO ANSWER from 5550100\n" },
		{ "\r\nNO CARRIER\r\n", SL_MODEM_EV_NO_CARRIER,
		  "modem ttyS1: NO CARRIER from 5550100\n" },
		{ "\r\nNO DIALTONE\r\n", SL_MODEM_EV_NO_DIALTONE,
		  "modem ttyS1: NO DIALTONE dialling 5550100 (is the phone line connected?)\n" },
		{ "\r\nNO DIAL TONE\r\n", SL_MODEM_EV_NO_DIALTONE, NULL },
		{ "\r\nERROR\r\n", SL_MODEM_EV_ERROR,
		  "modem ttyS1: ERROR: the modem refused ATDT5550100\n" },
		{ "\r\nBLACKLISTED\r\n", SL_MODEM_EV_ERROR, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rig r;

		if (!rig_open(&r) || !bring_up(&r))
			return;
		CHECK(sl_modem_dial(&r.m, NUMBER, r.now, &r.ev) == 0);
		CHECK(expect(&r, "ATDT5550100\r"));
		advance(&r, 20000);	/* dialling, ringing */
		say(&r, cases[i].said);
		CHECKF(r.n == 1, "case %zu: %u events", i, r.n);
		got(&r, 0, cases[i].type);
		if (cases[i].line)
			CHECKF(!strcmp(r.lines, cases[i].line), "case %zu: %s",
			       i, r.lines);
		CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_READY);
		CHECK_EQ(sl_modem_next_timer(&r.m), 0);
		/* Ready for the next call. */
		CHECK(sl_modem_dial(&r.m, "5550199", r.now, &r.ev) == 0);
		CHECK(expect(&r, "ATDT5550199\r"));
		rig_close(&r);
	}
}

TEST(dial_refused_inputs)
{
	struct rig r;

	if (!rig_open(&r))
		return;
	CHECK_EQ(sl_modem_dial(&r.m, NUMBER, r.now, &r.ev), -EBUSY);
	if (!bring_up(&r))
		return;
	CHECK_EQ(sl_modem_dial(&r.m, "555;ATH", r.now, &r.ev), -EINVAL);
	CHECK(strstr(r.logs, "contains ';'"));
	CHECK_EQ(sl_modem_dial(&r.m, "555\r0100", r.now, &r.ev), -EINVAL);
	CHECK_EQ(sl_modem_dial(&r.m, "", r.now, &r.ev), -EINVAL);
	CHECK_EQ(sl_modem_dial(&r.m, "---", r.now, &r.ev), -EINVAL);
	CHECK_EQ(sl_modem_dial(&r.m, "12345678901234567890123456789012345678901",
			       r.now, &r.ev), -EINVAL);
	CHECK(expect(&r, ""));
	CHECK(sl_modem_check_number("9,1 (555) 010-0#") == NULL);
	CHECK(sl_modem_check_number("*70W5550100") == NULL);
	CHECK(sl_modem_check_command("AT&F") == NULL);
	CHECK(sl_modem_check_command("at&f") == NULL);
	CHECK(sl_modem_check_command("ATDT\x01") != NULL);
	CHECK_EQ(sl_modem_answer(&r.m, r.now, &r.ev), 0);
	CHECK_EQ(sl_modem_dial(&r.m, NUMBER, r.now, &r.ev), -EBUSY);
	CHECK_EQ(sl_modem_set_dial_timeout(&r.m, 0), -EINVAL);
	CHECK_EQ(sl_modem_set_dial_timeout(&r.m, 256), -EINVAL);
	rig_close(&r);
}

/* No reply to ATDT: the timeout, then a hangup that gets the modem back. */
TEST(dial_timeout)
{
	struct rig r;
	int64_t t;

	if (!rig_open(&r) || !bring_up(&r))
		return;
	CHECK(sl_modem_set_dial_timeout(&r.m, 45) == 0);
	CHECK(sl_modem_dial(&r.m, NUMBER, r.now, &r.ev) == 0);
	CHECK(expect(&r, "ATDT5550100\r"));
	advance(&r, 45000 + SL_MODEM_DIAL_MARGIN_MS - 1);
	CHECK_EQ(r.n, 0);
	advance(&r, 1);
	got(&r, 0, SL_MODEM_EV_TIMEOUT);
	has_line(&r, "modem ttyS1: timeout: no answer in step dialling (ATDT) dialling 5550100");
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_HANGING_UP);
	/* A socketpair has no DTR: the guard time, then the escape. */
	t = sl_modem_next_timer(&r.m);
	CHECK_EQ(t, r.now + SL_MODEM_GUARD_MS);
	advance(&r, SL_MODEM_GUARD_MS);
	CHECK(expect(&r, "+++"));
	/* The modem (still dialling) takes "+" as an abort. */
	say(&r, "\r\nNO CARRIER\r\n");
	CHECK(expect(&r, "ATH\r"));
	say(&r, "\r\nOK\r\n");
	got(&r, 1, SL_MODEM_EV_HUNG_UP);
	CHECK_EQ(r.n, 2);
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_READY);
	rig_close(&r);
}

static const char cid_long[] =
	"\r\nDATE = 0321\r\nTIME = 1405\r\nNMBR = 5550100\r\nNAME = JOHN DOE\r\nMESG = 030132\r\n";

TEST(ring_caller_id_answer)
{
	struct rig r;
	struct sl_modem_cid *c;

	if (!rig_open(&r) || !bring_up(&r))
		return;
	say(&r, "\r\nRING\r\n");
	got(&r, 0, SL_MODEM_EV_RING);
	CHECK_EQ(r.events[0].rings, 1);
	has_line(&r, "modem ttyS1: RING (1)");
	say(&r, cid_long);
	CHECK_EQ(r.n, 1);	/* the block is not over yet */
	timer_in(&r, SL_MODEM_CID_SETTLE_MS);
	advance(&r, 4000);
	say(&r, "\r\nRING\r\n");
	got(&r, 1, SL_MODEM_EV_CALLER_ID);
	got(&r, 2, SL_MODEM_EV_RING);
	CHECK_EQ(r.events[2].rings, 2);
	c = &r.events[1].cid;
	CHECK(!strcmp(c->number, "5550100"));
	CHECK(!strcmp(c->name, "JOHN DOE"));
	CHECK(!strcmp(c->date, "0321"));
	CHECK(!strcmp(c->time, "1405"));
	has_line(&r, "modem ttyS1: caller ID 5550100, name JOHN DOE, date 0321, time 1405\n");
	CHECK(sl_modem_answer(&r.m, r.now, &r.ev) == 0);
	CHECK(strstr(r.logs, "modem ttyS1: answering"));
	CHECK(expect(&r, "ATA\r"));
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_ANSWERING);
	timer_in(&r, SL_MODEM_ANSWER_TIMEOUT_MS);
	say(&r, "\r\nCONNECT 14400\r\n");
	got(&r, 3, SL_MODEM_EV_CONNECT);
	CHECK_EQ(r.events[3].speed, 14400);
	has_line(&r, "modem ttyS1: CONNECT 14400\n");
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_DATA);
	rig_close(&r);
}

/* "NMBR=555" (no spaces), reported when the block has settled; and a
 * caller ID not yet reported goes out before answering. */
TEST(caller_id_compact_and_settle)
{
	struct rig r;

	if (!rig_open(&r) || !bring_up(&r))
		return;
	say(&r, "\r\nRING\r\n\r\nNMBR=555\r\n");
	CHECK_EQ(r.n, 1);
	advance(&r, SL_MODEM_CID_SETTLE_MS - 1);
	CHECK_EQ(r.n, 1);
	advance(&r, 1);
	got(&r, 1, SL_MODEM_EV_CALLER_ID);
	CHECK(!strcmp(r.events[1].cid.number, "555"));
	CHECK(!r.events[1].cid.name[0]);
	CHECK_EQ(sl_modem_next_timer(&r.m), 0);
	forget(&r);

	/* A new call: the ring count starts again after the gap. */
	advance(&r, SL_MODEM_RING_GAP_MS + 1);
	say(&r, "\r\nRING\r\nNMBR = P\r\n");
	got(&r, 0, SL_MODEM_EV_RING);
	CHECK_EQ(r.events[0].rings, 1);
	CHECK(sl_modem_answer(&r.m, r.now, &r.ev) == 0);
	record(&r);
	got(&r, 1, SL_MODEM_EV_CALLER_ID);
	CHECK(!strcmp(r.events[1].cid.number, "P"));
	CHECK(expect(&r, "ATA\r"));
	say(&r, "\r\nNO CARRIER\r\n");
	got(&r, 2, SL_MODEM_EV_NO_CARRIER);
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_READY);
	rig_close(&r);
}

TEST(auto_answer)
{
	struct rig r;

	if (!rig_open(&r))
		return;
	sl_modem_set_auto_answer(&r.m, 2);
	CHECK(sl_modem_init(&r.m, NULL, r.now, &r.ev) == 0);
	CHECK(expect(&r, "ATZ\r"));
	say(&r, "\r\nOK\r\n");
	advance(&r, SL_MODEM_RESET_SETTLE_MS);
	CHECK(expect(&r, SL_MODEM_DEFAULT_INIT "\r"));
	say(&r, "\r\nOK\r\n");
	CHECK(expect(&r, "ATS0=2\r"));
	say(&r, "\r\nOK\r\n");
	CHECK(expect(&r, "AT+VCID=1\r"));
	say(&r, "\r\nOK\r\n");
	got(&r, 0, SL_MODEM_EV_READY);
	say(&r, "\r\nRING\r\n");
	advance(&r, 3000);
	say(&r, "\r\nRING\r\n");
	/* The modem answers by itself: CONNECT comes unasked. */
	say(&r, "\r\nCONNECT 2400\r\n");
	got(&r, 3, SL_MODEM_EV_CONNECT);
	CHECK_EQ(r.events[2].rings, 2);
	CHECK_EQ(r.events[3].speed, 2400);
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_DATA);
	CHECK(expect(&r, ""));
	rig_close(&r);
}

/* Hangup from data mode: guard, "+++" alone, guard, ATH; the guard times
 * are kept to the millisecond. */
TEST(hangup_escape_guard_times)
{
	struct rig r;

	if (!rig_open(&r) || !bring_up(&r))
		return;
	enter_data_mode(&r, "\r\nCONNECT 9600\r\n");

	CHECK(sl_modem_hangup(&r.m, r.now, &r.ev) == 0);
	CHECK(sl_modem_wants_read(&r.m));
	CHECK(strstr(r.logs, "modem ttyS1: hanging up"));
	CHECK(expect(&r, ""));
	advance(&r, SL_MODEM_GUARD_MS - 1);
	CHECK(expect(&r, ""));
	advance(&r, 1);
	CHECK(expect(&r, "+++"));	/* no CR */
	timer_in(&r, SL_MODEM_GUARD_MS + SL_MODEM_ESCAPE_REPLY_MS);
	advance(&r, SL_MODEM_GUARD_MS - 1);
	CHECK(expect(&r, ""));
	/* The modem's OK after its guard time: ATH at once. */
	advance(&r, 1);
	say(&r, "\r\nOK\r\n");
	CHECK(expect(&r, "ATH\r"));
	CHECK_EQ(r.n, 0);
	say(&r, "\r\nOK\r\n");
	CHECK_EQ(r.n, 1);
	got(&r, 0, SL_MODEM_EV_HUNG_UP);
	has_line(&r, "modem ttyS1: hung up");
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_READY);
	CHECK_EQ(sl_modem_next_timer(&r.m), 0);
	rig_close(&r);
}

/* A modem that says nothing to "+++", NO CARRIER to ATH; and one that
 * says nothing to ATH either. */
TEST(hangup_tolerant_and_timeout)
{
	struct rig r;

	if (!rig_open(&r) || !bring_up(&r))
		return;
	enter_data_mode(&r, "\r\nCONNECT\r\n");
	CHECK(sl_modem_hangup(&r.m, r.now, &r.ev) == 0);
	advance(&r, SL_MODEM_GUARD_MS);
	CHECK(expect(&r, "+++"));
	advance(&r, SL_MODEM_GUARD_MS + SL_MODEM_ESCAPE_REPLY_MS - 1);
	CHECK(expect(&r, ""));
	advance(&r, 1);
	CHECK(expect(&r, "ATH\r"));
	say(&r, "\r\nNO CARRIER\r\n");
	got(&r, 0, SL_MODEM_EV_HUNG_UP);
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_READY);
	forget(&r);

	/* From READY the escape is not needed: ATH straight away. */
	CHECK(sl_modem_hangup(&r.m, r.now, &r.ev) == 0);
	CHECK(expect(&r, "ATH\r"));
	advance(&r, SL_MODEM_CMD_TIMEOUT_MS);
	got(&r, 0, SL_MODEM_EV_TIMEOUT);
	has_line(&r, "timeout: no answer in step hangup (ATH)");
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_OFF);
	CHECK_EQ(sl_modem_hangup(&r.m, r.now, &r.ev), -EBUSY);
	rig_close(&r);
}

TEST(numeric_result_codes)
{
	static const struct {
		const char *said;
		enum sl_modem_event_type type;
		unsigned long speed;
	} cases[] = {
		{ "7\r", SL_MODEM_EV_BUSY, 0 },
		{ "8\r", SL_MODEM_EV_NO_ANSWER, 0 },
		{ "3\r", SL_MODEM_EV_NO_CARRIER, 0 },
		{ "6\r", SL_MODEM_EV_NO_DIALTONE, 0 },
		{ "4\r", SL_MODEM_EV_ERROR, 0 },
		{ "1\r", SL_MODEM_EV_CONNECT, 0 },
		{ "5\r", SL_MODEM_EV_CONNECT, 1200 },
		{ "10\r", SL_MODEM_EV_CONNECT, 2400 },
		{ "12\r", SL_MODEM_EV_CONNECT, 9600 },
		{ "18\r", SL_MODEM_EV_CONNECT, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rig r;

		if (!rig_open(&r))
			return;
		/* A modem stuck in V0 (and E1): "0\r" for OK. */
		CHECK(sl_modem_init(&r.m, NULL, r.now, &r.ev) == 0);
		CHECK(expect(&r, "ATZ\r"));
		say(&r, "ATZ\r0\r");
		advance(&r, SL_MODEM_RESET_SETTLE_MS);
		CHECK(expect(&r, SL_MODEM_DEFAULT_INIT "\r"));
		say(&r, "0\r");
		CHECK(expect(&r, "AT+VCID=1\r"));
		say(&r, "4\r");		/* ERROR: tolerated */
		got(&r, 0, SL_MODEM_EV_READY);
		say(&r, "2\r");
		got(&r, 1, SL_MODEM_EV_RING);
		forget(&r);
		CHECK(sl_modem_dial(&r.m, NUMBER, r.now, &r.ev) == 0);
		CHECK(expect(&r, "ATDT5550100\r"));
		say(&r, cases[i].said);
		CHECKF(r.n == 1, "case %zu: %u events", i, r.n);
		got(&r, 0, cases[i].type);
		CHECKF(r.events[0].speed == cases[i].speed, "case %zu: %lu", i,
		       r.events[0].speed);
		rig_close(&r);
	}
}

/* The whole answering transcript, cut at every byte boundary and fed in
 * two parts, and fed one byte per call: the same events every time. */
TEST(input_split_everywhere)
{
	static const char transcript[] =
		"\r\nRING\r\n\r\nDATE=0321\r\nTIME=1405\r\nNMBR=5550100\r\n"
		"NAME=ACME\r\n\r\nRING\r\n";
	static const enum sl_modem_event_type want[] = {
		SL_MODEM_EV_RING, SL_MODEM_EV_CALLER_ID, SL_MODEM_EV_RING,
	};
	size_t len = sizeof(transcript) - 1;

	for (size_t cut = 0; cut <= len + 1 && !check_failing(); cut++) {
		struct rig r;

		if (!rig_open(&r) || !bring_up(&r))
			return;
		if (cut <= len) {
			feed(&r, (const uint8_t *)transcript, cut);
			feed(&r, (const uint8_t *)transcript + cut, len - cut);
		} else {
			r.split = 1;
			feed(&r, (const uint8_t *)transcript, len);
		}
		CHECKF(r.n == 3, "cut %zu: %u events", cut, r.n);
		for (unsigned int i = 0; i < 3; i++)
			got(&r, i, want[i]);
		CHECK(!strcmp(r.events[1].cid.number, "5550100"));
		CHECK(!strcmp(r.events[1].cid.name, "ACME"));
		CHECK_EQ(r.events[2].rings, 2);
		CHECK(sl_modem_answer(&r.m, r.now, &r.ev) == 0);
		CHECK(expect(&r, "ATA\r"));
		/* CONNECT and the first data bytes in the same read. */
		r.split = 0;
		feed(&r, (const uint8_t *)"\r\nCONNECT 2400\r\n\x00\x05" "ab", 20);
		got(&r, 3, SL_MODEM_EV_CONNECT);
		CHECK_EQ(r.data_len, 4);
		CHECK_MEM(r.data, "\x00\x05" "ab", 4);
		rig_close(&r);
	}
}

/* CR-only, LF-only and LF-CR line ends; garbage; an overlong line. */
TEST(garbage_and_overlong_lines)
{
	struct rig r;
	char junk[SL_MODEM_LINE_MAX * 3 + 1];
	uint8_t bin[600];

	if (!rig_open(&r) || !bring_up(&r))
		return;
	say(&r, "\rRING\r\nRING\n\rRING\n\n\n");
	CHECK_EQ(r.n, 3);
	CHECK_EQ(r.events[2].rings, 3);
	forget(&r);
	say(&r, "\r\nHELLO THERE\r\nOKAY\r\nRINGO\r\n+VCID: 1\r\n  \t \r\n");
	CHECK_EQ(r.n, 0);

	/* A line that would say RING if it were cut short. */
	memset(junk, 'x', sizeof(junk) - 1);
	junk[sizeof(junk) - 1] = '\0';
	memcpy(junk + sizeof(junk) - 5, "RING", 4);
	r.split = 7;
	say(&r, junk);
	say(&r, "\r\n");
	CHECK_EQ(r.n, 0);
	/* One whose first SL_MODEM_LINE_MAX bytes would say RING. */
	memset(junk, ' ', sizeof(junk) - 1);
	memcpy(junk, "RING", 4);
	memcpy(junk + sizeof(junk) - 4, "NOT", 3);
	say(&r, junk);
	say(&r, "\r\n");
	CHECK_EQ(r.n, 0);
	say(&r, "RING\r\n");
	CHECK_EQ(r.n, 1);
	got(&r, 0, SL_MODEM_EV_RING);
	forget(&r);

	/* Line noise: control and 8-bit bytes, no digits nor letters. */
	for (size_t i = 0; i < sizeof(bin); i++) {
		uint8_t c = (uint8_t)check_rand();

		bin[i] = (c & 0x80) ? c : (uint8_t)(c & 0x1f);
		if (bin[i] == 0)
			bin[i] = '\n';
	}
	feed(&r, bin, sizeof(bin));
	CHECK_EQ(r.n, 0);
	CHECK(sl_modem_dial(&r.m, NUMBER, r.now, &r.ev) == 0);
	CHECK(expect(&r, "ATDT5550100\r"));
	say(&r, "\r\nCONNECT 1200\r\n");
	got(&r, 0, SL_MODEM_EV_CONNECT);
	rig_close(&r);
}

/* More events than fit in one list: input stops, the rest comes on the
 * next call. */
TEST(event_list_full)
{
	struct rig r;
	char many[40 * 6 + 1] = "";

	if (!rig_open(&r) || !bring_up(&r))
		return;
	for (int i = 0; i < 40; i++)
		strcat(many, "RING\r\n");
	say(&r, many);
	CHECK_EQ(r.n, 40);
	CHECK_EQ(r.events[39].rings, 40);
	rig_close(&r);
}

TEST(data_scan_no_carrier_split)
{
	static const char pat[] = "\r\nNO CARRIER\r\n";
	uint8_t stream[64];
	size_t plen = sizeof(pat) - 1, before = 20, total;

	for (size_t i = 0; i < before; i++)
		stream[i] = (uint8_t)(0x80 | i);
	memcpy(stream + before, pat, plen);
	memcpy(stream + before + plen, "OK", 2);
	total = before + plen + 2;

	for (size_t cut = 0; cut <= total && !check_failing(); cut++) {
		struct rig r;
		size_t off;

		if (!rig_open(&r) || !bring_up(&r))
			return;
		enter_data_mode(&r, "\r\nCONNECT 9600\r\n");
		off = sl_modem_data_scan(&r.m, stream, cut, &r.ev);
		record(&r);
		if (cut < before + plen) {
			CHECK_EQ(off, cut);
			CHECK_EQ(r.n, 0);
			off = sl_modem_data_scan(&r.m, stream + cut,
						 total - cut, &r.ev);
			record(&r);
			CHECKF(off == before + plen - cut, "cut %zu: %zu", cut,
			       off);
		} else {
			CHECK_EQ(off, before + plen);
		}
		CHECK_EQ(r.n, 1);
		got(&r, 0, SL_MODEM_EV_NO_CARRIER);
		CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_READY);
		CHECK(sl_modem_wants_read(&r.m));
		rig_close(&r);
	}
}

/* Against a plain search of the whole stream: random data with many near
 * misses, fed in random pieces, is reported exactly where the pattern
 * first ends and never elsewhere. */
TEST(data_scan_matches_reference)
{
	static const char pat[] = "\r\nNO CARRIER\r\n";
	size_t plen = sizeof(pat) - 1;

	for (int round = 0; round < 200 && !check_failing(); round++) {
		static uint8_t stream[4096];
		struct rig r;
		const uint8_t *hit;
		size_t len = 0, off = 0, want;
		bool found = false;

		while (len < sizeof(stream) - plen) {
			unsigned int k = (unsigned int)check_below(4);

			if (k == 0) {
				/* A prefix of the pattern, maybe whole
				 * (rarely), maybe cut anywhere. */
				size_t n = 1 + check_below(plen - 1);

				if (round % 5 == 0 && check_below(20) == 0)
					n = plen;
				memcpy(stream + len, pat, n);
				len += n;
			} else if (k == 1) {
				stream[len++] = "\r\n"[check_below(2)];
			} else {
				stream[len++] = (uint8_t)check_rand();
			}
		}
		hit = memmem(stream, len, pat, plen);
		want = hit ? (size_t)(hit - stream) + plen : len;

		if (!rig_open(&r) || !bring_up(&r))
			return;
		enter_data_mode(&r, "\r\nCONNECT 9600\r\n");
		while (off < len) {
			size_t n = 1 + check_below(64), used;

			if (n > len - off)
				n = len - off;
			used = sl_modem_data_scan(&r.m, stream + off, n, &r.ev);
			record(&r);
			off += used;
			if (used < n) {
				found = true;
				break;
			}
			if (r.n) {
				found = true;	/* at the end of a piece */
				break;
			}
		}
		CHECKF(found == (hit != NULL), "round %d: found %d, want %d",
		       round, found, hit != NULL);
		CHECKF(off == want, "round %d: stopped at %zu, want %zu", round,
		       off, want);
		CHECK_EQ(r.n, hit ? 1 : 0);
		rig_close(&r);
	}
}

/* 1 MiB of uniformly random bytes (what ciphertext looks like): no
 * NO CARRIER in it. */
TEST(data_scan_random_no_false_positive)
{
	struct rig r;
	uint8_t buf[4096];

	if (!rig_open(&r) || !bring_up(&r))
		return;
	enter_data_mode(&r, "\r\nCONNECT 9600\r\n");
	for (int i = 0; i < 256; i++) {
		check_fill_random(buf, sizeof(buf));
		if (!CHECK_EQ(sl_modem_data_scan(&r.m, buf, sizeof(buf), &r.ev),
			      sizeof(buf)))
			break;
		CHECK_EQ(r.ev.n, 0);
	}
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_DATA);
	rig_close(&r);
}

/* The kernel takes no bytes: the command waits in the queue, POLLOUT is
 * asked for, and its timeout starts once it has left. */
TEST(output_queue_eagain)
{
	struct rig r;
	char junk[4096], buf[512];
	ssize_t n;

	if (!rig_open(&r))
		return;
	fill_port(&r);
	CHECK(sl_modem_init(&r.m, NULL, r.now, &r.ev) == 0);
	CHECK(sl_modem_wants_write(&r.m));
	timer_in(&r, SL_MODEM_WRITE_TIMEOUT_MS);
	while ((n = read(r.mfd, junk, sizeof(junk))) > 0)
		;
	advance(&r, 100);
	sl_modem_output(&r.m, r.now, &r.ev);
	CHECK_EQ(r.ev.n, 0);
	CHECK(!sl_modem_wants_write(&r.m));
	timer_in(&r, SL_MODEM_RESET_TIMEOUT_MS);
	CHECK(expect(&r, "ATZ\r"));
	rig_close(&r);

	/* Never taken: a timeout, and the modem is off. */
	if (!rig_open(&r))
		return;
	fill_port(&r);
	CHECK(sl_modem_init(&r.m, NULL, r.now, &r.ev) == 0);
	advance(&r, SL_MODEM_WRITE_TIMEOUT_MS);
	got(&r, 0, SL_MODEM_EV_TIMEOUT);
	has_line(&r, "the port took no bytes");
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_OFF);
	CHECK(!sl_modem_wants_write(&r.m));
	(void)buf;
	rig_close(&r);

	/* The peer is gone: an I/O error. */
	if (!rig_open(&r))
		return;
	close(r.mfd);
	r.mfd = open("/dev/null", O_RDONLY);
	signal(SIGPIPE, SIG_IGN);
	CHECK_EQ(sl_modem_init(&r.m, NULL, r.now, &r.ev), -EIO);
	record(&r);
	got(&r, 0, SL_MODEM_EV_IO_ERROR);
	has_line(&r, "modem ttyS1: write: Broken pipe; the modem is off until re-initialised");
	rig_close(&r);
}

/* The tty path: sl_modem_open_tty() on a pty's slave, and a whole call on
 * it. A pty has no modem lines, so hangup goes without a DTR step. */
TEST(tty_open_and_call)
{
	struct rig r;
	struct termios t;
	char err[256];
	int fd, ret;

	ret = sl_modem_open_tty("/dev/null", 9600, false, &fd, err, sizeof(err));
	CHECK_EQ(ret, -ENOTTY);
	CHECK(strstr(err, "/dev/null: not a terminal"));
	ret = sl_modem_open_tty("/nonexistent/ttyS9", 9600, false, &fd, err,
				sizeof(err));
	CHECK_EQ(ret, -ENOENT);
	CHECK(strstr(err, "/nonexistent/ttyS9: open: No such file"));
	ret = sl_modem_open_tty("/dev/null", 9601, false, &fd, err, sizeof(err));
	CHECK_EQ(ret, -EINVAL);
	CHECK(strstr(err, "unsupported baud rate 9601"));

	if (!rig_open_pty(&r))
		return;
	CHECK(r.m.is_tty);
	CHECK(!tcgetattr(r.dfd, &t));
	CHECK((t.c_cflag & CSIZE) == CS8);
	CHECK(!(t.c_cflag & (PARENB | CSTOPB | CRTSCTS)));
	CHECK(t.c_cflag & CLOCAL);
	CHECK(!(t.c_lflag & (ICANON | ECHO | ISIG)));
	CHECK_EQ(cfgetospeed(&t), B9600);
	CHECK(fcntl(r.dfd, F_GETFL) & O_NONBLOCK);
	CHECK(!sl_modem_tty_clocal(r.dfd, false));
	CHECK(!tcgetattr(r.dfd, &t) && !(t.c_cflag & CLOCAL));
	CHECK(!sl_modem_tty_clocal(r.dfd, true));
	CHECK(sl_modem_tty_carrier(r.dfd) != 1);	/* a pty: no DCD */

	if (!bring_up(&r))
		return;
	enter_data_mode(&r, "\r\nCONNECT 9600\r\n");
	CHECK(sl_modem_hangup(&r.m, r.now, &r.ev) == 0);
	CHECK_EQ(sl_modem_next_timer(&r.m), r.now + SL_MODEM_GUARD_MS);
	advance(&r, SL_MODEM_GUARD_MS);
	CHECK(expect(&r, "+++"));
	advance(&r, SL_MODEM_GUARD_MS);
	say(&r, "\r\nOK\r\n");
	CHECK(expect(&r, "ATH\r"));
	say(&r, "\r\nOK\r\n");
	got(&r, 0, SL_MODEM_EV_HUNG_UP);
	CHECK_EQ(sl_modem_state(&r.m), SL_MODEM_READY);
	rig_close(&r);
}

TEST(names_and_levels)
{
	struct sl_modem_event e = { .type = SL_MODEM_EV_TIMEOUT };

	CHECK(!strcmp(sl_modem_state_name(SL_MODEM_HANGING_UP), "hanging up"));
	CHECK(!strcmp(sl_modem_state_name((enum sl_modem_state)99), "unknown"));
	CHECK(!strcmp(sl_modem_step_name(SL_MODEM_STEP_ESCAPE), "escape (+++)"));
	CHECK_EQ(sl_modem_event_level(&e), LOG_WARNING);
	e.type = SL_MODEM_EV_RING;
	CHECK_EQ(sl_modem_event_level(&e), LOG_INFO);
	e.type = SL_MODEM_EV_BUSY;
	CHECK_EQ(sl_modem_event_level(&e), LOG_NOTICE);
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	RUN(init_sequence);
	RUN(init_vcid_error_tolerated);
	RUN(init_errors);
	RUN(echo_on_then_off);
	RUN(dial_connect);
	RUN(dial_outcomes);
	RUN(dial_refused_inputs);
	RUN(dial_timeout);
	RUN(ring_caller_id_answer);
	RUN(caller_id_compact_and_settle);
	RUN(auto_answer);
	RUN(hangup_escape_guard_times);
	RUN(hangup_tolerant_and_timeout);
	RUN(numeric_result_codes);
	RUN(input_split_everywhere);
	RUN(garbage_and_overlong_lines);
	RUN(event_list_full);
	RUN(data_scan_no_carrier_split);
	RUN(data_scan_matches_reference);
	RUN(data_scan_random_no_false_positive);
	RUN(output_queue_eagain);
	RUN(tty_open_and_call);
	RUN(names_and_levels);
	return check_summary();
}
