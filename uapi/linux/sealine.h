/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * sealine: the contract between the sealine line discipline (sealine.ko)
 * and user space (sealined, sealctl).
 *
 * This header is the only ABI between the two halves. Every command and
 * attribute is documented here and in Documentation/protocol.rst.
 *
 * Generic netlink family "sealine", version SEALINE_GENL_VERSION.
 * Every command requires CAP_NET_ADMIN (GENL_ADMIN_PERM): they either change
 * the state of a line or reveal its traffic. The multicast group
 * SEALINE_MCGRP_EVENTS may only be joined with CAP_NET_ADMIN.
 *
 * Lines are named by SEALINE_A_LINE_INDEX (the <n> of /dev/ttySL<n>) or by
 * SEALINE_A_LINE_TTY (the name of the physical tty, e.g. "ttyS1"); a request
 * may carry either. When both are given they must name the same line.
 */
#ifndef _UAPI_LINUX_SEALINE_H
#define _UAPI_LINUX_SEALINE_H

#include <linux/types.h>

#define SEALINE_GENL_NAME	"sealine"
#define SEALINE_GENL_VERSION	1
#define SEALINE_MCGRP_EVENTS	"events"

/* The line discipline number sealine registers by default: N_DEVELOPMENT. */
#define SEALINE_LDISC_DEFAULT	29

/* Name prefix of the clear-text virtual ttys: /dev/ttySL<n>. */
#define SEALINE_VTTY_NAME	"ttySL"

/* Limits user space must respect. */
#define SEALINE_KEY_LEN		32	/* every cipher uses 256-bit keys */
#define SEALINE_MAX_LINES	256	/* attached lines at once */
#define SEALINE_MAX_PAYLOAD	2048	/* bytes of data in one frame */
#define SEALINE_MAX_CONTROL	SEALINE_MAX_PAYLOAD /* one control message */
#define SEALINE_TTY_NAME_MAX	64	/* incl. NUL, like tty_name() */

/**
 * enum sealine_cmd - generic netlink commands and events
 *
 * @SEALINE_CMD_GET_LINE: request: with a line attribute, reply with that
 *	line; as a dump (NLM_F_DUMP), one message per attached line. Reply
 *	attributes: LINE_INDEX, LINE_TTY, LINE_STATE, CIPHER, KEY_EPOCH,
 *	TX_COUNTER and KEY_AGE (if a key is active), NEXT_EPOCH (if a key is
 *	staged), AGENT_PORTID (if an agent is registered), STATS.
 * @SEALINE_CMD_SET_KEY: request: stage a key pair as the line's next key.
 *	Attributes: a line, KEY_EPOCH, KEY_TX, KEY_RX (required), CIPHER
 *	(optional, default SEALINE_CIPHER_CHACHA20POLY1305).
 *	From this moment the receive side accepts frames under the new key.
 *	The transmit side moves to it on ACTIVATE_KEY or when the first
 *	authenticated frame under the new key arrives from the peer, so a
 *	rekey loses no byte. Replaces (and wipes) any key already staged.
 *	The epoch must differ in its low 4 bits from the current and previous
 *	keys' epochs (-EEXIST otherwise). KEY_TX and KEY_RX must differ
 *	(-EINVAL otherwise): under one key for both directions a frame sent
 *	could be reflected back to its sender and accepted.
 * @SEALINE_CMD_ACTIVATE_KEY: request: promote the staged key (whose epoch
 *	must equal KEY_EPOCH) to current: the old current becomes previous
 *	(receive only), the old previous is wiped, and a keepalive under the
 *	new key tells the peer to switch too. Succeeds without change if the
 *	current key already has that epoch (the peer's frames promoted it).
 *	-ENOKEY if nothing is staged, -ESTALE if the staged epoch differs.
 * @SEALINE_CMD_CLEAR_KEYS: request: wipe every key of a line. The line is
 *	fail-closed again until a key is activated.
 * @SEALINE_CMD_REGISTER_AGENT: request: the sending socket becomes the
 *	line's agent: control messages received on the line and key events
 *	are unicast to it and to no one else. Replaces an earlier agent.
 *	-ENODEV on a line that is being detached. The
 *	registration ends when the socket closes; the line's keys are then
 *	wiped (an unsupervised line must not go on with keys nobody rotates).
 * @SEALINE_CMD_SEND_CONTROL: request: frame CONTROL (1..SEALINE_MAX_CONTROL
 *	bytes) as a control frame and send it on the line. Control frames are
 *	not encrypted by the line (they carry handshake messages that protect
 *	themselves) but carry a CRC. Only the registered agent may send
 *	(-EACCES otherwise, -ENOTCONN if no agent is registered).
 * @SEALINE_CMD_LINE_UP: event (multicast): a line was attached. LINE_INDEX,
 *	LINE_TTY.
 * @SEALINE_CMD_LINE_DOWN: event (multicast): a line was detached or hung
 *	up. LINE_INDEX, LINE_TTY.
 * @SEALINE_CMD_CONTROL_RECEIVED: event (unicast to the registered agent
 *	only): a control frame arrived. LINE_INDEX, LINE_TTY, CONTROL.
 * @SEALINE_CMD_REKEY_NEEDED: event (unicast to the agent and multicast):
 *	the current key passed its soft message or age limit. LINE_INDEX,
 *	LINE_TTY, KEY_EPOCH, LIMIT.
 * @SEALINE_CMD_KEY_EXPIRED: event (unicast to the agent and multicast): the
 *	current key passed its hard limit and is refused from now on; the line
 *	is fail-closed. LINE_INDEX, LINE_TTY, KEY_EPOCH, LIMIT.
 * @SEALINE_CMD_SET_LINE: request: change a line's settings. Attributes: a
 *	line, MODE and DEAD_TIME (each optional). MODE may change only while
 *	the line has no current key (-EBUSY otherwise), so that a mode never
 *	changes under bytes in flight; it applies to what this side sends,
 *	and a receiver takes both kinds of frames whatever its own mode.
 *	DEAD_TIME applies at once.
 * @SEALINE_CMD_LINK_DEAD: event (unicast to the agent and multicast): in
 *	reliable mode, nothing this side sent was acknowledged for the dead
 *	time; the virtual tty was hung up. LINE_INDEX, LINE_TTY.
 * @SEALINE_CMD_LINK_ALIVE: event (unicast to the agent and multicast):
 *	acknowledgements came back after LINK_DEAD. LINE_INDEX, LINE_TTY.
 */
enum sealine_cmd {
	SEALINE_CMD_UNSPEC,
	SEALINE_CMD_GET_LINE,
	SEALINE_CMD_SET_KEY,
	SEALINE_CMD_ACTIVATE_KEY,
	SEALINE_CMD_CLEAR_KEYS,
	SEALINE_CMD_REGISTER_AGENT,
	SEALINE_CMD_SEND_CONTROL,
	SEALINE_CMD_LINE_UP,
	SEALINE_CMD_LINE_DOWN,
	SEALINE_CMD_CONTROL_RECEIVED,
	SEALINE_CMD_REKEY_NEEDED,
	SEALINE_CMD_KEY_EXPIRED,
	SEALINE_CMD_SET_LINE,
	SEALINE_CMD_LINK_DEAD,
	SEALINE_CMD_LINK_ALIVE,
	__SEALINE_CMD_MAX
};

#define SEALINE_CMD_MAX (__SEALINE_CMD_MAX - 1)

/**
 * enum sealine_attr - top-level attributes
 *
 * @SEALINE_A_LINE_INDEX: u32, the <n> of /dev/ttySL<n>.
 * @SEALINE_A_LINE_TTY: NUL-terminated string, the physical tty ("ttyS1").
 * @SEALINE_A_LINE_STATE: u8, enum sealine_line_state.
 * @SEALINE_A_CIPHER: u8, enum sealine_cipher.
 * @SEALINE_A_KEY_EPOCH: u32, the epoch of a key; the agent numbers keys.
 * @SEALINE_A_NEXT_EPOCH: u32, epoch of the staged key (GET_LINE only).
 * @SEALINE_A_KEY_TX: binary, exactly SEALINE_KEY_LEN bytes, key for frames
 *	this side sends. Write only: no command ever returns a key.
 * @SEALINE_A_KEY_RX: binary, exactly SEALINE_KEY_LEN bytes, key for frames
 *	this side receives. Write only.
 * @SEALINE_A_CONTROL: binary, 1..SEALINE_MAX_CONTROL bytes, one control
 *	message.
 * @SEALINE_A_TX_COUNTER: u64, frames sent under the current key.
 * @SEALINE_A_KEY_AGE: u32, seconds since the current key was activated.
 * @SEALINE_A_AGENT_PORTID: u32, netlink port id of the registered agent.
 * @SEALINE_A_LIMIT: u8, enum sealine_limit: which limit an event is about.
 * @SEALINE_A_STATS: nested, enum sealine_stat, all u64.
 * @SEALINE_A_PAD: padding for 64-bit attributes.
 * @SEALINE_A_MODE: u8, enum sealine_mode: how this side sends application
 *	bytes (SET_LINE, GET_LINE).
 * @SEALINE_A_DEAD_TIME: u32, milliseconds (1000..3600000, default 30000):
 *	in reliable mode, how long bytes may stay unacknowledged before the
 *	line is declared dead (SET_LINE, GET_LINE).
 * @SEALINE_A_LINK_DEAD: u8, 1 while the line is declared dead (GET_LINE).
 * @SEALINE_A_SRTT: u32, the smoothed round trip in milliseconds, 0 until
 *	measured (GET_LINE).
 * @SEALINE_A_RTO: u32, the retransmission timeout in milliseconds, with
 *	its back-off (GET_LINE).
 * @SEALINE_A_FRAME_SIZE: u32, the current payload size of reliable frames,
 *	which shrinks on a lossy line and grows back (GET_LINE).
 */
enum sealine_attr {
	SEALINE_A_UNSPEC,
	SEALINE_A_LINE_INDEX,
	SEALINE_A_LINE_TTY,
	SEALINE_A_LINE_STATE,
	SEALINE_A_CIPHER,
	SEALINE_A_KEY_EPOCH,
	SEALINE_A_NEXT_EPOCH,
	SEALINE_A_KEY_TX,
	SEALINE_A_KEY_RX,
	SEALINE_A_CONTROL,
	SEALINE_A_TX_COUNTER,
	SEALINE_A_KEY_AGE,
	SEALINE_A_AGENT_PORTID,
	SEALINE_A_LIMIT,
	SEALINE_A_STATS,
	SEALINE_A_PAD,
	SEALINE_A_MODE,
	SEALINE_A_DEAD_TIME,
	SEALINE_A_LINK_DEAD,
	SEALINE_A_SRTT,
	SEALINE_A_RTO,
	SEALINE_A_FRAME_SIZE,
	__SEALINE_A_MAX
};

#define SEALINE_A_MAX (__SEALINE_A_MAX - 1)

/**
 * enum sealine_line_state - what a line does with application data
 *
 * @SEALINE_STATE_NOKEY: no active key: fail-closed. Writes to the virtual tty
 *	block (or fail with EAGAIN when non-blocking) and nothing reaches the
 *	wire; received data frames are dropped and counted.
 * @SEALINE_STATE_KEYED: an active key protects both directions.
 * @SEALINE_STATE_EXPIRED: the active key passed its hard limit: fail-closed
 *	as in NOKEY until a new key is activated.
 */
enum sealine_line_state {
	SEALINE_STATE_NOKEY,
	SEALINE_STATE_KEYED,
	SEALINE_STATE_EXPIRED,
};

/**
 * enum sealine_cipher - AEAD protecting data frames
 *
 * @SEALINE_CIPHER_CHACHA20POLY1305: RFC 8439, the default.
 * @SEALINE_CIPHER_AES256GCM: AES-256 in GCM mode, 16-byte tag.
 */
enum sealine_cipher {
	SEALINE_CIPHER_NONE,
	SEALINE_CIPHER_CHACHA20POLY1305,
	SEALINE_CIPHER_AES256GCM,
};

/**
 * enum sealine_mode - how a line sends application bytes
 * @SEALINE_MODE_DATAGRAM: each frame is sent once; a damaged frame is a hole
 *	of up to SEALINE_MAX_PAYLOAD bytes in the stream. For traffic that
 *	recovers by itself (PPP carrying TCP, polling protocols with retries).
 * @SEALINE_MODE_RELIABLE: selective-repeat ARQ: the peer acknowledges, lost
 *	frames are sent again, the reader gets every byte in order exactly
 *	once, or the line is declared dead (Documentation/protocol.rst,
 *	"Reliable mode").
 */
enum sealine_mode {
	SEALINE_MODE_DATAGRAM,
	SEALINE_MODE_RELIABLE,
};

/* Limits of SEALINE_A_DEAD_TIME, in milliseconds. */
#define SEALINE_DEAD_TIME_MIN		1000
#define SEALINE_DEAD_TIME_DEFAULT	30000
#define SEALINE_DEAD_TIME_MAX		3600000

/**
 * enum sealine_limit - the limit a key event refers to
 *
 * @SEALINE_LIMIT_MESSAGES: frames sent under the key (on receive, the
 *	peer's counter is held against the hard limit).
 * @SEALINE_LIMIT_AGE: seconds since the key was activated.
 */
enum sealine_limit {
	SEALINE_LIMIT_NONE,
	SEALINE_LIMIT_MESSAGES,
	SEALINE_LIMIT_AGE,
};

/**
 * enum sealine_stat - per-line counters in SEALINE_A_STATS, all u64
 *
 * @SEALINE_STAT_TX_FRAMES: data frames sent.
 * @SEALINE_STAT_TX_BYTES: application bytes sent, in data frames or (counted
 *	once, resends not) in reliable frames.
 * @SEALINE_STAT_RX_FRAMES: data frames received, authenticated, delivered.
 * @SEALINE_STAT_RX_BYTES: application bytes delivered to the virtual tty.
 * @SEALINE_STAT_TX_WIRE_BYTES: bytes written to the physical line.
 * @SEALINE_STAT_RX_WIRE_BYTES: bytes read from the physical line.
 * @SEALINE_STAT_AUTH_FAILURES: frames whose tag did not verify.
 * @SEALINE_STAT_REPLAYS: frames refused by the replay window, either before
 *	decryption (a counter already seen or too old) or after it.
 * @SEALINE_STAT_RESYNCS: times the decoder threw away bytes to find the next
 *	frame delimiter (line noise, a frame too long, a bad encoding).
 * @SEALINE_STAT_MALFORMED: frames too short, of unknown version or type, or
 *	with a bad control CRC.
 * @SEALINE_STAT_NOKEY_DROPS: data and keepalive frames dropped because no
 *	key matched their epoch (fail-closed receive), or their key was
 *	cleared while they were being opened.
 * @SEALINE_STAT_EXPIRED_DROPS: frames refused because their key is past its
 *	hard limit.
 * @SEALINE_STAT_RX_OVERRUNS: bytes of authenticated data the virtual tty
 *	could not take: nobody had it open (like a closed UART, it drops
 *	what arrives), or its reader stalled past the tty buffer limit.
 * @SEALINE_STAT_CONTROL_TX: control frames sent.
 * @SEALINE_STAT_CONTROL_RX: control frames received and passed to the agent.
 * @SEALINE_STAT_CONTROL_DROPS: control frames received with no agent to
 *	take them, or that the agent's socket could not take.
 * @SEALINE_STAT_KEEPALIVES_TX: keepalive frames sent.
 * @SEALINE_STAT_KEEPALIVES_RX: keepalive frames received and authenticated.
 * @SEALINE_STAT_REKEYS: keys activated on this line (either side's move).
 * @SEALINE_STAT_RELIABLE_TX: reliable frames sent (data, resends and ACKs).
 * @SEALINE_STAT_RELIABLE_RX: reliable frames received and authenticated.
 * @SEALINE_STAT_RETRANSMITS: reliable frames sent again, all causes.
 * @SEALINE_STAT_FAST_RETRANSMITS: losses found because a later frame
 *	arrived (sent again at once, without waiting for the timer).
 * @SEALINE_STAT_TIMEOUTS: retransmission timer expiries.
 * @SEALINE_STAT_ACKS_TX: reliable frames that carried only an ACK or RST.
 * @SEALINE_STAT_DUPLICATES_RX: reliable data frames with nothing new.
 * @SEALINE_STAT_OUT_OF_ORDER_RX: reliable data frames held beyond a gap.
 * @SEALINE_STAT_WINDOW_DROPS: reliable data outside the receive window.
 * @SEALINE_STAT_STALE_DROPS: reliable frames refused as stale: a SYN or RST
 *	in a frame that was not the newest, or a frame under the previous key
 *	after the current one was heard.
 * @SEALINE_STAT_STREAM_RESETS: streams dropped by a reset or a new stream.
 * @SEALINE_STAT_LINK_DEAD: times the line was declared dead.
 * @SEALINE_STAT_PAD: padding attribute of the nest, not a counter; always
 *	the last (new counters go before it).
 */
enum sealine_stat {
	SEALINE_STAT_UNSPEC,
	SEALINE_STAT_TX_FRAMES,
	SEALINE_STAT_TX_BYTES,
	SEALINE_STAT_RX_FRAMES,
	SEALINE_STAT_RX_BYTES,
	SEALINE_STAT_TX_WIRE_BYTES,
	SEALINE_STAT_RX_WIRE_BYTES,
	SEALINE_STAT_AUTH_FAILURES,
	SEALINE_STAT_REPLAYS,
	SEALINE_STAT_RESYNCS,
	SEALINE_STAT_MALFORMED,
	SEALINE_STAT_NOKEY_DROPS,
	SEALINE_STAT_EXPIRED_DROPS,
	SEALINE_STAT_RX_OVERRUNS,
	SEALINE_STAT_CONTROL_TX,
	SEALINE_STAT_CONTROL_RX,
	SEALINE_STAT_CONTROL_DROPS,
	SEALINE_STAT_KEEPALIVES_TX,
	SEALINE_STAT_KEEPALIVES_RX,
	SEALINE_STAT_REKEYS,
	SEALINE_STAT_RELIABLE_TX,
	SEALINE_STAT_RELIABLE_RX,
	SEALINE_STAT_RETRANSMITS,
	SEALINE_STAT_FAST_RETRANSMITS,
	SEALINE_STAT_TIMEOUTS,
	SEALINE_STAT_ACKS_TX,
	SEALINE_STAT_DUPLICATES_RX,
	SEALINE_STAT_OUT_OF_ORDER_RX,
	SEALINE_STAT_WINDOW_DROPS,
	SEALINE_STAT_STALE_DROPS,
	SEALINE_STAT_STREAM_RESETS,
	SEALINE_STAT_LINK_DEAD,
	SEALINE_STAT_PAD,
	__SEALINE_STAT_MAX
};

#define SEALINE_STAT_MAX (__SEALINE_STAT_MAX - 1)

#endif /* _UAPI_LINUX_SEALINE_H */
