# SPDX-License-Identifier: GPL-2.0
#
# Unit tests of the agent (agent/, its rooms and sources in
# agent/sources.mk), with the same sanitizers and warnings as the
# kernel-side tests. Included by Makefile: the programs join TESTS, so
# "make check" runs them and counts their cases into its one summary line.
#
#   test_agent_crypto  proto/crypto.c, sas.c against libgcrypt (RFC KATs)
#   test_noise         proto/noise.c (Cacophony vectors)
#   test_hs_wire       proto/hs_*.c, the handshake engine: message table,
#                      configuration, fixed vectors, versions
#   test_hs_pair       pairing
#   test_hs_session    sessions, rekeys, invalid content (step 6)
#   test_hs_robust     NAKs, line faults, crossings, local failures
#                      (these four share hs_world.h)
#   test_hs_noise      sealined/hs_noise.c, the driver of hs_driver.h
#   test_call          proto/call*.c: call setup through a TSP, whole calls
#   test_call_wire     the same against an independent Noise_XK party:
#                      byte layouts, authentic invalid content (these two
#                      share call_world.h)
#   test_pair_grind    a grinding man in the middle (tests/line)
#   test_modem         lib/modem.c against a fake modem
#   test_config        lib/config.c
#   test_keystore      lib/keystore.c
#   test_sessionlog    lib/sessionlog.c
#   test_ipc           lib/ipc.c, the control socket
#   test_hex           lib/hex.c, lib/fdio.c
#   test_lines         sealined/lines.c, line_hs.c, operator.c with a fake
#                      kernel and a fake handshake core
#   test_dialer        sealined/dialer.c, dialer_leg.c, demand.c without a modem
#   test_tspstore      tsp/tspstore*.c: accounts and call records (SQLite)
#   test_tspstore_shared  the same as several instances share it, on SQLite
#                      and (SEALINE_TEST_PG) PostgreSQL: limits, leases
#   test_tspspool      tsp/tspspool.c, tspstore_spool.c: store and forward's
#                      spool, a TSP killed after every durable step (SQLite
#                      and, with SEALINE_TEST_PG, PostgreSQL)
#   test_tspdeposit    tsp/deposit.c: the TSP's side of a hand-over against
#                      the courier's sender engine: acceptance, resume,
#                      duplicates, a lying sender; its acceptance and
#                      notice checked as a sender does (courier/tsptext.c),
#                      forgeries refused
#   test_tspdelivery   tsp/delivery.c: the TSP's side of a delivery against
#                      the courier's recipient engine: receipts, refusals,
#                      resume, bounces
#   test_tspq          tsp/tspq.c: the store's thread and record backlog
#   test_telnet        tsp/telnet.c: Telnet and RFC 2217 for terminal servers
#   test_xfer          proto/cchan.c, xfer.c: the courier's channel and
#                      transfer protocol on a simulated lossy line
#   test_sealined_courier  sealined's courier (sealined/courier*.c, outbox,
#                      spool, unpacker) in two daemons with their lines and
#                      handshakes, joined by a fake kernel: delivery and
#                      receipt, cuts resumed with either daemon restarted,
#                      a replay, a refusal and a retry, a cancel, lost,
#                      doubled and reordered messages

AGENT := ../../agent
LINE := ../line
include $(AGENT)/sources.mk

DAEMON_TESTS := test_config test_keystore test_sessionlog test_ipc test_hex \
	test_lines test_dialer
HS_TESTS := test_hs_wire test_hs_pair test_hs_session test_hs_robust
AGENT_TESTS := test_agent_crypto test_noise $(HS_TESTS) test_hs_noise \
	test_call test_call_wire test_pair_grind test_modem $(DAEMON_TESTS) \
	test_tspstore test_tspstore_shared test_tspspool test_tspdeposit \
	test_tspdelivery test_tspq test_telnet test_xfer test_sealined_courier

# The agent's include paths instead of the kernel's.
AGENT_TEST_CFLAGS = $(filter-out -I$(KMOD),$(CFLAGS)) $(AGENT_INCLUDES) \
	$(NL_CFLAGS) $(GCRYPT_CFLAGS) $(STORE_CFLAGS)
AGENT_TEST_DEPS = $(AGENT_HDRS) agent_test.h check.h agent.mk Makefile

TEST_CRYPTO_SRCS := $(call agent_srcs,$(PROTO_CRYPTO_SRCS))
TEST_HS_SRCS := $(call agent_srcs,$(PROTO_CRYPTO_SRCS) $(PROTO_NOISE_SRCS) \
	$(PROTO_WIRE_SRCS) $(PROTO_HS_SRCS))
TEST_CALL_SRCS := $(TEST_HS_SRCS) $(call agent_srcs,$(PROTO_CALL_SRCS))
TEST_DAEMON_SRCS := $(call agent_srcs,$(LIB_CORE_SRCS) $(LIB_DAEMON_SRCS) \
	$(PROTO_SRCS) sealined/lines.c sealined/line_hs.c sealined/operator.c \
	sealined/kernel_nl.c sealined/dialer.c sealined/dialer_leg.c \
	sealined/demand.c)
TEST_XFER_SRCS := $(call agent_srcs,$(PROTO_CRYPTO_SRCS) \
	$(PROTO_COURIER_SRCS)) $(KREPLAY_SRC)
TEST_TSPSTORE_SRCS := $(call agent_srcs,$(TSP_STORE_SRCS) $(LIB_CORE_SRCS) \
	$(PROTO_WIRE_SRCS))

# Included after "all" is defined: added to it here, and to TESTS for
# "check", whose recipe expands TESTS only when it runs.
TESTS += $(AGENT_TESTS)
all: $(AGENT_TESTS:%=$(BUILD)/%)

$(BUILD)/test_agent_crypto: test_agent_crypto.c $(TEST_CRYPTO_SRCS) \
		$(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(TEST_CRYPTO_SRCS) $(GCRYPT_LIBS)

$(BUILD)/test_noise: test_noise.c $(TEST_HS_SRCS) $(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(TEST_HS_SRCS) $(GCRYPT_LIBS)

# The handshake engine in the simulated world of hs_world.h.
$(HS_TESTS:%=$(BUILD)/%): $(BUILD)/%: %.c hs_world.h $(TEST_HS_SRCS) \
		$(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(TEST_HS_SRCS) $(GCRYPT_LIBS)

$(BUILD)/test_hs_noise: test_hs_noise.c $(AGENT)/sealined/hs_noise.c \
		$(TEST_HS_SRCS) $(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(AGENT)/sealined/hs_noise.c \
		$(TEST_HS_SRCS) $(GCRYPT_LIBS)

$(BUILD)/test_call $(BUILD)/test_call_wire: $(BUILD)/%: %.c call_world.h \
		$(TEST_CALL_SRCS) $(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(TEST_CALL_SRCS) $(GCRYPT_LIBS)

# The grinding man in the middle of sealine-wire (tests/line), between two
# real ends; frames as the kernel builds them (kmod/frame.c).
$(BUILD)/test_pair_grind: test_pair_grind.c $(LINE)/mitm.c $(LINE)/grind.c \
		$(LINE)/mitm.h $(LINE)/grind.h $(KFRAME_SRC) $(TEST_HS_SRCS) \
		$(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -I$(LINE) -I$(KMOD) -o $@ $< \
		$(LINE)/mitm.c $(LINE)/grind.c $(KFRAME_SRC) $(TEST_HS_SRCS) \
		$(GCRYPT_LIBS)

# The Hayes modem driver against a fake modem on a socketpair or a pty
# pair; no libgcrypt needed.
$(BUILD)/test_modem: test_modem.c $(AGENT)/lib/modem.c $(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(AGENT)/lib/modem.c

$(BUILD)/test_xfer: test_xfer.c $(TEST_XFER_SRCS) $(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(TEST_XFER_SRCS) $(GCRYPT_LIBS)

# sealined's infrastructure, compiled once (with the tests' sanitizers)
# into an archive for the six programs that test it.
DAEMON_TEST_OBJS := $(patsubst $(AGENT)/%.c,$(BUILD)/agent/%.o,$(TEST_DAEMON_SRCS))
$(BUILD)/agent/%.o: $(AGENT)/%.c $(AGENT_TEST_DEPS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TEST_CFLAGS) -c -o $@ $<

DAEMON_TEST_OBJS += $(BUILD)/agent/kreplay.o $(BUILD)/agent/kframe.o
$(BUILD)/agent/kreplay.o: $(KREPLAY_SRC) $(AGENT_TEST_DEPS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TEST_CFLAGS) -c -o $@ $<
# The kernel's framing, for lib/rawline.c (the dialer's leg to the TSP).
$(BUILD)/agent/kframe.o: $(KFRAME_SRC) $(AGENT_TEST_DEPS) | $(BUILD)
	@mkdir -p $(dir $@)
	$(CC) $(AGENT_TEST_CFLAGS) -c -o $@ $<

$(BUILD)/libdaemon-test.a: $(DAEMON_TEST_OBJS)
	rm -f $@ && $(AR) rcs $@ $^

$(DAEMON_TESTS:%=$(BUILD)/%): $(BUILD)/%: %.c daemon_test.h \
		$(BUILD)/libdaemon-test.a $(AGENT)/dist/sealined.conf.example \
		$(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) \
		-DSEALINE_AGENT_DIR='"$(abspath $(AGENT))"' -o $@ $< \
		$(BUILD)/libdaemon-test.a $(NL_LIBS) $(GCRYPT_LIBS)

$(BUILD)/test_tspstore $(BUILD)/test_tspstore_shared: $(BUILD)/%: %.c \
		$(TEST_TSPSTORE_SRCS) $(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(TEST_TSPSTORE_SRCS) $(STORE_LIBS) \
		$(NL_LIBS)

$(BUILD)/test_tspspool: test_tspspool.c $(TEST_TSPSTORE_SRCS) \
		$(AGENT)/tsp/tspspool.c $(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(AGENT)/tsp/tspspool.c \
		$(TEST_TSPSTORE_SRCS) $(STORE_LIBS) $(NL_LIBS) $(GCRYPT_LIBS)

# With the line's framing (lib/rawline.c, kmod/frame.c): padwire.h
# counts the bytes of a leg's wire.
TEST_DEPOSIT_SRCS := $(TEST_TSPSTORE_SRCS) $(TEST_XFER_SRCS) \
	$(call agent_srcs,$(TSP_SPOOL_SRCS) courier/tsptext.c lib/rawline.c \
	lib/byteq.c) $(KFRAME_SRC)
$(BUILD)/test_tspdeposit $(BUILD)/test_tspdelivery: $(BUILD)/%: %.c \
		padwire.h $(TEST_DEPOSIT_SRCS) $(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(TEST_DEPOSIT_SRCS) $(STORE_LIBS) \
		$(NL_LIBS) $(GCRYPT_LIBS)

$(BUILD)/test_telnet: test_telnet.c $(AGENT)/tsp/telnet.c $(AGENT)/lib/byteq.c \
		$(TEST_CRYPTO_SRCS) $(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(AGENT)/tsp/telnet.c \
		$(AGENT)/lib/byteq.c $(TEST_CRYPTO_SRCS) $(GCRYPT_LIBS)

$(BUILD)/test_tspq: test_tspq.c $(TEST_TSPSTORE_SRCS) $(AGENT)/tsp/tspq.c \
		$(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) -o $@ $< $(AGENT)/tsp/tspq.c \
		$(TEST_TSPSTORE_SRCS) $(STORE_LIBS) $(NL_LIBS) -lpthread

# sealined's courier on top of the daemon's archive: its own files, the
# courier's engine, the packer sealctl runs, the handshake driver.
SEALINED_COURIER_OBJS := $(patsubst $(AGENT)/%.c,$(BUILD)/agent/%.o,\
	$(call agent_srcs,$(COURIER_SRCS) $(COURIER_SEND_SRCS) \
	$(COURIER_STORE_SRCS) sealined/courier.c sealined/courier_line.c \
	sealined/courier_ipc.c sealined/courier_intake.c sealined/unpacker.c \
	sealined/courier_tsp.c sealined/courier_held.c sealined/hs_noise.c))
$(BUILD)/test_sealined_courier: test_sealined_courier.c daemon_test.h \
		$(SEALINED_COURIER_OBJS) $(BUILD)/libdaemon-test.a \
		$(AGENT_TEST_DEPS) | $(BUILD)
	$(CC) $(AGENT_TEST_CFLAGS) $(COURIER_CFLAGS) -o $@ $< \
		$(SEALINED_COURIER_OBJS) $(BUILD)/libdaemon-test.a $(NL_LIBS) \
		$(GCRYPT_LIBS) $(COURIER_LIBS) -lpthread
