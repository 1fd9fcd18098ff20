// SPDX-License-Identifier: GPL-2.0
/*
 * A sealine line: attaching to a tty and detaching, the lines' index,
 * lookups, the agent's registration and what GET_LINE reports. The rest of
 * a line lives in keys.c (key slots and limits), send.c (the transmit
 * work) and receive.c (the receive path).
 *
 * Fail closed: application bytes are queued for sending only while a
 * current, unexpired key exists, and leave the queue only through
 * sealine_key_seal(). Nothing else ever writes application data to the
 * physical tty.
 */
#include <linux/idr.h>
#include <linux/mutex.h>
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
	for (i = 0; i < ARRAY_SIZE(info->stats.v); i++)
		info->stats.v[i] = atomic64_read(&line->stats.v[i]);
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
	sealine_reliable_snapshot_locked(line, info);
	spin_unlock_irqrestore(&line->lock, flags);
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
	del_timer_sync(&line->arq_timer);
	sealine_key_put(line->prev);
	sealine_key_put(line->cur);
	sealine_key_put(line->next);
	skb_queue_purge(&line->control_queue);
	sealine_frame_buf_free(line->decoder);
	sealine_frame_buf_free(line->tx_wire);
	kfree_sensitive(line->tx_fifo_buf);
	kfree_sensitive(line->arq_rx_ring);
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
	timer_setup(&line->arq_timer, sealine_arq_timer_fn, 0);
	skb_queue_head_init(&line->control_queue);
	strscpy(line->tty_name, tty_name(tty), sizeof(line->tty_name));

	line->tx_fifo_buf = kzalloc(SEALINE_TX_FIFO_SIZE, GFP_KERNEL);
	line->tx_wire = sealine_frame_buf_alloc();
	line->decoder = sealine_frame_buf_alloc();
	if (!line->tx_fifo_buf || !line->tx_wire ||
	    !line->decoder) {
		ret = -ENOMEM;
		goto err_put_line;
	}
	ret = kfifo_init(&line->tx_fifo, line->tx_fifo_buf,
			 SEALINE_TX_FIFO_SIZE);
	if (ret)
		goto err_put_line;
	ret = sealine_reliable_init(line);
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
	sealine_reliable_restart_locked(line);
	spin_unlock_irqrestore(&line->lock, flags);

	/* No new work can be queued now; wait for the running ones. The
	 * timer only kicks tx_work, which it no longer can.
	 */
	cancel_work_sync(&line->tx_work);
	cancel_work_sync(&line->rx_work);
	cancel_delayed_work_sync(&line->limit_work);
	del_timer_sync(&line->arq_timer);
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
