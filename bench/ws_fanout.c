/* bench/ws_fanout.c: WebSocket hub scale — N idle connections, all subscribed to one topic,
 * one event published, time until the last client has it; plus the hub process's RSS.
 *
 * The bench listens on 127.0.0.1, does the HTTP upgrade itself (as src/http would) and hands
 * each accepted socket to a ws_hub. The clients are N non-blocking TCP sockets read through
 * one epoll loop. Both ends of N loopback connections need 2N descriptors in one process; when
 * RLIMIT_NOFILE's hard limit is below that, the clients run in a forked child (same code, its
 * own descriptor table), so the hub's process holds only its N. Either way the RSS figures are
 * the hub process's VmRSS (/proc/self/status) before the hub is created and after.
 *
 * Usage: bench_ws_fanout [N, default 18000] [auto|thread|fork] [rounds, default 5]
 * It prints figures; it does not pass or fail. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "ws/ws.h"

#define TOPIC       "centre:310104001:queue"
#define MAX_PENDING 256 /* client handshakes in flight */
#define DEADLINE_S  180

/* Messages on the control socket between the hub side and the client side. */
struct ctl_msg {
	char kind; /* 'R' ready, 'E' round done, 'Q' quit, 'X' client failure */
	int round;
	int64_t t_last_ns; /* 'E': when the last client got the round's event */
	int64_t value;     /* 'R': ns the clients took to connect and subscribe */
};

static void ctl_send(int fd, const struct ctl_msg *m)
{
	if (write(fd, m, sizeof(*m)) != (ssize_t)sizeof(*m))
		fprintf(stderr, "control write: %s\n", strerror(errno));
}

static bool ctl_recv(int fd, struct ctl_msg *m, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, timeout_ms) <= 0)
		return false;
	return read(fd, m, sizeof(*m)) == (ssize_t)sizeof(*m);
}

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0) {
			char *end = line + 6;
			while (*end == ' ' || *end == '\t')
				end++;
			kib = strtol(end, NULL, 10);
		}
	fclose(f);
	return kib;
}

/* Kernel memory of all TCP sockets on the machine (both ends here), in KiB, from the "mem"
 * page count of /proc/net/sockstat; -1 when unknown. Not part of any RSS. */
static long tcp_mem_kib(void)
{
	char line[256];
	long pages = -1;
	FILE *f = fopen("/proc/net/sockstat", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *m = strncmp(line, "TCP:", 4) == 0 ? strstr(line, " mem ") : NULL;
		if (m)
			pages = strtol(m + 5, NULL, 10);
	}
	fclose(f);
	return pages < 0 ? -1 : pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* ---- the client side: N sockets, one epoll loop ---- */

enum cstate { C_CONNECTING, C_WAIT_101, C_OPEN };

struct bclient {
	int fd;
	uint8_t state;
	uint8_t crlf; /* progress through "\r\n\r\n" of the 101 response */
	bool subscribed;
	int rounds; /* events received */
	struct ws_parser p;
};

static const uint8_t MASK[4] = {0x11, 0x22, 0x33, 0x44};

static int client_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool send_small(int fd, const void *p, size_t n)
{
	/* Requests are tiny and the socket is fresh: they always fit the send buffer. */
	return send(fd, p, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* Returns 0 when every round was received, 1 on failure. */
static int run_clients(int port, int n, int ctl)
{
	struct bclient *cl = calloc((size_t)n, sizeof(*cl));
	struct epoll_event evs[512];
	char *rbuf = malloc(65536);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int opened = 0, pending = 0, subscribed = 0, rc = 1;
	long total_events = 0;
	int64_t t_start = time_mono_ns(), deadline = t_start + (int64_t)DEADLINE_S * 1000000000;
	int round = 0;
	char sub[128], req[256];
	struct buf subframe;

	buf_init(&subframe, 256);
	if (!cl || !rbuf || ep < 0)
		goto out;
	snprintf(sub, sizeof(sub), "{\"op\":\"subscribe\",\"topic\":\"%s\"}", TOPIC);
	ws_frame_append(&subframe, WS_OP_TEXT, true, sub, strlen(sub), MASK);
	snprintf(req, sizeof(req),
	         "GET /api/v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
	         "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	         "Sec-WebSocket-Version: 13\r\n\r\n",
	         port);
	struct epoll_event cev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, ctl, &cev);

	for (;;) {
		while (opened < n && pending < MAX_PENDING) {
			struct bclient *c = &cl[opened];
			c->fd = client_connect(port);
			if (c->fd < 0) {
				fprintf(stderr, "client %d: connect: %s\n", opened,
				        strerror(errno));
				goto out;
			}
			ws_parser_init(&c->p, 1u << 16, false);
			struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
			opened++;
			pending++;
		}
		if (time_mono_ns() > deadline) {
			fprintf(stderr, "clients: deadline passed (%d subscribed, %ld events)\n",
			        subscribed, total_events);
			goto out;
		}
		int k = epoll_wait(ep, evs, 512, 1000);
		for (int i = 0; i < k; i++) {
			struct bclient *c = evs[i].data.ptr;
			if (!c) {
				struct ctl_msg m;
				if (!ctl_recv(ctl, &m, 0) || m.kind == 'Q') {
					rc = 0;
					goto out;
				}
				continue;
			}
			if (c->state == C_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err || !send_small(c->fd, req, strlen(req))) {
					fprintf(stderr, "client connect failed: %s\n",
					        strerror(err));
					goto out;
				}
				struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				c->state = C_WAIT_101;
				continue;
			}
			ssize_t r = recv(c->fd, rbuf, 65535, 0);
			if (r <= 0) {
				if (r < 0 && errno == EAGAIN)
					continue;
				fprintf(stderr, "client lost its connection\n");
				goto out;
			}
			size_t off = 0;
			if (c->state == C_WAIT_101) {
				if (c->crlf == 0 &&
				    (r < 13 || memcmp(rbuf, "HTTP/1.1 101 ", 13) != 0)) {
					fprintf(stderr, "handshake refused: %.40s\n", rbuf);
					goto out;
				}
				static const char term[] = "\r\n\r\n";
				while (off < (size_t)r && c->crlf < 4) {
					char ch = rbuf[off++];
					if (ch == term[c->crlf])
						c->crlf++;
					else
						c->crlf = ch == '\r' ? 1 : 0;
				}
				if (c->crlf < 4)
					continue;
				c->state = C_OPEN;
				pending--;
				if (!send_small(c->fd, subframe.p, subframe.len))
					goto out;
			}
			while (off < (size_t)r) {
				struct ws_msg m;
				size_t used;
				enum ws_status st =
				    ws_parser_feed(&c->p, rbuf + off, (size_t)r - off, &used, &m);
				off += used;
				if (st == WS_FAIL) {
					fprintf(stderr, "client: bad frame (%s)\n", c->p.why);
					goto out;
				}
				if (st == WS_MORE)
					break;
				if (m.op != WS_OP_TEXT)
					continue;
				struct str s = {m.p, m.n};
				if (str_starts_with(s, "{\"op\":\"subscribed\"") &&
				    !c->subscribed) {
					c->subscribed = true;
					if (++subscribed == n) {
						struct ctl_msg rm = {'R', 0, 0,
						                     time_mono_ns() - t_start};
						ctl_send(ctl, &rm);
					}
				} else if (str_starts_with(s, "{\"op\":\"event\"")) {
					char want[32];
					snprintf(want, sizeof(want), "\"round\":%d,",
					         c->rounds + 1);
					if (!memmem(m.p, m.n, want, strlen(want))) {
						fprintf(stderr, "client: event out of order\n");
						goto out;
					}
					c->rounds++;
					if (++total_events == (long)n * (round + 1)) {
						round++;
						struct ctl_msg em = {'E', round, time_mono_ns(), 0};
						ctl_send(ctl, &em);
					}
				}
			}
		}
	}
out:
	if (rc) {
		struct ctl_msg xm = {'X', round, 0, 0};
		ctl_send(ctl, &xm);
	}
	for (int i = 0; cl && i < opened; i++) {
		close(cl[i].fd);
		ws_parser_release(&cl[i].p);
	}
	buf_release(&subframe);
	free(cl);
	free(rbuf);
	if (ep >= 0)
		close(ep);
	return rc;
}

/* ---- the hub side ---- */

static void close_fd(void *arg)
{
	close((int)(intptr_t)arg);
}

static bool allow_all(void *ctx, int64_t user_id, const char *topic)
{
	return true;
}

/* Read the upgrade request from a fresh connection and answer 101. */
static bool handshake(int fd)
{
	char req[2048], accept_key[29], resp[256];
	size_t len = 0;
	while (len < sizeof(req) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 5000) <= 0)
			return false;
		ssize_t r = read(fd, req + len, sizeof(req) - 1 - len);
		if (r <= 0)
			return false;
		len += (size_t)r;
		req[len] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	const char *k = strcasestr(req, "\r\nSec-WebSocket-Key:");
	if (!k)
		return false;
	k += 20;
	while (*k == ' ')
		k++;
	char key[64];
	size_t kl = strcspn(k, "\r\n");
	if (kl >= sizeof(key))
		return false;
	memcpy(key, k, kl);
	key[kl] = 0;
	if (ws_accept_key(key, accept_key) != ERR_OK)
		return false;
	int n = snprintf(resp, sizeof(resp),
	                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	                 accept_key);
	return write(fd, resp, (size_t)n) == n;
}

struct server_args {
	int lfd, ctl, n, rounds;
	const char *mode;
	long rss_before;
	struct ws_hub *hub;
	int rc;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void *run_server(void *arg)
{
	struct server_args *a = arg;
	struct ctl_msg m;
	int64_t t0 = time_mono_ns();
	int64_t *fan = calloc((size_t)a->rounds, sizeof(*fan));

	a->rc = 1;
	for (int i = 0; i < a->n; i++) {
		struct pollfd lp = {.fd = a->lfd, .events = POLLIN};
		if (poll(&lp, 1, 10000) <= 0) {
			fprintf(stderr, "no connection %d within 10 s\n", i);
			goto out;
		}
		int fd = accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "accept: %s\n", strerror(errno));
			goto out;
		}
		if (!handshake(fd)) {
			fprintf(stderr, "handshake %d failed\n", i);
			close(fd);
			goto out;
		}
		if (ws_hub_adopt(a->hub, fd, i, NULL, close_fd, (void *)(intptr_t)fd) != ERR_OK) {
			fprintf(stderr, "adopt %d refused\n", i);
			goto out;
		}
	}
	int64_t t_adopted = time_mono_ns();
	if (!ctl_recv(a->ctl, &m, DEADLINE_S * 1000) || m.kind != 'R') {
		fprintf(stderr, "clients did not all subscribe\n");
		goto out;
	}
	struct ws_hub_stats st;
	ws_hub_stats_get(a->hub, &st);
	long rss_idle = rss_kib();
	printf("connections            %d (clients in %s)\n", a->n,
	       strcmp(a->mode, "fork") == 0 ? "a forked child process" : "this process");
	printf("connect+handshake      %.0f ms for all (adopted after %.0f ms)\n",
	       (double)m.value / 1e6, (double)(t_adopted - t0) / 1e6);
	printf("hub conns/subs         %llu / %llu\n", (unsigned long long)st.conns,
	       (unsigned long long)st.subscriptions);
	printf("RSS before hub         %ld KiB\n", a->rss_before);
	printf("RSS all subscribed     %ld KiB  (delta %.1f MiB, %.0f bytes/connection)\n",
	       rss_idle, (double)(rss_idle - a->rss_before) / 1024.0,
	       (double)(rss_idle - a->rss_before) * 1024.0 / a->n);
	printf("kernel TCP buffers     %ld KiB (sockstat mem, both ends; not in any RSS)\n",
	       tcp_mem_kib());
	fflush(stdout);

	char json[256];
	for (int r = 1; r <= a->rounds; r++) {
		int jn =
		    snprintf(json, sizeof(json),
		             "{\"round\":%d,\"ticket\":\"A%03d\",\"window\":%d,\"called\":true}", r,
		             r, r % 12 + 1);
		int64_t tp = time_mono_ns();
		if (ws_hub_publish(a->hub, TOPIC, json, (size_t)jn) != ERR_OK) {
			fprintf(stderr, "publish failed\n");
			goto out;
		}
		if (!ctl_recv(a->ctl, &m, DEADLINE_S * 1000) || m.kind != 'E' || m.round != r) {
			fprintf(stderr, "round %d: not every client got the event\n", r);
			goto out;
		}
		fan[r - 1] = m.t_last_ns - tp;
		printf("fan-out round %d        %.2f ms to all %d clients\n", r,
		       (double)fan[r - 1] / 1e6, a->n);
		fflush(stdout);
		usleep(100000);
	}
	qsort(fan, (size_t)a->rounds, sizeof(*fan), cmp_i64);
	long rss_after = rss_kib();
	ws_hub_stats_get(a->hub, &st);
	printf("fan-out                min %.2f ms, median %.2f ms, max %.2f ms\n",
	       (double)fan[0] / 1e6, (double)fan[a->rounds / 2] / 1e6,
	       (double)fan[a->rounds - 1] / 1e6);
	printf("RSS after fan-out      %ld KiB  (delta %.1f MiB)\n", rss_after,
	       (double)(rss_after - a->rss_before) / 1024.0);
	printf("hub messages_out       %llu, dropped_slow %llu\n",
	       (unsigned long long)st.messages_out, (unsigned long long)st.dropped_slow);
	a->rc = 0;
out:
	m = (struct ctl_msg){'Q', 0, 0, 0};
	ctl_send(a->ctl, &m);
	free(fan);
	return NULL;
}

static bool raise_nofile(rlim_t *limit)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return false;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		return false;
	*limit = rl.rlim_cur;
	return true;
}

int main(int argc, char **argv)
{
	int64_t n = 18000, rounds = 5;
	const char *mode = argc > 2 ? argv[2] : "auto";
	rlim_t limit = 0;
	struct ws_hub *hub = NULL;
	int ctl[2] = {-1, -1}, lfd = -1, rc = 1;
	pid_t child = -1;

	if ((argc > 1 && !cstr_to_i64(argv[1], 1, 1000000, &n)) ||
	    (argc > 3 && !cstr_to_i64(argv[3], 1, 1000, &rounds)) ||
	    (strcmp(mode, "auto") && strcmp(mode, "thread") && strcmp(mode, "fork"))) {
		fprintf(stderr, "usage: %s [N] [auto|thread|fork] [rounds]\n", argv[0]);
		return 2;
	}
	log_setup(LOG_WARN, stderr);
	if (!raise_nofile(&limit)) {
		fprintf(stderr, "cannot raise RLIMIT_NOFILE: %s\n", strerror(errno));
		return 1;
	}
	/* Both ends in one process need 2N descriptors plus a few. */
	if (strcmp(mode, "auto") == 0)
		mode = (rlim_t)(2 * n + 64) <= limit ? "thread" : "fork";
	rlim_t need = (rlim_t)((strcmp(mode, "thread") == 0 ? 2 : 1) * n + 64);
	printf("RLIMIT_NOFILE          %llu (need %llu in %s mode)\n", (unsigned long long)limit,
	       (unsigned long long)need, mode);
	if (need > limit) {
		fprintf(stderr, "N=%lld needs %llu descriptors per process; the limit is %llu\n",
		        (long long)n, (unsigned long long)need, (unsigned long long)limit);
		return 1;
	}

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 4096) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) != 0) {
		fprintf(stderr, "listen: %s\n", strerror(errno));
		goto out;
	}
	int port = ntohs(sa.sin_port);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) != 0)
		goto out;

	if (strcmp(mode, "fork") == 0) {
		fflush(stdout);
		child = fork();
		if (child < 0)
			goto out;
		if (child == 0) {
			close(lfd);
			close(ctl[0]);
			_exit(run_clients(port, (int)n, ctl[1]));
		}
		close(ctl[1]);
		ctl[1] = -1;
	}

	long rss_before = rss_kib();
	struct ws_hub_config cfg = {.max_conns = (int)n + 16,
	                            .queue_max = 64 * 1024,
	                            .ping_interval_s = 3600,
	                            .idle_timeout_s = 7200,
	                            .max_message = 4096};
	if (ws_hub_create(&cfg, &hub) != ERR_OK)
		goto out;
	ws_hub_set_authorizer(hub, allow_all, NULL);

	struct server_args a = {lfd, ctl[0], (int)n, (int)rounds, mode, rss_before, hub, 1};
	if (child > 0) {
		run_server(&a);
		int status = 0;
		waitpid(child, &status, 0);
		child = -1;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			a.rc = 1;
	} else {
		pthread_t th;
		if (pthread_create(&th, NULL, run_server, &a) != 0)
			goto out;
		int crc = run_clients(port, (int)n, ctl[1]);
		pthread_join(th, NULL);
		if (crc)
			a.rc = 1;
	}
	int64_t td = time_mono_ns();
	ws_hub_destroy(hub);
	hub = NULL;
	printf("hub destroy            %.0f ms (close 1001 to every client)\n",
	       (double)(time_mono_ns() - td) / 1e6);
	rc = a.rc;
out:
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
	ws_hub_destroy(hub);
	if (lfd >= 0)
		close(lfd);
	if (ctl[0] >= 0)
		close(ctl[0]);
	if (ctl[1] >= 0)
		close(ctl[1]);
	return rc;
}
