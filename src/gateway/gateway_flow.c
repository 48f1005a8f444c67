/* gateway_flow.c: flows — validation of flow documents, the step engine (templates,
 * conditions, error policies, compensation), synchronous runs with their records, and the
 * asynchronous runs of the outbox (kind gateway.flow).
 *
 * The engine is pure over its inputs: the document, the parameters and the hooks that make
 * the calls and mask what is recorded. gateway_flow_run adds the database (the document
 * and the run records); the outbox handler adds the sealed parameters of an event. */
#include "gateway/gateway_int.h"

#include <stdarg.h>

#include "core/buf.h"
#include "core/id.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"
#include "server/server.h"

#define DB_WAIT_MS       5000
#define COND_DEPTH_MAX   8
#define COND_LIST_MAX    20
#define PARAMS_MAX       50
#define TITLE_MAX        100
#define DESCRIPTION_MAX  2000
#define PARAMS_CONTEXT   "events.gateway.flow.params"
#define ERRMSG_FLOW_NAME 80

/* =========================================================================================
 * Validation
 * ======================================================================================= */

static const char *const policies[] = {"stop", "compensate", "continue", NULL};
static const char *const cond_ops[] = {"eq", "ne", "exists", "missing", "in", "gt", "lt", NULL};
static const char *const param_types[] = {"string", "number", "integer", "boolean",
                                          "object", "array",  "any",     NULL};
static const char *const step_fields[] = {"response", "status", "outcome", NULL};
static const char *const run_fields[] = {"id", "idempotency_key", "attempt", "flow", NULL};

static bool in_list(const char *s, const char *const *list)
{
	for (size_t i = 0; s && list[i]; i++)
		if (!strcmp(s, list[i]))
			return true;
	return false;
}

/* [a-z][a-z0-9_]{0,max-1} */
static bool ident_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > max || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

bool gw_flow_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > GW_FLOW_NAME_MAX)
		return false;
	bool seg_start = true;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (seg_start) {
			if (!(ch >= 'a' && ch <= 'z'))
				return false;
			seg_start = false;
		} else if (ch == '.') {
			seg_start = true;
		} else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
			return false;
		}
	}
	return !seg_start;
}

/* What a template or condition may reference at one place in the document. */
struct scope {
	bool globals;        /* globals.* (false inside globals themselves) */
	bool run;            /* run.*, now, trace_id, uuid */
	size_t steps;        /* how many steps (from the first) are visible */
	const char *self_id; /* expect/compensate of this step also see the step itself */
};

struct vctx {
	const struct gw_flow_registry *reg;
	json_t *problems;
	const json_t *params;  /* declared parameters (object) or NULL */
	const json_t *globals; /* object or NULL */
	const json_t *steps;   /* array or NULL */
	char path[512];
	size_t plen;
	size_t added;
};

static void problem(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct vctx *v, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->added++;
	if (json_array_size(v->problems) >= GW_FLOW_PROBLEMS_MAX)
		return;
	json_array_append_new(v->problems,
	                      json_pack("{s:s, s:s}", "path", v->path, "message", msg));
}

/* Path helpers: push appends ".key" (or "key" at the root) or "[i]"; pop restores. */
static size_t push_key(struct vctx *v, const char *key)
{
	size_t old = v->plen;
	int n =
	    snprintf(v->path + v->plen, sizeof(v->path) - v->plen, "%s%s", v->plen ? "." : "", key);
	if (n > 0)
		v->plen = v->plen + (size_t)n < sizeof(v->path) ? v->plen + (size_t)n
		                                                : sizeof(v->path) - 1;
	return old;
}

static size_t push_index(struct vctx *v, size_t i)
{
	size_t old = v->plen;
	int n = snprintf(v->path + v->plen, sizeof(v->path) - v->plen, "[%zu]", i);
	if (n > 0)
		v->plen = v->plen + (size_t)n < sizeof(v->path) ? v->plen + (size_t)n
		                                                : sizeof(v->path) - 1;
	return old;
}

static void pop(struct vctx *v, size_t old)
{
	v->plen = old;
	v->path[old] = 0;
}

/* Members of obj that are not in allowed are problems. */
static void unknown_keys(struct vctx *v, const json_t *obj, const char *const *allowed,
                         const char *what)
{
	const char *k;
	const json_t *val;
	json_object_foreach ((json_t *)obj, k, val) {
		if (in_list(k, allowed))
			continue;
		size_t old = push_key(v, k);
		problem(v, "%s不支持字段“%s”", what, k);
		pop(v, old);
	}
}

static const char *step_id_at(const json_t *steps, size_t i)
{
	return json_string_value(json_object_get(json_array_get(steps, i), "id"));
}

/* The next segment of a reference (the template language's paths: dotted names, array
 * elements by index segments). *seg and *seglen receive it; returns the rest (at '.' or the end),
 * or NULL when the segment is empty or holds a character a path cannot have. */
static const char *ref_segment(const char *p, const char **seg, size_t *seglen)
{
	const char *s = p;
	while (*p && *p != '.' && *p != ' ' && *p != '\t' && *p != '{' && *p != '}')
		p++;
	*seg = s;
	*seglen = (size_t)(p - s);
	if (p == s || (*p && *p != '.'))
		return NULL;
	return p;
}

static bool seg_is(const char *seg, size_t n, const char *lit)
{
	return strlen(lit) == n && !memcmp(seg, lit, n);
}

/* Check one reference (the text between the braces, trimmed, or a condition's path). */
static void check_ref(struct vctx *v, const char *ref, const struct scope *sc, bool in_condition)
{
	const char *seg, *rest;
	size_t n;
	char name[72];
	if (!*ref) {
		problem(v, "引用为空");
		return;
	}
	rest = ref_segment(ref, &seg, &n);
	if (!rest) {
		problem(v, "引用“%s”的写法不正确（应为以点分隔的名称，如 params.case_no）", ref);
		return;
	}
	if (seg_is(seg, n, "now") || seg_is(seg, n, "trace_id") || seg_is(seg, n, "uuid")) {
		if (in_condition || !sc->run)
			problem(v, "此处不能引用“%.*s”", (int)n, seg);
		else if (*rest)
			problem(v, "“%.*s”没有下级字段", (int)n, seg);
		return;
	}
	bool is_params = seg_is(seg, n, "params"), is_globals = seg_is(seg, n, "globals");
	bool is_steps = seg_is(seg, n, "steps"), is_run = seg_is(seg, n, "run");
	if (!is_params && !is_globals && !is_steps && !is_run) {
		problem(
		    v,
		    "未知的引用“%s”：只能引用 params、globals、steps、run、now、trace_id 或 uuid",
		    ref);
		return;
	}
	if ((is_globals && !sc->globals) || (is_run && (!sc->run || in_condition))) {
		problem(v, "此处不能引用“%.*s”", (int)n, seg);
		return;
	}
	if (!*rest) {
		if (is_steps || is_run)
			problem(v, "引用“%s”不完整", ref);
		return;
	}
	rest = ref_segment(rest + 1, &seg, &n);
	if (!rest) {
		problem(v, "引用“%s”的写法不正确（应为以点分隔的名称，如 params.case_no）", ref);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(n < 64 ? n : 64), seg);
	if (is_params) {
		if (!json_object_get(v->params, name))
			problem(v, "引用了未声明的参数“%s”", name);
		return;
	}
	if (is_globals) {
		if (!json_object_get(v->globals, name))
			problem(v, "引用了未定义的全局参数“%s”", name);
		return;
	}
	if (is_run) {
		if (!in_list(name, run_fields) || *rest)
			problem(v, "“run”只有 id、idempotency_key、attempt、flow 四个字段");
		return;
	}
	/* steps.<id>[.response|.status|.outcome[...]] */
	bool found = false, later = false;
	for (size_t i = 0; i < json_array_size(v->steps); i++) {
		const char *id = step_id_at(v->steps, i);
		if (!id || strcmp(id, name))
			continue;
		if (i < sc->steps || (sc->self_id && !strcmp(sc->self_id, id)))
			found = true;
		else
			later = true;
	}
	if (!found) {
		if (later)
			problem(v, "步骤“%s”在此处之后才执行，不能引用它的结果", name);
		else
			problem(v, "引用了不存在的步骤“%s”", name);
		return;
	}
	if (!*rest)
		return;
	const char *fseg;
	size_t fn;
	if (!ref_segment(rest + 1, &fseg, &fn)) {
		problem(v, "引用“%s”的写法不正确", ref);
		return;
	}
	char field[16];
	snprintf(field, sizeof(field), "%.*s", (int)(fn < 15 ? fn : 15), fseg);
	if (!in_list(field, step_fields) || fn >= 15)
		problem(v, "步骤结果只有 response、status、outcome 三个字段，不能引用“%.*s”",
		        (int)fn, fseg);
	else if (strcmp(field, "response") && rest[1 + fn])
		problem(v, "“%s”没有下级字段", field);
}

/* Every {{…}} in a template value. */
static void check_template(struct vctx *v, const json_t *t, const struct scope *sc, int depth)
{
	if (depth > 64) {
		problem(v, "模板嵌套过深");
		return;
	}
	if (json_is_string(t)) {
		const char *s = json_string_value(t);
		for (const char *p = strstr(s, "{{"); p; p = strstr(p, "{{")) {
			const char *end = strstr(p + 2, "}}");
			if (!end) {
				problem(v, "模板“%.60s”缺少与“{{”配对的“}}”", s);
				return;
			}
			const char *b = p + 2, *e = end;
			while (b < e && (*b == ' ' || *b == '\t'))
				b++;
			while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
				e--;
			char ref[256];
			if ((size_t)(e - b) >= sizeof(ref)) {
				problem(v, "引用过长");
			} else {
				memcpy(ref, b, (size_t)(e - b));
				ref[e - b] = 0;
				check_ref(v, ref, sc, false);
			}
			p = end + 2;
		}
		return;
	}
	if (json_is_object(t)) {
		const char *k;
		const json_t *val;
		json_object_foreach ((json_t *)t, k, val) {
			size_t old = push_key(v, k);
			check_template(v, val, sc, depth + 1);
			pop(v, old);
		}
	} else if (json_is_array(t)) {
		size_t i;
		const json_t *val;
		json_array_foreach (t, i, val) {
			size_t old = push_index(v, i);
			check_template(v, val, sc, depth + 1);
			pop(v, old);
		}
	}
}

static void check_condition(struct vctx *v, const json_t *c, const struct scope *sc, int depth)
{
	static const char *const leaf_keys[] = {"path", "op", "value", NULL};
	if (!json_is_object(c)) {
		problem(
		    v,
		    "条件应为对象：{\"path\",\"op\",\"value\"}，或 {\"all\":[…]}、{\"any\":[…]}、"
		    "{\"not\":…}");
		return;
	}
	if (depth > COND_DEPTH_MAX) {
		problem(v, "条件嵌套超过 %d 层", COND_DEPTH_MAX);
		return;
	}
	const char *combinator = json_object_get(c, "all")   ? "all"
	                         : json_object_get(c, "any") ? "any"
	                         : json_object_get(c, "not") ? "not"
	                                                     : NULL;
	if (combinator) {
		if (json_object_size(c) != 1) {
			problem(v, "“%s”条件不能再带其他字段", combinator);
			return;
		}
		const json_t *sub = json_object_get(c, combinator);
		size_t old = push_key(v, combinator);
		if (!strcmp(combinator, "not")) {
			check_condition(v, sub, sc, depth + 1);
		} else if (!json_is_array(sub) || json_array_size(sub) == 0 ||
		           json_array_size(sub) > COND_LIST_MAX) {
			problem(v, "“%s”应为 1 到 %d 个条件组成的数组", combinator, COND_LIST_MAX);
		} else {
			size_t i;
			const json_t *x;
			json_array_foreach (sub, i, x) {
				size_t o2 = push_index(v, i);
				check_condition(v, x, sc, depth + 1);
				pop(v, o2);
			}
		}
		pop(v, old);
		return;
	}
	unknown_keys(v, c, leaf_keys, "条件");
	const char *path = json_string_value(json_object_get(c, "path"));
	const char *op = json_string_value(json_object_get(c, "op"));
	const json_t *value = json_object_get(c, "value");
	size_t old = push_key(v, "path");
	if (!path)
		problem(v, "条件缺少“path”（要比较的值的引用，如 steps.query.response.eligible）");
	else if (strstr(path, "{{"))
		problem(v, "条件的“path”直接写引用，不加“{{ }}”");
	else
		check_ref(v, path, sc, true);
	pop(v, old);
	old = push_key(v, "op");
	if (!op || !in_list(op, cond_ops)) {
		problem(v, "“op”只能是 eq、ne、exists、missing、in、gt、lt 之一");
		pop(v, old);
		return;
	}
	pop(v, old);
	old = push_key(v, "value");
	bool unary = !strcmp(op, "exists") || !strcmp(op, "missing");
	if (unary && value)
		problem(v, "“%s”条件不需要“value”", op);
	else if (!unary && !value)
		problem(v, "“%s”条件缺少“value”", op);
	else if (!strcmp(op, "in") && !json_is_array(value))
		problem(v, "“in”条件的“value”应为数组");
	else if ((!strcmp(op, "gt") || !strcmp(op, "lt")) && !json_is_number(value) &&
	         !json_is_string(value))
		problem(v, "“%s”条件的“value”应为数字或字符串", op);
	pop(v, old);
}

static void check_call(struct vctx *v, const json_t *obj, const char *what)
{
	const char *conn = json_string_value(json_object_get(obj, "connector"));
	const char *method = json_string_value(json_object_get(obj, "method"));
	size_t old = push_key(v, "connector");
	if (!conn || !*conn)
		problem(v, "%s缺少“connector”（接口源名称）", what);
	pop(v, old);
	old = push_key(v, "method");
	if (!method || !*method)
		problem(v, "%s缺少“method”（接口方法名称）", what);
	pop(v, old);
	if (!conn || !method || !*conn || !*method || !v->reg || !v->reg->lookup)
		return;
	int r = v->reg->lookup(v->reg->ctx, conn, method);
	if (r == 1) {
		old = push_key(v, "connector");
		problem(v, "接口源“%s”不存在", conn);
		pop(v, old);
	} else if (r == 2) {
		old = push_key(v, "method");
		problem(v, "接口源“%s”没有方法“%s”", conn, method);
		pop(v, old);
	}
}

static void check_policy(struct vctx *v, const json_t *obj)
{
	const json_t *p = json_object_get(obj, "on_error");
	if (!p)
		return;
	size_t old = push_key(v, "on_error");
	if (!in_list(json_string_value(p), policies))
		problem(v,
		        "出错处理方式只能是 stop（终止）、compensate（回退）或 continue（继续）");
	pop(v, old);
}

static void check_text(struct vctx *v, const json_t *obj, const char *key, bool required,
                       size_t max, const char *label)
{
	const json_t *t = json_object_get(obj, key);
	size_t old = push_key(v, key);
	if (!t) {
		if (required)
			problem(v, "缺少%s", label);
	} else if (!json_is_string(t)) {
		problem(v, "%s应为字符串", label);
	} else {
		const char *s = json_string_value(t);
		size_t n = utf8_len(s, strlen(s));
		struct str tr = str_trim(str_from(s));
		if (required && tr.n == 0)
			problem(v, "%s不能为空", label);
		else if (n > max)
			problem(v, "%s不能超过 %zu 个字符", label, max);
	}
	pop(v, old);
}

static bool type_matches(const char *type, const json_t *val)
{
	if (!type || !strcmp(type, "any"))
		return true;
	if (!strcmp(type, "string"))
		return json_is_string(val);
	if (!strcmp(type, "number"))
		return json_is_number(val);
	if (!strcmp(type, "integer"))
		return json_is_integer(val);
	if (!strcmp(type, "boolean"))
		return json_is_boolean(val);
	if (!strcmp(type, "object"))
		return json_is_object(val);
	if (!strcmp(type, "array"))
		return json_is_array(val);
	return false;
}

static void check_params(struct vctx *v, const json_t *params)
{
	static const char *const keys[] = {"required", "type",        "title",
	                                   "default",  "description", NULL};
	size_t old = push_key(v, "params");
	if (!json_is_object(params)) {
		problem(v, "“params”应为对象：参数名 → {\"required\":true, …}");
		pop(v, old);
		return;
	}
	if (json_object_size(params) > PARAMS_MAX)
		problem(v, "参数不能超过 %d 个", PARAMS_MAX);
	const char *k;
	const json_t *spec;
	json_object_foreach ((json_t *)params, k, spec) {
		size_t o2 = push_key(v, k);
		if (!ident_ok(k, 64))
			problem(v, "参数名“%s”不合法（小写字母开头，只含小写字母、数字和下划线）",
			        k);
		if (!json_is_object(spec)) {
			problem(v, "参数说明应为对象，如 {\"required\":true}");
			pop(v, o2);
			continue;
		}
		unknown_keys(v, spec, keys, "参数说明");
		const json_t *req = json_object_get(spec, "required");
		const char *type = json_string_value(json_object_get(spec, "type"));
		const json_t *def = json_object_get(spec, "default");
		if (req && !json_is_boolean(req)) {
			size_t o3 = push_key(v, "required");
			problem(v, "“required”应为 true 或 false");
			pop(v, o3);
		}
		if (json_object_get(spec, "type") && !in_list(type, param_types)) {
			size_t o3 = push_key(v, "type");
			problem(
			    v,
			    "参数类型只能是 string、number、integer、boolean、object、array、any "
			    "之一");
			pop(v, o3);
			type = NULL;
		}
		if (def && type && !type_matches(type, def)) {
			size_t o3 = push_key(v, "default");
			problem(v, "默认值与参数类型 %s 不符", type);
			pop(v, o3);
		}
		check_text(v, spec, "title", false, TITLE_MAX, "参数名称");
		check_text(v, spec, "description", false, DESCRIPTION_MAX, "参数说明");
		pop(v, o2);
	}
	pop(v, old);
}

static void check_step(struct vctx *v, const json_t *step, size_t idx)
{
	static const char *const keys[] = {
	    "id",     "title",          "connector", "method",     "request",     "when",
	    "expect", "expect_message", "on_error",  "compensate", "description", NULL};
	static const char *const comp_keys[] = {"connector", "method", "request", NULL};
	if (!json_is_object(step)) {
		problem(v, "步骤应为对象");
		return;
	}
	unknown_keys(v, step, keys, "步骤");
	const char *id = json_string_value(json_object_get(step, "id"));
	size_t old = push_key(v, "id");
	if (!id)
		problem(v, "步骤缺少“id”");
	else if (!ident_ok(id, 32))
		problem(v,
		        "步骤标识“%s”不合法（小写字母开头，只含小写字母、数字和下划线，最长 32 "
		        "个字符）",
		        id);
	else
		for (size_t j = 0; j < idx; j++) {
			const char *other = step_id_at(v->steps, j);
			if (other && !strcmp(other, id)) {
				problem(v, "步骤标识“%s”与第 %zu 步重复", id, j + 1);
				break;
			}
		}
	pop(v, old);
	check_text(v, step, "title", false, TITLE_MAX, "步骤名称");
	check_text(v, step, "description", false, DESCRIPTION_MAX, "步骤说明");
	check_call(v, step, "步骤");
	check_policy(v, step);

	struct scope before = {.globals = true, .run = true, .steps = idx, .self_id = NULL};
	struct scope self = before;
	self.self_id = id;
	const json_t *x;
	if ((x = json_object_get(step, "request"))) {
		old = push_key(v, "request");
		check_template(v, x, &before, 0);
		pop(v, old);
	}
	if ((x = json_object_get(step, "when"))) {
		old = push_key(v, "when");
		check_condition(v, x, &before, 0);
		pop(v, old);
	}
	if ((x = json_object_get(step, "expect"))) {
		old = push_key(v, "expect");
		check_condition(v, x, &self, 0);
		pop(v, old);
	}
	if ((x = json_object_get(step, "expect_message"))) {
		old = push_key(v, "expect_message");
		if (!json_is_string(x))
			problem(
			    v,
			    "“expect_message”应为文字（可含引用，如 {{steps.%s.response.reason}}）",
			    id ? id : "step");
		else if (!json_object_get(step, "expect"))
			problem(v, "没有“expect”条件时“expect_message”不起作用");
		else
			check_template(v, x, &self, 0);
		pop(v, old);
	}
	if ((x = json_object_get(step, "compensate"))) {
		old = push_key(v, "compensate");
		if (!json_is_object(x)) {
			problem(v, "“compensate”应为对象：{\"connector\",\"method\",\"request\"}");
		} else {
			unknown_keys(v, x, comp_keys, "回退调用");
			check_call(v, x, "回退调用");
			const json_t *rq = json_object_get(x, "request");
			if (rq) {
				size_t o2 = push_key(v, "request");
				check_template(v, rq, &self, 0);
				pop(v, o2);
			}
		}
		pop(v, old);
	}
}

size_t gw_flow_validate(const json_t *doc, const struct gw_flow_registry *reg, json_t *problems)
{
	static const char *const keys[] = {"name",  "title",    "description", "params", "globals",
	                                   "steps", "on_error", "result",      NULL};
	struct vctx v = {.reg = reg, .problems = problems};
	if (!json_is_object(doc)) {
		problem(&v, "流程应为 JSON 对象");
		return v.added;
	}
	v.params = json_object_get(doc, "params");
	v.globals = json_object_get(doc, "globals");
	v.steps = json_object_get(doc, "steps");
	if (!json_is_object(v.params))
		v.params = NULL;
	if (!json_is_object(v.globals))
		v.globals = NULL;
	if (!json_is_array(v.steps))
		v.steps = NULL;

	unknown_keys(&v, doc, keys, "流程");
	const json_t *name = json_object_get(doc, "name");
	size_t old = push_key(&v, "name");
	if (!name)
		problem(&v, "缺少流程名称“name”");
	else if (!gw_flow_name_valid(json_string_value(name)))
		problem(
		    &v,
		    "流程名称应为以点分隔的小写名称（如 minzheng.elder_allowance.submit），最长 "
		    "%d 个字符",
		    GW_FLOW_NAME_MAX);
	pop(&v, old);
	check_text(&v, doc, "title", true, TITLE_MAX, "流程标题“title”");
	check_text(&v, doc, "description", false, DESCRIPTION_MAX, "流程说明");
	check_policy(&v, doc);
	if (json_object_get(doc, "params"))
		check_params(&v, json_object_get(doc, "params"));

	const json_t *globals = json_object_get(doc, "globals");
	if (globals) {
		old = push_key(&v, "globals");
		if (!v.globals) {
			problem(&v, "“globals”应为对象：名称 → 值");
		} else {
			struct scope sc = {.globals = false, .run = true, .steps = 0};
			const char *k;
			const json_t *val;
			json_object_foreach ((json_t *)globals, k, val) {
				size_t o2 = push_key(&v, k);
				if (!ident_ok(k, 64))
					problem(
					    &v,
					    "全局参数名“%"
					    "s”不合法（小写字母开头，只含小写字母、数字和下划线）",
					    k);
				check_template(&v, val, &sc, 0);
				pop(&v, o2);
			}
		}
		pop(&v, old);
	}

	old = push_key(&v, "steps");
	if (!v.steps || json_array_size(v.steps) == 0)
		problem(&v, "流程至少要有一个步骤（“steps”数组）");
	else if (json_array_size(v.steps) > GW_FLOW_STEPS_MAX)
		problem(&v, "步骤不能超过 %d 个", GW_FLOW_STEPS_MAX);
	else
		for (size_t i = 0; i < json_array_size(v.steps); i++) {
			size_t o2 = push_index(&v, i);
			check_step(&v, json_array_get(v.steps, i), i);
			pop(&v, o2);
		}
	pop(&v, old);

	const json_t *result = json_object_get(doc, "result");
	if (result) {
		struct scope all = {
		    .globals = true, .run = true, .steps = json_array_size(v.steps)};
		old = push_key(&v, "result");
		check_template(&v, result, &all, 0);
		pop(&v, old);
	}
	return v.added;
}

/* =========================================================================================
 * Conditions
 * ======================================================================================= */

static bool values_equal(const json_t *a, const json_t *b)
{
	if (!a)
		a = json_null();
	if (json_is_integer(a) && json_is_integer(b))
		return json_integer_value(a) == json_integer_value(b);
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal((json_t *)a, (json_t *)b);
}

/* -1, 0, 1, or 2 when the two cannot be ordered (different kinds, absent). */
static int values_order(const json_t *a, const json_t *b)
{
	if (a && json_is_number(a) && json_is_number(b)) {
		double x = json_number_value(a), y = json_number_value(b);
		return x < y ? -1 : x > y ? 1 : 0;
	}
	if (a && json_is_string(a) && json_is_string(b)) {
		int c = strcmp(json_string_value(a), json_string_value(b));
		return c < 0 ? -1 : c > 0 ? 1 : 0;
	}
	return 2;
}

static bool cond_eval(const json_t *cond, const json_t *ctx, int depth)
{
	const json_t *x;
	size_t i;
	if (!json_is_object(cond) || depth > COND_DEPTH_MAX)
		return false;
	if ((x = json_object_get(cond, "all"))) {
		const json_t *c;
		json_array_foreach (x, i, c)
			if (!cond_eval(c, ctx, depth + 1))
				return false;
		return json_array_size(x) > 0;
	}
	if ((x = json_object_get(cond, "any"))) {
		const json_t *c;
		json_array_foreach (x, i, c)
			if (cond_eval(c, ctx, depth + 1))
				return true;
		return false;
	}
	if ((x = json_object_get(cond, "not")))
		return !cond_eval(x, ctx, depth + 1);
	const char *op = json_string_value(json_object_get(cond, "op"));
	const char *path = json_string_value(json_object_get(cond, "path"));
	const json_t *v = path ? gw_tpl_lookup(ctx, path, strlen(path)) : NULL;
	const json_t *want = json_object_get(cond, "value");
	bool present = v && !json_is_null(v);
	if (!op)
		return false;
	if (!strcmp(op, "exists"))
		return present;
	if (!strcmp(op, "missing"))
		return !present;
	if (!want)
		return false;
	if (!strcmp(op, "eq"))
		return values_equal(v, want);
	if (!strcmp(op, "ne"))
		return !values_equal(v, want);
	if (!strcmp(op, "in")) {
		const json_t *w;
		json_array_foreach (want, i, w)
			if (values_equal(v, w))
				return true;
		return false;
	}
	if (!strcmp(op, "gt"))
		return values_order(v, want) == 1;
	if (!strcmp(op, "lt"))
		return values_order(v, want) == -1;
	return false;
}

bool gw_flow_cond_eval(const json_t *cond, const json_t *ctx)
{
	return cond_eval(cond, ctx, 0);
}

/* =========================================================================================
 * The engine
 * ======================================================================================= */

enum err gw_flow_params(const json_t *doc, const json_t *params, struct arena *a, json_t **out,
                        struct errinfo *ei)
{
	const json_t *spec = json_object_get(doc, "params");
	json_t *p = json_arena_own(a, json_object());
	const char *k;
	const json_t *s;
	*out = NULL;
	if (!p)
		return ERR_NOMEM;
	if (params && !json_is_object(params) && !json_is_null(params)) {
		ei->code = ERR_INVALID;
		ei->field = "params";
		ei->msg = "流程参数应为 JSON 对象";
		return ERR_INVALID;
	}
	/* Undeclared parameters are dropped: no template can reference them (the check refuses
	 * such references), so callers may pass one envelope to flows that use parts of it. */
	json_object_foreach ((json_t *)spec, k, s) {
		const json_t *val = json_object_get(params, k);
		const char *type = json_string_value(json_object_get(s, "type"));
		const char *title = json_string_value(json_object_get(s, "title"));
		if (!val || json_is_null(val))
			val = json_object_get(s, "default");
		if (!val || json_is_null(val)) {
			if (json_is_true(json_object_get(s, "required"))) {
				ei->code = ERR_INVALID;
				ei->field = arena_printf(a, "params.%s", k);
				ei->msg = arena_printf(a, "缺少流程参数“%s”", title ? title : k);
				return ERR_INVALID;
			}
			continue;
		}
		if (!type_matches(type, val)) {
			ei->code = ERR_INVALID;
			ei->field = arena_printf(a, "params.%s", k);
			ei->msg =
			    arena_printf(a, "流程参数“%s”的类型应为 %s", title ? title : k, type);
			return ERR_INVALID;
		}
		if (json_object_set(p, k, (json_t *)val))
			return ERR_NOMEM;
	}
	*out = p;
	return ERR_OK;
}

static const char *outcome_of(enum err e, const struct gateway_call_result *res)
{
	if (res->outcome && *res->outcome)
		return res->outcome;
	switch (e) {
	case ERR_OK: return "ok";
	case ERR_TIMEOUT: return "timeout";
	case ERR_UNAVAILABLE: return "unavailable";
	case ERR_NOT_FOUND: return "not_found";
	default: return "error";
	}
}

static json_t *masked(const struct gw_flow_hooks *h, struct server *srv, const char *conn,
                      const char *method, const json_t *v)
{
	if (!v)
		return json_null();
	if (!h->mask)
		return json_deep_copy(v);
	json_t *m = h->mask(h->mask_ctx, srv, conn, method, v);
	return m ? m : json_string("****");
}

/* What one call of a run needs: a step, or a step's compensation (kind "compensate"). */
struct call_spec {
	const char *step_id, *title, *kind, *conn, *method;
	const json_t *request_tpl, *expect;
	const json_t *expect_message; /* text template: why, when expect fails */
};

struct engine {
	struct server *srv;
	const struct gw_flow_hooks *h;
	const struct gateway_caller *caller;
	struct arena *a;
	json_t *ctx;     /* {"params","globals","steps","run", "trace_id"} */
	json_t *records; /* step records */
	int seq;
};

/* One connector call of the run: render, call, record. *ok tells success (call and expect);
 * on failure *err and *msg say why. The step's entry in ctx.steps is set (for calls, not
 * compensations). Returns ERR_NOMEM only: call failures are outcomes. */
static enum err do_call(struct engine *g, const struct call_spec *cs, bool *ok, enum err *err,
                        const char **msg, int *http_status)
{
	struct gateway_call_result res;
	struct errinfo cei = {0};
	json_t *tpl_empty = NULL;
	json_t *req = NULL, *rec = NULL;
	enum err e = ERR_OK;
	memset(&res, 0, sizeof(res));
	*ok = false;
	*err = ERR_OK;
	*msg = NULL;
	*http_status = 0;

	const json_t *tpl = cs->request_tpl;
	if (!tpl)
		tpl = tpl_empty = json_object();
	req = tpl ? gateway_tpl_render(tpl, g->ctx) : NULL;
	json_decref(tpl_empty);
	if (!req)
		return ERR_NOMEM;
	int64_t started = time_now_ms(), t0 = time_mono_ns();
	enum err ce = g->h->call(g->h->call_ctx, g->srv, cs->conn, cs->method, req, g->caller, g->a,
	                         &res, &cei);
	int64_t dur_us = (time_mono_ns() - t0) / 1000;
	const char *outcome = outcome_of(ce, &res);
	const char *why = ce ? (cei.msg ? cei.msg : err_message(ce)) : NULL;

	if (!strcmp(cs->kind, "call")) {
		json_t *st = json_pack("{s:O?, s:i, s:s}", "response", res.response, "status",
		                       res.http_status, "outcome", outcome);
		if (!st || json_object_set_new(json_object_get(g->ctx, "steps"), cs->step_id, st)) {
			e = ERR_NOMEM;
			goto out;
		}
	}
	if (!ce && cs->expect && !gw_flow_cond_eval(cs->expect, g->ctx)) {
		ce = ERR_UPSTREAM;
		outcome = "unexpected";
		why = "外部系统的应答不符合预期（expect 条件不成立）";
		if (json_is_string(cs->expect_message)) {
			json_t *m = gateway_tpl_render(cs->expect_message, g->ctx);
			const char *t = json_string_value(m);
			if (t && *t)
				why = arena_strdup(g->a, t);
			json_decref(m);
		}
		json_object_set_new(json_object_get(json_object_get(g->ctx, "steps"), cs->step_id),
		                    "outcome", json_string(outcome));
	}
	rec = json_pack("{s:i, s:s, s:s?, s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:s?, s:I, s:i, s:I, "
	                "s:I}",
	                "seq", ++g->seq, "step", cs->step_id, "title", cs->title, "kind", cs->kind,
	                "connector", cs->conn, "method", cs->method, "outcome", outcome,
	                "http_status", res.http_status, "request",
	                masked(g->h, g->srv, cs->conn, cs->method, req), "response",
	                masked(g->h, g->srv, cs->conn, cs->method, res.response), "error", why,
	                "call_id", (json_int_t)res.call_id, "attempts", res.attempts, "started_at",
	                (json_int_t)started, "duration_us", (json_int_t)dur_us);
	if (!rec || json_array_append_new(g->records, rec)) {
		e = ERR_NOMEM;
		goto out;
	}
	*ok = ce == ERR_OK;
	*err = ce;
	*msg = why;
	*http_status = res.http_status;
out:
	json_decref(req);
	return e;
}

static enum err record_skip(struct engine *g, const char *id, const char *title, const char *conn,
                            const char *method)
{
	json_t *st = json_pack("{s:n, s:n, s:s}", "response", "status", "outcome", "skipped");
	json_t *rec =
	    json_pack("{s:i, s:s, s:s?, s:s, s:s, s:s, s:s, s:i, s:n, s:n, s:n, s:I, s:i, "
	              "s:I, s:I}",
	              "seq", ++g->seq, "step", id, "title", title, "kind", "call", "connector",
	              conn, "method", method, "outcome", "skipped", "http_status", 0, "request",
	              "response", "error", "call_id", (json_int_t)0, "attempts", 0, "started_at",
	              (json_int_t)time_now_ms(), "duration_us", (json_int_t)0);
	if (!st || !rec) {
		json_decref(st);
		json_decref(rec);
		return ERR_NOMEM;
	}
	/* both calls steal their reference, also when they fail */
	if (json_object_set_new(json_object_get(g->ctx, "steps"), id, st) ||
	    json_array_append_new(g->records, rec))
		return ERR_NOMEM;
	return ERR_OK;
}

/* Compensate the completed steps (indexes in done[0..ndone)) in reverse order. Every
 * compensation runs even when an earlier one failed; *all_ok tells whether they all did. */
static enum err compensate(struct engine *g, const json_t *steps, const size_t *done, size_t ndone,
                           bool *all_ok, size_t *ran)
{
	*all_ok = true;
	*ran = 0;
	for (size_t k = ndone; k-- > 0;) {
		const json_t *step = json_array_get(steps, done[k]);
		const json_t *comp = json_object_get(step, "compensate");
		if (!json_is_object(comp))
			continue;
		struct call_spec cs = {
		    .step_id = json_string_value(json_object_get(step, "id")),
		    .title = json_string_value(json_object_get(step, "title")),
		    .kind = "compensate",
		    .conn = json_string_value(json_object_get(comp, "connector")),
		    .method = json_string_value(json_object_get(comp, "method")),
		    .request_tpl = json_object_get(comp, "request"),
		};
		bool ok;
		enum err ce;
		const char *why;
		int st;
		if (!cs.conn || !cs.method)
			continue;
		enum err e = do_call(g, &cs, &ok, &ce, &why, &st);
		if (e)
			return e;
		(*ran)++;
		if (!ok) {
			*all_ok = false;
			log_error("gateway.flow.compensation_failed",
			          "compensation of step %s (%s.%s) failed: %s", cs.step_id, cs.conn,
			          cs.method, err_code(ce));
		}
	}
	return ERR_OK;
}

static const char *policy_of(const json_t *doc, const json_t *step)
{
	const char *p = json_string_value(json_object_get(step, "on_error"));
	if (!in_list(p, policies))
		p = json_string_value(json_object_get(doc, "on_error"));
	return in_list(p, policies) ? p : "stop";
}

enum err gw_flow_execute(struct server *srv, const struct gw_flow_hooks *h, const json_t *doc,
                         const json_t *params, const struct gateway_caller *caller,
                         const json_t *run, struct arena *a, struct gw_flow_outcome *out)
{
	struct engine g = {.srv = srv, .h = h, .caller = caller, .a = a};
	const json_t *steps = json_object_get(doc, "steps");
	const char *title = json_string_value(json_object_get(doc, "title"));
	size_t nsteps = json_array_size(steps);
	size_t *done = NULL, ndone = 0;
	bool continued = false;
	enum err e = ERR_OK;
	int64_t t0 = time_mono_ns();

	memset(out, 0, sizeof(*out));
	out->status = "failed";
	if (!json_is_array(steps) || nsteps == 0 || nsteps > GW_FLOW_STEPS_MAX)
		return ERR_CONFIG;
	done = arena_alloc(a, nsteps * sizeof(*done));
	g.records = json_arena_own(a, json_array());
	g.ctx = json_arena_own(a, json_pack("{s:O, s:{}, s:{}, s:O}", "params", params, "globals",
	                                    "steps", "run", run ? run : json_null()));
	if (!done || !g.records || !g.ctx)
		return ERR_NOMEM;
	out->steps = g.records;
	if (caller && caller->trace_id)
		json_object_set_new(g.ctx, "trace_id", json_string(caller->trace_id));

	/* Globals are rendered once, against the parameters (they may not see steps). */
	const json_t *gtpl = json_object_get(doc, "globals");
	if (json_is_object(gtpl)) {
		json_t *gl = gateway_tpl_render(gtpl, g.ctx);
		if (!gl || json_object_set_new(g.ctx, "globals", gl))
			return ERR_NOMEM;
	}

	for (size_t i = 0; i < nsteps; i++) {
		const json_t *step = json_array_get(steps, i);
		struct call_spec cs = {
		    .step_id = json_string_value(json_object_get(step, "id")),
		    .title = json_string_value(json_object_get(step, "title")),
		    .kind = "call",
		    .conn = json_string_value(json_object_get(step, "connector")),
		    .method = json_string_value(json_object_get(step, "method")),
		    .request_tpl = json_object_get(step, "request"),
		    .expect = json_object_get(step, "expect"),
		    .expect_message = json_object_get(step, "expect_message"),
		};
		if (!cs.step_id || !cs.conn || !cs.method)
			return ERR_CONFIG;
		const json_t *when = json_object_get(step, "when");
		if (when && !gw_flow_cond_eval(when, g.ctx)) {
			if ((e = record_skip(&g, cs.step_id, cs.title, cs.conn, cs.method)))
				return e;
			continue;
		}
		bool ok;
		enum err ce;
		const char *why;
		int st;
		if ((e = do_call(&g, &cs, &ok, &ce, &why, &st)))
			return e;
		if (ok) {
			done[ndone++] = i;
			continue;
		}
		const char *policy = policy_of(doc, step);
		if (!strcmp(policy, "continue")) {
			continued = true;
			continue;
		}
		/* A connector or method that does not exist (any more) is a configuration fault
		 * of the flow, not "the flow was not found". */
		out->err = ce == ERR_NOT_FOUND ? ERR_CONFIG : ce;
		out->failed_step = cs.step_id;
		out->failed_outcome = json_string_value(json_object_get(
		    json_object_get(json_object_get(g.ctx, "steps"), cs.step_id), "outcome"));
		out->http_status = st;
		out->ei.code = out->err;
		out->ei.msg = arena_printf(a, "流程“%s”在步骤“%s”失败：%s", title ? title : "",
		                           cs.title ? cs.title : cs.step_id, why);
		out->status = "failed";
		if (!strcmp(policy, "compensate")) {
			bool all_ok;
			size_t ran;
			if ((e = compensate(&g, steps, done, ndone, &all_ok, &ran)))
				return e;
			if (!all_ok)
				out->status = "compensation_failed";
			else if (ran)
				out->status = "compensated";
			if (!all_ok)
				out->ei.msg =
				    arena_printf(a, "%s；回退未全部成功，请人工处理", out->ei.msg);
			else if (ran)
				out->ei.msg = arena_printf(a, "%s；已回退 %zu 个已完成的步骤",
				                           out->ei.msg, ran);
		}
		out->duration_us = (time_mono_ns() - t0) / 1000;
		return ERR_OK;
	}
	out->status = continued ? "partial" : "ok";
	const json_t *rtpl = json_object_get(doc, "result");
	json_t *result = rtpl ? gateway_tpl_render(rtpl, g.ctx) : json_object();
	if (!result)
		return ERR_NOMEM;
	out->result = json_arena_own(a, result);
	out->duration_us = (time_mono_ns() - t0) / 1000;
	return ERR_OK;
}

/* =========================================================================================
 * Runs: the document from the database, the run records around the engine
 * ======================================================================================= */

static json_t *trace_of(const struct gw_flow_outcome *o, const char *flow, int64_t rev,
                        int64_t run_id)
{
	json_t *error = json_null();
	if (o->err)
		error = json_pack("{s:s, s:s}", "code", err_code(o->err), "message",
		                  o->ei.msg ? o->ei.msg : err_message(o->err));
	return json_pack("{s:I, s:s, s:I, s:s, s:s?, s:o, s:I, s:O?, s:O}", "run_id",
	                 (json_int_t)run_id, "flow", flow, "rev", (json_int_t)rev, "status",
	                 o->status, "failed_step", o->failed_step, "error", error, "duration_us",
	                 (json_int_t)o->duration_us, "result", o->result, "steps",
	                 o->steps ? o->steps : json_null());
}

enum err gw_flow_run_ex(struct server *srv, const struct gw_flow_hooks *h,
                        const struct gw_flow_run_opts *o, const char *flow, const json_t *params,
                        const struct gateway_caller *caller, struct arena *a,
                        struct gw_flow_outcome *out, int64_t *run_id, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct gw_flow_row row;
	json_t *p = NULL, *run = NULL;
	int64_t id = 0;
	char trace_buf[33] = "";
	enum err e;

	memset(out, 0, sizeof(*out));
	out->status = "failed";
	if (run_id)
		*run_id = 0;
	if (!gw_flow_name_valid(flow)) {
		ei->code = ERR_NOT_FOUND;
		ei->field = "flow";
		ei->msg = "流程名称不正确";
		return ERR_NOT_FOUND;
	}
	const char *trace_id = caller && caller->trace_id ? caller->trace_id : NULL;
	if (!trace_id && log_trace()) {
		snprintf(trace_buf, sizeof(trace_buf), "%s", log_trace()->trace_id);
		trace_id = trace_buf;
	}
	struct gateway_caller who = {.module = "gateway.flow"};
	if (caller)
		who = *caller;
	who.trace_id = trace_id;

	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		return e;
	e = gw_flow_store_get(c, a, flow, &row);
	if (e == ERR_NOT_FOUND) {
		ei->code = e;
		ei->field = "flow";
		ei->msg = arena_printf(a, "流程“%s”不存在", flow);
		goto out;
	}
	if (e)
		goto out;
	if ((e = gw_flow_params(row.doc, params, a, &p, ei)))
		goto out;
	struct gw_flow_run_rec rec = {
	    .flow = flow,
	    .flow_rev = row.rev,
	    .mode = o && o->mode ? o->mode : "sync",
	    .idempotency_key = o ? o->idempotency_key : NULL,
	    .event_id = o ? o->event_id : 0,
	    .attempt = o && o->attempt > 0 ? o->attempt : 1,
	    .trace_id = trace_id,
	    .caller_module = who.module,
	    .caller_user = who.user,
	    .started_at = time_now_ms(),
	};
	if ((e = gw_flow_store_run_begin(c, a, &rec, &id)))
		goto out;
	/* No connection is held while the external systems answer. */
	db_release(c);
	c = NULL;

	const char *key = rec.idempotency_key;
	if (!key)
		key = arena_printf(a, "flow-run-%lld", (long long)id);
	run = json_arena_own(a, json_pack("{s:I, s:s?, s:i, s:s}", "id", (json_int_t)id,
	                                  "idempotency_key", key, "attempt", rec.attempt, "flow",
	                                  flow));
	if (!run) {
		e = ERR_NOMEM;
		goto finish;
	}
	e = gw_flow_execute(srv, h, row.doc, p, &who, run, a, out);
	out->rev = row.rev;
	if (e == ERR_CONFIG) {
		out->err = ERR_CONFIG;
		out->ei.code = ERR_CONFIG;
		out->ei.msg = arena_printf(a, "流程“%s”的定义有误，请检查流程配置", flow);
	}
finish:;
	/* The record is written whatever happened, so that a run never stays "running"
	 * because the engine gave up (out of memory, a broken document). */
	/* The result has no method of its own: the well-known personal keys are masked. */
	json_t *stored =
	    out->result ? json_arena_own(a, masked(h, srv, NULL, NULL, out->result)) : NULL;
	struct gw_flow_run_end end = {
	    .status = e ? "failed" : out->status,
	    .failed_step = out->failed_step,
	    .error_code = e          ? err_code(e)
	                  : out->err ? err_code(out->err)
	                             : NULL,
	    .error_message = e          ? err_message(e)
	                     : out->err ? out->ei.msg
	                                : NULL,
	    .result = stored ? json_dump_arena(stored, a) : NULL,
	    .steps = out->steps,
	    .finished_at = time_now_ms(),
	    .duration_us = out->duration_us,
	};
	enum err se = db_acquire(srv->db, DB_WAIT_MS, &c);
	if (!se)
		se = gw_flow_store_run_finish(c, a, id, &end);
	if (se)
		log_error("gateway.flow.record", "run %lld of flow %s could not be recorded: %s",
		          (long long)id, flow, err_code(se));
	if (!e && out->err) {
		log_event(LOG_WARN, "gateway.flow.failed",
		          json_pack("{s:s, s:I, s:s, s:s?}", "flow", flow, "run_id", (json_int_t)id,
		                    "status", out->status, "step", out->failed_step),
		          "flow %s failed at step %s: %s", flow,
		          out->failed_step ? out->failed_step : "-", err_code(out->err));
	}
	if (run_id)
		*run_id = id;
out:
	if (c)
		db_release(c);
	return e;
}

static enum err call_default(void *ctx, struct server *srv, const char *connector,
                             const char *method, const json_t *request,
                             const struct gateway_caller *caller, struct arena *a,
                             struct gateway_call_result *out, struct errinfo *ei)
{
	(void)ctx;
	return gateway_call(srv, connector, method, request, caller, a, out, ei);
}

static json_t *mask_default(void *ctx, struct server *srv, const char *connector,
                            const char *method, const json_t *v)
{
	(void)ctx;
	return gateway_mask(srv, connector, method, v);
}

void gw_flow_hooks_default(struct gw_flow_hooks *h)
{
	memset(h, 0, sizeof(*h));
	h->call = call_default;
	h->mask = mask_default;
}

enum err gateway_flow_run(struct server *srv, const char *flow, const json_t *params,
                          const struct gateway_caller *caller, bool debug, struct arena *a,
                          json_t **result, json_t **trace, int64_t *run_id, struct errinfo *ei)
{
	struct gw_flow_hooks h;
	struct gw_flow_outcome o;
	struct gw_flow_run_opts opts = {.mode = debug ? "debug" : "sync"};
	int64_t id = 0;
	struct errinfo local = {0};
	if (!ei)
		ei = &local;
	if (result)
		*result = NULL;
	if (trace)
		*trace = NULL;
	gw_flow_hooks_default(&h);
	enum err e = gw_flow_run_ex(srv, &h, &opts, flow, params, caller, a, &o, &id, ei);
	if (run_id)
		*run_id = id;
	if (e)
		return e;
	if (debug && trace)
		*trace = json_arena_own(a, trace_of(&o, flow, o.rev, id));
	if (o.err) {
		*ei = o.ei;
		return o.err;
	}
	if (result)
		*result = o.result;
	return ERR_OK;
}

json_t *gw_flow_trace(const struct gw_flow_outcome *o, const char *flow, int64_t rev,
                      int64_t run_id)
{
	return trace_of(o, flow, rev, run_id);
}

/* =========================================================================================
 * Asynchronous runs (the outbox)
 * ======================================================================================= */

enum err gateway_flow_enqueue(struct server *srv, struct db_conn *c, struct arena *a,
                              const char *flow, const json_t *params, const char *idempotency_key)
{
	struct buf plain, sealed, hex;
	enum err e;
	char *text = NULL;
	json_t *payload = NULL;
	if (!gw_flow_name_valid(flow))
		return ERR_BAD_FIELD;
	if (params && !json_is_object(params))
		return ERR_BAD_FIELD;
	if (!srv->keys)
		return ERR_CONFIG;
	buf_init(&plain, GW_FLOW_PARAMS_MAX);
	buf_init(&sealed, GW_FLOW_PARAMS_MAX + 64);
	buf_init(&hex, 2 * (GW_FLOW_PARAMS_MAX + 64) + 1);
	/* Parameters carry personal data (applicants' ID numbers, bank accounts): the event
	 * row holds them sealed under the data key, bound to this use. */
	char *ptext = json_dumps(params ? params : json_object(), JSON_COMPACT);
	if (!ptext) {
		e = ERR_NOMEM;
		goto out;
	}
	e = buf_puts(&plain, ptext);
	crypto_wipe(ptext, strlen(ptext));
	free(ptext);
	if (e || (e = keyring_encrypt(srv->keys, PARAMS_CONTEXT, plain.p, plain.len, &sealed)) ||
	    (e = buf_hex(&hex, sealed.p, sealed.len)))
		goto out;
	const struct trace_ctx *t = log_trace();
	payload = json_pack("{s:i, s:s, s:s, s:s?}", "v", 1, "flow", flow, "params", hex.p,
	                    "trace_id", t && t->trace_id[0] ? t->trace_id : NULL);
	text = payload ? json_dump_arena(payload, a) : NULL;
	if (!text) {
		e = ERR_NOMEM;
		goto out;
	}
	e = outbox_enqueue(c, a, GATEWAY_FLOW_EVENT_KIND, arena_printf(a, "flow:%s", flow), text,
	                   idempotency_key, NULL);
out:
	if (plain.p)
		crypto_wipe(plain.p, plain.len);
	buf_release(&plain);
	buf_release(&sealed);
	buf_release(&hex);
	json_decref(payload);
	return e;
}

/* A refusal that retrying cannot change: the system answered 4xx (other than 408 request
 * timeout and 429 too many requests). An answer that fails a step's expect is treated the
 * same way by the caller: it is the system's considered reply, not a glitch. */
static bool permanent(int http_status)
{
	return http_status >= 400 && http_status < 500 && http_status != 408 && http_status != 429;
}

enum err gw_flow_deliver(void *ctx, struct server *srv, const struct outbox_event *ev, char *errmsg,
                         size_t errmsg_sz)
{
	struct gw_flow_hooks dflt;
	const struct gw_flow_hooks *h = ctx;
	struct arena a;
	struct buf blob, plain;
	struct gw_flow_outcome o;
	struct errinfo ei = {0};
	json_t *payload = NULL, *params = NULL;
	enum err e;

	if (!h) {
		gw_flow_hooks_default(&dflt);
		h = &dflt;
	}
	arena_init(&a, 64u << 20);
	buf_init(&blob, GW_FLOW_PARAMS_MAX + 64);
	buf_init(&plain, GW_FLOW_PARAMS_MAX);
	if (json_parse(ev->payload, strlen(ev->payload), &payload, &a, NULL) ||
	    json_integer_value(json_object_get(payload, "v")) != 1) {
		snprintf(errmsg, errmsg_sz, "事件内容不是可识别的流程调用");
		e = ERR_INVALID;
		goto out;
	}
	const char *flow = json_string_value(json_object_get(payload, "flow"));
	const char *hex = json_string_value(json_object_get(payload, "params"));
	size_t hn = hex ? strlen(hex) : 0;
	if (!flow || !hex || hn % 2 || hn / 2 > blob.cap) {
		snprintf(errmsg, errmsg_sz, "事件内容不完整");
		e = ERR_INVALID;
		goto out;
	}
	if ((e = buf_append(&blob, hex, hn / 2)))
		goto out;
	if (!hex_decode(hex, hn, (unsigned char *)blob.p, hn / 2) ||
	    keyring_decrypt(srv->keys, PARAMS_CONTEXT, blob.p, hn / 2, &plain) ||
	    json_parse(plain.p, plain.len, &params, &a, NULL)) {
		snprintf(errmsg, errmsg_sz, "流程参数无法解密或已损坏");
		e = ERR_INVALID;
		goto out;
	}
	struct gateway_caller caller = {
	    .module = "outbox",
	    .user = "system",
	    .trace_id = json_string_value(json_object_get(payload, "trace_id")),
	};
	struct gw_flow_run_opts opts = {
	    .mode = "async",
	    .idempotency_key = ev->idempotency_key,
	    .event_id = ev->id,
	    .attempt = ev->attempts,
	};
	int64_t run_id = 0;
	e = gw_flow_run_ex(srv, h, &opts, flow, params, &caller, &a, &o, &run_id, &ei);
	if (e == ERR_NOT_FOUND || e == ERR_INVALID) {
		snprintf(errmsg, errmsg_sz, "%s",
		         e == ERR_NOT_FOUND ? "流程不存在" : "流程参数不符合流程的要求");
		if (ei.field && e == ERR_INVALID)
			snprintf(errmsg, errmsg_sz, "流程参数不符合流程的要求（%s）", ei.field);
		e = ERR_INVALID;
		goto out;
	}
	if (e)
		goto out;
	if (!o.err) {
		e = ERR_OK;
		goto out;
	}
	/* Operators read last_error; the external system's own words may quote personal data,
	 * so it names the run, the step and the kind of failure only. */
	char http[24] = "";
	if (o.http_status)
		snprintf(http, sizeof(http), "，HTTP %d", o.http_status);
	snprintf(errmsg, errmsg_sz, "流程运行 %lld 在步骤 %s 失败（%s%s）", (long long)run_id,
	         o.failed_step ? o.failed_step : "-", err_code(o.err), http);
	if (o.err == ERR_CONFIG || permanent(o.http_status) ||
	    (o.failed_outcome && !strcmp(o.failed_outcome, "unexpected")))
		e = ERR_INVALID;
	else
		e = ERR_UPSTREAM;
out:
	if (plain.p)
		crypto_wipe(plain.p, plain.len);
	buf_release(&plain);
	buf_release(&blob);
	json_decref(payload);
	json_decref(params);
	arena_release(&a);
	return e;
}
