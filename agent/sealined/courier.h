/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * sealined's courier (Documentation/courier.rst, "Delivery"): it takes
 * the files sealctl packs, seals them into the outbox, delivers each
 * envelope to its recipient over a keyed line to it (a direct line, or a
 * call it places through the TSP), collects and verifies the receipt;
 * and on the other side it takes envelopes unattended, verifies every
 * chunk into the spool, unpacks them whole into the inbox and signs the
 * receipt. Both sides keep their logs.
 *
 *	courier.c	setting up, the outbox's deliveries and their
 *			schedule, calls, the event loop's part
 *	courier_line.c	one line: its channel, sending and receiving
 *	courier_ipc.c	sealctl's requests
 *	courier_intake.c  sealctl's packed files into a sealed envelope
 *	unpacker.c	unpacking in a thread of its own
 *
 * Its transfers run over COURIER messages on the lines' control channel
 * (proto/cchan.h, proto/xfer.h) beside whatever an application does on
 * the line's /dev/ttySL<n>: the two never mix. (The kernel sends control
 * frames ahead of data frames, so a transfer slows an interactive session
 * down until the kernel interleaves them.)
 */
#ifndef SEALINE_AGENT_COURIER_H
#define SEALINE_AGENT_COURIER_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ipc.h"
#include "keystore.h"
#include "lines.h"

struct sl_courier;

/*
 * Opens the outbox, spool, inbox, receipts and logs (finishing what a
 * crash left), derives the receipt key, queues what waits to be unpacked.
 * Installs itself as L's hooks. 0 or -errno with err.
 */
int sl_courier_init(struct sl_courier **out, const struct sl_config *cfg,
		    struct sl_keystore *ks, struct sl_lines *L, char *err,
		    size_t err_len);
/* Ends every transfer (their state stays durable) and frees. */
void sl_courier_fini(struct sl_courier *c);

/* The event loop: timers, descriptors (sealctl's pipes, the unpacker). */
void sl_courier_timers(struct sl_courier *c, int64_t now_ms);
int64_t sl_courier_next_timer(const struct sl_courier *c);
unsigned int sl_courier_pollfds(struct sl_courier *c, struct pollfd *pfd,
				unsigned int max);
void sl_courier_poll_done(struct sl_courier *c, const struct pollfd *pfd,
			  unsigned int n, int64_t now_ms);
/* Descriptors sl_courier_pollfds() may fill at most. */
#define SL_COURIER_MAX_POLLFDS	8

/* sealctl's courier requests (ipc.h): true if req was one. */
bool sl_courier_request(struct sl_courier *c, struct sl_ipc_client *client,
			const struct sl_ipc_req *req, int64_t now_ms);
void sl_courier_client_gone(struct sl_courier *c, struct sl_ipc_client *client);
/* Fields of the daemon's status record. */
void sl_courier_status(struct sl_courier *c, struct sl_ipc_builder *b);
/* SIGHUP: the logs reopened. */
void sl_courier_reload(struct sl_courier *c);

#endif
