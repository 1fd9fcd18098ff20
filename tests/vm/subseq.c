// SPDX-License-Identifier: GPL-2.0
/*
 * subseq - check that RECEIVED is SENT with whole chunks cut out and
 * nothing changed: what a receiver may see when frames are dropped but
 * never altered. Meant for random SENT data, where 32 bytes find their
 * place in SENT unambiguously.
 *
 * Prints "kept=N gaps=N" and exits 0 if so, 1 if RECEIVED holds a byte
 * that is not where SENT has it (corruption delivered), 2 on usage or I/O
 * errors.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE 32

static unsigned char *slurp(const char *path, size_t *len)
{
	unsigned char *buf = NULL;
	size_t cap = 0, n;
	FILE *f = fopen(path, "rb");

	if (!f) {
		perror(path);
		exit(2);
	}
	*len = 0;
	do {
		if (*len == cap) {
			cap = cap ? 2 * cap : 1 << 16;
			buf = realloc(buf, cap);
			if (!buf) {
				perror("realloc");
				exit(2);
			}
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
	} while (n);
	if (ferror(f)) {
		perror(path);
		exit(2);
	}
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	size_t slen, rlen, s = 0, r = 0, gaps = 0;
	unsigned char *sent, *got;

	if (argc != 3) {
		fprintf(stderr, "usage: subseq SENT RECEIVED\n");
		return 2;
	}
	sent = slurp(argv[1], &slen);
	got = slurp(argv[2], &rlen);

	while (r < rlen) {
		if (s < slen && sent[s] == got[r]) {
			s++;
			r++;
			continue;
		}
		/* A gap: the next bytes received must appear later in SENT. */
		size_t probe = rlen - r < PROBE ? rlen - r : PROBE;
		unsigned char *at = s < slen ?
			memmem(sent + s, slen - s, got + r, probe) : NULL;

		if (!at) {
			printf("corrupt at received offset %zu (sent offset %zu)\n",
			       r, s);
			return 1;
		}
		s = at - sent;
		gaps++;
	}
	printf("kept=%zu gaps=%zu\n", rlen, gaps);
	return 0;
}
