/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/* Names inside an envelope (paths.c). */
#ifndef SEALINE_COURIER_PATHS_H
#define SEALINE_COURIER_PATHS_H

#include <stdbool.h>
#include <stddef.h>

#include "internal.h"

/*
 * A name an envelope may hold: relative, components neither empty nor
 * "." nor "..", at most SL_ENV_NAME_MAX bytes each, SL_ENV_DEPTH_MAX of
 * them, SL_ENV_PATH_MAX in all; one trailing '/' (a tar directory) is
 * allowed and not counted. *len its length without that slash, *depth
 * its number of components. UNSAFE_PATH otherwise.
 */
enum sl_env_reason sl_env_check_name(const char *name, size_t *len,
				     unsigned int *depth,
				     struct sl_env_refusal *why);

/*
 * Whether a symbolic link named name (a checked name, name_len bytes)
 * with this target stays inside the envelope's top directory when the
 * target is read as a path relative to the link's directory, component
 * by component, without looking at the file system: false for an empty
 * or absolute target or one whose ".." climb above the top. The
 * recipient checks the real resolution as well (extract.c).
 */
bool sl_env_link_inside(const char *name, size_t name_len, const char *target);

#endif
