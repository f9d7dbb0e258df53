/* Streams without a transport: a service reads a body it is handed piece by
 * piece, and writes a long answer piece by piece, without knowing whether a
 * FastCGI request, a file or a test buffer is at the other end. */
#ifndef FS_IO_H
#define FS_IO_H

#include <stddef.h>

/* Takes the next piece; 0 to go on, -1 to stop. */
typedef int (*fs_sink_fn)(void *ud, const char *data, size_t len);

/* A body that arrives in pieces: pump hands every piece to sink in order and
 * returns 0 when the body was whole, -1 when it was cut or unreadable. */
struct fs_source {
	int (*pump)(void *state, fs_sink_fn sink, void *ud);
	void *state;
};

/* Where a streamed answer goes: 0, or -1 once the reader has gone away. The
 * first write commits the answer, so a service can still fail before it. */
struct fs_writer {
	int (*write)(void *state, const char *data, size_t len);
	void *state;
};

#endif
