// SPDX-License-Identifier: GPL-2.0
/*
 * Key slots of a sealine line and the limits of their keys.
 *
 * Key slots: "next" is staged by SET_KEY and already opens received frames;
 * it becomes "cur" when the agent activates it or when the peer's first
 * authenticated frame under it arrives, and the old "cur" stays on as
 * "prev" for frames still in flight. So during a rekey each side can
 * receive under both keys and no byte is lost.
 */
#include <linux/jiffies.h>
#include <linux/math64.h>

#include "line.h"

/* Seconds since a key was activated, from 64-bit jiffies (no wrap). */
u32 sealine_key_age(const struct sealine_key *key)
{
	u64 secs = div_u64(get_jiffies_64() - key->born, HZ);

	return min_t(u64, secs, U32_MAX);
}

/* A staged key does not age: it may wait as long as the peer needs. */
bool sealine_key_past(const struct sealine_key *key, u64 messages,
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

bool sealine_key_tx_expired(const struct sealine_key *key,
			    enum sealine_limit *which)
{
	return key->expired ||
	       sealine_key_past(key, key->tx_counter,
				sealine_limits.reject_after_messages,
				sealine_limits.reject_after_seconds, which);
}

enum sealine_line_state sealine_state_locked(struct sealine_line *line)
{
	enum sealine_limit which;

	if (line->dead || !line->cur)
		return SEALINE_STATE_NOKEY;
	if (sealine_key_tx_expired(line->cur, &which))
		return SEALINE_STATE_EXPIRED;
	return SEALINE_STATE_KEYED;
}

/* Schedules limit_work for the current key's next age limit. Lock held. */
void sealine_arm_limits_locked(struct sealine_line *line)
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
void sealine_limit_work(struct work_struct *work)
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
struct sealine_key *sealine_promote_locked(struct sealine_line *line)
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
	key->id = ++line->key_serial;
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
	/* Plaintext queued for the old keys must not leave under new ones,
	 * and the peer's next session starts a new stream.
	 */
	sealine_reliable_restart_locked(line);
	spin_unlock_irqrestore(&line->lock, flags);
	sealine_key_put(prev);
	sealine_key_put(cur);
	sealine_key_put(next);
	/* Nothing is queued any more: tcdrain() and close() return now, and
	 * writers wait for the next key instead of for the flushed bytes.
	 */
	tty_port_tty_wakeup(&line->port);
}
