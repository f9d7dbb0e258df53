/* libFuzzer target: the HTTP edge's parsers. The first byte picks one:
 * even, FLOWSEND_CORS_ORIGINS (the rest as the list); odd, a stored
 * idempotency answer (the rest as its packed form). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "http/cors.h"
#include "http/idempotency.h"

static void origins(const char *list)
{
	struct fs_config c, again;
	char err[256];

	memset(&c, 0, sizeof(c));
	if (fs_config_parse_origins(&c, list, err, sizeof(err)) < 0)
		return;
	for (size_t i = 0; i < c.cors_norigins; i++) {
		/* Normalising is idempotent, and an origin always matches itself. */
		memset(&again, 0, sizeof(again));
		if (fs_config_parse_origins(&again, c.cors_origins[i], err, sizeof(err)) < 0 ||
		    again.cors_norigins != 1 || strcmp(again.cors_origins[0], c.cors_origins[i]) ||
		    fs_cors_allow_origin(&c, c.cors_origins[i]) != c.cors_origins[i])
			__builtin_trap();
	}
}

static void answer(const char *data, size_t size)
{
	struct arena a;
	struct fs_response res;
	struct strbuf back = STRBUF_INIT;

	arena_init(&a, 0);
	fs_response_init(&res);
	/* What unpacks packs back to the same bytes. */
	if (fs_idempotency_unpack(data, size, &a, &res) == 0 &&
	    (fs_idempotency_pack(&res, 0, &back) < 0 || back.len > size + 8))
		__builtin_trap();
	strbuf_free(&back);
	fs_response_free(&res);
	arena_destroy(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;

	if (size < 1)
		return 0;
	copy = malloc(size);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	if (data[0] % 2 == 0)
		origins(copy);
	else
		answer(copy, size - 1);
	free(copy);
	return 0;
}
