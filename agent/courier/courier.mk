# SPDX-License-Identifier: GPL-2.0
#
# The courier's engine (envelopes, receipts, Ed25519): a Makefile fragment
# for whatever builds it (tests/unit/courier, tests/fuzz/courier; later
# the agent). Include it; it defines:
#
#   COURIER_DIR        this directory
#   COURIER_SRCS       the courier's sources
#   COURIER_HDRS       its headers
#   COURIER_AGENT_SRCS what it uses of the agent (crypto.c, noise.c)
#   COURIER_CPPFLAGS   include paths, _GNU_SOURCE, the libraries' cflags
#   COURIER_WARN       the warnings its own files build with
#   COURIER_LIBS       libgcrypt, libarchive, libzstd
#
# COURIER_AGENT_DIR (default: two levels up, agent/) names the directory
# of crypto.[ch] and noise.[ch]; set it before including when they move.

COURIER_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
COURIER_AGENT_DIR ?= $(COURIER_DIR)/../..
PKG_CONFIG ?= pkg-config

COURIER_SRCS := $(addprefix $(COURIER_DIR)/,oneway.c header.c stream.c \
	reasons.c paths.c pack.c extract.c unpack.c sign.c receipt.c)
COURIER_HDRS := $(wildcard $(COURIER_DIR)/*.h)
COURIER_AGENT_SRCS := $(COURIER_AGENT_DIR)/crypto.c $(COURIER_AGENT_DIR)/noise.c
COURIER_AGENT_HDRS := $(COURIER_AGENT_DIR)/crypto.h $(COURIER_AGENT_DIR)/noise.h

COURIER_PKGS := libgcrypt libarchive libzstd
COURIER_PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(COURIER_PKGS) 2>/dev/null)
COURIER_LIBS := $(shell $(PKG_CONFIG) --libs $(COURIER_PKGS) 2>/dev/null)
ifeq ($(COURIER_LIBS),)
$(error pkg-config finds no $(COURIER_PKGS): run scripts/install-deps (libgcrypt20-dev libarchive-dev libzstd-dev))
endif

COURIER_CPPFLAGS := -I$(COURIER_DIR) -I$(COURIER_AGENT_DIR) -D_GNU_SOURCE \
	$(COURIER_PKG_CFLAGS)
COURIER_WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 \
	-Wstrict-prototypes -Wmissing-prototypes
