// SPDX-License-Identifier: GPL-2.0
/*
 * Reliable mode of a line: the glue between the ARQ (arq.c, plain C shared
 * with the host tests) and the line. The ARQ lives in struct sealine_line
 * under its lock. This file gives it a clock and a timer, builds its frames
 * for the transmit work (send.c seals them), moves the bytes it delivers in
 * order to the virtual tty (rx_work), and turns its events into wakeups,
 * hangups and netlink events. Documentation/protocol.rst, "Reliable mode".
 */
#include <linux/jiffies.h>
#include <linux/random.h>
#include <linux/tty_flip.h>

#include "line.h"

static_assert(SEALINE_DEAD_TIME_DEFAULT == SEALINE_ARQ_DEAD_MS);
static_assert(SEALINE_DEAD_TIME_MAX <= SEALINE_ARQ_DEAD_MAX_MS);

/* Bytes moved from the ARQ's receive ring to the virtual tty per step. */
#define SEALINE_DELIVER_CHUNK	256

/* The ARQ's clock: milliseconds from any origin, wrapping modulo 2^32. */
u32 sealine_now_ms(void)
{
	return jiffies_to_msecs(jiffies);
}

/* One of the ARQ's deadlines fell due: the transmit work runs its timers. */
void sealine_arq_timer_fn(struct timer_list *t)
{
	struct sealine_line *line = from_timer(line, t, arq_timer);

	sealine_line_kick(line);
}

/* At attach, after tx_fifo_buf is allocated and arq_timer set up. */
int sealine_reliable_init(struct sealine_line *line)
{
	line->mode = SEALINE_MODE_DATAGRAM;
	line->arq_rx_ring = kzalloc(SEALINE_ARQ_RX_RING, GFP_KERNEL);
	if (!line->arq_rx_ring)
		return -ENOMEM;
	return sealine_arq_init(&line->arq, line->tx_fifo_buf,
				SEALINE_ARQ_TX_RING, line->arq_rx_ring,
				SEALINE_ARQ_RX_RING, get_random_u32(),
				sealine_now_ms());
}

/*
 * Keys cleared, or the mode changed: both streams start afresh from a new
 * random stream id and every byte held is wiped, so that nothing written
 * for one session leaves under the next one's keys. Lock held.
 */
void sealine_reliable_restart_locked(struct sealine_line *line)
{
	sealine_arq_reset(&line->arq, get_random_u32(), sealine_now_ms());
	kfifo_reset(&line->tx_fifo);
}

/*
 * Sets arq_timer for the ARQ's next deadline (a resend, a delayed ACK, the
 * dead time). Only while the line can send: without a usable key nothing
 * could go anyway, and a new key kicks the transmit work. Lock held.
 */
void sealine_reliable_arm_locked(struct sealine_line *line)
{
	u32 ms;

	if (sealine_state_locked(line) != SEALINE_STATE_KEYED)
		return;
	ms = sealine_arq_timeout(&line->arq, sealine_now_ms());
	if (ms != SEALINE_ARQ_NO_TIMEOUT)
		mod_timer(&line->arq_timer, jiffies + msecs_to_jiffies(ms) + 1);
}

/* Schedules rx_work unless the line is going away. */
static void sealine_rx_kick(struct sealine_line *line)
{
	unsigned long flags;

	spin_lock_irqsave(&line->lock, flags);
	if (!line->dead)
		schedule_work(&line->rx_work);
	spin_unlock_irqrestore(&line->lock, flags);
}

/* What sealine_arq_take_events() reported; lock not held. */
void sealine_reliable_events(struct sealine_line *line, u32 events)
{
	if (events & SEALINE_ARQ_EV_WRITABLE)
		tty_port_tty_wakeup(&line->port);
	if (events & SEALINE_ARQ_EV_READABLE)
		sealine_rx_kick(line);
	if (events & SEALINE_ARQ_EV_DEAD) {
		sealine_stat_add(line, SEALINE_STAT_LINK_DEAD, 1);
		pr_info("sealine: %s: nothing acknowledged for %u ms, line dead\n",
			line->tty_name, READ_ONCE(line->arq.cfg.dead_ms));
		sealine_nl_line_event(line, SEALINE_CMD_LINK_DEAD);
	}
	if (events & SEALINE_ARQ_EV_ALIVE) {
		pr_info("sealine: %s: acknowledgements again, line alive\n",
			line->tty_name);
		sealine_nl_line_event(line, SEALINE_CMD_LINK_ALIVE);
	}
	/*
	 * A dead line, or a peer that lost our stream (the bytes it had not
	 * acknowledged are gone): the reader and writer of the virtual tty
	 * learn it as from a modem that dropped carrier.
	 */
	if (events & (SEALINE_ARQ_EV_DEAD | SEALINE_ARQ_EV_TX_RESET))
		tty_port_tty_hangup(&line->port, false);
}

/*
 * Runs the ARQ's due timers and builds its next frame (a resend, new bytes
 * or an ACK) into out, to be sealed under key's next counter. Lock held;
 * returns the plaintext length, 0 if there is nothing to send, or -EINVAL
 * if the ARQ refused the counter (it would reuse a nonce). *fresh: how
 * many application bytes the frame sends for the first time.
 */
int sealine_reliable_build_locked(struct sealine_line *line,
				  struct sealine_key *key, u8 *out,
				  size_t *fresh)
{
	u32 now = sealine_now_ms(), nxt = line->arq.nxt;
	int ret;

	sealine_arq_tick(&line->arq, now);
	ret = sealine_arq_tx_build(&line->arq, now, key->id, key->tx_counter,
				   out, SEALINE_MAX_PAYLOAD);
	*fresh = ret > 0 ? line->arq.nxt - nxt : 0;
	return ret;
}

/*
 * Moves in-order bytes from the ARQ to the virtual tty as far as its
 * buffer takes them (rx_work). What stays in the receive ring closes the
 * window the peer sees, so a slow reader slows the sender; the physical
 * tty's receive path never stops for it, since it must go on reading the
 * peer's acknowledgements. A frame's worth of the tty buffer stays free
 * for datagram frames, which have no window. With the virtual tty closed
 * the bytes are dropped, as a UART nobody opened drops what arrives.
 */
void sealine_reliable_deliver(struct sealine_line *line)
{
	struct tty_struct *vtty = tty_port_tty_get(&line->port);
	u8 buf[SEALINE_DELIVER_CHUNK];
	unsigned long flags;
	size_t total = 0;
	u32 events = 0;

	for (;;) {
		size_t room = SIZE_MAX, n, put = 0;

		if (vtty) {
			room = tty_buffer_space_avail(&line->port);
			room = room > SEALINE_MAX_PAYLOAD ?
			       min(room - SEALINE_MAX_PAYLOAD, sizeof(buf)) : 0;
		}
		spin_lock_irqsave(&line->lock, flags);
		if (vtty && line->rx_throttled)
			room = 0;
		n = sealine_arq_read(&line->arq, vtty ? buf : NULL, room,
				     sealine_now_ms());
		events |= sealine_arq_take_events(&line->arq);
		spin_unlock_irqrestore(&line->lock, flags);
		if (!n)
			break;
		if (vtty)
			put = tty_insert_flip_string(&line->port, buf, n);
		sealine_stat_add(line, SEALINE_STAT_RX_BYTES, put);
		if (put < n)
			sealine_stat_add(line, SEALINE_STAT_RX_OVERRUNS, n - put);
		total += n;
	}
	memzero_explicit(buf, sizeof(buf));
	if (vtty) {
		if (total)
			tty_flip_buffer_push(&line->port);
		tty_kref_put(vtty);
	}
	/* The window opened: an ACK may be due. */
	if (total)
		sealine_line_kick(line);
	sealine_reliable_events(line, events);
}

int sealine_line_set_mode(struct sealine_line *line, enum sealine_mode mode)
{
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&line->lock, flags);
	if (line->dead) {
		ret = -ENODEV;
	} else if (mode != line->mode) {
		/* Bytes queued in one mode's buffer mean nothing in the
		 * other's; without a current key none are queued.
		 */
		if (line->cur) {
			ret = -EBUSY;
		} else {
			line->mode = mode;
			sealine_reliable_restart_locked(line);
		}
	}
	spin_unlock_irqrestore(&line->lock, flags);
	return ret;
}

int sealine_line_set_dead_time(struct sealine_line *line, u32 ms)
{
	struct sealine_arq_config cfg;
	unsigned long flags;
	int ret = -ENODEV;

	spin_lock_irqsave(&line->lock, flags);
	if (!line->dead) {
		cfg = line->arq.cfg;
		cfg.dead_ms = ms;
		ret = sealine_arq_set_config(&line->arq, &cfg);
		if (!ret)
			sealine_reliable_arm_locked(line);
	}
	spin_unlock_irqrestore(&line->lock, flags);
	return ret;
}

/* GET_LINE's view of the ARQ. Lock held. */
void sealine_reliable_snapshot_locked(struct sealine_line *line,
				      struct sealine_line_info *info)
{
	const struct sealine_arq_stats *st = &line->arq.stats;
	u64 *v = info->stats.v;

	info->mode = line->mode;
	info->dead_time = line->arq.cfg.dead_ms;
	sealine_arq_get_info(&line->arq, &info->arq);
	v[SEALINE_STAT_RETRANSMITS] = st->retransmits;
	v[SEALINE_STAT_FAST_RETRANSMITS] = st->fast_retransmits;
	v[SEALINE_STAT_TIMEOUTS] = st->timeouts;
	v[SEALINE_STAT_ACKS_TX] = st->acks_tx;
	v[SEALINE_STAT_DUPLICATES_RX] = st->duplicates_rx;
	v[SEALINE_STAT_OUT_OF_ORDER_RX] = st->out_of_order_rx;
	v[SEALINE_STAT_WINDOW_DROPS] = st->window_drops;
	v[SEALINE_STAT_STALE_DROPS] += st->stale_drops;
	v[SEALINE_STAT_STREAM_RESETS] = st->resets;
}
