/* UUIDs and random bytes from the kernel (getrandom), no state to seed. */
#include "core/uuid.h"

#include <errno.h>
#include <stdint.h>
#include <time.h>
#include <sys/random.h>

int uuid_valid(const char *s, size_t len)
{
	if (len != UUID_STR_LEN)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return 0;
		} else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			     (c >= 'A' && c <= 'F'))) {
			return 0;
		}
	}
	return 1;
}

int random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;

	while (len > 0) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* The 16 bytes in the 8-4-4-4-12 text form, with the version and variant set. */
static void uuid_format(unsigned char b[16], int version, char out[UUID_STR_LEN + 1])
{
	char hex[33];
	size_t o = 0;

	b[6] = (unsigned char)((b[6] & 0x0f) | (version << 4));
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	hex_encode(b, 16, hex);
	for (int i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = hex[i];
	}
	out[o] = '\0';
}

int uuid_generate(char out[UUID_STR_LEN + 1])
{
	unsigned char b[16];

	if (random_bytes(b, sizeof(b)) < 0)
		return -1;
	uuid_format(b, 4, out);
	return 0;
}

int uuid_generate_v7(char out[UUID_STR_LEN + 1])
{
	unsigned char b[16];
	struct timespec ts;
	uint64_t ms;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || random_bytes(b + 6, 10) < 0)
		return -1;
	ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	for (int i = 5; i >= 0; i--, ms >>= 8)
		b[i] = (unsigned char)(ms & 0xff);
	uuid_format(b, 7, out);
	return 0;
}

int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
