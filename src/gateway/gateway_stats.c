/* gateway_stats.c: call statistics by connector, method and day — count, success rate,
 * latency percentiles — as JSON and as an XLSX workbook (libxlsxwriter).
 *
 * Counts come from one GROUP BY; each percentile is one indexed probe
 * (ORDER BY latency_us LIMIT 1 OFFSET k on the (day, connector, method, latency_us)
 * index), so a group of a million calls costs three index seeks, not a million rows in
 * memory. The same SQL runs on SQLite and PostgreSQL. */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <xlsxwriter.h>

#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "gateway/gateway_int.h"

#define MAX_GROUPS 5000

bool gw_parse_date(const char *s, int *day)
{
	int y, m, d;
	if (!time_date_parse(s, 2000, 2999, &y, &m, &d))
		return false;
	*day = y * 10000 + m * 100 + d;
	return true;
}

int64_t gw_day_start_ms(int day)
{
	struct tm tm = {
	    .tm_year = day / 10000 - 1900, .tm_mon = day / 100 % 100 - 1, .tm_mday = day % 100};
	return ((int64_t)timegm(&tm) - 8 * 3600) * 1000;
}

int gw_day_add(int day, int delta)
{
	return gw_day_of(gw_day_start_ms(day) + (int64_t)delta * 86400000 + 3600000);
}

void gw_day_text(int day, char out[11])
{
	unsigned y = (unsigned)(day / 10000) % 10000u, m = (unsigned)(day / 100 % 100) % 100u,
	         d = (unsigned)(day % 100) % 100u;
	snprintf(out, 11, "%04u-%02u-%02u", y, m, d);
}

static enum err percentile(struct db_conn *c, struct arena *a, const struct gw_stats_row *r,
                           double p, int64_t *out)
{
	struct db_rows *rs = NULL;
	int64_t rank = (int64_t)ceil(p * (double)r->count);
	if (rank < 1)
		rank = 1;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT latency_us FROM gateway_calls WHERE day = ? AND connector = ? "
	                     "AND method = ? ORDER BY latency_us LIMIT 1 OFFSET ?",
	                     "issi", (int64_t)r->day, r->connector, r->method, rank - 1);
	if (!e)
		*out = rs->nrows ? db_int(rs, 0, 0) : 0;
	return e;
}

enum err gw_stats_compute(struct db_conn *c, struct arena *a, int day_from, int day_to,
                          const char *connector, struct gw_stats_row **rows, size_t *n)
{
	struct db_rows *rs = NULL;
	enum err e;
	*rows = NULL;
	*n = 0;
	const char *sql =
	    connector
	        ? "SELECT day, connector, method, COUNT(*), SUM(CASE WHEN outcome IN ('ok', "
	          "'mock') "
	          "THEN 1 ELSE 0 END), SUM(latency_us) FROM gateway_calls WHERE day >= ? AND day "
	          "<= ? AND connector = ? GROUP BY day, connector, method ORDER BY day, connector, "
	          "method"
	        : "SELECT day, connector, method, COUNT(*), SUM(CASE WHEN outcome IN ('ok', "
	          "'mock') "
	          "THEN 1 ELSE 0 END), SUM(latency_us) FROM gateway_calls WHERE day >= ? AND day "
	          "<= ? GROUP BY day, connector, method ORDER BY day, connector, method";
	if (connector)
		e = db_exec(c, a, &rs, sql, "iis", (int64_t)day_from, (int64_t)day_to, connector);
	else
		e = db_exec(c, a, &rs, sql, "ii", (int64_t)day_from, (int64_t)day_to);
	if (e)
		return e;
	size_t m = rs->nrows < MAX_GROUPS ? (size_t)rs->nrows : MAX_GROUPS;
	struct gw_stats_row *v = arena_zalloc(a, (m ? m : 1) * sizeof(*v));
	if (!v)
		return ERR_NOMEM;
	for (size_t i = 0; i < m && !e; i++) {
		struct gw_stats_row *r = &v[i];
		r->day = (int)db_int(rs, (int)i, 0);
		r->connector = db_text(rs, (int)i, 1);
		r->method = db_text(rs, (int)i, 2);
		r->count = db_int(rs, (int)i, 3);
		r->ok = db_int(rs, (int)i, 4);
		r->avg_us = r->count ? (double)db_int(rs, (int)i, 5) / (double)r->count : 0;
		if (!(e = percentile(c, a, r, 0.50, &r->p50_us)) &&
		    !(e = percentile(c, a, r, 0.95, &r->p95_us)))
			e = percentile(c, a, r, 0.99, &r->p99_us);
	}
	if (!e) {
		*rows = v;
		*n = m;
	}
	return e;
}

json_t *gw_stats_json(const struct gw_stats_row *rows, size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n && arr; i++) {
		const struct gw_stats_row *r = &rows[i];
		char day[11];
		gw_day_text(r->day, day);
		json_t *o =
		    json_pack("{s:s,s:s,s:s,s:I,s:I,s:f,s:f,s:f,s:f,s:f}", "day", day, "connector",
		              r->connector, "method", r->method, "count", (json_int_t)r->count,
		              "ok", (json_int_t)r->ok, "success_rate",
		              r->count ? (double)r->ok / (double)r->count : 0.0, "avg_ms",
		              r->avg_us / 1000.0, "p50_ms", (double)r->p50_us / 1000.0, "p95_ms",
		              (double)r->p95_us / 1000.0, "p99_ms", (double)r->p99_us / 1000.0);
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

enum err gw_stats_xlsx(const struct gw_stats_row *rows, size_t n, int day_from, int day_to,
                       const char *tmp_dir, struct arena *a, const void **data, size_t *len)
{
	char hex[17], path[4096], from[11], to[11];
	enum err e = ERR_OK;
	FILE *f = NULL;
	if ((e = id_random_hex(hex, 8)))
		return e;
	snprintf(path, sizeof(path), "%s/.gateway-stats-%s.xlsx", tmp_dir, hex);
	gw_day_text(day_from, from);
	gw_day_text(day_to, to);

	lxw_workbook *wb = workbook_new(path);
	if (!wb)
		return ERR_IO;
	lxw_worksheet *ws = workbook_add_worksheet(wb, "接口调用统计");
	lxw_format *title = workbook_add_format(wb);
	lxw_format *head = workbook_add_format(wb);
	lxw_format *pct = workbook_add_format(wb);
	lxw_format *ms = workbook_add_format(wb);
	format_set_bold(title);
	format_set_font_size(title, 14);
	format_set_bold(head);
	format_set_bg_color(head, 0xDDEBF7);
	format_set_border(head, LXW_BORDER_THIN);
	format_set_num_format(pct, "0.00%");
	format_set_num_format(ms, "0.00");
	static const char *const cols[] = {"日期",      "接口系统", "方法",           "调用次数",
	                                   "成功次数",  "成功率",   "平均耗时(毫秒)", "P50(毫秒)",
	                                   "P95(毫秒)", "P99(毫秒)"};
	char caption[128];
	snprintf(caption, sizeof(caption), "接口调用统计（%s 至 %s）", from, to);
	worksheet_write_string(ws, 0, 0, caption, title);
	for (int c = 0; c < 10; c++)
		worksheet_write_string(ws, 2, (lxw_col_t)c, cols[c], head);
	worksheet_set_column(ws, 0, 0, 12, NULL);
	worksheet_set_column(ws, 1, 2, 28, NULL);
	worksheet_set_column(ws, 3, 9, 14, NULL);
	int64_t total = 0, ok = 0;
	for (size_t i = 0; i < n; i++) {
		const struct gw_stats_row *r = &rows[i];
		lxw_row_t row = (lxw_row_t)(3 + i);
		char day[11];
		gw_day_text(r->day, day);
		worksheet_write_string(ws, row, 0, day, NULL);
		worksheet_write_string(ws, row, 1, r->connector, NULL);
		worksheet_write_string(ws, row, 2, r->method, NULL);
		worksheet_write_number(ws, row, 3, (double)r->count, NULL);
		worksheet_write_number(ws, row, 4, (double)r->ok, NULL);
		worksheet_write_number(ws, row, 5, r->count ? (double)r->ok / (double)r->count : 0,
		                       pct);
		worksheet_write_number(ws, row, 6, r->avg_us / 1000.0, ms);
		worksheet_write_number(ws, row, 7, (double)r->p50_us / 1000.0, ms);
		worksheet_write_number(ws, row, 8, (double)r->p95_us / 1000.0, ms);
		worksheet_write_number(ws, row, 9, (double)r->p99_us / 1000.0, ms);
		total += r->count;
		ok += r->ok;
	}
	lxw_row_t last = (lxw_row_t)(3 + n);
	worksheet_write_string(ws, last, 0, "合计", head);
	worksheet_write_number(ws, last, 3, (double)total, head);
	worksheet_write_number(ws, last, 4, (double)ok, head);
	worksheet_write_number(ws, last, 5, total ? (double)ok / (double)total : 0, pct);
	worksheet_freeze_panes(ws, 3, 0);
	if (workbook_close(wb) != LXW_NO_ERROR) {
		log_error("gateway.stats", "writing %s failed", path);
		e = ERR_IO;
		goto out;
	}
	if (!(f = fopen(path, "rb"))) {
		e = ERR_IO;
		goto out;
	}
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *p = sz > 0 ? arena_alloc(a, (size_t)sz) : NULL;
	if (!p || fread(p, 1, (size_t)sz, f) != (size_t)sz) {
		e = p ? ERR_IO : ERR_NOMEM;
		goto out;
	}
	*data = p;
	*len = (size_t)sz;
out:
	if (f)
		fclose(f);
	unlink(path);
	return e;
}
