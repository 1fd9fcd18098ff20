// SPDX-License-Identifier: GPL-2.0
/*
 * The clear-text side of a sealine line: /dev/ttySL<n>, a real tty driver,
 * so N_TTY sits on top and every serial program works unchanged.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/tty.h>
#include <linux/tty_driver.h>

#include "line.h"

struct tty_driver *sealine_tty_driver;

/*
 * A new line starts from init_termios: the tty core kept the modes the
 * last user of an earlier line at the same index left (raw, no echo...).
 * Within one line the modes persist between opens, as on a serial port,
 * so "stty -F /dev/ttySL0 raw -echo" before a program still works.
 * (TTY_DRIVER_RESET_TERMIOS would reset them at every first open.)
 * Called for a reserved index before it is registered: the tty core
 * saved the modes before the last tty of the index was released (and so
 * before the index was freed), and no tty of it can be installed until
 * the line is published (sealine_vtty_install()).
 */
void sealine_vtty_forget_termios(unsigned int index)
{
	kfree(sealine_tty_driver->termios[index]);
	sealine_tty_driver->termios[index] = NULL;
}

static void sealine_port_destruct(struct tty_port *port)
{
	sealine_line_destroy(container_of(port, struct sealine_line, port));
}

/* Last close (after closing_wait for what is queued) and hangup. */
static void sealine_port_shutdown(struct tty_port *port)
{
	sealine_line_vtty_closed(container_of(port, struct sealine_line, port));
}

const struct tty_port_operations sealine_port_ops = {
	.shutdown = sealine_port_shutdown,
	.destruct = sealine_port_destruct,
};

static int sealine_vtty_install(struct tty_driver *driver,
				struct tty_struct *tty)
{
	struct sealine_line *line;
	int ret;

	line = sealine_line_get(tty->index);
	if (!line)
		return -ENODEV;
	ret = tty_port_install(&line->port, driver, tty);
	if (ret) {
		sealine_line_put(line);
		return ret;
	}
	tty->driver_data = line;
	return 0;
}

/* Drops the reference install took, once the tty is gone. */
static void sealine_vtty_cleanup(struct tty_struct *tty)
{
	struct sealine_line *line = tty->driver_data;

	tty->driver_data = NULL;
	sealine_line_put(line);
}

/*
 * tty_port_open() first, even on a dead line: the tty core calls close()
 * after a failed open, and tty_port_close() counts the open it undoes.
 * Detach marks the line dead and then hangs up the port's tty: an open
 * that got in before the hangup is hung up by it, one that comes after
 * sees dead here.
 */
static int sealine_vtty_open(struct tty_struct *tty, struct file *filp)
{
	struct sealine_line *line = tty->driver_data;
	int ret;

	ret = tty_port_open(&line->port, tty, filp);
	if (ret)
		return ret;
	if (READ_ONCE(line->dead))
		return -ENODEV;
	return 0;
}

static void sealine_vtty_close(struct tty_struct *tty, struct file *filp)
{
	struct sealine_line *line = tty->driver_data;

	tty_port_close(&line->port, tty, filp);
}

static void sealine_vtty_hangup(struct tty_struct *tty)
{
	struct sealine_line *line = tty->driver_data;

	tty_port_hangup(&line->port);
}

static int sealine_vtty_write(struct tty_struct *tty, const u8 *buf,
			      int count)
{
	return sealine_line_write(tty->driver_data, buf, count);
}

static unsigned int sealine_vtty_write_room(struct tty_struct *tty)
{
	return sealine_line_write_room(tty->driver_data);
}

static unsigned int sealine_vtty_chars_in_buffer(struct tty_struct *tty)
{
	return sealine_line_chars_in_buffer(tty->driver_data);
}

static void sealine_vtty_flush_buffer(struct tty_struct *tty)
{
	sealine_line_flush_tx(tty->driver_data);
}

static void sealine_vtty_throttle(struct tty_struct *tty)
{
	sealine_line_throttle(tty->driver_data, true);
}

static void sealine_vtty_unthrottle(struct tty_struct *tty)
{
	sealine_line_throttle(tty->driver_data, false);
}

static const struct tty_operations sealine_vtty_ops = {
	.install = sealine_vtty_install,
	.open = sealine_vtty_open,
	.close = sealine_vtty_close,
	.cleanup = sealine_vtty_cleanup,
	.hangup = sealine_vtty_hangup,
	.write = sealine_vtty_write,
	.write_room = sealine_vtty_write_room,
	.chars_in_buffer = sealine_vtty_chars_in_buffer,
	.flush_buffer = sealine_vtty_flush_buffer,
	.throttle = sealine_vtty_throttle,
	.unthrottle = sealine_vtty_unthrottle,
};

int sealine_vtty_init(void)
{
	struct tty_driver *driver;
	int ret;

	driver = tty_alloc_driver(SEALINE_MAX_LINES, TTY_DRIVER_REAL_RAW |
				  TTY_DRIVER_DYNAMIC_DEV);
	if (IS_ERR(driver))
		return PTR_ERR(driver);
	driver->driver_name = "sealine";
	driver->name = SEALINE_VTTY_NAME;
	driver->major = 0;	/* dynamic */
	driver->minor_start = 0;
	driver->type = TTY_DRIVER_TYPE_SERIAL;
	driver->subtype = SERIAL_TYPE_NORMAL;
	driver->init_termios = tty_std_termios;
	/* No modem lines behind it: never wait for carrier on open. */
	driver->init_termios.c_cflag = B115200 | CS8 | CREAD | HUPCL | CLOCAL;
	driver->init_termios.c_ispeed = 115200;
	driver->init_termios.c_ospeed = 115200;
	tty_set_operations(driver, &sealine_vtty_ops);

	ret = tty_register_driver(driver);
	if (ret) {
		tty_driver_kref_put(driver);
		return ret;
	}
	sealine_tty_driver = driver;
	return 0;
}

void sealine_vtty_exit(void)
{
	tty_unregister_driver(sealine_tty_driver);
	tty_driver_kref_put(sealine_tty_driver);
}
