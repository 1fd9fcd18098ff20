// SPDX-License-Identifier: GPL-2.0
/*
 * tty glue: the sealine line discipline on the physical line.
 */
#include <linux/module.h>
#include <linux/tty.h>
#include <linux/tty_ldisc.h>

#include "line.h"

static int sealine_ldisc_open(struct tty_struct *tty)
{
	if (!capable(CAP_NET_ADMIN))
		return -EPERM;
	return sealine_line_attach(tty);
}

static void sealine_ldisc_close(struct tty_struct *tty)
{
	struct sealine_line *line = tty->disc_data;

	tty->disc_data = NULL;
	sealine_line_detach(line);
}

static void sealine_ldisc_hangup(struct tty_struct *tty)
{
	sealine_line_hangup(tty->disc_data);
}

/* Returns how much it took: less when the virtual tty's reader stalls. */
static int sealine_ldisc_receive_buf2(struct tty_struct *tty,
				      const unsigned char *cp,
				      const char *fp, int count)
{
	int n = sealine_line_receive(tty->disc_data, cp, (const u8 *)fp,
				     count);

	/* A pty's other end may wait for room in our buffer, and nobody but
	 * the reader can tell it there is some: N_TTY wakes it when it
	 * reads (n_tty_check_unthrottle()), so must we.
	 */
	if (n > 0 && tty->driver->type == TTY_DRIVER_TYPE_PTY && tty->link)
		tty_wakeup(tty->link);
	return n;
}

/*
 * May be called from the UART interrupt with the port lock held: only
 * schedule the transmit work. Close cannot run concurrently (it holds the
 * ldisc lock that tty_wakeup needs), and it waits for the work.
 */
static void sealine_ldisc_write_wakeup(struct tty_struct *tty)
{
	struct sealine_line *line = tty->disc_data;

	schedule_work(&line->tx_work);
}

/* The physical line carries only frames: nothing reads or writes it
 * directly while sealine is attached.
 */
static ssize_t sealine_ldisc_read(struct tty_struct *tty, struct file *file,
				  unsigned char *buf, size_t nr, void **cookie,
				  unsigned long offset)
{
	return -EOPNOTSUPP;
}

static ssize_t sealine_ldisc_write(struct tty_struct *tty, struct file *file,
				   const unsigned char *buf, size_t nr)
{
	return -EOPNOTSUPP;
}

/* termios ioctls (stty, the baud rate) still apply to the physical line. */
static int sealine_ldisc_ioctl(struct tty_struct *tty, unsigned int cmd,
			       unsigned long arg)
{
	return n_tty_ioctl_helper(tty, cmd, arg);
}

static struct tty_ldisc_ops sealine_ldisc_ops = {
	.owner = THIS_MODULE,
	.name = "sealine",
	.open = sealine_ldisc_open,
	.close = sealine_ldisc_close,
	.hangup = sealine_ldisc_hangup,
	.read = sealine_ldisc_read,
	.write = sealine_ldisc_write,
	.ioctl = sealine_ldisc_ioctl,
	.receive_buf2 = sealine_ldisc_receive_buf2,
	.write_wakeup = sealine_ldisc_write_wakeup,
};

int sealine_ldisc_init(int num)
{
	sealine_ldisc_ops.num = num;
	return tty_register_ldisc(&sealine_ldisc_ops);
}

void sealine_ldisc_exit(void)
{
	tty_unregister_ldisc(&sealine_ldisc_ops);
}
