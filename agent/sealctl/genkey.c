// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealctl genkey: a fresh 256-bit key, as 64 hex digits and a newline, in
 * the format set-key reads. Needs no module and no privilege.
 */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "hex.h"
#include "keyfile.h"
#include "sealctl.h"

int sl_cmd_genkey(int argc, char *argv[])
{
	static const char cmd[] = "genkey";
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	uint8_t key[SEALINE_KEY_LEN];
	char hex[SL_KEY_HEX_LEN + 1];
	struct stat st;
	int opt, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			sl_help_genkey(stdout);
			return SL_EXIT_OK;
		}
		return sl_option_error(cmd, opt, argv);
	}
	if (optind < argc)
		return sl_usage_error(cmd, "takes no arguments");

	/* The key is about to land in whatever stdout is; say so if others
	 * will be able to read it there. */
	if (!fstat(STDOUT_FILENO, &st) && S_ISREG(st.st_mode) &&
	    (st.st_mode & (S_IRGRP | S_IROTH)))
		sl_warning("writing a key to a file readable by group or others (mode %04o); set 'umask 077' first",
			   (unsigned int)(st.st_mode & 07777));

	ret = sl_key_generate(key);
	if (ret)
		return sl_failure("%s: getrandom: %s", cmd, strerror(-ret));
	sl_hex_encode(hex, key, SEALINE_KEY_LEN);
	explicit_bzero(key, sizeof(key));

	/* write(2), not stdio, so no copy stays in a FILE buffer. */
	hex[SL_KEY_HEX_LEN] = '\n';
	ret = 0;
	for (size_t off = 0; off < sizeof(hex);) {
		ssize_t n = write(STDOUT_FILENO, hex + off, sizeof(hex) - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		off += (size_t)n;
	}
	explicit_bzero(hex, sizeof(hex));
	if (ret)
		return sl_failure("%s: writing the key: %s", cmd, strerror(-ret));
	return SL_EXIT_OK;
}

void sl_help_genkey(FILE *f)
{
	fprintf(f,
		"NAME\n"
		"    %1$s genkey - print a fresh random key\n"
		"\n"
		"SYNOPSIS\n"
		"    %1$s genkey\n"
		"\n"
		"DESCRIPTION\n"
		"    Print a new 256-bit key from the kernel's random number generator\n"
		"    (getrandom(2)) as 64 lower-case hex digits and a newline: the format\n"
		"    of the key files set-key reads. A warning is printed when standard\n"
		"    output is a file that group or others can read. Needs neither the\n"
		"    module nor any privilege.\n"
		"\n"
		"OPTIONS\n"
		"    -h, --help\n"
		"        Show this manual.\n"
		"\n"
		"EXIT STATUS\n"
		"    0 on success, 1 if no random bytes or no output could be had, 2 on a\n"
		"    usage error.\n"
		"\n"
		"EXAMPLE\n"
		"    (umask 077; %1$s genkey > tx.key)\n",
		sl_prog);
}
