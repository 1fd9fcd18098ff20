/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The protocol files (frame.c, replay.c) are built into the module and into
 * the host unit tests and fuzz targets. This header is all they include, so
 * they never depend on kernel headers beyond the basic types.
 */
#ifndef SEALINE_COMPAT_H
#define SEALINE_COMPAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/string.h>
#else
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
#endif

#endif /* SEALINE_COMPAT_H */
