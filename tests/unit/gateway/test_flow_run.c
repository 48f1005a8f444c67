/* test_flow_run.c: flows with their storage — documents with revisions, seeding, run
 * records (masked requests, every step, compensations), and asynchronous runs through the
 * outbox: sealed parameters, the idempotency key reaching the run, retry after a failure,
 * dead letters for what retrying cannot fix. SQLite under SHOULI_TEST_TMP and, when
 * SHOULI_TEST_PG holds a libpq conninfo (scripts/pg-test.sh), PostgreSQL in a schema of its
 * own dropped at the end; the external side is a scripted fake behind the engine's hooks. */
#include "../common/db_fixture.h"

#include <stdatomic.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"
#include "gateway/gateway_int.h"
#include "server/server.h"

#define DAY_MS (24 * 3600 * 1000LL)

static struct {
	_Atomic int64_t now;
	/* the fake external system */
	json_t *log;      /* ["c.m", …] */
	json_t *requests; /* the requests, same order */
	const char *fail; /* "c.m" that fails, NULL = none */
	enum err fail_err;
	int fail_status;
} fx;

/* ---- fixture ------------------------------------------------------------------------- */

static enum err fake_call(void *ctx, struct server *srv, const char *connector, const char *method,
                          const json_t *request, const struct gateway_caller *caller,
                          struct arena *a, struct gateway_call_result *out, struct errinfo *ei)
{
	char name[128];
	(void)ctx;
	(void)srv;
	(void)caller;
	snprintf(name, sizeof(name), "%s.%s", connector, method);
	json_array_append_new(fx.log, json_string(name));
	json_array_append(fx.requests, (json_t *)request);
	memset(out, 0, sizeof(*out));
	out->attempts = 1;
	if (fx.fail && !strcmp(fx.fail, name)) {
		out->http_status = fx.fail_status;
		out->outcome = GATEWAY_OUTCOME_ERROR;
		ei->code = fx.fail_err;
		ei->msg = "对方系统不可用";
		return fx.fail_err;
	}
	out->http_status = 200;
	out->outcome = GATEWAY_OUTCOME_OK;
	out->response =
	    json_arena_own(a, json_pack("{s:s, s:s}", "dept_no", "D-1", "name", "张三丰"));
	return ERR_OK;
}

static json_t *fake_mask(void *ctx, struct server *srv, const char *connector, const char *method,
                         const json_t *v)
{
	(void)ctx;
	(void)srv;
	(void)connector;
	(void)method;
	json_t *c = json_deep_copy(v);
	if (json_is_object(c)) {
		if (json_object_get(c, "id_number"))
			json_object_set_new(c, "id_number", json_string("***"));
		if (json_object_get(c, "name"))
			json_object_set_new(c, "name", json_string("张*"));
	}
	return c;
}

static struct gw_flow_hooks hooks = {.call = fake_call, .mask = fake_mask};

static int64_t test_clock(void *ctx)
{
	(void)ctx;
	return atomic_load(&fx.now);
}

static const char *flow_doc =
    "{\"name\": \"t.apply\", \"title\": \"测试申请\", \"on_error\": \"compensate\","
    " \"params\": {\"case_no\": {\"required\": true, \"type\": \"string\"},"
    "              \"id_number\": {\"required\": true, \"type\": \"string\"}},"
    " \"steps\": ["
    "  {\"id\": \"submit\", \"connector\": \"dept\", \"method\": \"submit\","
    "   \"request\": {\"case_no\": \"{{params.case_no}}\", \"id_number\": \"{{params.id_number}}\","
    "                \"key\": \"{{run.idempotency_key}}\"},"
    "   \"compensate\": {\"connector\": \"dept\", \"method\": \"cancel\","
    "                   \"request\": {\"dept_no\": \"{{steps.submit.response.dept_no}}\"}}},"
    "  {\"id\": \"report\", \"connector\": \"bjk\", \"method\": \"case_report\","
    "   \"request\": {\"case_no\": \"{{params.case_no}}\"}}],"
    " \"result\": {\"dept_no\": \"{{steps.submit.response.dept_no}}\","
    "             \"name\": \"{{steps.submit.response.name}}\"}}";

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!v)
		fail_msg("%s (col %d)", je.text, je.column);
	return v;
}

/* The database (sealing needs a data key) and the flow under test, for the whole group. */
static int group_setup(void **state)
{
	struct db_conn *c = NULL;
	struct arena a;
	int64_t rev = 0;
	if (dbfx_setup(state))
		return -1;
	hooks.call_ctx = &fx;
	json_t *doc = parse(flow_doc);
	arena_init(&a, 0);
	enum err e = db_acquire(dbfx.srv.db, 2000, &c);
	if (!e)
		e = db_begin_write(c);
	if (!e)
		e = gw_flow_store_create(c, &a, doc, "admin", "tester", time_now_ms(), &rev);
	if (!e)
		e = db_commit(c);
	db_release(c);
	arena_release(&a);
	json_decref(doc);
	return e || rev != 1 ? -1 : 0;
}

static int group_teardown(void **state)
{
	json_decref(fx.log);
	json_decref(fx.requests);
	fx.log = fx.requests = NULL;
	return dbfx_teardown(state);
}

static int test_setup(void **state)
{
	(void)state;
	json_decref(fx.log);
	json_decref(fx.requests);
	fx.log = json_array();
	fx.requests = json_array();
	fx.fail = NULL;
	fx.fail_err = ERR_OK;
	fx.fail_status = 0;
	atomic_store(&fx.now, time_now_ms() + DAY_MS);
	return 0;
}

/* One SQL query's rows (for checks), in a. */
static struct db_rows *query(struct arena *a, const char *sql, int64_t id)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	if (id)
		assert_int_equal(db_exec(c, a, &rs, sql, "i", id), ERR_OK);
	else
		assert_int_equal(db_exec(c, a, &rs, sql, ""), ERR_OK);
	db_release(c);
	return rs;
}

static const char *log_text(char *buf, size_t n)
{
	size_t i, off = 0;
	json_t *x;
	buf[0] = 0;
	json_array_foreach (fx.log, i, x)
		off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? "," : "",
		                        json_string_value(x));
	return buf;
}

static json_t *apply_params(const char *case_no)
{
	return json_pack("{s:s, s:s}", "case_no", case_no, "id_number", "310104195001010015");
}

/* ---- documents ----------------------------------------------------------------------- */

static void test_revisions(void **state)
{
	(void)state;
	struct db_conn *c = NULL;
	struct arena a;
	struct gw_flow_row row;
	int64_t rev = 0;
	json_t *doc = parse(flow_doc);
	json_object_set_new(doc, "name", json_string("t.revised"));
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	assert_int_equal(gw_flow_store_create(c, &a, doc, "admin", "u1", 1, &rev), ERR_OK);
	assert_int_equal(rev, 1);
	assert_int_equal(gw_flow_store_create(c, &a, doc, "admin", "u1", 1, &rev), ERR_EXISTS);
	assert_int_equal(db_rollback(c), ERR_OK);

	assert_int_equal(db_begin_write(c), ERR_OK);
	assert_int_equal(gw_flow_store_create(c, &a, doc, "admin", "u1", 1, &rev), ERR_OK);
	json_object_set_new(doc, "title", json_string("改过的标题"));
	assert_int_equal(gw_flow_store_update(c, &a, doc, 5, "u2", 2, &rev), ERR_CONFLICT);
	assert_int_equal(gw_flow_store_update(c, &a, doc, 1, "u2", 2, &rev), ERR_OK);
	assert_int_equal(rev, 2);
	assert_int_equal(gw_flow_store_update(c, &a, doc, 1, "u3", 3, &rev), ERR_CONFLICT);
	assert_int_equal(gw_flow_store_get(c, &a, "t.revised", &row), ERR_OK);
	assert_string_equal(row.title, "改过的标题");
	assert_string_equal(row.updated_by, "u2");
	assert_string_equal(row.source, "admin");
	assert_int_equal(row.rev, 2);
	assert_int_equal(gw_flow_store_delete(c, &a, "t.revised", 1, "u2", 4), ERR_CONFLICT);
	assert_int_equal(gw_flow_store_delete(c, &a, "t.revised", 2, "u2", 4), ERR_OK);
	assert_int_equal(gw_flow_store_get(c, &a, "t.revised", &row), ERR_NOT_FOUND);
	assert_int_equal(gw_flow_store_delete(c, &a, "t.revised", 0, "u2", 4), ERR_NOT_FOUND);
	json_object_set_new(doc, "name", json_string("t.nothing"));
	assert_int_equal(gw_flow_store_update(c, &a, doc, 1, "u2", 2, &rev), ERR_NOT_FOUND);
	/* Created again: the revision goes on, so (name, rev) of old runs stays unique. */
	json_object_set_new(doc, "name", json_string("t.revised"));
	assert_int_equal(gw_flow_store_create(c, &a, doc, "admin", "u1", 5, &rev), ERR_OK);
	assert_int_equal(rev, 3);
	assert_int_equal(db_commit(c), ERR_OK);
	db_release(c);
	arena_release(&a);
	json_decref(doc);
}

static int seed_lookup(void *ctx, const char *connector, const char *method)
{
	(void)ctx;
	(void)method;
	return !strcmp(connector, "dept") || !strcmp(connector, "bjk") ? 0 : 1;
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_seed(void **state)
{
	(void)state;
	char dir[600];
	struct gw_flow_registry reg = {.lookup = seed_lookup};
	struct arena a;
	int added = -1;
	snprintf(dir, sizeof(dir), "%s/seed", dbfx.root);
	assert_int_equal(mkdir(dir, 0700), 0);
	json_t *doc = parse(flow_doc);
	json_object_set_new(doc, "name", json_string("t.seeded"));
	char *text = json_dumps(doc, 0);
	write_file(dir, "t.seeded.json", text);
	free(text);
	/* Invalid: unknown connector; wrong file name; not JSON. */
	json_object_set_new(doc, "name", json_string("t.badconn"));
	json_object_set_new(json_array_get(json_object_get(doc, "steps"), 1), "connector",
	                    json_string("nowhere"));
	text = json_dumps(doc, 0);
	write_file(dir, "t.badconn.json", text);
	write_file(dir, "t.other.json", text);
	free(text);
	write_file(dir, "t.broken.json", "{\"name\":");
	write_file(dir, "README.md", "not a flow");
	/* t.apply exists already (created by the fixture): never overwritten. */
	json_object_set_new(doc, "name", json_string("t.apply"));
	json_object_set_new(doc, "title", json_string("种子文件的版本"));
	json_object_set_new(json_array_get(json_object_get(doc, "steps"), 1), "connector",
	                    json_string("bjk"));
	text = json_dumps(doc, 0);
	write_file(dir, "t.apply.json", text);
	free(text);
	json_decref(doc);

	assert_int_equal(gw_flow_seed(&dbfx.srv, dir, &reg, &added), ERR_OK);
	assert_int_equal(added, 1);
	arena_init(&a, 0);
	struct db_rows *rs = query(&a,
	                           "SELECT name, source, rev FROM gateway_flows WHERE name LIKE "
	                           "'t.%' ORDER BY name",
	                           0);
	char got[600] = "";
	size_t off = 0;
	for (int i = 0; i < rs->nrows; i++)
		off += (size_t)snprintf(got + off, sizeof(got) - off, "%s/%s;", db_text(rs, i, 0),
		                        db_text(rs, i, 1));
	assert_non_null(strstr(got, "t.seeded/seed;"));
	assert_null(strstr(got, "t.badconn"));
	assert_null(strstr(got, "t.other"));
	rs = query(&a, "SELECT title FROM gateway_flows WHERE name = 't.apply'", 0);
	assert_string_equal(db_text(rs, 0, 0), "测试申请");

	/* A deleted seeded flow stays deleted on the next start. */
	struct db_conn *c = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(gw_flow_store_delete(c, &a, "t.seeded", 0, "ops", 9), ERR_OK);
	db_release(c);
	assert_int_equal(gw_flow_seed(&dbfx.srv, dir, &reg, &added), ERR_OK);
	assert_int_equal(added, 0);
	rs = query(&a, "SELECT deleted FROM gateway_flows WHERE name = 't.seeded'", 0);
	assert_int_equal(db_int(rs, 0, 0), 1);
	arena_release(&a);
}

/* ---- synchronous runs and their records ---------------------------------------------- */

static void test_run_recorded(void **state)
{
	(void)state;
	struct arena a;
	struct gw_flow_outcome o;
	struct errinfo ei = {0};
	struct gw_flow_run_opts opts = {.mode = "debug"};
	struct gateway_caller caller = {.module = "test", .user = "ops"};
	int64_t run_id = 0;
	char buf[256];
	json_t *p = apply_params("SL-1");
	arena_init(&a, 0);
	assert_int_equal(
	    gw_flow_run_ex(&dbfx.srv, &hooks, &opts, "t.apply", p, &caller, &a, &o, &run_id, &ei),
	    ERR_OK);
	assert_true(run_id > 0);
	assert_string_equal(o.status, "ok");
	assert_int_equal(o.rev, 1);
	/* The caller gets the real result; the record keeps it masked. */
	assert_string_equal(json_string_value(json_object_get(o.result, "name")), "张三丰");
	assert_string_equal(log_text(buf, sizeof(buf)), "dept.submit,bjk.case_report");
	/* Without a key of its own, a run's key names the run. */
	char want[64];
	snprintf(want, sizeof(want), "flow-run-%lld", (long long)run_id);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(fx.requests, 0), "key")), want);

	struct db_rows *rs =
	    query(&a,
	          "SELECT status, mode, flow_rev, steps, result, caller_module, caller_user, "
	          "finished_at, duration_us, failed_step FROM gateway_runs WHERE id = ?",
	          run_id);
	assert_int_equal(rs->nrows, 1);
	assert_string_equal(db_text(rs, 0, 0), "ok");
	assert_string_equal(db_text(rs, 0, 1), "debug");
	assert_int_equal(db_int(rs, 0, 2), 1);
	assert_int_equal(db_int(rs, 0, 3), 2);
	assert_non_null(strstr(db_text(rs, 0, 4), "张*"));
	assert_null(strstr(db_text(rs, 0, 4), "张三丰"));
	assert_string_equal(db_text(rs, 0, 5), "test");
	assert_string_equal(db_text(rs, 0, 6), "ops");
	assert_true(db_int(rs, 0, 7) > 0);
	assert_true(db_is_null(rs, 0, 9));

	rs = query(&a,
	           "SELECT seq, step, kind, outcome, request, http_status FROM gateway_run_steps "
	           "WHERE run_id = ? ORDER BY seq",
	           run_id);
	assert_int_equal(rs->nrows, 2);
	assert_string_equal(db_text(rs, 0, 1), "submit");
	assert_string_equal(db_text(rs, 0, 3), "ok");
	assert_non_null(strstr(db_text(rs, 0, 4), "\"***\""));
	assert_null(strstr(db_text(rs, 0, 4), "310104195001010015"));
	assert_int_equal(db_int(rs, 0, 5), 200);
	assert_string_equal(db_text(rs, 1, 1), "report");

	/* The run as the admin API shows it. */
	struct db_conn *c = NULL;
	json_t *run = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(gw_flow_store_run_get(c, &a, run_id, &run), ERR_OK);
	assert_string_equal(json_string_value(json_object_get(run, "status")), "ok");
	assert_int_equal(json_array_size(json_object_get(run, "step_records")), 2);
	json_decref(run);
	struct gw_flow_run_filter f = {.flow = "t.apply", .status = "ok", .limit = 10};
	json_t *runs = NULL;
	assert_int_equal(gw_flow_store_runs(c, &a, &f, &runs), ERR_OK);
	assert_true(json_array_size(runs) >= 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 0), "id")),
	                 run_id);
	json_decref(runs);
	f.status = "failed";
	assert_int_equal(gw_flow_store_runs(c, &a, &f, &runs), ERR_OK);
	assert_int_equal(json_array_size(runs), 0);
	json_decref(runs);
	f.status = NULL;
	f.from = time_now_ms() + DAY_MS;
	assert_int_equal(gw_flow_store_runs(c, &a, &f, &runs), ERR_OK);
	assert_int_equal(json_array_size(runs), 0);
	json_decref(runs);
	db_release(c);
	arena_release(&a);
	json_decref(p);
}

static void test_run_compensated_recorded(void **state)
{
	(void)state;
	struct arena a;
	struct gw_flow_outcome o;
	struct errinfo ei = {0};
	int64_t run_id = 0;
	char buf[256];
	json_t *p = apply_params("SL-2");
	fx.fail = "bjk.case_report";
	fx.fail_err = ERR_UPSTREAM;
	fx.fail_status = 503;
	arena_init(&a, 0);
	assert_int_equal(
	    gw_flow_run_ex(&dbfx.srv, &hooks, NULL, "t.apply", p, NULL, &a, &o, &run_id, &ei),
	    ERR_OK);
	assert_string_equal(o.status, "compensated");
	assert_string_equal(log_text(buf, sizeof(buf)), "dept.submit,bjk.case_report,dept.cancel");
	struct db_rows *rs = query(&a,
	                           "SELECT status, failed_step, error_code, error_message, result "
	                           "FROM gateway_runs WHERE id = ?",
	                           run_id);
	assert_string_equal(db_text(rs, 0, 0), "compensated");
	assert_string_equal(db_text(rs, 0, 1), "report");
	assert_string_equal(db_text(rs, 0, 2), "upstream_error");
	assert_non_null(strstr(db_text(rs, 0, 3), "已回退 1 个"));
	assert_true(db_is_null(rs, 0, 4));
	rs = query(
	    &a,
	    "SELECT step, kind, method, outcome FROM gateway_run_steps WHERE run_id = ? ORDER "
	    "BY seq",
	    run_id);
	assert_int_equal(rs->nrows, 3);
	assert_string_equal(db_text(rs, 1, 3), "error");
	assert_string_equal(db_text(rs, 2, 0), "submit");
	assert_string_equal(db_text(rs, 2, 1), "compensate");
	assert_string_equal(db_text(rs, 2, 2), "cancel");

	arena_release(&a);
	json_decref(p);
}

static void test_run_refused_before_start(void **state)
{
	(void)state;
	struct arena a;
	struct gw_flow_outcome o;
	struct errinfo ei = {0};
	int64_t run_id = -1;
	arena_init(&a, 0);
	struct db_rows *before = query(&a, "SELECT count(*) FROM gateway_runs", 0);
	json_t *p = json_pack("{s:s}", "case_no", "SL-3");
	assert_int_equal(
	    gw_flow_run_ex(&dbfx.srv, &hooks, NULL, "t.apply", p, NULL, &a, &o, &run_id, &ei),
	    ERR_INVALID);
	assert_string_equal(ei.field, "params.id_number");
	assert_int_equal(run_id, 0);
	memset(&ei, 0, sizeof(ei));
	assert_int_equal(
	    gw_flow_run_ex(&dbfx.srv, &hooks, NULL, "t.nope", p, NULL, &a, &o, &run_id, &ei),
	    ERR_NOT_FOUND);
	assert_non_null(strstr(ei.msg, "t.nope"));
	assert_int_equal(
	    gw_flow_run_ex(&dbfx.srv, &hooks, NULL, "../etc", p, NULL, &a, &o, &run_id, &ei),
	    ERR_NOT_FOUND);
	struct db_rows *after = query(&a, "SELECT count(*) FROM gateway_runs", 0);
	assert_int_equal(db_int(before, 0, 0), db_int(after, 0, 0));
	assert_int_equal(json_array_size(fx.log), 0);
	arena_release(&a);
	json_decref(p);
}

/* ---- asynchronous runs --------------------------------------------------------------- */

static struct outbox *new_outbox(void)
{
	struct outbox *o = NULL;
	struct outbox_config cfg = {.workers = 1,
	                            .batch = 8,
	                            .poll_ms = 50,
	                            .lease_ms = 60000,
	                            .node = "test",
	                            .now_ms = test_clock};
	struct outbox_policy pol = {
	    .max_attempts = 5, .base_backoff_ms = 1000, .max_backoff_ms = 60000};
	assert_int_equal(outbox_create(&dbfx.srv, &cfg, &o), ERR_OK);
	assert_int_equal(outbox_register(o, GATEWAY_FLOW_EVENT_KIND, gw_flow_deliver, &hooks, &pol),
	                 ERR_OK);
	return o;
}

static enum err enqueue(const char *flow, const json_t *params, const char *key)
{
	struct db_conn *c = NULL;
	struct arena a;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	enum err e = gateway_flow_enqueue(&dbfx.srv, c, &a, flow, params, key);
	if (!e)
		assert_int_equal(db_commit(c), ERR_OK);
	else
		db_rollback(c);
	db_release(c);
	arena_release(&a);
	return e;
}

struct ev_row {
	char status[16];
	int64_t attempts;
	char last_error[600];
	char payload[4096];
};

static void event_of(const char *key, struct ev_row *r)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs,
	                         "SELECT status, attempts, last_error, payload FROM events WHERE "
	                         "idempotency_key = ?",
	                         "s", key),
	                 ERR_OK);
	db_release(c);
	assert_int_equal(rs->nrows, 1);
	snprintf(r->status, sizeof(r->status), "%s", db_text(rs, 0, 0));
	r->attempts = db_int(rs, 0, 1);
	snprintf(r->last_error, sizeof(r->last_error), "%s",
	         db_text(rs, 0, 2) ? db_text(rs, 0, 2) : "");
	snprintf(r->payload, sizeof(r->payload), "%s", db_text(rs, 0, 3));
	arena_release(&a);
}

static void test_async_retried_until_it_arrives(void **state)
{
	(void)state;
	struct outbox *o = new_outbox();
	struct ev_row ev;
	struct arena a;
	int delivered = -1;
	char buf[256];
	json_t *p = apply_params("SL-10");
	/* The department is down: the run fails (and compensates nothing: nothing done). */
	fx.fail = "dept.submit";
	fx.fail_err = ERR_TIMEOUT;
	assert_int_equal(enqueue("t.apply", p, "case:SL-10:submit"), ERR_OK);
	event_of("case:SL-10:submit", &ev);
	/* The parameters are sealed in the event row. */
	assert_null(strstr(ev.payload, "310104195001010015"));
	assert_null(strstr(ev.payload, "SL-10"));
	assert_non_null(strstr(ev.payload, "\"flow\":\"t.apply\""));

	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 0);
	event_of("case:SL-10:submit", &ev);
	assert_string_equal(ev.status, "pending");
	assert_int_equal(ev.attempts, 1);
	assert_non_null(strstr(ev.last_error, "submit"));
	assert_non_null(strstr(ev.last_error, "timeout"));
	assert_null(strstr(ev.last_error, "310104"));

	/* Not due yet: nothing happens. */
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 0);
	assert_string_equal(log_text(buf, sizeof(buf)), "dept.submit");

	/* The department is back; after the backoff the run goes through. */
	fx.fail = NULL;
	atomic_fetch_add(&fx.now, 5000);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 1);
	event_of("case:SL-10:submit", &ev);
	assert_string_equal(ev.status, "done");
	assert_string_equal(log_text(buf, sizeof(buf)), "dept.submit,dept.submit,bjk.case_report");
	/* The key of the event is the run's key, on every attempt. */
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(fx.requests, 1), "key")),
	    "case:SL-10:submit");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(fx.requests, 1), "id_number")),
	    "310104195001010015");

	arena_init(&a, 0);
	struct db_conn *c = NULL;
	json_t *runs = NULL;
	struct gw_flow_run_filter f = {.idempotency_key = "case:SL-10:submit", .limit = 10};
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(gw_flow_store_runs(c, &a, &f, &runs), ERR_OK);
	db_release(c);
	assert_int_equal(json_array_size(runs), 2);
	/* newest first */
	assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "status")),
	                    "ok");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 0), "attempt")),
	                 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 0), "mode")),
	                    "async");
	assert_string_equal(json_string_value(json_object_get(json_array_get(runs, 1), "status")),
	                    "failed");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(runs, 1), "attempt")),
	                 1);
	json_decref(runs);
	arena_release(&a);

	/* The same key again is refused, and the caller's transaction stays usable. */
	assert_int_equal(enqueue("t.apply", p, "case:SL-10:submit"), ERR_EXISTS);
	outbox_destroy(o);
	json_decref(p);
}

static void test_async_dead_letters(void **state)
{
	(void)state;
	struct outbox *o = new_outbox();
	struct ev_row ev;
	int delivered;
	json_t *p = apply_params("SL-20");
	json_t *bad = json_pack("{s:s}", "case_no", "SL-21");

	/* A flow nobody defined, parameters the flow refuses, a 4xx refusal: dead at once. */
	assert_int_equal(enqueue("t.undefined", p, "k-undefined"), ERR_OK);
	assert_int_equal(enqueue("t.apply", bad, "k-badparams"), ERR_OK);
	fx.fail = "dept.submit";
	fx.fail_err = ERR_UPSTREAM;
	fx.fail_status = 422;
	assert_int_equal(enqueue("t.apply", p, "k-refused"), ERR_OK);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 0);
	event_of("k-undefined", &ev);
	assert_string_equal(ev.status, "dead");
	assert_non_null(strstr(ev.last_error, "流程不存在"));
	event_of("k-badparams", &ev);
	assert_string_equal(ev.status, "dead");
	assert_non_null(strstr(ev.last_error, "params.id_number"));
	event_of("k-refused", &ev);
	assert_string_equal(ev.status, "dead");
	assert_non_null(strstr(ev.last_error, "HTTP 422"));

	/* An answer that fails the step's expect is the system's considered reply: dead. */
	fx.fail = NULL;
	struct db_conn *ec = NULL;
	struct arena ea;
	int64_t erev;
	json_t *edoc = parse(flow_doc);
	json_object_set_new(edoc, "name", json_string("t.expect"));
	json_object_set_new(json_array_get(json_object_get(edoc, "steps"), 0), "expect",
	                    json_pack("{s:s, s:s, s:s}", "path", "steps.submit.response.dept_no",
	                              "op", "eq", "value", "D-2"));
	arena_init(&ea, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &ec), ERR_OK);
	assert_int_equal(db_begin_write(ec), ERR_OK);
	assert_int_equal(gw_flow_store_create(ec, &ea, edoc, "admin", "t", 1, &erev), ERR_OK);
	assert_int_equal(db_commit(ec), ERR_OK);
	db_release(ec);
	arena_release(&ea);
	json_decref(edoc);
	assert_int_equal(enqueue("t.expect", p, "k-unexpected"), ERR_OK);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	event_of("k-unexpected", &ev);
	assert_string_equal(ev.status, "dead");
	assert_non_null(strstr(ev.last_error, "submit"));
	fx.fail = "dept.submit";

	/* A 503 is worth retrying. */
	fx.fail_status = 503;
	assert_int_equal(enqueue("t.apply", p, "k-503"), ERR_OK);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	event_of("k-503", &ev);
	assert_string_equal(ev.status, "pending");

	/* Tampered parameters do not decrypt: dead, and nothing was called. */
	struct db_conn *c = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	struct arena a;
	arena_init(&a, 0);
	assert_int_equal(outbox_enqueue(c, &a, GATEWAY_FLOW_EVENT_KIND, NULL,
	                                "{\"v\":1,\"flow\":\"t.apply\",\"params\":\"00ff\"}",
	                                "k-tampered", NULL),
	                 ERR_OK);
	assert_int_equal(
	    outbox_enqueue(c, &a, GATEWAY_FLOW_EVENT_KIND, NULL, "[1,2]", "k-junk", NULL), ERR_OK);
	assert_int_equal(db_commit(c), ERR_OK);
	db_release(c);
	arena_release(&a);
	size_t calls_before = json_array_size(fx.log);
	atomic_fetch_add(&fx.now, 1); /* not yet due for k-503's retry */
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	event_of("k-tampered", &ev);
	assert_string_equal(ev.status, "dead");
	assert_non_null(strstr(ev.last_error, "无法解密"));
	event_of("k-junk", &ev);
	assert_string_equal(ev.status, "dead");
	assert_int_equal(json_array_size(fx.log), calls_before);

	/* Bad arguments never reach the table. */
	assert_int_equal(enqueue("Not A Flow", p, NULL), ERR_BAD_FIELD);
	json_t *s = json_string("x");
	assert_int_equal(enqueue("t.apply", s, NULL), ERR_BAD_FIELD);
	json_decref(s);
	outbox_destroy(o);
	json_decref(p);
	json_decref(bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_revisions, test_setup),
	    cmocka_unit_test_setup(test_seed, test_setup),
	    cmocka_unit_test_setup(test_run_recorded, test_setup),
	    cmocka_unit_test_setup(test_run_compensated_recorded, test_setup),
	    cmocka_unit_test_setup(test_run_refused_before_start, test_setup),
	    cmocka_unit_test_setup(test_async_retried_until_it_arrives, test_setup),
	    cmocka_unit_test_setup(test_async_dead_letters, test_setup),
	};
	const struct dbfx_opts opts = {.data_key = true};
	log_setup(LOG_ERROR, stderr);
	return dbfx_run("flow_run", &opts, tests, sizeof(tests) / sizeof(tests[0]), group_setup,
	                group_teardown);
}
