#include "http/http_static.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/str.h"

static const struct {
	const char *ext;
	const char *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".jpg", "image/jpeg"},
    {".jpeg", "image/jpeg"},
    {".gif", "image/gif"},
    {".webp", "image/webp"},
    {".ico", "image/x-icon"},
    {".woff", "font/woff"},
    {".woff2", "font/woff2"},
    {".ttf", "font/ttf"},
    {".txt", "text/plain; charset=utf-8"},
    {".pdf", "application/pdf"},
    {".wasm", "application/wasm"},
    {".map", "application/json; charset=utf-8"},
};

const char *http_content_type(const char *path)
{
	const char *dot = strrchr(path, '.');
	const char *slash = strrchr(path, '/');
	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (!strcasecmp(dot, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}

static enum MHD_Result simple(struct MHD_Connection *conn, unsigned status, const char *text,
                              const char *location, int *out_status)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (location)
		MHD_add_response_header(r, "Location", location);
	*out_status = (int)status;
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* A URL path is safe when it is absolute, has no "..", no backslash, no NUL and no segment
 * starting with a dot (no dotfiles). */
static bool safe_path(const char *url)
{
	if (url[0] != '/' || strchr(url, '\\'))
		return false;
	for (const char *p = url; *p; p++)
		if (p[0] == '/' && p[1] == '.')
			return false;
	return true;
}

static bool regular_file(const char *path, struct stat *st)
{
	return stat(path, st) == 0 && S_ISREG(st->st_mode);
}

static bool accepts_gzip(struct MHD_Connection *conn)
{
	const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding");
	return ae && strstr(ae, "gzip");
}

enum MHD_Result http_static_serve(struct MHD_Connection *conn, const char *root, const char *url,
                                  const char *method, int *status)
{
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return simple(conn, 405, "Method Not Allowed\n", NULL, status);
	if (!strcmp(url, "/") || !strcmp(url, "/index.html"))
		return simple(conn, 302, "", "/console/", status);
	if (!root || !safe_path(url) || strlen(url) > 1024)
		return simple(conn, 404, "Not Found\n", NULL, status);

	char path[2048], gz[2100];
	struct stat st;
	snprintf(path, sizeof(path), "%s%s", root, url);
	size_t n = strlen(path);
	bool is_dir_url = url[strlen(url) - 1] == '/';
	if (is_dir_url && n + 10 < sizeof(path)) {
		snprintf(path + n, sizeof(path) - n, "index.html");
	} else if (!is_dir_url && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		/* "/console" → "/console/" so relative URLs in the page resolve. */
		char *loc = NULL;
		if (asprintf(&loc, "%s/", url) < 0)
			return MHD_NO;
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		if (!r) {
			free(loc);
			return MHD_NO;
		}
		MHD_add_response_header(r, "Location", loc);
		free(loc);
		*status = 301;
		enum MHD_Result ret = MHD_queue_response(conn, 301, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (!regular_file(path, &st)) {
		/* SPA fallback: unknown paths below an entry page get its index.html; assets and
		 * anything with a file extension do not (a missing script must be a 404). */
		const char *second = strchr(url + 1, '/');
		const char *last = strrchr(url, '/');
		if (!second || strchr(last, '.') || !strncmp(url, "/assets/", 8))
			return simple(conn, 404, "Not Found\n", NULL, status);
		snprintf(path, sizeof(path), "%s%.*s/index.html", root, (int)(second - url), url);
		if (!regular_file(path, &st))
			return simple(conn, 404, "Not Found\n", NULL, status);
	}

	const char *type = http_content_type(path);
	bool html = !strncmp(type, "text/html", 9);
	bool use_gz = false;
	struct stat gst;
	snprintf(gz, sizeof(gz), "%s.gz", path);
	if (accepts_gzip(conn) && regular_file(gz, &gst) && gst.st_mtime >= st.st_mtime)
		use_gz = true;

	char etag[64];
	snprintf(etag, sizeof(etag), "\"%llx-%llx%s\"", (unsigned long long)st.st_size,
	         (unsigned long long)st.st_mtime, use_gz ? "-gz" : "");
	const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
	const char *cache = html ? "no-cache"
	                         : (strstr(url, "/assets/") ? "public, max-age=31536000, immutable"
	                                                    : "public, max-age=3600");
	struct MHD_Response *r;
	unsigned code = 200;
	if (inm && strstr(inm, etag)) {
		r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
		code = 304;
	} else {
		const char *file = use_gz ? gz : path;
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		struct stat fst;
		if (fd < 0 || fstat(fd, &fst) != 0) {
			if (fd >= 0)
				close(fd);
			return simple(conn, 404, "Not Found\n", NULL, status);
		}
		r = MHD_create_response_from_fd((uint64_t)fst.st_size, fd);
		if (!r) {
			close(fd);
			return MHD_NO;
		}
		MHD_add_response_header(r, "Content-Type", type);
		if (use_gz)
			MHD_add_response_header(r, "Content-Encoding", "gzip");
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "ETag", etag);
	MHD_add_response_header(r, "Cache-Control", cache);
	MHD_add_response_header(r, "Vary", "Accept-Encoding");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (html) {
		MHD_add_response_header(r, "X-Frame-Options", "SAMEORIGIN");
		/* Element Plus sets inline styles and Vant's icon font is a data: URL. */
		MHD_add_response_header(r, "Content-Security-Policy",
		                        "default-src 'self'; style-src 'self' 'unsafe-inline'; "
		                        "font-src 'self' data:; img-src 'self' data: blob:; "
		                        "media-src 'self' blob: mediastream:; connect-src 'self'; "
		                        "frame-ancestors 'self'");
	}
	*status = (int)code;
	enum MHD_Result ret = MHD_queue_response(conn, code, r);
	MHD_destroy_response(r);
	return ret;
}
