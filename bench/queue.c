/* bench/queue.c: a centre's queue at the scale of issue 7 ("Performance"), through a whole
 * `shouli serve` started in this process on 127.0.0.1 (SQLite, demo data):
 *
 *   (a) board fan-out: S WebSocket subscribers (terminals and consoles; default 1,800) on
 *       scope:<centre path>:queue, W tickets of terminals waiting; a clerk calls R times
 *       (POST …/windows/{id}/call_next, then skips the ticket for the next round). The
 *       latency of a (round, subscriber) is from the call's request leaving the clerk to the
 *       board event {"event":"called"} arriving at that subscriber: p50/p99/max over S × R.
 *       Every call also publishes the live position of the W waiting tickets on their
 *       terminals' topics (queue_live.c), so that cost is inside the figure.
 *   (b) concurrent calling: C clerks at C windows (default 180), each on its own keep-alive
 *       connection calling call_next (then skip, to free the window) as fast as the server
 *       answers, over N waiting tickets (default 1,800), until the centre has none. Every
 *       answered call's ticket id is counted: DUPLICATES=<tickets called more than once>,
 *       calls/s and the latency of call_next.
 *
 * The clerks are service users of role window_clerk with sessions opened by
 * auth_session_open (no password hashing in the setup); the tickets are inserted in one
 * transaction (issuance is not what is measured). The subscribers share one clerk session.
 *
 * Usage: bench_queue [subscribers 1800] [rounds 20] [clerks 180] [tickets 1800]
 *                    [waiting in (a) 600] [terminal|onsite: (b)'s tickets, default terminal]
 * It prints figures; it does not pass or fail. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/auth.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "queue/queue.h"
#include "server/server.h"
#include "server/server_int.h"
#include "ws/ws.h"

#define CENTRE_CODE "310104014C1" /* the demo clerk's centre */
#define DEADLINE_NS (120LL * 1000000000)

struct clerk {
	int64_t user_id, window_id;
	char cookie[160], csrf[80];
};

struct bench {
	struct server srv;
	int port;
	int64_t org_id, group_id;
	char path[128];
	struct clerk *clerks;
	int nclerks;
	int seq;     /* ticket numbers handed out so far */
	bool onsite; /* (b)'s tickets without a terminal (no position events) */
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct_ms(const int64_t *sorted, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)sorted[k - 1] / 1e6;
}

/* ---- setup ---------------------------------------------------------------------------- */

struct setup_ctx {
	struct bench *b;
	struct arena *a;
	int from, to; /* clerks [from, to) */
	int tickets;
};

static enum err clerks_unit(struct db_conn *c, void *ctx)
{
	struct setup_ctx *x = ctx;
	struct bench *b = x->b;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	enum err e = ERR_OK;
	for (int i = x->from; !e && i < x->to; i++) {
		struct clerk *k = &b->clerks[i];
		struct auth_new_session ns;
		char user[32], code[16];
		snprintf(user, sizeof(user), "bclerk-%03d", i);
		snprintf(code, sizeof(code), "B-%03d", i);
		if ((e = auth_service_user_create(&b->srv, c, x->a, user, "压测窗口人员", b->org_id,
		                                  "window_clerk", &k->user_id)) ||
		    (e = auth_session_open(c, x->a, k->user_id, 12 * 3600 * 1000LL, "127.0.0.1",
		                           &ns)) ||
		    (e = db_exec(
		         c, x->a, &rs,
		         "INSERT INTO queue_windows (org_id, code, name, active, clerk_id,"
		         " signed_in_at, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?, ?,"
		         " ?) RETURNING id",
		         "issiiii", b->org_id, code, "压测窗口", k->user_id, now, now, now)))
			break;
		k->window_id = db_int(rs, 0, 0);
		e = db_exec(c, x->a, NULL,
		            "INSERT INTO queue_window_groups (window_id, group_id) VALUES (?, ?)",
		            "ii", k->window_id, b->group_id);
		snprintf(k->cookie, sizeof(k->cookie), "%s=%s", AUTH_COOKIE, ns.token);
		snprintf(k->csrf, sizeof(k->csrf), "%s", ns.csrf_token);
	}
	return e;
}

/* n waiting tickets of terminals BENCH-<i> in group A, issued 1 ms apart (in the past). */
static enum err tickets_unit(struct db_conn *c, void *ctx)
{
	struct setup_ctx *x = ctx;
	struct bench *b = x->b;
	int64_t now = time_now_ms();
	char day[11], no[16], term[32];
	bool onsite = x->from < 0;
	enum err e = ERR_OK;
	queue_day_of(now, day);
	for (int i = 0; !e && i < x->tickets; i++) {
		int n = ++b->seq;
		queue_ticket_label("A", 5000 + n, no, sizeof(no));
		snprintf(term, sizeof(term), "BENCH-%05d", n);
		int64_t at = now - x->tickets + i;
		e = db_exec(c, x->a, NULL,
		            "INSERT INTO queue_tickets (org_id, group_id, day, ticket_no, source,"
		            " terminal, token_hash, state, issued_at, last_activity_at, created_at,"
		            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?, ?, ?)",
		            "iissssiiiii", b->org_id, b->group_id, day, no,
		            onsite ? "onsite" : "terminal", onsite ? NULL : term,
		            "0000000000000000000000000000000000000000000000000000000000000000", at,
		            at, at, at);
	}
	return e;
}

static enum err setup(struct bench *b, int nclerks)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	arena_init(&a, 0);
	enum err e = db_acquire(b->srv.db, 5000, &c);
	if (!e)
		e = db_exec(
		    c, &a, &rs,
		    "SELECT o.id, o.path, g.id FROM orgs o JOIN queue_groups g ON g.org_id ="
		    " o.id AND g.code = 'A' WHERE o.code = ?",
		    "s", CENTRE_CODE);
	if (!e && rs->nrows != 1)
		e = ERR_NOT_FOUND;
	if (!e) {
		b->org_id = db_int(rs, 0, 0);
		snprintf(b->path, sizeof(b->path), "%s", db_text(rs, 0, 1));
		b->group_id = db_int(rs, 0, 2);
	}
	db_release(c);
	b->nclerks = nclerks;
	b->clerks = calloc((size_t)nclerks, sizeof(*b->clerks));
	for (int from = 0; !e && from < nclerks; from += 20) {
		struct setup_ctx x = {b, &a, from, from + 20 < nclerks ? from + 20 : nclerks, 0};
		e = db_write_unit(b->srv.db, clerks_unit, &x, 30000);
	}
	arena_release(&a);
	return e;
}

static enum err add_tickets(struct bench *b, int n, bool onsite)
{
	struct arena a;
	arena_init(&a, 0);
	struct setup_ctx x = {b, &a, onsite ? -1 : 0, 0, n};
	enum err e = db_write_unit(b->srv.db, tickets_unit, &x, 60000);
	arena_release(&a);
	return e;
}

/* ---- a blocking HTTP/1.1 client on one keep-alive connection ---------------------------- */

static int tcp_connect(int port, bool nonblock)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* POST path with an empty JSON body; *status and the body (NUL-terminated in out). */
static bool http_post(int fd, int port, const struct clerk *k, const char *path, int *status,
                      struct buf *out)
{
	char req[1024], rb[16384];
	int n = snprintf(req, sizeof(req),
	                 "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nCookie: %s\r\nX-CSRF-Token: "
	                 "%s\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
	                 path, port, k->cookie, k->csrf);
	if (n >= (int)sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return false;
	buf_reset(out);
	size_t head = 0, clen = 0;
	for (;;) {
		ssize_t r = recv(fd, rb, sizeof(rb), 0);
		if (r <= 0)
			return false;
		if (buf_append(out, rb, (size_t)r))
			return false;
		if (!head) {
			const char *end = memmem(out->p, out->len, "\r\n\r\n", 4);
			if (!end)
				continue;
			head = (size_t)(end - out->p) + 4;
			const char *cl = strcasestr(out->p, "\r\nContent-Length:");
			if (!cl || cl > end || sscanf(out->p, "HTTP/1.1 %d", status) != 1)
				return false;
			clen = strtoul(cl + 17, NULL, 10);
		}
		if (out->len >= head + clen)
			break;
	}
	memmove(out->p, out->p + head, clen);
	out->len = clen;
	out->p[clen] = 0;
	return true;
}

static int64_t body_id(const struct buf *body)
{
	json_error_t je;
	json_t *j = json_loadb(body->p, body->len, 0, &je);
	int64_t id = json_get_int(j, "id", 0);
	json_decref(j);
	return id;
}

/* ---- (a) the subscribers: one epoll loop in a thread of their own ---------------------- */

struct subs {
	int port, n, rounds;
	const char *cookie, *topic;
	int64_t *arrive; /* [round * n + i]: when subscriber i got round's "called" event */
	int *got;        /* per subscriber: "called" events so far */
	atomic_int subscribed, done_round_count;
	atomic_bool stop, failed;
};

struct sconn {
	int fd, state; /* 0 connecting, 1 waiting for 101, 2 open */
	int crlf;
	struct ws_parser p;
};

static void *subs_run(void *arg)
{
	struct subs *s = arg;
	static const uint8_t MASK[4] = {1, 2, 3, 4};
	struct sconn *cl = calloc((size_t)s->n, sizeof(*cl));
	char *rbuf = malloc(1 << 16), req[512], sub[256];
	struct buf frame;
	struct epoll_event evs[256];
	int ep = epoll_create1(EPOLL_CLOEXEC), opened = 0, pending = 0;
	buf_init(&frame, 512);
	snprintf(sub, sizeof(sub), "{\"op\":\"subscribe\",\"topic\":\"%s\"}", s->topic);
	ws_frame_append(&frame, WS_OP_TEXT, true, sub, strlen(sub), MASK);
	snprintf(req, sizeof(req),
	         "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
	         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	         "Sec-WebSocket-Version: 13\r\nCookie: %s\r\n\r\n",
	         s->port, s->cookie);
	while (!atomic_load(&s->stop)) {
		while (opened < s->n && pending < 128) {
			struct sconn *c = &cl[opened++];
			if ((c->fd = tcp_connect(s->port, true)) < 0)
				goto fail;
			ws_parser_init(&c->p, 1u << 20, false);
			struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
			pending++;
		}
		int k = epoll_wait(ep, evs, 256, 200);
		for (int i = 0; i < k; i++) {
			struct sconn *c = evs[i].data.ptr;
			int idx = (int)(c - cl);
			if (c->state == 0) {
				if (send(c->fd, req, strlen(req), MSG_NOSIGNAL) !=
				    (ssize_t)strlen(req))
					goto fail;
				struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				c->state = 1;
				continue;
			}
			ssize_t r = recv(c->fd, rbuf, 1 << 16, 0);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				fprintf(stderr, "subscriber %d lost its connection\n", idx);
				goto fail;
			}
			int64_t now = time_mono_ns();
			size_t off = 0;
			if (c->state == 1) {
				static const char term[] = "\r\n\r\n";
				if (c->crlf == 0 && (r < 13 || memcmp(rbuf, "HTTP/1.1 101 ", 13))) {
					fprintf(stderr, "upgrade refused: %.60s\n", rbuf);
					goto fail;
				}
				while (off < (size_t)r && c->crlf < 4) {
					char ch = rbuf[off++];
					c->crlf = ch == term[c->crlf] ? c->crlf + 1 : ch == '\r';
				}
				if (c->crlf < 4)
					continue;
				c->state = 2;
				pending--;
				if (send(c->fd, frame.p, frame.len, MSG_NOSIGNAL) !=
				    (ssize_t)frame.len)
					goto fail;
			}
			while (off < (size_t)r) {
				struct ws_msg m;
				size_t used;
				enum ws_status st =
				    ws_parser_feed(&c->p, rbuf + off, (size_t)r - off, &used, &m);
				off += used;
				if (st == WS_FAIL)
					goto fail;
				if (st == WS_MORE)
					break;
				if (m.op != WS_OP_TEXT)
					continue;
				if (m.n > 16 && !memcmp(m.p, "{\"op\":\"subscribed\"", 18)) {
					atomic_fetch_add(&s->subscribed, 1);
				} else if (m.n > 16 && !memcmp(m.p, "{\"op\":\"error\"", 13)) {
					fprintf(stderr, "subscribe refused: %.*s\n", (int)m.n, m.p);
					goto fail;
				} else if (memmem(m.p, m.n, "\"event\":\"called\"", 16) &&
				           s->got[idx] < s->rounds) {
					s->arrive[(size_t)s->got[idx] * (size_t)s->n +
					          (size_t)idx] = now;
					s->got[idx]++;
					atomic_fetch_add(&s->done_round_count, 1);
				}
			}
		}
	}
	goto out;
fail:
	atomic_store(&s->failed, true);
out:
	for (int i = 0; i < opened; i++) {
		close(cl[i].fd);
		ws_parser_release(&cl[i].p);
	}
	buf_release(&frame);
	free(cl);
	free(rbuf);
	close(ep);
	return NULL;
}

static int part_a(struct bench *b, int nsubs, int rounds, int waiting)
{
	struct subs s = {.port = b->port, .n = nsubs, .rounds = rounds};
	struct clerk *k = &b->clerks[0];
	struct buf body;
	char topic[160], path[128];
	pthread_t th;
	int rc = 1, fd = -1, status = 0;
	int64_t *send_ns = calloc((size_t)rounds, sizeof(int64_t));
	int64_t *http_ns = calloc((size_t)rounds, sizeof(int64_t));
	buf_init(&body, 1 << 20);
	snprintf(topic, sizeof(topic), "scope:%s:queue", b->path);
	s.cookie = k->cookie;
	s.topic = topic;
	s.arrive = calloc((size_t)nsubs * (size_t)rounds, sizeof(int64_t));
	s.got = calloc((size_t)nsubs, sizeof(int));
	if (add_tickets(b, waiting + rounds, false)) {
		fprintf(stderr, "(a) tickets not stored\n");
		goto out;
	}
	int64_t t0 = time_mono_ns();
	pthread_create(&th, NULL, subs_run, &s);
	while (atomic_load(&s.subscribed) < nsubs && !atomic_load(&s.failed) &&
	       time_mono_ns() - t0 < DEADLINE_NS)
		usleep(10000);
	if (atomic_load(&s.subscribed) < nsubs) {
		fprintf(stderr, "(a) only %d of %d subscribed\n", atomic_load(&s.subscribed),
		        nsubs);
		goto stop;
	}
	printf("(a) %d WebSocket subscribers on %s in %.0f ms; %d tickets of terminals waiting\n",
	       nsubs, topic, (double)(time_mono_ns() - t0) / 1e6, waiting + rounds);
	fd = tcp_connect(b->port, false);
	for (int r = 0; r < rounds; r++) {
		snprintf(path, sizeof(path), "/api/v1/queue/windows/%lld/call_next",
		         (long long)k->window_id);
		send_ns[r] = time_mono_ns();
		if (!http_post(fd, b->port, k, path, &status, &body) || status != 200) {
			fprintf(stderr, "(a) call %d: %d %s\n", r, status, body.p ? body.p : "");
			goto stop;
		}
		http_ns[r] = time_mono_ns() - send_ns[r];
		int64_t id = body_id(&body);
		int want = (r + 1) * nsubs;
		while (atomic_load(&s.done_round_count) < want && !atomic_load(&s.failed) &&
		       time_mono_ns() - send_ns[r] < 10000000000LL)
			usleep(500);
		if (atomic_load(&s.done_round_count) < want) {
			fprintf(stderr, "(a) round %d: %d of %d subscribers got the call\n", r,
			        atomic_load(&s.done_round_count) - r * nsubs, nsubs);
			goto stop;
		}
		snprintf(path, sizeof(path), "/api/v1/queue/tickets/%lld/skip", (long long)id);
		if (!http_post(fd, b->port, k, path, &status, &body) || status != 200) {
			fprintf(stderr, "(a) skip %d: %d\n", r, status);
			goto stop;
		}
		usleep(100000);
	}
	size_t ns = (size_t)nsubs * (size_t)rounds;
	int64_t *lat = malloc(ns * sizeof(int64_t));
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < nsubs; i++)
			lat[(size_t)r * (size_t)nsubs + (size_t)i] =
			    s.arrive[(size_t)r * (size_t)nsubs + (size_t)i] - send_ns[r];
	qsort(lat, ns, sizeof(int64_t), cmp_i64);
	qsort(http_ns, (size_t)rounds, sizeof(int64_t), cmp_i64);
	printf("(a) call → every subscriber: %d calls × %d subscribers = %zu deliveries\n", rounds,
	       nsubs, ns);
	printf("    delivery latency  p50 %.1f ms  p99 %.1f ms  max %.1f ms  (goal p99 < 200 ms)\n",
	       pct_ms(lat, ns, 0.50), pct_ms(lat, ns, 0.99), pct_ms(lat, ns, 1.0));
	printf("    call_next answer  p50 %.1f ms  max %.1f ms\n",
	       pct_ms(http_ns, (size_t)rounds, 0.5), pct_ms(http_ns, (size_t)rounds, 1.0));
	free(lat);
	rc = 0;
stop:
	atomic_store(&s.stop, true);
	pthread_join(th, NULL);
	if (atomic_load(&s.failed))
		rc = 1;
out:
	if (fd >= 0)
		close(fd);
	buf_release(&body);
	free(s.arrive);
	free(s.got);
	free(send_ns);
	free(http_ns);
	return rc;
}

/* ---- (b) C clerks calling at once ------------------------------------------------------ */

struct callers {
	struct bench *b;
	atomic_int *seen; /* per ticket id: times called */
	int64_t max_id;
	int64_t *lat; /* call_next latencies */
	atomic_long nlat, busy, errors;
	atomic_bool go;
};

struct caller_arg {
	struct callers *cs;
	int index;
};

static void *caller_run(void *arg)
{
	struct caller_arg *ca = arg;
	struct callers *cs = ca->cs;
	struct clerk *k = &cs->b->clerks[ca->index];
	struct buf body;
	char call[128], path[128];
	int status = 0, fd = tcp_connect(cs->b->port, false);
	buf_init(&body, 1 << 20);
	snprintf(call, sizeof(call), "/api/v1/queue/windows/%lld/call_next",
	         (long long)k->window_id);
	while (!atomic_load(&cs->go))
		usleep(100);
	for (; fd >= 0;) {
		int64_t t = time_mono_ns();
		if (!http_post(fd, cs->b->port, k, call, &status, &body)) {
			atomic_fetch_add(&cs->errors, 1);
			break;
		}
		if (status == 404)
			break; /* nothing waiting: the centre is done */
		if (status == 409) {
			atomic_fetch_add(&cs->busy, 1);
			continue;
		}
		if (status != 200) {
			fprintf(stderr, "(b) clerk %d: %d %s\n", ca->index, status, body.p);
			atomic_fetch_add(&cs->errors, 1);
			break;
		}
		long slot = atomic_fetch_add(&cs->nlat, 1);
		cs->lat[slot] = time_mono_ns() - t;
		int64_t id = body_id(&body);
		if (id > 0 && id <= cs->max_id)
			atomic_fetch_add(&cs->seen[id], 1);
		snprintf(path, sizeof(path), "/api/v1/queue/tickets/%lld/skip", (long long)id);
		if (!http_post(fd, cs->b->port, k, path, &status, &body) || status != 200) {
			fprintf(stderr, "(b) clerk %d: skip %d\n", ca->index, status);
			atomic_fetch_add(&cs->errors, 1);
			break;
		}
	}
	if (fd >= 0)
		close(fd);
	buf_release(&body);
	return NULL;
}

static int part_b(struct bench *b, int tickets)
{
	struct callers cs = {.b = b};
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	int n = b->nclerks, rc = 1;
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	struct caller_arg *args = calloc((size_t)n, sizeof(*args));
	if (add_tickets(b, tickets, b->onsite)) {
		fprintf(stderr, "(b) tickets not stored\n");
		goto out;
	}
	arena_init(&a, 0);
	if (!db_acquire(b->srv.db, 5000, &c) &&
	    !db_exec(c, &a, &rs,
	             "SELECT MAX(id), COUNT(*) FROM queue_tickets WHERE org_id = ? AND state ="
	             " 'waiting'",
	             "i", b->org_id)) {
		cs.max_id = db_int(rs, 0, 0);
		tickets = (int)db_int(rs, 0, 1);
	}
	db_release(c);
	arena_release(&a);
	cs.seen = calloc((size_t)cs.max_id + 1, sizeof(atomic_int));
	cs.lat = calloc((size_t)tickets + 16, sizeof(int64_t));
	for (int i = 0; i < n; i++) {
		args[i] = (struct caller_arg){&cs, i};
		pthread_create(&th[i], NULL, caller_run, &args[i]);
	}
	usleep(200000);
	int64_t t0 = time_mono_ns();
	atomic_store(&cs.go, true);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	double secs = (double)(time_mono_ns() - t0) / 1e9;
	long calls = atomic_load(&cs.nlat), dups = 0, once = 0;
	for (int64_t id = 0; id <= cs.max_id; id++) {
		int v = atomic_load(&cs.seen[id]);
		dups += v > 1;
		once += v == 1;
	}
	qsort(cs.lat, (size_t)calls, sizeof(int64_t), cmp_i64);
	printf("(b) %d clerks at %d windows calling at once over %d waiting tickets (%s)\n", n, n,
	       tickets, b->onsite ? "on-site tickets" : "tickets of terminals");
	printf("    calls %ld (tickets called once %ld, never %ld), busy retries %ld, errors %ld\n",
	       calls, once, tickets - once - dups, atomic_load(&cs.busy), atomic_load(&cs.errors));
	printf("DUPLICATES=%ld\n", dups);
	printf("    %.2f s: %.0f calls/s (each call followed by its skip on the same connection)\n",
	       secs, (double)calls / secs);
	if (calls)
		printf(
		    "    call_next latency  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n",
		    pct_ms(cs.lat, (size_t)calls, 0.5), pct_ms(cs.lat, (size_t)calls, 0.9),
		    pct_ms(cs.lat, (size_t)calls, 0.99), pct_ms(cs.lat, (size_t)calls, 1.0));
	rc = dups || atomic_load(&cs.errors) ? 1 : 0;
out:
	free(cs.seen);
	free(cs.lat);
	free(th);
	free(args);
	return rc;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	static struct bench b;
	char dir[] = "/tmp/shouli-bench-queue.XXXXXX";
	int64_t subs = 1800, rounds = 20, clerks = 180, tickets = 1800, waiting = 600;
	int rc = 1;
	if ((argc > 1 && !cstr_to_i64(argv[1], 1, 9000, &subs)) ||
	    (argc > 2 && !cstr_to_i64(argv[2], 1, 1000, &rounds)) ||
	    (argc > 3 && !cstr_to_i64(argv[3], 1, 999, &clerks)) ||
	    (argc > 4 && !cstr_to_i64(argv[4], 1, 100000, &tickets)) ||
	    (argc > 5 && !cstr_to_i64(argv[5], 0, 100000, &waiting)) ||
	    (argc > 6 && strcmp(argv[6], "terminal") && strcmp(argv[6], "onsite"))) {
		fprintf(stderr,
		        "usage: %s [subscribers] [rounds] [clerks] [tickets] [waiting] "
		        "[terminal|onsite]\n",
		        argv[0]);
		return 2;
	}
	b.onsite = argc > 6 && !strcmp(argv[6], "onsite");
	if (!mkdtemp(dir))
		return 1;
	config_defaults(&b.srv.cfg);
	free(b.srv.cfg.data_dir);
	b.srv.cfg.data_dir = strdup(dir);
	free(b.srv.cfg.bind);
	b.srv.cfg.bind = strdup("127.0.0.1");
	b.srv.cfg.port = 0;
	b.srv.cfg.demo = true;
	free(b.srv.cfg.log_level);
	b.srv.cfg.log_level = strdup("error");
	log_setup(LOG_ERROR, stderr);
	if (server_open(&b.srv, true) || server_start(&b.srv, NULL)) {
		fprintf(stderr, "bench_queue: the server did not start\n");
		goto out;
	}
	b.port = http_port(b.srv.http);
	if (setup(&b, (int)clerks)) {
		fprintf(stderr, "bench_queue: setup failed\n");
		goto out;
	}
	printf("shouli serve on 127.0.0.1:%d (SQLite, %lld HTTP threads), centre %s\n", b.port,
	       (long long)b.srv.cfg.threads, CENTRE_CODE);
	fflush(stdout);
	rc = part_a(&b, (int)subs, (int)rounds, (int)waiting);
	/* (a)'s waiting tickets are called in (b) too: the clerks empty the centre */
	fflush(stdout);
	rc |= part_b(&b, (int)tickets);
out:
	server_close(&b.srv);
	free(b.clerks);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
