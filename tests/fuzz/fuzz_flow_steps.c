/* libFuzzer target: the flow step validator. Whatever the input, an error
 * naming a step inside the array (or the array), or steps whose every jump
 * stays within 0..n. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "models/flow_steps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	struct flow_steps st;
	char err[256];
	int bi = -2;

	arena_init(&a, 0);
	if (flow_steps_parse(&a, (const char *)data, size, &st, err, sizeof(err), &bi) == 0) {
		int n = (int)st.n;
		if (n < 1 || n > FLOW_STEPS_MAX)
			__builtin_trap();
		for (int i = 0; i < n; i++) {
			const struct flow_step *s = &st.steps[i];
			if (s->type == FLOW_STEP_CONDITION &&
			    (s->then_step < 0 || s->then_step > n || s->else_step < 0 || s->else_step > n))
				__builtin_trap();
			if (s->type == FLOW_STEP_SPLIT) {
				if (s->nbranches < 2 || s->nbranches > FLOW_SPLIT_MAX)
					__builtin_trap();
				for (int k = 0; k < s->nbranches; k++)
					if (s->branches[k] < 0 || s->branches[k] > n || s->weights[k] < 1)
						__builtin_trap();
			}
			if (s->type == FLOW_STEP_DELAY && s->delay_seconds < 60)
				__builtin_trap();
			if (s->type == FLOW_STEP_EMAIL && strlen(s->template_id) != 36)
				__builtin_trap();
		}
	} else if (bi < -1 || bi >= FLOW_STEPS_MAX || !err[0]) {
		__builtin_trap();
	}
	arena_destroy(&a);
	return 0;
}
