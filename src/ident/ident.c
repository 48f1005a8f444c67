/* ident.c: residents — the C API for other modules (ident.h), profiles and their masked
 * views, validation of profile members, sealing, and the card readers' type flags.
 *
 * A resident's personal data is sealed column by column (src/sensitive/); this file is the
 * only place that turns rows into plaintext profiles and back. SQL is in ident_store.c,
 * the routes in ident_http.c. */
#include "ident/ident_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "sensitive/sensitive.h"
#include "server/server.h"

/* ---- card reader flags ---- */

static const char *const stored_types[] = {IDENT_ID,  IDENT_HMT,  IDENT_PR2023, IDENT_PR2017,
                                           IDENT_SSC, IDENT_SHRP, NULL};

/* The static code equal to s[0..n) among stored_types, or NULL. */
static const char *flag_type(const char *s, size_t n)
{
	for (const char *const *t = stored_types; *t; t++)
		if (strlen(*t) == n && !memcmp(*t, s, n))
			return *t;
	return NULL;
}

/* Walk "flag=type,…": calls fn for each entry; stops at the first malformed one (returns
 * its start) or when fn returns true (returns NULL with *hit set). */
static const char *flags_walk(const char *map, const char *want, const char **hit)
{
	const char *p = map;
	*hit = NULL;
	while (*p) {
		const char *end = strchr(p, ',');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t fl = eq ? (size_t)(eq - p) : 0;
		const char *t = eq ? flag_type(eq + 1, n - fl - 1) : NULL;
		if (!eq || fl < 1 || fl > 8 || !t)
			return p;
		for (size_t i = 0; i < fl; i++)
			if (p[i] <= ' ' || p[i] > '~')
				return p;
		if (want && strlen(want) == fl && !memcmp(want, p, fl)) {
			*hit = t;
			return NULL;
		}
		p = end ? end + 1 : p + n;
	}
	return NULL;
}

enum err ident_flags_check(const char *map, char *msg, size_t msgsz)
{
	const char *hit;
	if (!map || !*map) {
		snprintf(msg, msgsz, "config ident_reader_flags: empty");
		return ERR_CONFIG;
	}
	const char *bad = flags_walk(map, NULL, &hit);
	if (bad) {
		snprintf(msg, msgsz,
		         "config ident_reader_flags: bad entry at '%.40s' (want flag=type,… with "
		         "types 111 HMT PR2023 PR2017 SSC SHRP)",
		         bad);
		return ERR_CONFIG;
	}
	return ERR_OK;
}

const char *ident_flags_lookup(const char *map, const char *flag)
{
	const char *hit;
	if (!flag || !*flag)
		flag = "0";
	flags_walk(map ? map : IDENT_READER_FLAGS_DEFAULT, flag, &hit);
	return hit;
}

/* ---- sealing ---- */

enum err ident_seal(struct server *srv, struct arena *a, const char *column, const char *plain,
                    const void **blob, size_t *n, const char **bidx)
{
	*blob = NULL;
	*n = 0;
	if (bidx)
		*bidx = NULL;
	if (!plain)
		return ERR_OK;
	const char *ix = NULL;
	enum err e = sensitive_seal(srv->keys, column, plain, a, blob, n, &ix);
	if (!e && bidx)
		*bidx = ix;
	return e;
}

/* ---- profiles ---- */

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* Age in whole years on today of a "YYYY-MM-DD" birth date; -1 when unknown. */
static int age_of(const char *birth)
{
	int y, m, d, ty, tm, td;
	char today[11];
	if (!birth || !ident_date_parse(birth, &y, &m, &d) ||
	    !ident_date_parse(ident_today(today), &ty, &tm, &td))
		return -1;
	int age = ty - y - (tm < m || (tm == m && td < d));
	return age < 0 ? -1 : age;
}

json_t *ident_profile_json(struct arena *a, const struct ident_row *row,
                           const struct ident_card *card)
{
	json_t *o = json_arena_own(a, json_object());
	if (!o)
		return NULL;
	int age = age_of(row->birth_date);
	json_t *c = json_null();
	if (card && card->card) {
		const json_t *k = card->card;
		char at[32];
		c = json_pack(
		    "{s:o,s:o,s:o,s:o,s:o,s:o,s:b,s:s,s:o}", "name", jstr(json_get_str(k, "name")),
		    "sex", jstr(json_get_str(k, "sex")), "birth_date",
		    jstr(json_get_str(k, "birth_date")), "nation", jstr(json_get_str(k, "nation")),
		    "address", jstr(json_get_str(k, "address")), "id_number",
		    jstr(json_get_str(k, "id_number")), "photo", card->photo_file_id > 0, "read_at",
		    time_iso(card->created_at, at), "valid_to", jstr(json_get_str(k, "valid_to")));
	}
	int rc = json_object_set_new(o, "id", json_integer(row->id));
	rc |= json_object_set_new(o, "id_type", jstr(row->id_type));
	rc |= json_object_set_new(o, "id_type_name", jstr(ident_type_name(row->id_type)));
	rc |= json_object_set_new(o, "id_number", jstr(row->id_number));
	rc |= json_object_set_new(o, "name", jstr(row->name));
	rc |= json_object_set_new(o, "sex", jstr(row->sex));
	rc |= json_object_set_new(o, "birth_date", jstr(row->birth_date));
	rc |= json_object_set_new(o, "age", age >= 0 ? json_integer(age) : json_null());
	rc |= json_object_set_new(o, "nation", jstr(row->nation));
	rc |= json_object_set_new(o, "nationality", jstr(row->nationality));
	rc |= json_object_set_new(o, "phone", jstr(row->phone));
	rc |= json_object_set(o, "address", row->address ? row->address : json_null());
	rc |= json_object_set_new(o, "hukou_address", jstr(row->hukou_address));
	rc |= json_object_set_new(o, "card_valid_to", jstr(row->card_valid_to));
	rc |= json_object_set_new(o, "has_photo", json_boolean(row->photo_file_id > 0));
	rc |= json_object_set_new(o, "source", jstr(row->source));
	rc |= json_object_set_new(o, "version", json_integer(row->version));
	rc |= json_object_set_new(o, "masked", json_false());
	rc |= json_object_set_new(o, "card", c ? c : json_null());
	return rc ? NULL : o;
}

static int set_masked(json_t *o, const char *key, const char *kind, struct arena *a)
{
	const char *v = json_get_str(o, key);
	if (!v)
		return 0;
	const char *m = sensitive_mask(kind, v, a);
	return json_object_set_new(o, key, m ? json_string(m) : json_null());
}

json_t *ident_view(struct arena *a, bool full, const json_t *profile)
{
	json_t *v = json_arena_own(a, json_deep_copy(profile));
	if (!v || full)
		return v;
	int rc = set_masked(v, "id_number", "id_number", a);
	rc |= set_masked(v, "name", "name", a);
	rc |= set_masked(v, "phone", "phone", a);
	json_object_del(v, "address");
	json_object_del(v, "hukou_address");
	json_t *card = json_object_get(v, "card");
	if (json_is_object(card)) {
		json_object_del(card, "name");
		json_object_del(card, "address");
		json_object_del(card, "id_number");
	}
	rc |= json_object_set_new(v, "masked", json_true());
	return rc ? NULL : v;
}

/* ---- validation of profile members ---- */

static enum err invalid(struct errinfo *ei, struct arena *a, const char *field, const char *fmt,
                        ...) __attribute__((format(printf, 4, 5)));

static enum err invalid(struct errinfo *ei, struct arena *a, const char *field, const char *fmt,
                        ...)
{
	if (ei) {
		va_list ap;
		va_start(ap, fmt);
		ei->code = ERR_INVALID;
		ei->field = field;
		ei->msg = arena_vprintf(a, fmt, ap);
		va_end(ap);
	}
	return ERR_INVALID;
}

/* The catalog's code table entry, or "unknown table" (the catalog module not running, or
 * nothing imported yet) as true so that a partial deployment still accepts residents. */
static bool code_known(struct server *srv, const char *table, const char *code)
{
	struct catalog_ref_hold h = {0};
	if (catalog_ref_hold_get(srv, &h) != ERR_OK)
		return true;
	bool ok = !catalog_ref_code_table(h.ref, table) ||
	          catalog_ref_code_entry(h.ref, table, code) != NULL;
	catalog_ref_hold_release(&h);
	return ok;
}

bool ident_code_known(struct server *srv, const char *table, const char *code)
{
	return code && code_known(srv, table, code);
}

static bool landline(const char *s)
{
	size_t n = strlen(s), d = 0;
	if (s[0] != '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d++;
		else if (s[i] != '-' || i < 3 || i > 4)
			return false;
	}
	return d >= 10 && d <= 12;
}

static const struct json_field address_fields[] = {
    {"district", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 20, "区"},
    {"street", JF_STRING, JF_NULLABLE, 0, 50, "街道（镇）"},
    {"neighbourhood", JF_STRING, JF_NULLABLE, 0, 50, "居（村）委"},
    {"detail", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 200, "详细地址"},
    {NULL, 0, 0, 0, 0, NULL},
};

/* Text member: 1..max characters after trimming; *out the trimmed copy. */
static enum err text(struct arena *a, const json_t *v, const char *field, const char *label,
                     size_t max, const char **out, struct errinfo *ei)
{
	if (!json_is_string(v))
		return invalid(ei, a, field, "“%s”应为文字", label);
	struct str s = str_trim(str_from(json_string_value(v)));
	size_t chars = utf8_len(s.p, s.n);
	if (chars == 0)
		return invalid(ei, a, field, "请填写“%s”", label);
	if (chars > max)
		return invalid(ei, a, field, "“%s”最多 %zu 个字", label, max);
	*out = arena_strndup(a, s.p, s.n);
	return *out ? ERR_OK : ERR_NOMEM;
}

static bool differs(const char *x, const char *y)
{
	return (x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0);
}

enum err ident_row_apply(struct server *srv, struct arena *a, struct ident_row *row,
                         const json_t *p, const char *prefix, bool *changed, struct errinfo *ei)
{
	const char *key;
	const json_t *v;
	char today[11];
	ident_today(today);
	json_object_foreach ((json_t *)p, key, v) {
		const char *field = arena_printf(a, "%s%s", prefix ? prefix : "", key);
		const char *s = NULL;
		enum err e = ERR_OK;
		if (!field)
			return ERR_NOMEM;
		if (json_is_null(v) || !strcmp(key, "id_type") || !strcmp(key, "id_number") ||
		    !strcmp(key, "version"))
			continue;
		if (!strcmp(key, "name")) {
			if ((e = text(a, v, field, "姓名", 50, &s, ei)))
				return e;
			*changed |= differs(row->name, s);
			row->name = s;
		} else if (!strcmp(key, "sex")) {
			s = json_string_value(v);
			if (!s || (strcmp(s, "1") && strcmp(s, "2")))
				return invalid(ei, a, field, "性别应为 1（男）或 2（女）");
			*changed |= differs(row->sex, s);
			row->sex = arena_strdup(a, s);
		} else if (!strcmp(key, "birth_date") || !strcmp(key, "card_valid_to")) {
			int y, m, d;
			bool birth = !strcmp(key, "birth_date");
			s = json_string_value(v);
			bool forever = !birth && s && !strcmp(s, "长期");
			if (!forever && (!s || !ident_date_parse(s, &y, &m, &d)))
				return invalid(ei, a, field, "%s应为 YYYY-MM-DD 格式的日期%s",
				               birth ? "出生日期" : "证件有效期",
				               birth ? "" : "或“长期”");
			else if (birth && strcmp(s, today) > 0)
				return invalid(ei, a, field, "出生日期晚于今天");
			const char **dst = birth ? &row->birth_date : &row->card_valid_to;
			*changed |= differs(*dst, s);
			*dst = arena_strdup(a, s);
		} else if (!strcmp(key, "nation")) {
			s = json_string_value(v);
			if (!s || strlen(s) != 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' ||
			    s[1] > '9' || !code_known(srv, "nation", s))
				return invalid(ei, a, field,
				               "民族代码不正确（应为 GB/T 3304 的两位代码）");
			*changed |= differs(row->nation, s);
			row->nation = arena_strdup(a, s);
		} else if (!strcmp(key, "nationality")) {
			s = json_string_value(v);
			if (!s || !ident_country_by_alpha3(s))
				return invalid(ei, a, field, "国籍应为 ISO 3166-1 三位字母代码");
			*changed |= differs(row->nationality, s);
			row->nationality = arena_strdup(a, s);
		} else if (!strcmp(key, "phone")) {
			if (!json_is_string(v))
				return invalid(ei, a, field, "联系电话应为文字");
			s = sensitive_normalize("residents.phone", json_string_value(v), a);
			if (!s)
				return ERR_NOMEM;
			if (!sensitive_phone_valid(s) && !landline(s))
				return invalid(
				    ei, a, field,
				    "联系电话不正确（应为 11 位手机号码或带区号的固定电话）");
			*changed |= differs(row->phone, s);
			row->phone = s;
		} else if (!strcmp(key, "hukou_address")) {
			if ((e = text(a, v, field, "户籍地址", 200, &s, ei)))
				return e;
			*changed |= differs(row->hukou_address, s);
			row->hukou_address = s;
		} else if (!strcmp(key, "address")) {
			struct errinfo aei = {0};
			if (!json_is_object(v))
				return invalid(ei, a, field,
				               "居住地址应为对象（district、street、"
				               "neighbourhood、detail）");
			if ((e = json_check(v, address_fields, true, a, &aei)))
				return invalid(ei, a, arena_printf(a, "%s.%s", field, aei.field),
				               "居住地址：%s", aei.msg ? aei.msg : err_message(e));
			const char *dist = json_get_str(v, "district");
			if (!code_known(srv, "district", dist))
				return invalid(ei, a, arena_printf(a, "%s.district", field),
				               "居住地址的区代码“%s”不正确", dist);
			json_t *copy = json_arena_own(a, json_deep_copy(v));
			if (!copy)
				return ERR_NOMEM;
			*changed |= !row->address || !json_equal(row->address, copy);
			row->address = copy;
		} else {
			return invalid(ei, a, field, "居民档案没有“%s”这一项", key);
		}
		if (!s && strcmp(key, "address"))
			return ERR_NOMEM;
	}
	return ERR_OK;
}

/* ---- the C API ---- */

enum err ident_resident_get(struct server *srv, struct db_conn *c, struct arena *a, int64_t id,
                            json_t **profile)
{
	struct ident_row row;
	struct ident_card card;
	enum err e = ident_store_load(srv, c, a, id, &row);
	if (!e)
		e = ident_store_card(srv, c, a, id, &card);
	if (e)
		return e;
	*profile = ident_profile_json(a, &row, &card);
	return *profile ? ERR_OK : ERR_NOMEM;
}

/* The key (holder type, normalised number) of a document; ERR_INVALID (ei says why) when
 * the number is not valid or cannot key a resident. */
static enum err doc_key(struct arena *a, const char *type, const char *number, struct ident_doc *d,
                        struct errinfo *ei)
{
	enum err e = ident_check(type, number, NULL, a, d);
	if (e == ERR_NOMEM)
		return e;
	if (e)
		return invalid(ei, a, "id_number", "证件号码不正确：%s", d->reason);
	if (!d->holder_type)
		return invalid(ei, a, "id_type", "%s不能作为居民档案的证件",
		               d->type_name ? d->type_name : "该证件");
	return ERR_OK;
}

enum err ident_resident_find(struct server *srv, struct db_conn *c, struct arena *a,
                             const char *type, const char *number, int64_t *id)
{
	struct ident_doc d;
	if (type && !strcmp(type, IDENT_MEDQR))
		return ERR_INVALID;
	enum err e = doc_key(a, type, number, &d, NULL);
	if (e == ERR_INVALID)
		return ERR_NOT_FOUND;
	if (e)
		return e;
	return ident_store_find(srv, c, a, d.holder_type, d.number, id);
}

static bool source_ok(const char *s)
{
	return s && (!strcmp(s, "card") || !strcmp(s, "manual") || !strcmp(s, "evoucher") ||
	             !strcmp(s, "case"));
}

enum err ident_resident_upsert(struct server *srv, struct db_conn *c, struct arena *a,
                               const json_t *profile, const char *source, int64_t *id,
                               struct errinfo *ei)
{
	struct ident_doc d;
	struct ident_row row;
	bool changed = false;
	int64_t now = time_now_ms(), found = 0;
	enum err e;
	if (!source_ok(source)) {
		if (ei) {
			ei->code = ERR_BAD_FIELD;
			ei->field = "source";
			ei->msg = "来源应为 card、manual、evoucher 或 case";
		}
		return ERR_BAD_FIELD;
	}
	if (!json_is_object(profile))
		return invalid(ei, a, NULL, "居民信息应为对象");
	const char *type = json_get_str(profile, "id_type");
	const char *number = json_get_str(profile, "id_number");
	if (!type)
		return invalid(ei, a, "id_type", "请选择证件类型");
	if ((e = doc_key(a, type, number, &d, ei)))
		return e;
	e = ident_store_find(srv, c, a, d.holder_type, d.number, &found);
	if (e && e != ERR_NOT_FOUND)
		return e;
	if (found) {
		if ((e = ident_store_load(srv, c, a, found, &row)))
			return e;
	} else {
		memset(&row, 0, sizeof(row));
		row.id_type = d.holder_type;
		row.id_number = d.number;
		row.source = source;
		row.sex = d.sex[0] ? arena_strdup(a, d.sex) : NULL;
		row.birth_date = d.birth_date[0] ? arena_strdup(a, d.birth_date) : NULL;
		row.nationality = d.nationality;
		row.created_at = now;
	}
	if ((e = ident_row_apply(srv, a, &row, profile, NULL, &changed, ei)))
		return e;
	if (!row.name)
		return invalid(ei, a, "name", "请填写姓名");
	row.last_seen_at = now;
	row.updated_at = changed ? now : row.updated_at;
	if (!found)
		e = ident_store_insert(srv, c, a, &row, id);
	else if (changed) {
		e = ident_store_update(srv, c, a, &row);
		*id = found;
	} else {
		e = ident_store_seen(c, a, found, now);
		*id = found;
	}
	return e;
}

enum err ident_relation_exists(struct server *srv, struct db_conn *c, struct arena *a,
                               int64_t resident_id, int64_t related_id, const char *kind,
                               const char *today, bool *exists)
{
	struct db_rows *rs = NULL;
	char buf[11];
	(void)srv;
	if (!today)
		today = ident_today(buf);
	enum err e;
	if (kind)
		e = db_exec(
		    c, a, &rs,
		    "SELECT count(*) FROM resident_relations WHERE resident_id = ?"
		    " AND related_id = ? AND kind = ? AND (valid_to IS NULL OR valid_to >= ?)",
		    "iiss", resident_id, related_id, kind, today);
	else
		e = db_exec(c, a, &rs,
		            "SELECT count(*) FROM resident_relations WHERE resident_id = ?"
		            " AND related_id = ? AND (valid_to IS NULL OR valid_to >= ?)",
		            "iis", resident_id, related_id, today);
	if (!e)
		*exists = db_int(rs, 0, 0) > 0;
	return e;
}
