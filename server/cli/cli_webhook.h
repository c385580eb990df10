/* cli_webhook.h - `ocireg webhook`: add, list, delete and test the webhooks events are POSTed
 * to, list their deliveries and send parked ones again (the server need not be stopped). */
#ifndef OCIREG_CLI_WEBHOOK_H
#define OCIREG_CLI_WEBHOOK_H

int cli_webhook_main(int argc, char **argv);

#endif
