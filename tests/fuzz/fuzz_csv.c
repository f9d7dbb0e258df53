/* libFuzzer target: the streaming CSV reader, fed the same input whole and in
 * chunks whose sizes come from the input itself; both must agree. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/csv.h"

static int digest(void *ud, size_t no, const char *const *f, const size_t *lens, size_t n,
		  enum csv_error error)
{
	uint64_t *h = ud;
	if (n > CSV_MAX_FIELDS)
		__builtin_trap();
	*h = *h * 31 + no * 7 + n + (uint64_t)error * 1000003;
	for (size_t i = 0; i < n; i++) {
		if (f[i][lens[i]] != '\0')
			__builtin_trap();
		for (size_t k = 0; k < lens[i]; k++)
			*h = *h * 131 + (unsigned char)f[i][k];
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csv_reader r;
	uint64_t whole = 0, chunked = 0;
	size_t off = 0, step;

	csv_init(&r, digest, &whole);
	csv_feed(&r, (const char *)data, size);
	csv_finish(&r);
	csv_free(&r);

	csv_init(&r, digest, &chunked);
	while (off < size) {
		step = 1 + data[off] % 7;
		if (step > size - off)
			step = size - off;
		csv_feed(&r, (const char *)data + off, step);
		off += step;
	}
	csv_finish(&r);
	csv_free(&r);
	if (whole != chunked)
		__builtin_trap();
	return 0;
}
