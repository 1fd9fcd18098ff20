// SPDX-License-Identifier: GPL-2.0
/*
 * sealine-exchange - a simulated telephone exchange with Hayes modems.
 *
 * Each "line" is one serial port of a program under test: a QEMU guest
 * UART (a unix socket chardev, QEMU being the server) or a pseudo-terminal
 * whose slave a host program opens. Behind each line sits an emulated
 * Hayes-compatible modem (AT commands, result codes, +++ escape) and all
 * modems hang off one exchange that routes calls by number, rings,
 * delivers caller ID, reports BUSY / NO ANSWER, and relays the bytes of
 * connected calls, optionally paced at the line rate and impaired (bit
 * flips, drops, inserted bytes, replayed frames). See usage().
 *
 * Structure: one poll() loop drives everything; nothing sleeps or
 * busy-waits. Every line owns an output queue (bytes towards its
 * endpoint: modem responses and the peer's data) drained when the
 * endpoint can take bytes and, when paced, when the next byte is due
 * (10 bits per byte). All modem and call timing (rings, caller ID, S7,
 * escape guard time) is kept as absolute deadlines per line.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ limits */

#define NSEC_PER_SEC		UINT64_C(1000000000)
#define NSEC_PER_MSEC		UINT64_C(1000000)
#define NUMBER_MAX		20	/* digits of a telephone number */
#define ID_MAX			(NUMBER_MAX + 12)
#define LINES_MAX		4096
#define CMD_MAX			255	/* AT command line, as on most modems */
#define S_REGS			40
#define READ_CHUNK		4096
#define QUEUE_UNPACED_MAX	(64u * 1024)	/* stop reading the sender above this */
#define PACED_AHEAD_MS		100	/* paced: read-ahead in line time */
#define PACED_MIN_QUEUE		64
#define MIN_PACED_WAKE_NS	NSEC_PER_MSEC	/* paced: wake at most every 1 ms */
#define RING_FRAMES		32	/* frames remembered for replay */
#define FRAME_MAX		16384	/* longer runs are not frames */
#define CONNECT_RETRY_MS	20
#define PTY_RECHECK_MS		50	/* look for a reopened pty slave */
#define EXIT_GRACE_MS		300	/* QEMU gone: time for the last words */
#define CTL_CLIENTS_MAX		16
#define CTL_LINE_MAX		512
#define RATE_MAX		1000000UL	/* per million bytes */
#define BAUD_MAX		100000000UL
#define DEFAULT_BAUD		9600UL
#define DEFAULT_RING_MS		6000UL
#define DEFAULT_UNKNOWN_MS	1000UL
#define DEFAULT_CONNECT_TIMEOUT	30UL

/* S registers with a meaning here */
#define S_AUTOANSWER	0
#define S_RINGCOUNT	1
#define S_ESCAPE	2
#define S_CR		3
#define S_LF		4
#define S_BS		5
#define S_CARRIER_WAIT	7
#define S_GUARD		12

enum kind { K_UNIX, K_PTY };

enum state {
	ST_IDLE,	/* on hook, command mode */
	ST_OFFHOOK,	/* ATH1: off hook, callers get BUSY */
	ST_DIALING,	/* caller: waiting for the callee (or unknown number) */
	ST_RINGING,	/* callee: an incoming call rings, command mode */
	ST_ONLINE,	/* in a call, data mode */
	ST_ONLINE_CMD,	/* in a call, command mode after +++ */
};

static const char *const state_names[] = {
	[ST_IDLE] = "idle", [ST_OFFHOOK] = "offhook", [ST_DIALING] = "dialing",
	[ST_RINGING] = "ringing", [ST_ONLINE] = "online",
	[ST_ONLINE_CMD] = "online-command",
};

enum result {
	RC_OK, RC_CONNECT, RC_RING, RC_NO_CARRIER, RC_ERROR, RC_NO_DIALTONE,
	RC_BUSY, RC_NO_ANSWER,
};

static const struct {
	const char *text;
	int code;
} results[] = {
	[RC_OK] = { "OK", 0 }, [RC_CONNECT] = { "CONNECT", 1 },
	[RC_RING] = { "RING", 2 }, [RC_NO_CARRIER] = { "NO CARRIER", 3 },
	[RC_ERROR] = { "ERROR", 4 }, [RC_NO_DIALTONE] = { "NO DIALTONE", 6 },
	[RC_BUSY] = { "BUSY", 7 }, [RC_NO_ANSWER] = { "NO ANSWER", 8 },
};

struct frame {
	uint8_t *data;		/* including the trailing 0x00 delimiter */
	size_t len;
};

struct line {
	char number[NUMBER_MAX + 1];
	unsigned int index;	/* among the lines of the same number */
	char id[ID_MAX];	/* "NUMBER-INDEX" */
	enum kind kind;
	char *path;		/* socket path or pty link path */
	int fd;			/* -1 until connected / opened by the pty */
	int slave_fd;		/* pty: only while setting it up */
	bool up;		/* an endpoint is there */
	bool gone;		/* unix: QEMU closed it, for good */
	uint64_t recheck;	/* pty not open: when to look again */
	unsigned long baud;
	bool pace;

	/* the modem */
	bool echo, verbose, quiet, cid;
	unsigned int dtr_mode, xmode;
	uint8_t s[S_REGS];
	char cmd[CMD_MAX + 1];
	size_t cmd_len;
	bool cmd_overflow;
	char last_cmd[CMD_MAX + 1];
	enum state st;
	struct line *peer;
	bool caller;
	char dialled[NUMBER_MAX + 1];
	unsigned int rings;
	uint64_t t_ring, t_cid, t_deadline, t_escape;
	unsigned long speed;	/* of the current call */
	bool paced;		/* the current call is paced */
	uint64_t call_start;
	uint64_t call_sent;	/* bytes this side sent in the current call */

	/* +++ escape detection */
	uint64_t last_rx, last_plus;
	unsigned int plus;

	/* forced by the control interface */
	bool f_busy, f_noanswer, f_nodialtone;

	/* impairments of the bytes this line sends */
	unsigned long flip, drop, insert;	/* per million bytes */
	uint64_t rng;
	unsigned int replay_k;			/* armed replay, 0: none */
	uint8_t *cur;				/* frame being assembled */
	size_t cur_len;
	bool cur_over;
	struct frame ring[RING_FRAMES];
	size_t ring_head, ring_n;
	uint64_t flipped, dropped, inserted, replayed;

	/* bytes towards the endpoint */
	uint8_t *q;
	size_t qcap, qhead, qlen;
	uint64_t next_free;	/* paced: the line is busy until then */
	bool blocked;		/* the endpoint did not take all */

	uint64_t rx, tx;	/* from / to the endpoint, all time */
	int cap_tx, cap_rx;
};

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

static struct line *lines;
static size_t nlines, lines_cap;
static struct ctl_client clients[CTL_CLIENTS_MAX];
static int ctl_listen = -1;
static const char *ctl_path;
static FILE *log_file;
static const char *capture_dir;
static unsigned long default_baud = DEFAULT_BAUD;
static bool pace_all;
static uint64_t ring_ns = DEFAULT_RING_MS * NSEC_PER_MSEC;
static uint64_t unknown_ns = DEFAULT_UNKNOWN_MS * NSEC_PER_MSEC;
static unsigned long no_answer_rings;	/* 0: only S7 limits ringing */
static unsigned long connect_timeout = DEFAULT_CONNECT_TIMEOUT;
static uint64_t seed = 1;
static uint64_t t_start;
static bool quit;
static bool have_unix;
static volatile sig_atomic_t got_signal;

/* ------------------------------------------------------------ helpers */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void __attribute__((noreturn, format(printf, 1, 2))) fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("sealine-exchange: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		fatal("out of memory");
	return p;
}

/* One event per line: "<unix time with ms> <event> key=value ...". */
static void __attribute__((format(printf, 1, 2))) event(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(log_file, "%lld.%03ld ", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(log_file, fmt, ap);
	va_end(ap);
	fputc('\n', log_file);
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

/* True with probability rate / 1e6. */
static bool chance(struct line *l, unsigned long rate)
{
	return rate && splitmix64(&l->rng) % RATE_MAX < rate;
}

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!*s || !isdigit((unsigned char)*s))
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* Seconds with an optional fraction ("6", "0.5") -> ns. */
static bool parse_secs(const char *s, uint64_t *out)
{
	char *end;
	double v;

	if (!*s || !(isdigit((unsigned char)*s) || *s == '.'))
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || v < 0.001 || v > 86400)
		return false;
	*out = (uint64_t)(v * 1e9);
	return true;
}

static bool valid_number(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > NUMBER_MAX)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && *s != '*' && *s != '#')
			return false;
	return true;
}

static bool set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

/* ------------------------------------------------------------ output queue */

static void q_push(struct line *l, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	if (!l->up)
		return;	/* nobody there to hear it */
	if (l->qlen + n > l->qcap) {
		size_t ncap = l->qcap ? l->qcap : 4096;
		uint8_t *nq;

		while (ncap < l->qlen + n)
			ncap *= 2;
		nq = xmalloc(ncap);
		for (size_t i = 0; i < l->qlen; i++)
			nq[i] = l->q[(l->qhead + i) % l->qcap];
		free(l->q);
		l->q = nq;
		l->qcap = ncap;
		l->qhead = 0;
	}
	if (!l->qlen && l->paced) {
		/* an idle line does not save up time for a burst */
		uint64_t now = now_ns();

		if (l->next_free < now)
			l->next_free = now;
	}
	for (size_t i = 0; i < n; i++)
		l->q[(l->qhead + l->qlen + i) % l->qcap] = p[i];
	l->qlen += n;
}

static void q_puts(struct line *l, const char *s)
{
	q_push(l, s, strlen(s));
}

/* How much may wait for this line before its peer is not read any more:
 * paced, a tenth of a second of line time, so back pressure reaches the
 * sender as on a real line.
 */
static size_t q_limit(const struct line *l)
{
	size_t ahead;

	if (!l->paced)
		return QUEUE_UNPACED_MAX;
	ahead = l->speed / 10 * PACED_AHEAD_MS / 1000;
	return ahead < PACED_MIN_QUEUE ? PACED_MIN_QUEUE : ahead;
}

static uint64_t byte_ns(const struct line *l)
{
	/* 8N1: start bit, 8 data bits, stop bit */
	return (10 * NSEC_PER_SEC + l->speed / 2) / l->speed;
}

/* ------------------------------------------------------------ modem output */

static void result(struct line *l, enum result r)
{
	char buf[64];

	if (l->quiet)
		return;
	if (l->verbose) {
		if (r == RC_CONNECT)
			snprintf(buf, sizeof(buf), "%c%cCONNECT %lu%c%c", l->s[S_CR],
				 l->s[S_LF], l->speed, l->s[S_CR], l->s[S_LF]);
		else
			snprintf(buf, sizeof(buf), "%c%c%s%c%c", l->s[S_CR], l->s[S_LF],
				 results[r].text, l->s[S_CR], l->s[S_LF]);
	} else {
		int code = results[r].code;

		if (r == RC_CONNECT) {
			/* the codes most Hayes-compatible modems agree on */
			switch (l->speed) {
			case 1200: code = 5; break;
			case 2400: code = 10; break;
			case 4800: code = 11; break;
			case 9600: code = 12; break;
			default: break;
			}
		}
		snprintf(buf, sizeof(buf), "%d%c", code, l->s[S_CR]);
	}
	q_puts(l, buf);
}

/* Information text (I, S?, +VCID?): framed like a verbose result. */
static void info(struct line *l, const char *text)
{
	char buf[CMD_MAX + 8];

	if (l->verbose)
		snprintf(buf, sizeof(buf), "%c%c%s%c%c", l->s[S_CR], l->s[S_LF], text,
			 l->s[S_CR], l->s[S_LF]);
	else
		snprintf(buf, sizeof(buf), "%s%c%c", text, l->s[S_CR], l->s[S_LF]);
	q_puts(l, buf);
}

static void factory(struct line *l)
{
	static const uint8_t s_default[S_REGS] = {
		[S_AUTOANSWER] = 0, [S_ESCAPE] = '+', [S_CR] = '\r', [S_LF] = '\n',
		[S_BS] = 8, [6] = 2, [S_CARRIER_WAIT] = 50, [8] = 2, [9] = 6,
		[10] = 14, [11] = 95, [S_GUARD] = 50,
	};

	l->echo = true;
	l->verbose = true;
	l->quiet = false;
	l->cid = false;
	l->dtr_mode = 2;
	l->xmode = 4;
	memcpy(l->s, s_default, sizeof(l->s));
}

/* ------------------------------------------------------------ calls */

static void stop_ringing(struct line *callee)
{
	callee->st = ST_IDLE;
	callee->peer = NULL;
	callee->rings = 0;
	callee->s[S_RINGCOUNT] = 0;
	callee->t_ring = callee->t_cid = 0;
}

static void go_online(struct line *l, struct line *peer, unsigned long speed, bool paced)
{
	uint64_t now = now_ns();

	l->st = ST_ONLINE;
	l->peer = peer;
	l->speed = speed;
	l->paced = paced;
	l->next_free = now;
	l->call_start = now;
	l->call_sent = 0;
	l->last_rx = now;
	l->plus = 0;
	l->t_escape = 0;
	l->t_deadline = 0;
	l->cur_len = 0;
	l->cur_over = false;
	result(l, RC_CONNECT);
}

static void answer(struct line *callee, const char *how)
{
	struct line *caller = callee->peer;
	unsigned long speed = caller->baud < callee->baud ? caller->baud : callee->baud;
	bool paced = caller->pace || callee->pace;

	event("answer line=%s how=%s rings=%u", callee->id, how, callee->rings);
	callee->t_ring = callee->t_cid = 0;
	callee->rings = 0;
	callee->s[S_RINGCOUNT] = 0;
	go_online(caller, callee, speed, paced);
	go_online(callee, caller, speed, paced);
	event("connect caller=%s callee=%s speed=%lu paced=%s", caller->id, callee->id,
	      speed, paced ? "yes" : "no");
}

/* End the call l is in; "by" is the side that hung up. */
static void end_call(struct line *by, const char *how)
{
	struct line *other = by->peer;
	struct line *caller = by->caller ? by : other;
	struct line *callee = by->caller ? other : by;
	uint64_t ms = (now_ns() - by->call_start) / NSEC_PER_MSEC;

	event("hangup caller=%s callee=%s by=%s how=%s caller_sent=%" PRIu64
	      " callee_sent=%" PRIu64 " secs=%" PRIu64 ".%03" PRIu64,
	      caller->id, callee->id, by->id, how, caller->call_sent, callee->call_sent,
	      ms / 1000, ms % 1000);
	for (int i = 0; i < 2; i++) {
		struct line *l = i ? other : by;

		l->st = ST_IDLE;
		l->peer = NULL;
		l->caller = false;
		l->t_escape = 0;
		l->paced = false;
	}
	result(other, RC_NO_CARRIER);
}

static bool line_busy(const struct line *l)
{
	return l->f_busy || l->st != ST_IDLE;
}

/* ATD: returns false if a result code was given at once. */
static void dial(struct line *l, const char *number)
{
	struct line *callee = NULL;
	bool known = false;
	uint64_t now = now_ns();
	unsigned long s7 = l->s[S_CARRIER_WAIT] ? l->s[S_CARRIER_WAIT] : 1;

	if (l->f_nodialtone) {
		event("nodialtone line=%s to=%s", l->id, number);
		result(l, RC_NO_DIALTONE);
		return;
	}
	event("dial line=%s to=%s", l->id, number);
	for (size_t i = 0; i < nlines; i++) {
		struct line *m = &lines[i];

		if (strcmp(m->number, number))
			continue;
		known = true;
		if (m != l && !line_busy(m)) {
			callee = m;
			break;
		}
	}
	snprintf(l->dialled, sizeof(l->dialled), "%s", number);
	l->caller = true;
	if (!known) {
		/* the exchange's intercept: no such number, no carrier */
		l->st = ST_DIALING;
		l->peer = NULL;
		l->t_deadline = now + unknown_ns;
		return;
	}
	if (!callee) {
		event("busy line=%s to=%s", l->id, number);
		l->caller = false;
		result(l, RC_BUSY);
		return;
	}
	l->st = ST_DIALING;
	l->peer = callee;
	l->t_deadline = now + s7 * NSEC_PER_SEC;
	callee->st = ST_RINGING;
	callee->peer = l;
	callee->caller = false;
	callee->rings = 0;
	callee->s[S_RINGCOUNT] = 0;
	callee->t_ring = now;	/* the first ring at once */
	callee->t_cid = 0;
}

/* The caller gave up (a key pressed, hung up, went away). */
static void abort_dial(struct line *l, const char *how, bool tell)
{
	event("abort line=%s to=%s how=%s", l->id, l->dialled, how);
	if (l->peer)
		stop_ringing(l->peer);
	l->st = ST_IDLE;
	l->peer = NULL;
	l->caller = false;
	l->t_deadline = 0;
	if (tell)
		result(l, RC_NO_CARRIER);
}

static void ring(struct line *m, uint64_t now)
{
	struct line *caller = m->peer;

	if (no_answer_rings && m->rings >= no_answer_rings) {
		event("noanswer line=%s to=%s rings=%u", caller->id, m->id, m->rings);
		stop_ringing(m);
		caller->st = ST_IDLE;
		caller->peer = NULL;
		caller->caller = false;
		caller->t_deadline = 0;
		result(caller, RC_NO_ANSWER);
		return;
	}
	m->rings++;
	m->t_ring = now + ring_ns;
	if (m->s[S_RINGCOUNT] < 255)
		m->s[S_RINGCOUNT]++;
	event("ring line=%s from=%s count=%u delivered=%s", m->id, caller->id, m->rings,
	      m->f_noanswer || !m->up ? "no" : "yes");
	/* forced noanswer, or no DTE there (a modem with DTR off does not
	 * answer): the phone rings on, unheard
	 */
	if (m->f_noanswer || !m->up)
		return;
	result(m, RC_RING);
	if (m->rings == 1 && m->cid)
		m->t_cid = now + ring_ns / 2;
	if (m->s[S_AUTOANSWER] && m->rings >= m->s[S_AUTOANSWER])
		answer(m, "auto");
}

static void send_cid(struct line *m)
{
	char buf[160];
	time_t t = time(NULL);
	struct tm tm;

	localtime_r(&t, &tm);
	/* the MDMF fields as modems print them; NAME withheld ("O") */
	snprintf(buf, sizeof(buf),
		 "\r\nDATE = %02d%02d\r\nTIME = %02d%02d\r\nNMBR = %s\r\nNAME = O\r\n",
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, m->peer->number);
	q_puts(m, buf);
	event("cid line=%s nmbr=%s", m->id, m->peer->number);
}

/* ------------------------------------------------------------ AT commands */

/* Reads an optional decimal parameter at *p (default 0). */
static unsigned long at_num(const char **p)
{
	unsigned long v = 0;

	while (isdigit((unsigned char)**p)) {
		if (v < 100000)
			v = v * 10 + (unsigned long)(**p - '0');
		(*p)++;
	}
	return v;
}

/* The dial string of ATD: digits, * and #; T, P and the usual punctuation
 * are ignored. Returns false on anything else.
 */
static bool dial_string(const char *p, char *out)
{
	size_t n = 0;

	for (; *p; p++) {
		char c = (char)toupper((unsigned char)*p);

		if (isdigit((unsigned char)c) || c == '*' || c == '#') {
			if (n == NUMBER_MAX)
				return false;
			out[n++] = c;
		} else if (!strchr("TPW,-() @!", c)) {
			return false;
		}
	}
	out[n] = '\0';
	return n > 0;
}

/* An extended command (+VCID, #CID) at p, after the prefix; consumes up to
 * ';' or the end. Returns false for ERROR.
 */
static bool at_extended(struct line *l, const char **pp)
{
	const char *p = *pp;
	char name[16];
	size_t n = 0;
	char buf[64];

	while (isalpha((unsigned char)*p) && n < sizeof(name) - 1)
		name[n++] = (char)toupper((unsigned char)*p++);
	name[n] = '\0';
	if (strcmp(name, "VCID") && strcmp(name, "CID"))
		return false;
	if (!strcmp(p, "?") || !strncmp(p, "?;", 2)) {
		snprintf(buf, sizeof(buf), "%s%s: %d", name[0] == 'V' ? "+" : "#", name,
			 l->cid ? 1 : 0);
		info(l, buf);
		p++;
	} else if (!strncmp(p, "=?", 2)) {
		snprintf(buf, sizeof(buf), "%s%s: (0-1)", name[0] == 'V' ? "+" : "#", name);
		info(l, buf);
		p += 2;
	} else if (*p == '=' && (p[1] == '0' || p[1] == '1') && !isdigit((unsigned char)p[2])) {
		l->cid = p[1] == '1';
		p += 2;
	} else {
		return false;
	}
	if (*p == ';')
		p++;
	*pp = p;
	return true;
}

/* Runs the commands after "AT". */
static void at_execute(struct line *l, const char *cmdline)
{
	char buf[CMD_MAX + 1];
	const char *p;
	size_t n = 0;
	unsigned long v;
	char text[96];

	/* spaces are ignored between commands on a Hayes modem */
	for (const char *s = cmdline; *s && n < CMD_MAX; s++)
		if (*s != ' ')
			buf[n++] = (char)toupper((unsigned char)*s);
	buf[n] = '\0';
	p = buf;
	while (*p) {
		char c = *p++;

		switch (c) {
		case 'Z':
			at_num(&p);
			if (l->st == ST_ONLINE_CMD)
				end_call(l, "atz");
			factory(l);
			l->st = l->st == ST_OFFHOOK ? ST_IDLE : l->st;
			break;
		case 'E': v = at_num(&p); if (v > 1) goto error; l->echo = v; break;
		case 'V': v = at_num(&p); if (v > 1) goto error; l->verbose = v; break;
		case 'Q': v = at_num(&p); if (v > 1) goto error; l->quiet = v; break;
		case 'X': v = at_num(&p); if (v > 4) goto error; l->xmode = (unsigned)v; break;
		case 'L': case 'M': v = at_num(&p); if (v > 3) goto error; break;
		case 'H':
			v = at_num(&p);
			if (v > 1)
				goto error;
			if (v == 1) {
				if (l->st != ST_IDLE && l->st != ST_OFFHOOK)
					goto error;
				l->st = ST_OFFHOOK;
			} else if (l->st == ST_ONLINE_CMD) {
				end_call(l, "ath");
			} else if (l->st == ST_OFFHOOK) {
				l->st = ST_IDLE;
			}
			break;
		case 'I':
			v = at_num(&p);
			if (v > 9)
				goto error;
			if (v == 3)
				snprintf(text, sizeof(text), "sealine-exchange Hayes emulation, line %s",
					 l->id);
			else if (v == 4)
				snprintf(text, sizeof(text), "%lu", l->baud);
			else
				snprintf(text, sizeof(text), "SEALINE-EXCHANGE");
			info(l, text);
			break;
		case 'S': {
			unsigned long reg = at_num(&p);

			if (reg >= S_REGS)
				goto error;
			if (*p == '?') {
				p++;
				snprintf(text, sizeof(text), "%03u", l->s[reg]);
				info(l, text);
			} else if (*p == '=') {
				p++;
				if (!isdigit((unsigned char)*p))
					goto error;
				v = at_num(&p);
				if (v > 255 || reg == S_RINGCOUNT)
					goto error;
				l->s[reg] = (uint8_t)v;
			} else {
				goto error;
			}
			break;
		}
		case '&':
			c = *p++;
			v = at_num(&p);
			switch (c) {
			case 'F': if (v) goto error; factory(l); break;
			case 'D': if (v > 3) goto error; l->dtr_mode = (unsigned)v; break;
			case 'C': if (v > 1) goto error; break;
			case 'K': if (v > 6) goto error; break;
			default: goto error;
			}
			break;
		case '+':
		case '#':
			if (!at_extended(l, &p))
				goto error;
			break;
		case 'O':
			at_num(&p);
			if (*p)
				goto error;
			if (l->st != ST_ONLINE_CMD) {
				result(l, RC_NO_CARRIER);
				return;
			}
			l->st = ST_ONLINE;
			l->last_rx = now_ns();
			l->plus = 0;
			event("online line=%s", l->id);
			result(l, RC_CONNECT);
			return;
		case 'A':
			if (*p)
				goto error;
			if (l->st == ST_RINGING && !l->f_noanswer) {
				answer(l, "ata");
			} else if (l->st == ST_ONLINE_CMD) {
				goto error;
			} else {
				/* nobody calls (or, forced noanswer, the ring
				 * never reached this modem): nothing to answer
				 */
				result(l, RC_NO_CARRIER);
			}
			return;
		case 'D': {
			char number[NUMBER_MAX + 1];

			if (l->st == ST_ONLINE_CMD || !dial_string(p, number))
				goto error;
			if (l->st == ST_RINGING) {
				/* off hook while it rings: no dial tone */
				event("nodialtone line=%s to=%s", l->id, number);
				result(l, RC_NO_DIALTONE);
				return;
			}
			dial(l, number);
			return;
		}
		default:
			goto error;
		}
	}
	result(l, RC_OK);
	return;
error:
	result(l, RC_ERROR);
}

/* A complete command line (without S3): find "AT" and run what follows. */
static void at_line(struct line *l)
{
	char *s = l->cmd;

	l->cmd[l->cmd_len] = '\0';
	if (l->cmd_overflow) {
		l->cmd_len = 0;
		l->cmd_overflow = false;
		result(l, RC_ERROR);
		return;
	}
	l->cmd_len = 0;
	for (; *s; s++)
		if (toupper((unsigned char)s[0]) == 'A' && toupper((unsigned char)s[1]) == 'T')
			break;
	if (!*s)
		return;	/* no "AT": line noise, ignored as by a real modem */
	snprintf(l->last_cmd, sizeof(l->last_cmd), "%s", s + 2);
	at_execute(l, s + 2);
}

static void command_byte(struct line *l, uint8_t c)
{
	if (l->st == ST_DIALING) {
		/* any key aborts dialling; a LF after the CR is not a key */
		if (c != '\n' && c != l->s[S_LF])
			abort_dial(l, "key", true);
		return;
	}
	if (l->echo)
		q_push(l, &c, 1);
	if (c == l->s[S_CR]) {
		at_line(l);
	} else if (c == l->s[S_BS]) {
		if (l->cmd_len)
			l->cmd_len--;
	} else if (c == '/' && l->cmd_len == 1 && toupper((unsigned char)l->cmd[0]) == 'A') {
		/* A/ repeats the last command line at once */
		l->cmd_len = 0;
		at_execute(l, l->last_cmd);
	} else if (c == '\n' && !l->cmd_len) {
		/* LF after CR */
	} else if (l->cmd_len < CMD_MAX) {
		l->cmd[l->cmd_len++] = (char)c;
	} else {
		l->cmd_overflow = true;
	}
}

/* ------------------------------------------------------------ data mode */

static void frame_done(struct line *l)
{
	struct frame *f;

	if (l->cur_over || !l->cur_len) {
		l->cur_len = 0;
		l->cur_over = false;
		return;
	}
	l->cur[l->cur_len++] = 0x00;
	f = &l->ring[l->ring_head];
	free(f->data);
	f->data = xmalloc(l->cur_len);
	memcpy(f->data, l->cur, l->cur_len);
	f->len = l->cur_len;
	l->ring_head = (l->ring_head + 1) % RING_FRAMES;
	if (l->ring_n < RING_FRAMES)
		l->ring_n++;
	l->cur_len = 0;
	if (l->replay_k && l->ring_n >= l->replay_k) {
		struct frame *r = &l->ring[(l->ring_head + RING_FRAMES - l->replay_k) % RING_FRAMES];

		q_push(l->peer, r->data, r->len);
		l->replayed++;
		event("replay line=%s to=%s back=%u bytes=%zu", l->id, l->peer->id,
		      l->replay_k, r->len);
		l->replay_k = 0;
	}
}

static void data_byte(struct line *l, uint8_t c, uint64_t now)
{
	uint64_t guard = (uint64_t)l->s[S_GUARD] * NSEC_PER_SEC / 50;
	uint8_t orig = c;

	/* +++ with a guard time of silence before, between and after */
	if (c == l->s[S_ESCAPE] && l->s[S_ESCAPE] <= 127 &&
	    ((l->plus == 0 && now - l->last_rx >= guard) ||
	     (l->plus > 0 && l->plus < 3 && now - l->last_plus <= guard))) {
		l->plus++;
		l->last_plus = now;
		l->t_escape = l->plus == 3 ? now + guard : 0;
		if (l->plus == 3 && !l->t_escape)
			l->t_escape = 1;
	} else {
		l->plus = 0;
		l->t_escape = 0;
	}
	l->last_rx = now;

	l->call_sent++;
	if (chance(l, l->drop)) {
		l->dropped++;
	} else {
		if (chance(l, l->flip)) {
			c ^= (uint8_t)(1u << (splitmix64(&l->rng) % 8));
			l->flipped++;
		}
		q_push(l->peer, &c, 1);
	}
	if (chance(l, l->insert)) {
		uint8_t r = (uint8_t)splitmix64(&l->rng);

		q_push(l->peer, &r, 1);
		l->inserted++;
	}

	if (!l->cur)
		l->cur = xmalloc(FRAME_MAX);
	if (orig == 0x00)
		frame_done(l);
	else if (!l->cur_over && l->cur_len < FRAME_MAX - 1)
		l->cur[l->cur_len++] = orig;
	else
		l->cur_over = true;
}

/* ------------------------------------------------------------ endpoints */

/* The endpoint went away (socket closed, pty slave closed): a modem
 * whose DTE drops DTR (&D2) hangs up; over a socket or a pty DTR cannot
 * be seen, so the closing stands for it whatever &D says.
 */
static void endpoint_down(struct line *l, uint64_t now)
{
	event("down line=%s", l->id);
	if (l->st == ST_ONLINE || l->st == ST_ONLINE_CMD)
		end_call(l, "close");
	else if (l->st == ST_DIALING)
		abort_dial(l, "close", false);
	else if (l->st == ST_OFFHOOK)
		l->st = ST_IDLE;
	l->up = false;
	l->qlen = 0;
	l->cmd_len = 0;
	l->cmd_overflow = false;
	l->blocked = false;
	if (l->kind == K_PTY) {
		l->recheck = now + PTY_RECHECK_MS * NSEC_PER_MSEC;
	} else {
		close(l->fd);
		l->fd = -1;
		l->gone = true;
	}
}

static void endpoint_up(struct line *l)
{
	l->up = true;
	l->blocked = false;
	l->qlen = 0;
	event("up line=%s", l->id);
}

static void capture(int fd, const uint8_t *buf, size_t n)
{
	/* best effort: a full disk must not stop the exchange */
	if (fd >= 0 && write(fd, buf, n) != (ssize_t)n)
		fprintf(stderr, "sealine-exchange: capture write: %s\n", strerror(errno));
}

/* May the endpoint of l be read now? Not while its peer's queue is full. */
static bool may_read(const struct line *l)
{
	if (!l->up)
		return false;
	if (l->st == ST_ONLINE)
		return l->peer->qlen < q_limit(l->peer);
	return true;
}

static void do_read(struct line *l)
{
	uint8_t buf[READ_CHUNK];
	size_t want = READ_CHUNK;
	ssize_t n;
	uint64_t now;

	if (l->st == ST_ONLINE) {
		size_t lim = q_limit(l->peer);

		if (l->peer->qlen >= lim)
			return;
		if (lim - l->peer->qlen < want)
			want = lim - l->peer->qlen;
	}
	n = read(l->fd, buf, want);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	now = now_ns();
	if (n <= 0) {
		endpoint_down(l, now);
		return;
	}
	l->rx += (uint64_t)n;
	capture(l->cap_tx, buf, (size_t)n);
	for (ssize_t i = 0; i < n; i++) {
		/* the mode may change within a chunk (+++ does not: it
		 * takes effect after the guard time)
		 */
		if (l->st == ST_ONLINE)
			data_byte(l, buf[i], now);
		else
			command_byte(l, buf[i]);
	}
}

static void do_write(struct line *l, uint64_t now)
{
	size_t n = l->qlen, first;
	ssize_t w;

	if (!n || !l->up)
		return;
	if (l->paced) {
		uint64_t bt = byte_ns(l), k;

		if (l->blocked && l->next_free < now)
			l->next_free = now;	/* no burst after a stall */
		if (l->next_free > now)
			return;
		k = (now - l->next_free) / bt + 1;
		if (k < n)
			n = (size_t)k;
	}
	first = l->qcap - l->qhead;
	if (n > first)
		n = first;
	w = write(l->fd, l->q + l->qhead, n);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			l->blocked = true;
			return;
		}
		if (l->kind == K_PTY && errno == EIO)
			return;	/* the slave closed: the next read tells */
		endpoint_down(l, now);
		return;
	}
	l->blocked = (size_t)w < n;
	capture(l->cap_rx, l->q + l->qhead, (size_t)w);
	l->qhead = (l->qhead + (size_t)w) % l->qcap;
	l->qlen -= (size_t)w;
	l->tx += (uint64_t)w;
	if (l->paced)
		l->next_free += (uint64_t)w * byte_ns(l);
}

static int connect_unix(struct line *l)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	strcpy(sa.sun_path, l->path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (errno != ENOENT && errno != ECONNREFUSED && errno != EAGAIN)
			fatal("line %s: connect %s: %s", l->id, l->path, strerror(errno));
		close(fd);
		return -1;
	}
	if (!set_nonblock(fd))
		fatal("fcntl: %s", strerror(errno));
	return fd;
}

static void open_pty(struct line *l)
{
	struct termios tio;
	const char *name;

	l->fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (l->fd < 0)
		fatal("posix_openpt: %s", strerror(errno));
	if (grantpt(l->fd) || unlockpt(l->fd) || !(name = ptsname(l->fd)))
		fatal("pty for line %s: %s", l->id, strerror(errno));
	/* raw, 8N1, no echo: termios set on the master applies to the slave */
	if (tcgetattr(l->fd, &tio))
		fatal("tcgetattr: %s", strerror(errno));
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	if (tcsetattr(l->fd, TCSANOW, &tio))
		fatal("tcsetattr: %s", strerror(errno));
	if (!set_nonblock(l->fd))
		fatal("fcntl: %s", strerror(errno));
	if (unlink(l->path) && errno != ENOENT)
		fatal("line %s: cannot replace %s: %s", l->id, l->path, strerror(errno));
	if (symlink(name, l->path))
		fatal("line %s: symlink %s -> %s: %s", l->id, l->path, name, strerror(errno));
	l->recheck = 0;
}

/* A pty nobody has open reports POLLHUP at once: it is polled on its own,
 * every PTY_RECHECK_MS, until someone opens it.
 */
static void pty_check(struct line *l, uint64_t now)
{
	struct pollfd p = { .fd = l->fd, .events = POLLIN };

	if (poll(&p, 1, 0) < 0)
		return;
	if (p.revents & POLLHUP) {
		l->recheck = now + PTY_RECHECK_MS * NSEC_PER_MSEC;
		return;
	}
	endpoint_up(l);
}

/* ------------------------------------------------------------ control */

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
			fatal("out of memory");
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

	for (size_t i = 0; i < nlines; i++)
		k += sel_match(&lines[i], sel);
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
		quit = true;
	} else if (!strcmp(cmd, "status") && argc <= 2) {
		size_t k = argc == 2 ? sel_count(argv[1]) : nlines;

		if (!k) {
			ctl_reply(c, "error: no line %s", argv[1]);
			return;
		}
		ctl_reply(c, "ok %zu", k);
		for (size_t i = 0; i < nlines; i++) {
			struct line *l = &lines[i];

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
		for (size_t i = 0; i < nlines; i++) {
			struct line *l = &lines[i];

			if (!sel_match(l, argv[1]))
				continue;
			if (cmd[0] == 'b')
				l->f_busy = on;
			else if (cmd[2] == 'a')
				l->f_noanswer = on;
			else
				l->f_nodialtone = on;
		}
		event("control %s sel=%s %s", cmd, argv[1], argv[2]);
		ctl_reply(c, "ok %s %s %s", cmd, argv[1], argv[2]);
	} else if (!strcmp(cmd, "noise") && argc >= 3) {
		unsigned long v[3] = { ULONG_MAX, ULONG_MAX, ULONG_MAX };
		static const char *const names[3] = { "flip=", "drop=", "insert=" };

		for (int a = 2; a < argc; a++) {
			int k;

			for (k = 0; k < 3; k++)
				if (!strncmp(argv[a], names[k], strlen(names[k])))
					break;
			if (k == 3 || !parse_ulong(argv[a] + strlen(names[k]), RATE_MAX, &v[k])) {
				ctl_reply(c, "error: bad noise setting '%s' (flip=R drop=R insert=R, R 0..1000000 per million bytes)",
					  argv[a]);
				return;
			}
		}
		for (size_t i = 0; i < nlines; i++) {
			struct line *l = &lines[i];

			if (!sel_match(l, argv[1]))
				continue;
			if (v[0] != ULONG_MAX)
				l->flip = v[0];
			if (v[1] != ULONG_MAX)
				l->drop = v[1];
			if (v[2] != ULONG_MAX)
				l->insert = v[2];
			event("noise line=%s flip=%lu drop=%lu insert=%lu", l->id, l->flip,
			      l->drop, l->insert);
		}
		ctl_reply(c, "ok noise %s", argv[1]);
	} else if (!strcmp(cmd, "replay") && (argc == 2 || argc == 3)) {
		unsigned long k = 1;

		if (argc == 3 && (!parse_ulong(argv[2], RING_FRAMES, &k) || !k)) {
			ctl_reply(c, "error: replay K must be 1..%d", RING_FRAMES);
			return;
		}
		for (size_t i = 0; i < nlines; i++)
			if (sel_match(&lines[i], argv[1]))
				lines[i].replay_k = (unsigned int)k;
		ctl_reply(c, "ok replay %s armed back=%lu", argv[1], k);
	} else if (!strcmp(cmd, "hangup") && argc == 2) {
		size_t k = 0;

		for (size_t i = 0; i < nlines; i++) {
			struct line *l = &lines[i];

			if (!sel_match(l, argv[1]))
				continue;
			if (l->st == ST_ONLINE || l->st == ST_ONLINE_CMD) {
				/* the network drops the call: both sides lose carrier */
				result(l, RC_NO_CARRIER);
				end_call(l, "control");
				k++;
			} else if (l->st == ST_DIALING) {
				abort_dial(l, "control", true);
				k++;
			} else if (l->st == ST_RINGING) {
				struct line *caller = l->peer;

				abort_dial(caller, "control", true);
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

static void ctl_open(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		fatal("--control path too long (max %zu): %s", sizeof(sa.sun_path) - 1, path);
	strcpy(sa.sun_path, path);
	ctl_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl_listen < 0)
		fatal("socket: %s", strerror(errno));
	unlink(path);
	if (bind(ctl_listen, (struct sockaddr *)&sa, sizeof(sa)) || listen(ctl_listen, 8))
		fatal("--control %s: %s", path, strerror(errno));
	ctl_path = path;
	for (int i = 0; i < CTL_CLIENTS_MAX; i++)
		clients[i].fd = -1;
}

/* The control socket's pollfds from pfd on; returns how many. */
static size_t ctl_pollfds(struct pollfd *pfd)
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
static void ctl_handle(const struct pollfd *pfd, size_t n)
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
static void ctl_flush(void)
{
	for (int i = 0; i < CTL_CLIENTS_MAX; i++)
		if (clients[i].fd >= 0 && clients[i].out_len)
			ctl_write(&clients[i]);
}

/* ------------------------------------------------------------ set-up */

static void usage(FILE *f)
{
	fputs(
"NAME\n"
"    sealine-exchange - a simulated telephone exchange with Hayes modems\n"
"\n"
"SYNOPSIS\n"
"    sealine-exchange --line NUMBER=unix:PATH|pty:LINK[,OPT...] ... [OPTIONS]\n"
"    sealine-exchange --lines-file FILE [OPTIONS]\n"
"\n"
"DESCRIPTION\n"
"    Serves serial lines, each with an emulated Hayes-compatible modem, and\n"
"    switches calls between them by telephone number: the program under test\n"
"    on each line talks AT commands, dials, rings, answers and then has a\n"
"    transparent data connection to the other end, as with real modems on a\n"
"    telephone network. Used by sealine's TSP tests (QEMU guest UARTs, host\n"
"    pseudo-terminals for load tests). One poll() loop; nothing sleeps.\n"
"\n"
"    Several lines may share a NUMBER: a hunt group. A call to it rings the\n"
"    first line (in command-line order) that is idle (on hook, not ringing,\n"
"    not in a call, not forced busy); if there is none the caller gets BUSY.\n"
"\n"
"LINES\n"
"    NUMBER=unix:PATH\n"
"        Connect as a client to the unix stream socket PATH (a QEMU socket\n"
"        chardev with server=on), retrying every 20 ms for up to\n"
"        --connect-timeout seconds (all such lines are tried in every round,\n"
"        since QEMU with wait=on opens its sockets one after the other). When\n"
"        QEMU closes it the line stays down; 0.3 s after all unix lines are\n"
"        down the exchange exits (status 0).\n"
"    NUMBER=pty:LINK\n"
"        Create a pseudo-terminal (posix_openpt), set it raw 8N1 without echo\n"
"        from the master side, and make LINK a symlink to the slave (an\n"
"        existing LINK is replaced; removed again at exit). The program under\n"
"        test opens LINK. Closing it is the end of the endpoint (see DTR);\n"
"        the line may be opened again.\n"
"    NUMBER is 1 to 20 of 0-9 * #. Options after the spec, comma separated:\n"
"    baud=N (speed of this line's modem, default --baud), pace (pace calls\n"
"    on this line), flip=R, drop=R, insert=R (impairments, see below), busy,\n"
"    noanswer (forced, as with the control commands).\n"
"    Lines of the same NUMBER are numbered 0, 1, ... in order: the line's id\n"
"    is NUMBER-INDEX (e.g. 200-1), in the log, the control interface and\n"
"    capture file names.\n"
"\n"
"OPTIONS\n"
"    --line SPEC        a line, as above; may be repeated\n"
"    --lines-file FILE  one SPEC per line; blank lines and lines starting\n"
"                       with # are ignored\n"
"    --baud N           default modem speed (CONNECT N), default 9600. A call\n"
"                       runs at the lower speed of its two lines.\n"
"    --pace             pace every call at its speed, 10 bits per byte (8N1),\n"
"                       per direction; default: bytes relayed at once\n"
"    --ring-interval S  seconds between RINGs (fractions allowed), default 6\n"
"    --no-answer-rings N  after N unanswered rings the caller gets NO ANSWER\n"
"                       (default 0: only the caller's S7 limits ringing)\n"
"    --unknown-delay S  how long a call to an unassigned number takes to\n"
"                       fail with NO CARRIER (the intercept), default 1\n"
"    --seed N           seed of the impairment PRNG (default 1); each line's\n"
"                       generator is derived from it and the line's position\n"
"    --capture DIR      write every byte each line's endpoint sent to\n"
"                       DIR/NUMBER-INDEX.tx and every byte delivered to it\n"
"                       to DIR/NUMBER-INDEX.rx (commands, results, data)\n"
"    --control PATH     listen on the unix stream socket PATH for control\n"
"                       commands (see CONTROL)\n"
"    --log FILE         write the event log to FILE (default: stdout)\n"
"    --connect-timeout S  give up on unix lines after S seconds (default 30)\n"
"    -h, --help         this manual\n"
"\n"
"MODEM EMULATION\n"
"    Command mode: a command line starts with AT (any case) and ends with\n"
"    the S3 character (CR); characters before AT are ignored, S5 (BS)\n"
"    deletes, a LF after CR is ignored, \"A/\" repeats the last line at once.\n"
"    Spaces are ignored. Lines over 255 characters give ERROR. Several\n"
"    commands may follow one AT (ATE0V1Q0&D2); on the first bad one the\n"
"    rest is skipped and ERROR is the result. Commands:\n"
"      Z, &F        factory settings (E1 V1 Q0 X4 &D2, S0=0 S2=43 S3=13 S4=10\n"
"                   S5=8 S7=50 S12=50, caller ID off); Z in online-command\n"
"                   mode hangs up first\n"
"      E0/E1        command echo off/on      V0/V1  numeric/verbose results\n"
"      Q0/Q1        results on/off           X0-X4  accepted (results as X4)\n"
"      L0-3, M0-3, &C0/1, &K0-6   accepted, no effect\n"
"      &D0-3        accepted and stored; DTR cannot be seen over a socket or\n"
"                   a pty: the endpoint closing acts as DTR dropping (&D2)\n"
"      Sn=v, Sn?    S registers 0-39 (v 0-255; S1 counts rings, read-only).\n"
"                   Used: S0 auto-answer after n rings (0: off), S2 escape\n"
"                   character (>127 disables), S3 CR, S4 LF, S5 BS, S7\n"
"                   seconds to wait for the callee to answer, S12 escape\n"
"                   guard time in 1/50 s\n"
"      +VCID=0|1, #CID=0|1, +VCID?, #CID?, +VCID=?  caller-ID delivery\n"
"      D[T|P]NUMBER dial; digits * # kept, T P W , - ( ) @ ! and spaces\n"
"                   ignored; the rest of the line is the dial string\n"
"      A            answer a ringing call (otherwise NO CARRIER)\n"
"      H, H0        hang up (in online-command mode: end the call)\n"
"      H1           off hook: callers get BUSY until H0 or Z\n"
"      O            back to data mode after +++ (otherwise NO CARRIER)\n"
"      I0-I9        identification (I3 names the line, I4 gives its speed)\n"
"    anything else: ERROR.\n"
"    Result codes (V1 text framed by CR LF / V0 number and CR): OK 0,\n"
"    CONNECT <speed> 1 (5, 10, 11, 12 for 1200, 2400, 4800, 9600), RING 2,\n"
"    NO CARRIER 3, ERROR 4, NO DIALTONE 6, BUSY 7, NO ANSWER 8.\n"
"\n"
"    Calling: an unassigned number gives NO CARRIER after --unknown-delay;\n"
"    a number whose lines are all busy gives BUSY at once; otherwise the\n"
"    callee gets RING at once and every --ring-interval, and, with caller ID\n"
"    on, halfway between the first and second RING:\n"
"      CR LF DATE = MMDD CR LF TIME = HHMM CR LF NMBR = <caller> CR LF\n"
"      NAME = O CR LF\n"
"    (local time; NAME \"O\": unavailable). ATA, or S0 rings, answers: both\n"
"    sides get CONNECT <speed> and are in data mode. No answer within the\n"
"    caller's S7 seconds (or --no-answer-rings rings): the caller gets NO\n"
"    ANSWER and the ringing stops. Any character but LF from the caller\n"
"    while it waits aborts the call (NO CARRIER). ATD from a line that is\n"
"    ringing gives NO DIALTONE. A line whose endpoint is not connected (pty\n"
"    not open) is idle to the exchange: it rings, unheard, and never answers.\n"
"    Data mode: bytes are relayed both ways (paced, impaired as set). Escape:\n"
"    S12 guard time of silence, three S2 characters (each within the guard\n"
"    time of the previous; they are relayed too), guard time -> OK and\n"
"    online-command mode, the call stays up: ATO returns (CONNECT), ATH\n"
"    ends it. When a side hangs up (ATH, Z, its endpoint closing, or the\n"
"    control hangup) the other gets NO CARRIER and is back in command mode.\n"
"\n"
"IMPAIRMENTS\n"
"    Per line, on the bytes its endpoint sends in a call: flip=R (one random\n"
"    bit of a byte inverted), drop=R (byte lost), insert=R (a random byte\n"
"    added after it), each R per million bytes, from a seeded PRNG (--seed).\n"
"    Replay: the control command replay SEL [K] arms a one-shot replay: when\n"
"    the line's next frame (bytes up to a 0x00 delimiter, as in sealine's\n"
"    COBS framing) has passed, the frame K back (1: that frame) is sent to\n"
"    the peer once more.\n"
"\n"
"CONTROL\n"
"    Text commands, one per line; every answer starts with \"ok\" or \"error:\".\n"
"    SEL is a NUMBER (all its lines) or a line id NUMBER-INDEX.\n"
"      ping                          ok pong\n"
"      help                          ok <command list>\n"
"      status [SEL]                  \"ok N\", then N lines:\n"
"          ID state=S peer=ID|- endpoint=up|down rx=N tx=N busy=on|off\n"
"          noanswer=on|off flip=R drop=R insert=R flipped=N dropped=N\n"
"          inserted=N replayed=N\n"
"          (S: idle offhook dialing ringing online online-command; rx: bytes\n"
"          from the endpoint, tx: bytes to it, since start)\n"
"      busy SEL on|off               callers get BUSY\n"
"      noanswer SEL on|off           rings are not delivered (caller: NO ANSWER)\n"
"      nodialtone SEL on|off         ATD gives NO DIALTONE\n"
"      noise SEL [flip=R] [drop=R] [insert=R]\n"
"      replay SEL [K]                arm a replay (K 1-32, default 1)\n"
"      hangup SEL                    drop the line's call or ringing: NO CARRIER\n"
"                                    to both sides\n"
"      quit                          exit (status 0)\n"
"\n"
"EVENT LOG\n"
"    One event per line: \"<unix time>.<ms> <event> key=value ...\". Stable:\n"
"      start lines=N\n"
"      up line=ID                     endpoint connected / pty opened\n"
"      down line=ID                   endpoint closed\n"
"      dial line=ID to=NUMBER\n"
"      unknown line=ID to=NUMBER      unassigned number: NO CARRIER\n"
"      busy line=ID to=NUMBER\n"
"      nodialtone line=ID to=NUMBER\n"
"      ring line=ID from=ID count=N delivered=yes|no\n"
"      cid line=ID nmbr=NUMBER\n"
"      answer line=ID how=ata|auto rings=N\n"
"      connect caller=ID callee=ID speed=N paced=yes|no\n"
"      noanswer line=ID to=ID rings=N  (line: the caller)\n"
"      abort line=ID to=NUMBER how=key|close|control\n"
"      escape line=ID                 +++ accepted: online-command mode\n"
"      online line=ID                 ATO\n"
"      hangup caller=ID callee=ID by=ID how=ath|atz|close|control\n"
"             caller_sent=N callee_sent=N secs=S.mmm\n"
"      replay line=ID to=ID back=K bytes=N\n"
"      noise line=ID flip=R drop=R insert=R\n"
"      control CMD sel=SEL on|off\n"
"      exit\n"
"\n"
"EXIT STATUS\n"
"    0 after quit, SIGINT/SIGTERM, or all unix lines closed; 1 on errors\n"
"    (bad options, a unix line that never accepted, ...); 2 on usage errors.\n"
"\n"
"EXAMPLES\n"
"    Two numbers and a hunt group of two lines, on ptys:\n"
"      sealine-exchange --line 100=pty:/tmp/l100 --line 200=pty:/tmp/l200a \\\n"
"          --line 200=pty:/tmp/l200b --ring-interval 1 --control /tmp/ex.ctl\n"
"      then on /tmp/l100: ATE0V1\\r -> OK, ATDT200\\r -> CONNECT 9600\n"
"    Two QEMU guest UARTs at 2400 baud, paced, 1 flipped bit in 10^5:\n"
"      sealine-exchange --line 1=unix:/run/vm/s1,flip=10 \\\n"
"          --line 2=unix:/run/vm/s2 --baud 2400 --pace --capture /tmp/cap\n"
"    Control: echo 'busy 200 on' | socat - UNIX-CONNECT:/tmp/ex.ctl\n",
	f);
}

static void add_line(const char *spec, const char *where)
{
	char *copy = strdup(spec), *eq, *colon, *opt, *save = NULL;
	struct line *l;

	if (!copy)
		fatal("out of memory");
	eq = strchr(copy, '=');
	if (!eq)
		fatal("%sline '%s': expected NUMBER=unix:PATH or NUMBER=pty:LINK", where, spec);
	*eq = '\0';
	if (!valid_number(copy))
		fatal("%sline '%s': bad number '%s' (1-%d of 0-9 * #)", where, spec, copy,
		      NUMBER_MAX);
	colon = strchr(eq + 1, ':');
	if (!colon)
		fatal("%sline '%s': expected unix:PATH or pty:LINK after '='", where, spec);
	*colon = '\0';
	if (nlines == LINES_MAX)
		fatal("too many lines (max %d)", LINES_MAX);
	if (nlines == lines_cap) {
		lines_cap = lines_cap ? lines_cap * 2 : 16;
		lines = realloc(lines, lines_cap * sizeof(*lines));
		if (!lines)
			fatal("out of memory");
	}
	l = &lines[nlines];
	memset(l, 0, sizeof(*l));
	snprintf(l->number, sizeof(l->number), "%s", copy);
	if (!strcmp(eq + 1, "unix"))
		l->kind = K_UNIX;
	else if (!strcmp(eq + 1, "pty"))
		l->kind = K_PTY;
	else
		fatal("%sline '%s': unknown kind '%s' (unix or pty)", where, spec, eq + 1);
	opt = strtok_r(colon + 1, ",", &save);
	if (!opt || !*opt)
		fatal("%sline '%s': empty path", where, spec);
	l->path = strdup(opt);
	if (!l->path)
		fatal("out of memory");
	if (l->kind == K_UNIX && strlen(l->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		fatal("%sline '%s': socket path too long", where, spec);
	l->baud = default_baud;
	l->pace = pace_all;
	while ((opt = strtok_r(NULL, ",", &save))) {
		char *val = strchr(opt, '=');
		unsigned long *rate = NULL;

		if (val)
			*val++ = '\0';
		if (!strcmp(opt, "pace") && !val)
			l->pace = true;
		else if (!strcmp(opt, "busy") && !val)
			l->f_busy = true;
		else if (!strcmp(opt, "noanswer") && !val)
			l->f_noanswer = true;
		else if (!strcmp(opt, "baud") && val) {
			if (!parse_ulong(val, BAUD_MAX, &l->baud) || l->baud < 10)
				fatal("%sline '%s': bad baud '%s' (10..%lu)", where, spec, val, BAUD_MAX);
		} else if ((!strcmp(opt, "flip") && (rate = &l->flip)) ||
			   (!strcmp(opt, "drop") && (rate = &l->drop)) ||
			   (!strcmp(opt, "insert") && (rate = &l->insert))) {
			if (!val || !parse_ulong(val, RATE_MAX, rate))
				fatal("%sline '%s': bad %s rate (0..%lu per million bytes)", where,
				      spec, opt, RATE_MAX);
		} else {
			fatal("%sline '%s': unknown option '%s' (baud=N pace flip=R drop=R insert=R busy noanswer)",
			      where, spec, opt);
		}
	}
	for (size_t i = 0; i < nlines; i++) {
		if (!strcmp(lines[i].number, l->number))
			l->index++;
		if (!strcmp(lines[i].path, l->path))
			fatal("%sline '%s': path %s used twice", where, spec, l->path);
	}
	snprintf(l->id, sizeof(l->id), "%s-%u", l->number, l->index);
	l->fd = -1;
	l->cap_tx = l->cap_rx = -1;
	factory(l);
	nlines++;
	free(copy);
}

static void read_lines_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[1024], where[PATH_MAX + 32];
	unsigned long no = 0;

	if (!f)
		fatal("--lines-file %s: %s", path, strerror(errno));
	while (fgets(buf, sizeof(buf), f)) {
		char *s = buf, *e;

		no++;
		e = s + strlen(s);
		while (e > s && isspace((unsigned char)e[-1]))
			*--e = '\0';
		while (isspace((unsigned char)*s))
			s++;
		if (!*s || *s == '#')
			continue;
		snprintf(where, sizeof(where), "%s:%lu: ", path, no);
		add_line(s, where);
	}
	if (ferror(f))
		fatal("--lines-file %s: %s", path, strerror(errno));
	fclose(f);
}

static int open_capture(const struct line *l, const char *ext)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s.%s", capture_dir, l->id, ext) >=
	    sizeof(path))
		fatal("--capture path too long");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fatal("cannot create %s: %s", path, strerror(errno));
	return fd;
}

/* 800 lines with captures need some 2,500 descriptors. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		fprintf(stderr, "sealine-exchange: warning: cannot raise RLIMIT_NOFILE: %s\n",
			strerror(errno));
	if (rl.rlim_cur != RLIM_INFINITY && nlines * (capture_dir ? 3 : 1) + 64 > rl.rlim_cur)
		fatal("%zu lines need more file descriptors than the limit %llu", nlines,
		      (unsigned long long)rl.rlim_cur);
}

static void connect_round(uint64_t now)
{
	bool waiting = false;

	for (size_t i = 0; i < nlines; i++) {
		struct line *l = &lines[i];

		if (l->kind != K_UNIX || l->fd >= 0 || l->gone)
			continue;
		l->fd = connect_unix(l);
		if (l->fd >= 0)
			endpoint_up(l);
		else
			waiting = true;
	}
	if (waiting && now - t_start >= connect_timeout * NSEC_PER_SEC) {
		for (size_t i = 0; i < nlines; i++)
			if (lines[i].kind == K_UNIX && lines[i].fd < 0 && !lines[i].gone)
				fatal("gave up after %lu s waiting for %s (line %s) to accept",
				      connect_timeout, lines[i].path, lines[i].id);
	}
}

static void on_signal(int sig)
{
	got_signal = sig;
}

static void cleanup(void)
{
	for (size_t i = 0; i < nlines; i++) {
		struct line *l = &lines[i];

		if (l->kind == K_PTY && l->fd >= 0) {
			char target[PATH_MAX];
			ssize_t n = readlink(l->path, target, sizeof(target) - 1);
			const char *name = ptsname(l->fd);

			/* remove the link only if it is still ours */
			if (n > 0 && name) {
				target[n] = '\0';
				if (!strcmp(target, name))
					unlink(l->path);
			}
		}
	}
	if (ctl_path)
		unlink(ctl_path);
}

/* ------------------------------------------------------------ main loop */

static void timers(uint64_t now)
{
	for (size_t i = 0; i < nlines; i++) {
		struct line *l = &lines[i];

		if (l->st == ST_RINGING && l->t_cid && now >= l->t_cid) {
			l->t_cid = 0;
			if (!l->f_noanswer)
				send_cid(l);
		}
		if (l->st == ST_RINGING && l->t_ring && now >= l->t_ring)
			ring(l, now);
		if (l->st == ST_DIALING && l->t_deadline && now >= l->t_deadline) {
			l->t_deadline = 0;
			if (!l->peer) {
				event("unknown line=%s to=%s", l->id, l->dialled);
				l->st = ST_IDLE;
				l->caller = false;
				result(l, RC_NO_CARRIER);
			} else {
				struct line *m = l->peer;

				event("noanswer line=%s to=%s rings=%u", l->id, m->id, m->rings);
				stop_ringing(m);
				l->st = ST_IDLE;
				l->peer = NULL;
				l->caller = false;
				result(l, RC_NO_ANSWER);
			}
		}
		if (l->st == ST_ONLINE && l->t_escape && now >= l->t_escape) {
			l->t_escape = 0;
			l->plus = 0;
			l->st = ST_ONLINE_CMD;
			l->cmd_len = 0;
			event("escape line=%s", l->id);
			result(l, RC_OK);
		}
		if (l->kind == K_PTY && !l->up && now >= l->recheck)
			pty_check(l, now);
	}
}

static uint64_t next_wake(uint64_t now)
{
	uint64_t t = UINT64_MAX;

#define WAKE(x) do { if ((x) && (x) < t) t = (x); } while (0)
	for (size_t i = 0; i < nlines; i++) {
		const struct line *l = &lines[i];

		if (l->st == ST_RINGING) {
			WAKE(l->t_ring);
			WAKE(l->t_cid);
		}
		if (l->st == ST_DIALING)
			WAKE(l->t_deadline);
		if (l->st == ST_ONLINE)
			WAKE(l->t_escape);
		if (l->kind == K_PTY && !l->up)
			WAKE(l->recheck);
		if (l->kind == K_UNIX && l->fd < 0 && !l->gone)
			WAKE(now + CONNECT_RETRY_MS * NSEC_PER_MSEC);
		if (l->up && l->qlen && l->paced && !l->blocked) {
			uint64_t due = l->next_free;

			if (due < now + MIN_PACED_WAKE_NS)
				due = now + MIN_PACED_WAKE_NS;
			WAKE(due);
		}
	}
#undef WAKE
	return t;
}

static bool all_unix_gone(void)
{
	if (!have_unix)
		return false;
	for (size_t i = 0; i < nlines; i++)
		if (lines[i].kind == K_UNIX && !lines[i].gone)
			return false;
	return true;
}

static void run(void)
{
	struct pollfd *pfd = xmalloc((nlines + CTL_CLIENTS_MAX + 1) * sizeof(*pfd));
	struct line **who = xmalloc(nlines * sizeof(*who));

	uint64_t exit_at = UINT64_MAX;

	while (!quit && !got_signal) {
		uint64_t now = now_ns(), wake;
		size_t n = 0, nl;
		int timeout = -1, r;

		/* once QEMU has closed every unix line, the other lines get a
		 * moment to read their NO CARRIER: a pty's reader loses what it
		 * has not read when the master closes
		 */
		if (exit_at == UINT64_MAX && all_unix_gone())
			exit_at = now + EXIT_GRACE_MS * NSEC_PER_MSEC;
		if (now >= exit_at)
			break;

		connect_round(now);
		timers(now);
		for (size_t i = 0; i < nlines; i++)
			do_write(&lines[i], now);

		for (size_t i = 0; i < nlines; i++) {
			struct line *l = &lines[i];
			short ev = 0;

			if (!l->up)
				continue;
			if (may_read(l))
				ev |= POLLIN;
			if (l->qlen && (l->blocked || !l->paced))
				ev |= POLLOUT;
			/* always polled: a pty's HUP and a socket's close show
			 * even without POLLIN
			 */
			pfd[n] = (struct pollfd){ .fd = l->fd, .events = ev };
			who[n++] = l;
		}
		nl = n;
		n += ctl_pollfds(pfd + n);
		wake = next_wake(now);
		if (exit_at < wake)
			wake = exit_at;
		if (wake != UINT64_MAX) {
			uint64_t d = wake > now ? wake - now : 0;

			timeout = (int)((d + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC);
		}
		r = poll(pfd, n, timeout);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll: %s", strerror(errno));
		}
		now = now_ns();
		for (size_t i = 0; i < nl; i++) {
			struct line *l = who[i];
			short re = pfd[i].revents;

			if (!l->up)
				continue;	/* went down while handling another */
			if (re & POLLOUT)
				l->blocked = false;
			if (re & (POLLIN | POLLERR)) {
				do_read(l);
			} else if (re & POLLHUP) {
				if (l->kind == K_PTY || !may_read(l))
					endpoint_down(l, now);
			}
		}
		ctl_handle(pfd + nl, n - nl);
	}
	free(pfd);
	free(who);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "line", required_argument, NULL, 'l' },
		{ "lines-file", required_argument, NULL, 'f' },
		{ "baud", required_argument, NULL, 'b' },
		{ "pace", no_argument, NULL, 'p' },
		{ "ring-interval", required_argument, NULL, 'r' },
		{ "no-answer-rings", required_argument, NULL, 'n' },
		{ "unknown-delay", required_argument, NULL, 'u' },
		{ "seed", required_argument, NULL, 's' },
		{ "capture", required_argument, NULL, 'c' },
		{ "control", required_argument, NULL, 'C' },
		{ "log", required_argument, NULL, 'L' },
		{ "connect-timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char **specs = xmalloc((size_t)argc * sizeof(*specs));
	const char **files = xmalloc((size_t)argc * sizeof(*files));
	size_t nspecs = 0, nfiles = 0;
	const char *control = NULL, *log_path = NULL;
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': specs[nspecs++] = optarg; break;
		case 'f': files[nfiles++] = optarg; break;
		case 'b':
			if (!parse_ulong(optarg, BAUD_MAX, &default_baud) || default_baud < 10)
				fatal("--baud: expected 10..%lu, got '%s'", BAUD_MAX, optarg);
			break;
		case 'p': pace_all = true; break;
		case 'r':
			if (!parse_secs(optarg, &ring_ns))
				fatal("--ring-interval: expected seconds (0.001..86400), got '%s'", optarg);
			break;
		case 'n':
			if (!parse_ulong(optarg, 255, &no_answer_rings))
				fatal("--no-answer-rings: expected 0..255, got '%s'", optarg);
			break;
		case 'u':
			if (!parse_secs(optarg, &unknown_ns))
				fatal("--unknown-delay: expected seconds (0.001..86400), got '%s'", optarg);
			break;
		case 's':
			if (!parse_ulong(optarg, ULONG_MAX, &v))
				fatal("--seed: expected a number, got '%s'", optarg);
			seed = v;
			break;
		case 'c': capture_dir = optarg; break;
		case 'C': control = optarg; break;
		case 'L': log_path = optarg; break;
		case 't':
			if (!parse_ulong(optarg, 86400, &connect_timeout))
				fatal("--connect-timeout: expected seconds, got '%s'", optarg);
			break;
		case 'h':
			free(specs);
			free(files);
			usage(stdout);
			return 0;
		default:
			free(specs);
			free(files);
			fputs("Try 'sealine-exchange --help'.\n", stderr);
			return 2;
		}
	}
	if (optind < argc) {
		free(specs);
		free(files);
		fprintf(stderr, "sealine-exchange: unexpected argument '%s'\nTry 'sealine-exchange --help'.\n",
			argv[optind]);
		return 2;
	}
	/* the global settings first, whatever the order on the command line */
	for (size_t i = 0; i < nspecs; i++)
		add_line(specs[i], "--");
	for (size_t i = 0; i < nfiles; i++)
		read_lines_file(files[i]);
	free(specs);
	free(files);
	if (!nlines) {
		fputs("sealine-exchange: no lines (--line or --lines-file)\nTry 'sealine-exchange --help'.\n",
		      stderr);
		return 2;
	}

	log_file = stdout;
	if (log_path) {
		log_file = fopen(log_path, "a");
		if (!log_file)
			fatal("--log %s: %s", log_path, strerror(errno));
	}
	setvbuf(log_file, NULL, _IOLBF, 0);
	if (capture_dir) {
		struct stat st;

		if (stat(capture_dir, &st) || !S_ISDIR(st.st_mode))
			fatal("--capture %s: not a directory", capture_dir);
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	t_start = now_ns();
	atexit(cleanup);

	for (size_t i = 0; i < nlines; i++) {
		struct line *l = &lines[i];
		uint64_t x = seed ^ (0xA5A5A5A5ULL * (uint64_t)(i + 1));

		l->rng = splitmix64(&x);
		if (capture_dir) {
			l->cap_tx = open_capture(l, "tx");
			l->cap_rx = open_capture(l, "rx");
		}
		if (l->kind == K_PTY)
			open_pty(l);
		else
			have_unix = true;
	}
	if (control)
		ctl_open(control);
	event("start lines=%zu", nlines);
	run();
	/* what is still queued (the NO CARRIER after QEMU went away) gets
	 * one last chance, without waiting for slow readers
	 */
	for (size_t i = 0; i < nlines; i++)
		do_write(&lines[i], UINT64_MAX);
	ctl_flush();
	event("exit");
	return 0;
}
