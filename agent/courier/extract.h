/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Safe extraction of an archive's entries into a fresh staging directory
 * (extract.c), for unpack.c.
 */
#ifndef SEALINE_COURIER_EXTRACT_H
#define SEALINE_COURIER_EXTRACT_H

#include <archive.h>
#include <archive_entry.h>

#include "internal.h"

struct sl_extract;

/*
 * Creates staging_fd/name (mode 0700), removing a leftover of that name
 * first, and prepares to fill it within lim.
 */
enum sl_env_reason sl_extract_begin(struct sl_extract **x, int staging_fd,
				    const char *name,
				    const struct sl_env_limits *lim,
				    struct sl_env_refusal *why);

/*
 * The entry e, which a just returned, with its data: checked (name, type,
 * duplicates, links, limits, free space) before anything is created.
 * source_failed tells whether a failure of a's reads came from the stream
 * under it (then its refusal, already recorded by the caller, wins).
 */
enum sl_env_reason sl_extract_entry(struct sl_extract *x, struct archive *a,
				    struct archive_entry *e,
				    struct sl_env_refusal *why);

/*
 * After the last entry: checks every symbolic link's real resolution,
 * gives directories their modes and times, syncs the file system.
 */
enum sl_env_reason sl_extract_finish(struct sl_extract *x,
				     struct sl_env_refusal *why);

/* Counts: entries, and the regular files' bytes. */
void sl_extract_counts(const struct sl_extract *x, uint64_t *files,
		       uint64_t *content_bytes);

/* Frees x; unless keep, removes the directory and all it holds. */
void sl_extract_end(struct sl_extract *x, bool keep);

/* Removes dirfd/name and everything below it, never following a link. */
int sl_extract_remove_tree(int dirfd, const char *name);

#endif
