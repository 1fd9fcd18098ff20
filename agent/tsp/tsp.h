/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * sealtspd, the trusted service provider (TSP): a daemon whose
 * configuration has a [tsp] section answers calls on many modem lines,
 * authenticates the caller's account (call setup, call.h), checks it
 * against the account store (tspstore.h: the key, the caller-ID binding,
 * the recipient's authorised callers), dials the recipient on a free line,
 * authenticates it, offers it the call, then bridges the two lines and
 * writes a call detail record for every call.
 *
 * It is its own program, not a role of sealined: it shares nothing of the
 * endpoint's event loop (no netlink, no handshake driver), it is run and
 * configured as another service (sealtspd.service), and only it links
 * the account store (SQLite), which an endpoint never needs.
 *
 * The TSP never attaches the sealine line discipline: call setup uses only
 * control frames (rawline.h) and a bridged call is relayed byte for byte,
 * so it never holds a key that opens the callers' data. Its lines may be
 * serial ports with modems or, for the host load test, pseudo-terminals of
 * the simulated exchange.
 *
 * One process, one thread, one epoll loop; each line is a state machine
 * (tsp_internal.h, "Line states") and each call links two lines. A stuck
 * or noisy line only ever waits on its own timers.
 */
#ifndef SEALINE_AGENT_TSP_H
#define SEALINE_AGENT_TSP_H

#include "config.h"

/*
 * Runs the TSP described by cfg->tsp until SIGTERM or SIGINT (SIGHUP is
 * logged; SIGPIPE ignored): opens the identity in cfg->state_dir (its
 * static key is the one endpoints pin), the account store, the control
 * socket and every line, tells systemd it is ready (sd_notify READY=1),
 * and returns the process exit status. Logging must be set up
 * (sl_log_setup()); cryptography is initialised here, with a
 * secure-memory pool sized for the number of lines.
 */
int sl_tsp_main(const struct sl_config *cfg);

/* Bytes relayed per read, and the lines one TSP serves at most. */
#define SL_TSP_READ_CHUNK	4096
#define SL_TSP_MAX_LINES	2048
/* Events taken per epoll_wait(). */
#define SL_TSP_EVENTS		256

/* Timing (all milliseconds). */
#define SL_TSP_NAK_HANGUP_MS	100	/* handshake.rst: a NAK, then hang up */
#define SL_TSP_SETUP_MS		30000	/* CONNECT to an authentic CALL_AUTH */
#define SL_TSP_REOPEN_MS	5000	/* a line that failed: try again */
#define SL_TSP_DRAIN_MS		2000	/* output still queued at hangup */
#define SL_TSP_CDR_BYTES_MS	10000	/* byte counts saved while bridged */
#define SL_TSP_CLOSE_HANGUP_MS	300	/* no DTR: closed this long */
#define SL_TSP_SCAN_MS		1000	/* every line looked at, at least */
#define SL_TSP_CONNECT_MS	10000	/* a terminal server's port */
/* Escaped bytes queued for a Telnet line, beyond its output queue. */
#define SL_TSP_WIRE_MAX		(2 * SL_TSP_READ_CHUNK)
/* Held envelopes whose file is gone that the spool remembers not to
 * try again (saf.c). */
#define SL_TSP_LOST_MAX		16
/* Lines one call may try to dial out on (NO DIALTONE: glare). */
#define SL_TSP_DIAL_TRIES	3

/*
 * The TSP's default modem init string: the driver's (modem.h) with the
 * escape character disabled (S2=128). A TSP relays its callers' bytes,
 * "+++" with its guard times included (an endpoint's own hangup sends
 * it, and its modem passes it on): the TSP's modem on the other leg
 * would take it for its own escape. It hangs up by DTR instead.
 */
#define SL_TSP_DEFAULT_INIT	"ATE0V1Q0&D2S0=0S2=128"
/* "\r\nNO CARRIER\r\n", which sl_modem_data_scan() finds in data mode. */
#define SL_TSP_NO_CARRIER_LEN	14

#endif
