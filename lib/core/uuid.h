/* UUID text form: validation and generation (random v4, time-ordered v7). */
#ifndef FS_UUID_H
#define FS_UUID_H

#include <stddef.h>

#define UUID_STR_LEN 36

/* 1 when s[0..len) is a canonical 8-4-4-4-12 hex UUID (either case). */
int uuid_valid(const char *s, size_t len);
/* Write a random v4 UUID and its NUL into out[37]; 0, or -1 if no randomness. */
int uuid_generate(char out[UUID_STR_LEN + 1]);
/* A v7 UUID (RFC 9562: the Unix time in milliseconds, then random bits), as
 * flowsend_uuid7() makes them: ordered by time, so keys go in at the index's
 * end. 0, or -1 if no randomness. */
int uuid_generate_v7(char out[UUID_STR_LEN + 1]);
/* Fill buf with cryptographically random bytes; 0 or -1. */
int random_bytes(void *buf, size_t len);
/* Lower-case hex of len bytes into out (2 * len + 1 bytes). */
void hex_encode(const unsigned char *in, size_t len, char *out);
/* The value of one hex digit (either case), or -1. */
int hex_value(char c);

#endif
