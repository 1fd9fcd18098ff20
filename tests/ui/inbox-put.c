// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * inbox-put STATE_DIR ACCOUNT SENDER HEX_ID FILES BYTES
 *
 * The browser test's way to have an envelope in sealined's inbox without
 * a line (the courier's delivery is tested in the VM): it signs, with the
 * installation's own receipt key (derived from its identity in STATE_DIR,
 * created for ACCOUNT if there is none yet), the receipt sealined would
 * have given for envelope HEX_ID from SENDER, and writes it where
 * sealined keeps receipts (STATE_DIR/receipts/HEX_ID.receipt). The
 * caller puts the files into INBOX/HEX_ID/. Run it while sealined is
 * stopped: the key store is locked by the daemon that uses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "fdio.h"
#include "hex.h"
#include "keystore.h"
#include "receipt.h"
#include "sign.h"

int main(int argc, char *argv[])
{
	static struct sl_keystore ks;
	struct sl_sign_key key = { 0 };
	struct sl_rcpt r = { 0 };
	char err[256], why[256], text[SL_RCPT_MAX_LEN + 1], path[4096];
	size_t len;
	int fd;

	if (argc != 7 || strlen(argv[4]) != 2 * SL_ENV_ID_LEN) {
		fprintf(stderr, "usage: inbox-put STATE_DIR ACCOUNT SENDER HEX_ID FILES BYTES\n");
		return 2;
	}
	if (sl_crypto_init(0, SL_CRYPTO_QUIET_SECMEM, why, sizeof(why))) {
		fprintf(stderr, "inbox-put: %s\n", why);
		return 1;
	}
	if (sl_ks_open(&ks, argv[1], argv[2], err, sizeof(err))) {
		fprintf(stderr, "inbox-put: %s\n", err);
		return 1;
	}
	if (sl_sign_key_derive(&key, ks.id.priv, ks.id.account)) {
		fprintf(stderr, "inbox-put: cannot derive the receipt key\n");
		return 1;
	}
	if (sl_hex_decode(r.id, sizeof(r.id), argv[4], strlen(argv[4])) ||
	    getrandom(r.sha256, sizeof(r.sha256), 0) != sizeof(r.sha256)) {
		fprintf(stderr, "inbox-put: bad id %s\n", argv[4]);
		return 1;
	}
	snprintf(r.sender, sizeof(r.sender), "%s", argv[3]);
	snprintf(r.recipient, sizeof(r.recipient), "%s", ks.id.account);
	r.files = strtoull(argv[5], NULL, 10);
	r.bytes = strtoull(argv[6], NULL, 10);
	r.size = r.bytes + 1024;
	r.delivered = time(NULL);
	if (sl_rcpt_sign(text, sizeof(text), &len, &r, &key, why, sizeof(why))) {
		fprintf(stderr, "inbox-put: %s\n", why);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/receipts", argv[1]);
	if (mkdir(path, 0700) && errno != EEXIST) {
		perror(path);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/receipts/%s.receipt", argv[1], argv[4]);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || sl_write_all(fd, text, len) || close(fd)) {
		perror(path);
		return 1;
	}
	sl_sign_key_wipe(&key);
	sl_ks_close(&ks);
	return 0;
}
