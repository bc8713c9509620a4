/*
 * health.c — GET /v1/health: the server is up; its version and clock.
 */
#include "server/server.h"

void srv_health(srv_req *r, srv_reply *out)
{
    srv_ok(out, json_pack("{s:s, s:s, s:I}", "status", "ok", "version",
                          offpay_version(), "time", (json_int_t)r->now));
}
