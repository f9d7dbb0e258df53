/* Paging helpers shared by every listing. */
#include "json/page.h"

#include <stdio.h>

void fs_page_limits(const struct fs_page *p, char limit[24], char offset[24])
{
	snprintf(limit, 24, "%lld", (long long)p->page_size);
	snprintf(offset, 24, "%lld", (long long)p->offset);
}

json_object *fs_page_json(const struct fs_page *p, json_object *items, int64_t total)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "items", items);
	json_object_object_add(o, "total", json_object_new_int64(total));
	json_object_object_add(o, "page", json_object_new_int64(p->page));
	json_object_object_add(o, "page_size", json_object_new_int64(p->page_size));
	return o;
}
