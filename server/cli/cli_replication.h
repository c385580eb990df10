/* cli_replication.h - `ocireg replication`: destinations (where a region + registry id is and
 * how to log in), each image's status per destination, and sync (replicating what exists). */
#ifndef OCIREG_CLI_REPLICATION_H
#define OCIREG_CLI_REPLICATION_H

int cli_replication_main(int argc, char **argv);

#endif
