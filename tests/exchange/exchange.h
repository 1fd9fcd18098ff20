// SPDX-License-Identifier: GPL-2.0
/*
 * exchange.h - what the parts of sealine-exchange share: the limits (all
 * of them, here), the line and its modem, and the functions one part
 * calls in another (prefix ex_).
 */
#ifndef EXCHANGE_H
#define EXCHANGE_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

enum result {
	RC_OK, RC_CONNECT, RC_RING, RC_NO_CARRIER, RC_ERROR, RC_NO_DIALTONE,
	RC_BUSY, RC_NO_ANSWER,
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

/* sealine-exchange.c: settings and state */
extern struct line *ex_lines;
extern size_t ex_nlines;
extern FILE *ex_log;
extern uint64_t ex_ring_ns, ex_unknown_ns;
extern unsigned long ex_no_answer_rings;
extern bool ex_quit;

/* sealine-exchange.c */
uint64_t ex_now_ns(void);
void __attribute__((noreturn, format(printf, 1, 2))) ex_fatal(const char *fmt, ...);
void *ex_xmalloc(size_t n);
void __attribute__((format(printf, 1, 2))) ex_event(const char *fmt, ...);
uint64_t ex_splitmix64(uint64_t *x);
bool ex_parse_ulong(const char *s, unsigned long max, unsigned long *out);
bool ex_set_nonblock(int fd);
/* ex_line.c */
void ex_q_push(struct line *l, const void *buf, size_t n);
void ex_q_puts(struct line *l, const char *s);
void ex_endpoint_down(struct line *l, uint64_t now);
void ex_endpoint_up(struct line *l);
bool ex_may_read(const struct line *l);
void ex_do_read(struct line *l);
void ex_do_write(struct line *l, uint64_t now);
int ex_connect_unix(struct line *l);
void ex_open_pty(struct line *l);
void ex_pty_check(struct line *l, uint64_t now);
/* ex_modem.c */
void ex_result(struct line *l, enum result r);
void ex_factory(struct line *l);
void ex_modem_byte(struct line *l, uint8_t c);
/* ex_call.c */
void ex_stop_ringing(struct line *callee);
void ex_answer(struct line *callee, const char *how);
void ex_end_call(struct line *by, const char *how);
void ex_dial(struct line *l, const char *number);
void ex_abort_dial(struct line *l, const char *how, bool tell);
void ex_ring(struct line *m, uint64_t now);
void ex_send_cid(struct line *m);
/* ex_control.c */
void ex_ctl_open(const char *path);
size_t ex_ctl_pollfds(struct pollfd *pfd);
void ex_ctl_handle(const struct pollfd *pfd, size_t n);
void ex_ctl_flush(void);
void ex_ctl_cleanup(void);

#endif
