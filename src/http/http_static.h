/* http_static.h: serving the built web UI (web/dist) — internal to src/http/. */
#ifndef SHOULI_HTTP_STATIC_H
#define SHOULI_HTTP_STATIC_H

#include <microhttpd.h>

/* Serve url from root: files with their content type, ETag + If-None-Match (304),
 * Cache-Control (hashed assets immutable, pages no-cache), precompressed "<file>.gz" when the
 * client accepts gzip, SPA fallback to "<entry>/index.html" for unknown paths below an entry
 * page, "/" redirected to "/console/". Only GET and HEAD. *status gets the status sent. */
enum MHD_Result http_static_serve(struct MHD_Connection *conn, const char *root, const char *url,
                                  const char *method, int *status);

/* Content type for a file name (by extension); "application/octet-stream" when unknown. */
const char *http_content_type(const char *path);

#endif
