/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * A small generic netlink client for the "sealine" family, shared by sealctl,
 * the test probe and (later) sealined.
 *
 * It owns one libnl socket, resolves the family and its multicast group by
 * name, sends requests and waits for their acknowledgement, and validates
 * every attribute the kernel sends back (exact lengths, terminated strings)
 * before anyone reads it. All functions return 0 or a negative errno; the
 * kernel's own errno is passed through unchanged so callers can tell ENOKEY
 * from ESTALE, and sl_nl_strerror() turns any of them into a sentence.
 */
#ifndef SEALINE_AGENT_NETLINK_H
#define SEALINE_AGENT_NETLINK_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/sealine.h>

#include "lineref.h"

struct nl_sock;
struct nl_cb;
struct nl_msg;

/*
 * Errno that sl_nl_open() returns when the controller does not know the
 * family: the module is not loaded. The controller itself says ENOENT, but
 * line commands may say ENOENT too ("no such line"), and the two must never
 * be confused in a message.
 */
#define SL_NL_ENOFAMILY ENOPKG

/* Bits of sl_attrs.present, one per top-level attribute. */
#define SL_HAS(attr) (1ULL << (attr))

/*
 * Every top-level attribute of a sealine message, validated. Fields are only
 * meaningful when their bit is set in @present (or @stat_present for stats).
 * @control points into the received message and is only valid inside the
 * callback that was handed this structure.
 */
struct sl_attrs {
	uint8_t cmd;
	uint64_t present;
	uint32_t index;
	char tty[SEALINE_TTY_NAME_MAX];
	uint8_t state;
	uint8_t cipher;
	uint32_t key_epoch;
	uint32_t next_epoch;
	uint64_t tx_counter;
	uint32_t key_age;
	uint32_t agent_portid;
	uint8_t limit;
	const uint8_t *control;
	size_t control_len;
	uint8_t mode;
	uint32_t dead_time;
	uint8_t link_dead;
	uint32_t srtt;
	uint32_t rto;
	uint32_t frame_size;
	uint64_t stat_present;
	uint64_t stats[SEALINE_STAT_MAX + 1];
};

/* Called for each reply to a request, or for each unsolicited message. */
typedef int (*sl_nl_msg_fn)(const struct sl_attrs *attrs, void *arg);

struct sl_nl {
	struct nl_sock *sk;
	struct nl_cb *cb;
	uint16_t family_id;
	uint32_t family_version;
	uint32_t events_group;
	/* Messages that answer no request: multicast events, and the unicast
	 * ones a registered agent gets (CONTROL_RECEIVED and key events). */
	sl_nl_msg_fn event_fn;
	void *event_arg;
	/* What the kernel said about the last request, if anything (extended
	 * ack). On success this is a warning; on failure, the reason. */
	char ext_msg[256];

	/* State of the request in flight; private to netlink.c. */
	uint32_t req_seq;
	bool req_done;
	int req_err;
	sl_nl_msg_fn reply_fn;
	void *reply_arg;
	int cb_err;
};

int sl_nl_open(struct sl_nl *nl);
void sl_nl_close(struct sl_nl *nl);
uint32_t sl_nl_portid(const struct sl_nl *nl);
void sl_nl_set_event_handler(struct sl_nl *nl, sl_nl_msg_fn fn, void *arg);
int sl_nl_subscribe_events(struct sl_nl *nl);

struct nl_msg *sl_nl_new_request(struct sl_nl *nl, uint8_t cmd, int flags);
int sl_nl_put_line(struct nl_msg *msg, const struct sl_line_ref *line);
int sl_nl_request(struct sl_nl *nl, struct nl_msg *msg, sl_nl_msg_fn reply_fn,
		  void *reply_arg);
int sl_nl_wait(struct sl_nl *nl, int timeout_ms, const sigset_t *sigmask);
int sl_nl_fd(const struct sl_nl *nl);

int sl_nl_parse(struct nl_msg *msg, struct sl_attrs *out);
void sl_nl_free_msg(struct nl_msg *msg);

const char *sl_nl_strerror(int err);
const char *sl_nl_errno_name(int err);

#endif
