/* test_flow_engine.c: the step engine — requests rendered over params, globals and earlier
 * steps, conditions, the error policies (stop, compensate in reverse order, continue, per
 * flow and per step), expect, parameter checks and the masking of the records. The calls go
 * to a scripted fake through the engine's hooks (gateway_int.h), so every call the engine
 * makes is seen, in order, with its request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"
#include "gateway/gateway_int.h"

/* ---- the fake external side ---------------------------------------------------------- */

struct script {
	const char *call; /* "connector.method" */
	enum err err;     /* what the call returns */
	int http_status;
	const char *response; /* JSON text, NULL for none */
};

struct fake {
	const struct script *script;
	size_t n;
	json_t *log; /* [{"call": "c.m", "request": …}] */
};

static struct fake fk;

static enum err fake_call(void *ctx, struct server *srv, const char *connector, const char *method,
                          const json_t *request, const struct gateway_caller *caller,
                          struct arena *a, struct gateway_call_result *out, struct errinfo *ei)
{
	struct fake *f = ctx;
	char name[128];
	(void)srv;
	(void)caller;
	snprintf(name, sizeof(name), "%s.%s", connector, method);
	json_array_append_new(f->log, json_pack("{s:s, s:O}", "call", name, "request", request));
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < f->n; i++) {
		if (strcmp(f->script[i].call, name))
			continue;
		const struct script *s = &f->script[i];
		out->http_status = s->http_status ? s->http_status : (s->err ? 502 : 200);
		out->attempts = 1;
		out->call_id = 1000 + (int64_t)json_array_size(f->log);
		out->outcome = s->err == ERR_OK        ? GATEWAY_OUTCOME_OK
		               : s->err == ERR_TIMEOUT ? GATEWAY_OUTCOME_TIMEOUT
		                                       : GATEWAY_OUTCOME_ERROR;
		if (s->response)
			out->response = json_arena_own(a, json_loads(s->response, 0, NULL));
		if (s->err) {
			ei->code = s->err;
			ei->msg = "对方系统拒绝了请求";
		}
		return s->err;
	}
	out->outcome = GATEWAY_OUTCOME_OK;
	out->http_status = 200;
	out->response = json_arena_own(a, json_object());
	return ERR_OK;
}

/* Masks every member named "id_number" (the real hook masks by the method's list). */
static json_t *fake_mask(void *ctx, struct server *srv, const char *connector, const char *method,
                         const json_t *v)
{
	(void)ctx;
	(void)srv;
	(void)connector;
	(void)method;
	json_t *c = json_deep_copy(v);
	if (json_is_object(c) && json_object_get(c, "id_number"))
		json_object_set_new(c, "id_number", json_string("***"));
	return c;
}

static struct gw_flow_hooks hooks = {
    .call = fake_call, .call_ctx = &fk, .mask = fake_mask, .mask_ctx = NULL};

static void use(const struct script *s, size_t n)
{
	json_decref(fk.log);
	fk.script = s;
	fk.n = n;
	fk.log = json_array();
}

/* "c.m,c.m,…" of the calls made so far. */
static const char *calls(char *buf, size_t n)
{
	size_t i, off = 0;
	json_t *x;
	buf[0] = 0;
	json_array_foreach (fk.log, i, x)
		off += (size_t)snprintf(buf + off, n - off, "%s%s", i ? "," : "",
		                        json_string_value(json_object_get(x, "call")));
	return buf;
}

static const json_t *request_of(size_t i)
{
	return json_object_get(json_array_get(fk.log, i), "request");
}

/* ---- flows --------------------------------------------------------------------------- */

/* Three steps: query (lookup), submit (compensable), notify (compensable); bjk report. */
static const char *flow_text =
    "{\"name\": \"t.submit\", \"title\": \"测试提交\", \"on_error\": \"%s\","
    " \"params\": {\"case_no\": {\"required\": true, \"type\": \"string\", \"title\": "
    "\"办件编号\"},"
    "              \"applicant\": {\"required\": true, \"type\": \"object\"},"
    "              \"channel\": {\"type\": \"string\", \"default\": \"1\"}},"
    " \"globals\": {\"source\": \"shouli\", \"case\": \"C-{{params.case_no}}\"},"
    " \"steps\": ["
    "  {\"id\": \"query\", \"connector\": \"dept\", \"method\": \"query\","
    "   \"request\": {\"id_number\": \"{{params.applicant.id_number}}\", \"channel\": "
    "\"{{params.channel}}\"}},"
    "  {\"id\": \"submit\", \"title\": \"提交申请\", \"connector\": \"dept\", \"method\": "
    "\"submit\","
    "   \"when\": {\"path\": \"steps.query.response.eligible\", \"op\": \"eq\", \"value\": true},"
    "   \"request\": {\"case\": \"{{globals.case}}\", \"who\": \"{{params.applicant}}\","
    "                \"level\": \"{{steps.query.response.level}}\", \"key\": "
    "\"{{run.idempotency_key}}\"},"
    "   \"compensate\": {\"connector\": \"dept\", \"method\": \"cancel\","
    "                   \"request\": {\"dept_no\": \"{{steps.submit.response.dept_no}}\"}}},"
    "  {\"id\": \"notify\", \"connector\": \"dept\", \"method\": \"notify\","
    "   \"request\": {\"dept_no\": \"{{steps.submit.response.dept_no}}\"},"
    "   \"compensate\": {\"connector\": \"dept\", \"method\": \"unnotify\","
    "                   \"request\": {\"dept_no\": \"{{steps.submit.response.dept_no}}\", \"n\": "
    "\"{{steps.notify.response.n}}\"}}},"
    "  {\"id\": \"report\", \"connector\": \"bjk\", \"method\": \"case_report\","
    "   \"request\": {\"case_no\": \"{{params.case_no}}\", \"dept_no\": "
    "\"{{steps.submit.response.dept_no}}\","
    "                \"source\": \"{{globals.source}}\"}}],"
    " \"result\": {\"dept_no\": \"{{steps.submit.response.dept_no}}\", \"report\": "
    "\"{{steps.report.outcome}}\","
    "             \"text\": \"办件 {{params.case_no}} → {{steps.submit.response.dept_no}}\"}}";

static json_t *flow(const char *policy)
{
	char text[4096];
	snprintf(text, sizeof(text), flow_text, policy);
	json_error_t je;
	json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!v)
		fail_msg("flow: %s (col %d)", je.text, je.column);
	return v;
}

static json_t *params(void)
{
	return json_pack("{s:s, s:{s:s, s:s}, s:s}", "case_no", "SL2026001", "applicant", "name",
	                 "张三", "id_number", "310104195001010015", "unused", "dropped");
}

static const json_t *run_obj(void)
{
	static json_t *run;
	if (!run)
		run = json_pack("{s:i, s:s, s:i, s:s}", "id", 7, "idempotency_key",
		                "case-SL2026001", "attempt", 1, "flow", "t.submit");
	return run;
}

/* Execute doc with params p; the outcome in *o, memory in a. */
static enum err run(const json_t *doc, const json_t *p, struct arena *a, struct gw_flow_outcome *o)
{
	struct errinfo ei = {0};
	json_t *prepared = NULL;
	enum err e = gw_flow_params(doc, p, a, &prepared, &ei);
	if (e)
		return e;
	struct gateway_caller caller = {.module = "test",
	                                .trace_id = "0af7651916cd43dd8448eb211c80319c"};
	return gw_flow_execute(NULL, &hooks, doc, prepared, &caller, run_obj(), a, o);
}

static const json_t *record(const struct gw_flow_outcome *o, size_t i)
{
	return json_array_get(o->steps, i);
}

static const char *rec_str(const struct gw_flow_outcome *o, size_t i, const char *key)
{
	return json_string_value(json_object_get(record(o, i), key));
}

/* ---- tests --------------------------------------------------------------------------- */

static const struct script all_ok[] = {
    {"dept.query", ERR_OK, 200, "{\"eligible\": true, \"level\": 3}"},
    {"dept.submit", ERR_OK, 201, "{\"dept_no\": \"MZ-77\"}"},
    {"dept.notify", ERR_OK, 200, "{\"n\": 1}"},
};

static void test_success_renders_everything(void **state)
{
	(void)state;
	struct arena a;
	struct gw_flow_outcome o;
	char buf[512];
	json_t *doc = flow("stop"), *p = params();
	arena_init(&a, 0);
	use(all_ok, 3);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	assert_string_equal(o.status, "ok");
	assert_int_equal(o.err, ERR_OK);
	assert_null(o.failed_step);
	assert_string_equal(calls(buf, sizeof(buf)),
	                    "dept.query,dept.submit,dept.notify,bjk.case_report");

	/* Requests: params (with the default), globals (rendered from params), an earlier
	 * step's response (any JSON type), the run's idempotency key, whole objects. */
	assert_string_equal(json_string_value(json_object_get(request_of(0), "id_number")),
	                    "310104195001010015");
	assert_string_equal(json_string_value(json_object_get(request_of(0), "channel")), "1");
	assert_string_equal(json_string_value(json_object_get(request_of(1), "case")),
	                    "C-SL2026001");
	assert_int_equal(json_integer_value(json_object_get(request_of(1), "level")), 3);
	assert_string_equal(json_string_value(json_object_get(request_of(1), "key")),
	                    "case-SL2026001");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(request_of(1), "who"), "name")),
	    "张三");
	assert_string_equal(json_string_value(json_object_get(request_of(3), "dept_no")), "MZ-77");
	assert_string_equal(json_string_value(json_object_get(request_of(3), "source")), "shouli");

	/* The result. */
	assert_string_equal(json_string_value(json_object_get(o.result, "dept_no")), "MZ-77");
	assert_string_equal(json_string_value(json_object_get(o.result, "report")), "ok");
	assert_string_equal(json_string_value(json_object_get(o.result, "text")),
	                    "办件 SL2026001 → MZ-77");

	/* Records: one per step, in order, masked, with status and ids. */
	assert_int_equal(json_array_size(o.steps), 4);
	assert_string_equal(rec_str(&o, 0, "step"), "query");
	assert_string_equal(rec_str(&o, 0, "kind"), "call");
	assert_string_equal(rec_str(&o, 0, "outcome"), "ok");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(record(&o, 0), "request"), "id_number")),
	                    "***");
	assert_int_equal(json_integer_value(json_object_get(record(&o, 1), "http_status")), 201);
	assert_string_equal(rec_str(&o, 1, "title"), "提交申请");
	assert_int_equal(json_integer_value(json_object_get(record(&o, 1), "seq")), 2);
	assert_true(json_integer_value(json_object_get(record(&o, 1), "call_id")) > 0);
	/* The engine's own copy is unmasked: the call got the real number. */
	assert_string_equal(json_string_value(json_object_get(request_of(0), "id_number")),
	                    "310104195001010015");
	arena_release(&a);
	json_decref(doc);
	json_decref(p);
}

static void test_when_false_skips(void **state)
{
	(void)state;
	static const struct script s[] = {
	    {"dept.query", ERR_OK, 200, "{\"eligible\": false}"},
	};
	struct arena a;
	struct gw_flow_outcome o;
	char buf[512];
	json_t *doc = flow("stop"), *p = params();
	arena_init(&a, 0);
	use(s, 1);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	assert_string_equal(o.status, "ok");
	/* submit is skipped; notify and report still run (with nothing from submit). */
	assert_string_equal(calls(buf, sizeof(buf)), "dept.query,dept.notify,bjk.case_report");
	assert_string_equal(rec_str(&o, 1, "step"), "submit");
	assert_string_equal(rec_str(&o, 1, "outcome"), "skipped");
	assert_true(json_is_null(json_object_get(request_of(2), "dept_no")));
	assert_true(json_is_null(json_object_get(o.result, "dept_no")));
	assert_string_equal(json_string_value(json_object_get(o.result, "text")),
	                    "办件 SL2026001 → ");
	arena_release(&a);
	json_decref(doc);
	json_decref(p);
}

static void test_stop_policy(void **state)
{
	(void)state;
	static const struct script s[] = {
	    {"dept.query", ERR_OK, 200, "{\"eligible\": true}"},
	    {"dept.submit", ERR_OK, 200, "{\"dept_no\": \"MZ-1\"}"},
	    {"dept.notify", ERR_TIMEOUT, 0, NULL},
	};
	struct arena a;
	struct gw_flow_outcome o;
	char buf[512];
	json_t *doc = flow("stop"), *p = params();
	arena_init(&a, 0);
	use(s, 3);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	assert_string_equal(o.status, "failed");
	assert_int_equal(o.err, ERR_TIMEOUT);
	assert_string_equal(o.failed_step, "notify");
	assert_string_equal(o.failed_outcome, "timeout");
	assert_null(o.result);
	/* Nothing after the failed step, nothing compensated. */
	assert_string_equal(calls(buf, sizeof(buf)), "dept.query,dept.submit,dept.notify");
	assert_int_equal(json_array_size(o.steps), 3);
	assert_string_equal(rec_str(&o, 2, "outcome"), "timeout");
	assert_non_null(strstr(o.ei.msg, "流程“测试提交”在步骤“notify”失败"));
	arena_release(&a);
	json_decref(doc);
	json_decref(p);
}

static void test_compensate_in_reverse(void **state)
{
	(void)state;
	static const struct script s[] = {
	    {"dept.query", ERR_OK, 200, "{\"eligible\": true}"},
	    {"dept.submit", ERR_OK, 200, "{\"dept_no\": \"MZ-9\"}"},
	    {"dept.notify", ERR_OK, 200, "{\"n\": 4}"},
	    {"bjk.case_report", ERR_UPSTREAM, 503, "{\"message\": \"维护中\"}"},
	};
	struct arena a;
	struct gw_flow_outcome o;
	char buf[512];
	json_t *doc = flow("compensate"), *p = params();
	arena_init(&a, 0);
	use(s, 4);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	assert_string_equal(o.status, "compensated");
	assert_int_equal(o.err, ERR_UPSTREAM);
	assert_int_equal(o.http_status, 503);
	assert_string_equal(o.failed_step, "report");
	/* notify is undone before submit; query has no compensation. */
	assert_string_equal(
	    calls(buf, sizeof(buf)),
	    "dept.query,dept.submit,dept.notify,bjk.case_report,dept.unnotify,dept.cancel");
	assert_string_equal(json_string_value(json_object_get(request_of(4), "dept_no")), "MZ-9");
	assert_int_equal(json_integer_value(json_object_get(request_of(4), "n")), 4);
	assert_string_equal(json_string_value(json_object_get(request_of(5), "dept_no")), "MZ-9");
	assert_int_equal(json_array_size(o.steps), 6);
	assert_string_equal(rec_str(&o, 4, "kind"), "compensate");
	assert_string_equal(rec_str(&o, 4, "step"), "notify");
	assert_string_equal(rec_str(&o, 5, "step"), "submit");
	assert_string_equal(rec_str(&o, 5, "method"), "cancel");
	assert_string_equal(rec_str(&o, 3, "outcome"), "error");
	assert_non_null(strstr(o.ei.msg, "已回退 2 个"));
	arena_release(&a);
	json_decref(doc);
	json_decref(p);
}

static void test_compensation_failure_goes_on(void **state)
{
	(void)state;
	static const struct script s[] = {
	    {"dept.query", ERR_OK, 200, "{\"eligible\": true}"},
	    {"dept.submit", ERR_OK, 200, "{\"dept_no\": \"MZ-2\"}"},
	    {"dept.notify", ERR_OK, 200, "{}"},
	    {"bjk.case_report", ERR_UPSTREAM, 500, NULL},
	    {"dept.unnotify", ERR_UNAVAILABLE, 0, NULL},
	};
	struct arena a;
	struct gw_flow_outcome o;
	char buf[512];
	json_t *doc = flow("compensate"), *p = params();
	arena_init(&a, 0);
	use(s, 5);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	assert_string_equal(o.status, "compensation_failed");
	/* The failed compensation does not keep the earlier step from being undone. */
	assert_string_equal(
	    calls(buf, sizeof(buf)),
	    "dept.query,dept.submit,dept.notify,bjk.case_report,dept.unnotify,dept.cancel");
	assert_non_null(strstr(o.ei.msg, "回退未全部成功"));
	arena_release(&a);
	json_decref(doc);
	json_decref(p);
}

static void test_compensate_nothing_done(void **state)
{
	(void)state;
	static const struct script s[] = {
	    {"dept.query", ERR_UPSTREAM, 400, "{\"message\": \"证件号码有误\"}"},
	};
	struct arena a;
	struct gw_flow_outcome o;
	char buf[512];
	json_t *doc = flow("compensate"), *p = params();
	arena_init(&a, 0);
	use(s, 1);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	/* Nothing was completed, so nothing to undo: failed, not "compensated". */
	assert_string_equal(o.status, "failed");
	assert_int_equal(o.http_status, 400);
	assert_string_equal(calls(buf, sizeof(buf)), "dept.query");
	/* The error answer is recorded (masked like any response). */
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(record(&o, 0), "response"), "message")),
	                    "证件号码有误");
	arena_release(&a);
	json_decref(doc);
	json_decref(p);
}

static void test_continue_policy(void **state)
{
	(void)state;
	static const struct script s[] = {
	    {"dept.query", ERR_OK, 200, "{\"eligible\": true}"},
	    {"dept.submit", ERR_OK, 200, "{\"dept_no\": \"MZ-3\"}"},
	    {"dept.notify", ERR_UPSTREAM, 500, NULL},
	};
	struct arena a;
	struct gw_flow_outcome o;
	char buf[512];
	json_t *doc = flow("continue"), *p = params();
	arena_init(&a, 0);
	use(s, 3);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	assert_string_equal(o.status, "partial");
	assert_int_equal(o.err, ERR_OK);
	assert_string_equal(calls(buf, sizeof(buf)),
	                    "dept.query,dept.submit,dept.notify,bjk.case_report");
	assert_string_equal(rec_str(&o, 2, "outcome"), "error");
	assert_string_equal(json_string_value(json_object_get(o.result, "dept_no")), "MZ-3");
	arena_release(&a);
	json_decref(doc);
	json_decref(p);
}

static void test_step_policy_overrides_flow(void **state)
{
	(void)state;
	static const struct script s[] = {
	    {"dept.query", ERR_OK, 200, "{\"eligible\": true}"},
	    {"dept.submit", ERR_OK, 200, "{\"dept_no\": \"MZ-4\"}"},
	    {"dept.notify", ERR_OK, 200, "{}"},
	    {"bjk.case_report", ERR_UPSTREAM, 500, NULL},
	};
	struct arena a;
	struct gw_flow_outcome o;
	char buf[512];
	/* The flow compensates, but the 办件库 report may fail on its own. */
	json_t *doc = flow("compensate"), *p = params();
	json_object_set_new(json_array_get(json_object_get(doc, "steps"), 3), "on_error",
	                    json_string("continue"));
	arena_init(&a, 0);
	use(s, 4);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	assert_string_equal(o.status, "partial");
	assert_string_equal(calls(buf, sizeof(buf)),
	                    "dept.query,dept.submit,dept.notify,bjk.case_report");
	assert_string_equal(json_string_value(json_object_get(o.result, "report")), "error");
	arena_release(&a);

	/* And the other way: the flow stops, one step compensates. */
	json_object_set_new(doc, "on_error", json_string("stop"));
	json_object_set_new(json_array_get(json_object_get(doc, "steps"), 3), "on_error",
	                    json_string("compensate"));
	arena_init(&a, 0);
	use(s, 4);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	assert_string_equal(o.status, "compensated");
	assert_string_equal(
	    calls(buf, sizeof(buf)),
	    "dept.query,dept.submit,dept.notify,bjk.case_report,dept.unnotify,dept.cancel");
	arena_release(&a);
	json_decref(doc);
	json_decref(p);
}

static void test_expect(void **state)
{
	(void)state;
	static const struct script s[] = {
	    {"dept.query", ERR_OK, 200, "{\"eligible\": true}"},
	    /* 200, but no department case number: not what the flow expects. */
	    {"dept.submit", ERR_OK, 200, "{\"code\": \"E17\"}"},
	};
	struct arena a;
	struct gw_flow_outcome o;
	char buf[512];
	json_t *doc = flow("stop"), *p = params();
	json_object_set_new(
	    json_array_get(json_object_get(doc, "steps"), 1), "expect",
	    json_pack("{s:s, s:s}", "path", "steps.submit.response.dept_no", "op", "exists"));
	json_object_set_new(json_array_get(json_object_get(doc, "steps"), 1), "expect_message",
	                    json_string("部门未受理（{{steps.submit.response.code}}）"));
	arena_init(&a, 0);
	use(s, 2);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	assert_string_equal(o.status, "failed");
	assert_int_equal(o.err, ERR_UPSTREAM);
	assert_string_equal(o.failed_step, "submit");
	assert_string_equal(rec_str(&o, 1, "outcome"), "unexpected");
	assert_string_equal(o.failed_outcome, "unexpected");
	assert_non_null(strstr(o.ei.msg, "在步骤“提交申请”失败：部门未受理（E17）"));
	assert_string_equal(calls(buf, sizeof(buf)), "dept.query,dept.submit");
	arena_release(&a);
	json_decref(doc);
	json_decref(p);
}

static void test_missing_method_is_config(void **state)
{
	(void)state;
	static const struct script s[] = {
	    {"dept.query", ERR_NOT_FOUND, 0, NULL},
	};
	struct arena a;
	struct gw_flow_outcome o;
	json_t *doc = flow("stop"), *p = params();
	arena_init(&a, 0);
	use(s, 1);
	assert_int_equal(run(doc, p, &a, &o), ERR_OK);
	assert_int_equal(o.err, ERR_CONFIG);
	arena_release(&a);
	/* A document the engine cannot interpret. */
	json_object_set_new(doc, "steps", json_pack("[{s:s}]", "id", "x"));
	arena_init(&a, 0);
	assert_int_equal(run(doc, p, &a, &o), ERR_CONFIG);
	arena_release(&a);
	json_decref(doc);
	json_decref(p);
}

static void test_params_checked(void **state)
{
	(void)state;
	struct arena a;
	struct errinfo ei = {0};
	json_t *doc = flow("stop"), *out = NULL;
	arena_init(&a, 0);
	json_t *p = json_pack("{s:{}}", "applicant");
	assert_int_equal(gw_flow_params(doc, p, &a, &out, &ei), ERR_INVALID);
	assert_string_equal(ei.field, "params.case_no");
	assert_non_null(strstr(ei.msg, "缺少流程参数“办件编号”"));
	json_decref(p);

	p = json_pack("{s:i, s:{}}", "case_no", 12, "applicant");
	assert_int_equal(gw_flow_params(doc, p, &a, &out, &ei), ERR_INVALID);
	assert_string_equal(ei.field, "params.case_no");
	assert_non_null(strstr(ei.msg, "string"));
	json_decref(p);

	p = json_pack("{s:s, s:n, s:{}}", "case_no", "X", "channel", "applicant");
	assert_int_equal(gw_flow_params(doc, p, &a, &out, &ei), ERR_OK);
	assert_string_equal(json_string_value(json_object_get(out, "channel")), "1");
	json_decref(p);

	p = params();
	assert_int_equal(gw_flow_params(doc, p, &a, &out, &ei), ERR_OK);
	assert_null(json_object_get(out, "unused"));
	assert_int_equal(json_object_size(out), 3);
	json_decref(p);

	p = json_string("not an object");
	assert_int_equal(gw_flow_params(doc, p, &a, &out, &ei), ERR_INVALID);
	json_decref(p);
	arena_release(&a);
	json_decref(doc);
}

static void test_conditions(void **state)
{
	(void)state;
	json_t *ctx = json_pack("{s:{s:i, s:f, s:s, s:n, s:[s, s], s:b}}", "params", "n", 3, "x",
	                        2.5, "s", "2026-03-01", "z", "list", "a", "b", "t", 1);
	struct {
		const char *cond;
		bool want;
	} cases[] = {
	    {"{\"path\":\"params.n\",\"op\":\"eq\",\"value\":3}", true},
	    {"{\"path\":\"params.n\",\"op\":\"eq\",\"value\":3.0}", true},
	    {"{\"path\":\"params.n\",\"op\":\"eq\",\"value\":\"3\"}", false},
	    {"{\"path\":\"params.n\",\"op\":\"ne\",\"value\":4}", true},
	    {"{\"path\":\"params.x\",\"op\":\"gt\",\"value\":2}", true},
	    {"{\"path\":\"params.x\",\"op\":\"lt\",\"value\":2}", false},
	    {"{\"path\":\"params.s\",\"op\":\"lt\",\"value\":\"2026-04-01\"}", true},
	    {"{\"path\":\"params.s\",\"op\":\"gt\",\"value\":5}", false},
	    {"{\"path\":\"params.n\",\"op\":\"in\",\"value\":[1,2,3]}", true},
	    {"{\"path\":\"params.n\",\"op\":\"in\",\"value\":[]}", false},
	    {"{\"path\":\"params.z\",\"op\":\"exists\"}", false},
	    {"{\"path\":\"params.z\",\"op\":\"missing\"}", true},
	    {"{\"path\":\"params.nothing.deeper\",\"op\":\"missing\"}", true},
	    {"{\"path\":\"params.list.1\",\"op\":\"eq\",\"value\":\"b\"}", true},
	    {"{\"path\":\"params.t\",\"op\":\"eq\",\"value\":true}", true},
	    {"{\"path\":\"params.z\",\"op\":\"eq\",\"value\":null}", true},
	    {"{\"path\":\"params.nothing\",\"op\":\"eq\",\"value\":null}", true},
	    {"{\"all\":[{\"path\":\"params.n\",\"op\":\"gt\",\"value\":1},"
	     "{\"path\":\"params.t\",\"op\":\"eq\",\"value\":true}]}",
	     true},
	    {"{\"all\":[{\"path\":\"params.n\",\"op\":\"gt\",\"value\":1},"
	     "{\"path\":\"params.t\",\"op\":\"eq\",\"value\":false}]}",
	     false},
	    {"{\"any\":[{\"path\":\"params.n\",\"op\":\"gt\",\"value\":5},"
	     "{\"path\":\"params.z\",\"op\":\"missing\"}]}",
	     true},
	    {"{\"not\":{\"path\":\"params.n\",\"op\":\"eq\",\"value\":3}}", false},
	    {"{\"path\":\"params.n\",\"op\":\"approx\",\"value\":3}", false},
	    {"{\"op\":\"exists\"}", false},
	    {"[]", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *c = json_loads(cases[i].cond, 0, NULL);
		assert_non_null(c);
		if (gw_flow_cond_eval(c, ctx) != cases[i].want)
			fail_msg("%s should be %s", cases[i].cond,
			         cases[i].want ? "true" : "false");
		json_decref(c);
	}
	json_decref(ctx);
}

static int teardown(void **state)
{
	(void)state;
	json_decref(fk.log);
	json_decref((json_t *)run_obj());
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_success_renders_everything),
	    cmocka_unit_test(test_when_false_skips),
	    cmocka_unit_test(test_stop_policy),
	    cmocka_unit_test(test_compensate_in_reverse),
	    cmocka_unit_test(test_compensation_failure_goes_on),
	    cmocka_unit_test(test_compensate_nothing_done),
	    cmocka_unit_test(test_continue_policy),
	    cmocka_unit_test(test_step_policy_overrides_flow),
	    cmocka_unit_test(test_expect),
	    cmocka_unit_test(test_missing_method_is_config),
	    cmocka_unit_test(test_params_checked),
	    cmocka_unit_test(test_conditions),
	};
	return cmocka_run_group_tests(tests, NULL, teardown);
}
