# SPDX-License-Identifier: GPL-2.0
#
# Unit tests of sealined's infrastructure (agent/config.c, keystore.c,
# sessionlog.c, ipc.c, lines.c) with the same sanitizers and warnings as
# the other host tests: test_daemon drives the line manager against a fake
# kernel and a fake handshake core through the seam of agent/agent.h.
# Included by Makefile: the program joins TESTS, so "make check" runs it
# and counts its cases into its one summary line.

DAEMON_AGENT := ../../agent
DAEMON_UAPI := ../../uapi
DAEMON_PKG_CONFIG ?= pkg-config

DAEMON_NL_CFLAGS := $(shell $(DAEMON_PKG_CONFIG) --cflags libnl-genl-3.0 2>/dev/null)
DAEMON_NL_LIBS := $(shell $(DAEMON_PKG_CONFIG) --libs libnl-genl-3.0 2>/dev/null)
DAEMON_GCRYPT_CFLAGS := $(shell $(DAEMON_PKG_CONFIG) --cflags libgcrypt 2>/dev/null)
DAEMON_GCRYPT_LIBS := $(shell $(DAEMON_PKG_CONFIG) --libs libgcrypt 2>/dev/null)
ifeq ($(DAEMON_NL_LIBS),)
$(error libnl-genl-3.0 not found by $(DAEMON_PKG_CONFIG): install libnl-genl-3-dev)
endif
ifeq ($(DAEMON_GCRYPT_LIBS),)
$(error libgcrypt not found by $(DAEMON_PKG_CONFIG): install libgcrypt20-dev)
endif

DAEMON_TESTS := test_daemon
DAEMON_SRCS := $(addprefix $(DAEMON_AGENT)/,config.c keystore.c sessionlog.c \
	ipc.c lines.c log.c crypto.c sas.c netlink.c line.c names.c keyfile.c \
	dialer.c modem.c call.c handshake.c noise.c)

# The agent's and the uapi's include paths instead of the kernel's, and
# _GNU_SOURCE as the agent's own Makefile sets it.
DAEMON_TEST_CFLAGS = $(filter-out -I$(KMOD),$(CFLAGS)) -I$(DAEMON_AGENT) \
	-I$(DAEMON_UAPI) -D_GNU_SOURCE $(DAEMON_NL_CFLAGS) $(DAEMON_GCRYPT_CFLAGS) \
	-DSEALINE_AGENT_DIR='"$(abspath $(DAEMON_AGENT))"'

TESTS += $(DAEMON_TESTS)
all: $(DAEMON_TESTS:%=$(BUILD)/%)

$(BUILD)/test_daemon: test_daemon.c $(DAEMON_SRCS) $(wildcard $(DAEMON_AGENT)/*.h) \
		$(DAEMON_UAPI)/linux/sealine.h $(DAEMON_AGENT)/sealined.conf.example \
		check.h daemon.mk Makefile | $(BUILD)
	$(CC) $(DAEMON_TEST_CFLAGS) -o $@ $< $(DAEMON_SRCS) $(DAEMON_NL_LIBS) \
		$(DAEMON_GCRYPT_LIBS)
