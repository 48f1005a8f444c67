/* cases_calendar.c: the working-day calendar (cases.h, docs/cases.md "Working-day calendar").
 *
 * In memory: the listed days (holidays, worked weekend days) sorted by day number, behind a
 * read-write lock, so the arithmetic of promised dates costs no database round trip. At
 * start the module loads calendar/<year>.json into calendar_days (the files win for the days
 * they list) and the whole table into memory; an operator's change goes to both. */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cases/cases_int.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "server/server.h"

#define MAX_ADD_DAYS 3650
#define NAME_MAX_LEN 64

struct cal_day {
	int32_t dn; /* days since 1970-01-01 */
	enum cases_day_kind kind;
	char name[NAME_MAX_LEN];
};

struct cases_calendar {
	pthread_rwlock_t lock;
	struct cal_day *v; /* sorted by dn */
	size_t n, alloc;
};

/* ---- dates ---------------------------------------------------------------------------- */

static int32_t days_from_civil(int y, int m, int d)
{
	return (int32_t)time_days_from_civil(y, m, d);
}

static void civil_from_days(int32_t z, int *y, int *m, int *d)
{
	int64_t yy;
	time_civil_from_days(z, &yy, m, d);
	*y = (int)yy;
}

/* Parse "YYYY-MM-DD" (a real date, years 1900..2999). */
static bool parse_day(const char *s, int32_t *dn)
{
	int y, m, d;
	if (!time_date_parse(s, 1900, 2999, &y, &m, &d))
		return false;
	*dn = days_from_civil(y, m, d);
	return true;
}

static void format_day(int32_t dn, char out[11])
{
	int y, m, d;
	civil_from_days(dn, &y, &m, &d);
	/* Unsigned and bounded, so the compiler sees the ten characters fit. */
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
	         (unsigned)d % 100u);
}

void cases_day_of(int64_t ms, char out[11])
{
	/* China Standard Time has had no daylight saving since 1991: a fixed +8 h. */
	int64_t s = ms / 1000 + 8 * 3600;
	int32_t dn = (int32_t)(s >= 0 ? s / 86400 : (s - 86399) / 86400);
	format_day(dn, out);
}

void cases_today(char out[11])
{
	cases_day_of(time_now_ms(), out);
}

/* 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday). */
static int weekday(int32_t dn)
{
	int w = (int)((dn + 3) % 7);
	return w < 0 ? w + 7 : w;
}

/* ---- the calendar --------------------------------------------------------------------- */

enum err cases_calendar_create(struct cases_calendar **out)
{
	struct cases_calendar *cal = calloc(1, sizeof(*cal));
	*out = NULL;
	if (!cal)
		return ERR_NOMEM;
	pthread_rwlock_init(&cal->lock, NULL);
	*out = cal;
	return ERR_OK;
}

void cases_calendar_destroy(struct cases_calendar *cal)
{
	if (!cal)
		return;
	pthread_rwlock_destroy(&cal->lock);
	free(cal->v);
	free(cal);
}

/* Index of dn or of where it would go. Caller holds the lock. */
static size_t find(const struct cases_calendar *cal, int32_t dn, bool *found)
{
	size_t lo = 0, hi = cal->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (cal->v[mid].dn < dn)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < cal->n && cal->v[lo].dn == dn;
	return lo;
}

enum err cases_calendar_set(struct cases_calendar *cal, const char *day, enum cases_day_kind kind,
                            const char *name)
{
	int32_t dn;
	bool found;
	enum err e = ERR_OK;
	if (!parse_day(day, &dn))
		return ERR_BAD_FIELD;
	pthread_rwlock_wrlock(&cal->lock);
	size_t i = find(cal, dn, &found);
	if (kind == CASES_DAY_NORMAL) {
		if (found) {
			memmove(&cal->v[i], &cal->v[i + 1], (cal->n - i - 1) * sizeof(cal->v[0]));
			cal->n--;
		}
		goto out;
	}
	if (!found) {
		if (cal->n == cal->alloc) {
			size_t na = cal->alloc ? cal->alloc * 2 : 64;
			struct cal_day *nv = realloc(cal->v, na * sizeof(*nv));
			if (!nv) {
				e = ERR_NOMEM;
				goto out;
			}
			cal->v = nv;
			cal->alloc = na;
		}
		memmove(&cal->v[i + 1], &cal->v[i], (cal->n - i) * sizeof(cal->v[0]));
		cal->n++;
	}
	cal->v[i].dn = dn;
	cal->v[i].kind = kind;
	snprintf(cal->v[i].name, sizeof(cal->v[i].name), "%s", name ? name : "");
out:
	pthread_rwlock_unlock(&cal->lock);
	return e;
}

/* Caller holds the lock. */
static bool workday_locked(const struct cases_calendar *cal, int32_t dn)
{
	bool found;
	size_t i = find(cal, dn, &found);
	if (found)
		return cal->v[i].kind == CASES_DAY_WORKDAY;
	return weekday(dn) < 5;
}

bool cases_calendar_is_workday(struct cases_calendar *cal, const char *day)
{
	int32_t dn;
	if (!parse_day(day, &dn))
		return false;
	pthread_rwlock_rdlock(&cal->lock);
	bool w = workday_locked(cal, dn);
	pthread_rwlock_unlock(&cal->lock);
	return w;
}

enum err cases_calendar_add_workdays(struct cases_calendar *cal, const char *day, int n,
                                     char out[11])
{
	int32_t dn;
	if (!parse_day(day, &dn) || n < 1 || n > MAX_ADD_DAYS)
		return ERR_BAD_FIELD;
	pthread_rwlock_rdlock(&cal->lock);
	while (n > 0) {
		dn++;
		if (workday_locked(cal, dn))
			n--;
	}
	pthread_rwlock_unlock(&cal->lock);
	format_day(dn, out);
	return ERR_OK;
}

int cases_calendar_count_workdays(struct cases_calendar *cal, const char *from, const char *to)
{
	int32_t a, b;
	int n = 0;
	if (!parse_day(from, &a) || !parse_day(to, &b))
		return -1;
	pthread_rwlock_rdlock(&cal->lock);
	for (int32_t d = a; d < b; d++)
		n += workday_locked(cal, d);
	pthread_rwlock_unlock(&cal->lock);
	return n;
}

bool cases_calendar_has_year(struct cases_calendar *cal, int year)
{
	bool found, any;
	int32_t lo = days_from_civil(year, 1, 1), hi = days_from_civil(year + 1, 1, 1);
	pthread_rwlock_rdlock(&cal->lock);
	size_t i = find(cal, lo, &found);
	any = i < cal->n && cal->v[i].dn < hi;
	pthread_rwlock_unlock(&cal->lock);
	return any;
}

json_t *cases_calendar_year_json(struct cases_calendar *cal, int year)
{
	bool found;
	char day[11];
	int32_t lo = days_from_civil(year, 1, 1), hi = days_from_civil(year + 1, 1, 1);
	json_t *arr = json_array();
	if (!arr)
		return NULL;
	pthread_rwlock_rdlock(&cal->lock);
	for (size_t i = find(cal, lo, &found); i < cal->n && cal->v[i].dn < hi; i++) {
		format_day(cal->v[i].dn, day);
		json_array_append_new(
		    arr, json_pack("{s:s,s:s,s:s}", "date", day, "kind",
		                   cal->v[i].kind == CASES_DAY_HOLIDAY ? "holiday" : "workday",
		                   "name", cal->v[i].name));
	}
	pthread_rwlock_unlock(&cal->lock);
	return arr;
}

/* One list ("holidays" or "workdays") of a year file. */
static enum err load_list(struct cases_calendar *cal, const json_t *doc, const char *key,
                          enum cases_day_kind kind, int year, struct arena *a, const char **why)
{
	const json_t *list = json_object_get(doc, key), *d;
	size_t i;
	int32_t dn;
	if (!list)
		return ERR_OK;
	if (!json_is_array(list)) {
		*why = arena_printf(a, "“%s”应为数组", key);
		return ERR_INVALID;
	}
	json_array_foreach (list, i, d) {
		const char *date = json_string_value(json_object_get(d, "date"));
		const char *name = json_string_value(json_object_get(d, "name"));
		char yy[5];
		int64_t y = 0;
		if (!parse_day(date, &dn)) {
			*why =
			    arena_printf(a, "%s[%zu].date 应为 YYYY-MM-DD 格式的有效日期", key, i);
			return ERR_INVALID;
		}
		snprintf(yy, sizeof(yy), "%.4s", date);
		if (!cstr_to_i64(yy, 1900, 2999, &y) || y != year) {
			*why = arena_printf(a, "%s[%zu].date %s 不在 %d 年", key, i, date, year);
			return ERR_INVALID;
		}
		if (!name || !name[0] || strlen(name) >= NAME_MAX_LEN) {
			*why = arena_printf(a, "%s[%zu].name 应为 1–20 个字的名称", key, i);
			return ERR_INVALID;
		}
		enum err e = cases_calendar_set(cal, date, kind, name);
		if (e)
			return e;
	}
	return ERR_OK;
}

enum err cases_calendar_load_json(struct cases_calendar *cal, const json_t *doc, struct arena *a,
                                  const char **why)
{
	int64_t year = json_get_int(doc, "year", 0);
	const char *source = json_get_str(doc, "source");
	enum err e;
	*why = NULL;
	if (!json_is_object(doc) || year < 1900 || year > 2999) {
		*why = "“year”应为 1900–2999 的年份";
		return ERR_INVALID;
	}
	if (!source || !source[0]) {
		*why = "缺少“source”（数据来源，例如国务院办公厅通知的文号）";
		return ERR_INVALID;
	}
	if ((e = load_list(cal, doc, "holidays", CASES_DAY_HOLIDAY, (int)year, a, why)) ||
	    (e = load_list(cal, doc, "workdays", CASES_DAY_WORKDAY, (int)year, a, why)))
		return e;
	return ERR_OK;
}

/* ---- the module's calendar: files, table, memory ------------------------------------ */

struct cases_calendar *cases_calendar_of(struct server *srv)
{
	struct cases_state *st = cases_state_of(srv);
	return st ? st->cal : NULL;
}

json_t *cases_calendar_missing_years(struct server *srv)
{
	struct cases_calendar *cal = cases_calendar_of(srv);
	char today[11];
	int64_t y = 0;
	json_t *arr = json_array();
	cases_today(today);
	today[4] = 0;
	if (!arr || !cal || !cstr_to_i64(today, 1900, 2999, &y))
		return arr;
	for (int64_t k = y; k <= y + 1; k++)
		if (!cases_calendar_has_year(cal, (int)k))
			json_array_append_new(arr, json_integer(k));
	return arr;
}

static enum cases_day_kind kind_of(const char *s)
{
	if (s && !strcmp(s, "holiday"))
		return CASES_DAY_HOLIDAY;
	if (s && !strcmp(s, "workday"))
		return CASES_DAY_WORKDAY;
	return CASES_DAY_NORMAL;
}

/* Store one year file's days in calendar_days (inside the caller's write transaction). */
static enum err store_file_days(struct db_conn *c, struct arena *a, const json_t *doc)
{
	static const char *const keys[] = {"holidays", "workdays"};
	static const char *const kinds[] = {"holiday", "workday"};
	int64_t now = time_now_ms();
	for (int k = 0; k < 2; k++) {
		const json_t *d;
		size_t i;
		json_array_foreach (json_object_get(doc, keys[k]), i, d) {
			enum err e = db_exec(
			    c, a, NULL,
			    "INSERT INTO calendar_days (day, kind, name, source, updated_at)"
			    " VALUES (?, ?, ?, 'file', ?) ON CONFLICT (day) DO UPDATE SET"
			    " kind = excluded.kind, name = excluded.name, source = 'file',"
			    " updated_by = NULL, updated_at = excluded.updated_at"
			    " WHERE calendar_days.kind <> excluded.kind"
			    " OR calendar_days.name <> excluded.name OR calendar_days.source <> "
			    "'file'",
			    "sssi", json_get_str(d, "date"), kinds[k], json_get_str(d, "name"),
			    now);
			if (e)
				return e;
		}
	}
	return ERR_OK;
}

/* Read <dir>/<year>.json files, check each into a scratch calendar, store them. A bad file
 * is logged and skipped: the window keeps working on weekends-only arithmetic for that year
 * and /readyz names the year. */
static enum err load_files(struct server *srv, const char *dir, struct db_conn *c, struct arena *a)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	enum err e = ERR_OK;
	if (!d) {
		log_warn("cases.calendar", "calendar directory %s not found: weekends only", dir);
		return ERR_OK;
	}
	(void)srv;
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		json_t *doc = NULL;
		json_error_t je;
		const char *why = NULL;
		struct cases_calendar *scratch = NULL;
		if (n != 9 || strcmp(de->d_name + 4, ".json"))
			continue;
		char *path = arena_printf(a, "%s/%s", dir, de->d_name);
		if (!path) {
			e = ERR_NOMEM;
			break;
		}
		doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
		if (!doc) {
			log_error("cases.calendar", "%s: line %d: %s", path, je.line, je.text);
			continue;
		}
		if ((e = cases_calendar_create(&scratch)))
			break;
		e = cases_calendar_load_json(scratch, doc, a, &why);
		cases_calendar_destroy(scratch);
		if (e == ERR_INVALID) {
			log_error("cases.calendar", "%s: %s", path, why ? why : "格式不正确");
			json_decref(doc);
			e = ERR_OK;
			continue;
		}
		if (!e)
			e = store_file_days(c, a, doc);
		json_decref(doc);
		if (e)
			break;
	}
	closedir(d);
	return e;
}

enum err cases_calendar_start(struct server *srv, struct cases_state *st)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	enum err e;
	arena_init(&a, 0);
	if ((e = db_acquire(srv->db, 10000, &c)))
		goto out;
	if ((e = db_begin_write(c)) || (e = load_files(srv, st->calendar_dir, c, &a))) {
		db_rollback(c);
		goto out;
	}
	if ((e = db_commit(c)))
		goto out;
	if ((e = db_exec(c, &a, &rs, "SELECT day, kind, name FROM calendar_days ORDER BY day", "")))
		goto out;
	for (int r = 0; r < rs->nrows && !e; r++)
		e = cases_calendar_set(st->cal, db_text(rs, r, 0), kind_of(db_text(rs, r, 1)),
		                       db_text(rs, r, 2));
out:
	db_release(c);
	arena_release(&a);
	return e;
}
