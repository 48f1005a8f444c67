/* gateway_http.c: one HTTP exchange with libcurl.
 *
 * Each connector keeps a few idle easy handles: a handle keeps its connection cache, so a
 * reused one talks keep-alive to the system instead of a new TCP (and TLS) handshake per
 * call. curl_easy_reset clears the options but keeps those connections. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>

#include "gateway/gateway_int.h"

/* Idle handles kept per connector; more are made when more calls run at once and cleaned
 * up when they come back to a full pool. */
#define POOL_KEEP 8

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum err gw_http_global_init(void)
{
	pthread_once(&curl_once, curl_init_once);
	return curl_init_rc == CURLE_OK ? ERR_OK : ERR_INTERNAL;
}

static CURL *take_handle(struct gw_conn *cn)
{
	CURL *h = NULL;
	pthread_mutex_lock(&cn->mu);
	if (cn->nhandles > 0)
		h = cn->handles[--cn->nhandles];
	pthread_mutex_unlock(&cn->mu);
	if (h)
		curl_easy_reset(h);
	else
		h = curl_easy_init();
	return h;
}

static void give_handle(struct gw_conn *cn, CURL *h)
{
	bool kept = false;
	pthread_mutex_lock(&cn->mu);
	if (cn->nhandles < POOL_KEEP) {
		if (cn->nhandles == cn->handles_cap) {
			void **nv = realloc(cn->handles, POOL_KEEP * sizeof(*nv));
			if (nv) {
				cn->handles = nv;
				cn->handles_cap = POOL_KEEP;
			}
		}
		if (cn->nhandles < cn->handles_cap) {
			cn->handles[cn->nhandles++] = h;
			kept = true;
		}
	}
	pthread_mutex_unlock(&cn->mu);
	if (!kept)
		curl_easy_cleanup(h);
}

void gw_http_pool_clear(struct gw_conn *cn)
{
	pthread_mutex_lock(&cn->mu);
	for (size_t i = 0; i < cn->nhandles; i++)
		curl_easy_cleanup(cn->handles[i]);
	free(cn->handles);
	cn->handles = NULL;
	cn->nhandles = cn->handles_cap = 0;
	pthread_mutex_unlock(&cn->mu);
}

struct sink {
	struct buf *b;
	bool too_large;
};

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct sink *s = ud;
	size_t n = size * nmemb;
	if (buf_append(s->b, p, n)) {
		s->too_large = true;
		return 0; /* aborts the transfer */
	}
	return n;
}

static bool url_allowed(const char *url)
{
	return strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0;
}

enum err gw_http_perform(struct gw_conn *cn, const struct gw_http_req *rq, struct gw_http_resp *rs)
{
	enum err e = ERR_OK;
	struct curl_slist *hl = NULL;
	struct sink sink = {.b = &rs->body};
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *h = NULL;
	rs->status = 0;
	rs->fail = GW_HTTP_OK;
	rs->error[0] = '\0';
	rs->content_type[0] = '\0';
	if (!url_allowed(rq->url)) {
		rs->fail = GW_HTTP_OTHER;
		snprintf(rs->error, sizeof(rs->error),
		         "only http:// and https:// URLs are allowed");
		return ERR_CONFIG;
	}
	if (!(h = take_handle(cn)))
		return ERR_NOMEM;
	for (int i = 0; i < rq->nheaders; i++) {
		struct curl_slist *n = curl_slist_append(hl, rq->headers[i]);
		if (!n) {
			e = ERR_NOMEM;
			goto out;
		}
		hl = n;
	}
	/* curl adds "Expect: 100-continue" to bigger POSTs, which costs a round trip. */
	struct curl_slist *n = curl_slist_append(hl, "Expect:");
	if (!n) {
		e = ERR_NOMEM;
		goto out;
	}
	hl = n;
	curl_easy_setopt(h, CURLOPT_URL, rq->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, rq->timeout_ms > 0 ? rq->timeout_ms : 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "shouli-gateway/0.1");
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)GW_BODY_MAX);
	if (rq->userpwd) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(h, CURLOPT_USERPWD, rq->userpwd);
	}
	if (strcmp(rq->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
		                 (curl_off_t)(rq->body ? rq->body_len : 0));
	}
	CURLcode rc = curl_easy_perform(h);
	if (rc == CURLE_OK) {
		char *ct = NULL;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
		if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			snprintf(rs->content_type, sizeof(rs->content_type), "%s", ct);
	} else if (sink.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		rs->fail = GW_HTTP_OTHER;
		snprintf(rs->error, sizeof(rs->error), "answer larger than %u bytes", GW_BODY_MAX);
		e = ERR_TOO_LARGE;
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		rs->fail = GW_HTTP_TIMEOUT;
		snprintf(rs->error, sizeof(rs->error), "%s",
		         errbuf[0] ? errbuf : curl_easy_strerror(rc));
		e = ERR_TIMEOUT;
	} else {
		rs->fail = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
		                   rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
		                   rc == CURLE_GOT_NOTHING
		               ? GW_HTTP_CONNECT
		               : GW_HTTP_OTHER;
		snprintf(rs->error, sizeof(rs->error), "%s",
		         errbuf[0] ? errbuf : curl_easy_strerror(rc));
		e = rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT ? ERR_CONFIG
		                                                                  : ERR_UPSTREAM;
	}
out:
	curl_slist_free_all(hl);
	/* A handle whose transfer failed may hold a broken connection; curl discards it itself,
	 * so the handle is still good for the pool. */
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
	give_handle(cn, h);
	return e;
}
