/* User model: only what a client may see; the password hash never leaves SQL. */
#include "models/user.h"

#include "json/json.h"

json_object *user_profile_json(const struct fs_principal *p)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(p->user_id));
	json_object_object_add(o, "email", json_object_new_string(p->email));
	json_object_object_add(o, "is_active", json_object_new_boolean(p->is_active));
	json_object_object_add(o, "email_verified", json_object_new_boolean(p->email_verified));
	json_object_object_add(o, "plan", json_object_new_string(p->plan));
	json_object_object_add(o, "created_at", fs_json_str_or_null(p->created_at));
	return o;
}
