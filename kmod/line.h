/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SEALINE_LINE_H
#define SEALINE_LINE_H

#include <linux/atomic.h>
#include <linux/kfifo.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/timer.h>
#include <linux/tty.h>
#include <linux/tty_port.h>
#include <linux/workqueue.h>

#include "arq.h"
#include "crypto.h"
#include "frame.h"

/*
 * Application bytes queued on the virtual tty before they are framed: two
 * full frames, so the transmit work always has the next frame's bytes at
 * hand while the previous one drains to the UART.
 */
#define SEALINE_TX_FIFO_SIZE	(2 * SEALINE_MAX_PAYLOAD)

/*
 * In reliable mode the same buffer is the ARQ's send ring (written bytes
 * stay until acknowledged); a line uses one or the other, and the mode
 * changes only while nothing is queued.
 */
static_assert(SEALINE_TX_FIFO_SIZE == SEALINE_ARQ_TX_RING);

/*
 * Clear text received but not yet taken by the virtual tty's reader (its
 * flip buffers; N_TTY holds another 4 KiB). Past it the line stops reading
 * the physical tty and throttles it, so a stalled reader slows the line
 * instead of growing kernel memory (the tty core's default is 640 KiB).
 * Frames are opened as they arrive up to this limit: a reader that is only
 * slow for a moment (a loaded machine) leaves no ciphertext behind that a
 * rekey in the meantime could make unreadable. 32 frames: 5.7 s of a
 * 115200 baud line.
 */
#define SEALINE_RX_BUFFER_LIMIT	(32 * SEALINE_MAX_PAYLOAD)

/* Size of each of a line's frame buffers (tx_wire, the decoder). */
#define SEALINE_FRAME_BUF_SIZE	sizeof(struct sealine_decoder)

/*
 * tx_work builds each frame in tx_wire this far in (after room for the
 * first delimiter and sealine_cobs_lead() of the largest frame), seals it
 * there and COBS-encodes it in place: no second frame buffer per line.
 */
#define SEALINE_TX_RAW_OFF	(1 + SEALINE_FRAME_MAX_RAW / 254 + 1)
static_assert(SEALINE_TX_RAW_OFF + SEALINE_FRAME_MAX_RAW <=
	      SEALINE_FRAME_BUF_SIZE);
static_assert(1 + SEALINE_FRAME_MAX_RAW + SEALINE_FRAME_MAX_RAW / 254 + 1 + 1 <=
	      SEALINE_FRAME_BUF_SIZE);

/* Counters, each updated and read on its own (no lock, no torn values). */
struct sealine_stats {
	atomic64_t v[__SEALINE_STAT_MAX];
};

/* Plain values, as GET_LINE reports them. */
struct sealine_stats_snapshot {
	u64 v[__SEALINE_STAT_MAX];
};

struct sealine_limits {
	u64 rekey_after_messages;
	u64 reject_after_messages;
	unsigned int rekey_after_seconds;
	unsigned int reject_after_seconds;
};

extern struct sealine_limits sealine_limits;

/*
 * One attached physical line and its virtual tty.
 *
 * Lifetime: the struct is owned by the reference count of the virtual tty's
 * port. The line discipline holds one reference from open to close, every
 * open virtual tty holds one, and netlink holds one while it works on the
 * line. The port's destruct callback frees it.
 */
struct sealine_line {
	struct tty_port port;
	unsigned int index;
	char tty_name[SEALINE_TTY_NAME_MAX];

	/*
	 * lock protects: dead, tty, the key slots and the keys' counters,
	 * tx_fifo, keepalive_pending, tx_wire_len/tx_wire_off (not the bytes),
	 * the receive flow control state and the agent registration.
	 *
	 * Taken with interrupts off everywhere: the virtual tty's write side
	 * (write, write_room, chars_in_buffer, flush_buffer) is called from
	 * softirq by ppp_async's tasklet and slip, and with interrupts
	 * disabled by n_gsm (under its tx_lock). Never call into another tty
	 * (wakeups, writes) with it held.
	 */
	spinlock_t lock;
	bool dead;
	struct tty_struct *tty;		/* the physical tty, NULL once dead */
	struct sealine_key *prev;	/* receive only: frames still in flight */
	struct sealine_key *cur;	/* transmit and receive */
	struct sealine_key *next;	/* receive only until promoted */
	u64 key_serial;			/* names keys to the ARQ's nonce guard */

	/* Transmit. tx_wire's bytes belong to tx_work alone. */
	struct work_struct tx_work;
	struct delayed_work limit_work;	/* age limits of the current key */
	struct kfifo tx_fifo;
	u8 *tx_fifo_buf;
	struct sk_buff_head control_queue;
	bool keepalive_pending;
	bool sent_first_delimiter;
	u8 *tx_wire;
	size_t tx_wire_len;
	size_t tx_wire_off;

	/* Receive: used only by the physical tty's receive path. */
	struct sealine_decoder *decoder;
	/*
	 * Receive flow control. rx_throttled: the virtual tty's N_TTY asked
	 * us to stop (its buffer is full). rx_stalled: the receive path left
	 * bytes in the physical tty's buffer and throttled it; rx_work
	 * unthrottles it and restarts the receive path.
	 */
	bool rx_throttled;
	bool rx_stalled;
	struct work_struct rx_work;

	/*
	 * Reliable mode (reliable.c). arq is under lock; its send ring is
	 * tx_fifo_buf. A line in datagram mode still acknowledges a peer
	 * that sends reliably. arq_timer brings tx_work back when the
	 * ARQ's next timer falls due.
	 */
	enum sealine_mode mode;
	struct sealine_arq arq;
	u8 *arq_rx_ring;
	struct timer_list arq_timer;

	/* The agent that receives control messages and key events. */
	u32 agent_portid;
	struct net *agent_net;

	struct sealine_stats stats;
};

/* A consistent copy of what GET_LINE reports, taken under the lock. */
struct sealine_line_info {
	enum sealine_line_state state;
	enum sealine_cipher cipher;
	bool has_cur, has_next;
	u32 epoch, next_epoch;
	u64 tx_counter;
	u32 key_age;
	u32 agent_portid;
	enum sealine_mode mode;
	u32 dead_time;
	struct sealine_arq_info arq;
	struct sealine_stats_snapshot stats;
};

static inline void sealine_stat_add(struct sealine_line *line,
				    enum sealine_stat stat, u64 n)
{
	atomic64_add(n, &line->stats.v[stat]);
}

/* line.c */
int sealine_line_init(void);
void sealine_line_exit(void);
int sealine_line_attach(struct tty_struct *tty);
void sealine_line_detach(struct sealine_line *line);
void sealine_line_hangup(struct sealine_line *line);
struct sealine_line *sealine_line_get(unsigned int index);
struct sealine_line *sealine_line_get_by_tty(const char *name);
void sealine_line_put(struct sealine_line *line);
struct sealine_line *sealine_line_get_next(unsigned int *index);
void sealine_line_destroy(struct sealine_line *line);
int sealine_line_register_agent(struct sealine_line *line, struct net *net,
				u32 portid);
enum sealine_line_state sealine_line_state(struct sealine_line *line);
void sealine_line_snapshot(struct sealine_line *line,
			   struct sealine_line_info *info);
void sealine_agent_released(struct net *net, u32 portid);

/* keys.c */
u32 sealine_key_age(const struct sealine_key *key);
bool sealine_key_past(const struct sealine_key *key, u64 messages,
		      u64 message_limit, unsigned int second_limit,
		      enum sealine_limit *which);
bool sealine_key_tx_expired(const struct sealine_key *key,
			    enum sealine_limit *which);
enum sealine_line_state sealine_state_locked(struct sealine_line *line);
void sealine_limit_work(struct work_struct *work);
void sealine_arm_limits_locked(struct sealine_line *line);
struct sealine_key *sealine_promote_locked(struct sealine_line *line);
int sealine_line_set_key(struct sealine_line *line,
			 enum sealine_cipher cipher, u32 epoch,
			 const u8 *tx_key, const u8 *rx_key);
int sealine_line_activate_key(struct sealine_line *line, u32 epoch);
void sealine_line_clear_keys(struct sealine_line *line);

/* send.c */
void sealine_line_kick(struct sealine_line *line);
void sealine_tx_work(struct work_struct *work);
int sealine_line_write(struct sealine_line *line, const u8 *buf, int count);
unsigned int sealine_line_write_room(struct sealine_line *line);
unsigned int sealine_line_chars_in_buffer(struct sealine_line *line);
void sealine_flush_tx_locked(struct sealine_line *line);
void sealine_line_flush_tx(struct sealine_line *line);
int sealine_line_queue_control(struct sealine_line *line, const u8 *msg,
			       size_t len);

/* reliable.c */
u32 sealine_now_ms(void);
void sealine_arq_timer_fn(struct timer_list *t);
int sealine_reliable_init(struct sealine_line *line);
void sealine_reliable_restart_locked(struct sealine_line *line);
void sealine_reliable_arm_locked(struct sealine_line *line);
void sealine_reliable_events(struct sealine_line *line, u32 events);
int sealine_reliable_build_locked(struct sealine_line *line,
				  struct sealine_key *key, u8 *out,
				  size_t *fresh);
void sealine_reliable_deliver(struct sealine_line *line);
int sealine_line_set_mode(struct sealine_line *line, enum sealine_mode mode);
int sealine_line_set_dead_time(struct sealine_line *line, u32 ms);
void sealine_reliable_snapshot_locked(struct sealine_line *line,
				      struct sealine_line_info *info);

/* receive.c */
extern const struct tty_port_client_operations sealine_vtty_client_ops;
void sealine_phys_throttle(struct tty_struct *tty, bool throttle);
void sealine_rx_work(struct work_struct *work);
size_t sealine_line_receive(struct sealine_line *line, const u8 *cp,
			    const u8 *fp, size_t count);
void sealine_line_throttle(struct sealine_line *line, bool throttled);
void sealine_line_vtty_closed(struct sealine_line *line);

/* vtty.c */
extern struct tty_driver *sealine_tty_driver;
extern const struct tty_port_operations sealine_port_ops;
int sealine_vtty_init(void);
void sealine_vtty_forget_termios(unsigned int index);
void sealine_vtty_exit(void);

/* netlink.c */
int sealine_netlink_init(void);
void sealine_netlink_exit(void);
void sealine_nl_line_event(struct sealine_line *line, u8 cmd);
void sealine_nl_key_event(struct sealine_line *line, u8 cmd, u32 epoch,
			  enum sealine_limit limit);
void sealine_nl_control_received(struct sealine_line *line, const u8 *msg,
				 size_t len);

/* ldisc.c */
int sealine_ldisc_init(int num);
void sealine_ldisc_exit(void);

#endif /* SEALINE_LINE_H */
