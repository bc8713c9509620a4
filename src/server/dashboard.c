/*
 * dashboard.c — GET /dashboard and GET /dashboard/NAME: the operator's
 * dashboard (docs/dashboard.md), one page with its script and style sheet,
 * compiled into offpayd from src/server/dashboard/ (src/CMakeLists.txt
 * makes them byte arrays). The files hold no data and need no token: the
 * page asks the operator for the token and reads the admin JSON
 * endpoints (GET /v1/admin/overview, /v1/admin/cases, the evidence) with
 * it, from this origin only, under a strict Content-Security-Policy.
 */
#include <stdlib.h>
#include <string.h>

#include "server/server.h"

/* The page's files (generated dashboard_assets.c). */
extern const unsigned char srv_dash_index_html[];
extern const size_t        srv_dash_index_html_len;
extern const unsigned char srv_dash_app_js[];
extern const size_t        srv_dash_app_js_len;
extern const unsigned char srv_dash_style_css[];
extern const size_t        srv_dash_style_css_len;

const char *const srv_page_headers[SRV_PAGE_HEADERS][2] = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; "
     "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
     "form-action 'none'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Cache-Control", "no-store"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
};

typedef struct asset {
    const char          *name; /* after /dashboard/; "" for the page */
    const char          *ctype;
    const unsigned char *bytes;
    const size_t        *len;
} asset;

static const asset assets[] = {
    {"", "text/html; charset=utf-8", srv_dash_index_html,
     &srv_dash_index_html_len},
    {"app.js", "text/javascript; charset=utf-8", srv_dash_app_js,
     &srv_dash_app_js_len},
    {"style.css", "text/css; charset=utf-8", srv_dash_style_css,
     &srv_dash_style_css_len},
};

void srv_dashboard(srv_req *r, srv_reply *out)
{
    const char *name = strcmp(r->path, "/dashboard") == 0 ? "" : r->cap[0];

    for (size_t i = 0; i < sizeof assets / sizeof assets[0]; i++) {
        if (strcmp(assets[i].name, name) != 0)
            continue;
        out->text = malloc(*assets[i].len + 1);
        if (out->text == NULL) {
            srv_fail(out, SRV_E_INTERNAL, "out of memory");
            return;
        }
        memcpy(out->text, assets[i].bytes, *assets[i].len);
        out->text[*assets[i].len] = '\0';
        out->ctype = assets[i].ctype;
        out->status = 200;
        return;
    }
    srv_fail(out, SRV_E_NOT_FOUND, "the dashboard has no such file");
}
