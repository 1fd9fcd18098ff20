/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The key store's files (keystore.c's helpers, not for other users):
 * the on-disk layout is in keystore.h.
 */
#ifndef SEALINE_AGENT_KEYSTORE_FILE_H
#define SEALINE_AGENT_KEYSTORE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Temporary files of sl_ks_write_atomic(), removed at open. */
#define SL_KSF_TMP_PREFIX	".tmp-"

/* Seconds since the epoch, in decimal: 0 or -EINVAL. */
int sl_ksf_parse_time(const char *s, int64_t *out);
/* "yes" or "no": 0 or -EINVAL. */
int sl_ksf_parse_yesno(const char *s, bool *out);

/*
 * dir/name (dirfd open on dir) into secure memory (*out, *out_len; free
 * with sl_secure_free(*out, SL_KS_FILE_MAX + 1)): a regular file of
 * ours, no larger than SL_KS_FILE_MAX, mode 0600 (tightened, with a
 * warning, if looser), NUL-terminated. 0 or a negative errno with the
 * reason in err.
 */
int sl_ksf_read_secure(int dirfd, const char *dir, const char *name,
		       char **out, size_t *out_len, char *err, size_t err_len);

/* One "key = value" line of a file; nonzero stops parsing with it. */
typedef int (*sl_ksf_kv_fn)(const char *key, const char *val, void *arg);
/*
 * text (len bytes) line by line into fn; comments and blank lines
 * skipped; errors name dir/name and the line. 0 or a negative errno.
 */
int sl_ksf_parse_kv(char *text, size_t len, const char *dir, const char *name,
		    sl_ksf_kv_fn fn, void *arg, char *err, size_t err_len);

#endif
