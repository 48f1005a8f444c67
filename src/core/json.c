#include "core/json.h"

#include <string.h>

#include "core/str.h"

static void decref_cb(void *p)
{
	json_decref(p);
}

json_t *json_arena_own(struct arena *a, json_t *v)
{
	if (v)
		arena_defer(a, decref_cb, v);
	return v;
}

/* jansson's own text is English: say what is wrong in the clerk's language. */
static const char *parse_problem(const json_error_t *jerr)
{
	switch (json_error_code(jerr)) {
	case json_error_duplicate_key: return "请求体 JSON 含有重复的字段";
	case json_error_null_character: return "请求体 JSON 的字符串中不能含有空字符（\\u0000）";
	case json_error_invalid_utf8: return "请求包含非法的 UTF-8 编码";
	case json_error_premature_end_of_input: return "请求体 JSON 不完整";
	case json_error_end_of_input_expected: return "请求体 JSON 结束后还有多余内容";
	case json_error_numeric_overflow: return "请求体 JSON 中的数字超出范围";
	case json_error_item_not_found:
	case json_error_wrong_type:
	case json_error_invalid_syntax:
	case json_error_invalid_format:
	default: return "请求体不是合法的 JSON";
	}
}

enum err json_parse(const char *p, size_t n, json_t **out, struct arena *a, struct errinfo *ei)
{
	*out = NULL;
	if (!utf8_valid(p, n)) {
		if (ei) {
			ei->code = ERR_BAD_UTF8;
			ei->field = NULL;
			ei->msg = NULL;
		}
		return ERR_BAD_UTF8;
	}
	json_error_t jerr;
	json_t *v = json_loadb(p, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!v) {
		if (ei) {
			ei->code = ERR_BAD_JSON;
			ei->field = NULL;
			ei->msg = a ? arena_printf(a, "%s（第 %d 行第 %d 列）",
			                           parse_problem(&jerr), jerr.line, jerr.column)
			            : NULL;
		}
		return ERR_BAD_JSON;
	}
	*out = v;
	return ERR_OK;
}

static const char *type_name(enum json_ftype t)
{
	switch (t) {
	case JF_STRING: return "字符串";
	case JF_INT: return "整数";
	case JF_NUMBER: return "数字";
	case JF_BOOL: return "布尔值";
	case JF_OBJECT: return "对象";
	case JF_ARRAY: return "数组";
	default: return "值";
	}
}

static bool type_ok(const json_t *v, enum json_ftype t)
{
	switch (t) {
	case JF_STRING: return json_is_string(v);
	case JF_INT: return json_is_integer(v);
	case JF_NUMBER: return json_is_number(v);
	case JF_BOOL: return json_is_boolean(v);
	case JF_OBJECT: return json_is_object(v);
	case JF_ARRAY: return json_is_array(v);
	default: return true;
	}
}

enum err json_check(const json_t *obj, const struct json_field *fields, bool closed,
                    struct arena *a, struct errinfo *ei)
{
	if (!json_is_object(obj))
		return err_fail(ei, ERR_BAD_JSON, NULL, "请求体必须是 JSON 对象");
	if (closed) {
		const char *key;
		json_t *v;
		json_object_foreach ((json_t *)obj, key, v) {
			const struct json_field *f = fields;
			while (f->name && strcmp(f->name, key) != 0)
				f++;
			if (!f->name)
				return err_fail(ei, ERR_UNKNOWN_FIELD, arena_strdup(a, key),
				                arena_printf(a, "不认识的字段“%s”", key));
		}
	}
	for (const struct json_field *f = fields; f->name; f++) {
		const char *label = f->label ? f->label : f->name;
		json_t *v = json_object_get(obj, f->name);
		if (v && json_is_null(v) && (f->flags & JF_NULLABLE))
			v = NULL;
		if (!v) {
			if (f->flags & JF_REQUIRED)
				return err_fail(ei, ERR_MISSING_FIELD, f->name,
				                arena_printf(a, "缺少必填字段“%s”", label));
			continue;
		}
		if (!type_ok(v, f->type))
			return err_fail(
			    ei, ERR_BAD_FIELD, f->name,
			    arena_printf(a, "字段“%s”应为%s", label, type_name(f->type)));
		if (f->type == JF_STRING) {
			const char *s = json_string_value(v);
			size_t bytes = json_string_length(v);
			if (memchr(s, 0, bytes))
				return err_fail(ei, ERR_BAD_FIELD, f->name,
				                arena_printf(a, "字段“%s”含有非法字符", label));
			size_t chars = utf8_len(s, bytes);
			int64_t max = f->max ? f->max : 1000;
			if ((f->flags & JF_NONEMPTY) && str_trim((struct str){s, bytes}).n == 0)
				return err_fail(ei, ERR_BAD_FIELD, f->name,
				                arena_printf(a, "字段“%s”不能为空", label));
			if ((int64_t)chars < f->min)
				return err_fail(ei, ERR_BAD_FIELD, f->name,
				                arena_printf(a, "字段“%s”至少需要 %lld 个字符",
				                             label, (long long)f->min));
			if ((int64_t)chars > max)
				return err_fail(ei, ERR_BAD_FIELD, f->name,
				                arena_printf(a, "字段“%s”最多 %lld 个字符", label,
				                             (long long)max));
		} else if (f->type == JF_INT && (f->min || f->max)) {
			json_int_t x = json_integer_value(v);
			if (x < f->min || x > f->max)
				return err_fail(ei, ERR_BAD_FIELD, f->name,
				                arena_printf(a, "字段“%s”应在 %lld 到 %lld 之间",
				                             label, (long long)f->min,
				                             (long long)f->max));
		} else if (f->type == JF_ARRAY) {
			int64_t max = f->max ? f->max : 1000;
			int64_t cnt = (int64_t)json_array_size(v);
			if (cnt < f->min || cnt > max)
				return err_fail(
				    ei, ERR_BAD_FIELD, f->name,
				    arena_printf(a, "字段“%s”的元素个数应在 %lld 到 %lld 之间",
				                 label, (long long)f->min, (long long)max));
		}
	}
	return ERR_OK;
}

const char *json_get_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

int64_t json_get_int(const json_t *obj, const char *key, int64_t def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

bool json_get_bool(const json_t *obj, const char *key, bool def)
{
	json_t *v = json_object_get(obj, key);
	return json_is_boolean(v) ? json_is_true(v) : def;
}

char *json_dump_arena(const json_t *v, struct arena *a)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		return NULL;
	char *r = arena_strdup(a, s);
	free(s);
	return r;
}

/* ---- dotted paths ---- */

#define PATH_SEG_MAX 128

json_t *json_path_get(const json_t *base, const char *path)
{
	char seg[PATH_SEG_MAX + 2];
	const json_t *v = base;
	while (v && path && *path) {
		size_t n = strcspn(path, ".");
		if (n > PATH_SEG_MAX)
			return NULL;
		memcpy(seg, path, n);
		seg[n] = 0;
		v = json_is_object(v) ? json_object_get(v, seg) : NULL;
		path += n;
		if (*path == '.')
			path++;
	}
	return (json_t *)v;
}

int json_path_set_new(json_t *base, const char *path, json_t *v)
{
	char seg[PATH_SEG_MAX + 2];
	json_t *cur = base;
	if (!path) {
		json_decref(v);
		return -1;
	}
	for (;;) {
		size_t n = strcspn(path, ".");
		if (n > PATH_SEG_MAX || !json_is_object(cur)) {
			json_decref(v);
			return -1;
		}
		memcpy(seg, path, n);
		seg[n] = 0;
		if (!path[n])
			return json_object_set_new(cur, seg, v);
		json_t *next = json_object_get(cur, seg);
		if (!json_is_object(next)) {
			next = json_object();
			if (json_object_set_new(cur, seg, next)) {
				json_decref(v);
				return -1;
			}
		}
		cur = next;
		path += n + 1;
	}
}

void json_path_del(json_t *base, const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;
	if (!path)
		return;
	if (!dot) {
		if (json_is_object(base))
			json_object_del(base, path);
		return;
	}
	char parent[PATH_SEG_MAX * 4];
	size_t n = (size_t)(dot - path);
	if (n >= sizeof(parent))
		return;
	memcpy(parent, path, n);
	parent[n] = 0;
	json_t *p = json_path_get(base, parent);
	if (json_is_object(p))
		json_object_del(p, dot + 1);
}
