/* SPDX-License-Identifier: GPL-2.0 */
#ifndef SEALINE_LINE_H
#define SEALINE_LINE_H

#include <linux/kfifo.h>
#include <linux/skbuff.h>
#include <linux/spinlock.h>
#include <linux/tty.h>
#include <linux/tty_port.h>
#include <linux/workqueue.h>

#include "crypto.h"
#include "frame.h"

/* Application bytes queued on the virtual tty before they are framed. */
#define SEALINE_TX_FIFO_SIZE	8192

struct sealine_stats {
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
	 * tx_fifo, keepalive_pending, the agent registration and the stats
	 * written outside the receive path and transmit work.
	 */
	spinlock_t lock;
	bool dead;
	struct tty_struct *tty;		/* the physical tty, NULL once dead */
	struct sealine_key *prev;	/* receive only: frames still in flight */
	struct sealine_key *cur;	/* transmit and receive */
	struct sealine_key *next;	/* receive only until promoted */

	/* Transmit. tx_raw/tx_wire belong to tx_work alone. */
	struct work_struct tx_work;
	struct delayed_work limit_work;	/* age limits of the current key */
	struct kfifo tx_fifo;
	u8 *tx_fifo_buf;
	struct sk_buff_head control_queue;
	bool keepalive_pending;
	bool sent_first_delimiter;
	u8 *tx_raw;
	u8 *tx_wire;
	size_t tx_wire_len;
	size_t tx_wire_off;

	/* Receive: used only by the physical tty's receive path. */
	struct sealine_decoder *decoder;

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
	struct sealine_stats stats;
};

static inline void sealine_stat_add(struct sealine_line *line,
				    enum sealine_stat stat, u64 n)
{
	WRITE_ONCE(line->stats.v[stat], line->stats.v[stat] + n);
}

/* line.c */
int sealine_line_attach(struct tty_struct *tty);
void sealine_line_detach(struct sealine_line *line);
void sealine_line_hangup(struct sealine_line *line);
struct sealine_line *sealine_line_get(unsigned int index);
struct sealine_line *sealine_line_get_by_tty(const char *name);
void sealine_line_put(struct sealine_line *line);
struct sealine_line *sealine_line_get_next(unsigned int *index);
void sealine_line_kick(struct sealine_line *line);
void sealine_line_destroy(struct sealine_line *line);
int sealine_line_write(struct sealine_line *line, const u8 *buf, int count);
unsigned int sealine_line_write_room(struct sealine_line *line);
unsigned int sealine_line_chars_in_buffer(struct sealine_line *line);
void sealine_line_flush_tx(struct sealine_line *line);
void sealine_line_receive(struct sealine_line *line, const u8 *cp,
			  const u8 *fp, size_t count);
int sealine_line_set_key(struct sealine_line *line,
			 enum sealine_cipher cipher, u32 epoch,
			 const u8 *tx_key, const u8 *rx_key);
int sealine_line_activate_key(struct sealine_line *line, u32 epoch);
void sealine_line_clear_keys(struct sealine_line *line);
int sealine_line_queue_control(struct sealine_line *line, const u8 *msg,
			       size_t len);
enum sealine_line_state sealine_line_state(struct sealine_line *line);
void sealine_line_snapshot(struct sealine_line *line,
			   struct sealine_line_info *info);
void sealine_agent_released(struct net *net, u32 portid);

/* vtty.c */
extern struct tty_driver *sealine_tty_driver;
extern const struct tty_port_operations sealine_port_ops;
int sealine_vtty_init(void);
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
