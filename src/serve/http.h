// http.h — the HTTP layer's entry points for server.c (internal).
#ifndef DC_SERVE_HTTP_H
#define DC_SERVE_HTTP_H

#include "serve/serve.h"

// Binds host:port and starts libmicrohttpd's threads; s->port is then set.
dc_status serve_http_start(serve_server *s, dc_error *err);
// Stops accepting connections (open ones stay, answered 503 while draining).
void serve_http_quiesce(serve_server *s);
// Stops libmicrohttpd (no connection may be suspended) and frees the pool.
void serve_http_stop(serve_server *s);

#endif
