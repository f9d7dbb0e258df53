# FlowSend: one Makefile builds the library, the responders, the tools and the
# tests; `make run` and `make test` also bring up what they need (scripts/).

BUILD    ?= build
CC       ?= cc
SAN      ?=
PKGS     := json-c libjwt hiredis libsodium libcurl libpq opendkim
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wvla
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_DEFAULT_SOURCE -D_POSIX_C_SOURCE=200809L $(WARN) -pthread \
            -fstack-protector-strong -Ilib $(PKG_CFLAGS) -I/usr/include/postgresql
ifeq ($(FUZZ),1)
CFLAGS   += -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=fuzzer,address,undefined
else ifeq ($(SAN),1)
CFLAGS   += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
else
CFLAGS   += -D_FORTIFY_SOURCE=2
endif
LDLIBS   := -lfcgi $(PKG_LIBS) -lpq -lssl -lcrypto -lm -pthread
# res_nquery: the sender-domain check asks a chosen DNS server (services/domains.c).
LDLIBS   += -lresolv

LIB_SRC  := $(sort $(wildcard lib/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIBA     := $(BUILD)/libflowsend.a

RESPONDERS := health openapi auth apikeys settings billing contacts templates campaigns \
              unsubscribe track webhooks flows forms
RESP_BIN := $(RESPONDERS:%=$(BUILD)/bin/fs-%)
TOOL_BIN := $(BUILD)/bin/flowsend-migrate $(BUILD)/bin/flowsend-batch $(BUILD)/bin/flowsend-bounce

UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
E2E_SRC  := $(sort $(wildcard tests/e2e/*.c))
UNIT_BIN := $(BUILD)/tests/unit_tests
E2E_BIN  := $(BUILD)/tests/e2e_tests
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

.PHONY: all run stop test unit e2e bench fuzz fuzz-targets deps clean format tests dashboard landing

all: $(LIBA) $(RESP_BIN) $(TOOL_BIN)

SINK_BIN := $(BUILD)/tests/smtp_sink

tests: $(UNIT_BIN) $(E2E_BIN) $(SINK_BIN)

# The SMTP server the end-to-end tests deliver to (tests/sink/smtp_sink.c).
$(SINK_BIN): $(BUILD)/tests/sink/smtp_sink.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lssl -lcrypto -pthread

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# The OpenAPI document is compiled into its responder as a byte array.
$(BUILD)/gen/openapi_json.c: docs/openapi.json
	@mkdir -p $(dir $@)
	@python3 -c 'import json,sys; json.load(open(sys.argv[1]))' $< || \
	  { echo "docs/openapi.json is not valid JSON" >&2; exit 1; }
	{ echo 'const unsigned char openapi_json[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0x00};'; \
	  echo "const unsigned long openapi_json_len = $$(wc -c < $<);"; } > $@

# Shared by every responder: the HTTP side of authentication.
CGI_COMMON := $(BUILD)/cgi/gate.o

$(BUILD)/bin/fs-openapi: $(BUILD)/cgi/openapi.o $(BUILD)/gen/openapi_json.o $(CGI_COMMON) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/fs-%: $(BUILD)/cgi/%.o $(CGI_COMMON) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bin/flowsend-%: $(BUILD)/cgi/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(UNIT_BIN): $(UNIT_SRC:%.c=$(BUILD)/%.o) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

$(E2E_BIN): $(E2E_SRC:%.c=$(BUILD)/%.o) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(CHECK_LIBS)

FUZZ_SRC := $(sort $(wildcard tests/fuzz/*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)

fuzz-targets: $(FUZZ_BIN)

$(BUILD)/fuzz/%: $(BUILD)/tests/fuzz/%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

deps:
	@scripts/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/dashboard.sh
	@scripts/landing.sh
	@scripts/stack.sh start run

stop:
	@scripts/stack.sh stop run

# The dashboard's static export (dashboard/), rebuilt when its sources changed;
# nginx serves it at /app/ (scripts/dashboard.sh, scripts/stack.sh).
dashboard:
	@scripts/dashboard.sh

# The landing page's static export (landing/), the same way; nginx serves it at /.
landing:
	@scripts/landing.sh

# Unit tests, end-to-end tests through nginx on a private instance, then the
# unit tests under valgrind and under ASan+UBSan.
test: deps
	@$(MAKE) --no-print-directory all tests
	@scripts/test.sh

$(BUILD)/bench/render: bench/render.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

$(BUILD)/bench/dkim: bench/dkim.c bench/sample_message.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

$(BUILD)/bench/smtp_pool: bench/smtp_pool.c bench/sample_message.h $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

unit: $(UNIT_BIN)
	$(UNIT_BIN)

bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/bench/render $(BUILD)/bench/dkim
	@bench/run.sh

fuzz: deps
	@scripts/fuzz.sh

format:
	clang-format -i $(LIB_SRC) $(wildcard lib/*/*.h cgi/*.c tests/*/*.c tests/*/*.h)

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
