// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * sealined's key store. See keystore.h for the layout and the rules.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "ipc.h"
#include "keystore.h"
#include "keystore_file.h"
#include "log.h"

#define FORMAT_VERSION 1

int (*sl_ks_before_rename_hook)(const char *tmp_name);

/* ------------------------------------------------------------ helpers */

void sl_ks_fingerprint(char out[SL_KS_FINGERPRINT_LEN + 1],
		       const uint8_t pub[SL_X25519_KEY_LEN])
{
	uint8_t h[SL_SHA256_LEN];
	char hex[17];
	size_t o = 0;

	if (sl_sha256(h, pub, SL_X25519_KEY_LEN)) {
		snprintf(out, SL_KS_FINGERPRINT_LEN + 1, "%s", "unknown");
		return;
	}
	sl_hex_encode(hex, h, 8);
	for (size_t i = 0; i < 16; ++i) {
		if (i && !(i % 4))
			out[o++] = '-';
		out[o++] = hex[i];
	}
	out[o] = '\0';
}

/* ------------------------------------------------------------ identity */

struct id_parse {
	struct sl_identity *id;
	unsigned int seen;
};

enum { K_VERSION = 1, K_ACCOUNT = 2, K_PUBLIC = 4, K_PRIVATE = 8,
       K_CREATED = 16, K_LTK = 32, K_AUTHORISED = 64, K_REVOKED = 128,
       K_PAIRED = 256, K_CHANGED = 512,
       K_RECEIPT_KEY = 1024, K_NAME = 2048,
       K_COMPANY = 4096 };

static int mark(unsigned int *seen, unsigned int bit)
{
	if (*seen & bit)
		return -EEXIST;
	*seen |= bit;
	return 0;
}

static int parse_version(const char *val)
{
	return strcmp(val, "1") ? -EINVAL : 0;
}

/* The keys that identity and peer files both have: "version" and
 * "account" (into account); -ENOKEY for any other key. */
static int common_kv(const char *key, const char *val, unsigned int *seen,
		     char account[SL_ACCOUNT_LEN + 1])
{
	int ret;

	if (!strcmp(key, "version")) {
		ret = mark(seen, K_VERSION);
		return ret ? ret : parse_version(val);
	}
	if (!strcmp(key, "account")) {
		ret = mark(seen, K_ACCOUNT);
		if (ret)
			return ret;
		if (!sl_account_valid(val))
			return -EINVAL;
		memcpy(account, val, SL_ACCOUNT_LEN + 1);
		return 0;
	}
	return -ENOKEY;
}

static int id_kv(const char *key, const char *val, void *arg)
{
	struct id_parse *ip = arg;
	struct sl_identity *id = ip->id;
	int ret = common_kv(key, val, &ip->seen, id->account);

	if (ret != -ENOKEY)
		return ret;
	if (!strcmp(key, "public")) {
		ret = mark(&ip->seen, K_PUBLIC);
		return ret ? ret : sl_hex_decode(id->pub, sizeof(id->pub), val, strlen(val));
	}
	if (!strcmp(key, "private")) {
		ret = mark(&ip->seen, K_PRIVATE);
		return ret ? ret : sl_hex_decode(id->priv, SL_X25519_KEY_LEN, val, strlen(val));
	}
	if (!strcmp(key, "created")) {
		ret = mark(&ip->seen, K_CREATED);
		return ret ? ret : sl_ksf_parse_time(val, &id->created);
	}
	return -ENOKEY;
}

static int load_identity(struct sl_keystore *ks, char *err, size_t err_len)
{
	struct id_parse ip = { .id = &ks->id };
	uint8_t check[SL_X25519_KEY_LEN];
	size_t len;
	char *text;
	int ret;

	ret = sl_ksf_read_secure(ks->dirfd, ks->dir, SL_KS_IDENTITY, &text, &len, err,
			  err_len);
	if (ret)
		return ret;
	ret = sl_ksf_parse_kv(text, len, ks->dir, SL_KS_IDENTITY, id_kv, &ip, err,
		       err_len);
	sl_secure_free(text, SL_KS_FILE_MAX + 1);
	if (ret)
		return ret;
	if ((ip.seen & (K_VERSION | K_ACCOUNT | K_PUBLIC | K_PRIVATE)) !=
	    (K_VERSION | K_ACCOUNT | K_PUBLIC | K_PRIVATE))
		return sl_errf(err, err_len, -EINVAL,
			       "%s/%s: incomplete (needs version, account, public and private)",
			       ks->dir, SL_KS_IDENTITY);
	/* A private key that does not make the stored public key is a
	 * damaged file, not something to run with. */
	ret = sl_x25519_public(check, ks->id.priv);
	if (ret)
		return sl_errf(err, err_len, ret, "%s/%s: cannot check the key pair",
			       ks->dir, SL_KS_IDENTITY);
	if (memcmp(check, ks->id.pub, sizeof(check)))
		return sl_errf(err, err_len, -EINVAL,
			       "%s/%s: the public key does not belong to the private key",
			       ks->dir, SL_KS_IDENTITY);
	return 0;
}

static int random_account(char out[SL_ACCOUNT_LEN + 1])
{
	size_t n = 0;

	while (n < SL_ACCOUNT_LEN) {
		uint8_t b[16];
		ssize_t got = getrandom(b, sizeof(b), 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		for (ssize_t i = 0; i < got && n < SL_ACCOUNT_LEN; ++i)
			if (b[i] < 250)	/* 250 = 25 * 10: no bias */
				out[n++] = (char)('0' + b[i] % 10);
	}
	out[n] = '\0';
	return 0;
}

static int write_identity(struct sl_keystore *ks)
{
	const size_t size = 512, hex_size = 2 * SL_X25519_KEY_LEN + 1;
	char *buf = sl_secure_alloc(size);
	/* The private key's hex stays in secure memory too. */
	char *priv = sl_secure_alloc(hex_size);
	char pub[2 * SL_X25519_KEY_LEN + 1];
	int n, ret;

	if (!buf || !priv) {
		sl_secure_free(buf, size);
		sl_secure_free(priv, hex_size);
		return -ENOMEM;
	}
	sl_hex_encode(pub, ks->id.pub, sizeof(ks->id.pub));
	sl_hex_encode(priv, ks->id.priv, SL_X25519_KEY_LEN);
	n = snprintf(buf, size,
		     "# sealined identity: this installation's account and static X25519 key pair.\n"
		     "# Secret. Do not edit, do not copy to another machine.\n"
		     "version %d\naccount %s\npublic %s\nprivate %s\ncreated %" PRId64 "\n",
		     FORMAT_VERSION, ks->id.account, pub, priv, ks->id.created);
	if (n < 0 || (size_t)n >= size)
		ret = -EOVERFLOW;
	else
		ret = sl_ks_write_atomic(ks->dirfd, SL_KS_IDENTITY, buf,
					 (size_t)n);
	sl_secure_free(buf, size);
	sl_secure_free(priv, hex_size);
	return ret;
}

static int create_identity(struct sl_keystore *ks, const char *account,
			   char *err, size_t err_len)
{
	int ret;

	if (account && *account) {
		memcpy(ks->id.account, account, SL_ACCOUNT_LEN + 1);
	} else {
		ret = random_account(ks->id.account);
		if (ret)
			return sl_errf(err, err_len, ret, "cannot draw an account number: %s",
				       strerror(-ret));
	}
	ret = sl_x25519_keypair(ks->id.priv, ks->id.pub);
	if (ret)
		return sl_errf(err, err_len, ret, "cannot generate the static key pair: %s",
			       strerror(-ret));
	ks->id.created = (int64_t)time(NULL);
	ret = write_identity(ks);
	if (ret)
		return sl_errf(err, err_len, ret, "%s/%s: cannot write: %s", ks->dir,
			       SL_KS_IDENTITY, strerror(-ret));
	ks->identity_created = true;
	return 0;
}

/* ------------------------------------------------------------ peers */

static void peer_wipe(struct sl_peer *peer)
{
	if (peer->ltk)
		sl_secure_free(peer->ltk, SL_X25519_KEY_LEN);
	sl_wipe(peer, sizeof(*peer));
}

static void peers_free(struct sl_peer *peers, size_t n)
{
	for (size_t i = 0; i < n; ++i)
		peer_wipe(&peers[i]);
	free(peers);
}

struct peer_parse {
	struct sl_peer *peer;
	unsigned int seen;
};

static int peer_kv(const char *key, const char *val, void *arg)
{
	struct peer_parse *pp = arg;
	struct sl_peer *peer = pp->peer;
	int ret = common_kv(key, val, &pp->seen, peer->account);

	if (ret != -ENOKEY)
		return ret;
	if (!strcmp(key, "public")) {
		ret = mark(&pp->seen, K_PUBLIC);
		if (ret)
			return ret;
		peer->has_pub = true;
		return sl_hex_decode(peer->pub, sizeof(peer->pub), val, strlen(val));
	}
	if (!strcmp(key, "ltk")) {
		ret = mark(&pp->seen, K_LTK);
		if (ret)
			return ret;
		peer->ltk = sl_secure_alloc(SL_X25519_KEY_LEN);
		if (!peer->ltk)
			return -ENOMEM;
		return sl_hex_decode(peer->ltk, SL_X25519_KEY_LEN, val, strlen(val));
	}
	if (!strcmp(key, "authorised")) {
		ret = mark(&pp->seen, K_AUTHORISED);
		return ret ? ret : sl_ksf_parse_yesno(val, &peer->authorised);
	}
	if (!strcmp(key, "revoked")) {
		ret = mark(&pp->seen, K_REVOKED);
		return ret ? ret : sl_ksf_parse_yesno(val, &peer->revoked);
	}
	if (!strcmp(key, "paired")) {
		ret = mark(&pp->seen, K_PAIRED);
		return ret ? ret : sl_ksf_parse_time(val, &peer->paired);
	}
	if (!strcmp(key, "changed")) {
		ret = mark(&pp->seen, K_CHANGED);
		return ret ? ret : sl_ksf_parse_time(val, &peer->changed);
	}
	if (!strcmp(key, "receipt_key")) {
		ret = mark(&pp->seen, K_RECEIPT_KEY);
		if (ret)
			return ret;
		peer->has_receipt_key = true;
		return sl_hex_decode(peer->receipt_key,
				     sizeof(peer->receipt_key), val, strlen(val));
	}
	if (!strcmp(key, "name")) {
		ret = mark(&pp->seen, K_NAME);
		if (ret)
			return ret;
		if (strlen(val) >= sizeof(peer->name))
			return -EINVAL;
		snprintf(peer->name, sizeof(peer->name), "%s", val);
		return sl_ipc_unescape(peer->name);
	}
	if (!strcmp(key, "company")) {
		ret = mark(&pp->seen, K_COMPANY);
		if (ret)
			return ret;
		if (strlen(val) >= sizeof(peer->company))
			return -EINVAL;
		snprintf(peer->company, sizeof(peer->company), "%s", val);
		return sl_ipc_unescape(peer->company);
	}
	return -ENOKEY;
}

static int load_peer(struct sl_keystore *ks, const char *name,
		     struct sl_peer *peer, char *err, size_t err_len)
{
	struct peer_parse pp = { .peer = peer };
	char dir[PATH_MAX + 8];
	size_t len;
	char *text;
	int ret;

	memset(peer, 0, sizeof(*peer));
	snprintf(dir, sizeof(dir), "%s/%s", ks->dir, SL_KS_PEERS_DIR);
	ret = sl_ksf_read_secure(ks->peersfd, dir, name, &text, &len, err, err_len);
	if (ret)
		return ret;
	ret = sl_ksf_parse_kv(text, len, dir, name, peer_kv, &pp, err, err_len);
	sl_secure_free(text, SL_KS_FILE_MAX + 1);
	if (!ret && (pp.seen & (K_VERSION | K_ACCOUNT | K_AUTHORISED | K_REVOKED)) !=
	    (K_VERSION | K_ACCOUNT | K_AUTHORISED | K_REVOKED))
		ret = sl_errf(err, err_len, -EINVAL,
			      "%s/%s: incomplete (needs version, account, authorised and revoked)",
			      dir, name);
	if (!ret && strcmp(peer->account, name))
		ret = sl_errf(err, err_len, -EINVAL,
			      "%s/%s: holds account %s, not the one it is named after",
			      dir, name, peer->account);
	if (!ret && peer->ltk && !peer->has_pub)
		ret = sl_errf(err, err_len, -EINVAL,
			      "%s/%s: an LTK without the peer's public key", dir,
			      name);
	if (ret)
		peer_wipe(peer);
	return ret;
}

static int cmp_peer(const void *a, const void *b)
{
	return strcmp(((const struct sl_peer *)a)->account,
		      ((const struct sl_peer *)b)->account);
}

/*
 * Every peer file. A file that cannot be read or parsed is skipped with
 * an error in the log: the peer is then unknown, and an unknown peer is
 * refused, so a damaged record can only deny, never allow.
 */
static int load_peers(struct sl_keystore *ks, struct sl_peer **out,
		      size_t *n_out, size_t *cap_out)
{
	struct sl_peer *peers = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(ks->peersfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		char why[512];

		if (de->d_name[0] == '.')
			continue;
		if (!sl_account_valid(de->d_name)) {
			sl_log(LOG_WARNING, "%s/%s/%s: not a peer record (the name is not an account number); ignored",
			       ks->dir, SL_KS_PEERS_DIR, de->d_name);
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct sl_peer *np = calloc(ncap, sizeof(*np));

			if (!np) {
				closedir(d);
				peers_free(peers, n);
				return -ENOMEM;
			}
			if (n)
				memcpy(np, peers, n * sizeof(*np));
			sl_wipe(peers, n * sizeof(*peers));
			free(peers);
			peers = np;
			cap = ncap;
		}
		if (load_peer(ks, de->d_name, &peers[n], why, sizeof(why))) {
			sl_log(LOG_ERR, "%s; this peer is ignored (refused as unknown)",
			       why);
			continue;
		}
		n++;
	}
	closedir(d);
	if (n)
		qsort(peers, n, sizeof(*peers), cmp_peer);
	*out = peers;
	*n_out = n;
	*cap_out = cap;
	return 0;
}

static int write_peer(struct sl_keystore *ks, const struct sl_peer *peer)
{
	const size_t size = 1024, hex_size = 2 * SL_X25519_KEY_LEN + 1;
	char *buf = sl_secure_alloc(size);
	char *ltk = sl_secure_alloc(hex_size);
	char pub[2 * SL_X25519_KEY_LEN + 1] = "";
	char rkey[2 * SL_X25519_KEY_LEN + 1] = "";
	char name[3 * SL_KS_NAME_MAX + 1] = "";
	char company[3 * SL_KS_NAME_MAX + 1] = "";
	int n, ret;

	if (!buf || !ltk) {
		sl_secure_free(buf, size);
		sl_secure_free(ltk, hex_size);
		return -ENOMEM;
	}
	if (peer->has_pub)
		sl_hex_encode(pub, peer->pub, sizeof(peer->pub));
	if (peer->ltk)
		sl_hex_encode(ltk, peer->ltk, SL_X25519_KEY_LEN);
	if (peer->has_receipt_key)
		sl_hex_encode(rkey, peer->receipt_key, sizeof(peer->receipt_key));
	if (peer->name[0] && !sl_ipc_escape(name, sizeof(name), peer->name))
		name[0] = 0;
	if (peer->company[0] &&
	    !sl_ipc_escape(company, sizeof(company), peer->company))
		company[0] = 0;
	n = snprintf(buf, size,
		     "# sealined peer record. The ltk line is secret.\n"
		     "version %d\naccount %s\n%s%s%s%s%s%s"
		     "authorised %s\nrevoked %s\npaired %" PRId64 "\nchanged %" PRId64 "\n"
		     "%s%s%s%s%s%s%s%s%s",
		     FORMAT_VERSION, peer->account,
		     peer->has_pub ? "public " : "", pub,
		     peer->has_pub ? "\n" : "",
		     peer->ltk ? "ltk " : "", peer->ltk ? ltk : "",
		     peer->ltk ? "\n" : "",
		     peer->authorised ? "yes" : "no",
		     peer->revoked ? "yes" : "no", peer->paired, peer->changed,
		     peer->has_receipt_key ? "receipt_key " : "", rkey,
		     peer->has_receipt_key ? "\n" : "",
		     name[0] ? "name " : "", name, name[0] ? "\n" : "",
		     company[0] ? "company " : "", company,
		     company[0] ? "\n" : "");
	if (n < 0 || (size_t)n >= size)
		ret = -EOVERFLOW;
	else
		ret = sl_ks_write_atomic(ks->peersfd, peer->account, buf,
					 (size_t)n);
	sl_secure_free(buf, size);
	sl_secure_free(ltk, hex_size);
	return ret;
}

static size_t find_index(const struct sl_keystore *ks, const char *account,
			 bool *found)
{
	size_t lo = 0, hi = ks->n_peers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ks->peers[mid].account, account);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

const struct sl_peer *sl_ks_find(const struct sl_keystore *ks,
				 const char *account)
{
	bool found;
	size_t i = find_index(ks, account, &found);

	return found ? &ks->peers[i] : NULL;
}

bool sl_ks_peer_allowed(const struct sl_peer *peer)
{
	return peer && peer->authorised && !peer->revoked;
}

/* Put *rec (which owns its LTK) in place of the record of its account, or
 * insert it. The old record is wiped. */
static int install_peer(struct sl_keystore *ks, struct sl_peer *rec)
{
	bool found;
	size_t i = find_index(ks, rec->account, &found);

	if (found) {
		peer_wipe(&ks->peers[i]);
		ks->peers[i] = *rec;
		return 0;
	}
	if (ks->n_peers == ks->cap_peers) {
		size_t ncap = ks->cap_peers ? 2 * ks->cap_peers : 16;
		struct sl_peer *np = calloc(ncap, sizeof(*np));

		if (!np)
			return -ENOMEM;
		if (ks->n_peers)
			memcpy(np, ks->peers, ks->n_peers * sizeof(*np));
		sl_wipe(ks->peers, ks->n_peers * sizeof(*ks->peers));
		free(ks->peers);
		ks->peers = np;
		ks->cap_peers = ncap;
	}
	memmove(&ks->peers[i + 1], &ks->peers[i],
		(ks->n_peers - i) * sizeof(*ks->peers));
	ks->peers[i] = *rec;
	ks->n_peers++;
	return 0;
}

static int check_account(const struct sl_keystore *ks, const char *account,
			 char *err, size_t err_len)
{
	if (!account || !sl_account_valid(account))
		return sl_errf(err, err_len, -EINVAL,
			       "'%s' is not an account number (%d digits)",
			       account ? account : "", SL_ACCOUNT_LEN);
	if (!strcmp(account, ks->id.account))
		return sl_errf(err, err_len, -EINVAL,
			       "%s is this installation's own account", account);
	return 0;
}

/* A copy of the record of account (LTK copied into new secure memory),
 * or a fresh one. */
static int copy_peer(const struct sl_keystore *ks, const char *account,
		     struct sl_peer *out, bool *existed)
{
	const struct sl_peer *old = sl_ks_find(ks, account);

	memset(out, 0, sizeof(*out));
	*existed = old != NULL;
	if (!old) {
		memcpy(out->account, account, SL_ACCOUNT_LEN + 1);
		return 0;
	}
	*out = *old;
	out->ltk = NULL;
	if (old->ltk) {
		out->ltk = sl_secure_alloc(SL_X25519_KEY_LEN);
		if (!out->ltk)
			return -ENOMEM;
		memcpy(out->ltk, old->ltk, SL_X25519_KEY_LEN);
	}
	return 0;
}

static int commit_peer(struct sl_keystore *ks, struct sl_peer *rec,
		       char *err, size_t err_len)
{
	int ret = write_peer(ks, rec);

	if (!ret)
		ret = install_peer(ks, rec);
	if (ret) {
		peer_wipe(rec);
		return sl_errf(err, err_len, ret, "%s/%s/%s: cannot write: %s",
			       ks->dir, SL_KS_PEERS_DIR, rec->account,
			       strerror(-ret));
	}
	return 0;
}

int sl_ks_authorise(struct sl_keystore *ks, const char *account,
		    bool *created, char *err, size_t err_len)
{
	struct sl_peer rec;
	bool existed;
	int ret;

	ret = check_account(ks, account, err, err_len);
	if (ret)
		return ret;
	ret = copy_peer(ks, account, &rec, &existed);
	if (ret)
		return sl_errf(err, err_len, ret, "out of secure memory");
	rec.authorised = true;
	rec.revoked = false;
	rec.changed = (int64_t)time(NULL);
	ret = commit_peer(ks, &rec, err, err_len);
	if (!ret && created)
		*created = !existed;
	return ret;
}

int sl_ks_revoke(struct sl_keystore *ks, const char *account, char *err,
		 size_t err_len)
{
	struct sl_peer rec;
	bool existed;
	int ret;

	ret = check_account(ks, account, err, err_len);
	if (ret)
		return ret;
	if (!sl_ks_find(ks, account))
		return sl_errf(err, err_len, -ENOENT, "no peer with account %s",
			       account);
	ret = copy_peer(ks, account, &rec, &existed);
	if (ret)
		return sl_errf(err, err_len, ret, "out of secure memory");
	rec.authorised = false;
	rec.revoked = true;
	rec.changed = (int64_t)time(NULL);
	return commit_peer(ks, &rec, err, err_len);
}

int sl_ks_forget(struct sl_keystore *ks, const char *account, char *err,
		 size_t err_len)
{
	bool found;
	size_t i;
	int ret;

	ret = check_account(ks, account, err, err_len);
	if (ret)
		return ret;
	i = find_index(ks, account, &found);
	if (!found)
		return sl_errf(err, err_len, -ENOENT, "no peer with account %s",
			       account);
	if (unlinkat(ks->peersfd, account, 0) < 0 && errno != ENOENT)
		return sl_errf(err, err_len, -errno, "%s/%s/%s: cannot remove: %s",
			       ks->dir, SL_KS_PEERS_DIR, account, strerror(errno));
	fsync(ks->peersfd);
	peer_wipe(&ks->peers[i]);
	memmove(&ks->peers[i], &ks->peers[i + 1],
		(ks->n_peers - i - 1) * sizeof(*ks->peers));
	ks->n_peers--;
	sl_wipe(&ks->peers[ks->n_peers], sizeof(*ks->peers));
	return 0;
}

int sl_ks_store_pair(struct sl_keystore *ks, const char *account,
		     const uint8_t pub[SL_X25519_KEY_LEN],
		     const uint8_t ltk[SL_X25519_KEY_LEN],
		     char *err, size_t err_len)
{
	const struct sl_peer *old;
	struct sl_peer rec;
	int ret;

	ret = check_account(ks, account, err, err_len);
	if (ret)
		return ret;
	memset(&rec, 0, sizeof(rec));
	memcpy(rec.account, account, SL_ACCOUNT_LEN + 1);
	rec.has_pub = true;
	memcpy(rec.pub, pub, SL_X25519_KEY_LEN);
	rec.ltk = sl_secure_alloc(SL_X25519_KEY_LEN);
	if (!rec.ltk)
		return sl_errf(err, err_len, -ENOMEM, "out of secure memory");
	memcpy(rec.ltk, ltk, SL_X25519_KEY_LEN);
	rec.authorised = true;
	rec.revoked = false;
	rec.paired = rec.changed = (int64_t)time(NULL);
	/* A new pairing may be another installation: its receipts are
	 * learnt again; the operator's name and company for the account
	 * stay. */
	old = sl_ks_find(ks, account);
	if (old) {
		memcpy(rec.name, old->name, sizeof(rec.name));
		memcpy(rec.company, old->company, sizeof(rec.company));
	}
	return commit_peer(ks, &rec, err, err_len);
}

int sl_ks_set_receipt_key(struct sl_keystore *ks, const char *account,
			  const uint8_t key[32], char *err, size_t err_len)
{
	struct sl_peer rec;
	bool existed;
	int ret;

	if (!sl_ks_find(ks, account))
		return sl_errf(err, err_len, -ENOENT, "no peer with account %s",
			       account);
	ret = copy_peer(ks, account, &rec, &existed);
	if (ret)
		return sl_errf(err, err_len, ret, "out of secure memory");
	rec.has_receipt_key = true;
	memcpy(rec.receipt_key, key, sizeof(rec.receipt_key));
	rec.changed = (int64_t)time(NULL);
	return commit_peer(ks, &rec, err, err_len);
}

/* The operator's text for a peer (what: "name" or "company"), into the
 * record's field of that name. */
static int set_label(struct sl_keystore *ks, const char *account,
		     const char *what, const char *text, char *err,
		     size_t err_len)
{
	bool company = !strcmp(what, "company");
	struct sl_peer rec;
	bool existed;
	int ret;

	ret = check_account(ks, account, err, err_len);
	if (ret)
		return ret;
	if (strlen(text) >= SL_KS_NAME_MAX)
		return sl_errf(err, err_len, -ENAMETOOLONG,
			       "a %s of at most %d bytes", what,
			       SL_KS_NAME_MAX - 1);
	for (const char *c = text; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return sl_errf(err, err_len, -EINVAL,
				       "a %s without control characters", what);
	if (!sl_ks_find(ks, account))
		return sl_errf(err, err_len, -ENOENT, "no peer with account %s",
			       account);
	ret = copy_peer(ks, account, &rec, &existed);
	if (ret)
		return sl_errf(err, err_len, ret, "out of secure memory");
	if (company)
		snprintf(rec.company, sizeof(rec.company), "%s", text);
	else
		snprintf(rec.name, sizeof(rec.name), "%s", text);
	rec.changed = (int64_t)time(NULL);
	return commit_peer(ks, &rec, err, err_len);
}

int sl_ks_set_name(struct sl_keystore *ks, const char *account,
		   const char *name, char *err, size_t err_len)
{
	return set_label(ks, account, "name", name, err, err_len);
}

int sl_ks_set_company(struct sl_keystore *ks, const char *account,
		      const char *company, char *err, size_t err_len)
{
	return set_label(ks, account, "company", company, err, err_len);
}

/* ------------------------------------------------------------ open/close */

/* mkdir -p: parents 0755, the last component 0700. */
static int make_dirs(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (char *p = path + 1; *p; ++p) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* A directory of ours with mode 0700 (tightened if looser). */
static int check_dir(int fd, const char *what, char *err, size_t err_len)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return sl_errf(err, err_len, -errno, "%s: %s", what, strerror(errno));
	if (st.st_uid != geteuid())
		return sl_errf(err, err_len, -EPERM,
			       "%s: owned by uid %u, not by this daemon (uid %u)",
			       what, (unsigned int)st.st_uid, (unsigned int)geteuid());
	if ((st.st_mode & 07777) != 0700) {
		if (st.st_mode & 077)
			sl_log(LOG_WARNING, "%s had mode %04o; now 0700", what,
			       (unsigned int)(st.st_mode & 07777));
		if (fchmod(fd, 0700) < 0)
			return sl_errf(err, err_len, -errno, "%s: chmod: %s", what,
				       strerror(errno));
	}
	return 0;
}

static void remove_temp_files(int dirfd)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, SL_KSF_TMP_PREFIX, sizeof(SL_KSF_TMP_PREFIX) - 1))
			unlinkat(dirfd, de->d_name, 0);
	closedir(d);
}

static int take_lock(struct sl_keystore *ks, char *err, size_t err_len)
{
	char pid[32];
	int n;

	ks->lockfd = openat(ks->dirfd, SL_KS_LOCK, O_RDWR | O_CREAT | O_CLOEXEC |
			    O_NOFOLLOW, 0600);
	if (ks->lockfd < 0)
		return sl_errf(err, err_len, -errno, "%s/%s: %s", ks->dir,
			       SL_KS_LOCK, strerror(errno));
	if (flock(ks->lockfd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		ssize_t got = pread(ks->lockfd, pid, sizeof(pid) - 1, 0);

		pid[got > 0 ? got : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			return sl_errf(err, err_len, -EBUSY,
				       "state directory %s is in use by another sealined (pid %s)",
				       ks->dir, pid[0] ? pid : "?");
		return sl_errf(err, err_len, -e, "%s/%s: flock: %s", ks->dir,
			       SL_KS_LOCK, strerror(e));
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(ks->lockfd, 0) < 0 ||
	    pwrite(ks->lockfd, pid, (size_t)n, 0) != n)
		sl_log(LOG_WARNING, "%s/%s: cannot write our pid: %s", ks->dir,
		       SL_KS_LOCK, strerror(errno));
	return 0;
}

int sl_ks_open(struct sl_keystore *ks, const char *dir, const char *account,
	       char *err, size_t err_len)
{
	char what[PATH_MAX + 16];
	int ret;

	memset(ks, 0, sizeof(*ks));
	ks->dirfd = ks->peersfd = ks->lockfd = -1;
	if (strlen(dir) >= sizeof(ks->dir) || dir[0] != '/')
		return sl_errf(err, err_len, -EINVAL,
			       "state directory '%s' must be an absolute path", dir);
	snprintf(ks->dir, sizeof(ks->dir), "%s", dir);
	if (account && *account && !sl_account_valid(account))
		return sl_errf(err, err_len, -EINVAL, "'%s' is not an account number",
			       account);

	ret = make_dirs(dir);
	if (ret)
		return sl_errf(err, err_len, ret, "cannot create state directory %s: %s",
			       dir, strerror(-ret));
	ks->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ks->dirfd < 0) {
		ret = sl_errf(err, err_len, -errno, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	ret = check_dir(ks->dirfd, dir, err, err_len);
	if (ret)
		goto fail;
	ret = take_lock(ks, err, err_len);
	if (ret)
		goto fail;
	remove_temp_files(ks->dirfd);

	if (mkdirat(ks->dirfd, SL_KS_PEERS_DIR, 0700) < 0 && errno != EEXIST) {
		ret = sl_errf(err, err_len, -errno, "%s/%s: %s", dir, SL_KS_PEERS_DIR,
			      strerror(errno));
		goto fail;
	}
	ks->peersfd = openat(ks->dirfd, SL_KS_PEERS_DIR,
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (ks->peersfd < 0) {
		ret = sl_errf(err, err_len, -errno, "%s/%s: %s", dir, SL_KS_PEERS_DIR,
			      strerror(errno));
		goto fail;
	}
	snprintf(what, sizeof(what), "%s/%s", dir, SL_KS_PEERS_DIR);
	ret = check_dir(ks->peersfd, what, err, err_len);
	if (ret)
		goto fail;
	remove_temp_files(ks->peersfd);

	ks->id.priv = sl_secure_alloc(SL_X25519_KEY_LEN);
	if (!ks->id.priv) {
		ret = sl_errf(err, err_len, -ENOMEM, "out of secure memory");
		goto fail;
	}
	ret = load_identity(ks, err, err_len);
	if (ret == -ENOENT)
		ret = create_identity(ks, account, err, err_len);
	else if (!ret && account && *account && strcmp(account, ks->id.account))
		ret = sl_errf(err, err_len, -EINVAL,
			      "the configuration says account %s, but %s/%s holds account %s: peers know this installation by the stored one (to start over as %s, move the state directory away)",
			      account, dir, SL_KS_IDENTITY, ks->id.account, account);
	if (ret)
		goto fail;

	ret = load_peers(ks, &ks->peers, &ks->n_peers, &ks->cap_peers);
	if (ret) {
		ret = sl_errf(err, err_len, ret, "%s/%s: %s", dir, SL_KS_PEERS_DIR,
			      strerror(-ret));
		goto fail;
	}
	return 0;
fail:
	sl_ks_close(ks);
	return ret;
}

int sl_ks_reload(struct sl_keystore *ks, char *err, size_t err_len)
{
	struct sl_peer *peers = NULL;
	size_t n = 0, cap = 0;
	int ret;

	ret = load_peers(ks, &peers, &n, &cap);
	if (ret)
		return sl_errf(err, err_len, ret, "%s/%s: %s", ks->dir,
			       SL_KS_PEERS_DIR, strerror(-ret));
	peers_free(ks->peers, ks->n_peers);
	ks->peers = peers;
	ks->n_peers = n;
	ks->cap_peers = cap;
	return 0;
}

void sl_ks_close(struct sl_keystore *ks)
{
	peers_free(ks->peers, ks->n_peers);
	ks->peers = NULL;
	ks->n_peers = ks->cap_peers = 0;
	if (ks->id.priv)
		sl_secure_free(ks->id.priv, SL_X25519_KEY_LEN);
	ks->id.priv = NULL;
	sl_wipe(&ks->id, sizeof(ks->id));
	if (ks->peersfd >= 0)
		close(ks->peersfd);
	if (ks->dirfd >= 0)
		close(ks->dirfd);
	/* Closing the lock file releases the lock; the file stays. */
	if (ks->lockfd >= 0)
		close(ks->lockfd);
	ks->peersfd = ks->dirfd = ks->lockfd = -1;
}
