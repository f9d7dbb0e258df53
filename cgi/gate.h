/* The HTTP side of authentication, shared by every responder: read the
 * credential headers, ask the auth service who is calling, answer 401/403/429
 * with the original's details, and add the rate-limit headers. */
#ifndef FS_GATE_H
#define FS_GATE_H

#include "http/context.h"

/* Install gate_authenticate as the server's authentication hook. */
void auth_install(void);
/* API key or Bearer JWT, then user state, then scope, then the rate limit;
 * fills ctx->env.auth. On refusal the answer is written and 0 returned. */
int gate_authenticate(struct fs_ctx *ctx);

#endif
