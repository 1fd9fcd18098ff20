// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * The Hayes modem driver of both daemons. See modem.h.
 *
 * Why one file of about 1,200 lines: it is one state machine, the AT
 * dialogue with a modem, and every part of it (the serial port, the
 * steps of set-up, dialling and hangup, the result-code parser that must
 * recognise every code split over any read boundary, data mode with its
 * "NO CARRIER" watch) reads and writes the same struct sl_modem; split
 * along its banners, each piece would have to expose that state to the
 * others.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "modem.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* What a modem line says, once classified. */
enum result {
	RES_NONE,		/* echo, blank, informational, garbage */
	RES_OK,
	RES_CONNECT,
	RES_RING,
	RES_NO_CARRIER,
	RES_ERROR,
	RES_NO_DIALTONE,
	RES_BUSY,
	RES_NO_ANSWER,
	RES_REFUSED,	/* DELAYED, BLACKLISTED: the modem will not dial */
};

/* The string a relaying daemon looks for in data mode. */
static const char no_carrier_pattern[] = "\r\nNO CARRIER\r\n";
#define NO_CARRIER_LEN (sizeof(no_carrier_pattern) - 1)

static void wipe(void *p, size_t len)
{
	/* Not optimised away, unlike a memset before free or return. */
	explicit_bzero(p, len);
}

static void mlog(struct sl_modem *m, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void mlog(struct sl_modem *m, int level, const char *fmt, ...)
{
	char msg[256];
	int n;
	va_list ap;

	if (!m->log)
		return;
	n = snprintf(msg, sizeof(msg), "modem %s: ", m->name);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	m->log(m->log_ctx, level, msg);
}

static void copy_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

/* ---- Serial port ------------------------------------------------ */

static const struct {
	unsigned int baud;
	speed_t speed;
} bauds[] = {
	{ 300, B300 }, { 600, B600 }, { 1200, B1200 }, { 2400, B2400 },
	{ 4800, B4800 }, { 9600, B9600 }, { 19200, B19200 },
	{ 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 },
	{ 230400, B230400 }, { 460800, B460800 }, { 500000, B500000 },
	{ 576000, B576000 }, { 921600, B921600 }, { 1000000, B1000000 },
	{ 1152000, B1152000 }, { 1500000, B1500000 }, { 2000000, B2000000 },
	{ 2500000, B2500000 }, { 3000000, B3000000 }, { 3500000, B3500000 },
	{ 4000000, B4000000 },
};

int sl_modem_open_tty(const char *path, unsigned int baud, bool rtscts,
		      int *fd, char *err, size_t err_len)
{
	struct termios t;
	speed_t speed = 0;
	bool found = false;
	int f, ret;

	for (size_t i = 0; i < ARRAY_SIZE(bauds); i++) {
		if (bauds[i].baud == baud) {
			speed = bauds[i].speed;
			found = true;
		}
	}
	if (!found) {
		snprintf(err, err_len,
			 "%s: unsupported baud rate %u (use one of 300, 1200, 2400, 9600, 19200, 38400, 57600, 115200, ... 4000000)",
			 path, baud);
		return -EINVAL;
	}
	f = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (f < 0) {
		ret = -errno;
		snprintf(err, err_len, "%s: open: %s", path, strerror(errno));
		return ret;
	}
	if (!isatty(f)) {
		snprintf(err, err_len, "%s: not a terminal (serial port)",
			 path);
		ret = -ENOTTY;
		goto close_fd;
	}
	if (tcgetattr(f, &t)) {
		ret = -errno;
		snprintf(err, err_len, "%s: tcgetattr: %s", path,
			 strerror(errno));
		goto close_fd;
	}
	cfmakeraw(&t);
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
	t.c_cflag |= CS8 | CREAD | CLOCAL | HUPCL;
	if (rtscts)
		t.c_cflag |= CRTSCTS;
	t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (cfsetispeed(&t, speed) || cfsetospeed(&t, speed) ||
	    tcsetattr(f, TCSANOW, &t)) {
		ret = -errno;
		snprintf(err, err_len, "%s: setting %u baud 8N1 raw: %s", path,
			 baud, strerror(errno));
		goto close_fd;
	}
	/* Whatever the modem said before we came is stale. */
	if (tcflush(f, TCIOFLUSH)) {
		ret = -errno;
		snprintf(err, err_len, "%s: tcflush: %s", path,
			 strerror(errno));
		goto close_fd;
	}
	*fd = f;
	return 0;

close_fd:
	close(f);
	return ret;
}

int sl_modem_tty_clocal(int fd, bool on)
{
	struct termios t;

	if (tcgetattr(fd, &t))
		return -errno;
	if (on)
		t.c_cflag |= CLOCAL;
	else
		t.c_cflag &= ~(tcflag_t)CLOCAL;
	if (tcsetattr(fd, TCSANOW, &t))
		return -errno;
	return 0;
}

int sl_modem_tty_carrier(int fd)
{
	int bits;

	if (ioctl(fd, TIOCMGET, &bits))
		return -errno;
	return !!(bits & TIOCM_CAR);
}

/* ---- Validation ------------------------------------------------- */

const char *sl_modem_check_command(const char *s)
{
	size_t len = strlen(s);

	if (len < 2 || (toupper((unsigned char)s[0]) != 'A' ||
			toupper((unsigned char)s[1]) != 'T'))
		return "does not start with AT";
	if (len > SL_MODEM_CMD_MAX)
		return "is too long for a modem's command buffer (at most 60 characters)";
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return "contains a control or non-ASCII character";
	}
	return NULL;
}

const char *sl_modem_check_number(const char *s)
{
	size_t len = strlen(s), digits = 0;

	if (!len)
		return "is empty";
	if (len > SL_MODEM_NUMBER_MAX)
		return "is too long (at most 40 characters)";
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (isdigit((unsigned char)c)) {
			digits++;
			continue;
		}
		if (c == ';')
			return "contains ';', which would leave the modem in command mode";
		if (!strchr("*#,WwPp!@ABCDabcd-() ", c))
			return "contains a character that is no dial digit or modifier (allowed: 0-9 * # , W P ! @ A-D and - ( ) space)";
	}
	if (!digits && !strpbrk(s, "*#ABCDabcd"))
		return "has no digit to dial";
	return NULL;
}

/* ---- Events ----------------------------------------------------- */

static struct sl_modem_event *ev_add(struct sl_modem_events *ev,
				     enum sl_modem_event_type type)
{
	struct sl_modem_event *e;

	/* Callers make room first (input stops early); this only guards
	 * against a bug overflowing the array. */
	if (ev->n >= SL_MODEM_MAX_EVENTS)
		return NULL;
	e = &ev->ev[ev->n++];
	memset(e, 0, sizeof(*e));
	e->type = type;
	return e;
}

static void ev_reset(struct sl_modem_events *ev)
{
	ev->n = 0;
}

/* A dialled number goes into the events of its call. */
static struct sl_modem_event *ev_call(struct sl_modem *m,
				      struct sl_modem_events *ev,
				      enum sl_modem_event_type type)
{
	struct sl_modem_event *e = ev_add(ev, type);

	if (e && m->state == SL_MODEM_DIALLING)
		copy_str(e->number, sizeof(e->number), m->number);
	return e;
}

static void forget_number(struct sl_modem *m)
{
	wipe(m->number, sizeof(m->number));
}

static void flush_cid(struct sl_modem *m, struct sl_modem_events *ev)
{
	struct sl_modem_event *e;

	if (!m->cid_pending)
		return;
	e = ev_add(ev, SL_MODEM_EV_CALLER_ID);
	if (e)
		e->cid = m->cid;
	wipe(&m->cid, sizeof(m->cid));
	m->cid_pending = false;
	m->cid_deadline = 0;
}

/* ---- Output ----------------------------------------------------- */

static void go_off(struct sl_modem *m)
{
	m->state = SL_MODEM_OFF;
	m->step = SL_MODEM_STEP_NONE;
	m->deadline = 0;
	m->after_write_ms = 0;
	m->out_len = 0;
	forget_number(m);
}

static void io_error(struct sl_modem *m, const char *what, int err,
		     struct sl_modem_events *ev)
{
	struct sl_modem_event *e = ev_add(ev, SL_MODEM_EV_IO_ERROR);

	if (e) {
		e->err = err;
		copy_str(e->text, sizeof(e->text), what);
	}
	go_off(m);
}

/* 0, or -EIO after an IO_ERROR event. */
static int flush_out(struct sl_modem *m, int64_t now,
		     struct sl_modem_events *ev)
{
	while (m->out_len) {
		ssize_t n = write(m->fd, m->out, m->out_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			io_error(m, "write", n < 0 ? errno : EIO, ev);
			return -EIO;
		}
		memmove(m->out, m->out + n, m->out_len - (size_t)n);
		m->out_len -= (size_t)n;
	}
	/* Timeouts count from when the command has left, so a slow line
	 * does not eat into the modem's time. */
	if (m->after_write_ms) {
		m->deadline = now + m->after_write_ms;
		m->after_write_ms = 0;
	}
	return 0;
}

/* Queue bytes and write what the kernel takes. The step's deadline is
 * wait_ms after the last byte left (or a write timeout before that). */
static int send_raw(struct sl_modem *m, enum sl_modem_step step,
		    const char *bytes, size_t len, int64_t wait_ms,
		    int64_t now, struct sl_modem_events *ev)
{
	if (len > sizeof(m->out) - m->out_len) {
		/* Only a stuck line gets here: commands are short and a
		 * new step discards the old step's bytes. */
		io_error(m, "write (output queue full)", ENOBUFS, ev);
		return -EIO;
	}
	if (!m->out_len)
		m->out_since = now;
	memcpy(m->out + m->out_len, bytes, len);
	m->out_len += len;
	m->step = step;
	m->deadline = now + SL_MODEM_WRITE_TIMEOUT_MS;
	m->after_write_ms = wait_ms;
	return flush_out(m, now, ev);
}

static int send_cmd(struct sl_modem *m, enum sl_modem_step step,
		    const char *cmd, int64_t wait_ms, int64_t now,
		    struct sl_modem_events *ev)
{
	char buf[SL_MODEM_CMD_MAX + 2];
	int n;

	copy_str(m->cmd, sizeof(m->cmd), cmd);
	n = snprintf(buf, sizeof(buf), "%s\r", cmd);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -EINVAL;	/* callers check lengths; not reached */
	return send_raw(m, step, buf, (size_t)n, wait_ms, now, ev);
}

/* ---- Setup ------------------------------------------------------ */

void sl_modem_setup(struct sl_modem *m, const char *name, int fd,
		    sl_modem_log_fn log, void *log_ctx)
{
	memset(m, 0, sizeof(*m));
	copy_str(m->name, sizeof(m->name), name);
	m->fd = fd;
	m->is_tty = isatty(fd);
	m->log = log;
	m->log_ctx = log_ctx;
	m->state = SL_MODEM_OFF;
	m->dial_timeout_s = SL_MODEM_DIAL_TIMEOUT_S;
	copy_str(m->init, sizeof(m->init), SL_MODEM_DEFAULT_INIT);
}

void sl_modem_release(struct sl_modem *m)
{
	wipe(m, sizeof(*m));
	m->fd = -1;
}

void sl_modem_set_auto_answer(struct sl_modem *m, unsigned int rings)
{
	/* S0 is a byte; more than a few rings makes no sense anyway. */
	m->auto_answer = rings > 255 ? 255 : rings;
}

int sl_modem_set_dial_timeout(struct sl_modem *m, unsigned int seconds)
{
	if (seconds < 1 || seconds > 255)
		return -EINVAL;
	m->dial_timeout_s = seconds;
	return 0;
}

/* ---- Steps ------------------------------------------------------ */

static int start_init_cmd(struct sl_modem *m, int64_t now,
			  struct sl_modem_events *ev)
{
	mlog(m, LOG_DEBUG, "init: %s", m->init);
	return send_cmd(m, SL_MODEM_STEP_INIT, m->init,
			SL_MODEM_CMD_TIMEOUT_MS, now, ev);
}

static int after_init_cmd(struct sl_modem *m, int64_t now,
			  struct sl_modem_events *ev)
{
	char cmd[16];

	if (m->step == SL_MODEM_STEP_INIT && m->auto_answer) {
		snprintf(cmd, sizeof(cmd), "ATS0=%u", m->auto_answer);
		return send_cmd(m, SL_MODEM_STEP_AUTO_ANSWER, cmd,
				SL_MODEM_CMD_TIMEOUT_MS, now, ev);
	}
	return send_cmd(m, SL_MODEM_STEP_CID, SL_MODEM_CID_CMD,
			SL_MODEM_CMD_TIMEOUT_MS, now, ev);
}

static void ready(struct sl_modem *m)
{
	m->state = SL_MODEM_READY;
	m->step = SL_MODEM_STEP_NONE;
	m->deadline = 0;
	m->after_write_ms = 0;
	m->cmd[0] = '\0';
	forget_number(m);
}

static void enter_data(struct sl_modem *m, unsigned long speed,
		       struct sl_modem_events *ev)
{
	struct sl_modem_event *e;

	flush_cid(m, ev);
	e = ev_call(m, ev, SL_MODEM_EV_CONNECT);
	if (e)
		e->speed = speed;
	m->state = SL_MODEM_DATA;
	m->step = SL_MODEM_STEP_NONE;
	m->deadline = 0;
	m->after_write_ms = 0;
	m->line_len = 0;
	m->line_overlong = false;
	m->scan_matched = 0;
	m->rings = 0;
	forget_number(m);
}

static int send_ath(struct sl_modem *m, int64_t now,
		    struct sl_modem_events *ev)
{
	return send_cmd(m, SL_MODEM_STEP_ATH, "ATH", SL_MODEM_CMD_TIMEOUT_MS,
			now, ev);
}

static void start_guard(struct sl_modem *m, int64_t now)
{
	m->step = SL_MODEM_STEP_GUARD;
	m->deadline = now + SL_MODEM_GUARD_MS;
	m->after_write_ms = 0;
}

static int start_hangup(struct sl_modem *m, int64_t now,
			struct sl_modem_events *ev)
{
	int bits = TIOCM_DTR;

	mlog(m, LOG_INFO, "hanging up");
	/* Whatever is still queued (data, a command) is moot, and the
	 * escape needs a silent line: discard instead of waiting. */
	m->out_len = 0;
	m->line_len = 0;
	m->line_overlong = false;
	/* Known to be in command mode: no escape needed. */
	m->cmd_mode_seen = m->state == SL_MODEM_READY ||
			   m->state == SL_MODEM_INITIALISING;
	m->state = SL_MODEM_HANGING_UP;
	if (m->is_tty)
		tcflush(m->fd, TCIOFLUSH);
	if (m->is_tty && !ioctl(m->fd, TIOCMBIC, &bits)) {
		m->step = SL_MODEM_STEP_DTR;
		m->deadline = now + SL_MODEM_DTR_DROP_MS;
		m->after_write_ms = 0;
		return 0;
	}
	if (m->is_tty)
		mlog(m, LOG_DEBUG, "no DTR on this port (%s): escape and ATH only",
		     strerror(errno));
	if (m->cmd_mode_seen)
		return send_ath(m, now, ev);
	start_guard(m, now);
	return 0;
}

/* ---- Operations ------------------------------------------------- */

int sl_modem_init(struct sl_modem *m, const char *init, int64_t now,
		  struct sl_modem_events *ev)
{
	const char *why;

	ev_reset(ev);
	if (m->state == SL_MODEM_DATA)
		return -EBUSY;
	if (init) {
		why = sl_modem_check_command(init);
		if (why) {
			mlog(m, LOG_ERR, "init string \"%s\" %s", init, why);
			return -EINVAL;
		}
		copy_str(m->init, sizeof(m->init), init);
	}
	/* What the modem said while nobody listened is stale. */
	if (m->is_tty)
		tcflush(m->fd, TCIFLUSH);
	m->state = SL_MODEM_INITIALISING;
	m->out_len = 0;
	m->line_len = 0;
	m->line_overlong = false;
	m->rings = 0;
	wipe(&m->cid, sizeof(m->cid));
	m->cid_pending = false;
	m->cid_deadline = 0;
	forget_number(m);
	mlog(m, LOG_INFO, "initialising (%s)", m->init);
	return send_cmd(m, SL_MODEM_STEP_RESET, SL_MODEM_RESET_CMD,
			SL_MODEM_RESET_TIMEOUT_MS, now, ev);
}

int sl_modem_dial(struct sl_modem *m, const char *number, int64_t now,
		  struct sl_modem_events *ev)
{
	char cmd[SL_MODEM_CMD_MAX + 1];
	const char *why;

	ev_reset(ev);
	why = sl_modem_check_number(number);
	if (why) {
		mlog(m, LOG_ERR, "cannot dial: the number %s", why);
		return -EINVAL;
	}
	if (m->state != SL_MODEM_READY)
		return -EBUSY;
	flush_cid(m, ev);
	copy_str(m->number, sizeof(m->number), number);
	snprintf(cmd, sizeof(cmd), "ATDT%s", number);
	m->state = SL_MODEM_DIALLING;
	mlog(m, LOG_INFO, "dialling %s", number);
	return send_cmd(m, SL_MODEM_STEP_DIAL, cmd,
			(int64_t)m->dial_timeout_s * 1000 +
			SL_MODEM_DIAL_MARGIN_MS, now, ev);
}

int sl_modem_answer(struct sl_modem *m, int64_t now,
		    struct sl_modem_events *ev)
{
	ev_reset(ev);
	if (m->state != SL_MODEM_READY)
		return -EBUSY;
	flush_cid(m, ev);
	m->state = SL_MODEM_ANSWERING;
	mlog(m, LOG_INFO, "answering");
	return send_cmd(m, SL_MODEM_STEP_ANSWER, "ATA",
			SL_MODEM_ANSWER_TIMEOUT_MS, now, ev);
}

int sl_modem_hangup(struct sl_modem *m, int64_t now,
		    struct sl_modem_events *ev)
{
	ev_reset(ev);
	if (m->state == SL_MODEM_OFF)
		return -EBUSY;
	if (m->state == SL_MODEM_HANGING_UP)
		return 0;
	flush_cid(m, ev);
	forget_number(m);
	return start_hangup(m, now, ev);
}

/* ---- Input ------------------------------------------------------ */

static bool starts_with_ci(const char *s, const char *prefix)
{
	return !strncasecmp(s, prefix, strlen(prefix));
}

/* V0 codes. 5 and 10 are the Hayes standard's; 11 and 12 are common to
 * the Hayes V-series and Rockwell modems. Higher ones differ between
 * vendors: CONNECT with speed 0 (unknown). */
static enum result numeric_result(unsigned int code, unsigned long *speed)
{
	switch (code) {
	case 0: return RES_OK;
	case 1: return RES_CONNECT;
	case 2: return RES_RING;
	case 3: return RES_NO_CARRIER;
	case 4: return RES_ERROR;
	case 5: *speed = 1200; return RES_CONNECT;
	case 6: return RES_NO_DIALTONE;
	case 7: return RES_BUSY;
	case 8: return RES_NO_ANSWER;
	case 10: *speed = 2400; return RES_CONNECT;
	case 11: *speed = 4800; return RES_CONNECT;
	case 12: *speed = 9600; return RES_CONNECT;
	default:
		return code >= 10 ? RES_CONNECT : RES_NONE;
	}
}

static enum result classify(const char *s, unsigned long *speed)
{
	static const struct {
		const char *text;
		enum result r;
	} verbose[] = {
		{ "OK", RES_OK }, { "RING", RES_RING },
		{ "NO CARRIER", RES_NO_CARRIER }, { "ERROR", RES_ERROR },
		{ "NO DIALTONE", RES_NO_DIALTONE },
		{ "NO DIAL TONE", RES_NO_DIALTONE }, { "BUSY", RES_BUSY },
		{ "NO ANSWER", RES_NO_ANSWER }, { "DELAYED", RES_REFUSED },
		{ "BLACKLISTED", RES_REFUSED },
	};
	size_t len = strlen(s);

	*speed = 0;
	if (len && len <= 3 && strspn(s, "0123456789") == len)
		return numeric_result((unsigned int)strtoul(s, NULL, 10),
				      speed);
	for (size_t i = 0; i < ARRAY_SIZE(verbose); i++) {
		if (!strcasecmp(s, verbose[i].text))
			return verbose[i].r;
	}
	/* "CONNECT", "CONNECT 33600", "CONNECT 9600/ARQ/V42BIS". */
	if (starts_with_ci(s, "CONNECT") &&
	    (s[7] == '\0' || s[7] == ' ' || s[7] == '/')) {
		const char *p = s + 7;
		unsigned long v = 0;

		while (*p == ' ')
			p++;
		while (isdigit((unsigned char)*p) && v < 100000000UL)
			v = v * 10 + (unsigned long)(*p++ - '0');
		*speed = v;
		return RES_CONNECT;
	}
	return RES_NONE;
}

/* "NMBR = 5550100" or "NMBR=5550100": true if s is a caller-ID field
 * (kept if it is one of ours, others ignored). */
static bool caller_id_line(struct sl_modem *m, const char *s, int64_t now)
{
	static const char *const keys[] = { "DATE", "TIME", "NMBR", "NAME" };
	char *dst[] = { m->cid.date, m->cid.time, m->cid.number,
			m->cid.name };
	const char *eq = strchr(s, '='), *v;
	size_t klen;

	if (!eq || eq == s)
		return false;
	klen = (size_t)(eq - s);
	while (klen && s[klen - 1] == ' ')
		klen--;
	/* A field name is a short upper-case word: DATE, NMBR, MESG,
	 * DDN_NMBR. Anything else with '=' is not caller ID. */
	if (!klen || klen > 8)
		return false;
	for (size_t i = 0; i < klen; i++) {
		if (!isupper((unsigned char)s[i]) && s[i] != '_')
			return false;
	}
	v = eq + 1;
	while (*v == ' ')
		v++;
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		if (klen == 4 && !memcmp(s, keys[i], 4)) {
			copy_str(dst[i], SL_MODEM_CID_MAX + 1, v);
			m->cid_pending = true;
			m->cid_deadline = now + SL_MODEM_CID_SETTLE_MS;
			return true;
		}
	}
	mlog(m, LOG_DEBUG, "caller-ID field %.*s ignored", (int)klen, s);
	return true;
}

static void on_ring(struct sl_modem *m, int64_t now,
		    struct sl_modem_events *ev)
{
	struct sl_modem_event *e;

	if (m->state != SL_MODEM_READY)
		return;
	if (!m->rings || now - m->last_ring > SL_MODEM_RING_GAP_MS)
		m->rings = 0;
	m->rings++;
	m->last_ring = now;
	e = ev_add(ev, SL_MODEM_EV_RING);
	if (e)
		e->rings = m->rings;
}

static void cmd_error(struct sl_modem *m, struct sl_modem_events *ev)
{
	struct sl_modem_event *e = ev_call(m, ev, SL_MODEM_EV_ERROR);

	if (e)
		copy_str(e->text, sizeof(e->text), m->cmd);
}

static void on_init_result(struct sl_modem *m, enum result r, int64_t now,
			   struct sl_modem_events *ev)
{
	if (r != RES_OK && r != RES_ERROR)
		return;		/* a RING or stray line: not our answer */
	switch (m->step) {
	case SL_MODEM_STEP_RESET:
		if (r == RES_ERROR)
			break;
		m->step = SL_MODEM_STEP_SETTLE;
		m->deadline = now + SL_MODEM_RESET_SETTLE_MS;
		m->after_write_ms = 0;
		return;
	case SL_MODEM_STEP_INIT:
	case SL_MODEM_STEP_AUTO_ANSWER:
		if (r == RES_ERROR)
			break;
		after_init_cmd(m, now, ev);
		return;
	case SL_MODEM_STEP_CID:
		if (r == RES_ERROR)
			mlog(m, LOG_NOTICE, "no caller ID: the modem answers %s with ERROR",
			     SL_MODEM_CID_CMD);
		ready(m);
		ev_add(ev, SL_MODEM_EV_READY);
		mlog(m, LOG_DEBUG, "ready");
		return;
	default:
		return;	/* SETTLE: a late or doubled reply */
	}
	cmd_error(m, ev);
	go_off(m);
}

static void on_call_result(struct sl_modem *m, enum result r,
			   unsigned long speed, struct sl_modem_events *ev)
{
	static const enum sl_modem_event_type types[] = {
		[RES_BUSY] = SL_MODEM_EV_BUSY,
		[RES_NO_ANSWER] = SL_MODEM_EV_NO_ANSWER,
		[RES_NO_CARRIER] = SL_MODEM_EV_NO_CARRIER,
		[RES_NO_DIALTONE] = SL_MODEM_EV_NO_DIALTONE,
	};

	switch (r) {
	case RES_CONNECT:
		enter_data(m, speed, ev);
		return;
	case RES_BUSY:
	case RES_NO_ANSWER:
	case RES_NO_CARRIER:
	case RES_NO_DIALTONE:
		/* ANSWERING only ends in NO CARRIER; the others would be
		 * a confused modem, reported all the same. */
		ev_call(m, ev, types[r]);
		ready(m);
		return;
	case RES_ERROR:
	case RES_REFUSED:
		cmd_error(m, ev);
		ready(m);
		return;
	default:
		return;	/* OK, RING: not an outcome of a call */
	}
}

static void on_hangup_result(struct sl_modem *m, enum result r, int64_t now,
			     struct sl_modem_events *ev)
{
	if (r != RES_OK && r != RES_NO_CARRIER && r != RES_ERROR)
		return;
	switch (m->step) {
	case SL_MODEM_STEP_DTR:
		/* The modem hung up on DTR (&D2) and said so: no need for
		 * the escape once DTR is back. */
		m->cmd_mode_seen = true;
		return;
	case SL_MODEM_STEP_GUARD:
	case SL_MODEM_STEP_ESCAPE:
		/* In command mode already (carrier lost, escape done):
		 * the "+++" is not needed or has worked. */
		send_ath(m, now, ev);
		return;
	case SL_MODEM_STEP_ATH:
		ready(m);
		ev_add(ev, SL_MODEM_EV_HUNG_UP);
		mlog(m, LOG_DEBUG, "on hook, command mode");
		return;
	default:
		return;
	}
}

static void process_line(struct sl_modem *m, char *s, int64_t now,
			 struct sl_modem_events *ev)
{
	unsigned long speed;
	enum result r;
	size_t len;

	while (*s == ' ' || *s == '\t')
		s++;
	len = strlen(s);
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		s[--len] = '\0';
	/* An echoed escape runs into the next command's echo. */
	if (!strncmp(s, "+++", 3))
		s += 3;
	if (!*s)
		return;
	if (starts_with_ci(s, "AT") || !strcmp(s, "A/"))
		return;		/* our own command, echoed (E1) */
	if (m->state != SL_MODEM_DATA && caller_id_line(m, s, now))
		return;
	r = classify(s, &speed);
	if (r == RES_NONE) {
		mlog(m, LOG_DEBUG, "ignored: %.40s", s);
		return;
	}
	flush_cid(m, ev);
	if (r == RES_RING) {
		on_ring(m, now, ev);
		return;
	}
	switch (m->state) {
	case SL_MODEM_INITIALISING:
		on_init_result(m, r, now, ev);
		break;
	case SL_MODEM_DIALLING:
	case SL_MODEM_ANSWERING:
		on_call_result(m, r, speed, ev);
		break;
	case SL_MODEM_READY:
		/* The modem answered on its own (S0 > 0), or an attempt
		 * of it failed. */
		if (r == RES_CONNECT)
			enter_data(m, speed, ev);
		else if (r == RES_NO_CARRIER)
			ev_add(ev, SL_MODEM_EV_NO_CARRIER);
		break;
	case SL_MODEM_HANGING_UP:
		on_hangup_result(m, r, now, ev);
		break;
	default:
		break;
	}
}

size_t sl_modem_input(struct sl_modem *m, const void *buf, size_t len,
		      int64_t now, struct sl_modem_events *ev)
{
	const uint8_t *p = buf;
	size_t i;

	ev_reset(ev);
	for (i = 0; i < len; i++) {
		uint8_t c = p[i];

		if (!sl_modem_wants_read(m))
			break;
		/* One line makes at most three events (a caller ID, its
		 * result, a hangup's first step): stop while there is
		 * room, the caller comes back for the rest. */
		if (ev->n + 3 > SL_MODEM_MAX_EVENTS)
			break;
		if (c != '\r' && c != '\n') {
			if (m->line_len < SL_MODEM_LINE_MAX)
				m->line[m->line_len++] = (char)
					(c >= 0x20 && c < 0x7f ? c : '?');
			else
				m->line_overlong = true;
			continue;
		}
		if (m->line_overlong) {
			mlog(m, LOG_DEBUG, "dropped a line longer than %d bytes",
			     SL_MODEM_LINE_MAX);
		} else if (m->line_len) {
			m->line[m->line_len] = '\0';
			process_line(m, m->line, now, ev);
		}
		m->line_len = 0;
		m->line_overlong = false;
		if (m->state == SL_MODEM_DATA) {
			/* "CONNECT 9600\r\n": the LF is still the modem's. */
			if (c == '\r' && i + 1 < len && p[i + 1] == '\n')
				i++;
			i++;
			break;
		}
	}
	return i;
}

void sl_modem_output(struct sl_modem *m, int64_t now,
		     struct sl_modem_events *ev)
{
	ev_reset(ev);
	flush_out(m, now, ev);
}

static void timeout_event(struct sl_modem *m, struct sl_modem_events *ev)
{
	struct sl_modem_event *e = ev_call(m, ev, SL_MODEM_EV_TIMEOUT);

	if (e) {
		if (m->out_len)
			snprintf(e->text, sizeof(e->text),
				 "%s (the port took no bytes)",
				 sl_modem_step_name(m->step));
		else
			copy_str(e->text, sizeof(e->text),
				 sl_modem_step_name(m->step));
	}
}

static void timeout_then_hangup(struct sl_modem *m, int64_t now,
				struct sl_modem_events *ev)
{
	timeout_event(m, ev);
	forget_number(m);
	/* The modem may still be dialling or off hook. */
	start_hangup(m, now, ev);
}

void sl_modem_timer(struct sl_modem *m, int64_t now,
		    struct sl_modem_events *ev)
{
	int bits = TIOCM_DTR;

	ev_reset(ev);
	if (m->cid_pending && m->cid_deadline && now >= m->cid_deadline)
		flush_cid(m, ev);
	if (!m->deadline || now < m->deadline)
		return;
	if (m->out_len && m->step != SL_MODEM_STEP_DTR) {
		/* Bytes the kernel never took: flow control holds the
		 * line, or the port is wedged. Hangup cannot get through
		 * either. */
		timeout_event(m, ev);
		go_off(m);
		return;
	}
	switch (m->step) {
	case SL_MODEM_STEP_SETTLE:
		start_init_cmd(m, now, ev);
		return;
	case SL_MODEM_STEP_DIAL:
	case SL_MODEM_STEP_ANSWER:
		timeout_then_hangup(m, now, ev);
		return;
	case SL_MODEM_STEP_DTR:
		if (ioctl(m->fd, TIOCMBIS, &bits)) {
			io_error(m, "raising DTR", errno, ev);
			return;
		}
		if (m->cmd_mode_seen)
			send_ath(m, now, ev);
		else
			start_guard(m, now);
		return;
	case SL_MODEM_STEP_GUARD:
		/* No CR: the escape is exactly three characters with
		 * silence on both sides. */
		send_raw(m, SL_MODEM_STEP_ESCAPE, "+++", 3,
			 SL_MODEM_GUARD_MS + SL_MODEM_ESCAPE_REPLY_MS, now, ev);
		return;
	case SL_MODEM_STEP_ESCAPE:
		/* No OK: a modem in command mode already (our DTR drop
		 * worked silently, Q1) or a deaf one; ATH tells. */
		send_ath(m, now, ev);
		return;
	default:
		/* RESET, INIT, AUTO_ANSWER, CID, ATH: the modem did not
		 * answer a command. */
		timeout_event(m, ev);
		go_off(m);
		return;
	}
}

/* ---- Data mode -------------------------------------------------- */

/* KMP's failure function of the pattern: fail[k] is the length of the
 * longest proper prefix of pattern[0..k) that is also its suffix. */
static void no_carrier_fail(size_t fail[NO_CARRIER_LEN + 1])
{
	size_t k = 0;

	fail[0] = fail[1] = 0;
	for (size_t i = 1; i < NO_CARRIER_LEN; i++) {
		while (k && no_carrier_pattern[i] != no_carrier_pattern[k])
			k = fail[k];
		if (no_carrier_pattern[i] == no_carrier_pattern[k])
			k++;
		fail[i + 1] = k;
	}
}

size_t sl_modem_data_scan(struct sl_modem *m, const void *buf, size_t len,
			  struct sl_modem_events *ev)
{
	size_t fail[NO_CARRIER_LEN + 1];
	const uint8_t *p = buf;
	size_t k = m->scan_matched;

	ev_reset(ev);
	if (m->state != SL_MODEM_DATA)
		return len;
	/* A streaming match: k, the bytes of the pattern matched so far,
	 * survives between calls, so a split read changes nothing. */
	no_carrier_fail(fail);
	for (size_t i = 0; i < len; i++) {
		while (k && p[i] != (uint8_t)no_carrier_pattern[k])
			k = fail[k];
		if (p[i] == (uint8_t)no_carrier_pattern[k])
			k++;
		if (k == NO_CARRIER_LEN) {
			m->scan_matched = 0;
			ev_add(ev, SL_MODEM_EV_NO_CARRIER);
			mlog(m, LOG_DEBUG, "carrier lost in data mode");
			ready(m);
			return i + 1;
		}
	}
	m->scan_matched = k;
	return len;
}

/* ---- Queries and names ------------------------------------------ */

enum sl_modem_state sl_modem_state(const struct sl_modem *m)
{
	return m->state;
}

bool sl_modem_wants_read(const struct sl_modem *m)
{
	return m->state != SL_MODEM_DATA && m->state != SL_MODEM_OFF;
}

bool sl_modem_wants_write(const struct sl_modem *m)
{
	return m->out_len != 0;
}

int64_t sl_modem_next_timer(const struct sl_modem *m)
{
	int64_t t = m->deadline;

	if (m->cid_pending && m->cid_deadline &&
	    (!t || m->cid_deadline < t))
		t = m->cid_deadline;
	return t;
}

const char *sl_modem_state_name(enum sl_modem_state state)
{
	static const char *const names[] = {
		[SL_MODEM_OFF] = "off",
		[SL_MODEM_INITIALISING] = "initialising",
		[SL_MODEM_READY] = "ready",
		[SL_MODEM_DIALLING] = "dialling",
		[SL_MODEM_ANSWERING] = "answering",
		[SL_MODEM_DATA] = "data",
		[SL_MODEM_HANGING_UP] = "hanging up",
	};

	if ((size_t)state < ARRAY_SIZE(names) && names[state])
		return names[state];
	return "unknown";
}

const char *sl_modem_step_name(enum sl_modem_step step)
{
	static const char *const names[] = {
		[SL_MODEM_STEP_NONE] = "none",
		[SL_MODEM_STEP_RESET] = "reset (ATZ)",
		[SL_MODEM_STEP_SETTLE] = "pause after reset",
		[SL_MODEM_STEP_INIT] = "init string",
		[SL_MODEM_STEP_AUTO_ANSWER] = "auto-answer (ATS0)",
		[SL_MODEM_STEP_CID] = "caller ID (AT+VCID=1)",
		[SL_MODEM_STEP_DIAL] = "dialling (ATDT)",
		[SL_MODEM_STEP_ANSWER] = "answering (ATA)",
		[SL_MODEM_STEP_DTR] = "DTR drop",
		[SL_MODEM_STEP_GUARD] = "guard time before +++",
		[SL_MODEM_STEP_ESCAPE] = "escape (+++)",
		[SL_MODEM_STEP_ATH] = "hangup (ATH)",
	};

	if ((size_t)step < ARRAY_SIZE(names) && names[step])
		return names[step];
	return "unknown";
}

static void append(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void append(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

const char *sl_modem_event_str(const struct sl_modem *m,
			       const struct sl_modem_event *e, char *buf,
			       size_t len)
{
	const char *from = e->number[0] ? " from " : "";

	if (!len)
		return buf;
	snprintf(buf, len, "modem %s: ", m->name);
	switch (e->type) {
	case SL_MODEM_EV_READY:
		append(buf, len, "ready");
		break;
	case SL_MODEM_EV_RING:
		append(buf, len, "RING (%u)", e->rings);
		break;
	case SL_MODEM_EV_CALLER_ID:
		append(buf, len, "caller ID %s",
		       e->cid.number[0] ? e->cid.number : "(no number)");
		if (e->cid.name[0])
			append(buf, len, ", name %s", e->cid.name);
		if (e->cid.date[0])
			append(buf, len, ", date %s", e->cid.date);
		if (e->cid.time[0])
			append(buf, len, ", time %s", e->cid.time);
		break;
	case SL_MODEM_EV_CONNECT:
		if (e->speed)
			append(buf, len, "CONNECT %lu", e->speed);
		else
			append(buf, len, "CONNECT (no speed given)");
		if (e->number[0])
			append(buf, len, " to %s", e->number);
		break;
	case SL_MODEM_EV_BUSY:
		append(buf, len, "BUSY%s%s", from, e->number);
		break;
	case SL_MODEM_EV_NO_ANSWER:
		append(buf, len, "NO ANSWER%s%s", from, e->number);
		break;
	case SL_MODEM_EV_NO_CARRIER:
		append(buf, len, "NO CARRIER%s%s", from, e->number);
		break;
	case SL_MODEM_EV_NO_DIALTONE:
		append(buf, len, "NO DIALTONE%s%s (is the phone line connected?)",
		       e->number[0] ? " dialling " : "", e->number);
		break;
	case SL_MODEM_EV_ERROR:
		append(buf, len, "ERROR: the modem refused %s", e->text);
		break;
	case SL_MODEM_EV_TIMEOUT:
		append(buf, len, "timeout: no answer in step %s%s%s",
		       e->text, e->number[0] ? " dialling " : "", e->number);
		break;
	case SL_MODEM_EV_HUNG_UP:
		append(buf, len, "hung up");
		break;
	case SL_MODEM_EV_IO_ERROR:
		append(buf, len, "%s: %s; the modem is off until re-initialised",
		       e->text, strerror(e->err));
		break;
	}
	return buf;
}

int sl_modem_event_level(const struct sl_modem_event *e)
{
	switch (e->type) {
	case SL_MODEM_EV_ERROR:
	case SL_MODEM_EV_TIMEOUT:
	case SL_MODEM_EV_IO_ERROR:
	case SL_MODEM_EV_NO_DIALTONE:
		return LOG_WARNING;
	case SL_MODEM_EV_CONNECT:
	case SL_MODEM_EV_BUSY:
	case SL_MODEM_EV_NO_ANSWER:
	case SL_MODEM_EV_NO_CARRIER:
	case SL_MODEM_EV_HUNG_UP:
		return LOG_NOTICE;
	default:
		return LOG_INFO;
	}
}
