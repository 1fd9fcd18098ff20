/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A Hayes (AT command set) modem driver for sealined's event loop, used by
 * the endpoints (one modem) and the TSP (many): init string, ATDT dialling,
 * ATA on RING or auto-answer, caller-ID capture, hangup (DTR drop, then
 * "+++" with its guard times, then ATH), result codes and timeouts, each
 * turned into an event with a clear log line.
 *
 * It never blocks and never sleeps. The daemon owns the file descriptor
 * (sl_modem_open_tty() opens a serial port for it) and its poll() loop:
 *
 *	sl_modem_setup(m, "ttyS1", fd, log_fn, log_ctx);
 *	sl_modem_init(m, NULL, now, &ev);	  ATZ, init string, AT+VCID=1
 *	poll: POLLIN  if sl_modem_wants_read(m)
 *	      POLLOUT if sl_modem_wants_write(m)
 *	      timeout  sl_modem_next_timer(m) (0: none)
 *	readable: n = read(fd, buf, sizeof(buf));
 *		  for (off = 0; off < n && sl_modem_wants_read(m); off += used)
 *			used = sl_modem_input(m, buf + off, n - off, now, &ev),
 *			then handle ev;
 *	writable: sl_modem_output(m, now, &ev);
 *	timer:    sl_modem_timer(m, now, &ev);
 *	sl_modem_dial(m, "5550100", now, &ev); sl_modem_answer(m, now, &ev);
 *	sl_modem_hangup(m, now, &ev);
 *
 * Every call that takes "ev" resets it and fills it with the events of that
 * call, in order. Times are milliseconds of CLOCK_MONOTONIC. The driver
 * writes its commands itself (write() on the non-blocking fd; what the
 * kernel does not take waits in a small queue, and sl_modem_wants_write()
 * asks for POLLOUT).
 *
 * Data mode: after CONNECT the driver stops reading (sl_modem_wants_read()
 * is false) and the line belongs to the data path: the daemon attaches the
 * sealine line discipline (TIOCSETD) or relays bytes in user space. Bytes
 * after the CONNECT line in the same read are data: sl_modem_input() returns
 * how many bytes it used, and the rest belongs to the data path. A daemon
 * that relays in user space passes every data byte it reads through
 * sl_modem_data_scan(), which recognises the modem's "NO CARRIER" (see
 * there). Before sl_modem_hangup() the daemon stops writing data, and puts
 * the tty back to N_TTY if it attached sealine: the escape sequence needs a
 * silent line around it, and the driver reads the modem's answers again.
 *
 * The driver assumes only what the Hayes command set promises (and what
 * the default init string sets: V1 verbose results, &D2 hang up on DTR
 * drop, S0=0 no auto-answer), so real modems on real serial ports and the
 * test exchange's emulated modems run the same code. It also copes with
 * modems that echo (E1), answer in numeric codes (V0), end lines in CR
 * only or LF only, and send blank lines or garbage.
 *
 * Phone numbers and caller IDs are personal data: they are kept only as
 * long as needed and wiped by sl_modem_release(). They only travel on the
 * local serial link to the modem, never on the phone line.
 *
 * Not thread-safe: one thread per modem (the daemon's event loop).
 */
#ifndef SEALINE_AGENT_MODEM_H
#define SEALINE_AGENT_MODEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Limits and timing (all in one place) ----------------------- */

#define SL_MODEM_NAME_MAX	32	/* "ttyS1", for log lines */
#define SL_MODEM_LINE_MAX	128	/* longest modem line kept; longer
					 * ones are dropped as garbage */
#define SL_MODEM_CMD_MAX	60	/* one AT command without its CR:
					 * the smallest command buffer of
					 * modems in use (40 after "AT")
					 * plus the prefix, with room */
#define SL_MODEM_NUMBER_MAX	40	/* dial string after ATDT */
#define SL_MODEM_CID_MAX	40	/* one caller-ID field's value */
#define SL_MODEM_OUT_MAX	128	/* queued command bytes */
#define SL_MODEM_MAX_EVENTS	8	/* events per call; input stops
					 * early when the list is full */

/* The default init string: no echo, verbose results, result codes on,
 * hang up when DTR drops, no auto-answer. */
#define SL_MODEM_DEFAULT_INIT	"ATE0V1Q0&D2S0=0"
#define SL_MODEM_RESET_CMD	"ATZ"
/* Caller-ID delivery (formatted). Not every modem has it: an ERROR is
 * logged and the init goes on. */
#define SL_MODEM_CID_CMD	"AT+VCID=1"

/* A command's reply (OK/ERROR). ATZ may take a while on some modems. */
#define SL_MODEM_CMD_TIMEOUT_MS		5000
#define SL_MODEM_RESET_TIMEOUT_MS	10000
/* After ATZ's OK some modems drop the next command if it comes at once. */
#define SL_MODEM_RESET_SETTLE_MS	300
/* Dialling: the modem's S7 (wait for carrier, 50 s on most modems) plus
 * a margin for dialling itself; the default S7 this side assumes. */
#define SL_MODEM_DIAL_TIMEOUT_S		60
#define SL_MODEM_DIAL_MARGIN_MS		15000
/* ATA: the modem gives up after S7 too. */
#define SL_MODEM_ANSWER_TIMEOUT_MS	(SL_MODEM_DIAL_TIMEOUT_S * 1000 + \
					 SL_MODEM_DIAL_MARGIN_MS)
/* The escape guard time: S12 is 50/50 s = 1 s by default; a margin for
 * UART FIFOs and scheduling on both sides. */
#define SL_MODEM_GUARD_MS		1300
/* After the guard time following "+++": how long to wait for its OK
 * before ATH goes out anyway. */
#define SL_MODEM_ESCAPE_REPLY_MS	1000
/* DTR low this long; &D2 modems look for at least S25 (50 ms default). */
#define SL_MODEM_DTR_DROP_MS		600
/* A command that the kernel does not take within this long (the modem
 * holds CTS low, the port is wedged) is a timeout. */
#define SL_MODEM_WRITE_TIMEOUT_MS	5000
/* Caller-ID lines come as a block (DATE, TIME, NMBR, NAME); it is
 * reported once the block ends: another line, or this long without one. */
#define SL_MODEM_CID_SETTLE_MS		500
/* RINGs further apart than this start a new call's count (cadences are
 * 3 to 6 s). */
#define SL_MODEM_RING_GAP_MS		10000

/* ---- States and events ------------------------------------------ */

enum sl_modem_state {
	SL_MODEM_OFF,		/* not initialised, or the modem stopped
				 * answering: sl_modem_init() again */
	SL_MODEM_INITIALISING,
	SL_MODEM_READY,		/* command mode, on hook: RING may come */
	SL_MODEM_DIALLING,
	SL_MODEM_ANSWERING,
	SL_MODEM_DATA,		/* connected: the line is the data path's */
	SL_MODEM_HANGING_UP,
};

enum sl_modem_event_type {
	SL_MODEM_EV_READY,	/* init done */
	SL_MODEM_EV_RING,	/* .rings: this call's count */
	SL_MODEM_EV_CALLER_ID,	/* .cid */
	SL_MODEM_EV_CONNECT,	/* .speed (0: the modem gave none) */
	SL_MODEM_EV_BUSY,
	SL_MODEM_EV_NO_ANSWER,
	SL_MODEM_EV_NO_CARRIER,
	SL_MODEM_EV_NO_DIALTONE,
	SL_MODEM_EV_ERROR,	/* .text: the command that failed */
	SL_MODEM_EV_TIMEOUT,	/* .text: the step that timed out */
	SL_MODEM_EV_HUNG_UP,	/* back in command mode, on hook */
	SL_MODEM_EV_IO_ERROR,	/* .err: write() or ioctl() failed;
				 * the modem is OFF */
};

/* Caller ID as the modem reported it ("" when absent). NMBR may also be
 * "O" (out of area) or "P" (private), as the exchange sends it. */
struct sl_modem_cid {
	char number[SL_MODEM_CID_MAX + 1];
	char name[SL_MODEM_CID_MAX + 1];
	char date[SL_MODEM_CID_MAX + 1];
	char time[SL_MODEM_CID_MAX + 1];
};

struct sl_modem_event {
	enum sl_modem_event_type type;
	unsigned int rings;
	unsigned long speed;
	int err;				/* positive errno */
	char text[SL_MODEM_CMD_MAX + 1];	/* command or step */
	char number[SL_MODEM_NUMBER_MAX + 1];	/* the dialled number */
	struct sl_modem_cid cid;
};

struct sl_modem_events {
	unsigned int n;
	struct sl_modem_event ev[SL_MODEM_MAX_EVENTS];
};

/* The driver's own progress messages ("dialling 5550100", "caller ID not
 * supported"), already prefixed "modem ttyS1: "; level is a syslog
 * priority. */
typedef void (*sl_modem_log_fn)(void *ctx, int level, const char *msg);

/* Internal steps, named in TIMEOUT events. */
enum sl_modem_step {
	SL_MODEM_STEP_NONE,
	SL_MODEM_STEP_RESET,		/* ATZ */
	SL_MODEM_STEP_SETTLE,		/* pause after ATZ */
	SL_MODEM_STEP_INIT,		/* the init string */
	SL_MODEM_STEP_AUTO_ANSWER,	/* ATS0=n */
	SL_MODEM_STEP_CID,		/* AT+VCID=1 */
	SL_MODEM_STEP_DIAL,
	SL_MODEM_STEP_ANSWER,
	SL_MODEM_STEP_DTR,		/* DTR low */
	SL_MODEM_STEP_GUARD,		/* silence before "+++" */
	SL_MODEM_STEP_ESCAPE,		/* "+++" sent, silence after */
	SL_MODEM_STEP_ATH,
};

struct sl_modem {
	char name[SL_MODEM_NAME_MAX];
	int fd;
	bool is_tty;			/* termios and TIOCM* apply */
	sl_modem_log_fn log;
	void *log_ctx;

	enum sl_modem_state state;
	enum sl_modem_step step;
	int64_t deadline;		/* of the step, 0: none */
	int64_t after_write_ms;		/* the step's deadline, counted from
					 * when its command has left */
	char cmd[SL_MODEM_CMD_MAX + 1];	/* command in flight */
	bool cmd_mode_seen;		/* hangup: the modem answered */

	char init[SL_MODEM_CMD_MAX + 1];
	unsigned int auto_answer;	/* S0 value, 0: ATA on RING */
	unsigned int dial_timeout_s;
	char number[SL_MODEM_NUMBER_MAX + 1];

	uint8_t out[SL_MODEM_OUT_MAX];
	size_t out_len;
	int64_t out_since;		/* when the queue became non-empty */

	char line[SL_MODEM_LINE_MAX + 1];
	size_t line_len;
	bool line_overlong;

	unsigned int rings;
	int64_t last_ring;
	struct sl_modem_cid cid;
	bool cid_pending;
	int64_t cid_deadline;

	size_t scan_matched;		/* sl_modem_data_scan() progress */
};

/* ---- Serial port ------------------------------------------------ */

/*
 * Opens a serial port for a modem: O_RDWR | O_NOCTTY | O_NONBLOCK |
 * O_CLOEXEC, raw 8N1 at baud (300 .. 4000000, the rates termios knows),
 * CLOCAL, CREAD and HUPCL set, RTS/CTS flow control if rtscts, and both
 * queues flushed.
 *
 * Why CLOCAL: in command mode a modem holds DCD low (no carrier), and
 * without CLOCAL an open() blocks until carrier and reads and writes fail
 * after a carrier drop (the kernel hangs the tty up): the driver could not
 * talk to an idle modem at all. A daemon that wants the kernel's hangup on
 * carrier loss in data mode clears it with sl_modem_tty_clocal() after
 * CONNECT and sets it again before hanging up; sealine's line discipline
 * treats that hangup as the end of the line (keys wiped). The fd is then
 * useless and must be reopened. HUPCL drops DTR when the last fd closes,
 * so a daemon that dies also hangs its calls up.
 *
 * Returns 0 and the fd, or a negative errno with a reason in err.
 */
int sl_modem_open_tty(const char *path, unsigned int baud, bool rtscts,
		      int *fd, char *err, size_t err_len);
/* Sets or clears CLOCAL on a tty; 0 or a negative errno. */
int sl_modem_tty_clocal(int fd, bool on);
/* Is DCD (carrier) up? 1, 0, or a negative errno (-ENOTTY, ...). */
int sl_modem_tty_carrier(int fd);

/* ---- The driver ------------------------------------------------- */

/*
 * Sets m up for the fd (not owned: the daemon closes it after
 * sl_modem_release()). A fd that is not a tty (a socketpair in tests, a
 * TCP serial server's socket) works too: the termios and modem-line calls
 * are skipped, so hangup has no DTR step. log may be NULL.
 */
void sl_modem_setup(struct sl_modem *m, const char *name, int fd,
		    sl_modem_log_fn log, void *log_ctx);
/* Forgets the numbers and caller IDs it holds; m is then unused. */
void sl_modem_release(struct sl_modem *m);

/* Options, taken by the next sl_modem_init() / sl_modem_dial(). rings 0
 * (the default): RING is reported and the daemon answers with
 * sl_modem_answer(); n > 0: "ATS0=n" after the init string, and the
 * modem's own CONNECT comes unasked. */
void sl_modem_set_auto_answer(struct sl_modem *m, unsigned int rings);
/* The modem's S7 as this side assumes it (1 .. 255 s, default
 * SL_MODEM_DIAL_TIMEOUT_S); the dial timeout is that plus a margin. */
int sl_modem_set_dial_timeout(struct sl_modem *m, unsigned int seconds);

/*
 * NULL if s can be used, else why not ("contains a control character",
 * ...). A command: "AT" then printable ASCII, at most SL_MODEM_CMD_MAX.
 * A number: digits, * # , W P ! @ A-D, and - ( ) space which modems skip;
 * no ';' (it would leave the modem in command mode), at most
 * SL_MODEM_NUMBER_MAX.
 */
const char *sl_modem_check_command(const char *s);
const char *sl_modem_check_number(const char *s);

/*
 * The operations. Each returns 0, -EINVAL (bad init string or number, see
 * sl_modem_check_*), -EBUSY (not in a state where it applies: init
 * from any state but DATA, dial and answer only in READY, hangup in any
 * state but OFF), or -EIO with an IO_ERROR event (the write failed).
 *
 * init: init NULL is SL_MODEM_DEFAULT_INIT. ATZ, the init string, ATS0=n
 *	if auto-answer is set, AT+VCID=1 (an ERROR there is only logged);
 *	READY when done, or ERROR/TIMEOUT (state OFF).
 * dial: ATDT<number>; CONNECT (state DATA), or BUSY, NO_ANSWER,
 *	NO_CARRIER, NO_DIALTONE, ERROR (state READY), or TIMEOUT followed
 *	by a hangup.
 * answer: ATA; CONNECT, or NO_CARRIER/ERROR (READY), or TIMEOUT and a
 *	hangup. A caller ID not yet reported is reported first.
 * hangup: DTR low for SL_MODEM_DTR_DROP_MS if the port has it (with &D2
 *	that alone hangs up), then, unless the modem already answered,
 *	the guard time, "+++", the guard time (or its OK), then ATH;
 *	OK, NO CARRIER or silence all count. HUNG_UP and state READY, or
 *	TIMEOUT and state OFF if ATH got no answer at all.
 */
int sl_modem_init(struct sl_modem *m, const char *init, int64_t now,
		  struct sl_modem_events *ev);
int sl_modem_dial(struct sl_modem *m, const char *number, int64_t now,
		  struct sl_modem_events *ev);
int sl_modem_answer(struct sl_modem *m, int64_t now,
		    struct sl_modem_events *ev);
int sl_modem_hangup(struct sl_modem *m, int64_t now,
		    struct sl_modem_events *ev);

/*
 * Bytes read from the modem (command mode). Returns how many it used:
 * fewer than len when the event list filled up (handle the events and
 * call again with the rest), when the modem went to data mode (the rest
 * is data), or when it went OFF (the rest is stale: sl_modem_init()
 * flushes a tty's input). Lines are split at CR or LF; blank lines, echoed commands,
 * informational lines (CARRIER, PROTOCOL, COMPRESSION, ...) and garbage
 * are skipped; a line longer than SL_MODEM_LINE_MAX is dropped whole.
 */
size_t sl_modem_input(struct sl_modem *m, const void *buf, size_t len,
		      int64_t now, struct sl_modem_events *ev);
/* POLLOUT: write what is queued. */
void sl_modem_output(struct sl_modem *m, int64_t now,
		     struct sl_modem_events *ev);
/* At (or after) sl_modem_next_timer(). */
void sl_modem_timer(struct sl_modem *m, int64_t now,
		    struct sl_modem_events *ev);

/*
 * Data mode, relayed in user space: scans bytes read from the modem for
 * "\r\nNO CARRIER\r\n", also split across reads. Returns len if it is not
 * there, else the offset just past it: a NO_CARRIER event, state READY,
 * and bytes after it (if any) are the modem's (sl_modem_input()).
 *
 * False positives: sealine frames are COBS-encoded with 0x00 delimiters
 * and, but for a few header bytes, AEAD ciphertext, which looks uniformly
 * random: a given 14-byte string shows up at a given offset with
 * probability 2^-112, never in practice. Only the far end could send the
 * string on purpose (raw, without sealine), and then it only ends its own
 * call, which it can do anyway. It needs verbose results (V1): a numeric
 * "3\r" is too short to tell from data.
 */
size_t sl_modem_data_scan(struct sl_modem *m, const void *buf, size_t len,
			  struct sl_modem_events *ev);

enum sl_modem_state sl_modem_state(const struct sl_modem *m);
bool sl_modem_wants_read(const struct sl_modem *m);
bool sl_modem_wants_write(const struct sl_modem *m);
/* Monotonic ms at which sl_modem_timer() is due, 0: none. */
int64_t sl_modem_next_timer(const struct sl_modem *m);

const char *sl_modem_state_name(enum sl_modem_state state);
const char *sl_modem_step_name(enum sl_modem_step step);
/*
 * The event's log line, in buf: "modem ttyS1: BUSY from 5550100",
 * "modem ttyS1: CONNECT 33600", "modem ttyS1: caller ID 5550100 (JOHN DOE)
 * 03-21 14:05", ... Returns buf.
 */
const char *sl_modem_event_str(const struct sl_modem *m,
			       const struct sl_modem_event *e, char *buf,
			       size_t len);
/* A syslog priority for the event (LOG_INFO, LOG_NOTICE, LOG_WARNING). */
int sl_modem_event_level(const struct sl_modem_event *e);

#endif
