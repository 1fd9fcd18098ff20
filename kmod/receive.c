// SPDX-License-Identifier: GPL-2.0
/*
 * The receive side of a sealine line: the physical tty's receive path
 * decodes frames, opens them and hands their bytes to the virtual tty,
 * with flow control between the two.
 */
#include <linux/tty_flip.h>

#include "line.h"

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
void sealine_phys_throttle(struct tty_struct *tty, bool throttle)
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

/*
 * Resumes a stalled receive path, and the delivery of bytes the ARQ holds
 * in order. Lock held; true if rx_work must run.
 */
static bool sealine_rx_resume_locked(struct sealine_line *line)
{
	bool held = sealine_arq_rx_avail(&line->arq);

	if (line->dead || (!line->rx_stalled && !held))
		return false;
	line->rx_stalled = false;
	return true;
}

void sealine_rx_work(struct work_struct *work)
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
	sealine_reliable_deliver(line);
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
	/*
	 * A throttled reader stops datagram frames here, but not a reliable
	 * line: it must go on reading acknowledgements, and the ARQ's window
	 * holds the peer back instead (sealine_reliable_deliver()).
	 */
	spin_lock_irqsave(&line->lock, flags);
	if (!line->dead &&
	    ((line->rx_throttled && line->mode == SEALINE_MODE_DATAGRAM) ||
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

const struct tty_port_client_operations sealine_vtty_client_ops = {
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
	bool reliable = f->type == SEALINE_FRAME_RELIABLE;
	bool promoted = false, newest;
	enum sealine_limit which;
	unsigned long flags;
	u32 events = 0;
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
	/* Above every counter accepted under this key so far. */
	newest = !key->replay.started || counter > key->replay.top;
	if (!sealine_key_in_slots(line, key)) {
		drop = SEALINE_STAT_NOKEY_DROPS;	/* cleared meanwhile */
	} else if (reliable && key == line->prev && line->cur &&
		   line->cur->replay.started) {
		/*
		 * A line does not reorder: once the peer's frames come under
		 * the current key, one under the previous key was held back.
		 * Refused, so that an accepted frame's stream offsets are
		 * never older than the replay window's reach.
		 */
		drop = SEALINE_STAT_STALE_DROPS;
	} else if (!sealine_replay_accept(&key->replay, counter)) {
		drop = SEALINE_STAT_REPLAYS;
	} else if (key == line->next) {
		/* The peer moved to the new key: follow it. */
		old = sealine_promote_locked(line);
		promoted = true;
	}
	if (reliable && drop == SEALINE_STAT_UNSPEC) {
		if (sealine_arq_rx(&line->arq, raw + SEALINE_AAD_LEN,
				   len - SEALINE_AAD_LEN - SEALINE_TAG_LEN,
				   newest, sealine_now_ms()))
			drop = SEALINE_STAT_MALFORMED;
		events = sealine_arq_take_events(&line->arq);
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
	if (reliable) {
		sealine_stat_add(line, SEALINE_STAT_RELIABLE_RX, 1);
		sealine_reliable_events(line, events);
		/* An ACK may free the window or ask for resends, data may
		 * need acknowledging.
		 */
		sealine_line_kick(line);
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
