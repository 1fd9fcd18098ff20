// SPDX-License-Identifier: GPL-2.0
/*
 * Files to an envelope and back (agent/courier: pack.c, unpack.c,
 * extract.c): round trips of real trees (odd names, binary and text,
 * empty files and directories, links, modes, times; 20 MiB streamed with
 * bounded memory), the commit into the inbox and replays, what the
 * sender refuses to pack, and every archive a malicious (but paired)
 * sender can craft: traversal, absolute names, symbolic and hard links
 * out, links written through, devices, duplicates, a zstd bomb, a huge
 * window, limits. After each refusal nothing may be left in the staging
 * directory or the inbox, and nothing written anywhere else.
 *
 * Why one file of about 1,100 lines: it tests one path, files in and
 * files out, and most cases are one crafted archive each built with the
 * same few helpers.
 */
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <archive.h>
#include <gcrypt.h>
#include <archive_entry.h>
#include <zstd.h>

#include "check.h"
#include "crypto.h"
#include "agent_test.h"
#include "courier_test.h"
#include "internal.h"

/* AddressSanitizer's heap counter (sanitizer/allocator_interface.h, which
 * gcc does not install; libasan has it with either compiler). */
size_t __sanitizer_get_current_allocated_bytes(void);

static struct world W;
static char root[256], src[300], staging[300], inbox[300];
static int staging_fd = -1, inbox_fd = -1;
static struct sl_env_receive RX;

static int delivered_calls;
static bool delivered_answer;

static bool delivered(void *ctx, const uint8_t id[SL_ENV_ID_LEN])
{
	(void)ctx;
	(void)id;
	delivered_calls++;
	return delivered_answer;
}

static void setup(void)
{
	scratch_dir(root, sizeof(root), "unpack");
	snprintf(src, sizeof(src), "%s/src", root);
	snprintf(staging, sizeof(staging), "%s/staging", root);
	snprintf(inbox, sizeof(inbox), "%s/inbox", root);
	if (mkdir(src, 0755) || mkdir(staging, 0700) || mkdir(inbox, 0700))
		abort();
	staging_fd = open(staging, O_RDONLY | O_DIRECTORY);
	inbox_fd = open(inbox, O_RDONLY | O_DIRECTORY);
	if (staging_fd < 0 || inbox_fd < 0)
		abort();
	RX.me = &W.recipient.self;
	RX.find_peer = find_peer;
	RX.delivered = delivered;
	RX.ctx = &W;
	sl_env_limits_default(&RX.limits);
	/* Scratch file systems are small; the test of the free-space
	 * limit sets its own. */
	RX.limits.min_free_bytes = 0;
}

static void teardown(void)
{
	close(staging_fd);
	close(inbox_fd);
	rm_rf(root);
}

/* Empties src and the inbox between cases. */
static void reset(void)
{
	rm_rf(src);
	rm_rf(inbox);
	if (mkdir(src, 0755) || mkdir(inbox, 0700))
		abort();
	close(inbox_fd);
	inbox_fd = open(inbox, O_RDONLY | O_DIRECTORY);
	sl_env_limits_default(&RX.limits);
	RX.limits.min_free_bytes = 0;
	delivered_answer = false;
	W.sender_allowed = true;
}

/* Nothing in staging or the inbox, nothing new beside them. */
static bool clean(void)
{
	return CHECKF(count_entries(staging) == 0, "staging holds %d entries",
		      count_entries(staging)) &
	       CHECKF(count_entries(inbox) == 0, "inbox holds %d entries",
		      count_entries(inbox)) &
	       CHECKF(count_entries(root) == 3, "%s holds %d entries", root,
		      count_entries(root));
}

static void path_in(char *out, size_t size, const char *dir, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

/* ---- sealing real files --------------------------------------------- */

static int seal_fd(const char *const *paths, size_t n,
		   struct sl_env_sealed *s, char *why, size_t why_len)
{
	int fd = memfd_create("env", 0), err;

	if (fd < 0)
		abort();
	err = sl_env_seal(fd, &W.sender.self, &W.recipient_at_sender, paths,
			  n, NULL, s, why, why_len);
	if (err) {
		close(fd);
		return err;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static enum sl_env_reason unpack_fd(int fd, struct sl_env_received *r,
				    struct sl_env_refusal *why)
{
	lseek(fd, 0, SEEK_SET);
	return sl_env_unpack(fd, staging_fd, &RX, r, why);
}

#define CHECK_REASON(got, want, why) ({ \
	enum sl_env_reason got_ = (got); \
	CHECKF(got_ == (want), "reason %s, want %s (%s)", \
	       sl_env_reason_name(got_), sl_env_reason_name(want), \
	       (why).detail); \
})

static void put(const char *rel, const void *data, size_t len, mode_t mode,
		time_t mtime)
{
	char p[600];
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };

	path_in(p, sizeof(p), src, rel);
	write_file(p, data, len);
	chmod(p, mode);
	utimensat(AT_FDCWD, p, ts, 0);
}

static void put_dir(const char *rel)
{
	char p[600];

	path_in(p, sizeof(p), src, rel);
	if (mkdir(p, 0755))
		abort();
}

static void put_link(const char *rel, const char *target)
{
	char p[600];

	path_in(p, sizeof(p), src, rel);
	if (symlink(target, p))
		abort();
}

/* The committed file inbox/<id>/rel equals src/srcrel, mode and mtime. */
static bool same_file(const struct sl_env_received *r, const char *rel,
		      const char *srcrel, mode_t want_mode)
{
	char a[700], b[700];
	struct stat sa, sb;
	uint8_t *da, *db;
	size_t la = 0, lb = 0;
	bool ok;

	snprintf(a, sizeof(a), "%s/%s/%s", inbox, r->name, rel);
	path_in(b, sizeof(b), src, srcrel);
	da = read_file(a, &la);
	db = read_file(b, &lb);
	ok = CHECKF(da && db && la == lb && !memcmp(da, db, la),
		    "content of \"%s\"", rel);
	free(da);
	free(db);
	if (!CHECKF(!lstat(a, &sa) && !lstat(b, &sb), "stat \"%s\"", rel))
		return false;
	ok &= CHECKF((sa.st_mode & 07777) == want_mode, "\"%s\" mode %o, want %o",
		     rel, sa.st_mode & 07777, want_mode);
	ok &= CHECKF(sa.st_mtim.tv_sec == sb.st_mtim.tv_sec, "\"%s\" mtime",
		     rel);
	return ok;
}

TEST(round_trip_tree_odd_names)
{
	static const char *const odd[] = {
		"spaces and\ttabs", "new\nline", "\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d"
		"\xc3\xa9-\xe5\x90\x8d\xe5\x89\x8d", "bad-utf8-\xff\xfe" "x",
		"-dash", "back\\slash", ".hidden", "quote\"'`$(x)",
	};
	uint8_t *bin = malloc(300000), text[4000];
	char p[600], target[100], dir[700], *paths[16];
	struct sl_env_received r;
	struct sl_env_refusal why;
	struct sl_env_sealed s;
	char err[300];
	size_t n = 0, odd_bytes;
	ssize_t tl;
	int fd;

	reset();
	check_fill_random(bin, 300000);
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (uint8_t)("the quick brown fox\n"[i % 20]);
	put("text.txt", text, sizeof(text), 0644, 1600000000);
	put("bin.dat", bin, 300000, 0755, 1600000001);
	put("empty", "", 0, 0600, 1600000002);
	put("group-writable", "x", 1, 0666, 1600000003);
	put("setuid", "y", 1, 04755, 1600000004);
	put_dir("dir");
	put_dir("dir/sub");
	put_dir("dir/empty-dir");
	put("dir/sub/deep.txt", text, 100, 0640, 1600000005);
	put_link("dir/link", "sub/deep.txt");
	put_link("dir/up", "../text.txt");
	put_link("dir/dangling", "sub/not-there");
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		put(odd[i], odd[i], strlen(odd[i]), 0644, 1600000010);

	static const char *const tops[] = {
		"text.txt", "bin.dat", "empty", "group-writable", "setuid",
		"dir",
	};
	for (size_t i = 0; i < 6; i++) {
		path_in(p, sizeof(p), src, tops[i]);
		paths[n++] = strdup(p);
	}
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		path_in(p, sizeof(p), src, odd[i]);
		paths[n++] = strdup(p);
	}
	fd = seal_fd((const char *const *)paths, n, &s, err, sizeof(err));
	if (!CHECKF(fd >= 0, "seal: %s", err))
		goto out;
	/* 6 + 8 top-level entries, dir's 6 below it. */
	CHECK_EQ(s.files, 20);
	odd_bytes = 0;
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		odd_bytes += strlen(odd[i]);
	CHECK_EQ(s.content_bytes, 4000 + 300000 + 0 + 1 + 1 + 100 + odd_bytes);
	CHECK_EQ(unpack_fd(fd, &r, &why), SL_ENV_OK);
	CHECKF(r.files == s.files, "%s", why.detail);
	CHECK_EQ(r.content_bytes, s.content_bytes);
	CHECK_EQ(r.bytes, s.bytes);
	CHECK_MEM(r.sha256, s.sha256, 32);
	CHECK_MEM(r.id, s.id, SL_ENV_ID_LEN);
	CHECK(!strcmp(r.sender, SENDER_ACCOUNT));
	CHECK(!strcmp(r.recipient, RECIPIENT_ACCOUNT));
	CHECK_EQ(sl_env_commit(staging_fd, inbox_fd, &r, &why), SL_ENV_OK);
	CHECK_EQ(count_entries(staging), 0);

	same_file(&r, "text.txt", "text.txt", 0644);
	same_file(&r, "bin.dat", "bin.dat", 0755);
	same_file(&r, "empty", "empty", 0600);
	same_file(&r, "group-writable", "group-writable", 0644);
	same_file(&r, "setuid", "setuid", 0755);
	same_file(&r, "dir/sub/deep.txt", "dir/sub/deep.txt", 0640);
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++)
		same_file(&r, odd[i], odd[i], 0644);
	snprintf(dir, sizeof(dir), "%s/%s/dir/link", inbox, r.name);
	tl = readlink(dir, target, sizeof(target) - 1);
	CHECK(tl == 12 && !memcmp(target, "sub/deep.txt", 12));
	snprintf(dir, sizeof(dir), "%s/%s/dir/dangling", inbox, r.name);
	tl = readlink(dir, target, sizeof(target) - 1);
	CHECK(tl == 13 && !memcmp(target, "sub/not-there", 13));
	snprintf(dir, sizeof(dir), "%s/%s/dir/empty-dir", inbox, r.name);
	CHECK_EQ(count_entries(dir), 0);
	snprintf(dir, sizeof(dir), "%s/%s", inbox, r.name);
	CHECK_EQ(count_entries(dir), 14);
	close(fd);
out:
	while (n)
		free(paths[--n]);
	free(bin);
}

TEST(same_files_same_envelope)
{
	uint8_t e[32], id[SL_ENV_ID_LEN] = { 7 };
	struct sl_env_seal_opts o = { .id = id, .created = 1700000000 };
	struct sl_env_sealed a, b;
	char p[600], err[200];
	const char *paths[] = { p };
	int fa = memfd_create("a", 0), fb = memfd_create("b", 0);

	reset();
	label(e, "ephemeral");
	o.ephemeral = e;
	put_dir("d");
	for (int i = 0; i < 50; i++) {
		char name[40];

		snprintf(name, sizeof(name), "d/f%02d", (i * 37) % 50);
		put(name, name, strlen(name), 0644, 1600000000 + i);
	}
	path_in(p, sizeof(p), src, "d");
	CHECK(!sl_env_seal(fa, &W.sender.self, &W.recipient_at_sender, paths,
			   1, &o, &a, err, sizeof(err)));
	CHECK(!sl_env_seal(fb, &W.sender.self, &W.recipient_at_sender, paths,
			   1, &o, &b, err, sizeof(err)));
	CHECK_EQ(a.files, 51);
	CHECK_EQ(a.bytes, b.bytes);
	CHECK_MEM(a.sha256, b.sha256, 32);
	close(fa);
	close(fb);
}

/* ---- streamed with bounded memory --------------------------------------- */

struct pump {
	int pipe_fd, file_fd;
	bool to_pipe;			/* file -> pipe, else pipe -> file */
	size_t base, peak;
};

static void *pump_run(void *arg)
{
	struct pump *p = arg;
	static uint8_t buf[65536];
	ssize_t n;

	for (;;) {
		size_t now = __sanitizer_get_current_allocated_bytes();

		if (now > p->peak)
			p->peak = now;
		n = read(p->to_pipe ? p->file_fd : p->pipe_fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		if (write(p->to_pipe ? p->pipe_fd : p->file_fd, buf,
			  (size_t)n) != n)
			break;
	}
	close(p->pipe_fd);
	return NULL;
}

/* 20 MiB of files (16 MiB random, 4 MiB text) through a pipe each way:
 * the heap never grows by more than a fraction of that. */
TEST(twenty_mib_streamed_with_bounded_memory)
{
	const size_t big = 16 << 20, txt = 4 << 20, bound = 12 << 20;
	uint8_t *block = malloc(65536);
	char p1[600], p2[600], envp[600], err[200];
	const char *paths[] = { p1, p2 };
	struct sl_env_received r;
	struct sl_env_refusal why;
	struct sl_env_sealed s;
	struct pump pu;
	pthread_t t;
	int fds[2], fd;

	reset();
	path_in(p1, sizeof(p1), src, "random.bin");
	path_in(p2, sizeof(p2), src, "log.txt");
	fd = open(p1, O_WRONLY | O_CREAT, 0644);
	for (size_t off = 0; off < big; off += 65536) {
		check_fill_random(block, 65536);
		write(fd, block, 65536);
	}
	close(fd);
	fd = open(p2, O_WRONLY | O_CREAT, 0644);
	for (size_t off = 0; off < txt; off += 64) {
		char line[65];

		snprintf(line, sizeof(line), "%012zu line of a log file, quite repetitive text\n",
			 off);
		write(fd, line, 64);
	}
	close(fd);
	free(block);
	path_in(envp, sizeof(envp), root, "envelope");

	/* Seal into a pipe. */
	CHECK(!pipe(fds));
	pu = (struct pump){ .pipe_fd = fds[0], .to_pipe = false,
			    .file_fd = open(envp, O_WRONLY | O_CREAT, 0600),
			    .base = __sanitizer_get_current_allocated_bytes() };
	pu.peak = pu.base;
	pthread_create(&t, NULL, pump_run, &pu);
	CHECKF(!sl_env_seal(fds[1], &W.sender.self, &W.recipient_at_sender,
			    paths, 2, NULL, &s, err, sizeof(err)), "%s", err);
	close(fds[1]);
	pthread_join(t, NULL);
	close(pu.file_fd);
	CHECKF(pu.peak - pu.base < bound, "sealing grew the heap by %zu bytes",
	       pu.peak - pu.base);
	printf("  sealing 20 MiB: heap grew by at most %zu KiB\n",
	       (pu.peak - pu.base) >> 10);
	/* Text compressed, random not: under the sum, over the random part. */
	CHECKF(s.bytes > big && s.bytes < big + txt / 4, "%llu bytes",
	       (unsigned long long)s.bytes);

	/* Unpack from a pipe. */
	CHECK(!pipe(fds));
	pu = (struct pump){ .pipe_fd = fds[1], .to_pipe = true,
			    .file_fd = open(envp, O_RDONLY),
			    .base = __sanitizer_get_current_allocated_bytes() };
	pu.peak = pu.base;
	pthread_create(&t, NULL, pump_run, &pu);
	CHECK_REASON(sl_env_unpack(fds[0], staging_fd, &RX, &r, &why),
		     SL_ENV_OK, why);
	close(fds[0]);
	pthread_join(t, NULL);
	close(pu.file_fd);
	CHECKF(pu.peak - pu.base < bound, "unpacking grew the heap by %zu bytes",
	       pu.peak - pu.base);
	printf("  unpacking 20 MiB: heap grew by at most %zu KiB\n",
	       (pu.peak - pu.base) >> 10);
	CHECK_MEM(r.sha256, s.sha256, 32);
	CHECK_EQ(sl_env_commit(staging_fd, inbox_fd, &r, &why), SL_ENV_OK);
	same_file(&r, "random.bin", "random.bin", 0644);
	same_file(&r, "log.txt", "log.txt", 0644);
	unlink(envp);
}

TEST(level_19_opens)
{
	struct sl_env_seal_opts o = { .level = 19 };
	struct sl_env_received r;
	struct sl_env_refusal why;
	struct sl_env_sealed s;
	char p[600], err[200], line[64];
	const char *paths[] = { p };
	int fd = memfd_create("env", 0), f;

	reset();
	path_in(p, sizeof(p), src, "text");
	f = open(p, O_WRONLY | O_CREAT, 0644);
	for (int i = 0; i < 200000; i++) {
		int len = snprintf(line, sizeof(line), "%d %ld\n", i,
				   (long)i * i);

		write(f, line, (size_t)len);
	}
	close(f);
	CHECKF(!sl_env_seal(fd, &W.sender.self, &W.recipient_at_sender, paths,
			    1, &o, &s, err, sizeof(err)), "%s", err);
	CHECK_EQ(unpack_fd(fd, &r, &why), SL_ENV_OK);
	CHECK(!sl_env_discard(staging_fd, r.name));
	close(fd);
	o.level = 20;
	fd = memfd_create("env", 0);
	CHECK_EQ(sl_env_seal(fd, &W.sender.self, &W.recipient_at_sender, paths,
			     1, &o, &s, err, sizeof(err)), -EINVAL);
	close(fd);
}

/* ---- commit and replay ------------------------------------------------- */

TEST(commit_once_replay_refused)
{
	struct sl_env_received r, r2;
	struct sl_env_refusal why;
	struct sl_env_sealed s;
	char p[600], err[200], junk[40];
	const char *paths[] = { p };
	int fd;

	reset();
	put("letter", "hello", 5, 0644, 1600000000);
	path_in(p, sizeof(p), src, "letter");
	fd = seal_fd(paths, 1, &s, err, sizeof(err));
	/* A leftover of an earlier attempt is replaced. */
	sl_hex_encode(junk, s.id, SL_ENV_ID_LEN);
	mkdirat(staging_fd, junk, 0700);
	snprintf(p, sizeof(p), "%s/%.32s/junk", staging, junk);
	write_file(p, "j", 1);
	delivered_calls = 0;
	CHECK_EQ(unpack_fd(fd, &r, &why), SL_ENV_OK);
	CHECK_EQ(delivered_calls, 1);
	snprintf(p, sizeof(p), "%s/%s/junk", staging, r.name);
	CHECK(access(p, F_OK) && errno == ENOENT);
	/* Not in the inbox before the commit. */
	CHECK_EQ(count_entries(inbox), 0);
	CHECK_EQ(sl_env_commit(staging_fd, inbox_fd, &r, &why), SL_ENV_OK);
	CHECK_EQ(count_entries(inbox), 1);
	snprintf(p, sizeof(p), "%s/%s/letter", inbox, r.name);
	CHECK(!access(p, F_OK));

	/* The receive log knows it: refused before anything is written. */
	delivered_answer = true;
	CHECK_REASON(unpack_fd(fd, &r2, &why), SL_ENV_REPLAY, why);
	CHECK_EQ(count_entries(staging), 0);
	/* Even without the log the inbox refuses a second copy. */
	delivered_answer = false;
	CHECK_EQ(unpack_fd(fd, &r2, &why), SL_ENV_OK);
	CHECK_REASON(sl_env_commit(staging_fd, inbox_fd, &r2, &why),
		     SL_ENV_REPLAY, why);
	CHECK_EQ(count_entries(staging), 0);
	CHECK_EQ(count_entries(inbox), 1);
	close(fd);
}

/* ---- what the sender refuses --------------------------------------------- */

TEST(sender_refuses)
{
	struct sl_env_sealed s;
	char p[600], q[600], err[300];
	const char *one[] = { p }, *two[] = { p, q };

	reset();
	put_dir("d");
	path_in(p, sizeof(p), src, "d/fifo");
	CHECK(!mkfifo(p, 0644));
	path_in(p, sizeof(p), src, "d");
	CHECK_EQ(seal_fd(one, 1, &s, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "FIFO"));

	reset();
	put_dir("d");
	put_link("d/passwd", "/etc/passwd");
	CHECK_EQ(seal_fd(one, 1, &s, err, sizeof(err)), -EXDEV);
	CHECK(strstr(err, "d/passwd"));
	reset();
	put_dir("d");
	put_link("d/up", "../../etc");
	CHECK_EQ(seal_fd(one, 1, &s, err, sizeof(err)), -EXDEV);

	reset();
	put_dir("a");
	put_dir("b");
	put("a/x", "1", 1, 0644, 0);
	put("b/x", "2", 1, 0644, 0);
	path_in(p, sizeof(p), src, "a/x");
	path_in(q, sizeof(q), src, "b/x");
	CHECK_EQ(seal_fd(two, 2, &s, err, sizeof(err)), -EEXIST);
	CHECK(strstr(err, "\"x\""));

	snprintf(p, sizeof(p), "/");
	CHECK_EQ(seal_fd(one, 1, &s, err, sizeof(err)), -EINVAL);
	path_in(p, sizeof(p), src, "not-there");
	CHECK_EQ(seal_fd(one, 1, &s, err, sizeof(err)), -ENOENT);
	CHECK_EQ(seal_fd(one, 0, &s, err, sizeof(err)), -EINVAL);

	/* A link named on the command line is followed. */
	reset();
	put("real", "content", 7, 0644, 0);
	put_link("alias", "real");
	path_in(p, sizeof(p), src, "alias");
	CHECK(seal_fd(one, 1, &s, err, sizeof(err)) >= 0);
	CHECK_EQ(s.files, 1);
	CHECK_EQ(s.content_bytes, 7);
}

/* ---- a malicious sender's archives --------------------------------------- */

struct spec {
	unsigned int type;		/* AE_IF*; 0: a hard link */
	const char *name;
	const char *target;		/* symlink target or hard link's */
	int64_t size;			/* regular files: data is zeros,
					 * or `data` */
	const char *data;
};

struct crafted {
	uint8_t *p;
	size_t len, cap;
	ZSTD_CCtx *z;
};

static void crafted_put(struct crafted *c, const void *buf, size_t len,
			ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { buf, len, 0 };
	size_t left;

	do {
		if (c->cap - c->len < ZSTD_CStreamOutSize()) {
			c->cap = 2 * c->cap + ZSTD_CStreamOutSize();
			c->p = realloc(c->p, c->cap);
		}
		ZSTD_outBuffer out = { c->p + c->len, c->cap - c->len, 0 };

		left = ZSTD_compressStream2(c->z, &out, &in, mode);
		if (ZSTD_isError(left))
			abort();
		c->len += out.pos;
	} while (mode == ZSTD_e_end ? left != 0 : in.pos < in.size);
}

static la_ssize_t crafted_write(struct archive *a, void *ctx, const void *buf,
				size_t len)
{
	(void)a;
	crafted_put(ctx, buf, len, ZSTD_e_continue);
	return (la_ssize_t)len;
}

/* Seals `payload` (already a zstd stream, or anything) as the sender. */
static int seal_raw(const uint8_t *payload, size_t len)
{
	struct sl_env_header_in in = { .created = 1700000000 };
	struct sl_env_writer *w;
	uint8_t sha[32];
	uint64_t bytes, chunks;
	int fd = memfd_create("env", 0);

	gcry_randomize(in.id, SL_ENV_ID_LEN, GCRY_WEAK_RANDOM);
	if (sl_env_writer_new(&w, fd, &W.sender.self, &W.recipient_at_sender,
			      &in) ||
	    sl_env_writer_write(w, payload, len) ||
	    sl_env_writer_finish(w, &bytes, &chunks, sha))
		abort();
	sl_env_writer_free(w);
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/*
 * An envelope holding exactly these entries, as a malicious sender would
 * write it with libarchive: format (0: pax), zstd window_log (0: the
 * level's), and `trailer` bytes after the archive's end.
 */
static int craft(const struct spec *e, size_t n, int format, int window_log,
		 const char *trailer)
{
	struct crafted c = { .z = ZSTD_createCCtx() };
	struct archive *a = archive_write_new();
	static uint8_t zeros[65536];
	int fd;

	if (window_log)
		ZSTD_CCtx_setParameter(c.z, ZSTD_c_windowLog, window_log);
	if (format)
		archive_write_set_format(a, format);
	else
		archive_write_set_format_pax_restricted(a);
	archive_write_set_bytes_in_last_block(a, 1);
	if (archive_write_open(a, &c, NULL, crafted_write, NULL))
		abort();
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *en = archive_entry_new();

		archive_entry_copy_pathname(en, e[i].name);
		archive_entry_set_perm(en, 0644);
		archive_entry_set_mtime(en, 1600000000, 0);
		if (e[i].type == 0) {
			archive_entry_set_filetype(en, AE_IFREG);
			archive_entry_copy_hardlink(en, e[i].target);
		} else {
			archive_entry_set_filetype(en, e[i].type);
		}
		if (e[i].type == AE_IFLNK)
			archive_entry_copy_symlink(en, e[i].target);
		if (e[i].type == AE_IFCHR || e[i].type == AE_IFBLK)
			archive_entry_set_rdev(en, makedev(1, 3));
		if (e[i].type == AE_IFREG)
			archive_entry_set_size(en, e[i].size);
		if (archive_write_header(a, en) != ARCHIVE_OK) {
			printf("craft: %s\n", archive_error_string(a));
			abort();
		}
		if (e[i].type == AE_IFREG && e[i].data) {
			archive_write_data(a, e[i].data, (size_t)e[i].size);
		} else if (e[i].type == AE_IFREG) {
			for (int64_t left = e[i].size; left > 0;
			     left -= (int64_t)sizeof(zeros))
				archive_write_data(a, zeros,
						   left < (int64_t)sizeof(zeros) ?
						   (size_t)left : sizeof(zeros));
		}
		archive_entry_free(en);
	}
	archive_write_close(a);
	archive_write_free(a);
	if (trailer)
		crafted_put(&c, trailer, strlen(trailer), ZSTD_e_continue);
	crafted_put(&c, NULL, 0, ZSTD_e_end);
	ZSTD_freeCCtx(c.z);
	fd = seal_raw(c.p, c.len);
	free(c.p);
	return fd;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Unpacks a crafted envelope; wants `want` and a clean slate after. */
static void expect(const struct spec *e, size_t n, enum sl_env_reason want,
		   const char *what)
{
	struct sl_env_received r;
	struct sl_env_refusal why;
	int fd = craft(e, n, 0, 0, NULL);
	enum sl_env_reason got = unpack_fd(fd, &r, &why);

	CHECKF(got == want, "%s: %s, want %s (%s)", what,
	       sl_env_reason_name(got), sl_env_reason_name(want), why.detail);
	if (got == SL_ENV_OK)
		sl_env_discard(staging_fd, r.name);
	clean();
	close(fd);
}

TEST(crafted_good_archive_opens)
{
	static const struct spec ok[] = {
		{ AE_IFDIR, "d", NULL, 0, NULL },
		{ AE_IFREG, "d/f", NULL, 5, "hello" },
		{ 0, "d/hard", "d/f", 0, NULL },
		{ AE_IFLNK, "d/l", "f", 0, NULL },
		{ AE_IFLNK, "top", "d/../d/f", 0, NULL },
	};
	struct sl_env_received r;
	struct sl_env_refusal why;
	char a[700], b[700];
	struct stat sa, sb;
	int fd;

	reset();
	fd = craft(ok, N(ok), 0, 0, NULL);
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_OK, why);
	CHECK_EQ(r.files, 5);
	snprintf(a, sizeof(a), "%s/%s/d/f", staging, r.name);
	snprintf(b, sizeof(b), "%s/%s/d/hard", staging, r.name);
	CHECK(!stat(a, &sa) && !stat(b, &sb) && sa.st_ino == sb.st_ino);
	sl_env_discard(staging_fd, r.name);
	close(fd);
	clean();
}

TEST(crafted_path_traversal)
{
	static const struct spec dotdot[] = {
		{ AE_IFREG, "../evil", NULL, 4, "evil" } };
	static const struct spec deep[] = {
		{ AE_IFDIR, "a", NULL, 0, NULL },
		{ AE_IFREG, "a/../../evil", NULL, 4, "evil" } };
	static const struct spec absolute[] = {
		{ AE_IFREG, "/tmp/courier-evil", NULL, 4, "evil" } };
	static const struct spec dot[] = {
		{ AE_IFREG, "./x", NULL, 1, "x" } };
	static const struct spec empty_comp[] = {
		{ AE_IFDIR, "a", NULL, 0, NULL },
		{ AE_IFREG, "a//b", NULL, 1, "x" } };
	static const struct spec later[] = {
		{ AE_IFREG, "fine", NULL, 1, "x" },
		{ AE_IFREG, "..", NULL, 1, "x" } };

	reset();
	expect(dotdot, N(dotdot), SL_ENV_UNSAFE_PATH, "../evil");
	expect(deep, N(deep), SL_ENV_UNSAFE_PATH, "a/../../evil");
	expect(absolute, N(absolute), SL_ENV_UNSAFE_PATH, "absolute");
	CHECK(access("/tmp/courier-evil", F_OK));
	expect(dot, N(dot), SL_ENV_UNSAFE_PATH, "./x");
	expect(empty_comp, N(empty_comp), SL_ENV_UNSAFE_PATH, "a//b");
	expect(later, N(later), SL_ENV_UNSAFE_PATH, "a good entry, then ..");
}

TEST(crafted_symlinks_out)
{
	static const struct spec abs_link[] = {
		{ AE_IFLNK, "etc", "/etc", 0, NULL } };
	static const struct spec up_link[] = {
		{ AE_IFDIR, "d", NULL, 0, NULL },
		{ AE_IFLNK, "d/up", "../../x", 0, NULL } };
	static const struct spec dangling_up[] = {
		{ AE_IFLNK, "l", "nowhere/../../x", 0, NULL } };
	/* Each link stays inside by its own text; resolved for real, x
	 * goes to a/y = q, then two levels up: out. */
	static const struct spec real_escape[] = {
		{ AE_IFDIR, "a", NULL, 0, NULL },
		{ AE_IFDIR, "q", NULL, 0, NULL },
		{ AE_IFLNK, "a/y", "../q", 0, NULL },
		{ AE_IFLNK, "x", "a/y/../..", 0, NULL } };
	/* A file written through a link to a directory. */
	static const struct spec through[] = {
		{ AE_IFDIR, "d", NULL, 0, NULL },
		{ AE_IFLNK, "l", "d", 0, NULL },
		{ AE_IFREG, "l/f", NULL, 1, "x" } };
	static const struct spec through_out[] = {
		{ AE_IFLNK, "l", "/tmp", 0, NULL },
		{ AE_IFREG, "l/courier-evil", NULL, 1, "x" } };

	reset();
	expect(abs_link, N(abs_link), SL_ENV_SYMLINK_OUTSIDE, "-> /etc");
	expect(up_link, N(up_link), SL_ENV_SYMLINK_OUTSIDE, "-> ../../x");
	expect(dangling_up, N(dangling_up), SL_ENV_SYMLINK_OUTSIDE,
	       "-> nowhere/../../x");
	expect(real_escape, N(real_escape), SL_ENV_SYMLINK_OUTSIDE,
	       "a/y -> ../q, x -> a/y/../..");
	expect(through, N(through), SL_ENV_SYMLINK_OUTSIDE, "l/f through l");
	expect(through_out, N(through_out), SL_ENV_SYMLINK_OUTSIDE,
	       "l -> /tmp, l/courier-evil");
	CHECK(access("/tmp/courier-evil", F_OK));
}

TEST(crafted_hard_links_out)
{
	static const struct spec passwd[] = {
		{ 0, "h", "/etc/passwd", 0, NULL } };
	static const struct spec up[] = {
		{ 0, "h", "../x", 0, NULL } };
	static const struct spec forward[] = {
		{ 0, "h", "later", 0, NULL },
		{ AE_IFREG, "later", NULL, 1, "x" } };
	static const struct spec to_dir[] = {
		{ AE_IFDIR, "d", NULL, 0, NULL },
		{ 0, "h", "d", 0, NULL } };
	static const struct spec to_link[] = {
		{ AE_IFLNK, "l", "f", 0, NULL },
		{ 0, "h", "l", 0, NULL } };

	reset();
	expect(passwd, N(passwd), SL_ENV_HARDLINK_OUTSIDE, "=> /etc/passwd");
	expect(up, N(up), SL_ENV_HARDLINK_OUTSIDE, "=> ../x");
	expect(forward, N(forward), SL_ENV_HARDLINK_OUTSIDE, "=> a later file");
	expect(to_dir, N(to_dir), SL_ENV_HARDLINK_OUTSIDE, "=> a directory");
	expect(to_link, N(to_link), SL_ENV_HARDLINK_OUTSIDE, "=> a symlink");
}

TEST(crafted_special_files)
{
	/* Sockets have no tar type: libarchive's reader makes an unknown
	 * type flag a regular file. */
	static const unsigned int types[] = {
		AE_IFCHR, AE_IFBLK, AE_IFIFO,
	};

	reset();
	for (size_t i = 0; i < N(types); i++) {
		struct spec s[] = {
			{ AE_IFREG, "ok", NULL, 1, "x" },
			{ types[i], "dev", NULL, 0, NULL },
		};

		expect(s, N(s), SL_ENV_SPECIAL_FILE, "special file");
	}
}

TEST(crafted_duplicates_and_order)
{
	static const struct spec twice[] = {
		{ AE_IFREG, "f", NULL, 1, "a" },
		{ AE_IFREG, "f", NULL, 1, "b" } };
	static const struct spec dir_twice[] = {
		{ AE_IFDIR, "d", NULL, 0, NULL },
		{ AE_IFDIR, "d/", NULL, 0, NULL } };
	static const struct spec file_then_dir[] = {
		{ AE_IFREG, "x", NULL, 1, "a" },
		{ AE_IFDIR, "x", NULL, 0, NULL } };
	static const struct spec link_then_file[] = {
		{ AE_IFLNK, "x", "y", 0, NULL },
		{ AE_IFREG, "x", NULL, 1, "a" } };
	static const struct spec orphan[] = {
		{ AE_IFREG, "a/b", NULL, 1, "a" } };
	static const struct spec under_file[] = {
		{ AE_IFREG, "f", NULL, 1, "a" },
		{ AE_IFREG, "f/x", NULL, 1, "a" } };

	reset();
	expect(twice, N(twice), SL_ENV_DUPLICATE, "a file twice");
	expect(dir_twice, N(dir_twice), SL_ENV_DUPLICATE, "d and d/");
	expect(file_then_dir, N(file_then_dir), SL_ENV_DUPLICATE,
	       "file then directory");
	expect(link_then_file, N(link_then_file), SL_ENV_DUPLICATE,
	       "link then file");
	expect(orphan, N(orphan), SL_ENV_BAD_ARCHIVE, "a/b before a");
	expect(under_file, N(under_file), SL_ENV_BAD_ARCHIVE, "f/x under a file");
}

TEST(crafted_zstd_bomb_and_limits)
{
	static const struct spec zeros_200m[] = {
		{ AE_IFREG, "zeros", NULL, 200 << 20, NULL } };
	static const struct spec six[] = {
		{ AE_IFREG, "1", NULL, 1, "x" }, { AE_IFREG, "2", NULL, 1, "x" },
		{ AE_IFREG, "3", NULL, 1, "x" }, { AE_IFREG, "4", NULL, 1, "x" },
		{ AE_IFREG, "5", NULL, 1, "x" }, { AE_IFREG, "6", NULL, 1, "x" } };
	static const struct spec two_mib[] = {
		{ AE_IFREG, "big", NULL, 2 << 20, NULL } };
	struct sl_env_received r;
	struct sl_env_refusal why;
	int fd;

	reset();
	/* 200 MiB of zeros in a few kilobytes: stopped at the ratio,
	 * long before the 4 GiB limit. */
	fd = craft(zeros_200m, 1, 0, 0, NULL);
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_BOMB, why);
	clean();
	/* With no ratio limit, the absolute one stops it. */
	RX.limits.max_ratio = 0;
	RX.limits.max_unpacked_bytes = 32 << 20;
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_UNPACKED_TOO_BIG, why);
	clean();
	close(fd);

	reset();
	RX.limits.max_files = 5;
	expect(six, N(six), SL_ENV_TOO_MANY_FILES, "6 entries, limit 5");
	RX.limits.max_files = 6;
	expect(six, N(six), SL_ENV_OK, "6 entries, limit 6");

	reset();
	RX.limits.max_unpacked_bytes = 1 << 20;
	RX.limits.max_ratio = 0;
	expect(two_mib, N(two_mib), SL_ENV_UNPACKED_TOO_BIG, "2 MiB file, 1 MiB limit");

	reset();
	RX.limits.min_free_bytes = UINT64_MAX / 2;
	expect(six, N(six), SL_ENV_NO_SPACE, "free space");

	reset();
	fd = craft(six, N(six), 0, 0, NULL);
	RX.limits.max_envelope_bytes = 100;
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_TOO_BIG, why);
	clean();
	close(fd);
}

TEST(crafted_bad_streams)
{
	static const struct spec one[] = { { AE_IFREG, "f", NULL, 1, "x" } };
	static const struct spec big[] = { { AE_IFREG, "f", NULL, 1 << 20, NULL } };
	struct sl_env_received r;
	struct sl_env_refusal why;
	uint8_t junk[5000];
	int fd;

	reset();
	/* A window of 2^27 bytes: the decoder would need 128 MiB. */
	fd = craft(big, 1, 0, 27, NULL);
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_BAD_ARCHIVE, why);
	clean();
	close(fd);
	/* Something after the archive's end: read (and verified), never
	 * written anywhere. */
	fd = craft(one, 1, 0, 0, "hidden payload");
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_OK, why);
	CHECK_EQ(r.files, 1);
	CHECK(!sl_env_discard(staging_fd, r.name));
	clean();
	close(fd);
	/* GNU tar instead of pax. */
	fd = craft(one, 1, ARCHIVE_FORMAT_TAR_GNUTAR, 0, NULL);
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_BAD_ARCHIVE, why);
	clean();
	close(fd);
	/* Not zstd at all; zstd cut short; nothing. */
	check_fill_random(junk, sizeof(junk));
	fd = seal_raw(junk, sizeof(junk));
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_BAD_ARCHIVE, why);
	clean();
	close(fd);
	{
		size_t cap = ZSTD_compressBound(sizeof(junk));
		uint8_t *z = malloc(cap);
		size_t zl = ZSTD_compress(z, cap, junk, sizeof(junk), 3);

		fd = seal_raw(z, zl - 3);
		CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_BAD_ARCHIVE, why);
		clean();
		close(fd);
		free(z);
	}
	fd = seal_raw(junk, 0);
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_BAD_ARCHIVE, why);
	clean();
	close(fd);
}

/* ---- a relay during the unpack ------------------------------------------ */

TEST(damage_found_mid_unpack_leaves_nothing)
{
	struct sl_env_received r;
	struct sl_env_refusal why;
	struct sl_env_sealed s;
	char p[600], err[200];
	const char *paths[] = { p };
	uint8_t *buf = malloc(1 << 20), byte;
	off_t end;
	int fd;

	reset();
	put_dir("d");
	for (int i = 0; i < 4; i++) {
		char name[20];

		check_fill_random(buf, 1 << 20);
		snprintf(name, sizeof(name), "d/f%d", i);
		put(name, buf, 1 << 20, 0644, 0);
	}
	path_in(p, sizeof(p), src, "d");
	fd = seal_fd(paths, 1, &s, err, sizeof(err));
	CHECK_EQ(s.chunks, 65);
	/* A bit of chunk 40 flipped: files 0 and 1 were already written
	 * to staging when it is found; all of it goes. */
	pread(fd, &byte, 1, (off_t)sl_env_chunk_offset(40) + 100);
	byte ^= 4;
	pwrite(fd, &byte, 1, (off_t)sl_env_chunk_offset(40) + 100);
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_DAMAGED, why);
	CHECK(strstr(why.detail, "chunk 40"));
	clean();
	byte ^= 4;
	pwrite(fd, &byte, 1, (off_t)sl_env_chunk_offset(40) + 100);
	/* Cut after chunk 50. */
	end = lseek(fd, 0, SEEK_END);
	CHECK(!ftruncate(fd, (off_t)sl_env_chunk_offset(51)));
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_TRUNCATED, why);
	clean();
	CHECK(end > 0);
	/* For another installation. */
	RX.me = &W.stranger.self;
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_NOT_FOR_US, why);
	RX.me = &W.recipient.self;
	/* From a revoked sender. */
	W.sender_allowed = false;
	CHECK_REASON(unpack_fd(fd, &r, &why), SL_ENV_NOT_AUTHORISED, why);
	clean();
	close(fd);
	free(buf);
}

TEST(secure_memory_returned)
{
	check_secmem_returned();
}

int main(int argc, char **argv)
{
	check_init(argc, argv);
	init_or_die(0);
	secmem_measure_baseline();
	world_init(&W);
	setup();
	RUN(round_trip_tree_odd_names);
	RUN(same_files_same_envelope);
	RUN(twenty_mib_streamed_with_bounded_memory);
	RUN(level_19_opens);
	RUN(commit_once_replay_refused);
	RUN(sender_refuses);
	RUN(crafted_good_archive_opens);
	RUN(crafted_path_traversal);
	RUN(crafted_symlinks_out);
	RUN(crafted_hard_links_out);
	RUN(crafted_special_files);
	RUN(crafted_duplicates_and_order);
	RUN(crafted_zstd_bomb_and_limits);
	RUN(crafted_bad_streams);
	RUN(damage_found_mid_unpack_leaves_nothing);
	teardown();
	world_free(&W);
	RUN(secure_memory_returned);
	return check_summary();
}
