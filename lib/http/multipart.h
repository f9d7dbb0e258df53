/* A streaming multipart/form-data reader: hands the bytes of the uploaded
 * file part to a callback as they arrive, holding back only what might be
 * the start of the next boundary. */
#ifndef FS_MULTIPART_H
#define FS_MULTIPART_H

#include <stddef.h>

#include "core/strbuf.h"

typedef int (*multipart_data_fn)(void *ud, const char *data, size_t len);

struct multipart {
	char delim[80];      /* "\r\n--" + boundary */
	size_t dlen;
	int state;
	size_t matched;      /* bytes of delim matched so far */
	struct strbuf headers;
	struct strbuf out;   /* file bytes waiting to be handed over */
	int in_file, file_seen, file_done, failed;
	multipart_data_fn cb;
	void *ud;
};

/* 0, or -1 when content_type has no usable boundary. */
int multipart_init(struct multipart *m, const char *content_type, multipart_data_fn cb, void *ud);
/* Feed body bytes; -1 when the body is malformed or the callback failed. */
int multipart_feed(struct multipart *m, const char *data, size_t len);
/* 1 when a file part was read to its closing boundary. */
int multipart_file_complete(const struct multipart *m);
void multipart_free(struct multipart *m);

#endif
