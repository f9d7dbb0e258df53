/* One page of a listing: the page and size asked for, their SQL LIMIT and
 * OFFSET, and the {items, total, page, page_size} answer. */
#ifndef FS_PAGE_H
#define FS_PAGE_H

#include <json-c/json.h>
#include <stdint.h>

struct fs_page {
	int64_t page;
	int64_t page_size;
	int64_t offset;
};

/* The page's LIMIT and OFFSET as text parameters. */
void fs_page_limits(const struct fs_page *p, char limit[24], char offset[24]);
/* {items, total, page, page_size}; takes over items. */
json_object *fs_page_json(const struct fs_page *p, json_object *items, int64_t total);

#endif
