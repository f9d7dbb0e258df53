/* Dynamic-list rules compiled to parameterised SQL. Fields and operators come
 * from an allow-list; values only ever travel as parameters. */
#ifndef FS_SEGMENTS_H
#define FS_SEGMENTS_H

#include <json-c/json.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/strbuf.h"

#define SEGMENT_MAX_CONDITIONS 50
#define SEGMENT_MAX_PARAMS (2 * SEGMENT_MAX_CONDITIONS)

struct segment {
	struct strbuf where;  /* a boolean SQL expression over contacts aliased "c" */
	const char *params[SEGMENT_MAX_PARAMS];
	int nparams;
};

/* Compile rules (a parsed JSON object) into seg, numbering placeholders from
 * first_param ($first_param, ...). Strings live in a. 0, or -1 with a message
 * naming the bad condition in err. The caller frees seg->where. */
int segment_compile(struct arena *a, json_object *rules, int first_param, struct segment *seg,
		    char *err, size_t errlen);
/* The same from raw JSON text: the pure (data, size) entry the fuzz target drives. */
int segment_compile_text(struct arena *a, const char *data, size_t len, int first_param,
			 struct segment *seg, char *err, size_t errlen);

#endif
