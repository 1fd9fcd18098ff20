// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of lib/hex.c (constant-time hex) and lib/fdio.c (whole reads
 * and writes) against plain reference code.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "check.h"
#include "fdio.h"
#include "hex.h"
#include "daemon_test.h"

static int ref_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

TEST(hex_digit_every_byte)
{
	for (int c = 0; c < 256; c++)
		CHECKF(sl_hex_digit((unsigned char)c) == ref_digit(c),
		       "byte 0x%02x: %d, want %d", c,
		       sl_hex_digit((unsigned char)c), ref_digit(c));
}

TEST(hex_round_trip)
{
	uint8_t in[64], out[64];
	char text[129], ref[129];

	for (int iter = 0; iter < 2000; iter++) {
		size_t len = check_below(sizeof(in) + 1);

		for (size_t i = 0; i < len; i++)
			in[i] = (uint8_t)check_rand();
		sl_hex_encode(text, in, len);
		for (size_t i = 0; i < len; i++)
			snprintf(ref + 2 * i, 3, "%02x", in[i]);
		ref[2 * len] = '\0';
		if (!CHECK(!strcmp(text, ref)))
			return;
		memset(out, 0xa5, sizeof(out));
		CHECK_EQ(sl_hex_decode(out, len, text, strlen(text)), 0);
		CHECK_MEM(out, in, len);
	}
}

TEST(hex_decode_refuses)
{
	uint8_t out[4];

	CHECK_EQ(sl_hex_decode(out, 4, "0011aaff", 8), 0);
	CHECK_EQ(out[3], 0xff);
	/* One spelling per value: upper case is not ours. */
	CHECK_EQ(sl_hex_decode(out, 4, "0011AAff", 8), -EINVAL);
	CHECK_EQ(sl_hex_decode(out, 4, "0011aaf", 7), -EINVAL);
	CHECK_EQ(sl_hex_decode(out, 4, "0011aaff0", 9), -EINVAL);
	CHECK_EQ(sl_hex_decode(out, 4, "0011aafg", 8), -EINVAL);
	CHECK_EQ(sl_hex_decode(out, 4, "0011 aff", 8), -EINVAL);
	CHECK_EQ(sl_hex_decode(out, 4, "0011aa\xff" "f", 8), -EINVAL);
	CHECK_EQ(sl_hex_decode(out, 0, "", 0), 0);
}

/* Through a socket pair with a tiny buffer, so that writes come short. */
TEST(fdio_whole_transfers)
{
	static uint8_t big[256 * 1024], back[sizeof(big)];
	int sv[2], size = 4096;
	pid_t pid;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)check_rand();
	if (!CHECK(!socketpair(AF_UNIX, SOCK_STREAM, 0, sv)))
		return;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	pid = fork();
	if (pid == 0) {
		close(sv[1]);
		_exit(sl_write_all(sv[0], big, sizeof(big)) ? 1 : 0);
	}
	close(sv[0]);
	CHECK_EQ(sl_read_full(sv[1], back, sizeof(back)), (ssize_t)sizeof(back));
	CHECK_MEM(back, big, sizeof(big));
	/* At end of file: fewer, then none. */
	CHECK_EQ(sl_read_full(sv[1], back, 10), 0);
	close(sv[1]);
	{
		int status = -1;

		CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		      WEXITSTATUS(status) == 0);
	}
}

TEST(fdio_pwrite_at_offset)
{
	char path[PATH_MAX], text[64];
	int fd;

	path_in(path, sizeof(path), "pwrite");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (!CHECK(fd >= 0))
		return;
	CHECK_EQ(sl_write_all(fd, "hello world", 11), 0);
	CHECK_EQ(sl_pwrite_all(fd, "WORLD", 5, 6), 0);
	CHECK_EQ(sl_write_all(-1, "x", 1), -EBADF);
	close(fd);
	CHECK(read_text(path, text, sizeof(text)));
	CHECK(!strcmp(text, "hello WORLD"));
}

int main(int argc, char **argv)
{
	daemon_test_start(argc, argv, "test_hex");
	RUN(hex_digit_every_byte);
	RUN(hex_round_trip);
	RUN(hex_decode_refuses);
	RUN(fdio_whole_transfers);
	RUN(fdio_pwrite_at_offset);
	return daemon_test_finish();
}
