// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * Unpacking an envelope from the spool into staging in a thread of its
 * own: sl_env_unpack() reads, decompresses, checks and writes every file
 * and syncs them, which for a large envelope takes long enough to starve
 * the event loop (handshakes have 20 s deadlines). The thread gets all it
 * needs in the job (file descriptors, our key, a copy of the sender's
 * record) and touches nothing else of the daemon; it says it is done on
 * a pipe the event loop polls. One job at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "courier_internal.h"
#include "crypto.h"

struct sl_unpacker {
	int pipe[2];
	pthread_t thread;
	bool running;
	struct sl_unpack_job *job;
};

int sl_unpacker_new(struct sl_unpacker **out)
{
	struct sl_unpacker *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	if (pipe2(u->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		int err = -errno;

		free(u);
		return err;
	}
	*out = u;
	return 0;
}

void sl_unpack_job_free(struct sl_unpack_job *job)
{
	if (!job)
		return;
	if (job->env_fd >= 0)
		close(job->env_fd);
	if (job->peer.ltk)
		sl_secure_free((void *)job->peer.ltk, SL_ENV_KEY_LEN);
	sl_wipe(job, sizeof(*job));
	free(job);
}

void sl_unpacker_free(struct sl_unpacker *u)
{
	if (!u)
		return;
	if (u->running)
		pthread_join(u->thread, NULL);
	sl_unpack_job_free(u->job);
	close(u->pipe[0]);
	close(u->pipe[1]);
	free(u);
}

/* The sender, as the job's copy of its record knows it. */
static int find_peer(void *ctx, const uint8_t pub[SL_ENV_KEY_LEN],
		     struct sl_env_peer *peer)
{
	const struct sl_unpack_job *job = ctx;

	if (!job->have_peer || memcmp(pub, job->peer.pub, SL_ENV_KEY_LEN))
		return -ENOENT;
	*peer = job->peer;
	return 0;
}

static void *run(void *arg)
{
	struct sl_unpacker *u = arg;
	struct sl_unpack_job *job = u->job;
	struct sl_env_receive rx = {
		.me = &job->me,
		.find_peer = find_peer,
		.ctx = job,
		.limits = job->limits,
	};
	char one = 1;

	job->reason = sl_env_unpack(job->env_fd, job->staging_fd, &rx,
				    &job->got, &job->why);
	if (write(u->pipe[1], &one, 1) != 1) {
		/* the pipe is ours and empty: cannot happen */
	}
	return NULL;
}

int sl_unpacker_start(struct sl_unpacker *u, struct sl_unpack_job *job)
{
	int err;

	if (u->running || u->job)
		return -EBUSY;
	u->job = job;
	err = pthread_create(&u->thread, NULL, run, u);
	if (err) {
		u->job = NULL;
		return -err;
	}
	u->running = true;
	return 0;
}

int sl_unpacker_fd(const struct sl_unpacker *u)
{
	return u->running ? u->pipe[0] : -1;
}

struct sl_unpack_job *sl_unpacker_done(struct sl_unpacker *u)
{
	struct sl_unpack_job *job;
	char one;

	if (!u->running || read(u->pipe[0], &one, 1) != 1)
		return NULL;
	pthread_join(u->thread, NULL);
	u->running = false;
	job = u->job;
	u->job = NULL;
	return job;
}
