/* sched_cron.c: cron expressions — parsing with messages that name the field, and the next
 * matching minute in UTC+08:00.
 *
 * The next-run search walks the calendar a month at a time (months the expression excludes
 * are skipped whole) and a day at a time inside the others, with days-since-epoch
 * arithmetic (H. Hinnant's civil calendar algorithms), so month ends, leap years and Feb 29
 * schedules need no special cases. The horizon is 400 years, one full Gregorian cycle:
 * anything that can ever fire does within it ("0 0 29 2 SUN" with AND semantics waits up to
 * 40 years). */
#include "sched/sched_int.h"

#include "core/timeutil.h"

#include <ctype.h>
#include <stdarg.h>

#include "core/str.h"

#define OFFSET_MS     (8 * 3600 * 1000LL) /* Asia/Shanghai, no DST */
#define MINUTE_MS     60000LL
#define HORIZON_MONTH (400 * 12)

struct field_spec {
	const char *label; /* zh-CN name for messages */
	int min, max;
	const char *const *names; /* names for min..: index 0 = min; NULL when none */
};

static const char *const month_names[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL",
                                          "AUG", "SEP", "OCT", "NOV", "DEC", NULL};
static const char *const dow_names[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", NULL};

static const struct field_spec fields[5] = {
    {"分钟", 0, 59, NULL},      {"小时", 0, 23, NULL},     {"日", 1, 31, NULL},
    {"月", 1, 12, month_names}, {"星期", 0, 7, dow_names},
};

static const struct {
	const char *name;
	const char *expr;
} shortcuts[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

static enum err fail(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum err fail(char *msg, size_t msgsz, const char *fmt, ...)
{
	if (msg && msgsz) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, msgsz, fmt, ap);
		va_end(ap);
	}
	return ERR_BAD_FIELD;
}

/* A value of field f: a number, or (months, weekdays) a three-letter name. -1 when it is
 * neither; the range is checked by the caller. */
static int value_of(const struct field_spec *f, struct str tok)
{
	int64_t v;
	if (tok.n == 0 || tok.n > 9)
		return -1;
	if (isdigit((unsigned char)tok.p[0]))
		return str_to_i64(tok, 0, 1000000, &v) ? (int)v : -1;
	for (int k = 0; f->names && f->names[k]; k++)
		if (str_case_eq(tok, f->names[k]))
			return f->min + k;
	return -1;
}

/* One list element "*", "*\/n", "a", "a-b", "a/n", "a-b/n" of field fi into *bits. */
static enum err parse_element(int fi, struct str el, uint64_t *bits, char *msg, size_t msgsz)
{
	const struct field_spec *f = &fields[fi];
	struct str base, step_s = STR_NULL;
	const char *slash = memchr(el.p, '/', el.n);
	int lo, hi, step = 1;

	if (el.n == 0)
		return fail(msg, msgsz, "第 %d 个字段（%s）有空的列表项", fi + 1, f->label);
	if (slash) {
		base = (struct str){el.p, (size_t)(slash - el.p)};
		step_s = (struct str){slash + 1, el.n - base.n - 1};
	} else {
		base = el;
	}
	if (base.n == 1 && base.p[0] == '*') {
		lo = f->min;
		hi = f->max == 7 ? 6 : f->max; /* "*" in weekdays is 0..6, not 0..7 */
	} else {
		const char *dash = memchr(base.p, '-', base.n);
		struct str a = base, b = STR_NULL;
		if (dash) {
			a = (struct str){base.p, (size_t)(dash - base.p)};
			b = (struct str){dash + 1, base.n - a.n - 1};
		}
		lo = value_of(f, a);
		if (lo < 0)
			return fail(msg, msgsz, "第 %d 个字段（%s）中的“%.*s”无法识别", fi + 1,
			            f->label, (int)a.n, a.p);
		if (lo < f->min || lo > f->max)
			return fail(msg, msgsz, "第 %d 个字段（%s）的值 %.*s 超出范围 %d–%d",
			            fi + 1, f->label, (int)a.n, a.p, f->min, f->max);
		hi = slash ? (f->max == 7 ? 6 : f->max) : lo;
		if (dash) {
			hi = value_of(f, b);
			if (hi < 0)
				return fail(msg, msgsz, "第 %d 个字段（%s）中的“%.*s”无法识别",
				            fi + 1, f->label, (int)b.n, b.p);
			if (hi < f->min || hi > f->max)
				return fail(msg, msgsz,
				            "第 %d 个字段（%s）的值 %.*s 超出范围 %d–%d", fi + 1,
				            f->label, (int)b.n, b.p, f->min, f->max);
			if (lo > hi)
				return fail(msg, msgsz,
				            "第 %d 个字段（%s）的范围 %.*s 起点大于终点", fi + 1,
				            f->label, (int)base.n, base.p);
		}
		if (slash && lo > hi) /* "7/2" in weekdays */
			hi = lo;
	}
	if (slash) {
		int64_t st;
		int span = f->max - f->min + 1;
		if (!str_to_i64(step_s, 1, span, &st))
			return fail(msg, msgsz,
			            "第 %d 个字段（%s）的步长“%.*s”不合法，应为 1–%d 的整数",
			            fi + 1, f->label, (int)step_s.n, step_s.p, span);
		step = (int)st;
	}
	for (int v = lo; v <= hi; v += step)
		*bits |= 1ull << (f->max == 7 && v == 7 ? 0 : v);
	return ERR_OK;
}

static enum err parse_field(int fi, struct str s, uint64_t *bits, bool *star, char *msg,
                            size_t msgsz)
{
	enum err e;
	*bits = 0;
	*star = s.n > 0 && s.p[0] == '*';
	for (;;) {
		struct str el;
		struct str rest = str_cut(s, ',', &el);
		if ((e = parse_element(fi, el, bits, msg, msgsz)))
			return e;
		if (!rest.p)
			break;
		s = rest;
	}
	return ERR_OK;
}

/* ---- calendar ---- */

static bool day_matches(const struct sched_cron *c, int dom, int dow)
{
	bool dm = (c->doms >> dom) & 1u, wm = (c->dows >> dow) & 1u;
	return (c->dom_star || c->dow_star) ? (dm && wm) : (dm || wm);
}

/* The first minute of the day at or after minute `from` (0..1439) that c allows; -1 if none. */
static int first_time(const struct sched_cron *c, int from)
{
	for (int h = from / 60; h < 24; h++) {
		if (!((c->hours >> h) & 1u))
			continue;
		for (int mi = h == from / 60 ? from % 60 : 0; mi < 60; mi++)
			if ((c->minutes >> mi) & 1u)
				return h * 60 + mi;
	}
	return -1;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t sched_cron_next(const struct sched_cron *c, int64_t after_ms)
{
	int64_t minute = floor_div(after_ms + OFFSET_MS, MINUTE_MS) + 1;
	int64_t day0 = floor_div(minute, 1440);
	int from0 = (int)(minute - day0 * 1440);
	int64_t y;
	int m, d;
	time_civil_from_days(day0, &y, &m, &d);
	for (int k = 0; k < HORIZON_MONTH; k++) {
		if ((c->months >> m) & 1u) {
			int nd = time_days_in_month(y, m);
			int64_t dn = time_days_from_civil(y, m, d);
			for (int dd = d; dd <= nd; dd++, dn++) {
				int dow = (int)((dn % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
				if (!day_matches(c, dd, dow))
					continue;
				int t = first_time(c, dn == day0 ? from0 : 0);
				if (t >= 0)
					return (dn * 1440 + t) * MINUTE_MS - OFFSET_MS;
			}
		}
		d = 1;
		if (++m > 12) {
			m = 1;
			y++;
		}
	}
	return -1;
}

enum err sched_cron_parse(const char *expr, struct sched_cron *out, char *msg, size_t msgsz)
{
	struct str parts[6];
	int n = 0;
	enum err e;
	uint64_t bits[5];
	bool star[5];

	memset(out, 0, sizeof(*out));
	if (msg && msgsz)
		msg[0] = 0;
	struct str s = str_trim(str_from(expr));
	if (s.n == 0)
		return fail(msg, msgsz, "cron 表达式不能为空");
	if (s.n > SCHED_CRON_MAX)
		return fail(msg, msgsz, "cron 表达式过长（最多 %d 个字符）", SCHED_CRON_MAX);
	if (s.p[0] == '@') {
		for (size_t k = 0; k < sizeof(shortcuts) / sizeof(shortcuts[0]); k++)
			if (str_case_eq(s, shortcuts[k].name))
				return sched_cron_parse(shortcuts[k].expr, out, msg, msgsz);
		return fail(
		    msg, msgsz,
		    "不支持的快捷写法“%.*s”，可用 @hourly、@daily、@weekly、@monthly、@yearly",
		    (int)s.n, s.p);
	}
	for (size_t i = 0; i < s.n;) {
		while (i < s.n && (s.p[i] == ' ' || s.p[i] == '\t'))
			i++;
		if (i == s.n)
			break;
		size_t j = i;
		while (j < s.n && s.p[j] != ' ' && s.p[j] != '\t')
			j++;
		if (n < 6)
			parts[n] = (struct str){s.p + i, j - i};
		n++;
		i = j;
	}
	if (n != 5)
		return fail(msg, msgsz,
		            "cron 表达式应有 5 个字段（分钟 小时 日 月 星期），实际有 %d 个", n);
	for (int fi = 0; fi < 5; fi++)
		if ((e = parse_field(fi, parts[fi], &bits[fi], &star[fi], msg, msgsz)))
			return e;
	out->minutes = bits[0];
	out->hours = (uint32_t)bits[1];
	out->doms = (uint32_t)bits[2];
	out->months = (uint16_t)bits[3];
	out->dows = (uint8_t)bits[4];
	out->dom_star = star[2];
	out->dow_star = star[4];
	if (sched_cron_next(out, 0) < 0) {
		memset(out, 0, sizeof(*out));
		return fail(msg, msgsz, "cron 表达式永远不会触发（所选月份中没有所选的日期）");
	}
	return ERR_OK;
}
