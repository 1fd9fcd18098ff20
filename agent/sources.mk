# SPDX-License-Identifier: GPL-2.0 OR MIT
#
# The agent's source lists and library probes, in one place: agent/Makefile
# builds the programs from them, and every test makefile (tests/unit,
# tests/fuzz, tests/line, tests/tsp, tests/bench) includes this file instead
# of naming sources itself. Set AGENT to the agent directory (relative or
# absolute) before including it.
#
# The rooms (README.md, "Layout"):
#   lib/       shared by the programs: configuration, control socket, logs,
#              session log, JSON, netlink client, names, line references,
#              key files, the key store, the Hayes modem driver,
#              systemd's readiness protocol, the daemons' start-up
#   proto/     pure engines and cryptography, no I/O of their own: the
#              wire vocabulary, Noise, the handshakes, call setup, the
#              courier's channel and transfer protocol
#   sealined/  the endpoint daemon: lines, the handshake driver, dial-up
#   tsp/       the TSP daemon, sealtspd, and its account store (SQLite,
#              PostgreSQL)
#   courier/   the courier's engine: envelopes (one-way Noise, STREAM
#              chunks), packing and safe extraction (libarchive, zstd),
#              Ed25519 receipts
#   sealctl/   the command-line tool, one file per command group
#   ui/        sealine-ui, the local web interface (libmicrohttpd)
#   dist/      systemd units, udev rule, example configuration

AGENT ?= $(dir $(lastword $(MAKEFILE_LIST)))
AGENT_TOP := $(patsubst %/,%,$(AGENT))/..

# The one version of everything (lib/version.h).
SEALINE_VERSION := $(shell cat $(AGENT_TOP)/VERSION)
ifeq ($(SEALINE_VERSION),)
$(error cannot read the version from $(AGENT_TOP)/VERSION)
endif

AGENT_ROOMS := lib proto sealined tsp sealctl courier ui
AGENT_INCLUDES := $(foreach r,$(AGENT_ROOMS),-I$(AGENT)/$(r)) \
	-I$(AGENT_TOP)/uapi -D_GNU_SOURCE \
	-DSEALINE_VERSION='"$(SEALINE_VERSION)"'
# The warnings every file of the agent builds with: errors, unless
# WERROR=0 (for distributions, whose newer compilers may warn of more:
# debian/rules sets it).
WERROR ?= 1
AGENT_WARN := -Wall -Wextra $(if $(filter 0,$(WERROR)),,-Werror) -Wshadow \
	-Wformat=2 -Wstrict-prototypes -Wmissing-prototypes

# Sources, relative to $(AGENT). LIB_CORE_SRCS need no library beyond
# libc and libnl; the key store, the modem driver, the byte queue,
# sd_notify and the start-up are the daemons' (on libgcrypt).
LIB_CORE_SRCS := lib/config.c lib/ipc.c lib/log.c lib/sessionlog.c \
	lib/json.c lib/netlink.c lib/names.c lib/lineref.c lib/keyfile.c \
	lib/hex.c lib/fdio.c
LIB_DAEMON_SRCS := lib/keystore.c lib/keystore_file.c lib/modem.c lib/byteq.c \
	lib/sdnotify.c lib/daemon.c lib/rawline.c
# The cryptography on libgcrypt, the Noise framework, the wire vocabulary.
PROTO_CRYPTO_SRCS := proto/crypto.c proto/sas.c
PROTO_NOISE_SRCS := proto/noise.c
PROTO_WIRE_SRCS := proto/wire.c
# The end-to-end handshakes (pairing, session, rekey) of one line: one
# engine in four files (proto/hs_internal.h says which holds what).
PROTO_HS_SRCS := proto/hs_engine.c proto/hs_input.c proto/hs_pair.c \
	proto/hs_session.c
# Call setup through a TSP, both sides of a leg: what they share, the
# endpoint's side, the TSP's side.
PROTO_CALL_SRCS := proto/call.c proto/call_endpoint.c proto/call_leg.c
# The courier's channel (its messages sealed under a session's courier
# keys) and its transfer protocol: pure, as the handshakes; and on top of
# them and call setup the endpoint's side of a leg to the TSP itself
# (store and forward: hand-over, collection).
PROTO_COURIER_SRCS := proto/cchan.c proto/xfer.c
PROTO_SAFLEG_SRCS := proto/safleg.c
PROTO_SRCS := $(PROTO_CRYPTO_SRCS) $(PROTO_NOISE_SRCS) $(PROTO_WIRE_SRCS) \
	$(PROTO_HS_SRCS) $(PROTO_CALL_SRCS) $(PROTO_COURIER_SRCS) \
	$(PROTO_SAFLEG_SRCS)
# The courier's engine, and what it needs from the other rooms.
COURIER_SRCS := courier/oneway.c courier/header.c courier/stream.c \
	courier/reasons.c courier/paths.c courier/pack.c courier/extract.c \
	courier/unpack.c courier/sign.c courier/receipt.c courier/tsptext.c
# The sender's side of "send" (packed files on the pipe to sealined): on
# top of the engine and the control protocol (lib/ipc.c).
COURIER_SEND_SRCS := courier/packpipe.c
# sealined's durable stores of the courier: outbox, spool, their logs.
COURIER_STORE_SRCS := sealined/cstore.c sealined/outbox.c sealined/spool.c
COURIER_NEEDS_SRCS := lib/hex.c lib/fdio.c lib/log.c $(PROTO_CRYPTO_SRCS) \
	$(PROTO_NOISE_SRCS)
# The kernel's frame layer, plain C, for lines framed in user space; its
# replay window, for the courier channel.
KFRAME_SRC := $(AGENT_TOP)/kmod/frame.c
KREPLAY_SRC := $(AGENT_TOP)/kmod/replay.c

# The two daemons. Only sealtspd (and sealctl) link the account store
# (SQLite, PostgreSQL): an endpoint never needs it.
TSP_STORE_SRCS := tsp/tspstore.c tsp/tspstore_schema.c tsp/tspstore_sqlite.c \
	tsp/tspstore_pg.c tsp/tspstore_spool.c
# Store and forward's spool and the TSP's sides of a hand-over and of a
# delivery; of the courier only its Ed25519 signatures (the acceptance),
# receipts' form and its refusal codes, never the code that opens an
# envelope.
TSP_SPOOL_SRCS := tsp/tspspool.c tsp/deposit.c tsp/delivery.c \
	courier/sign.c courier/receipt.c courier/reasons.c
SEALTSPD_SRCS := tsp/main.c tsp/tsp.c tsp/tspline.c tsp/routing.c tsp/saf.c \
	tsp/tspq.c tsp/tspport.c tsp/telnet.c $(TSP_SPOOL_SRCS) \
	$(TSP_STORE_SRCS)
SEALINED_SRCS := sealined/main.c sealined/lines.c sealined/line_hs.c \
	sealined/operator.c sealined/kernel_nl.c sealined/dialer.c sealined/dialer_leg.c \
	sealined/demand.c sealined/hs_noise.c sealined/cli.c \
	$(COURIER_STORE_SRCS) sealined/courier.c sealined/courier_line.c \
	sealined/courier_ipc.c sealined/courier_intake.c sealined/unpacker.c \
	sealined/courier_tsp.c sealined/courier_held.c
SEALCTL_SRCS := sealctl/main.c sealctl/show.c sealctl/setkey.c sealctl/setline.c \
	sealctl/genkey.c sealctl/monitor.c sealctl/client.c sealctl/status.c \
	sealctl/peers.c sealctl/log.c sealctl/pair.c sealctl/call.c sealctl/tsp.c \
	sealctl/send.c sealctl/outbox.c sealctl/inbox.c sealctl/receipt.c \
	sealctl/clog.c sealctl/tspspool.c
# sealine-ui: the only program that speaks HTTP (ui/ui.h).
UI_SRCS := ui/main.c ui/http.c ui/buf.c ui/client.c ui/upload.c ui/folders.c ui/pages.c \
	ui/inbox.c ui/logs.c ui/pair.c ui/tsp.c ui/assets.c

# Library probes (pkg-config), shared by all.
PKG_CONFIG ?= pkg-config
NL_CFLAGS := $(shell $(PKG_CONFIG) --cflags libnl-genl-3.0 2>/dev/null)
NL_LIBS := $(shell $(PKG_CONFIG) --libs libnl-genl-3.0 2>/dev/null)
GCRYPT_CFLAGS := $(shell $(PKG_CONFIG) --cflags libgcrypt 2>/dev/null)
GCRYPT_LIBS := $(shell $(PKG_CONFIG) --libs libgcrypt 2>/dev/null)
SQLITE_CFLAGS := $(shell $(PKG_CONFIG) --cflags sqlite3 2>/dev/null)
SQLITE_LIBS := $(shell $(PKG_CONFIG) --libs sqlite3 2>/dev/null)
PQ_CFLAGS := $(shell $(PKG_CONFIG) --cflags libpq 2>/dev/null)
PQ_LIBS := $(shell $(PKG_CONFIG) --libs libpq 2>/dev/null)
# The TSP's store: both backends, always together.
STORE_CFLAGS := $(SQLITE_CFLAGS) $(PQ_CFLAGS)
STORE_LIBS := $(SQLITE_LIBS) $(PQ_LIBS)
COURIER_CFLAGS := $(shell $(PKG_CONFIG) --cflags libarchive libzstd 2>/dev/null)
COURIER_LIBS := $(shell $(PKG_CONFIG) --libs libarchive libzstd 2>/dev/null)
MHD_CFLAGS := $(shell $(PKG_CONFIG) --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS := $(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null)
ifeq ($(NL_LIBS),)
$(error libnl-genl-3.0 not found by $(PKG_CONFIG): install libnl-genl-3-dev (scripts/install-deps))
endif
ifeq ($(GCRYPT_LIBS),)
$(error libgcrypt not found by $(PKG_CONFIG): install libgcrypt20-dev (scripts/install-deps))
endif
ifeq ($(SQLITE_LIBS),)
$(error sqlite3 not found by $(PKG_CONFIG): install libsqlite3-dev (scripts/install-deps))
endif
ifeq ($(PQ_LIBS),)
$(error libpq not found by $(PKG_CONFIG): install libpq-dev (scripts/install-deps))
endif
ifeq ($(MHD_LIBS),)
$(error libmicrohttpd not found by $(PKG_CONFIG): install libmicrohttpd-dev (scripts/install-deps))
endif
ifeq ($(COURIER_LIBS),)
$(error libarchive or libzstd not found by $(PKG_CONFIG): install libarchive-dev libzstd-dev (scripts/install-deps))
endif

# Every header of the agent, for dependency lists of test programs.
AGENT_HDRS = $(foreach r,$(AGENT_ROOMS),$(wildcard $(AGENT)/$(r)/*.h)) \
	$(AGENT_TOP)/uapi/linux/sealine.h

# $(call agent_srcs,LIST): LIST with $(AGENT)/ in front.
agent_srcs = $(addprefix $(AGENT)/,$(1))
