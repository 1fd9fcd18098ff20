// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Names for the enums of the sealine netlink contract.
 *
 * Names are lower case with underscores because they double as JSON keys
 * and as the STAT argument of "sealctl show LINE STAT", which tests use in
 * shell; people may type them with '-' or ' ' instead, or in capitals.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <linux/sealine.h>

#include "names.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char *const state_names[] = {
	[SEALINE_STATE_NOKEY] = "nokey",
	[SEALINE_STATE_KEYED] = "keyed",
	[SEALINE_STATE_EXPIRED] = "expired",
};

static const char *const cipher_names[] = {
	[SEALINE_CIPHER_NONE] = "none",
	[SEALINE_CIPHER_CHACHA20POLY1305] = "chacha20poly1305",
	[SEALINE_CIPHER_AES256GCM] = "aes256gcm",
};

static const char *const limit_names[] = {
	[SEALINE_LIMIT_NONE] = "none",
	[SEALINE_LIMIT_MESSAGES] = "messages",
	[SEALINE_LIMIT_AGE] = "age",
};

static const char *const event_names[] = {
	[SEALINE_CMD_GET_LINE] = "get_line",
	[SEALINE_CMD_SET_KEY] = "set_key",
	[SEALINE_CMD_ACTIVATE_KEY] = "activate_key",
	[SEALINE_CMD_CLEAR_KEYS] = "clear_keys",
	[SEALINE_CMD_REGISTER_AGENT] = "register_agent",
	[SEALINE_CMD_SEND_CONTROL] = "send_control",
	[SEALINE_CMD_LINE_UP] = "line_up",
	[SEALINE_CMD_LINE_DOWN] = "line_down",
	[SEALINE_CMD_CONTROL_RECEIVED] = "control_received",
	[SEALINE_CMD_REKEY_NEEDED] = "rekey_needed",
	[SEALINE_CMD_KEY_EXPIRED] = "key_expired",
	[SEALINE_CMD_SET_LINE] = "set_line",
	[SEALINE_CMD_LINK_DEAD] = "link_dead",
	[SEALINE_CMD_LINK_ALIVE] = "link_alive",
};

static const struct {
	const char *name;
	const char *help;
} stats[] = {
	[SEALINE_STAT_TX_FRAMES] = { "tx_frames", "data frames sent" },
	[SEALINE_STAT_TX_BYTES] = { "tx_bytes", "application bytes sent (reliable: once, resends not counted)" },
	[SEALINE_STAT_RX_FRAMES] = { "rx_frames", "data frames received, authenticated and delivered" },
	[SEALINE_STAT_RX_BYTES] = { "rx_bytes", "application bytes delivered to the virtual tty" },
	[SEALINE_STAT_TX_WIRE_BYTES] = { "tx_wire_bytes", "bytes written to the physical line" },
	[SEALINE_STAT_RX_WIRE_BYTES] = { "rx_wire_bytes", "bytes read from the physical line" },
	[SEALINE_STAT_AUTH_FAILURES] = { "auth_failures", "frames whose tag did not verify" },
	[SEALINE_STAT_REPLAYS] = { "replays", "authenticated frames refused by the replay window" },
	[SEALINE_STAT_RESYNCS] = { "resyncs", "times bytes were skipped to find the next frame delimiter" },
	[SEALINE_STAT_MALFORMED] = { "malformed", "frames too short, of unknown version or type, or with a bad control CRC" },
	[SEALINE_STAT_NOKEY_DROPS] = { "nokey_drops", "data frames dropped because no key matched their epoch" },
	[SEALINE_STAT_EXPIRED_DROPS] = { "expired_drops", "frames refused because their key is past its hard limit" },
	[SEALINE_STAT_RX_OVERRUNS] = { "rx_overruns", "authenticated data the virtual tty could not take" },
	[SEALINE_STAT_CONTROL_TX] = { "control_tx", "control frames sent" },
	[SEALINE_STAT_CONTROL_RX] = { "control_rx", "control frames received and passed to the agent" },
	[SEALINE_STAT_CONTROL_DROPS] = { "control_drops", "control frames received with no agent to take them" },
	[SEALINE_STAT_KEEPALIVES_TX] = { "keepalives_tx", "keepalive frames sent" },
	[SEALINE_STAT_KEEPALIVES_RX] = { "keepalives_rx", "keepalive frames received and authenticated" },
	[SEALINE_STAT_REKEYS] = { "rekeys", "keys activated on this line" },
	[SEALINE_STAT_RELIABLE_TX] = { "reliable_tx", "reliable frames sent (data, resends and ACKs)" },
	[SEALINE_STAT_RELIABLE_RX] = { "reliable_rx", "reliable frames received and authenticated" },
	[SEALINE_STAT_RETRANSMITS] = { "retransmits", "reliable frames sent again" },
	[SEALINE_STAT_FAST_RETRANSMITS] = { "fast_retransmits", "losses found because a later frame arrived" },
	[SEALINE_STAT_TIMEOUTS] = { "timeouts", "retransmission timer expiries" },
	[SEALINE_STAT_ACKS_TX] = { "acks_tx", "reliable frames that carried only an ACK or RST" },
	[SEALINE_STAT_DUPLICATES_RX] = { "duplicates_rx", "reliable data frames with nothing new" },
	[SEALINE_STAT_OUT_OF_ORDER_RX] = { "out_of_order_rx", "reliable data frames held beyond a gap" },
	[SEALINE_STAT_WINDOW_DROPS] = { "window_drops", "reliable data outside the receive window" },
	[SEALINE_STAT_STALE_DROPS] = { "stale_drops", "reliable frames refused as stale (held back and released)" },
	[SEALINE_STAT_STREAM_RESETS] = { "stream_resets", "reliable streams dropped by a reset" },
	[SEALINE_STAT_LINK_DEAD] = { "link_dead", "times the line was declared dead" },
};

/* A counter added to the header but not here would silently vanish from
 * the output: refuse to build instead. (PAD is the last, unnamed, entry.) */
_Static_assert(ARRAY_SIZE(stats) == SEALINE_STAT_PAD,
	       "names.c: every enum sealine_stat needs a name");
_Static_assert(ARRAY_SIZE(event_names) == __SEALINE_CMD_MAX,
	       "names.c: every enum sealine_cmd needs a name");

static const char *lookup(const char *const *names, size_t n, unsigned int v)
{
	return v < n ? names[v] : NULL;
}

const char *sl_state_name(uint8_t state)
{
	return lookup(state_names, ARRAY_SIZE(state_names), state);
}

const char *sl_cipher_name(uint8_t cipher)
{
	return lookup(cipher_names, ARRAY_SIZE(cipher_names), cipher);
}

const char *sl_limit_name(uint8_t limit)
{
	return lookup(limit_names, ARRAY_SIZE(limit_names), limit);
}

const char *sl_mode_name(uint8_t mode)
{
	static const char *const names[] = {
		[SEALINE_MODE_DATAGRAM] = "datagram",
		[SEALINE_MODE_RELIABLE] = "reliable",
	};

	return mode < ARRAY_SIZE(names) ? names[mode] : NULL;
}

const char *sl_event_name(uint8_t cmd)
{
	return lookup(event_names, ARRAY_SIZE(event_names), cmd);
}

const char *sl_stat_name(unsigned int stat)
{
	return stat < ARRAY_SIZE(stats) ? stats[stat].name : NULL;
}

const char *sl_stat_help(unsigned int stat)
{
	return stat < ARRAY_SIZE(stats) ? stats[stat].help : NULL;
}

/* strcmp() that lets "Auth-Failures" or "auth failures" match "auth_failures". */
int sl_name_cmp(const char *typed, const char *name)
{
	for (;; ++typed, ++name) {
		int a = tolower((unsigned char)*typed);

		if (a == '-' || a == ' ')
			a = '_';
		if (a != *name)
			return a - *name;
		if (!a)
			return 0;
	}
}

int sl_stat_lookup(const char *name)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(stats); ++i) {
		if (stats[i].name && !sl_name_cmp(name, stats[i].name))
			return (int)i;
	}
	return -ENOENT;
}

/* Only ciphers a user may choose: "none" is the kernel's way of saying
 * "no key", never something to ask for. */
int sl_cipher_parse(const char *name, uint8_t *cipher)
{
	unsigned int i;

	for (i = SEALINE_CIPHER_NONE + 1; i < ARRAY_SIZE(cipher_names); ++i) {
		if (!sl_name_cmp(name, cipher_names[i])) {
			*cipher = (uint8_t)i;
			return 0;
		}
	}
	return -EINVAL;
}
