# SPDX-License-Identifier: GPL-2.0
#
# Unit tests of the agent's cryptographic layer (agent/crypto.c,
# agent/sas.c) against libgcrypt, of its Noise core (agent/noise.c), of its
# handshake protocol core (agent/handshake.c) and of that core's driver for
# sealined (agent/hs_noise.c), with the same sanitizers and warnings as the
# kernel-side tests. Included by Makefile: the programs join TESTS, so
# "make check" runs them and counts their cases into its one summary line.

AGENT := ../../agent
PKG_CONFIG ?= pkg-config

GCRYPT_CFLAGS := $(shell $(PKG_CONFIG) --cflags libgcrypt 2>/dev/null)
GCRYPT_LIBS := $(shell $(PKG_CONFIG) --libs libgcrypt 2>/dev/null)
ifeq ($(GCRYPT_LIBS),)
$(error libgcrypt not found by $(PKG_CONFIG): install libgcrypt20-dev)
endif

AGENT_TESTS := test_agent_crypto test_noise test_handshake test_hs_noise
# Call setup through a TSP (agent/call.c).
AGENT_TESTS += test_call
# A man in the middle that grinds the SAS (tests/line/mitm.c, grind.c).
AGENT_TESTS += test_pair_grind
LINE := ../line
AGENT_CRYPTO_SRCS := $(AGENT)/crypto.c $(AGENT)/sas.c

# The agent's include path instead of the kernel's, and _GNU_SOURCE as the
# agent's own Makefile sets it.
AGENT_TEST_CFLAGS = $(filter-out -I$(KMOD),$(CFLAGS)) -I$(AGENT) \
	-D_GNU_SOURCE $(GCRYPT_CFLAGS)

# Included after "all" is defined: added to it here, and to TESTS for
# "check", whose recipe expands TESTS only when it runs.
TESTS += $(AGENT_TESTS)
all: $(AGENT_TESTS:%=$(BUILD)/%)

$(BUILD)/test_agent_crypto: test_agent_crypto.c $(AGENT_CRYPTO_SRCS) \
		$(AGENT)/crypto.h check.h agent.mk Makefile | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(AGENT_CRYPTO_SRCS) $(GCRYPT_LIBS)

$(BUILD)/test_noise: test_noise.c $(AGENT)/noise.c $(AGENT_CRYPTO_SRCS) \
		$(AGENT)/noise.h $(AGENT)/crypto.h agent_test.h check.h \
		agent.mk Makefile | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(AGENT)/noise.c \
		$(AGENT_CRYPTO_SRCS) $(GCRYPT_LIBS)

# The uapi header for the cipher numbers, as the agent's Makefile has it.
$(BUILD)/test_handshake: test_handshake.c $(AGENT)/handshake.c \
		$(AGENT)/noise.c $(AGENT_CRYPTO_SRCS) $(AGENT)/handshake.h \
		$(AGENT)/hs_common.h \
		$(AGENT)/noise.h $(AGENT)/crypto.h agent_test.h check.h \
		agent.mk Makefile | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -I$(KMOD)/../uapi -o $@ $< \
		$(AGENT)/handshake.c $(AGENT)/noise.c $(AGENT_CRYPTO_SRCS) \
		$(GCRYPT_LIBS)

# The driver of agent.h over the handshake core (agent/hs_noise.c).
$(BUILD)/test_hs_noise: test_hs_noise.c $(AGENT)/hs_noise.c \
		$(AGENT)/handshake.c $(AGENT)/noise.c $(AGENT_CRYPTO_SRCS) \
		$(AGENT)/agent.h $(AGENT)/handshake.h $(AGENT)/hs_common.h $(AGENT)/noise.h \
		$(AGENT)/crypto.h agent_test.h check.h agent.mk Makefile | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -I$(KMOD)/../uapi -o $@ $< \
		$(AGENT)/hs_noise.c $(AGENT)/handshake.c $(AGENT)/noise.c \
		$(AGENT_CRYPTO_SRCS) $(GCRYPT_LIBS)

# Call setup through a TSP (agent/call.c), on the Noise core.
$(BUILD)/test_call: test_call.c $(AGENT)/call.c $(AGENT)/handshake.c \
		$(AGENT)/noise.c $(AGENT_CRYPTO_SRCS) $(AGENT)/call.h \
		$(AGENT)/handshake.h $(AGENT)/hs_common.h $(AGENT)/noise.h $(AGENT)/crypto.h \
		agent_test.h check.h agent.mk Makefile | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -I$(KMOD)/../uapi -o $@ $< \
		$(AGENT)/call.c $(AGENT)/handshake.c $(AGENT)/noise.c \
		$(AGENT_CRYPTO_SRCS) $(GCRYPT_LIBS)

# The Hayes modem driver (agent/modem.c) against a fake modem on a
# socketpair or a pty pair; no libgcrypt needed.
TESTS += test_modem
all: $(BUILD)/test_modem

$(BUILD)/test_modem: test_modem.c $(AGENT)/modem.c $(AGENT)/modem.h \
		check.h agent.mk Makefile | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(AGENT)/modem.c

# The grinding man in the middle of sealine-wire (tests/line), between two
# real ends; frames as the kernel builds them (kmod/frame.c).
$(BUILD)/test_pair_grind: test_pair_grind.c $(LINE)/mitm.c $(LINE)/grind.c \
		$(LINE)/mitm.h $(LINE)/grind.h $(KMOD)/frame.c $(KMOD)/frame.h \
		$(AGENT)/handshake.c $(AGENT)/noise.c $(AGENT_CRYPTO_SRCS) \
		$(AGENT)/handshake.h $(AGENT)/hs_common.h $(AGENT)/noise.h \
		$(AGENT)/crypto.h agent_test.h check.h agent.mk Makefile | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -I$(LINE) -I$(KMOD) -I$(KMOD)/../uapi \
		-o $@ $< $(LINE)/mitm.c $(LINE)/grind.c $(KMOD)/frame.c \
		$(AGENT)/handshake.c $(AGENT)/noise.c $(AGENT_CRYPTO_SRCS) \
		$(GCRYPT_LIBS)
