// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sd_notify(3) without libsystemd. See sdnotify.h.
 *
 * $NOTIFY_SOCKET is a path ("/run/systemd/notify") or, starting with '@',
 * a name in the abstract namespace; anything else is not systemd's and is
 * left alone.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sdnotify.h"

void sl_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(addr.sun_path))
		return;
	if (path[0] != '/' && path[0] != '@')
		return;
	memcpy(addr.sun_path, path, strlen(path));
	if (addr.sun_path[0] == '@')
		addr.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		sl_log(LOG_DEBUG, "sd_notify: socket: %s", strerror(errno));
		return;
	}
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		   (struct sockaddr *)&addr, len) < 0)
		sl_log(LOG_DEBUG, "sd_notify: %s", strerror(errno));
	close(fd);
}
