/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * An endpoint's dial-up line ("modem = yes" in its [line TTY] section):
 * sealined owns the serial port, drives its modem (modem.h), calls the
 * TSP on `sealctl call ACCOUNT` and answers when it rings, attaches the
 * sealine line discipline after CONNECT, runs call setup (call.h) over
 * the line's control channel, and once the TSP bridged the call hands the
 * line to its handshake (pairing or session, end to end) with the peer
 * the call named. When either side hangs up (the TSP's authenticated
 * CALL_STATUS ended, `sealctl hangup`), the keys go, the discipline is
 * detached and the modem hangs up, ready for the next call.
 *
 * States: down (port not open; retried), init, idle, dialling,
 * answering, setup (discipline attached, call setup running), connected
 * (bridged: the line's handshake keys it), hangup.
 */
#ifndef SEALINE_AGENT_DIALER_H
#define SEALINE_AGENT_DIALER_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ipc.h"

struct sl_lines;
struct sl_line;
struct sl_dialer;

/* Timing (milliseconds). */
#define SL_DIALER_REOPEN_MS	5000	/* a port that failed: again */
#define SL_DIALER_ATTACH_MS	10000	/* CONNECT to the line registered */

/* Creates the dialer of a modem line and opens its port. */
int sl_dialer_new(struct sl_lines *L, struct sl_line *line, int64_t now_ms,
		  struct sl_dialer **out);
/* Hangs up (closing the port drops DTR) and frees. NULL is fine. */
void sl_dialer_free(struct sl_dialer *d);

/* The event loop: its fd and events (fd -1: none). */
void sl_dialer_pollfd(const struct sl_dialer *d, struct pollfd *pfd);
void sl_dialer_ready(struct sl_dialer *d, short revents, int64_t now_ms);
void sl_dialer_timer(struct sl_dialer *d, int64_t now_ms);
int64_t sl_dialer_next_timer(const struct sl_dialer *d);

/* The line registered after CONNECT: call setup starts. */
void sl_dialer_line_up(struct sl_dialer *d, int64_t now_ms);
/* Whether the call is bridged (the line's handshake may run). */
bool sl_dialer_connected(const struct sl_dialer *d);
/* A control message: true if it was call setup's (taken), false if it
 * belongs to the line's handshake. */
bool sl_dialer_control(struct sl_dialer *d, const uint8_t *msg, size_t len,
		       int64_t now_ms);

/* `sealctl call`: c waits for the outcome (info records, then ok/err).
 * 0, or a negative errno with the reason in err. */
int sl_dialer_call(struct sl_dialer *d, const char *recipient,
		   struct sl_ipc_client *c, int64_t now_ms, char *err,
		   size_t err_len);
/* `sealctl hangup`. 0 or -ENOTCONN (no call). */
int sl_dialer_hangup(struct sl_dialer *d, const char *why, int64_t now_ms);
/* The operator's connection closed. */
void sl_dialer_operator_gone(struct sl_dialer *d, struct sl_ipc_client *c);

/* Fields for the line's `sealctl status` record. */
struct sl_ipc_builder;
void sl_dialer_status(const struct sl_dialer *d, struct sl_ipc_builder *b);

#endif
