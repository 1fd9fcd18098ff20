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
 * Files: sealine-exchange.c (options, set-up, the poll() loop), ex_line.c
 * (queues, data path, endpoints), ex_modem.c (AT commands), ex_call.c (the
 * exchange), ex_control.c (the control socket); exchange.h (limits, types).
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
#include <time.h>
#include <unistd.h>

#include "exchange.h"

struct line *ex_lines;
size_t ex_nlines;
static size_t lines_cap;
FILE *ex_log;
static const char *capture_dir;
static unsigned long default_baud = DEFAULT_BAUD;
static bool pace_all;
uint64_t ex_ring_ns = DEFAULT_RING_MS * NSEC_PER_MSEC;
uint64_t ex_unknown_ns = DEFAULT_UNKNOWN_MS * NSEC_PER_MSEC;
unsigned long ex_no_answer_rings;	/* 0: only S7 limits ringing */
static unsigned long connect_timeout = DEFAULT_CONNECT_TIMEOUT;
static uint64_t seed = 1;
static uint64_t t_start;
bool ex_quit;
static bool have_unix;
static volatile sig_atomic_t got_signal;

/* ------------------------------------------------------------ helpers */

uint64_t ex_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

void __attribute__((noreturn, format(printf, 1, 2))) ex_fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("sealine-exchange: error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *ex_xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		ex_fatal("out of memory");
	return p;
}

/* One event per line: "<unix time with ms> <event> key=value ...". */
void __attribute__((format(printf, 1, 2))) ex_event(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(ex_log, "%lld.%03ld ", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(ex_log, fmt, ap);
	va_end(ap);
	fputc('\n', ex_log);
}

uint64_t ex_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

bool ex_parse_ulong(const char *s, unsigned long max, unsigned long *out)
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

bool ex_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
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
		ex_fatal("out of memory");
	eq = strchr(copy, '=');
	if (!eq)
		ex_fatal("%sline '%s': expected NUMBER=unix:PATH or NUMBER=pty:LINK", where, spec);
	*eq = '\0';
	if (!valid_number(copy))
		ex_fatal("%sline '%s': bad number '%s' (1-%d of 0-9 * #)", where, spec, copy,
		      NUMBER_MAX);
	colon = strchr(eq + 1, ':');
	if (!colon)
		ex_fatal("%sline '%s': expected unix:PATH or pty:LINK after '='", where, spec);
	*colon = '\0';
	if (ex_nlines == LINES_MAX)
		ex_fatal("too many lines (max %d)", LINES_MAX);
	if (ex_nlines == lines_cap) {
		lines_cap = lines_cap ? lines_cap * 2 : 16;
		ex_lines = realloc(ex_lines, lines_cap * sizeof(*ex_lines));
		if (!ex_lines)
			ex_fatal("out of memory");
	}
	l = &ex_lines[ex_nlines];
	memset(l, 0, sizeof(*l));
	snprintf(l->number, sizeof(l->number), "%s", copy);
	if (!strcmp(eq + 1, "unix"))
		l->kind = K_UNIX;
	else if (!strcmp(eq + 1, "pty"))
		l->kind = K_PTY;
	else
		ex_fatal("%sline '%s': unknown kind '%s' (unix or pty)", where, spec, eq + 1);
	opt = strtok_r(colon + 1, ",", &save);
	if (!opt || !*opt)
		ex_fatal("%sline '%s': empty path", where, spec);
	l->path = strdup(opt);
	if (!l->path)
		ex_fatal("out of memory");
	if (l->kind == K_UNIX && strlen(l->path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		ex_fatal("%sline '%s': socket path too long", where, spec);
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
			if (!ex_parse_ulong(val, BAUD_MAX, &l->baud) || l->baud < 10)
				ex_fatal("%sline '%s': bad baud '%s' (10..%lu)", where, spec, val, BAUD_MAX);
		} else if ((!strcmp(opt, "flip") && (rate = &l->flip)) ||
			   (!strcmp(opt, "drop") && (rate = &l->drop)) ||
			   (!strcmp(opt, "insert") && (rate = &l->insert))) {
			if (!val || !ex_parse_ulong(val, RATE_MAX, rate))
				ex_fatal("%sline '%s': bad %s rate (0..%lu per million bytes)", where,
				      spec, opt, RATE_MAX);
		} else {
			ex_fatal("%sline '%s': unknown option '%s' (baud=N pace flip=R drop=R insert=R busy noanswer)",
			      where, spec, opt);
		}
	}
	for (size_t i = 0; i < ex_nlines; i++) {
		if (!strcmp(ex_lines[i].number, l->number))
			l->index++;
		if (!strcmp(ex_lines[i].path, l->path))
			ex_fatal("%sline '%s': path %s used twice", where, spec, l->path);
	}
	snprintf(l->id, sizeof(l->id), "%s-%u", l->number, l->index);
	l->fd = -1;
	l->cap_tx = l->cap_rx = -1;
	ex_factory(l);
	ex_nlines++;
	free(copy);
}

static void read_lines_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char buf[1024], where[PATH_MAX + 32];
	unsigned long no = 0;

	if (!f)
		ex_fatal("--lines-file %s: %s", path, strerror(errno));
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
		ex_fatal("--lines-file %s: %s", path, strerror(errno));
	fclose(f);
}

static int open_capture(const struct line *l, const char *ext)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s.%s", capture_dir, l->id, ext) >=
	    sizeof(path))
		ex_fatal("--capture path too long");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		ex_fatal("cannot create %s: %s", path, strerror(errno));
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
	if (rl.rlim_cur != RLIM_INFINITY && ex_nlines * (capture_dir ? 3 : 1) + 64 > rl.rlim_cur)
		ex_fatal("%zu lines need more file descriptors than the limit %llu", ex_nlines,
		      (unsigned long long)rl.rlim_cur);
}

static void connect_round(uint64_t now)
{
	bool waiting = false;

	for (size_t i = 0; i < ex_nlines; i++) {
		struct line *l = &ex_lines[i];

		if (l->kind != K_UNIX || l->fd >= 0 || l->gone)
			continue;
		l->fd = ex_connect_unix(l);
		if (l->fd >= 0)
			ex_endpoint_up(l);
		else
			waiting = true;
	}
	if (waiting && now - t_start >= connect_timeout * NSEC_PER_SEC) {
		for (size_t i = 0; i < ex_nlines; i++)
			if (ex_lines[i].kind == K_UNIX && ex_lines[i].fd < 0 && !ex_lines[i].gone)
				ex_fatal("gave up after %lu s waiting for %s (line %s) to accept",
				      connect_timeout, ex_lines[i].path, ex_lines[i].id);
	}
}

static void on_signal(int sig)
{
	got_signal = sig;
}

static void cleanup(void)
{
	for (size_t i = 0; i < ex_nlines; i++) {
		struct line *l = &ex_lines[i];

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
	ex_ctl_cleanup();
}

/* ------------------------------------------------------------ main loop */

static void timers(uint64_t now)
{
	for (size_t i = 0; i < ex_nlines; i++) {
		struct line *l = &ex_lines[i];

		if (l->st == ST_RINGING && l->t_cid && now >= l->t_cid) {
			l->t_cid = 0;
			if (!l->f_noanswer)
				ex_send_cid(l);
		}
		if (l->st == ST_RINGING && l->t_ring && now >= l->t_ring)
			ex_ring(l, now);
		if (l->st == ST_DIALING && l->t_deadline && now >= l->t_deadline) {
			l->t_deadline = 0;
			if (!l->peer) {
				ex_event("unknown line=%s to=%s", l->id, l->dialled);
				l->st = ST_IDLE;
				l->caller = false;
				ex_result(l, RC_NO_CARRIER);
			} else {
				struct line *m = l->peer;

				ex_event("noanswer line=%s to=%s rings=%u", l->id, m->id, m->rings);
				ex_stop_ringing(m);
				l->st = ST_IDLE;
				l->peer = NULL;
				l->caller = false;
				ex_result(l, RC_NO_ANSWER);
			}
		}
		if (l->st == ST_ONLINE && l->t_escape && now >= l->t_escape) {
			l->t_escape = 0;
			l->plus = 0;
			l->st = ST_ONLINE_CMD;
			l->cmd_len = 0;
			ex_event("escape line=%s", l->id);
			ex_result(l, RC_OK);
		}
		if (l->kind == K_PTY && !l->up && now >= l->recheck)
			ex_pty_check(l, now);
	}
}

static uint64_t next_wake(uint64_t now)
{
	uint64_t t = UINT64_MAX;

#define WAKE(x) do { if ((x) && (x) < t) t = (x); } while (0)
	for (size_t i = 0; i < ex_nlines; i++) {
		const struct line *l = &ex_lines[i];

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
	for (size_t i = 0; i < ex_nlines; i++)
		if (ex_lines[i].kind == K_UNIX && !ex_lines[i].gone)
			return false;
	return true;
}

static void run(void)
{
	struct pollfd *pfd = ex_xmalloc((ex_nlines + CTL_CLIENTS_MAX + 1) * sizeof(*pfd));
	struct line **who = ex_xmalloc(ex_nlines * sizeof(*who));

	uint64_t exit_at = UINT64_MAX;

	while (!ex_quit && !got_signal) {
		uint64_t now = ex_now_ns(), wake;
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
		for (size_t i = 0; i < ex_nlines; i++)
			ex_do_write(&ex_lines[i], now);

		for (size_t i = 0; i < ex_nlines; i++) {
			struct line *l = &ex_lines[i];
			short ev = 0;

			if (!l->up)
				continue;
			if (ex_may_read(l))
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
		n += ex_ctl_pollfds(pfd + n);
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
			ex_fatal("poll: %s", strerror(errno));
		}
		now = ex_now_ns();
		for (size_t i = 0; i < nl; i++) {
			struct line *l = who[i];
			short re = pfd[i].revents;

			if (!l->up)
				continue;	/* went down while handling another */
			if (re & POLLOUT)
				l->blocked = false;
			if (re & (POLLIN | POLLERR)) {
				ex_do_read(l);
			} else if (re & POLLHUP) {
				if (l->kind == K_PTY || !ex_may_read(l))
					ex_endpoint_down(l, now);
			}
		}
		ex_ctl_handle(pfd + nl, n - nl);
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
	const char **specs = ex_xmalloc((size_t)argc * sizeof(*specs));
	const char **files = ex_xmalloc((size_t)argc * sizeof(*files));
	size_t nspecs = 0, nfiles = 0;
	const char *control = NULL, *log_path = NULL;
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': specs[nspecs++] = optarg; break;
		case 'f': files[nfiles++] = optarg; break;
		case 'b':
			if (!ex_parse_ulong(optarg, BAUD_MAX, &default_baud) || default_baud < 10)
				ex_fatal("--baud: expected 10..%lu, got '%s'", BAUD_MAX, optarg);
			break;
		case 'p': pace_all = true; break;
		case 'r':
			if (!parse_secs(optarg, &ex_ring_ns))
				ex_fatal("--ring-interval: expected seconds (0.001..86400), got '%s'", optarg);
			break;
		case 'n':
			if (!ex_parse_ulong(optarg, 255, &ex_no_answer_rings))
				ex_fatal("--no-answer-rings: expected 0..255, got '%s'", optarg);
			break;
		case 'u':
			if (!parse_secs(optarg, &ex_unknown_ns))
				ex_fatal("--unknown-delay: expected seconds (0.001..86400), got '%s'", optarg);
			break;
		case 's':
			if (!ex_parse_ulong(optarg, ULONG_MAX, &v))
				ex_fatal("--seed: expected a number, got '%s'", optarg);
			seed = v;
			break;
		case 'c': capture_dir = optarg; break;
		case 'C': control = optarg; break;
		case 'L': log_path = optarg; break;
		case 't':
			if (!ex_parse_ulong(optarg, 86400, &connect_timeout))
				ex_fatal("--connect-timeout: expected seconds, got '%s'", optarg);
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
	if (!ex_nlines) {
		fputs("sealine-exchange: no lines (--line or --lines-file)\nTry 'sealine-exchange --help'.\n",
		      stderr);
		return 2;
	}

	ex_log = stdout;
	if (log_path) {
		ex_log = fopen(log_path, "a");
		if (!ex_log)
			ex_fatal("--log %s: %s", log_path, strerror(errno));
	}
	setvbuf(ex_log, NULL, _IOLBF, 0);
	if (capture_dir) {
		struct stat st;

		if (stat(capture_dir, &st) || !S_ISDIR(st.st_mode))
			ex_fatal("--capture %s: not a directory", capture_dir);
	}
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	t_start = ex_now_ns();
	atexit(cleanup);

	for (size_t i = 0; i < ex_nlines; i++) {
		struct line *l = &ex_lines[i];
		uint64_t x = seed ^ (0xA5A5A5A5ULL * (uint64_t)(i + 1));

		l->rng = ex_splitmix64(&x);
		if (capture_dir) {
			l->cap_tx = open_capture(l, "tx");
			l->cap_rx = open_capture(l, "rx");
		}
		if (l->kind == K_PTY)
			ex_open_pty(l);
		else
			have_unix = true;
	}
	if (control)
		ex_ctl_open(control);
	ex_event("start lines=%zu", ex_nlines);
	run();
	/* what is still queued (the NO CARRIER after QEMU went away) gets
	 * one last chance, without waiting for slow readers
	 */
	for (size_t i = 0; i < ex_nlines; i++)
		ex_do_write(&ex_lines[i], UINT64_MAX);
	ex_ctl_flush();
	ex_event("exit");
	return 0;
}
