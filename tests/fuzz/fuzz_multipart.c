/* libFuzzer target: the multipart reader, fed whole and in input-chosen
 * chunks; both must hand over the same file bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http/multipart.h"

static int digest(void *ud, const char *data, size_t len)
{
	uint64_t *h = ud;
	for (size_t i = 0; i < len; i++)
		*h = *h * 131 + (unsigned char)data[i];
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct multipart m;
	uint64_t whole = 0, chunked = 0;
	int a, b;
	size_t off = 0;

	if (multipart_init(&m, "multipart/form-data; boundary=XyZ", digest, &whole) < 0)
		__builtin_trap();
	multipart_feed(&m, (const char *)data, size);
	a = multipart_file_complete(&m);
	multipart_free(&m);

	multipart_init(&m, "multipart/form-data; boundary=XyZ", digest, &chunked);
	while (off < size) {
		size_t step = 1 + data[off] % 5;
		if (step > size - off)
			step = size - off;
		if (multipart_feed(&m, (const char *)data + off, step) < 0)
			break;
		off += step;
	}
	b = multipart_file_complete(&m);
	multipart_free(&m);
	if (a != b || (a && whole != chunked))
		__builtin_trap();
	return 0;
}
