/* libFuzzer target: tracking tokens and queued hit lines on any bytes. A
 * token that parses must mint back to the same text with the same key (one
 * spelling per token); a hit line that decodes must encode back to the same
 * line. Neither may read past the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mail/track_hit.h"
#include "mail/track_token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct track_key keys[2] = { { 1, "fuzz-secret" }, { 2, "other" } };
	const char *s = (const char *)data;
	char kinds[2] = { TRACK_OPEN, TRACK_CLICK };
	struct track_ref ref;
	struct track_hit h;
	char *copy = malloc(size + 1);

	if (!copy)
		return 0;
	memcpy(copy, s, size);
	copy[size] = '\0';
	for (int k = 0; k < 2; k++) {
		if (track_token_parse(keys, 2, kinds[k], s, size, &ref) == 0) {
			char again[TRACK_TOKEN_MAX + 1];
			const struct track_key *key = ref.key_id == 1 ? &keys[0] : &keys[1];
			if (track_token_mint(key, kinds[k], ref.outbox_id,
					     kinds[k] == TRACK_CLICK ? ref.link_id : NULL, again,
					     sizeof(again)) < 0 ||
			    strlen(again) != size || memcmp(again, s, size) != 0)
				abort();
		}
	}
	if (track_hit_decode(s, size, &h) == 0) {
		char line[TRACK_HIT_MAX];
		int n = track_hit_encode(&h, line, sizeof(line));
		/* ids may come back in lower case; everything else as it was */
		if (n < 0 || (size_t)n != size || strncasecmp(line, copy, size) != 0)
			abort();
	}
	free(copy);
	return 0;
}
