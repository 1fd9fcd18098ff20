// SPDX-License-Identifier: GPL-2.0
/*
 * The transmit side of a sealine line: the virtual tty's write operations
 * queue application bytes, and the transmit work turns them and the
 * agent's control messages into frames on the physical tty.
 */
#include <linux/sched.h>
#include <linux/slab.h>

#include "line.h"

/* Runs the transmit work unless the line is going away. */
void sealine_line_kick(struct sealine_line *line)
{
	unsigned long flags;

	spin_lock_irqsave(&line->lock, flags);
	if (!line->dead)
		schedule_work(&line->tx_work);
	spin_unlock_irqrestore(&line->lock, flags);
}

/*
 * Builds the next frame into tx_wire. Control messages go first so that a
 * handshake never waits behind bulk data. Returns false if there is
 * nothing that may be sent.
 */
static bool sealine_tx_build(struct sealine_line *line)
{
	u8 *raw = line->tx_wire + SEALINE_TX_RAW_OFF;
	enum sealine_limit which = SEALINE_LIMIT_NONE;
	bool rekey = false;
	enum sealine_frame_type type;
	struct sealine_key *key;
	size_t raw_len, wire_len, len = 0, fresh = 0;
	unsigned long flags;
	struct sk_buff *skb;
	u32 epoch, events = 0;
	u64 counter;
	int ret;

	skb = skb_dequeue(&line->control_queue);
	if (skb) {
		raw_len = sealine_control_build(raw, skb->data, skb->len);
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
		/* The ARQ first: in datagram mode it only acknowledges a
		 * peer that sends reliably.
		 */
		ret = sealine_reliable_build_locked(line, key,
						    raw + SEALINE_AAD_LEN,
						    &fresh);
		events = sealine_arq_take_events(&line->arq);
		if (ret > 0) {
			len = ret;
			type = SEALINE_FRAME_RELIABLE;
		} else if (!ret && line->mode == SEALINE_MODE_DATAGRAM) {
			len = kfifo_out(&line->tx_fifo, raw + SEALINE_AAD_LEN,
					SEALINE_MAX_PAYLOAD);
			type = SEALINE_FRAME_DATA;
		}
		if (!len) {
			spin_unlock_irqrestore(&line->lock, flags);
			if (ret < 0)	/* a bug: never seal under a used nonce */
				pr_err_ratelimited("sealine: %s: ARQ refused counter %llu (%d)\n",
						   line->tty_name, key->tx_counter,
						   ret);
			sealine_reliable_events(line, events);
			return false;
		}
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

	if (type == SEALINE_FRAME_DATA)
		tty_port_tty_wakeup(&line->port);	/* room for writers */
	sealine_reliable_events(line, events);

	raw[0] = sealine_frame_header(type, epoch);
	sealine_put_counter32(raw + SEALINE_HDR_LEN, counter);
	ret = sealine_key_seal(key, raw, len, counter);
	sealine_key_put(key);
	if (ret) {
		/* Cannot happen with a synchronous software AEAD; if it does,
		 * drop the frame rather than send anything unsealed.
		 */
		memzero_explicit(raw, SEALINE_AAD_LEN + len);
		pr_err_ratelimited("sealine: %s: seal failed (%d), frame dropped\n",
				   line->tty_name, ret);
		return false;
	}
	raw_len = SEALINE_AAD_LEN + len + SEALINE_TAG_LEN;
	if (type == SEALINE_FRAME_DATA) {
		sealine_stat_add(line, SEALINE_STAT_TX_FRAMES, 1);
		sealine_stat_add(line, SEALINE_STAT_TX_BYTES, len);
	} else if (type == SEALINE_FRAME_RELIABLE) {
		sealine_stat_add(line, SEALINE_STAT_RELIABLE_TX, 1);
		sealine_stat_add(line, SEALINE_STAT_TX_BYTES, fresh);
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
	/* In place: raw is sealine_cobs_lead() or more ahead. */
	wire_len += sealine_cobs_encode(raw, raw_len, line->tx_wire + wire_len);
	line->tx_wire[wire_len++] = 0;
	/* chars_in_buffer() reads these two: set them together. */
	spin_lock_irqsave(&line->lock, flags);
	line->tx_wire_len = wire_len;
	line->tx_wire_off = 0;
	spin_unlock_irqrestore(&line->lock, flags);
	return true;
}

static void sealine_tx_arm(struct sealine_line *line)
{
	unsigned long flags;

	spin_lock_irqsave(&line->lock, flags);
	sealine_reliable_arm_locked(line);
	spin_unlock_irqrestore(&line->lock, flags);
}

/*
 * Transmit work. Runs from the system workqueue, never from write_wakeup
 * itself: write_wakeup may be called from the UART's interrupt handler with
 * the port lock held, where neither sealing nor tty writes belong.
 */
void sealine_tx_work(struct work_struct *work)
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
			if ((size_t)n < left) {
				/* write_wakeup brings us back; the ARQ's
				 * timers (the dead time) still run.
				 */
				sealine_tx_arm(line);
				return;
			}
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
	sealine_tx_arm(line);
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
		if (line->mode == SEALINE_MODE_RELIABLE)
			n = sealine_arq_write(&line->arq, buf, count);
		else
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
	if (sealine_state_locked(line) != SEALINE_STATE_KEYED)
		room = 0;
	else if (line->mode == SEALINE_MODE_RELIABLE)
		room = sealine_arq_write_room(&line->arq);
	else
		room = kfifo_avail(&line->tx_fifo);
	spin_unlock_irqrestore(&line->lock, flags);
	return room;
}

unsigned int sealine_line_chars_in_buffer(struct sealine_line *line)
{
	unsigned long flags;
	unsigned int n = 0;

	/*
	 * A detached line sends nothing more: let close() go at once. In
	 * reliable mode, bytes count until the peer acknowledged them; a
	 * line without a usable key will not send them.
	 */
	spin_lock_irqsave(&line->lock, flags);
	if (line->dead)
		n = 0;
	else if (line->mode == SEALINE_MODE_DATAGRAM)
		n = kfifo_len(&line->tx_fifo) +
		    (line->tx_wire_len - line->tx_wire_off);
	else if (sealine_state_locked(line) == SEALINE_STATE_KEYED &&
		 !line->arq.dead)
		n = sealine_arq_chars_in_buffer(&line->arq) +
		    (line->tx_wire_len - line->tx_wire_off);
	spin_unlock_irqrestore(&line->lock, flags);
	return n;
}

/*
 * Drops queued plaintext and wipes its memory. Lock held. In reliable mode
 * only what was never sent: bytes in flight cannot be called back, and
 * the peer is owed them in order.
 */
void sealine_flush_tx_locked(struct sealine_line *line)
{
	if (line->mode == SEALINE_MODE_RELIABLE) {
		sealine_arq_flush_unsent(&line->arq);
		return;
	}
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
