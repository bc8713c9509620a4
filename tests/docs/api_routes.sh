#!/usr/bin/env bash
# docs.api_routes: offpayd's routing table (src/server/http.c) and
# docs/api.md name the same endpoints. Every route has an example request
# in api.md (a line "METHOD /path" in a code block, ids as numbers), and
# every example request names a route (GET /dashboard/* serves the
# page's files, which api.md names one by one). HEAD is answered by the GET routes
# that take it (health, metrics) and is not a route of its own.
# Usage: api_routes.sh SOURCE_DIR
set -euo pipefail
SRC=${1:?usage: api_routes.sh SOURCE_DIR}
HTTP=$SRC/src/server/http.c
API=$SRC/docs/api.md
tmp=$(mktemp -d /tmp/offpay-test-routes.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# the table: {"METHOD", "/pattern", ... in routes[]
sed -n '/^static const route routes\[\] = {/,/^};/p' "$HTTP" \
  | grep -oE '\{"(GET|POST|PUT|DELETE|PATCH)", "[^"]+"' \
  | sed -E 's/^\{"([A-Z]+)", "([^"]+)"$/\1 \2/' | sort -u > "$tmp/routes"
# api.md's requests: a line of an example starting "GET /" or "POST /",
# or one named in the text as `GET /path`; the query dropped, numeric
# path segments (and a placeholder N) as the table's '*'
{ grep -E '^(GET|POST|PUT|DELETE|PATCH) /' "$API" | awk '{print $1, $2}'
  grep -oE '`(GET|POST|PUT|DELETE|PATCH) /[^` ]*`' "$API" | tr -d '`'
} | sed -E 's/\?.*$//; s#/([0-9]+|N)(/|$)#/*\2#g; s#/([0-9]+|N)(/|$)#/*\2#g' \
  | sed -E 's#^GET /dashboard/.+#GET /dashboard/*#' \
  | sort -u > "$tmp/docs"

[ -s "$tmp/routes" ] || { echo "FAIL no routes read from $HTTP"; exit 1; }
[ -s "$tmp/docs" ] || { echo "FAIL no requests read from $API"; exit 1; }
missing=$(comm -23 "$tmp/routes" "$tmp/docs" || true)
unknown=$(comm -13 "$tmp/routes" "$tmp/docs" || true)
rc=0
if [ -n "$missing" ]; then
  echo "FAIL routes of http.c with no example request in docs/api.md:"
  sed 's/^/  /' <<<"$missing"; rc=1
fi
if [ -n "$unknown" ]; then
  echo "FAIL requests in docs/api.md that no route of http.c answers:"
  sed 's/^/  /' <<<"$unknown"; rc=1
fi
[ "$rc" = 0 ] && echo "ok   the $(wc -l < "$tmp/routes") routes of http.c and docs/api.md's requests are the same set"
exit "$rc"
