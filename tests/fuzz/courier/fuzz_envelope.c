// SPDX-License-Identifier: GPL-2.0
/*
 * The recipient's side of the courier (agent/proto/courier): everything
 * an envelope's bytes reach. The first input byte picks who speaks:
 *
 *	0	a relay or a thief: the rest is an envelope, read by
 *		sl_env_unpack (header, chunk stream, and whatever follows)
 *	1	a paired but malicious sender: the rest is the payload (a
 *		zstd stream), sealed properly, then unpacked: zstd,
 *		libarchive and the extraction see exactly these bytes
 *	2	the same with the rest as an uncompressed archive, which the
 *		harness compresses first (tar headers are far easier to
 *		find than a valid zstd stream)
 *	3	a receipt for sl_rcpt_verify
 *
 * Invariants, beyond ASan/UBSan/LSan: a refusal leaves the staging
 * directory empty; an accepted envelope is a directory of the staging
 * directory and nothing else is ever created next to it (the scratch
 * directory holds only "staging"); every refusal has a name and a
 * detail; secure memory is given back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zstd.h>

#include "crypto.h"
#include "envelope.h"
#include "receipt.h"
#include "fuzz.h"

/* libgcrypt keeps its entropy pool only from secure memory, which LSan
 * does not scan. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libgcrypt.so\n";
}

static uint8_t *sender_priv, *recipient_priv, *ltk;
static struct sl_env_self sender, recipient;
static struct sl_env_peer recipient_at_sender, sender_at_recipient;
static struct sl_env_receive rx;
static char scratch[128], staging[160];
static int staging_fd, scratch_fd;

static int find_peer(void *ctx, const uint8_t pub[32], struct sl_env_peer *p)
{
	(void)ctx;
	if (memcmp(pub, sender.pub, 32))
		return -ENOENT;
	*p = sender_at_recipient;
	return 0;
}

static void key(uint8_t *out, const char *label)
{
	if (sl_sha256(out, label, strlen(label)))
		abort();
}

static void remove_scratch(void)
{
	rmdir(staging);
	rmdir(scratch);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char why[200];
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	if (sl_crypto_init(0, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why))) {
		fprintf(stderr, "sl_crypto_init: %s\n", why);
		abort();
	}
	sender_priv = sl_secure_alloc(32);
	recipient_priv = sl_secure_alloc(32);
	ltk = sl_secure_alloc(32);
	key(sender_priv, "sealine courier test sender static");
	key(recipient_priv, "sealine courier test recipient static");
	key(ltk, "sealine courier test ltk");
	snprintf(sender.account, 13, "000000000001");
	snprintf(recipient.account, 13, "000000000002");
	sender.priv = sender_priv;
	recipient.priv = recipient_priv;
	sl_x25519_public(sender.pub, sender_priv);
	sl_x25519_public(recipient.pub, recipient_priv);
	recipient_at_sender = (struct sl_env_peer){ .ltk = ltk, .allowed = true };
	memcpy(recipient_at_sender.account, recipient.account, 13);
	memcpy(recipient_at_sender.pub, recipient.pub, 32);
	sender_at_recipient = (struct sl_env_peer){ .ltk = ltk, .allowed = true };
	memcpy(sender_at_recipient.account, sender.account, 13);
	memcpy(sender_at_recipient.pub, sender.pub, 32);

	rx.me = &recipient;
	rx.find_peer = find_peer;
	sl_env_limits_default(&rx.limits);
	/* Small, so that runs stay fast; the limits' logic is the same. */
	rx.limits.max_envelope_bytes = 1 << 20;
	rx.limits.max_unpacked_bytes = 4 << 20;
	rx.limits.max_files = 64;
	rx.limits.ratio_floor = 1 << 20;
	rx.limits.min_free_bytes = 0;

	snprintf(scratch, sizeof(scratch), "%s/courier-fuzz-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(scratch))
		abort();
	snprintf(staging, sizeof(staging), "%s/staging", scratch);
	if (mkdir(staging, 0700))
		abort();
	staging_fd = open(staging, O_RDONLY | O_DIRECTORY);
	scratch_fd = open(scratch, O_RDONLY | O_DIRECTORY);
	FUZZ_ASSERT(staging_fd >= 0 && scratch_fd >= 0);
	atexit(remove_scratch);
	return 0;
}

static int entries(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY);
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int n = 0;

	FUZZ_ASSERT(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int sealed(const uint8_t *payload, size_t len)
{
	struct sl_env_header_in in = { .created = 1700000000 };
	struct sl_env_writer *w;
	uint64_t bytes, chunks;
	uint8_t sha[32];
	int fd = memfd_create("env", 0);

	FUZZ_ASSERT(fd >= 0);
	for (int i = 0; i < SL_ENV_ID_LEN; i++)
		in.id[i] = (uint8_t)i;
	FUZZ_ASSERT(!sl_env_writer_new(&w, fd, &sender, &recipient_at_sender,
				       &in));
	FUZZ_ASSERT(!sl_env_writer_write(w, payload, len));
	FUZZ_ASSERT(!sl_env_writer_finish(w, &bytes, &chunks, sha));
	sl_env_writer_free(w);
	return fd;
}

static void unpack(int fd)
{
	struct sl_env_received r;
	struct sl_env_refusal why;
	enum sl_env_reason res;

	lseek(fd, 0, SEEK_SET);
	res = sl_env_unpack(fd, staging_fd, &rx, &r, &why);
	if (res == SL_ENV_OK) {
		struct stat st;

		FUZZ_ASSERT(!fstatat(staging_fd, r.name, &st,
				     AT_SYMLINK_NOFOLLOW) &&
			    S_ISDIR(st.st_mode));
		FUZZ_ASSERT(entries(staging_fd) == 1);
		FUZZ_ASSERT(!sl_env_discard(staging_fd, r.name));
	} else {
		FUZZ_ASSERT(res < SL_ENV_REASON_COUNT);
		FUZZ_ASSERT(strcmp(sl_env_reason_name(res), "?"));
		FUZZ_ASSERT(why.reason == res && why.detail[0]);
	}
	FUZZ_ASSERT(entries(staging_fd) == 0);
	FUZZ_ASSERT(entries(scratch_fd) == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[200];
	struct sl_rcpt r;
	int fd;

	if (!size)
		return 0;
	switch (data[0] % 4) {
	case 0:
		fd = memfd_create("env", 0);
		FUZZ_ASSERT(write(fd, data + 1, size - 1) == (ssize_t)(size - 1));
		unpack(fd);
		close(fd);
		break;
	case 1:
		fd = sealed(data + 1, size - 1);
		unpack(fd);
		close(fd);
		break;
	case 2: {
		size_t cap = ZSTD_compressBound(size - 1);
		uint8_t *z = fuzz_malloc(cap);
		size_t zl = ZSTD_compress(z, cap, data + 1, size - 1, 1);

		FUZZ_ASSERT(!ZSTD_isError(zl));
		fd = sealed(z, zl);
		free(z);
		unpack(fd);
		close(fd);
		break;
	}
	default:
		if (!sl_rcpt_verify(&r, (const char *)data + 1, size - 1, NULL,
				    why, sizeof(why)))
			FUZZ_ASSERT(strlen(r.sender) == 12 &&
				    strlen(r.recipient) == 12);
		break;
	}
	return 0;
}
