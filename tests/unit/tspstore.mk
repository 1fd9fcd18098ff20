# SPDX-License-Identifier: GPL-2.0
#
# Unit tests of the TSP's account store and call records (agent/tspstore.c
# and its SQLite backend agent/tspstore_sqlite.c), with the same sanitizers
# and warnings as the other host tests. Included by Makefile: the program
# joins TESTS, so "make check" runs it and counts its cases into its one
# summary line.

TSPSTORE_AGENT := ../../agent
TSPSTORE_PKG_CONFIG ?= pkg-config

TSPSTORE_SQLITE_CFLAGS := $(shell $(TSPSTORE_PKG_CONFIG) --cflags sqlite3 2>/dev/null)
TSPSTORE_SQLITE_LIBS := $(shell $(TSPSTORE_PKG_CONFIG) --libs sqlite3 2>/dev/null)
ifeq ($(TSPSTORE_SQLITE_LIBS),)
$(error sqlite3 not found by $(TSPSTORE_PKG_CONFIG): install libsqlite3-dev)
endif

TSPSTORE_TESTS := test_tspstore
TSPSTORE_SRCS := $(addprefix $(TSPSTORE_AGENT)/,tspstore.c tspstore_sqlite.c \
	config.c keyfile.c json.c log.c names.c line.c)

# The agent's and the uapi's include paths instead of the kernel's, and
# _GNU_SOURCE as the agent's own Makefile sets it.
TSPSTORE_TEST_CFLAGS = $(filter-out -I$(KMOD),$(CFLAGS)) -I$(TSPSTORE_AGENT) \
	-I$(TSPSTORE_AGENT)/../uapi -D_GNU_SOURCE $(TSPSTORE_SQLITE_CFLAGS)

TESTS += $(TSPSTORE_TESTS)
all: $(TSPSTORE_TESTS:%=$(BUILD)/%)

$(BUILD)/test_tspstore: test_tspstore.c $(TSPSTORE_SRCS) \
		$(TSPSTORE_AGENT)/tspstore.h $(TSPSTORE_AGENT)/config.h \
		$(TSPSTORE_AGENT)/json.h check.h tspstore.mk Makefile | $(BUILD)
	$(CC) $(TSPSTORE_TEST_CFLAGS) -o $@ $< $(TSPSTORE_SRCS) \
		$(TSPSTORE_SQLITE_LIBS)
