/* catalog_expr.c: the expression language of catalog forms (docs/catalog.md "Expressions").
 *
 * A recursive-descent parser builds a small tree in the caller's arena; evaluation walks
 * it over jansson values. Precedence, loosest first: ||, &&, comparisons and `in` (not
 * chainable: `a < b < c` is almost always a mistake), + -, * /, unary ! -, primaries.
 * Regular expressions of matches() are compiled once at parse time, so a bad pattern is a
 * check error, not a run-time surprise. Evaluation never fails loudly: a type error, a
 * division by zero or too many steps yields NULL, which callers read as false. */
#include "catalog/catalog_int.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"

/* Depth of the tree itself: long chains such as a || b || c … are flat in the source but
 * deep in the tree, and evaluation recurses on the tree. */
#define MAX_TREE_HEIGHT   256
#define MAX_STRING_RESULT 10000 /* bytes of a string built by + */

enum kind { N_LIT, N_REF, N_LIST, N_NOT, N_NEG, N_BIN, N_CALL };

enum op {
	OP_OR,
	OP_AND,
	OP_EQ,
	OP_NE,
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_IN,
	OP_ADD,
	OP_SUB,
	OP_MUL,
	OP_DIV,
};

enum fn { F_AGE, F_TODAY, F_LEN, F_EMPTY, F_COUNT, F_SUM, F_DAYS_BETWEEN, F_ID_SEX, F_MATCHES };

static const struct {
	const char *name;
	int arity;
} fns[] = {
    [F_AGE] = {"age", 1},
    [F_TODAY] = {"today", 0},
    [F_LEN] = {"len", 1},
    [F_EMPTY] = {"empty", 1},
    [F_COUNT] = {"count", 1},
    [F_SUM] = {"sum", 2},
    [F_DAYS_BETWEEN] = {"days_between", 2},
    [F_ID_SEX] = {"id_sex", 1},
    [F_MATCHES] = {"matches", 2},
};

struct node {
	enum kind kind;
	int op; /* enum op for N_BIN, enum fn for N_CALL */
	int height;
	json_t *lit;       /* N_LIT (owned by the arena) */
	const char *name;  /* N_REF: as written */
	const char **segs; /* N_REF: name split at dots */
	int nsegs;
	struct node **kids; /* N_LIST items, N_BIN (2), N_NOT/N_NEG (1), N_CALL args */
	int nkids;
	regex_t *re; /* N_CALL matches() */
};

struct catalog_expr {
	struct node *root;
	const char *src;
	bool uses_row;
	bool warned; /* the type-error warning was logged (set atomically) */
};

/* ------------------------------------------------------------------ dates */

bool catalog_date_valid(int y, int m, int d)
{
	return y >= 1000 && y <= 9999 && time_date_valid(y, m, d);
}

static int digits(const char *s, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

bool catalog_date_parse(const char *s, int *y, int *m, int *d)
{
	return time_date_parse(s, 1000, 9999, y, m, d);
}

int64_t catalog_days_from_civil(int y, int m, int d)
{
	return time_days_from_civil(y, m, d);
}

bool catalog_id_birth(const char *number, const char *today, int *y, int *m, int *d)
{
	if (!number)
		return false;
	size_t n = strlen(number);
	int yy, mm, dd;
	if (n == 18) {
		yy = digits(number + 6, 4);
		mm = digits(number + 10, 2);
		dd = digits(number + 12, 2);
	} else if (n == 15) {
		/* 2017 PR card: AAA + 4-digit place + YYMMDD + sex + check. */
		int ty, tm, td;
		int yy2 = digits(number + 7, 2);
		mm = digits(number + 9, 2);
		dd = digits(number + 11, 2);
		if (yy2 < 0 || !today || !catalog_date_parse(today, &ty, &tm, &td))
			return false;
		yy = 2000 + yy2 <= ty ? 2000 + yy2 : 1900 + yy2;
	} else {
		return false;
	}
	if (yy < 0 || mm < 0 || dd < 0 || !catalog_date_valid(yy, mm, dd))
		return false;
	*y = yy;
	*m = mm;
	*d = dd;
	return true;
}

/* ------------------------------------------------------------------ parser */

struct parser {
	const char *src, *p;
	struct arena *a;
	const char *err;
	int depth;
	bool uses_row;
};

/* 1-based character (not byte) position of p in the source, for messages. */
static size_t char_pos(const struct parser *ps, const char *p)
{
	size_t n = 1;
	for (const char *q = ps->src; q < p; q++)
		if (((unsigned char)*q & 0xC0) != 0x80)
			n++;
	return n;
}

static void __attribute__((format(printf, 3, 4)))
fail_at(struct parser *ps, const char *at, const char *fmt, ...)
{
	if (ps->err)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *msg = arena_vprintf(ps->a, fmt, ap);
	va_end(ap);
	ps->err =
	    arena_printf(ps->a, "第 %zu 个字符处：%s", char_pos(ps, at), msg ? msg : "表达式有误");
	if (!ps->err)
		ps->err = "表达式有误";
}

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

/* Bytes of the UTF-8 character at p, so that a message names it whole; never past the end. */
static int char_bytes(const char *p)
{
	unsigned char uc = (unsigned char)*p;
	int len = uc >= 0xF0 ? 4 : uc >= 0xE0 ? 3 : uc >= 0xC0 ? 2 : 1;
	int left = (int)strnlen(p, 4);
	return left < len ? left : len;
}

static struct node *mk(struct parser *ps, enum kind k)
{
	struct node *n = arena_zalloc(ps->a, sizeof(*n));
	if (!n) {
		if (!ps->err)
			ps->err = "内存不足";
		return NULL;
	}
	n->kind = k;
	n->height = 1;
	return n;
}

static bool set_kids(struct parser *ps, struct node *n, struct node **kids, int nkids)
{
	if (nkids == 0)
		return true; /* [] and today(): no children */
	n->kids = arena_memdup(ps->a, kids, sizeof(*kids) * (size_t)nkids);
	if (!n->kids) {
		if (!ps->err)
			ps->err = "内存不足";
		return false;
	}
	n->nkids = nkids;
	for (int i = 0; i < nkids; i++)
		if (kids[i]->height + 1 > n->height)
			n->height = kids[i]->height + 1;
	if (n->height > MAX_TREE_HEIGHT) {
		fail_at(ps, ps->p, "表达式过于复杂（运算层次超过 %d）", MAX_TREE_HEIGHT);
		return false;
	}
	return true;
}

static struct node *lit(struct parser *ps, json_t *v)
{
	struct node *n = mk(ps, N_LIT);
	if (!v || !n) {
		json_decref(v);
		if (!ps->err)
			ps->err = "内存不足";
		return NULL;
	}
	n->lit = json_arena_own(ps->a, v);
	return n;
}

static struct node *parse_or(struct parser *ps);

static bool is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_ident_char(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* A string literal; ps->p is on the opening quote. JSON escapes, including \uXXXX (a
 * surrogate pair for characters outside the BMP). */
static struct node *parse_string(struct parser *ps)
{
	const char *start = ps->p++;
	struct buf b;
	buf_init(&b, CATALOG_EXPR_MAX_LEN + 8);
	struct node *n = NULL;
	for (;;) {
		char c = *ps->p;
		if (c == 0 || c == '\n') {
			fail_at(ps, start, "字符串缺少结尾的引号");
			goto out;
		}
		if (c == '"') {
			ps->p++;
			break;
		}
		if (c != '\\') {
			buf_putc(&b, c);
			ps->p++;
			continue;
		}
		const char *esc = ps->p;
		c = ps->p[1];
		ps->p += 2;
		switch (c) {
		case '"': buf_putc(&b, '"'); break;
		case '\\': buf_putc(&b, '\\'); break;
		case '/': buf_putc(&b, '/'); break;
		case 'n': buf_putc(&b, '\n'); break;
		case 't': buf_putc(&b, '\t'); break;
		case 'r': buf_putc(&b, '\r'); break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 0; i < 4; i++) {
				char h = ps->p[i];
				int v = (h >= '0' && h <= '9')   ? h - '0'
				        : (h >= 'a' && h <= 'f') ? h - 'a' + 10
				        : (h >= 'A' && h <= 'F') ? h - 'A' + 10
				                                 : -1;
				if (v < 0) {
					fail_at(ps, esc, "字符串中的“\\u”后应为 4 位十六进制数");
					goto out;
				}
				cp = cp * 16 + (unsigned)v;
			}
			ps->p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && ps->p[0] == '\\' && ps->p[1] == 'u') {
				unsigned lo = 0;
				int ok = 1;
				for (int i = 0; i < 4 && ok; i++) {
					char h = ps->p[2 + i];
					int v = (h >= '0' && h <= '9')   ? h - '0'
					        : (h >= 'a' && h <= 'f') ? h - 'a' + 10
					        : (h >= 'A' && h <= 'F') ? h - 'A' + 10
					                                 : -1;
					if (v < 0)
						ok = 0;
					else
						lo = lo * 16 + (unsigned)v;
				}
				if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					ps->p += 6;
				}
			}
			if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) {
				fail_at(ps, esc, "字符串中的“\\u”转义不是合法字符");
				goto out;
			}
			char u[4];
			size_t un;
			if (cp < 0x80) {
				u[0] = (char)cp;
				un = 1;
			} else if (cp < 0x800) {
				u[0] = (char)(0xC0 | (cp >> 6));
				u[1] = (char)(0x80 | (cp & 0x3F));
				un = 2;
			} else if (cp < 0x10000) {
				u[0] = (char)(0xE0 | (cp >> 12));
				u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
				u[2] = (char)(0x80 | (cp & 0x3F));
				un = 3;
			} else {
				u[0] = (char)(0xF0 | (cp >> 18));
				u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
				u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
				u[3] = (char)(0x80 | (cp & 0x3F));
				un = 4;
			}
			buf_append(&b, u, un);
			break;
		}
		default:
			if (c == 0) {
				fail_at(ps, start, "字符串缺少结尾的引号");
			} else {
				fail_at(ps, esc, "字符串中的转义“\\%.*s”不正确",
				        char_bytes(esc + 1), esc + 1);
			}
			goto out;
		}
	}
	n = lit(ps, json_stringn(b.p ? b.p : "", b.len));
out:
	buf_release(&b);
	return n;
}

static struct node *parse_number(struct parser *ps)
{
	const char *start = ps->p;
	bool real = false;
	while ((*ps->p >= '0' && *ps->p <= '9'))
		ps->p++;
	if (*ps->p == '.') {
		real = true;
		ps->p++;
		if (!(*ps->p >= '0' && *ps->p <= '9')) {
			fail_at(ps, start, "数字“%.*s”格式不正确", (int)(ps->p - start), start);
			return NULL;
		}
		while (*ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	if (is_ident_char(*ps->p) || *ps->p == '.') {
		const char *e = ps->p;
		while (is_ident_char(*e) || *e == '.')
			e++;
		fail_at(ps, start, "数字“%.*s”格式不正确", (int)(e - start), start);
		return NULL;
	}
	char *tmp = arena_strndup(ps->a, start, (size_t)(ps->p - start));
	if (!tmp) {
		ps->err = "内存不足";
		return NULL;
	}
	if (!real) {
		int64_t v;
		if (cstr_to_i64(tmp, 0, INT64_MAX, &v))
			return lit(ps, json_integer(v));
	}
	char *end;
	double d = strtod(tmp, &end);
	if (*end || !isfinite(d)) {
		fail_at(ps, start, "数字“%s”超出范围", tmp);
		return NULL;
	}
	return lit(ps, json_real(d));
}

static int find_fn(const char *name, size_t n)
{
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (strlen(fns[i].name) == n && !memcmp(fns[i].name, name, n))
			return (int)i;
	return -1;
}

/* Expressions separated by commas, ps->p on the opening bracket, up to the closing one close
 * (consumed); at most max of them into v. fn names the function whose arguments they are,
 * for the messages (NULL: the items of a list). Returns how many, or -1 after an error. */
static int parse_seq(struct parser *ps, char close, const char *fn, struct node **v, int max)
{
	const char *open = ps->p++;
	int n = 0;
	skip_ws(ps);
	if (*ps->p != close) {
		for (;;) {
			if (n == max) {
				if (fn)
					fail_at(ps, ps->p, "函数“%s”的参数过多", fn);
				else
					fail_at(ps, ps->p, "列表过长（最多 %d 项）", max);
				return -1;
			}
			struct node *x = parse_or(ps);
			if (!x)
				return -1;
			v[n++] = x;
			skip_ws(ps);
			if (*ps->p != ',')
				break;
			ps->p++;
		}
	}
	skip_ws(ps);
	if (*ps->p != close) {
		if (fn && *ps->p == 0)
			fail_at(ps, ps->p, "函数“%s”的参数缺少右括号“)”", fn);
		else if (fn)
			fail_at(ps, ps->p, "函数“%s”的参数之间应以逗号分隔", fn);
		else if (*ps->p == 0)
			fail_at(ps, open, "左方括号“[”缺少对应的右方括号“]”");
		else
			fail_at(ps, ps->p, "列表的各项之间应以逗号分隔");
		return -1;
	}
	ps->p++;
	return n;
}

static struct node *parse_call(struct parser *ps, const char *name, size_t nlen)
{
	const char *at = name;
	int f = find_fn(name, nlen);
	if (f < 0) {
		fail_at(ps, at, "不认识的函数“%.*s”", (int)nlen, name);
		return NULL;
	}
	struct node *args[8];
	int nargs = parse_seq(ps, ')', fns[f].name, args, (int)(sizeof(args) / sizeof(args[0])));
	if (nargs < 0)
		return NULL;
	if (nargs != fns[f].arity) {
		fail_at(ps, at, "函数“%s”需要 %d 个参数，实际为 %d 个", fns[f].name, fns[f].arity,
		        nargs);
		return NULL;
	}
	struct node *n = mk(ps, N_CALL);
	if (!n)
		return NULL;
	n->op = f;
	if (f == F_SUM && !(args[1]->kind == N_LIT && json_is_string(args[1]->lit) &&
	                    catalog_field_id_valid(json_string_value(args[1]->lit)))) {
		fail_at(
		    ps, at,
		    "函数“sum”的第二个参数应为表格内的字段名字符串，如 sum(members, \"amount\")");
		return NULL;
	}
	if (f == F_MATCHES) {
		if (!(args[1]->kind == N_LIT && json_is_string(args[1]->lit))) {
			fail_at(ps, at, "函数“matches”的第二个参数应为正则表达式字符串");
			return NULL;
		}
		const char *why;
		const char *pat = json_string_value(args[1]->lit);
		if (!catalog_regex_valid(pat, &why)) {
			fail_at(ps, at, "函数“matches”的正则表达式“%s”不正确：%s", pat, why);
			return NULL;
		}
		n->re = arena_zalloc(ps->a, sizeof(regex_t));
		if (!n->re || regcomp(n->re, pat, REG_EXTENDED | REG_NOSUB) != 0) {
			fail_at(ps, at, "函数“matches”的正则表达式“%s”不正确", pat);
			return NULL;
		}
		arena_defer(ps->a, (void (*)(void *))regfree, n->re);
	}
	return set_kids(ps, n, args, nargs) ? n : NULL;
}

static struct node *parse_ident(struct parser *ps)
{
	const char *start = ps->p;
	while (is_ident_char(*ps->p) || *ps->p == '.')
		ps->p++;
	size_t n = (size_t)(ps->p - start);
	const char *after = ps->p;
	skip_ws(ps);
	if (*ps->p == '(')
		return parse_call(ps, start, n);
	ps->p = after;
	if (n == 4 && !memcmp(start, "true", 4))
		return lit(ps, json_true());
	if (n == 5 && !memcmp(start, "false", 5))
		return lit(ps, json_false());
	if (n == 4 && !memcmp(start, "null", 4))
		return lit(ps, json_null());
	if (n == 2 && !memcmp(start, "in", 2)) {
		fail_at(ps, start, "“in”前缺少运算对象");
		return NULL;
	}
	char *name = arena_strndup(ps->a, start, n);
	if (!name) {
		ps->err = "内存不足";
		return NULL;
	}
	if (!catalog_field_id_valid(name)) {
		fail_at(ps, start, "字段名“%s”格式不正确（应为小写字母、数字和下划线，以点分隔）",
		        name);
		return NULL;
	}
	struct node *nd = mk(ps, N_REF);
	if (!nd)
		return NULL;
	nd->name = name;
	int segs = 1;
	for (const char *q = name; *q; q++)
		segs += *q == '.';
	nd->segs = arena_alloc(ps->a, sizeof(char *) * (size_t)segs);
	char *copy = arena_strdup(ps->a, name);
	if (!nd->segs || !copy) {
		ps->err = "内存不足";
		return NULL;
	}
	nd->nsegs = 0;
	for (char *q = copy;;) {
		nd->segs[nd->nsegs++] = q;
		char *dot = strchr(q, '.');
		if (!dot)
			break;
		*dot = 0;
		q = dot + 1;
	}
	if (!strcmp(nd->segs[0], "row") || !strcmp(nd->segs[0], "rows"))
		ps->uses_row = true;
	if (!strcmp(nd->segs[0], "rows") && nd->nsegs > 1) {
		fail_at(ps, start,
		        "“rows”表示表格的全部行，不能直接接字段名；请用 sum(rows, \"%s\")",
		        name + 5);
		return NULL;
	}
	return nd;
}

static struct node *parse_unary(struct parser *ps);

static struct node *parse_primary(struct parser *ps)
{
	skip_ws(ps);
	char c = *ps->p;
	if (c == '(') {
		const char *open = ps->p++;
		struct node *x = parse_or(ps);
		if (!x)
			return NULL;
		skip_ws(ps);
		if (*ps->p != ')') {
			if (*ps->p == 0)
				fail_at(ps, open, "左括号“(”缺少对应的右括号“)”");
			else
				fail_at(ps, ps->p, "缺少右括号“)”");
			return NULL;
		}
		ps->p++;
		return x;
	}
	if (c == '[') {
		struct node *items[256];
		int n = parse_seq(ps, ']', NULL, items, (int)(sizeof(items) / sizeof(items[0])));
		if (n < 0)
			return NULL;
		struct node *l = mk(ps, N_LIST);
		return l && set_kids(ps, l, items, n) ? l : NULL;
	}
	if (c == '"')
		return parse_string(ps);
	if (c >= '0' && c <= '9')
		return parse_number(ps);
	if (is_ident_start(c))
		return parse_ident(ps);
	if (c == 0) {
		fail_at(ps, ps->p, "表达式不完整，缺少运算对象");
		return NULL;
	}
	if (c == '\'') {
		fail_at(ps, ps->p, "字符串请用双引号“\"”");
		return NULL;
	}
	if (strchr(")]},=<>&|*/+", c)) {
		fail_at(ps, ps->p, "“%c”前缺少运算对象", c);
		return NULL;
	}
	fail_at(ps, ps->p, "不认识的字符“%.*s”", char_bytes(ps->p), ps->p);
	return NULL;
}

static struct node *parse_unary(struct parser *ps)
{
	skip_ws(ps);
	char c = *ps->p;
	if ((c == '!' && ps->p[1] != '=') || c == '-') {
		if (++ps->depth > CATALOG_EXPR_MAX_DEPTH) {
			fail_at(ps, ps->p, "表达式嵌套过深（最多 %d 层）", CATALOG_EXPR_MAX_DEPTH);
			return NULL;
		}
		ps->p++;
		struct node *x = parse_unary(ps);
		ps->depth--;
		if (!x)
			return NULL;
		struct node *n = mk(ps, c == '!' ? N_NOT : N_NEG);
		return n && set_kids(ps, n, &x, 1) ? n : NULL;
	}
	return parse_primary(ps);
}

static struct node *bin(struct parser *ps, int op, struct node *l, struct node *r)
{
	struct node *n = mk(ps, N_BIN);
	if (!n)
		return NULL;
	n->op = op;
	struct node *k[2] = {l, r};
	return set_kids(ps, n, k, 2) ? n : NULL;
}

static struct node *parse_mul(struct parser *ps)
{
	struct node *l = parse_unary(ps);
	while (l) {
		skip_ws(ps);
		char c = *ps->p;
		if (c != '*' && c != '/')
			break;
		ps->p++;
		struct node *r = parse_unary(ps);
		if (!r)
			return NULL;
		l = bin(ps, c == '*' ? OP_MUL : OP_DIV, l, r);
	}
	return l;
}

static struct node *parse_add(struct parser *ps)
{
	struct node *l = parse_mul(ps);
	while (l) {
		skip_ws(ps);
		char c = *ps->p;
		if (c != '+' && c != '-')
			break;
		ps->p++;
		struct node *r = parse_mul(ps);
		if (!r)
			return NULL;
		l = bin(ps, c == '+' ? OP_ADD : OP_SUB, l, r);
	}
	return l;
}

/* The comparison operator at ps->p (advancing past it), or -1. */
static int cmp_op(struct parser *ps)
{
	const char *p = ps->p;
	int op = -1, len = 2;
	if (p[0] == '=' && p[1] == '=')
		op = OP_EQ;
	else if (p[0] == '!' && p[1] == '=')
		op = OP_NE;
	else if (p[0] == '<' && p[1] == '=')
		op = OP_LE;
	else if (p[0] == '>' && p[1] == '=')
		op = OP_GE;
	else if (p[0] == '<')
		op = OP_LT, len = 1;
	else if (p[0] == '>')
		op = OP_GT, len = 1;
	else if (p[0] == 'i' && p[1] == 'n' && !is_ident_char(p[2]) && p[2] != '.')
		op = OP_IN;
	else if (p[0] == '=') {
		fail_at(ps, p, "比较是否相等请用“==”");
		return -2;
	}
	if (op >= 0)
		ps->p += len;
	return op;
}

static struct node *parse_cmp(struct parser *ps)
{
	struct node *l = parse_add(ps);
	if (!l)
		return NULL;
	skip_ws(ps);
	const char *at = ps->p;
	int op = cmp_op(ps);
	if (op == -2)
		return NULL;
	if (op < 0)
		return l;
	struct node *r = parse_add(ps);
	if (!r)
		return NULL;
	skip_ws(ps);
	const char *again = ps->p;
	int op2 = cmp_op(ps);
	if (op2 == -2)
		return NULL;
	if (op2 >= 0) {
		ps->p = again;
		fail_at(ps, again, "比较运算不能连写（如 a < b < c），请用“&&”连接两次比较");
		return NULL;
	}
	(void)at;
	return bin(ps, op, l, r);
}

static struct node *parse_and(struct parser *ps)
{
	struct node *l = parse_cmp(ps);
	while (l) {
		skip_ws(ps);
		if (ps->p[0] == '&' && ps->p[1] != '&') {
			fail_at(ps, ps->p, "“并且”请用“&&”");
			return NULL;
		}
		if (!(ps->p[0] == '&' && ps->p[1] == '&'))
			break;
		ps->p += 2;
		struct node *r = parse_cmp(ps);
		if (!r)
			return NULL;
		l = bin(ps, OP_AND, l, r);
	}
	return l;
}

static struct node *parse_or(struct parser *ps)
{
	if (++ps->depth > CATALOG_EXPR_MAX_DEPTH) {
		fail_at(ps, ps->p, "表达式嵌套过深（最多 %d 层）", CATALOG_EXPR_MAX_DEPTH);
		return NULL;
	}
	struct node *l = parse_and(ps);
	while (l) {
		skip_ws(ps);
		if (ps->p[0] == '|' && ps->p[1] != '|') {
			fail_at(ps, ps->p, "“或者”请用“||”");
			return NULL;
		}
		if (!(ps->p[0] == '|' && ps->p[1] == '|'))
			break;
		ps->p += 2;
		struct node *r = parse_and(ps);
		if (!r)
			return NULL;
		l = bin(ps, OP_OR, l, r);
	}
	ps->depth--;
	return l;
}

enum err catalog_expr_parse(const char *src, struct arena *a, struct catalog_expr **out,
                            const char **errmsg)
{
	struct parser ps = {.src = src, .p = src, .a = a};
	*out = NULL;
	*errmsg = NULL;
	if (!src) {
		*errmsg = "表达式为空";
		return ERR_INVALID;
	}
	size_t n = strlen(src);
	if (n > CATALOG_EXPR_MAX_LEN) {
		*errmsg = arena_printf(a, "表达式过长（最多 %d 个字节，实际 %zu）",
		                       CATALOG_EXPR_MAX_LEN, n);
		if (!*errmsg)
			*errmsg = "表达式过长";
		return ERR_INVALID;
	}
	if (!utf8_valid(src, n)) {
		*errmsg = "表达式含有非法的 UTF-8 编码";
		return ERR_INVALID;
	}
	skip_ws(&ps);
	if (!*ps.p) {
		*errmsg = "表达式为空";
		return ERR_INVALID;
	}
	struct node *root = parse_or(&ps);
	if (root) {
		skip_ws(&ps);
		if (*ps.p) {
			const char *e = ps.p;
			int chars = 0;
			while (*e && chars < 10) {
				e++;
				while ((*e & 0xC0) == 0x80)
					e++;
				chars++;
			}
			fail_at(&ps, ps.p, "多余的内容“%.*s%s”（是否缺少运算符？）",
			        (int)(e - ps.p), ps.p, *e ? "…" : "");
			root = NULL;
		}
	}
	if (!root) {
		*errmsg = ps.err ? ps.err : "表达式有误";
		return ERR_INVALID;
	}
	struct catalog_expr *e = arena_zalloc(a, sizeof(*e));
	if (!e || !(e->src = arena_strdup(a, src))) {
		*errmsg = "内存不足";
		return ERR_NOMEM;
	}
	e->root = root;
	e->uses_row = ps.uses_row;
	*out = e;
	return ERR_OK;
}

const char *catalog_expr_source(const struct catalog_expr *e)
{
	return e->src;
}

bool catalog_expr_uses_row(const struct catalog_expr *e)
{
	return e && e->uses_row;
}

struct walker {
	void (*fn)(void *ctx, const char *ref);
	void (*fn_ex)(void *ctx, const char *ref, bool sum_field);
	void *ctx;
};

static void emit(const struct walker *w, const char *ref, bool sum_field)
{
	if (w->fn)
		w->fn(w->ctx, ref);
	else
		w->fn_ex(w->ctx, ref, sum_field);
}

static void walk_refs(const struct node *n, const struct walker *w)
{
	if (n->kind == N_REF)
		emit(w, n->name, false);
	if (n->kind == N_CALL && n->op == F_SUM && n->kids[0]->kind == N_REF) {
		char full[512];
		snprintf(full, sizeof(full), "%s.%s", n->kids[0]->name,
		         json_string_value(n->kids[1]->lit));
		emit(w, full, true);
	}
	for (int i = 0; i < n->nkids; i++)
		walk_refs(n->kids[i], w);
}

void catalog_expr_refs(const struct catalog_expr *e, void (*fn)(void *ctx, const char *ref),
                       void *ctx)
{
	struct walker w = {.fn = fn, .ctx = ctx};
	if (e && e->root)
		walk_refs(e->root, &w);
}

void catalog_expr_refs_ex(const struct catalog_expr *e,
                          void (*fn)(void *ctx, const char *ref, bool sum_field), void *ctx)
{
	struct walker w = {.fn_ex = fn, .ctx = ctx};
	if (e && e->root)
		walk_refs(e->root, &w);
}

static void walk_compares(const struct node *n,
                          void (*fn)(void *ctx, const char *ref, const char *literal), void *ctx)
{
	if (n->kind == N_BIN && (n->op == OP_EQ || n->op == OP_NE || n->op == OP_IN)) {
		const struct node *l = n->kids[0], *r = n->kids[1];
		if (n->op != OP_IN && r->kind == N_REF) {
			const struct node *t = l;
			l = r;
			r = t;
		}
		if (l->kind == N_REF && r->kind == N_LIT && json_is_string(r->lit))
			fn(ctx, l->name, json_string_value(r->lit));
		if (l->kind == N_REF && r->kind == N_LIST && n->op == OP_IN)
			for (int i = 0; i < r->nkids; i++)
				if (r->kids[i]->kind == N_LIT && json_is_string(r->kids[i]->lit))
					fn(ctx, l->name, json_string_value(r->kids[i]->lit));
	}
	for (int i = 0; i < n->nkids; i++)
		walk_compares(n->kids[i], fn, ctx);
}

void catalog_expr_compares(const struct catalog_expr *e,
                           void (*fn)(void *ctx, const char *ref, const char *literal), void *ctx)
{
	if (e && e->root)
		walk_compares(e->root, fn, ctx);
}

/* ------------------------------------------------------------------ evaluation */

struct ectx {
	const json_t *data, *row, *rows;
	const char *today;
	long steps;
};

bool catalog_expr_truthy(const json_t *v)
{
	if (!v)
		return false;
	switch (json_typeof(v)) {
	case JSON_NULL:
	case JSON_FALSE: return false;
	case JSON_TRUE: return true;
	case JSON_INTEGER: return json_integer_value(v) != 0;
	case JSON_REAL: return json_real_value(v) != 0.0;
	case JSON_STRING: return json_string_length(v) > 0;
	case JSON_ARRAY: return json_array_size(v) > 0;
	case JSON_OBJECT: return json_object_size(v) > 0;
	}
	return false;
}

static bool is_empty(const json_t *v, int depth)
{
	if (!v || json_is_null(v))
		return true;
	if (json_is_string(v))
		return str_trim((struct str){json_string_value(v), json_string_length(v)}).n == 0;
	if (json_is_array(v))
		return json_array_size(v) == 0;
	if (json_is_object(v)) {
		if (depth > 16)
			return false;
		const char *k;
		json_t *x;
		json_object_foreach ((json_t *)v, k, x) {
			if (!is_empty(x, depth + 1))
				return false;
		}
		return true;
	}
	return false;
}

static json_t *lookup(const json_t *base, const char *const *segs, int n)
{
	const json_t *v = base;
	for (int i = 0; i < n && v; i++)
		v = json_is_object(v) ? json_object_get(v, segs[i]) : NULL;
	return v ? json_incref((json_t *)v) : json_null();
}

static bool values_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	return json_equal((json_t *)a, (json_t *)b);
}

static json_t *eval(const struct node *n, struct ectx *c);

static json_t *arith(int op, const json_t *a, const json_t *b)
{
	if (op == OP_ADD && json_is_string(a) && json_is_string(b)) {
		size_t la = json_string_length(a), lb = json_string_length(b);
		if (la + lb > MAX_STRING_RESULT)
			return NULL;
		char *s = malloc(la + lb + 1);
		if (!s)
			return NULL;
		memcpy(s, json_string_value(a), la);
		memcpy(s + la, json_string_value(b), lb);
		json_t *r = json_stringn_nocheck(s, la + lb);
		free(s);
		return r;
	}
	if (!json_is_number(a) || !json_is_number(b))
		return NULL;
	if (json_is_integer(a) && json_is_integer(b) && op != OP_DIV) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b), r;
		bool ovf = op == OP_ADD   ? __builtin_add_overflow(x, y, &r)
		           : op == OP_SUB ? __builtin_sub_overflow(x, y, &r)
		                          : __builtin_mul_overflow(x, y, &r);
		if (!ovf)
			return json_integer(r);
	}
	double x = json_number_value(a), y = json_number_value(b), r;
	switch (op) {
	case OP_ADD: r = x + y; break;
	case OP_SUB: r = x - y; break;
	case OP_MUL: r = x * y; break;
	default:
		if (y == 0)
			return NULL;
		r = x / y;
	}
	return isfinite(r) ? json_real(r) : NULL;
}

static json_t *binary(const struct node *n, struct ectx *c)
{
	if (n->op == OP_AND || n->op == OP_OR) {
		json_t *l = eval(n->kids[0], c);
		if (!l)
			return NULL;
		bool lt = catalog_expr_truthy(l);
		json_decref(l);
		if (n->op == OP_AND ? !lt : lt)
			return json_boolean(lt);
		json_t *r = eval(n->kids[1], c);
		if (!r)
			return NULL;
		bool rt = catalog_expr_truthy(r);
		json_decref(r);
		return json_boolean(rt);
	}
	json_t *l = eval(n->kids[0], c), *r = l ? eval(n->kids[1], c) : NULL, *res = NULL;
	if (!l || !r)
		goto out;
	switch (n->op) {
	case OP_EQ: res = json_boolean(values_equal(l, r)); break;
	case OP_NE: res = json_boolean(!values_equal(l, r)); break;
	case OP_LT:
	case OP_LE:
	case OP_GT:
	case OP_GE: {
		int cmp;
		if (json_is_number(l) && json_is_number(r)) {
			double x = json_number_value(l), y = json_number_value(r);
			cmp = x < y ? -1 : x > y;
		} else if (json_is_string(l) && json_is_string(r)) {
			cmp = strcmp(json_string_value(l), json_string_value(r));
		} else {
			goto out;
		}
		bool b = n->op == OP_LT   ? cmp < 0
		         : n->op == OP_LE ? cmp <= 0
		         : n->op == OP_GT ? cmp > 0
		                          : cmp >= 0;
		res = json_boolean(b);
		break;
	}
	case OP_IN:
		if (json_is_array(r)) {
			bool found = false;
			size_t i;
			json_t *x;
			json_array_foreach (r, i, x) {
				if (values_equal(l, x)) {
					found = true;
					break;
				}
			}
			res = json_boolean(found);
		} else if (json_is_string(r) && json_is_string(l)) {
			res = json_boolean(strstr(json_string_value(r), json_string_value(l)) !=
			                   NULL);
		} else if (json_is_null(r)) {
			res = json_false();
		}
		break;
	default: res = arith(n->op, l, r);
	}
out:
	json_decref(l);
	json_decref(r);
	return res;
}

/* The identity number inside v: a string, or the number member of an id_document value. */
static const char *id_of(const json_t *v)
{
	if (json_is_object(v))
		v = json_object_get(v, "number");
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *call(const struct node *n, struct ectx *c)
{
	json_t *args[2] = {NULL, NULL}, *res = NULL;
	for (int i = 0; i < n->nkids; i++)
		if (!(args[i] = eval(n->kids[i], c)))
			goto out;
	int ty, tm, td, by, bm, bd;
	switch (n->op) {
	case F_TODAY: res = c->today ? json_string(c->today) : NULL; break;
	case F_AGE: {
		const char *s = id_of(args[0]);
		if (!s || !c->today || !catalog_date_parse(c->today, &ty, &tm, &td))
			break;
		if (!catalog_date_parse(s, &by, &bm, &bd) &&
		    !catalog_id_birth(s, c->today, &by, &bm, &bd))
			break;
		int years = ty - by - ((tm < bm || (tm == bm && td < bd)) ? 1 : 0);
		if (years >= 0)
			res = json_integer(years);
		break;
	}
	case F_ID_SEX: {
		const char *s = id_of(args[0]);
		size_t len = s ? strlen(s) : 0;
		char sx = len == 18 ? s[16] : len == 15 ? s[13] : 0;
		if (sx >= '0' && sx <= '9')
			res = json_string((sx - '0') % 2 ? "1" : "2");
		break;
	}
	case F_LEN:
		if (json_is_string(args[0]))
			res = json_integer((json_int_t)utf8_len(json_string_value(args[0]),
			                                        json_string_length(args[0])));
		else if (json_is_array(args[0]))
			res = json_integer((json_int_t)json_array_size(args[0]));
		else if (json_is_object(args[0]))
			res = json_integer((json_int_t)json_object_size(args[0]));
		else if (json_is_null(args[0]))
			res = json_integer(0);
		break;
	case F_EMPTY: res = json_boolean(is_empty(args[0], 0)); break;
	case F_COUNT:
		if (json_is_array(args[0]))
			res = json_integer((json_int_t)json_array_size(args[0]));
		else if (json_is_null(args[0]))
			res = json_integer(0);
		break;
	case F_SUM: {
		if (json_is_null(args[0])) {
			res = json_integer(0);
			break;
		}
		if (!json_is_array(args[0]))
			break;
		/* The field name was checked at parse time; dotted names reach into the row. */
		const char *fname = json_string_value(args[1]);
		const char *segs[16];
		char tmp[256];
		int ns = 0;
		snprintf(tmp, sizeof(tmp), "%s", fname);
		for (char *q = tmp; ns < 16;) {
			segs[ns++] = q;
			char *dot = strchr(q, '.');
			if (!dot)
				break;
			*dot = 0;
			q = dot + 1;
		}
		json_t *acc = json_integer(0);
		size_t i;
		json_t *rowv;
		json_array_foreach (args[0], i, rowv) {
			if (++c->steps > CATALOG_EXPR_MAX_STEPS) {
				json_decref(acc);
				acc = NULL;
				break;
			}
			json_t *x = lookup(rowv, segs, ns);
			if (json_is_null(x)) {
				json_decref(x);
				continue;
			}
			json_t *nx = arith(OP_ADD, acc, x);
			json_decref(x);
			json_decref(acc);
			acc = nx;
			if (!acc || !json_is_number(acc)) {
				json_decref(acc);
				acc = NULL;
				break;
			}
		}
		res = acc;
		break;
	}
	case F_DAYS_BETWEEN: {
		const char *a = json_string_value(args[0]), *b = json_string_value(args[1]);
		if (a && b && catalog_date_parse(a, &by, &bm, &bd) &&
		    catalog_date_parse(b, &ty, &tm, &td))
			res = json_integer(catalog_days_from_civil(ty, tm, td) -
			                   catalog_days_from_civil(by, bm, bd));
		break;
	}
	case F_MATCHES:
		if (json_is_null(args[0]))
			res = json_false();
		else if (json_is_string(args[0]))
			res = json_boolean(regexec(n->re, json_string_value(args[0]), 0, NULL, 0) ==
			                   0);
		break;
	}
out:
	json_decref(args[0]);
	json_decref(args[1]);
	return res;
}

static json_t *eval(const struct node *n, struct ectx *c)
{
	if (++c->steps > CATALOG_EXPR_MAX_STEPS)
		return NULL;
	switch (n->kind) {
	case N_LIT: return json_incref(n->lit);
	case N_REF:
		if (!strcmp(n->segs[0], "row"))
			return lookup(c->row, n->segs + 1, n->nsegs - 1);
		if (!strcmp(n->segs[0], "rows"))
			return c->rows ? json_incref((json_t *)c->rows) : json_null();
		return lookup(c->data, n->segs, n->nsegs);
	case N_LIST: {
		json_t *arr = json_array();
		for (int i = 0; arr && i < n->nkids; i++) {
			json_t *x = eval(n->kids[i], c);
			if (!x || json_array_append_new(arr, x)) {
				json_decref(arr);
				return NULL;
			}
		}
		return arr;
	}
	case N_NOT: {
		json_t *x = eval(n->kids[0], c);
		if (!x)
			return NULL;
		bool t = catalog_expr_truthy(x);
		json_decref(x);
		return json_boolean(!t);
	}
	case N_NEG: {
		json_t *x = eval(n->kids[0], c), *r = NULL;
		if (json_is_integer(x) && json_integer_value(x) != INT64_MIN)
			r = json_integer(-json_integer_value(x));
		else if (json_is_real(x))
			r = json_real(-json_real_value(x));
		json_decref(x);
		return r;
	}
	case N_BIN: return binary(n, c);
	case N_CALL: return call(n, c);
	}
	return NULL;
}

struct nullscan {
	const struct ectx *c;
	bool any_null;
};

static void scan_null(const struct node *n, struct nullscan *s)
{
	if (n->kind == N_REF) {
		json_t *v = !strcmp(n->segs[0], "row")
		                ? lookup(s->c->row, n->segs + 1, n->nsegs - 1)
		            : !strcmp(n->segs[0], "rows")
		                ? json_incref((json_t *)(s->c->rows ? s->c->rows : json_null()))
		                : lookup(s->c->data, n->segs, n->nsegs);
		s->any_null |= !v || json_is_null(v);
		json_decref(v);
	}
	for (int i = 0; i < n->nkids && !s->any_null; i++)
		scan_null(n->kids[i], s);
}

json_t *catalog_expr_eval_rows(const struct catalog_expr *e, const json_t *data, const json_t *row,
                               const json_t *rows, const char *today)
{
	if (!e || !e->root)
		return NULL;
	struct ectx c = {.data = data, .row = row, .rows = rows, .today = today};
	json_t *v = eval(e->root, &c);
	if (v)
		return v;
	/* With every field it reads filled in, a type error is a mistake in the catalog: say so
	 * once per parsed expression. With some empty, it is the normal state of a form being
	 * filled in. */
	struct nullscan s = {&c, false};
	scan_null(e->root, &s);
	if (!s.any_null &&
	    !__atomic_exchange_n(&((struct catalog_expr *)e)->warned, true, __ATOMIC_RELAXED))
		log_warn("catalog.expr_type_error",
		         "expression gives a type error on filled-in data (read as false): %s%s",
		         e->src, c.steps > CATALOG_EXPR_MAX_STEPS ? " (too many steps)" : "");
	else
		log_debug("catalog.expr_type_error", "expression evaluated to an error: %s",
		          e->src);
	return NULL;
}

json_t *catalog_expr_eval(const struct catalog_expr *e, const json_t *data, const json_t *row,
                          const char *today)
{
	return catalog_expr_eval_rows(e, data, row, NULL, today);
}

/* ------------------------------------------------------------------ small shared checks */

bool catalog_field_id_valid(const char *s)
{
	if (!s || !*s || strlen(s) > 128)
		return false;
	bool seg_start = true;
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (seg_start) {
			if (!(c >= 'a' && c <= 'z'))
				return false;
			seg_start = false;
		} else if (c == '.') {
			seg_start = true;
		} else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
			return false;
		}
	}
	return !seg_start;
}

bool catalog_regex_valid(const char *s, const char **why)
{
	*why = NULL;
	if (!s || !*s) {
		*why = "正则表达式为空";
		return false;
	}
	if (strlen(s) > 500) {
		*why = "正则表达式过长（最多 500 个字符）";
		return false;
	}
	/* Back-references make glibc's matcher backtrack without bound. */
	for (const char *p = s; *p; p++)
		if (*p == '\\' && p[1] >= '1' && p[1] <= '9') {
			*why = "不支持反向引用（\\1 等）";
			return false;
		} else if (*p == '\\' && (p[1] == 'd' || p[1] == 'D')) {
			/* ERE has no \d; glibc would quietly read it as the letter d. */
			*why = "扩展正则表达式不支持“\\d”，请写成“[0-9]”";
			return false;
		} else if (*p == '\\' && p[1]) {
			p++;
		}
	regex_t re;
	int rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
	if (rc != 0) {
		switch (rc) {
		case REG_EBRACK: *why = "方括号“[]”不配对"; break;
		case REG_EPAREN: *why = "圆括号“()”不配对"; break;
		case REG_EBRACE: *why = "花括号“{}”不配对"; break;
		case REG_BADBR: *why = "花括号“{}”中的次数不正确"; break;
		case REG_ERANGE: *why = "字符范围不正确"; break;
		case REG_BADRPT: *why = "重复符号“*+?{”前缺少内容"; break;
		case REG_EESCAPE: *why = "末尾的反斜杠“\\”多余"; break;
		default: *why = "不是合法的扩展正则表达式（POSIX ERE）";
		}
		return false;
	}
	regfree(&re);
	return true;
}
