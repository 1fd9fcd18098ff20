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
#include <linux/bits.h>
#else
#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;

#define BIT_ULL(nr)	(1ULL << (nr))
#endif

#endif /* SEALINE_COMPAT_H */
