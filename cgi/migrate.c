/* flowsend-migrate: applies schema/ to the database as the owner role. */
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "db/migrate.h"

int main(int argc, char **argv)
{
	const char *dir = "schema";
	char err[256];
	struct fs_db db;
	int applied = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--dir SCHEMA_DIR]\n", argv[0]);
			return 2;
		}
	}
	log_setup("migrate", LOG_INFO);
	if (fs_config_load_global(err, sizeof(err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	db_init(&db, fs_config()->database_migrate_url);
	rc = db_migrate(&db, dir, &applied);
	db_close(&db);
	if (rc < 0)
		return 1;
	printf("migrations: %d applied\n", applied);
	return 0;
}
