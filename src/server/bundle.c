/*
 * bundle.c — GET /v1/bundle: the issuer's trust bundle (signed by the root
 * key, verified at start-up), as base64 of its exact bytes.
 */
#include "server/server.h"

void srv_bundle(srv_req *r, srv_reply *out)
{
    srv_ok(out, json_pack("{s:I, s:o}", "seq", (json_int_t)r->srv->bundle_seq,
                          "bundle",
                          srv_json_b64(r->srv->bundle, r->srv->bundle_len)));
}
