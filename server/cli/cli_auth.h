/* cli_auth.h - the user, grant, revoke and key subcommands: manage users, their access and
 * the token signing keys of a data folder (the server need not be stopped). */
#ifndef OCIREG_CLI_AUTH_H
#define OCIREG_CLI_AUTH_H

int cli_user_main(int argc, char **argv);
int cli_grant_main(int argc, char **argv);
int cli_revoke_main(int argc, char **argv);
int cli_key_main(int argc, char **argv);

#endif
