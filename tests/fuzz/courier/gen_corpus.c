// SPDX-License-Identifier: GPL-2.0
/*
 * Seeds for fuzz_envelope (one file per mode, see its comment): a whole
 * envelope of two files, their zstd payload, their uncompressed archive,
 * and a receipt. Built with the host compiler; "make corpus" runs it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zstd.h>

#include "crypto.h"
#include "envelope.h"
#include "receipt.h"
#include "sign.h"

static void key(uint8_t *out, const char *label)
{
	if (sl_sha256(out, label, strlen(label)))
		exit(1);
}

static void put(const char *dir, const char *name, uint8_t mode,
		const void *p, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fputc(mode, f) == EOF || fwrite(p, 1, len, f) != len ||
	    fclose(f))
		exit(1);
}

static uint8_t tarbuf[1 << 16];
static size_t tarlen;

static la_ssize_t tar_out(struct archive *a, void *c, const void *b, size_t n)
{
	(void)a;
	(void)c;
	if (tarlen + n > sizeof(tarbuf))
		return -1;
	memcpy(tarbuf + tarlen, b, n);
	tarlen += n;
	return (la_ssize_t)n;
}

static void entry(struct archive *a, const char *name, unsigned int type,
		  const char *data, const char *link)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_copy_pathname(e, name);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, data ? (la_int64_t)strlen(data) : 0);
	if (link)
		archive_entry_copy_symlink(e, link);
	archive_write_header(a, e);
	if (data)
		archive_write_data(a, data, strlen(data));
	archive_entry_free(e);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "corpus/fuzz_envelope";
	uint8_t *sp = NULL, *rp = NULL, *lp = NULL, e[32], sha[32], *env;
	struct sl_env_header_in in = { .created = 1700000000 };
	struct sl_env_self s = { .account = "000000000001" };
	struct sl_env_peer to = { .account = "000000000002", .allowed = true };
	struct sl_env_writer *w;
	struct sl_sign_key k;
	struct sl_rcpt r = { .sender = "000000000001",
			     .recipient = "000000000002",
			     .delivered = 1700000100, .files = 2, .bytes = 12 };
	struct archive *a = archive_write_new();
	char why[200], text[SL_RCPT_MAX_LEN + 1];
	uint64_t bytes, chunks;
	size_t zcap, zlen, len;
	uint8_t *z;
	int fd;

	if (sl_crypto_init(0, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why)))
		return 1;
	sp = sl_secure_alloc(32);
	rp = sl_secure_alloc(32);
	lp = sl_secure_alloc(32);
	key(sp, "sealine courier test sender static");
	key(rp, "sealine courier test recipient static");
	key(lp, "sealine courier test ltk");
	key(e, "sealine courier test ephemeral");
	s.priv = sp;
	sl_x25519_public(s.pub, sp);
	sl_x25519_public(to.pub, rp);
	to.ltk = lp;
	mkdir(dir, 0755);

	/* The archive: a directory, a file in it, a link, a top file. */
	archive_write_set_format_pax_restricted(a);
	archive_write_set_format_option(a, "pax", "hdrcharset", "BINARY");
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open(a, NULL, NULL, tar_out, NULL);
	entry(a, "d", AE_IFDIR, NULL, NULL);
	entry(a, "d/f", AE_IFREG, "hello\n", NULL);
	entry(a, "d/l", AE_IFLNK, NULL, "f");
	entry(a, "top", AE_IFREG, "world\n", NULL);
	archive_write_close(a);
	archive_write_free(a);
	put(dir, "archive", 2, tarbuf, tarlen);

	zcap = ZSTD_compressBound(tarlen);
	z = malloc(zcap);
	zlen = ZSTD_compress(z, zcap, tarbuf, tarlen, 3);
	if (ZSTD_isError(zlen))
		return 1;
	put(dir, "zstd", 1, z, zlen);

	for (int i = 0; i < SL_ENV_ID_LEN; i++)
		in.id[i] = (uint8_t)i;
	in.ephemeral = e;
	fd = memfd_create("env", 0);
	if (sl_env_writer_new(&w, fd, &s, &to, &in) ||
	    sl_env_writer_write(w, z, zlen) ||
	    sl_env_writer_finish(w, &bytes, &chunks, sha))
		return 1;
	sl_env_writer_free(w);
	env = malloc(bytes);
	if (pread(fd, env, bytes, 0) != (ssize_t)bytes)
		return 1;
	put(dir, "envelope", 0, env, bytes);

	memcpy(r.id, in.id, SL_ENV_ID_LEN);
	memcpy(r.sha256, sha, 32);
	r.size = bytes;
	if (sl_sign_key_derive(&k, rp, "000000000002") ||
	    sl_rcpt_sign(text, sizeof(text), &len, &r, &k, why, sizeof(why)))
		return 1;
	put(dir, "receipt", 3, text, len);
	sl_sign_key_wipe(&k);
	free(env);
	free(z);
	sl_secure_free(sp, 32);
	sl_secure_free(rp, 32);
	sl_secure_free(lp, 32);
	return 0;
}
