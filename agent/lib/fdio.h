/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Whole reads and writes: read(2), write(2) and pwrite(2) may move less
 * than asked, and a signal may interrupt them.
 */
#ifndef SEALINE_AGENT_FDIO_H
#define SEALINE_AGENT_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* All len bytes: 0 or -errno. */
int sl_write_all(int fd, const void *buf, size_t len);
/* All len bytes at offset off: 0 or -errno. */
int sl_pwrite_all(int fd, const void *buf, size_t len, off_t off);
/* len bytes, fewer only at end of file: the count, or -errno. */
ssize_t sl_read_full(int fd, void *buf, size_t len);

#endif
