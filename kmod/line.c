// SPDX-License-Identifier: GPL-2.0
/*
 * A sealine line: key slots, the transmit work that turns queued
 * application bytes into sealed frames, and the receive path that turns
 * frames back into application bytes.
 *
 * Fail closed: application bytes enter the transmit FIFO only while a
 * current, unexpired key exists, and leave it only through
 * sealine_key_seal(). Nothing else ever writes application data to the
 * physical tty.
 *
 * Key slots: "next" is staged by SET_KEY and already opens received frames;
 * it becomes "cur" when the agent activates it or when the peer's first
 * authenticated frame under it arrives, and the old "cur" stays on as
 * "prev" for frames still in flight. So during a rekey each side can
 * receive under both keys and no byte is lost.
 */
#include <linux/idr.h>
#include <linux/jiffies.h>
#include <linux/math64.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/tty_flip.h>
#include <net/net_namespace.h>

#include "line.h"

/* Index of /dev/ttySL<n> -> line. An index stays taken until the line is
 * freed, so a new line never meets a virtual tty still open on an old one.
 * A line being attached holds its index with a NULL entry until its
 * virtual tty is registered: lookups never see a half-built line.
 */
static DEFINE_IDR(sealine_lines);
static DEFINE_MUTEX(sealine_lines_mutex);

/* The three frame-sized buffers of a line (a kmalloc of their size would
 * take a 4 KiB slab object each).
 */
static struct kmem_cache *sealine_frame_cache;
static_assert(sizeof(struct sealine_decoder) >= SEALINE_FRAME_MAX_WIRE + 1);
static_assert(sizeof(struct sealine_decoder) >= SEALINE_FRAME_MAX_RAW);

int sealine_line_init(void)
{
	sealine_frame_cache = kmem_cache_create("sealine_frame",
						SEALINE_FRAME_BUF_SIZE, 0,
						SLAB_HWCACHE_ALIGN, NULL);
	return sealine_frame_cache ? 0 : -ENOMEM;
}

void sealine_line_exit(void)
{
	kmem_cache_destroy(sealine_frame_cache);
}

static void *sealine_frame_buf_alloc(void)
{
	return kmem_cache_zalloc(sealine_frame_cache, GFP_KERNEL);
}

static void sealine_frame_buf_free(void *buf)
{
	if (!buf)
		return;
	memzero_explicit(buf, SEALINE_FRAME_BUF_SIZE);
	kmem_cache_free(sealine_frame_cache, buf);
}

/* Seconds since a key was activated, from 64-bit jiffies (no wrap). */
static u32 sealine_key_age(const struct sealine_key *key)
{
	u64 secs = div_u64(get_jiffies_64() - key->born, HZ);

	return min_t(u64, secs, U32_MAX);
}

/* A staged key does not age: it may wait as long as the peer needs. */
static bool sealine_key_past(const struct sealine_key *key, u64 messages,
			     u64 message_limit, unsigned int second_limit,
			     enum sealine_limit *which)
{
	if (messages >= message_limit) {
		*which = SEALINE_LIMIT_MESSAGES;
		return true;
	}
	if (key->active &&
	    time_after_eq64(get_jiffies_64(),
			    key->born + (u64)second_limit * HZ)) {
		*which = SEALINE_LIMIT_AGE;
		return true;
	}
	return false;
}

static bool sealine_key_tx_expired(const struct sealine_key *key,
				   enum sealine_limit *which)
{
	return key->expired ||
	       sealine_key_past(key, key->tx_counter,
				sealine_limits.reject_after_messages,
				sealine_limits.reject_after_seconds, which);
}

static enum sealine_line_state sealine_state_locked(struct sealine_line *line)
{
	enum sealine_limit which;

	if (line->dead || !line->cur)
		return SEALINE_STATE_NOKEY;
	if (sealine_key_tx_expired(line->cur, &which))
		return SEALINE_STATE_EXPIRED;
	return SEALINE_STATE_KEYED;
}

enum sealine_line_state sealine_line_state(struct sealine_line *line)
{
	enum sealine_line_state state;
	unsigned long flags;

	spin_lock_irqsave(&line->lock, flags);
	state = sealine_state_locked(line);
	spin_unlock_irqrestore(&line->lock, flags);
	return state;
}

void sealine_line_snapshot(struct sealine_line *line,
			   struct sealine_line_info *info)
{
	unsigned long flags;
	int i;

	memset(info, 0, sizeof(*info));
	spin_lock_irqsave(&line->lock, flags);
	info->state = sealine_state_locked(line);
	if (line->cur) {
		info->has_cur = true;
		info->cipher = line->cur->cipher;
		info->epoch = line->cur->epoch;
		info->tx_counter = line->cur->tx_counter;
		info->key_age = sealine_key_age(line->cur);
	}
	if (line->next) {
		info->has_next = true;
		info->next_epoch = line->next->epoch;
		if (!line->cur)
			info->cipher = line->next->cipher;
	}
	info->agent_portid = line->agent_portid;
	spin_unlock_irqrestore(&line->lock, flags);
	for (i = 0; i < ARRAY_SIZE(info->stats.v); i++)
		info->stats.v[i] = atomic64_read(&line->stats.v[i]);
}

/* Runs the transmit work unless the line is going away. */
void sealine_line_kick(struct sealine_line *line)
{
	unsigned long flags;

	spin_lock_irqsave(&line->lock, flags);
	if (!line->dead)
		schedule_work(&line->tx_work);
	spin_unlock_irqrestore(&line->lock, flags);
}

/* Schedules limit_work for the current key's next age limit. Lock held. */
static void sealine_arm_limits_locked(struct sealine_line *line)
{
	struct sealine_key *key = line->cur;
	unsigned int seconds;
	u64 deadline, now;

	if (line->dead || !key || key->expired)
		return;
	seconds = key->rekey_signalled ? sealine_limits.reject_after_seconds :
					 sealine_limits.rekey_after_seconds;
	deadline = key->born + (u64)seconds * HZ;
	now = get_jiffies_64();
	mod_delayed_work(system_wq, &line->limit_work,
			 time_after64(deadline, now) ? deadline - now : 0);
}

/*
 * Raises the age events of the current key when they fall due, also on a
 * line that sends nothing (the transmit path only notices on its next
 * frame). Message limits are checked where frames are counted.
 */
static void sealine_limit_work(struct work_struct *work)
{
	struct sealine_line *line = container_of(to_delayed_work(work),
						 struct sealine_line,
						 limit_work);
	enum sealine_limit which = SEALINE_LIMIT_NONE;
	struct sealine_key *key;
	unsigned long flags;
	u8 event = 0;
	u32 epoch = 0;

	spin_lock_irqsave(&line->lock, flags);
	key = line->cur;
	if (!line->dead && key && !key->expired) {
		epoch = key->epoch;
		if (sealine_key_tx_expired(key, &which)) {
			key->expired = true;
			event = SEALINE_CMD_KEY_EXPIRED;
		} else if (!key->rekey_signalled &&
			   sealine_key_past(key, key->tx_counter,
					    sealine_limits.rekey_after_messages,
					    sealine_limits.rekey_after_seconds,
					    &which)) {
			key->rekey_signalled = true;
			event = SEALINE_CMD_REKEY_NEEDED;
		}
		sealine_arm_limits_locked(line);
	}
	spin_unlock_irqrestore(&line->lock, flags);
	if (event)
		sealine_nl_key_event(line, event, epoch, which);
}

/* Rotates the slots; returns the key that fell out, for the caller to put
 * once the lock is dropped.
 */
static struct sealine_key *sealine_promote_locked(struct sealine_line *line)
{
	struct sealine_key *old = line->prev;

	line->prev = line->cur;
	line->cur = line->next;
	line->next = NULL;
	line->cur->born = get_jiffies_64();
	line->cur->active = true;
	sealine_stat_add(line, SEALINE_STAT_REKEYS, 1);
	sealine_arm_limits_locked(line);
	return old;
}

/*
 * Builds the next frame into tx_wire. Control messages go first so that a
 * handshake never waits behind bulk data. Returns false if there is
 * nothing that may be sent.
 */
static bool sealine_tx_build(struct sealine_line *line)
{
	enum sealine_limit which = SEALINE_LIMIT_NONE;
	bool rekey = false;
	enum sealine_frame_type type;
	struct sealine_key *key;
	size_t raw_len, wire_len, len = 0;
	unsigned long flags;
	struct sk_buff *skb;
	u64 counter;
	u32 epoch;
	int ret;

	skb = skb_dequeue(&line->control_queue);
	if (skb) {
		raw_len = sealine_control_build(line->tx_raw, skb->data,
						skb->len);
		consume_skb(skb);
		sealine_stat_add(line, SEALINE_STAT_CONTROL_TX, 1);
		goto encode;
	}

	spin_lock_irqsave(&line->lock, flags);
	key = line->cur;
	if (line->dead || !key || key->expired) {
		spin_unlock_irqrestore(&line->lock, flags);
		return false;
	}
	if (sealine_key_tx_expired(key, &which)) {
		/* Past the hard limit: refuse the key from now on. The data
		 * stays queued for the key that replaces it.
		 */
		key->expired = true;
		epoch = key->epoch;
		spin_unlock_irqrestore(&line->lock, flags);
		sealine_nl_key_event(line, SEALINE_CMD_KEY_EXPIRED, epoch,
				     which);
		return false;
	}
	if (line->keepalive_pending) {
		line->keepalive_pending = false;
		type = SEALINE_FRAME_KEEPALIVE;
	} else {
		len = kfifo_out(&line->tx_fifo, line->tx_raw + SEALINE_AAD_LEN,
				SEALINE_MAX_PAYLOAD);
		if (!len) {
			spin_unlock_irqrestore(&line->lock, flags);
			return false;
		}
		type = SEALINE_FRAME_DATA;
	}
	counter = key->tx_counter++;
	if (!key->rekey_signalled &&
	    sealine_key_past(key, key->tx_counter,
			     sealine_limits.rekey_after_messages,
			     sealine_limits.rekey_after_seconds, &which)) {
		key->rekey_signalled = true;
		rekey = true;
		sealine_arm_limits_locked(line);
	}
	epoch = key->epoch;
	kref_get(&key->refcount);
	spin_unlock_irqrestore(&line->lock, flags);

	if (len)
		tty_port_tty_wakeup(&line->port);	/* room for writers */

	line->tx_raw[0] = sealine_frame_header(type, epoch);
	sealine_put_counter32(line->tx_raw + SEALINE_HDR_LEN, counter);
	ret = sealine_key_seal(key, line->tx_raw, len, counter);
	sealine_key_put(key);
	if (ret) {
		/* Cannot happen with a synchronous software AEAD; if it does,
		 * drop the frame rather than send anything unsealed.
		 */
		memzero_explicit(line->tx_raw, SEALINE_AAD_LEN + len);
		pr_err_ratelimited("sealine: %s: seal failed (%d), frame dropped\n",
				   line->tty_name, ret);
		return false;
	}
	raw_len = SEALINE_AAD_LEN + len + SEALINE_TAG_LEN;
	if (type == SEALINE_FRAME_DATA) {
		sealine_stat_add(line, SEALINE_STAT_TX_FRAMES, 1);
		sealine_stat_add(line, SEALINE_STAT_TX_BYTES, len);
	} else {
		sealine_stat_add(line, SEALINE_STAT_KEEPALIVES_TX, 1);
	}
	if (rekey)
		sealine_nl_key_event(line, SEALINE_CMD_REKEY_NEEDED, epoch,
				     which);

encode:
	wire_len = 0;
	if (!line->sent_first_delimiter) {
		/* Ends whatever the peer's decoder saw before we attached. */
		line->tx_wire[wire_len++] = 0;
		line->sent_first_delimiter = true;
	}
	wire_len += sealine_cobs_encode(line->tx_raw, raw_len,
					line->tx_wire + wire_len);
	line->tx_wire[wire_len++] = 0;
	memzero_explicit(line->tx_raw, raw_len);
	/* chars_in_buffer() reads these two: set them together. */
	spin_lock_irqsave(&line->lock, flags);
	line->tx_wire_len = wire_len;
	line->tx_wire_off = 0;
	spin_unlock_irqrestore(&line->lock, flags);
	return true;
}

/*
 * Transmit work. Runs from the system workqueue, never from write_wakeup
 * itself: write_wakeup may be called from the UART's interrupt handler with
 * the port lock held, where neither sealing nor tty writes belong.
 */
static void sealine_tx_work(struct work_struct *work)
{
	struct sealine_line *line = container_of(work, struct sealine_line,
						 tx_work);
	struct tty_struct *tty;
	unsigned long flags;

	/* line->tty stays valid while we run: detach clears it and then
	 * waits for this work with cancel_work_sync().
	 */
	spin_lock_irqsave(&line->lock, flags);
	tty = line->tty;
	spin_unlock_irqrestore(&line->lock, flags);
	if (!tty)
		return;

	for (;;) {
		if (line->tx_wire_off < line->tx_wire_len) {
			size_t left = line->tx_wire_len - line->tx_wire_off;
			int n;

			/* Set before writing, so a wakeup that comes as soon
			 * as the UART drains is not missed.
			 */
			set_bit(TTY_DO_WRITE_WAKEUP, &tty->flags);
			n = tty->ops->write(tty, line->tx_wire +
					    line->tx_wire_off, left);
			if (n < 0)	/* the driver refused (hung up): drop it */
				n = left;
			spin_lock_irqsave(&line->lock, flags);
			line->tx_wire_off += n;
			spin_unlock_irqrestore(&line->lock, flags);
			sealine_stat_add(line, SEALINE_STAT_TX_WIRE_BYTES, n);
			if ((size_t)n < left)
				return;	/* write_wakeup brings us back */
			/* chars_in_buffer() fell: poll() may now report the
			 * virtual tty writable, tcdrain() may return.
			 */
			tty_port_tty_wakeup(&line->port);
			/* A fast line (a pty) takes every frame at once and a
			 * writer may refill the FIFO as fast: give the CPU
			 * away between frames.
			 */
			cond_resched();
			continue;
		}
		if (!sealine_tx_build(line))
			break;
	}
	clear_bit(TTY_DO_WRITE_WAKEUP, &tty->flags);
}

int sealine_line_write(struct sealine_line *line, const u8 *buf, int count)
{
	unsigned long flags;
	int n = 0;

	spin_lock_irqsave(&line->lock, flags);
	if (line->dead) {
		spin_unlock_irqrestore(&line->lock, flags);
		return -EIO;
	}
	if (sealine_state_locked(line) == SEALINE_STATE_KEYED) {
		n = kfifo_in(&line->tx_fifo, buf, count);
		if (n)
			schedule_work(&line->tx_work);
	}
	spin_unlock_irqrestore(&line->lock, flags);
	return n;
}

/* Zero while there is no usable key: writers block (or get EAGAIN). */
unsigned int sealine_line_write_room(struct sealine_line *line)
{
	unsigned int room = 0;
	unsigned long flags;

	spin_lock_irqsave(&line->lock, flags);
	if (sealine_state_locked(line) == SEALINE_STATE_KEYED)
		room = kfifo_avail(&line->tx_fifo);
	spin_unlock_irqrestore(&line->lock, flags);
	return room;
}

unsigned int sealine_line_chars_in_buffer(struct sealine_line *line)
{
	unsigned long flags;
	unsigned int n = 0;

	/* A detached line sends nothing more: let close() go at once. */
	spin_lock_irqsave(&line->lock, flags);
	if (!line->dead)
		n = kfifo_len(&line->tx_fifo) +
		    (line->tx_wire_len - line->tx_wire_off);
	spin_unlock_irqrestore(&line->lock, flags);
	return n;
}

/* Drops queued plaintext and wipes the FIFO's memory. Lock held. */
static void sealine_flush_tx_locked(struct sealine_line *line)
{
	kfifo_reset(&line->tx_fifo);
	memzero_explicit(line->tx_fifo_buf, SEALINE_TX_FIFO_SIZE);
}

void sealine_line_flush_tx(struct sealine_line *line)
{
	unsigned long flags;

	spin_lock_irqsave(&line->lock, flags);
	sealine_flush_tx_locked(line);
	spin_unlock_irqrestore(&line->lock, flags);
	tty_port_tty_wakeup(&line->port);
}

/*
 * Receive flow control. The physical tty's receive path stops before a
 * frame the virtual tty could not take (its reader stalled), leaves the
 * rest in the physical tty's buffer and throttles it (RTS drops with
 * crtscts; a pty's writer blocks). The virtual tty's N_TTY unthrottling
 * it, or its ldisc taking bytes, or its closing restarts the receive path
 * from rx_work. Nothing is dropped and nothing grows past
 * SEALINE_RX_BUFFER_LIMIT.
 *
 * tty_throttle_safe() and tty_unthrottle_safe() are not exported; these
 * do what they do for a tty whose only throttler is us.
 */
static void sealine_phys_throttle(struct tty_struct *tty, bool throttle)
{
	mutex_lock(&tty->throttle_mutex);
	if (throttle && !test_and_set_bit(TTY_THROTTLED, &tty->flags)) {
		if (tty->ops->throttle)
			tty->ops->throttle(tty);
	} else if (!throttle && test_and_clear_bit(TTY_THROTTLED, &tty->flags)) {
		if (tty->ops->unthrottle)
			tty->ops->unthrottle(tty);
	}
	mutex_unlock(&tty->throttle_mutex);
}

/* Resumes a stalled receive path. Lock held; true if rx_work must run. */
static bool sealine_rx_resume_locked(struct sealine_line *line)
{
	if (!line->rx_stalled || line->dead)
		return false;
	line->rx_stalled = false;
	return true;
}

static void sealine_rx_work(struct work_struct *work)
{
	struct sealine_line *line = container_of(work, struct sealine_line,
						 rx_work);
	struct tty_struct *tty;
	unsigned long flags;

	/* Valid while we run: detach waits for this work. */
	spin_lock_irqsave(&line->lock, flags);
	tty = line->tty;
	spin_unlock_irqrestore(&line->lock, flags);
	if (!tty)
		return;
	sealine_phys_throttle(tty, false);
	/* Runs the physical tty's receive path again over what it holds
	 * (as speakup's ldisc does after refusing bytes).
	 */
	tty_flip_buffer_push(tty->port);
}

/* Whether the receive path must stop before the next frame. */
static bool sealine_rx_must_wait(struct sealine_line *line)
{
	struct tty_struct *vtty = tty_port_tty_get(&line->port);
	unsigned long flags;
	bool wait = false;

	/* Nobody has the virtual tty open: frames are dropped, as a UART
	 * nobody opened drops what arrives.
	 */
	if (!vtty)
		return false;
	spin_lock_irqsave(&line->lock, flags);
	if (!line->dead &&
	    (line->rx_throttled ||
	     tty_buffer_space_avail(&line->port) < SEALINE_MAX_PAYLOAD)) {
		line->rx_stalled = true;
		wait = true;
	}
	spin_unlock_irqrestore(&line->lock, flags);
	tty_kref_put(vtty);
	return wait;
}

/* The virtual tty's N_TTY throttles (its buffer is full) or unthrottles. */
void sealine_line_throttle(struct sealine_line *line, bool throttled)
{
	unsigned long flags;
	bool resume = false;

	spin_lock_irqsave(&line->lock, flags);
	line->rx_throttled = throttled;
	if (!throttled)
		resume = sealine_rx_resume_locked(line);
	spin_unlock_irqrestore(&line->lock, flags);
	if (resume)
		schedule_work(&line->rx_work);
}

/* The virtual tty's ldisc took bytes from its buffer: room again. */
static void sealine_line_rx_consumed(struct sealine_line *line)
{
	unsigned long flags;
	bool resume = false;

	spin_lock_irqsave(&line->lock, flags);
	if (!line->rx_throttled)
		resume = sealine_rx_resume_locked(line);
	spin_unlock_irqrestore(&line->lock, flags);
	if (resume)
		schedule_work(&line->rx_work);
}

/*
 * The virtual tty's last user closed it, or it hung up: plaintext still
 * queued for sending goes (wiped), and the receive path runs freely again
 * (dropping what arrives until the next open).
 */
void sealine_line_vtty_closed(struct sealine_line *line)
{
	unsigned long flags;
	bool resume;

	spin_lock_irqsave(&line->lock, flags);
	sealine_flush_tx_locked(line);
	line->rx_throttled = false;
	resume = sealine_rx_resume_locked(line);
	spin_unlock_irqrestore(&line->lock, flags);
	if (resume)
		schedule_work(&line->rx_work);
}

/* The virtual tty's port feeds its ldisc through these (client ops). */
static int sealine_vtty_receive_buf(struct tty_port *port,
				    const unsigned char *p,
				    const unsigned char *f, size_t count)
{
	int n = tty_port_default_client_ops.receive_buf(port, p, f, count);

	if (n > 0)
		sealine_line_rx_consumed(container_of(port, struct sealine_line,
						      port));
	return n;
}

static void sealine_vtty_lookahead_buf(struct tty_port *port,
				       const unsigned char *p,
				       const unsigned char *f,
				       unsigned int count)
{
	tty_port_default_client_ops.lookahead_buf(port, p, f, count);
}

static void sealine_vtty_write_wakeup(struct tty_port *port)
{
	tty_port_default_client_ops.write_wakeup(port);
}

static const struct tty_port_client_operations sealine_vtty_client_ops = {
	.receive_buf = sealine_vtty_receive_buf,
	.lookahead_buf = sealine_vtty_lookahead_buf,
	.write_wakeup = sealine_vtty_write_wakeup,
};

static struct sealine_key *sealine_key_by_epoch4(struct sealine_line *line,
						 u8 epoch4)
{
	struct sealine_key *slots[] = { line->cur, line->next, line->prev };
	int i;

	for (i = 0; i < ARRAY_SIZE(slots); i++)
		if (slots[i] &&
		    (slots[i]->epoch & SEALINE_EPOCH_WIRE_MASK) == epoch4)
			return slots[i];
	return NULL;
}

static bool sealine_key_in_slots(struct sealine_line *line,
				 struct sealine_key *key)
{
	return key == line->cur || key == line->next || key == line->prev;
}

static void sealine_deliver(struct sealine_line *line, const u8 *data,
			    size_t len)
{
	struct tty_struct *vtty = tty_port_tty_get(&line->port);
	size_t n = 0;

	/* Like a UART whose port nobody opened, a virtual tty nobody has
	 * open drops what arrives.
	 */
	if (vtty) {
		n = tty_insert_flip_string(&line->port, data, len);
		tty_flip_buffer_push(&line->port);
		tty_kref_put(vtty);
	}
	sealine_stat_add(line, SEALINE_STAT_RX_FRAMES, 1);
	sealine_stat_add(line, SEALINE_STAT_RX_BYTES, n);
	if (n < len)
		sealine_stat_add(line, SEALINE_STAT_RX_OVERRUNS, len - n);
}

static void sealine_rx_sealed(struct sealine_line *line,
			      const struct sealine_frame *f, u8 *raw,
			      size_t len)
{
	struct sealine_key *key, *old = NULL;
	enum sealine_stat drop = SEALINE_STAT_UNSPEC;
	enum sealine_limit which;
	bool promoted = false;
	unsigned long flags;
	u64 counter;

	spin_lock_irqsave(&line->lock, flags);
	key = sealine_key_by_epoch4(line, f->epoch4);
	if (!key) {
		spin_unlock_irqrestore(&line->lock, flags);
		sealine_stat_add(line, SEALINE_STAT_NOKEY_DROPS, 1);
		return;
	}
	counter = sealine_counter_expand(&key->replay, f->counter32);
	if (sealine_key_past(key, counter,
			     sealine_limits.reject_after_messages,
			     sealine_limits.reject_after_seconds, &which)) {
		spin_unlock_irqrestore(&line->lock, flags);
		sealine_stat_add(line, SEALINE_STAT_EXPIRED_DROPS, 1);
		return;
	}
	if (!sealine_replay_check(&key->replay, counter)) {
		spin_unlock_irqrestore(&line->lock, flags);
		sealine_stat_add(line, SEALINE_STAT_REPLAYS, 1);
		return;
	}
	kref_get(&key->refcount);
	spin_unlock_irqrestore(&line->lock, flags);

	if (sealine_key_open(key, raw, len, counter)) {
		sealine_key_put(key);
		sealine_stat_add(line, SEALINE_STAT_AUTH_FAILURES, 1);
		goto wipe;	/* decryption ran in place */
	}

	spin_lock_irqsave(&line->lock, flags);
	if (!sealine_key_in_slots(line, key)) {
		drop = SEALINE_STAT_NOKEY_DROPS;	/* cleared meanwhile */
	} else if (!sealine_replay_accept(&key->replay, counter)) {
		drop = SEALINE_STAT_REPLAYS;
	} else if (key == line->next) {
		/* The peer moved to the new key: follow it. */
		old = sealine_promote_locked(line);
		promoted = true;
	}
	spin_unlock_irqrestore(&line->lock, flags);
	sealine_key_put(key);
	sealine_key_put(old);

	if (promoted) {
		tty_port_tty_wakeup(&line->port);
		sealine_line_kick(line);
	}
	if (drop != SEALINE_STAT_UNSPEC) {
		sealine_stat_add(line, drop, 1);
		goto wipe;
	}
	if (f->type == SEALINE_FRAME_KEEPALIVE) {
		sealine_stat_add(line, SEALINE_STAT_KEEPALIVES_RX, 1);
		return;
	}
	sealine_deliver(line, raw + SEALINE_AAD_LEN,
			len - SEALINE_AAD_LEN - SEALINE_TAG_LEN);
wipe:
	memzero_explicit(raw, len);
}

static void sealine_rx_frame(struct sealine_line *line, u8 *raw, size_t len)
{
	struct sealine_frame f;

	if (sealine_frame_parse(raw, len, &f)) {
		sealine_stat_add(line, SEALINE_STAT_MALFORMED, 1);
		return;
	}
	if (f.type == SEALINE_FRAME_CONTROL)
		sealine_nl_control_received(line, f.body, f.body_len);
	else
		sealine_rx_sealed(line, &f, raw, len);
}

/*
 * Receive path, called from the physical tty's buffer work (process
 * context, one call at a time per tty). fp flags bytes the driver saw
 * damaged; the frame they land in is dropped. Returns how many bytes it
 * took: fewer than count when the virtual tty's reader stalled (the rest
 * stays in the physical tty's buffer, see sealine_rx_must_wait()).
 */
size_t sealine_line_receive(struct sealine_line *line, const u8 *cp,
			    const u8 *fp, size_t count)
{
	struct sealine_decoder *d = line->decoder;
	size_t i = 0;

	while (i < count) {
		enum sealine_decode_event event;
		size_t n = count - i;

		if (sealine_rx_must_wait(line)) {
			sealine_phys_throttle(line->tty, true);
			/* Unless the reader took bytes meanwhile. */
			if (sealine_rx_must_wait(line))
				break;
			sealine_phys_throttle(line->tty, false);
		}

		if (fp) {
			size_t clean = 0;

			while (clean < n && fp[i + clean] == TTY_NORMAL)
				clean++;
			if (!clean) {
				sealine_decoder_poison(d);
				i++;
				continue;
			}
			n = clean;
		}
		i += sealine_decoder_feed(d, cp + i, n, &event);
		if (event == SEALINE_DECODE_FRAME)
			sealine_rx_frame(line, d->buf, d->frame_len);
		else if (event == SEALINE_DECODE_RESYNC)
			sealine_stat_add(line, SEALINE_STAT_RESYNCS, 1);
	}
	sealine_stat_add(line, SEALINE_STAT_RX_WIRE_BYTES, i);
	return i;
}

int sealine_line_set_key(struct sealine_line *line,
			 enum sealine_cipher cipher, u32 epoch,
			 const u8 *tx_key, const u8 *rx_key)
{
	struct sealine_key *key, *old;
	u8 epoch4 = epoch & SEALINE_EPOCH_WIRE_MASK;
	int ret = 0;

	unsigned long flags;

	key = sealine_key_create(cipher, epoch, tx_key, rx_key);
	if (IS_ERR(key))
		return PTR_ERR(key);
	spin_lock_irqsave(&line->lock, flags);
	if (line->dead) {
		ret = -ENODEV;
	} else if ((line->cur &&
		    (line->cur->epoch & SEALINE_EPOCH_WIRE_MASK) == epoch4) ||
		   (line->prev &&
		    (line->prev->epoch & SEALINE_EPOCH_WIRE_MASK) == epoch4)) {
		/* The receiver could not tell the keys apart on the wire. */
		ret = -EEXIST;
	}
	if (ret) {
		spin_unlock_irqrestore(&line->lock, flags);
		sealine_key_put(key);
		return ret;
	}
	old = line->next;
	line->next = key;
	spin_unlock_irqrestore(&line->lock, flags);
	sealine_key_put(old);
	return 0;
}

int sealine_line_activate_key(struct sealine_line *line, u32 epoch)
{
	struct sealine_key *old = NULL;
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&line->lock, flags);
	if (line->dead) {
		ret = -ENODEV;
	} else if (line->next && line->next->epoch == epoch) {
		old = sealine_promote_locked(line);
		/* Tell the peer, which switches on the first frame it
		 * authenticates under the new key.
		 */
		line->keepalive_pending = true;
		schedule_work(&line->tx_work);
	} else if (line->cur && line->cur->epoch == epoch) {
		ret = 0;	/* the peer's frames promoted it already */
	} else {
		ret = line->next ? -ESTALE : -ENOKEY;
	}
	spin_unlock_irqrestore(&line->lock, flags);
	sealine_key_put(old);
	if (!ret)
		tty_port_tty_wakeup(&line->port);
	return ret;
}

void sealine_line_clear_keys(struct sealine_line *line)
{
	struct sealine_key *prev, *cur, *next;
	unsigned long flags;

	spin_lock_irqsave(&line->lock, flags);
	prev = line->prev;
	cur = line->cur;
	next = line->next;
	line->prev = NULL;
	line->cur = NULL;
	line->next = NULL;
	line->keepalive_pending = false;
	/* Plaintext queued for the old keys must not leave under new ones. */
	sealine_flush_tx_locked(line);
	spin_unlock_irqrestore(&line->lock, flags);
	sealine_key_put(prev);
	sealine_key_put(cur);
	sealine_key_put(next);
	/* Nothing is queued any more: tcdrain() and close() return now, and
	 * writers wait for the next key instead of for the flushed bytes.
	 */
	tty_port_tty_wakeup(&line->port);
}

int sealine_line_queue_control(struct sealine_line *line, const u8 *msg,
			       size_t len)
{
	unsigned long flags;
	struct sk_buff *skb;
	int ret = 0;

	skb = alloc_skb(len, GFP_KERNEL);
	if (!skb)
		return -ENOMEM;
	skb_put_data(skb, msg, len);

	spin_lock_irqsave(&line->lock, flags);
	if (line->dead)
		ret = -ENODEV;
	else if (skb_queue_len(&line->control_queue) >=
		 SEALINE_MAX_QUEUED_CONTROL)
		ret = -ENOBUFS;
	else
		skb_queue_tail(&line->control_queue, skb);
	if (!ret)
		schedule_work(&line->tx_work);
	spin_unlock_irqrestore(&line->lock, flags);
	if (ret)
		kfree_skb(skb);
	return ret;
}

/* The socket portid in net becomes the line's agent; not on a dead line. */
int sealine_line_register_agent(struct sealine_line *line, struct net *net,
				u32 portid)
{
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&line->lock, flags);
	if (line->dead) {
		ret = -ENODEV;
	} else {
		line->agent_portid = portid;
		line->agent_net = net;
	}
	spin_unlock_irqrestore(&line->lock, flags);
	return ret;
}

/* A reference unless the line is dead or already on its way out. */
static bool sealine_line_try_get(struct sealine_line *line)
{
	return line && !READ_ONCE(line->dead) && tty_port_get(&line->port);
}

struct sealine_line *sealine_line_get(unsigned int index)
{
	struct sealine_line *line;

	mutex_lock(&sealine_lines_mutex);
	line = idr_find(&sealine_lines, index);
	if (!sealine_line_try_get(line))
		line = NULL;
	mutex_unlock(&sealine_lines_mutex);
	return line;
}

struct sealine_line *sealine_line_get_by_tty(const char *name)
{
	struct sealine_line *line, *found = NULL;
	int id;

	mutex_lock(&sealine_lines_mutex);
	idr_for_each_entry(&sealine_lines, line, id) {
		if (!strcmp(line->tty_name, name) &&
		    sealine_line_try_get(line)) {
			found = line;
			break;
		}
	}
	mutex_unlock(&sealine_lines_mutex);
	return found;
}

/* The first live line at or after *index, with a reference; for dumps. */
struct sealine_line *sealine_line_get_next(unsigned int *index)
{
	struct sealine_line *line;
	int id = *index;

	mutex_lock(&sealine_lines_mutex);
	idr_for_each_entry_continue(&sealine_lines, line, id)
		if (sealine_line_try_get(line))
			break;
	if (line)
		*index = id;
	mutex_unlock(&sealine_lines_mutex);
	return line;
}

void sealine_line_put(struct sealine_line *line)
{
	tty_port_put(&line->port);
}

/* The agent's socket closed: nobody supervises the line's keys any more. */
void sealine_agent_released(struct net *net, u32 portid)
{
	struct sealine_line *line;
	int id;

	mutex_lock(&sealine_lines_mutex);
	idr_for_each_entry(&sealine_lines, line, id) {
		unsigned long flags;
		bool orphaned;

		spin_lock_irqsave(&line->lock, flags);
		orphaned = line->agent_portid == portid &&
			   net_eq(line->agent_net, net);
		if (orphaned) {
			line->agent_portid = 0;
			line->agent_net = NULL;
		}
		spin_unlock_irqrestore(&line->lock, flags);
		if (orphaned)
			sealine_line_clear_keys(line);
	}
	mutex_unlock(&sealine_lines_mutex);
}

/*
 * Called by the port's destruct when the last reference is gone, also for
 * a line whose attach failed half-way: it undoes whatever exists.
 */
void sealine_line_destroy(struct sealine_line *line)
{
	if (line->index < SEALINE_MAX_LINES) {
		mutex_lock(&sealine_lines_mutex);
		idr_remove(&sealine_lines, line->index);
		mutex_unlock(&sealine_lines_mutex);
	}
	/* Detach did this already for a line that was attached. */
	cancel_work_sync(&line->tx_work);
	cancel_work_sync(&line->rx_work);
	cancel_delayed_work_sync(&line->limit_work);
	sealine_key_put(line->prev);
	sealine_key_put(line->cur);
	sealine_key_put(line->next);
	skb_queue_purge(&line->control_queue);
	sealine_frame_buf_free(line->decoder);
	sealine_frame_buf_free(line->tx_wire);
	sealine_frame_buf_free(line->tx_raw);
	kfree_sensitive(line->tx_fifo_buf);
	kfree(line);
}

int sealine_line_attach(struct tty_struct *tty)
{
	struct sealine_line *line;
	struct device *dev;
	int ret;

	if (!tty->ops->write)
		return -EOPNOTSUPP;

	line = kzalloc(sizeof(*line), GFP_KERNEL);
	if (!line)
		return -ENOMEM;
	tty_port_init(&line->port);
	line->port.ops = &sealine_port_ops;
	line->port.client_ops = &sealine_vtty_client_ops;
	/* From here on the port's reference count owns the line. */
	line->index = SEALINE_MAX_LINES;
	spin_lock_init(&line->lock);
	INIT_WORK(&line->tx_work, sealine_tx_work);
	INIT_WORK(&line->rx_work, sealine_rx_work);
	INIT_DELAYED_WORK(&line->limit_work, sealine_limit_work);
	skb_queue_head_init(&line->control_queue);
	strscpy(line->tty_name, tty_name(tty), sizeof(line->tty_name));

	line->tx_fifo_buf = kzalloc(SEALINE_TX_FIFO_SIZE, GFP_KERNEL);
	line->tx_raw = sealine_frame_buf_alloc();
	line->tx_wire = sealine_frame_buf_alloc();
	line->decoder = sealine_frame_buf_alloc();
	if (!line->tx_fifo_buf || !line->tx_raw || !line->tx_wire ||
	    !line->decoder) {
		ret = -ENOMEM;
		goto err_put_line;
	}
	ret = kfifo_init(&line->tx_fifo, line->tx_fifo_buf,
			 SEALINE_TX_FIFO_SIZE);
	if (ret)
		goto err_put_line;
	sealine_decoder_init(line->decoder);
	ret = tty_buffer_set_limit(&line->port, SEALINE_RX_BUFFER_LIMIT);
	if (ret)
		goto err_put_line;
	line->tty = tty;

	/* Reserve the index; lookups see the line once it is complete. */
	mutex_lock(&sealine_lines_mutex);
	ret = idr_alloc(&sealine_lines, NULL, 0, SEALINE_MAX_LINES,
			GFP_KERNEL);
	if (ret >= 0)
		line->index = ret;
	mutex_unlock(&sealine_lines_mutex);
	if (ret < 0)
		goto err_put_line;

	sealine_vtty_forget_termios(line->index);
	dev = tty_port_register_device(&line->port, sealine_tty_driver,
				       line->index, NULL);
	if (IS_ERR(dev)) {
		ret = PTR_ERR(dev);
		goto err_unlink_port;
	}

	tty->disc_data = line;
	mutex_lock(&sealine_lines_mutex);
	idr_replace(&sealine_lines, line, line->index);
	mutex_unlock(&sealine_lines_mutex);
	sealine_nl_line_event(line, SEALINE_CMD_LINE_UP);
	return 0;

err_unlink_port:
	sealine_tty_driver->ports[line->index] = NULL;
err_put_line:
	line->tty = NULL;
	tty_port_put(&line->port);
	return ret;
}

/* Physical line hung up: no key survives it, and the virtual tty hangs up
 * too. The line discipline is closed right after.
 */
void sealine_line_hangup(struct sealine_line *line)
{
	sealine_line_clear_keys(line);
	tty_port_tty_hangup(&line->port, false);
}

void sealine_line_detach(struct sealine_line *line)
{
	struct sealine_key *prev, *cur, *next;
	struct tty_struct *tty;
	unsigned long flags;

	spin_lock_irqsave(&line->lock, flags);
	line->dead = true;
	tty = line->tty;
	line->tty = NULL;
	prev = line->prev;
	cur = line->cur;
	next = line->next;
	line->prev = NULL;
	line->cur = NULL;
	line->next = NULL;
	line->agent_portid = 0;
	line->agent_net = NULL;
	sealine_flush_tx_locked(line);
	spin_unlock_irqrestore(&line->lock, flags);

	/* No new work can be queued now; wait for the running ones. */
	cancel_work_sync(&line->tx_work);
	cancel_work_sync(&line->rx_work);
	cancel_delayed_work_sync(&line->limit_work);
	sealine_key_put(prev);
	sealine_key_put(cur);
	sealine_key_put(next);
	skb_queue_purge(&line->control_queue);
	/* The next line discipline gets the tty as we found it: no write
	 * wakeups it did not ask for, not throttled.
	 */
	clear_bit(TTY_DO_WRITE_WAKEUP, &tty->flags);
	sealine_phys_throttle(tty, false);

	/* A virtual tty opened before this point is hung up here; one
	 * opened later sees dead (sealine_vtty_open()).
	 */
	tty_port_tty_hangup(&line->port, false);
	tty_unregister_device(sealine_tty_driver, line->index);
	/* tty_port_register_device() left the port there; the line may be
	 * freed long before the driver.
	 */
	sealine_tty_driver->ports[line->index] = NULL;
	sealine_nl_line_event(line, SEALINE_CMD_LINE_DOWN);
	sealine_line_put(line);
}
