/* bench/http.c: HTTP request rate and latency of a running Shouli against a bare
 * libmicrohttpd "ceiling", measured by one load generator in one run.
 *
 * The bench starts no Shouli itself. Given a base URL, a username and a password it signs in
 * (POST /api/v1/auth/login, keeping the session cookie), then drives C keep-alive
 * connections — non-blocking sockets on one epoll loop, raw HTTP/1.1, one request in flight
 * per connection — issuing GET /api/v1/auth/me (authenticated JSON: session lookup,
 * permissions, rendering) for D seconds. Then it starts, in this process on 127.0.0.1, a bare
 * libmicrohttpd daemon with the flags of src/http (epoll, internal thread pool) that answers
 * every request with the body /me returned, and drives it the same way. The ratio of the two
 * rates is what the Shouli pipeline costs over the HTTP library itself.
 *
 * Usage: bench_http [-c conns] [-d seconds] [-t ceiling threads] [-p path] [-n]
 *                   http://127.0.0.1:PORT USER PASSWORD
 *   -c  connections (default 64)      -d  seconds per target (default 10, at most 300)
 *   -t  ceiling daemon thread pool (default 4, the `threads` default of shouli serve)
 *   -p  authenticated GET path (default /api/v1/auth/me)
 *   -n  no ceiling run
 * Only loopback addresses are accepted. It prints figures; it does not pass or fail.
 *
 * The bare daemon is the one place outside src/http/ that includes microhttpd.h: measuring
 * the library alone is its purpose. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/str.h"
#include "core/timeutil.h"

#define RBUF_SIZE     (64 * 1024)
#define HIST_US       100000 /* 1 µs buckets up to 100 ms ... */
#define HIST_MS       60000  /* ... then 1 ms buckets up to 60 s */
#define MAX_CONNS     10000
#define IO_TIMEOUT_MS 10000

struct target {
	char host[64]; /* numeric loopback address */
	int port;
	int family;
};

struct hist {
	uint64_t *us; /* HIST_US buckets */
	uint64_t *ms; /* HIST_MS buckets */
	uint64_t n;
	uint64_t max_ns;
};

struct conn {
	int fd;
	bool want_out;   /* EPOLLOUT armed: connecting, or a request only partly written */
	size_t sent;     /* bytes of the request written */
	size_t rlen;     /* bytes in rbuf */
	int64_t t_start; /* when the request's first byte went out */
	char *rbuf;
};

struct result {
	uint64_t ok, non2xx, errors, reconnects;
	double seconds;
	struct hist h;
};

/* ---- latency histogram ---- */

static bool hist_init(struct hist *h)
{
	h->us = calloc(HIST_US, sizeof(uint64_t));
	h->ms = calloc(HIST_MS, sizeof(uint64_t));
	h->n = 0;
	h->max_ns = 0;
	return h->us && h->ms;
}

static void hist_release(struct hist *h)
{
	free(h->us);
	free(h->ms);
	h->us = h->ms = NULL;
}

static void hist_add(struct hist *h, int64_t ns)
{
	uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
	if (us < HIST_US)
		h->us[us]++;
	else if (us / 1000 < HIST_MS)
		h->ms[us / 1000]++;
	else
		h->ms[HIST_MS - 1]++;
	h->n++;
	if ((uint64_t)ns > h->max_ns)
		h->max_ns = (uint64_t)ns;
}

/* The latency (ms) below which a fraction q of the samples fall. */
static double hist_quantile(const struct hist *h, double q)
{
	if (!h->n)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	uint64_t seen = 0;
	for (size_t i = 0; i < HIST_US; i++) {
		seen += h->us[i];
		if (seen > want)
			return (double)i / 1000.0;
	}
	for (size_t i = 0; i < HIST_MS; i++) {
		seen += h->ms[i];
		if (seen > want)
			return (double)i;
	}
	return (double)h->max_ns / 1e6;
}

/* ---- sockets ---- */

static bool parse_url(const char *url, struct target *t)
{
	struct str s = str_from(url), hostport, rest;
	if (!str_starts_with(s, "http://"))
		return false;
	s.p += 7;
	s.n -= 7;
	rest = str_cut(s, '/', &hostport);
	(void)rest;
	struct str host, port;
	if (hostport.n && hostport.p[0] == '[') {
		const char *close = memchr(hostport.p, ']', hostport.n);
		if (!close || close + 1 >= hostport.p + hostport.n || close[1] != ':')
			return false;
		host = (struct str){hostport.p + 1, (size_t)(close - hostport.p - 1)};
		port = (struct str){close + 2, (size_t)(hostport.p + hostport.n - close - 2)};
	} else {
		port = str_cut(hostport, ':', &host);
	}
	int64_t p;
	if (!port.p || !str_to_i64(port, 1, 65535, &p) || host.n == 0 || host.n >= sizeof(t->host))
		return false;
	if (str_eq_c(host, "localhost"))
		host = STR_LIT("127.0.0.1");
	snprintf(t->host, sizeof(t->host), "%.*s", (int)host.n, host.p);
	t->port = (int)p;
	/* Loopback only: this tool must never load anyone else's server. */
	struct in_addr a4;
	struct in6_addr a6;
	if (inet_pton(AF_INET, t->host, &a4) == 1) {
		t->family = AF_INET;
		return (ntohl(a4.s_addr) >> 24) == 127;
	}
	if (inet_pton(AF_INET6, t->host, &a6) == 1) {
		t->family = AF_INET6;
		return IN6_IS_ADDR_LOOPBACK(&a6);
	}
	return false;
}

/* A connected socket (non-blocking when asked), or -1. */
static int dial(const struct target *t, bool nonblock)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof(ss));
	if (t->family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)t->port);
		inet_pton(AF_INET, t->host, &s4->sin_addr);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)t->port);
		inet_pton(AF_INET6, t->host, &s6->sin6_addr);
		sl = sizeof(*s6);
	}
	int fd = socket(t->family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Where a complete response ends in p[0..n): its total length, 0 when incomplete, -1 when
 * malformed. *status and *close are set when complete. Only Content-Length bodies (all that
 * libmicrohttpd sends for buffers) are understood. */
static long response_end(const char *p, size_t n, int *status, bool *close_after)
{
	const char *end = memmem(p, n, "\r\n\r\n", 4);
	if (!end)
		return n >= RBUF_SIZE ? -1 : 0;
	size_t hlen = (size_t)(end - p) + 4;
	int64_t code, clen = -1;
	if (hlen < 12 || memcmp(p, "HTTP/1.", 7) != 0 ||
	    !str_to_i64((struct str){p + 9, 3}, 100, 599, &code))
		return -1;
	*close_after = false;
	/* Header lines, after the status line, up to the blank line. */
	const char *q = memchr(p, '\n', hlen);
	while (q && q + 1 < p + hlen) {
		const char *ls = q + 1;
		q = memchr(ls, '\n', (size_t)(p + hlen - ls));
		if (!q)
			break;
		struct str name, value = str_cut((struct str){ls, (size_t)(q - ls)}, ':', &name);
		name = str_trim(name);
		value = str_trim(value);
		if (str_case_eq(name, "content-length") && !str_to_i64(value, 0, RBUF_SIZE, &clen))
			return -1;
		if (str_case_eq(name, "connection") && str_case_eq(value, "close"))
			*close_after = true;
	}
	if (clen < 0)
		clen = 0;
	if (hlen + (size_t)clen > RBUF_SIZE)
		return -1;
	if (n < hlen + (size_t)clen)
		return 0;
	*status = (int)code;
	return (long)(hlen + (size_t)clen);
}

/* One blocking request/response (login, probe). The response (headers and body) goes into
 * out. Returns the status, or -1. */
static int exchange(const struct target *t, const char *req, size_t reqlen, struct buf *out)
{
	int fd = dial(t, false), status = -1;
	if (fd < 0)
		return -1;
	struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	for (size_t off = 0; off < reqlen;) {
		ssize_t w = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	char tmp[8192];
	for (;;) {
		bool closing;
		long end = response_end(out->p ? out->p : "", out->len, &status, &closing);
		if (end < 0) {
			status = -1;
			goto out;
		}
		if (end > 0)
			break;
		ssize_t r = recv(fd, tmp, sizeof(tmp), 0);
		if (r <= 0 || buf_append(out, tmp, (size_t)r) != ERR_OK) {
			status = -1;
			goto out;
		}
	}
out:
	close(fd);
	return status;
}

/* The body of a response held in b (after the blank line). */
static struct str body_of(const struct buf *b)
{
	const char *end = b->p ? memmem(b->p, b->len, "\r\n\r\n", 4) : NULL;
	if (!end)
		return STR_NULL;
	return (struct str){end + 4, b->len - (size_t)(end + 4 - b->p)};
}

/* Sign in; the cookie pair ("shouli_sid=...") goes into cookie. */
static bool login(const struct target *t, const char *user, const char *password, char *cookie,
                  size_t cookiesz)
{
	struct buf body, req, resp;
	bool ok = false;
	buf_init(&body, 4096);
	buf_init(&req, 8192);
	buf_init(&resp, RBUF_SIZE);
	if (buf_puts(&body, "{\"username\":\"") || buf_json_escape(&body, user, strlen(user)) ||
	    buf_puts(&body, "\",\"password\":\"") ||
	    buf_json_escape(&body, password, strlen(password)) || buf_puts(&body, "\"}"))
		goto out;
	if (buf_printf(&req,
	               "POST /api/v1/auth/login HTTP/1.1\r\nHost: %s:%d\r\n"
	               "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	               "Connection: close\r\n\r\n%s",
	               t->host, t->port, body.len, body.p))
		goto out;
	int status = exchange(t, req.p, req.len, &resp);
	if (status != 200) {
		struct str b = body_of(&resp);
		fprintf(stderr, "bench_http: login failed (status %d): %.*s\n", status, (int)b.n,
		        b.p ? b.p : "");
		goto out;
	}
	const char *sc = strcasestr(resp.p, "\r\nSet-Cookie: shouli_sid=");
	if (!sc)
		goto out;
	sc += strlen("\r\nSet-Cookie: ");
	size_t n = strcspn(sc, ";\r");
	if (n + 1 > cookiesz)
		goto out;
	snprintf(cookie, cookiesz, "%.*s", (int)n, sc);
	ok = true;
out:
	buf_release(&body);
	buf_release(&req);
	buf_release(&resp);
	return ok;
}

/* ---- the load loop ---- */

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static bool conn_open(const struct target *t, int ep, struct conn *c)
{
	c->fd = dial(t, true);
	c->sent = 0;
	c->rlen = 0;
	c->t_start = 0;
	if (c->fd < 0)
		return false;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	c->want_out = true;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		close(c->fd);
		c->fd = -1;
		return false;
	}
	return true;
}

static void conn_close(int ep, struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
}

/* Write what remains of the request; EPOLLOUT stays armed only while some is left, so an
 * idle writable socket does not spin the loop. false on a dead connection. */
static bool conn_send(int ep, struct conn *c, const char *req, size_t reqlen)
{
	while (c->sent < reqlen) {
		if (c->sent == 0)
			c->t_start = time_mono_ns();
		ssize_t w = send(c->fd, req + c->sent, reqlen - c->sent, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return false;
			break;
		}
		c->sent += (size_t)w;
	}
	bool want = c->sent < reqlen;
	if (want != c->want_out) {
		struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
			return false;
		c->want_out = want;
	}
	return true;
}

static void run_load(const struct target *t, const char *req, size_t reqlen, int nconns,
                     int seconds, struct result *res)
{
	struct conn *conns = calloc((size_t)nconns, sizeof(*conns));
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event *evs = calloc((size_t)nconns, sizeof(*evs));
	res->ok = res->non2xx = res->errors = res->reconnects = 0;
	if (!conns || ep < 0 || !evs)
		goto out;
	for (int i = 0; i < nconns; i++) {
		conns[i].fd = -1;
		conns[i].rbuf = malloc(RBUF_SIZE);
		if (!conns[i].rbuf || !conn_open(t, ep, &conns[i])) {
			res->errors++;
			goto out;
		}
	}
	int64_t t0 = time_mono_ns(), stop = t0 + (int64_t)seconds * 1000000000;
	while (!interrupted) {
		int64_t now = time_mono_ns();
		if (now >= stop)
			break;
		int n = epoll_wait(ep, evs, nconns, 100);
		if (n < 0 && errno != EINTR)
			break;
		for (int k = 0; k < n; k++) {
			struct conn *c = evs[k].data.ptr;
			bool dead =
			    (evs[k].events & (EPOLLERR | EPOLLHUP)) && !(evs[k].events & EPOLLIN);
			if (!dead && (evs[k].events & EPOLLOUT) && c->sent < reqlen)
				dead = !conn_send(ep, c, req, reqlen);
			while (!dead && (evs[k].events & EPOLLIN)) {
				ssize_t r = recv(c->fd, c->rbuf + c->rlen, RBUF_SIZE - c->rlen, 0);
				if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
					break;
				if (r <= 0) {
					dead = true;
					break;
				}
				c->rlen += (size_t)r;
				int status = 0;
				bool closing = false;
				long end = response_end(c->rbuf, c->rlen, &status, &closing);
				if (end < 0) {
					dead = true;
					break;
				}
				if (end == 0)
					continue;
				hist_add(&res->h, time_mono_ns() - c->t_start);
				if (status >= 200 && status < 300)
					res->ok++;
				else
					res->non2xx++;
				if (closing || (size_t)end != c->rlen) {
					dead = true; /* no pipelining: extra bytes are a protocol
					                error */
					break;
				}
				c->rlen = 0;
				c->sent = 0;
				dead = !conn_send(ep, c, req, reqlen);
				break;
			}
			if (dead) {
				conn_close(ep, c);
				res->reconnects++;
				if (!conn_open(t, ep, c))
					res->errors++;
			}
			if (res->reconnects > 1000 && res->reconnects > res->ok) {
				fprintf(stderr,
				        "bench_http: the server keeps dropping connections\n");
				interrupted = 1;
			}
		}
	}
	res->seconds = (double)(time_mono_ns() - t0) / 1e9;
out:
	for (int i = 0; conns && i < nconns; i++) {
		if (ep >= 0)
			conn_close(ep, &conns[i]);
		free(conns[i].rbuf);
	}
	free(conns);
	free(evs);
	if (ep >= 0)
		close(ep);
}

/* ---- the ceiling: bare libmicrohttpd ---- */

struct ceiling {
	const char *body;
	size_t len;
};

static enum MHD_Result ceiling_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version, const char *upload,
                                      size_t *upload_size, void **con_cls)
{
	static int marker;
	const struct ceiling *c = cls;
	(void)url;
	(void)method;
	(void)version;
	(void)upload;
	/* Answer from the second call, as src/http does: a response queued while the request is
	 * still being read makes libmicrohttpd close the connection. */
	if (!*con_cls) {
		*con_cls = &marker;
		return MHD_YES;
	}
	*upload_size = 0;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(c->len, (void *)c->body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static struct MHD_Daemon *ceiling_start(struct ceiling *c, int threads, int *port)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	/* The flags and limits of http_start in src/http/http_server.c. */
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE |
	        MHD_USE_ERROR_LOG,
	    0, NULL, NULL, ceiling_answer, c, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)threads, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)20000, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_LISTEN_BACKLOG_SIZE,
	    (unsigned)1024, MHD_OPTION_END);
	if (!d)
		return NULL;
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	*port = di ? di->port : 0;
	return d;
}

/* ---- main ---- */

static void report(const char *name, int nconns, const struct result *r)
{
	double total = (double)(r->ok + r->non2xx);
	printf("%-34s %6d %6.1f %10.0f %10.0f %9.3f %9.3f %9.3f %7llu %7llu\n", name, nconns,
	       r->seconds, total, r->seconds > 0 ? total / r->seconds : 0,
	       hist_quantile(&r->h, 0.50), hist_quantile(&r->h, 0.99), (double)r->h.max_ns / 1e6,
	       (unsigned long long)r->non2xx, (unsigned long long)(r->errors + r->reconnects));
}

static void usage(const char *argv0)
{
	fprintf(stderr,
	        "usage: %s [-c conns] [-d seconds] [-t ceiling threads] [-p path] [-n] "
	        "http://127.0.0.1:PORT USER PASSWORD\n",
	        argv0);
}

int main(int argc, char **argv)
{
	int64_t nconns = 64, seconds = 10, threads = 4;
	const char *path = "/api/v1/auth/me";
	bool ceiling_run = true;
	int opt, rc = 1;
	struct target t;
	struct buf req, probe;
	struct result shouli, bare;
	struct MHD_Daemon *d = NULL;
	char cookie[512];

	buf_init(&req, 8192);
	buf_init(&probe, RBUF_SIZE);
	memset(&shouli, 0, sizeof(shouli));
	memset(&bare, 0, sizeof(bare));
	while ((opt = getopt(argc, argv, "c:d:t:p:n")) != -1) {
		switch (opt) {
		case 'c':
			if (!cstr_to_i64(optarg, 1, MAX_CONNS, &nconns))
				goto bad_usage;
			break;
		case 'd':
			if (!cstr_to_i64(optarg, 1, 300, &seconds))
				goto bad_usage;
			break;
		case 't':
			if (!cstr_to_i64(optarg, 1, 256, &threads))
				goto bad_usage;
			break;
		case 'p': path = optarg; break;
		case 'n': ceiling_run = false; break;
		default: goto bad_usage;
		}
	}
	if (argc - optind != 3 || path[0] != '/')
		goto bad_usage;
	if (!parse_url(argv[optind], &t)) {
		fprintf(stderr, "bench_http: %s is not an http:// URL of a loopback address\n",
		        argv[optind]);
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_sigint);
	if (!hist_init(&shouli.h) || !hist_init(&bare.h))
		goto out;
	if (!login(&t, argv[optind + 1], argv[optind + 2], cookie, sizeof(cookie)))
		goto out;
	if (buf_printf(&req,
	               "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: application/json\r\n"
	               "Cookie: %s\r\n\r\n",
	               path, t.host, t.port, cookie))
		goto out;
	/* One request first: it must succeed, and its body is what the ceiling will serve. */
	int status = exchange(&t, req.p, req.len, &probe);
	if (status != 200) {
		fprintf(stderr, "bench_http: GET %s answered %d\n", path, status);
		goto out;
	}
	struct str body = body_of(&probe);

	printf("# bench_http: %lld connections, %lld s per target, one request in flight per "
	       "connection; latency in ms\n",
	       (long long)nconns, (long long)seconds);
	printf("%-34s %6s %6s %10s %10s %9s %9s %9s %7s %7s\n", "target", "conns", "secs",
	       "requests", "req/s", "p50", "p99", "max", "non2xx", "errors");
	fflush(stdout);
	char name[64];
	snprintf(name, sizeof(name), "shouli GET %s", path);
	run_load(&t, req.p, req.len, (int)nconns, (int)seconds, &shouli);
	report(name, (int)nconns, &shouli);
	fflush(stdout);

	if (ceiling_run && !interrupted) {
		struct ceiling c = {body.p, body.n};
		struct target ct = {"127.0.0.1", 0, AF_INET};
		d = ceiling_start(&c, (int)threads, &ct.port);
		if (!d || !ct.port) {
			fprintf(stderr, "bench_http: cannot start the libmicrohttpd ceiling\n");
			goto out;
		}
		snprintf(name, sizeof(name), "ceiling: bare libmicrohttpd (%lld thr)",
		         (long long)threads);
		run_load(&ct, req.p, req.len, (int)nconns, (int)seconds, &bare);
		report(name, (int)nconns, &bare);
		double a =
		    shouli.seconds > 0 ? (double)(shouli.ok + shouli.non2xx) / shouli.seconds : 0;
		double b = bare.seconds > 0 ? (double)(bare.ok + bare.non2xx) / bare.seconds : 0;
		if (b > 0)
			printf("# shouli / ceiling request rate: %.2f (%zu-byte JSON body)\n",
			       a / b, body.n);
	}
	rc = shouli.ok > 0 && shouli.non2xx == 0 ? 0 : 1;
	goto out;
bad_usage:
	usage(argv[0]);
	rc = 2;
out:
	if (d)
		MHD_stop_daemon(d);
	hist_release(&shouli.h);
	hist_release(&bare.h);
	buf_release(&req);
	buf_release(&probe);
	return rc;
}
