/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The protocol files (frame.c, replay.c, arq.c) are built into the module
 * and into the host unit tests and fuzz targets. This header is all they
 * include, so they never depend on kernel headers beyond the basic types.
 */
#ifndef SEALINE_COMPAT_H
#define SEALINE_COMPAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/string.h>
#include <linux/bits.h>
#include <linux/errno.h>
#else
#include <errno.h>
#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;

#define BIT_ULL(nr)	(1ULL << (nr))

/* As in the kernel: a memset the compiler may not drop as a dead store. */
static inline void memzero_explicit(void *s, size_t count)
{
	memset(s, 0, count);
	__asm__ __volatile__("" : : "r"(s) : "memory");
}
#endif

#endif /* SEALINE_COMPAT_H */
