/* A flow's steps: parse and validate the steps JSON array (API.md, flows) into
 * a small struct the API and the engine share. Indices are 0-based; a jump to
 * n (the number of steps) ends the execution. Pure: no database, no HTTP. */
#ifndef FS_FLOW_STEPS_H
#define FS_FLOW_STEPS_H

#include <json-c/json.h>
#include <stddef.h>

#include "core/arena.h"

#define FLOW_STEPS_MAX 100       /* steps in one flow */
#define FLOW_SPLIT_MAX 10        /* branches of one split */
#define FLOW_SPLIT_WEIGHT_MAX 10000
#define FLOW_DELAY_HOURS_MAX 8784   /* a (leap) year */
#define FLOW_DELAY_MINUTES_MAX 527040
#define FLOW_SUBJECT_MAX 500     /* code points */
#define FLOW_VALUE_MAX 255       /* condition field keys and values, code points */
#define FLOW_URL_MAX 2048        /* bytes */

enum flow_step_type {
	FLOW_STEP_EMAIL,
	FLOW_STEP_DELAY,
	FLOW_STEP_CONDITION,
	FLOW_STEP_SPLIT,
	FLOW_STEP_WEBHOOK,
};

enum flow_condition {
	FLOW_COND_TAG_EQUALS,    /* the contact has tag `value` */
	FLOW_COND_FIELD_GT,      /* custom_fields[field] > value, both as numbers */
	FLOW_COND_OPENED_PREVIOUS, /* the contact opened this execution's previous email */
};

/* One validated step. Strings live in the arena given to the parser. */
struct flow_step {
	enum flow_step_type type;
	/* email */
	char template_id[37];       /* lower-case canonical UUID */
	const char *subject;        /* NULL: the template's */
	/* delay: delay_hours * 3600 or delay_minutes * 60 */
	long delay_seconds;
	/* condition */
	enum flow_condition condition;
	const char *field;          /* field_gt: the key after "custom_fields." */
	const char *value;          /* tag_equals: the tag; field_gt: the number as text */
	double number;              /* field_gt: value as a number */
	int then_step, else_step;   /* 0..n */
	/* split */
	int nbranches;
	int branches[FLOW_SPLIT_MAX]; /* 0..n */
	int weights[FLOW_SPLIT_MAX];  /* positive; all 1 when not given */
	/* webhook */
	const char *url;
};

struct flow_steps {
	size_t n;
	struct flow_step *steps; /* n entries, arena memory */
};

/* Full validation (what activation requires), of a parsed JSON array: 0, or -1
 * with err "Invalid step I: <why>" naming the first bad step (or a message on
 * the whole array) and *bad_index set to I (-1 for the array). Checks types,
 * fields, jump indices in 0..n, split branches and weights, and that no loop
 * runs without a delay. Template ownership is the caller's (a database
 * question): see flow_step.template_id. */
int flow_steps_from_json(struct arena *a, json_object *arr, struct flow_steps *out, char *err,
			 size_t errlen, int *bad_index);
/* The same from JSON text of len bytes (the fuzz target's entry point). */
int flow_steps_parse(struct arena *a, const char *json, size_t len, struct flow_steps *out,
		     char *err, size_t errlen, int *bad_index);
/* The light check a draft's steps get on create and update: an array of at
 * most FLOW_STEPS_MAX objects, none giving both delay units. 0 or -1 (err,
 * *bad_index as above). */
int flow_steps_check_draft(json_object *arr, char *err, size_t errlen, int *bad_index);
/* The type's name as in the API ("email", ...). */
const char *flow_step_type_name(enum flow_step_type t);

#endif
