/* metrics.h - Prometheus counters of the HTTP server (requests by method, route and status,
 * latency histograms by route, bytes in and out) and the /metrics endpoint that also reports
 * storage, upload sessions and gc totals from the index. Lock-free: relaxed atomic adds. */
#ifndef OCIREG_METRICS_H
#define OCIREG_METRICS_H

#include "server/http/http.h"

void metrics_record(const request *req, unsigned status, double seconds);
void handle_metrics(request *req);

#endif
