/* Schema migrations: numbered files NNNN_name.sql applied in order, each in
 * its own transaction, recorded in schema_migrations so a re-run is a no-op. */
#ifndef FS_MIGRATE_H
#define FS_MIGRATE_H

#include "db/db.h"

/* Apply what dir holds and the database lacks. Returns 0 and the count applied
 * in *applied, or -1 (logged) at the first failing file, which is rolled back. */
int db_migrate(struct fs_db *db, const char *dir, int *applied);

#endif
