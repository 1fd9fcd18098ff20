// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Whole reads and writes (fdio.h).
 */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

#include "fdio.h"

int sl_write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* never for a file; a full device */
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int sl_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;	/* never for a file; a full device */
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

ssize_t sl_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}
