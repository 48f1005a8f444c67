/* bench/gateway.c: the gateway's own cost per outbound call (prints figures; never a test).
 *
 *   bench_gateway [calls]     default 3000 calls per series; SQLite in $SHOULI_TEST_TMP or /tmp
 *
 * A trivial HTTP/1.1 responder runs in this process on 127.0.0.1 (raw sockets, keep-alive,
 * answers {"ok":true} at once), so the figures measure the client side only. Series, each
 * after 200 warm-up calls, one call at a time, the three series interleaved call by call:
 *   direct      libcurl easy handle reused (keep-alive), POST of the same JSON body: the
 *               floor any HTTP client pays;
 *   gateway     gateway_call on a connector without auth: connector lookup, breaker,
 *               concurrency slot, template path, traceparent, pooled handle, JSON decode,
 *               masking, call-log line queued (the batched writer stores it meanwhile on a
 *               temporary SQLite database, as in production);
 *   gateway+sm3 the same with HMAC-SM3 request signing (SM3 of the body, HMAC of the sign
 *               string).
 * The overhead is the difference of the percentiles; the calling thread's CPU time per call
 * is printed too (steadier than wall time when the machine is shared). The server struct is set up
 * the way `shouli serve` does (data keys in a keyring, migrations applied), without HTTP. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "gateway/gateway_int.h"

#define WARMUP 200
#define BODY   "{\"id_number\":\"310104195001010015\",\"case_no\":\"SL20261129000001\"}"
#define ANSWER                                                                                     \
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "                    \
	"11\r\n\r\n{\"ok\":true}"

/* ---- the responder ---- */

static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536];
	size_t have = 0;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		for (;;) {
			char *end = strstr(buf, "\r\n\r\n");
			if (!end)
				break;
			size_t head = (size_t)(end + 4 - buf), body = 0;
			char *cl = strcasestr(buf, "\r\nContent-Length:");
			if (cl && cl < end) {
				int64_t v = 0;
				char *p = cl + 17, *q;
				while (*p == ' ')
					p++;
				q = strstr(p, "\r\n");
				if (q &&
				    str_to_i64((struct str){p, (size_t)(q - p)}, 0, 1 << 20, &v))
					body = (size_t)v;
			}
			if (have < head + body)
				break;
			if (write(fd, ANSWER, sizeof(ANSWER) - 1) < 0)
				goto out;
			memmove(buf, buf + head + body, have - head - body);
			have -= head + body;
			buf[have] = '\0';
		}
	}
out:
	close(fd);
	return NULL;
}

static void *acceptor(void *arg)
{
	int ls = (int)(intptr_t)arg;
	for (;;) {
		int fd = accept(ls, NULL, NULL);
		pthread_t t;
		if (fd < 0)
			return NULL;
		if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd) == 0)
			pthread_detach(t);
		else
			close(fd);
	}
}

static int start_responder(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	pthread_t t;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 64) ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl))
		return -1;
	pthread_create(&t, NULL, acceptor, (void *)(intptr_t)ls);
	pthread_detach(t);
	return ntohs(sa.sin_port);
}

/* ---- figures ---- */

static int cmp_i64(const void *x, const void *y)
{
	int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
	return (a > b) - (a < b);
}

static int64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of the calling thread per series: steadier than wall time on a busy machine. */
static int64_t cpu_total[3];

static void report(const char *name, int64_t *ns, long n, double *p50, double *p99)
{
	qsort(ns, (size_t)n, sizeof(*ns), cmp_i64);
	double sum = 0;
	for (long i = 0; i < n; i++)
		sum += (double)ns[i];
	*p50 = (double)ns[(n - 1) / 2] / 1000.0;
	*p99 = (double)ns[(long)((double)n * 0.99) - 1] / 1000.0;
	printf("%-12s %8ld calls   mean %8.1f us   p50 %8.1f us   p99 %8.1f us\n", name, n,
	       sum / (double)n / 1000.0, *p50, *p99);
}

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return s * n;
}

struct direct {
	CURL *h;
	struct curl_slist *hl;
	char url[64];
};

static int direct_open(struct direct *d, int port)
{
	d->h = curl_easy_init();
	d->hl = curl_slist_append(NULL, "Content-Type: application/json");
	snprintf(d->url, sizeof(d->url), "http://127.0.0.1:%d/echo", port);
	if (!d->h || !d->hl)
		return -1;
	curl_easy_setopt(d->h, CURLOPT_URL, d->url);
	curl_easy_setopt(d->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(d->h, CURLOPT_HTTPHEADER, d->hl);
	curl_easy_setopt(d->h, CURLOPT_POSTFIELDS, BODY);
	curl_easy_setopt(d->h, CURLOPT_WRITEFUNCTION, sink);
	return 0;
}

static int64_t direct_call(struct direct *d)
{
	int64_t t0 = time_mono_ns();
	return curl_easy_perform(d->h) == CURLE_OK ? time_mono_ns() - t0 : -1;
}

static int64_t gateway_once(struct server *srv, const char *connector, const json_t *req)
{
	struct gateway_caller caller = {.module = "bench", .user = "bench"};
	struct arena a;
	struct errinfo ei = {0};
	struct gateway_call_result res;
	arena_init(&a, 0);
	int64_t t0 = time_mono_ns();
	enum err e = gateway_call(srv, connector, "echo", req, &caller, &a, &res, &ei);
	int64_t dt = time_mono_ns() - t0;
	if (e)
		fprintf(stderr, "bench_gateway: call failed: %s\n", ei.msg ? ei.msg : err_code(e));
	arena_release(&a);
	return e ? -1 : dt;
}

/* The three series are interleaved call by call, so that the shared machine's changing load
 * falls on all of them alike. */
static int run_series(struct server *srv, int port, long n, int64_t *ns[3])
{
	struct direct d;
	json_t *req = json_loads(BODY, 0, NULL);
	int rc = direct_open(&d, port);
	for (long i = -WARMUP; rc == 0 && i < n; i++) {
		int64_t t[3], c0;
		c0 = cpu_ns();
		t[0] = direct_call(&d);
		if (i >= 0)
			cpu_total[0] += cpu_ns() - c0;
		c0 = cpu_ns();
		t[1] = gateway_once(srv, "bench_plain", req);
		if (i >= 0)
			cpu_total[1] += cpu_ns() - c0;
		c0 = cpu_ns();
		t[2] = gateway_once(srv, "bench_sm3", req);
		if (i >= 0)
			cpu_total[2] += cpu_ns() - c0;
		for (int k = 0; k < 3; k++) {
			if (t[k] < 0)
				rc = -1;
			else if (i >= 0)
				ns[k][i] = t[k];
		}
	}
	curl_slist_free_all(d.hl);
	curl_easy_cleanup(d.h);
	json_decref(req);
	return rc;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static enum err add_connector(struct server *srv, const char *name, int port, const char *auth)
{
	char text[1024];
	struct db_conn *c = NULL;
	struct arena a;
	struct errinfo ei = {0};
	int64_t rev;
	json_t *doc, *stored = NULL, *secrets = NULL;
	snprintf(text, sizeof(text),
	         "{\"name\":\"%s\",\"title\":\"bench\",\"protocol\":\"rest\",\"base_url\":"
	         "\"http://127.0.0.1:%d\",\"auth\":%s,\"concurrency\":64,\"methods\":[{\"name\":"
	         "\"echo\",\"http_method\":\"POST\",\"path\":\"/echo\",\"mask\":[\"case_no\"]}]}",
	         name, port, auth);
	arena_init(&a, 0);
	doc = json_loads(text, 0, NULL);
	enum err e = gw_connector_validate(doc, &ei, &a);
	if (!e) {
		gw_connector_split(doc, &stored, &secrets);
		if (!(e = db_acquire(srv->db, 5000, &c)) && !(e = db_begin_write(c)) &&
		    !(e = gw_store_connector_put(srv, c, &a, stored, secrets, true, 0, "bench",
		                                 &rev)))
			e = db_commit(c);
	}
	if (e)
		fprintf(stderr, "bench_gateway: connector %s: %s\n", name,
		        ei.msg ? ei.msg : err_code(e));
	db_release(c);
	json_decref(doc);
	json_decref(stored);
	json_decref(secrets);
	arena_release(&a);
	return e;
}

int main(int argc, char **argv)
{
	long n = 3000;
	int64_t v;
	char root[512], hex[9], url[600], keyfile[600], mig[600], msg[512] = "";
	const char *tmp = getenv("SHOULI_TEST_TMP");
	const char *src = getenv("SHOULI_SOURCE_DIR");
	struct server srv;
	struct buf wrapped;
	int64_t *ns[3] = {NULL, NULL, NULL};
	uint32_t kid;
	int rc = 1;
	if (argc > 1 && cstr_to_i64(argv[1], 100, 10000000, &v))
		n = (long)v;
	log_setup(LOG_WARN, stderr);
	if (crypto_init() || id_random_hex(hex, 4))
		return 1;
	memset(&srv, 0, sizeof(srv));
	config_defaults(&srv.cfg);
	snprintf(root, sizeof(root), "%s/bench-gateway-%s", tmp && *tmp ? tmp : "/tmp", hex);
	mkdir(root, 0700);
	snprintf(url, sizeof(url), "sqlite:%s/shouli.db", root);
	snprintf(keyfile, sizeof(keyfile), "%s/keys/master.key", root);
	snprintf(mig, sizeof(mig), "%s/migrations", src && *src ? src : ".");
	buf_init(&wrapped, 256);
	if (keyring_open_file(keyfile, true, &srv.keys) ||
	    keyring_new_data_key(srv.keys, &kid, &wrapped) ||
	    db_open(url, 4, &srv.db, msg, sizeof(msg)) ||
	    db_migrate(srv.db, mig, msg, sizeof(msg))) {
		fprintf(stderr,
		        "bench_gateway: setup failed %s (run from the repository root or set "
		        "SHOULI_SOURCE_DIR)\n",
		        msg);
		goto out;
	}
	int port = start_responder();
	for (int k = 0; k < 3; k++)
		ns[k] = calloc((size_t)n, sizeof(int64_t));
	double d50, d99, g50, g99, s50, s99;
	if (port < 0 || !ns[0] || !ns[1] || !ns[2] || gw_state_create(&srv, NULL) ||
	    add_connector(&srv, "bench_plain", port, "{\"kind\":\"none\"}") ||
	    add_connector(&srv, "bench_sm3", port,
	                  "{\"kind\":\"hmac_sm3\",\"key_id\":\"k\",\"secret\":\"bench-secret\"}")) {
		goto out;
	}
	printf("gateway overhead, %ld sequential calls per series to an in-process responder on "
	       "127.0.0.1\n",
	       n);
	if (run_series(&srv, port, n, ns))
		goto out;
	report("direct", ns[0], n, &d50, &d99);
	report("gateway", ns[1], n, &g50, &g99);
	report("gateway+sm3", ns[2], n, &s50, &s99);
	printf(
	    "cpu/call     direct %.1f us, gateway %.1f us, gateway+sm3 %.1f us (calling thread)\n",
	    (double)cpu_total[0] / (double)n / 1000.0, (double)cpu_total[1] / (double)n / 1000.0,
	    (double)cpu_total[2] / (double)n / 1000.0);
	printf("overhead     gateway: p50 +%.1f us, p99 +%.1f us;  with HMAC-SM3: p50 +%.1f us, "
	       "p99 +%.1f us\n",
	       g50 - d50, g99 - d99, s50 - d50, s99 - d99);
	int64_t t0 = time_mono_ns();
	gw_log_flush_now(srv.gateway->log);
	printf("call log     %ld lines queued; the rest written %.1f ms after the last call\n",
	       2 * (n + WARMUP), (double)(time_mono_ns() - t0) / 1e6);
	rc = 0;
out:
	for (int k = 0; k < 3; k++)
		free(ns[k]);
	gw_state_destroy(&srv);
	if (srv.db)
		db_close(srv.db);
	keyring_destroy(srv.keys);
	config_release(&srv.cfg);
	buf_release(&wrapped);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
