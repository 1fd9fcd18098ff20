// SPDX-License-Identifier: GPL-2.0
/*
 * Host tests of the key store (agent/lib/keystore.c): identity, peers,
 * locking, permissions, atomic updates, damaged records.
 */
#include <errno.h>
#include <gcrypt.h>

#include "check.h"
#include "keystore.h"
#include "daemon_test.h"

TEST(keystore_create)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], p[PATH_MAX + 32], text[4096], err[512];
	uint8_t pub[SL_X25519_KEY_LEN];

	ks_dir(dir, sizeof(dir), "ks-create/deeper/state");
	if (!CHECKF(!sl_ks_open(&ks, dir, "123456789012", err, sizeof(err)),
		    "%s", err))
		return;
	CHECK(ks.identity_created);
	CHECK(!strcmp(ks.id.account, "123456789012"));
	CHECK(gcry_is_secure(ks.id.priv));
	CHECK(!all_zero(ks.id.pub, sizeof(ks.id.pub)));
	memcpy(pub, ks.id.pub, sizeof(pub));
	CHECK_EQ(mode_of(dir), 0700);
	snprintf(p, sizeof(p), "%s/identity", dir);
	CHECK_EQ(mode_of(p), 0600);
	if (CHECK(read_text(p, text, sizeof(text)))) {
		CHECK(strstr(text, "account 123456789012\n") != NULL);
		CHECK(strstr(text, "private ") != NULL);
	}
	snprintf(p, sizeof(p), "%s/peers", dir);
	CHECK_EQ(mode_of(p), 0700);
	snprintf(p, sizeof(p), "%s/lock", dir);
	CHECK_EQ(mode_of(p), 0600);
	sl_ks_close(&ks);
	CHECK(ks.id.priv == NULL);

	/* Reopened: the same identity, also without a configured account. */
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK(!ks.identity_created);
	CHECK(!strcmp(ks.id.account, "123456789012"));
	CHECK_MEM(ks.id.pub, pub, sizeof(pub));
	sl_ks_close(&ks);

	/* A different configured account is refused, and nothing changes. */
	CHECK_EQ(sl_ks_open(&ks, dir, "999999999999", err, sizeof(err)), -EINVAL);
	CHECKF(strstr(err, "999999999999") && strstr(err, "123456789012"), "%s", err);
	snprintf(p, sizeof(p), "%s/identity", dir);
	if (CHECK(read_text(p, text, sizeof(text))))
		CHECK(strstr(text, "account 123456789012\n") != NULL);
}

TEST(keystore_random_account)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], err[512];

	ks_dir(dir, sizeof(dir), "ks-random");
	if (!CHECKF(!sl_ks_open(&ks, dir, NULL, err, sizeof(err)), "%s", err))
		return;
	CHECK(sl_account_valid(ks.id.account));
	sl_ks_close(&ks);
	CHECK_EQ(sl_ks_open(&ks, "relative/dir", "", err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ks_open(&ks, dir, "12ab", err, sizeof(err)), -EINVAL);
}

TEST(keystore_lock)
{
	struct sl_keystore a, b;
	char dir[PATH_MAX], err[512];

	ks_dir(dir, sizeof(dir), "ks-lock");
	if (!CHECKF(!sl_ks_open(&a, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(sl_ks_open(&b, dir, "", err, sizeof(err)), -EBUSY);
	CHECKF(strstr(err, "in use by another sealined") != NULL, "%s", err);
	sl_ks_close(&a);
	if (CHECKF(!sl_ks_open(&b, dir, "", err, sizeof(err)), "%s", err))
		sl_ks_close(&b);
}

TEST(keystore_permissions_tightened)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], p[PATH_MAX + 32], err[512];

	ks_dir(dir, sizeof(dir), "ks-perm");
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK(!sl_ks_authorise(&ks, "200000000001", NULL, err, sizeof(err)));
	sl_ks_close(&ks);
	chmod(dir, 0755);
	snprintf(p, sizeof(p), "%s/identity", dir);
	chmod(p, 0644);
	snprintf(p, sizeof(p), "%s/peers/200000000001", dir);
	chmod(p, 0640);
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(mode_of(dir), 0700);
	snprintf(p, sizeof(p), "%s/identity", dir);
	CHECK_EQ(mode_of(p), 0600);
	snprintf(p, sizeof(p), "%s/peers/200000000001", dir);
	CHECK_EQ(mode_of(p), 0600);
	CHECK(sl_ks_find(&ks, "200000000001") != NULL);
	sl_ks_close(&ks);
}

TEST(keystore_peers)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], p[PATH_MAX + 32], text[4096], err[512];
	const struct sl_peer *peer;
	uint8_t pub[SL_X25519_KEY_LEN], ltk[SL_X25519_KEY_LEN];
	bool created;

	ks_dir(dir, sizeof(dir), "ks-peers");
	if (!CHECKF(!sl_ks_open(&ks, dir, "100000000000", err, sizeof(err)),
		    "%s", err))
		return;
	CHECK_EQ(ks.n_peers, 0);

	/* Refusals. */
	CHECK_EQ(sl_ks_authorise(&ks, "12345", NULL, err, sizeof(err)), -EINVAL);
	CHECK_EQ(sl_ks_authorise(&ks, "100000000000", NULL, err, sizeof(err)),
		 -EINVAL);
	CHECKF(strstr(err, "own account") != NULL, "%s", err);
	CHECK_EQ(sl_ks_revoke(&ks, "300000000000", err, sizeof(err)), -ENOENT);
	CHECK_EQ(sl_ks_forget(&ks, "300000000000", err, sizeof(err)), -ENOENT);

	/* Authorise before pairing: a record without keys. */
	CHECK(!sl_ks_authorise(&ks, "300000000000", &created, err, sizeof(err)));
	CHECK(created);
	peer = sl_ks_find(&ks, "300000000000");
	if (CHECK(peer)) {
		CHECK(peer->authorised && !peer->revoked && !peer->ltk &&
		      !peer->has_pub && !peer->paired);
		CHECK(sl_ks_peer_allowed(peer));
	}
	snprintf(p, sizeof(p), "%s/peers/300000000000", dir);
	CHECK_EQ(mode_of(p), 0600);

	/* A pairing stores key and LTK (in secure memory), authorised. */
	check_fill_random(pub, sizeof(pub));
	check_fill_random(ltk, sizeof(ltk));
	CHECK(!sl_ks_store_pair(&ks, "200000000000", pub, ltk, err, sizeof(err)));
	peer = sl_ks_find(&ks, "200000000000");
	if (CHECK(peer && peer->ltk)) {
		CHECK(gcry_is_secure(peer->ltk));
		CHECK_MEM(peer->ltk, ltk, sizeof(ltk));
		CHECK_MEM(peer->pub, pub, sizeof(pub));
		CHECK(peer->paired > 0 && sl_ks_peer_allowed(peer));
	}
	/* Sorted by account. */
	CHECK_EQ(ks.n_peers, 2);
	CHECK(!strcmp(ks.peers[0].account, "200000000000"));
	CHECK(!strcmp(ks.peers[1].account, "300000000000"));

	/* Revoke keeps the LTK; authorise lifts the revocation. */
	CHECK(!sl_ks_revoke(&ks, "200000000000", err, sizeof(err)));
	peer = sl_ks_find(&ks, "200000000000");
	CHECK(peer && peer->revoked && !peer->authorised && peer->ltk &&
	      !sl_ks_peer_allowed(peer));
	snprintf(p, sizeof(p), "%s/peers/200000000000", dir);
	if (CHECK(read_text(p, text, sizeof(text)))) {
		CHECK(strstr(text, "revoked yes\n") != NULL);
		CHECK(strstr(text, "authorised no\n") != NULL);
		CHECK(strstr(text, "ltk ") != NULL);
	}

	/* Everything survives a reopen. */
	sl_ks_close(&ks);
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(ks.n_peers, 2);
	peer = sl_ks_find(&ks, "200000000000");
	if (CHECK(peer && peer->ltk)) {
		CHECK(peer->revoked && !peer->authorised);
		CHECK_MEM(peer->ltk, ltk, sizeof(ltk));
		CHECK(gcry_is_secure(peer->ltk));
		CHECK_MEM(peer->pub, pub, sizeof(pub));
	}
	CHECK(!sl_ks_authorise(&ks, "200000000000", &created, err, sizeof(err)));
	CHECK(!created);
	peer = sl_ks_find(&ks, "200000000000");
	CHECK(peer && sl_ks_peer_allowed(peer) && peer->ltk);

	/* Forget deletes record and file. */
	CHECK(!sl_ks_forget(&ks, "200000000000", err, sizeof(err)));
	CHECK(!sl_ks_find(&ks, "200000000000"));
	CHECK(!exists(p));
	CHECK_EQ(ks.n_peers, 1);

	/* Reload picks up what changed on disk. */
	snprintf(p, sizeof(p), "%s/peers/400000000000", dir);
	write_file(p, "version 1\naccount 400000000000\nauthorised yes\nrevoked no\n",
		   0600);
	CHECK(!sl_ks_reload(&ks, err, sizeof(err)));
	CHECK_EQ(ks.n_peers, 2);
	CHECK(sl_ks_find(&ks, "400000000000") != NULL);
	sl_ks_close(&ks);
}

static int fail_rename(const char *tmp)
{
	(void)tmp;
	return -EIO;
}

TEST(keystore_atomic)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], peers[PATH_MAX + 8], p[PATH_MAX + 32];
	char before[4096], after[4096], err[512];
	const struct sl_peer *peer;
	struct stat st1, st2;

	ks_dir(dir, sizeof(dir), "ks-atomic");
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	snprintf(peers, sizeof(peers), "%s/peers", dir);
	snprintf(p, sizeof(p), "%s/500000000000", peers);
	CHECK(!sl_ks_authorise(&ks, "500000000000", NULL, err, sizeof(err)));
	CHECK(read_text(p, before, sizeof(before)));
	CHECK(!stat(p, &st1));

	/* A write that fails before its rename changes nothing, on disk or
	 * in memory, and leaves no temporary file. */
	sl_ks_before_rename_hook = fail_rename;
	CHECK_EQ(sl_ks_revoke(&ks, "500000000000", err, sizeof(err)), -EIO);
	sl_ks_before_rename_hook = NULL;
	CHECK(read_text(p, after, sizeof(after)));
	CHECK(!strcmp(before, after));
	CHECK_EQ(count_entries(peers, ".tmp-"), 0);
	peer = sl_ks_find(&ks, "500000000000");
	CHECK(peer && !peer->revoked && peer->authorised);

	/* A successful one replaces the file by rename: a new inode. */
	CHECK(!sl_ks_revoke(&ks, "500000000000", err, sizeof(err)));
	CHECK(!stat(p, &st2));
	CHECK(st1.st_ino != st2.st_ino);
	CHECK_EQ(mode_of(p), 0600);
	sl_ks_close(&ks);

	/* Stray temporary files (a crash mid-write) go at the next open. */
	snprintf(p, sizeof(p), "%s/.tmp-500000000000-1-0", peers);
	write_file(p, "half a rec", 0600);
	snprintf(p, sizeof(p), "%s/.tmp-identity-1-0", dir);
	write_file(p, "half", 0600);
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(count_entries(peers, ".tmp-"), 0);
	CHECK_EQ(count_entries(dir, ".tmp-"), 0);
	peer = sl_ks_find(&ks, "500000000000");
	CHECK(peer && peer->revoked);
	sl_ks_close(&ks);

	/* sl_ks_write_atomic on its own: mode 0600 even with a lax umask. */
	{
		int dfd = open(tmpdir, O_RDONLY | O_DIRECTORY);
		mode_t old = umask(0);

		CHECK(!sl_ks_write_atomic(dfd, "atomic.txt", "hello\n", 6));
		umask(old);
		close(dfd);
		path_in(p, sizeof(p), "atomic.txt");
		CHECK_EQ(mode_of(p), 0600);
		CHECK(read_text(p, after, sizeof(after)) && !strcmp(after, "hello\n"));
	}
}

TEST(keystore_damaged)
{
	struct sl_keystore ks;
	char dir[PATH_MAX], p[PATH_MAX + 32], text[4096], err[512];

	ks_dir(dir, sizeof(dir), "ks-damaged");
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK(!sl_ks_authorise(&ks, "600000000000", NULL, err, sizeof(err)));
	sl_ks_close(&ks);

	/* Damaged peer records are skipped (refused as unknown); a file
	 * whose name is not an account is ignored. */
	snprintf(p, sizeof(p), "%s/peers/700000000000", dir);
	write_file(p, "version 1\naccount 700000000000\nauthorised maybe\nrevoked no\n",
		   0600);
	snprintf(p, sizeof(p), "%s/peers/800000000000", dir);
	write_file(p, "version 1\naccount 900000000000\nauthorised yes\nrevoked no\n",
		   0600);
	snprintf(p, sizeof(p), "%s/peers/README", dir);
	write_file(p, "not a peer\n", 0600);
	snprintf(p, sizeof(p), "%s/peers/810000000000", dir);
	write_file(p, "version 1\naccount 810000000000\nauthorised yes\nrevoked no\nltk 00\n",
		   0600);
	if (!CHECKF(!sl_ks_open(&ks, dir, "", err, sizeof(err)), "%s", err))
		return;
	CHECK_EQ(ks.n_peers, 1);
	CHECK(sl_ks_find(&ks, "600000000000") != NULL);
	CHECK(sl_ks_find(&ks, "700000000000") == NULL);
	CHECK(sl_ks_find(&ks, "800000000000") == NULL);
	CHECK(sl_ks_find(&ks, "810000000000") == NULL);
	sl_ks_close(&ks);

	/* An identity whose public key is not its private key's: refused. */
	snprintf(p, sizeof(p), "%s/identity", dir);
	if (CHECK(read_text(p, text, sizeof(text)))) {
		char *pub = strstr(text, "public ");

		if (CHECK(pub)) {
			pub[7] = pub[7] == 'a' ? 'b' : 'a';
			write_file(p, text, 0600);
			CHECK_EQ(sl_ks_open(&ks, dir, "", err, sizeof(err)), -EINVAL);
			CHECKF(strstr(err, "does not belong") != NULL, "%s", err);
		}
	}
	write_file(p, "version 1\naccount 123\n", 0600);
	CHECK_EQ(sl_ks_open(&ks, dir, "", err, sizeof(err)), -EINVAL);
	CHECKF(strstr(err, "identity:2: bad value for 'account'") != NULL, "%s", err);
	write_file(p, "version 2\n", 0600);
	CHECK_EQ(sl_ks_open(&ks, dir, "", err, sizeof(err)), -EINVAL);
	write_file(p, "version 1\nvendor x\n", 0600);
	CHECK_EQ(sl_ks_open(&ks, dir, "", err, sizeof(err)), -EINVAL);
	CHECKF(strstr(err, "unknown key 'vendor'") != NULL, "%s", err);
}

TEST(keystore_fingerprint)
{
	uint8_t pub[SL_X25519_KEY_LEN] = { 0 };
	char fp[SL_KS_FINGERPRINT_LEN + 1];

	sl_ks_fingerprint(fp, pub);
	CHECK_EQ(strlen(fp), SL_KS_FINGERPRINT_LEN);
	CHECK(fp[4] == '-' && fp[9] == '-' && fp[14] == '-');
	/* SHA-256 of 32 zero bytes starts 66687aadf862bd77. */
	CHECKF(!strcmp(fp, "6668-7aad-f862-bd77"), "%s", fp);
}

int main(int argc, char **argv)
{
	daemon_test_start(argc, argv, "test_keystore");
	RUN(keystore_create);
	RUN(keystore_random_account);
	RUN(keystore_lock);
	RUN(keystore_permissions_tightened);
	RUN(keystore_peers);
	RUN(keystore_atomic);
	RUN(keystore_damaged);
	RUN(keystore_fingerprint);
	return daemon_test_finish();
}
