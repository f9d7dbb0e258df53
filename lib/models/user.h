/* The account as the API shows it. */
#ifndef FS_USER_H
#define FS_USER_H

#include <json-c/json.h>

#include "core/env.h"

/* {id, email, is_active, plan, created_at} of the caller. */
json_object *user_profile_json(const struct fs_principal *p);

#endif
