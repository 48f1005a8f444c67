/* catalog_load.c: catalog directories (docs/catalog.md) — reading the JSON files, the
 * reference data (departments.json, code_tables/: checked, then indexed in a struct
 * catalog_ref), and the whole-directory check and load: the items/<dept>/<basic_code>.json
 * layout, codes unique across items, code_changes.json and the templates of fixed forms.
 * Each item itself is checked by ck_check_item (catalog_check_item.c). */
#include "catalog/catalog_int.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/json.h"

#define MAX_FILE_BYTES (8u << 20)

/* ------------------------------------------------------------------ the reference data */

struct catalog_ref {
	json_t *departments; /* the departments.json document */
	json_t *depts;       /* id → department object */
	json_t *tables;      /* id → table document */
	json_t *codes;       /* table id → (code → entry) */
};

void catalog_ref_destroy(struct catalog_ref *ref)
{
	if (!ref)
		return;
	json_decref(ref->departments);
	json_decref(ref->depts);
	json_decref(ref->tables);
	json_decref(ref->codes);
	free(ref);
}

enum err catalog_ref_from_json(const json_t *departments, const json_t *code_tables,
                               struct catalog_ref **out)
{
	*out = NULL;
	const json_t *list = json_object_get(departments, "departments");
	if (!json_is_array(list) || !json_is_object(code_tables))
		return ERR_INVALID;
	struct catalog_ref *ref = calloc(1, sizeof(*ref));
	if (!ref)
		return ERR_NOMEM;
	ref->departments = json_incref((json_t *)departments);
	ref->depts = json_object();
	ref->tables = json_object();
	ref->codes = json_object();
	if (!ref->depts || !ref->tables || !ref->codes)
		goto nomem;
	size_t i;
	json_t *d;
	json_array_foreach (list, i, d) {
		const char *id = json_get_str(d, "id");
		/* the first definition wins; the checker reports the duplicate */
		if (id && !json_object_get(ref->depts, id) && json_object_set(ref->depts, id, d))
			goto nomem;
	}
	const char *tid;
	json_t *t;
	json_object_foreach ((json_t *)code_tables, tid, t) {
		json_t *codes = json_object();
		if (!codes || json_object_set(ref->tables, tid, t) ||
		    json_object_set_new(ref->codes, tid, codes))
			goto nomem;
		const json_t *entries = json_object_get(t, "entries");
		json_t *e;
		size_t j;
		json_array_foreach (entries, j, e) {
			const char *code = json_get_str(e, "code");
			if (code && !json_object_get(codes, code) &&
			    json_object_set(codes, code, e))
				goto nomem;
		}
	}
	*out = ref;
	return ERR_OK;
nomem:
	catalog_ref_destroy(ref);
	return ERR_NOMEM;
}

const json_t *catalog_ref_code_table(const struct catalog_ref *ref, const char *id)
{
	return ref && id ? json_object_get(ref->tables, id) : NULL;
}

const json_t *catalog_ref_department(const struct catalog_ref *ref, const char *id)
{
	return ref && id ? json_object_get(ref->depts, id) : NULL;
}

const json_t *catalog_ref_code_entry(const struct catalog_ref *ref, const char *table,
                                     const char *code)
{
	if (!ref || !table || !code)
		return NULL;
	return json_object_get(json_object_get(ref->codes, table), code);
}

const char *catalog_ref_code_of(const struct catalog_ref *ref, const char *table, const char *s)
{
	if (!s || !*s)
		return NULL;
	if (catalog_ref_code_entry(ref, table, s))
		return s;
	size_t i, j;
	json_t *e, *al;
	json_array_foreach (json_object_get(catalog_ref_code_table(ref, table), "entries"), i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		if (name && !strcmp(name, s))
			return json_string_value(json_object_get(e, "code"));
		json_array_foreach (json_object_get(e, "aliases"), j, al)
			if (json_is_string(al) && !strcmp(json_string_value(al), s))
				return json_string_value(json_object_get(e, "code"));
	}
	return NULL;
}

/* ------------------------------------------------------------------ files */

/* Read and parse dir/rel; problems are reported against rel. NULL when it failed (and
 * *missing set when the file does not exist). */
static json_t *load_file(const char *dir, const char *rel, struct catalog_problems *pr,
                         bool *missing)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (missing)
		*missing = false;
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT && missing)
			*missing = true;
		else
			catalog_problems_add(pr, rel, "", false, "无法读取文件：%s",
			                     strerror(errno));
		return NULL;
	}
	struct buf b;
	buf_init(&b, MAX_FILE_BYTES);
	char chunk[65536];
	size_t n;
	enum err e = ERR_OK;
	while (!e && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		e = buf_append(&b, chunk, n);
	bool rerr = ferror(f);
	fclose(f);
	json_t *v = NULL;
	if (e || rerr) {
		catalog_problems_add(pr, rel, "", false,
		                     e ? "文件过大（最多 %u MB）" : "读取文件失败",
		                     MAX_FILE_BYTES >> 20);
		goto out;
	}
	struct arena a;
	arena_init(&a, 0);
	struct errinfo ei = {0};
	if (json_parse(b.p ? b.p : "", b.len, &v, &a, &ei)) {
		const char *msg = ei.msg ? ei.msg : err_message(ei.code);
		/* json_parse speaks of a request body; a catalog file is not one. */
		const char *tail = strstr(msg, "JSON");
		catalog_problems_add(pr, rel, "", false, "不是合法的 JSON 文件：%s",
		                     tail && ei.code == ERR_BAD_JSON ? tail : msg);
		v = NULL;
	}
	arena_release(&a);
out:
	buf_release(&b);
	return v;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir (no dot files); *n gets the count. NULL with *n 0 when unreadable
 * (*unreadable set) or empty. Free each name and the array. */
static char **list_dir(const char *dir, size_t *n, bool *unreadable)
{
	*n = 0;
	*unreadable = false;
	DIR *d = opendir(dir);
	if (!d) {
		*unreadable = true;
		return NULL;
	}
	char **v = NULL;
	size_t alloc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == alloc) {
			size_t na = alloc ? alloc * 2 : 64;
			char **nv = realloc(v, na * sizeof(*v));
			if (!nv)
				break;
			v = nv;
			alloc = na;
		}
		if (!(v[*n] = strdup(de->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (v)
		qsort(v, *n, sizeof(*v), name_cmp);
	return v;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* ------------------------------------------------------------------ templates */

/* Count the page objects of a PDF ("/Type /Page", not "/Pages") by scanning its bytes;
 * *is_pdf tells whether it starts with "%PDF-". Pages inside compressed object streams are
 * not seen: 0 then means "unknown" (Chromium, the generator's printer, writes them plain).
 * -1 when the file cannot be read. */
static long pdf_pages(const char *path, bool *is_pdf)
{
	enum { KEEP = 64 }; /* longest match looked at: "/Type" + blanks + "/Page" + 1 */
	*is_pdf = false;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	char b[65536 + KEEP];
	size_t n = 0, got;
	long pages = 0;
	bool first = true;
	while ((got = fread(b + n, 1, sizeof(b) - n, f)) > 0 || n > 0) {
		n += got;
		if (first) {
			*is_pdf = n >= 5 && !memcmp(b, "%PDF-", 5);
			first = false;
		}
		bool end = got == 0;
		size_t limit = end ? n : n > KEEP ? n - KEEP : 0;
		for (size_t i = 0; i < limit; i++) {
			if (b[i] != '/' || n - i < 5 || memcmp(b + i, "/Type", 5))
				continue;
			size_t j = i + 5;
			while (j < n &&
			       (b[j] == ' ' || b[j] == '\r' || b[j] == '\n' || b[j] == '\t'))
				j++;
			if (n - j >= 5 && !memcmp(b + j, "/Page", 5) &&
			    (j + 5 == n || !((b[j + 5] >= 'A' && b[j + 5] <= 'Z') ||
			                     (b[j + 5] >= 'a' && b[j + 5] <= 'z'))))
				pages++;
		}
		if (end)
			break;
		memmove(b, b + limit, n - limit);
		n -= limit;
	}
	bool err = ferror(f);
	fclose(f);
	return err ? -1 : pages;
}

/* The templates referenced by fixed forms (template → what ck_check_appform noted): one
 * warning for all that do not exist yet (a generator makes them); an existing one must be a
 * PDF with at least as many pages as the positions of its forms use. */
static void check_templates(const char *dir, struct catalog_problems *pr, const json_t *templates)
{
	const char *tpl, *first = NULL;
	json_t *use;
	size_t missing = 0;
	json_object_foreach ((json_t *)templates, tpl, use) {
		char path[4700];
		snprintf(path, sizeof(path), "%s/%s", dir, tpl);
		struct stat st;
		if (stat(path, &st) != 0) {
			if (!first || strcmp(tpl, first) < 0)
				first = tpl;
			missing++;
			continue;
		}
		bool is_pdf;
		long pages = pdf_pages(path, &is_pdf);
		int64_t used = json_get_int(use, "page", 0);
		if (pages < 0)
			catalog_problems_add(pr, tpl, "", false, "无法读取模板文件：%s",
			                     strerror(errno));
		else if (!is_pdf)
			catalog_problems_add(pr, tpl, "", false,
			                     "不是 PDF 文件（文件头应为“%%PDF-”）");
		else if (pages > 0 && used > pages)
			catalog_problems_add(
			    pr, json_get_str(use, "file"), json_get_str(use, "path"), false,
			    "第 %lld 页超出模板“%s”的页数（%ld 页）", (long long)used, tpl, pages);
	}
	if (missing)
		catalog_problems_add(pr, "templates", "", true,
		                     "%zu 个制式申请表模板还不存在（由模板生成器产生），如“%s”",
		                     missing, first);
}

/* ------------------------------------------------------------------ departments, tables */

static const struct kspec dept_file_keys[] = {{"departments", K_ARR, KREQ}, {NULL, 0, 0}};
static const struct kspec dept_keys[] = {{"id", K_NESTR, KREQ},
                                         {"no", K_NESTR, KREQ},
                                         {"name", K_NESTR, KREQ},
                                         {"short_name", K_NESTR, KREQ},
                                         {"credit_code", K_NESTR, KREQ},
                                         {"connectors", K_ARR, KREQ},
                                         {"note", K_STR, 0},
                                         {NULL, 0, 0}};
static const struct kspec table_keys[] = {{"id", K_NESTR, KREQ},    {"name", K_NESTR, KREQ},
                                          {"source", K_STR, 0},     {"note", K_STR, 0},
                                          {"entries", K_ARR, KREQ}, {NULL, 0, 0}};
static const struct kspec entry_keys[] = {{"code", K_NESTR, KREQ}, {"name", K_NESTR, KREQ},
                                          {"parent", K_NESTR, 0},  {"luhn", K_BOOL, 0},
                                          {"aliases", K_ARR, 0},   {NULL, 0, 0}};

static void check_departments(struct ck *c, const json_t *doc)
{
	if (!ck_check_keys(c, doc, dept_file_keys, "departments.json 的内容"))
		return;
	json_t *ids = json_object(), *nos = json_object(), *credits = json_object();
	const json_t *list = json_object_get(doc, "departments");
	size_t i;
	json_t *d;
	size_t o = ck_push_key(c, "departments");
	json_array_foreach (list, i, d) {
		size_t o2 = ck_push_idx(c, i);
		if (ck_check_keys(c, d, dept_keys, "部门")) {
			const char *id = ck_str(d, "id"), *no = ck_str(d, "no");
			const char *cc = ck_str(d, "credit_code");
			if (id && !ck_is_ident(id))
				ck_report_at(c, "id", false,
				             "部门 id“%s”格式不正确（小写字母开头，2–32 "
				             "位小写字母、数字、下划线）",
				             id);
			else if (id && json_object_get(ids, id))
				ck_report_at(c, "id", false, "部门 id“%s”重复", id);
			else if (id)
				json_object_set_new(ids, id, json_true());
			if (no && (strlen(no) != 2 || !ck_all_chars(no, "0123456789")))
				ck_report_at(c, "no", false, "部门编号应为 2 位数字");
			else if (no && json_object_get(nos, no))
				ck_report_at(c, "no", false, "部门编号“%s”重复", no);
			else if (no)
				json_object_set_new(nos, no, json_true());
			char expect;
			if (cc && !catalog_credit_code_valid(cc, &expect)) {
				if (expect == '?')
					ck_report_at(
					    c, "credit_code", false,
					    "统一社会信用代码应为 18 "
					    "位，由数字和大写字母组成（不含 I、O、Z、S、V）");
				else
					ck_report_at(c, "credit_code", true,
					             "统一社会信用代码校验位应为“%"
					             "c”（少数早期代码校验不通过，请核对）",
					             expect);
			}
			if (cc && json_object_get(credits, cc))
				ck_report_at(c, "credit_code", false, "统一社会信用代码“%s”重复",
				             cc);
			else if (cc)
				json_object_set_new(credits, cc, json_true());
			const json_t *cn = json_object_get(d, "connectors");
			size_t j;
			json_t *x;
			json_array_foreach (cn, j, x) {
				if (!json_is_string(x) || !ck_is_ident(json_string_value(x))) {
					size_t o3 = ck_push_key(c, "connectors");
					size_t o4 = ck_push_idx(c, j);
					CK_ERR(c,
					       "连接器名应为小写标识符（如 shebao），不能是网址");
					ck_pop(c, o4);
					ck_pop(c, o3);
				}
			}
		}
		ck_pop(c, o2);
	}
	ck_pop(c, o);
	json_decref(ids);
	json_decref(nos);
	json_decref(credits);
}

static void check_table(struct ck *c, const json_t *t, const char *stem)
{
	if (!ck_check_keys(c, t, table_keys, "代码表"))
		return;
	const char *id = ck_str(t, "id");
	if (id && strcmp(id, stem))
		ck_report_at(c, "id", false, "代码表 id“%s”应与文件名“%s”一致", id, stem);
	json_t *codes = json_object(), *names = json_object();
	const json_t *list = json_object_get(t, "entries");
	size_t i;
	json_t *e;
	size_t o = ck_push_key(c, "entries");
	if (json_is_array(list) && json_array_size(list) == 0)
		CK_ERR(c, "代码表没有条目");
	json_array_foreach (list, i, e) {
		size_t o2 = ck_push_idx(c, i);
		if (ck_check_keys(c, e, entry_keys, "代码表条目")) {
			const char *code = ck_str(e, "code");
			if (code && json_object_get(codes, code))
				ck_report_at(c, "code", false, "代码“%s”重复", code);
			else if (code)
				json_object_set_new(codes, code, json_true());
			const char *name = ck_str(e, "name");
			if (name && json_object_get(names, name))
				ck_report_at(c, "name", false, "名称或别名“%s”重复（代码“%s”）",
				             name, json_string_value(json_object_get(names, name)));
			else if (name && code)
				json_object_set_new(names, name, json_string(code));
			size_t j;
			json_t *al;
			size_t o3 = ck_push_key(c, "aliases");
			json_array_foreach (json_object_get(e, "aliases"), j, al) {
				size_t o4 = ck_push_idx(c, j);
				const char *as = json_string_value(al);
				if (!as || !*as)
					CK_ERR(c, "别名应为非空字符串");
				else if (json_object_get(names, as))
					CK_ERR(c, "名称或别名“%s”重复（代码“%s”）", as,
					       json_string_value(json_object_get(names, as)));
				else if (code)
					json_object_set_new(names, as, json_string(code));
				ck_pop(c, o4);
			}
			ck_pop(c, o3);
		}
		ck_pop(c, o2);
	}
	ck_pop(c, o);
	json_decref(codes);
	json_decref(names);
}

/* Checks that need all tables: parents of hierarchical tables (street → district) and the
 * built-in tables every item may use. */
static void check_tables_together(struct catalog_problems *pr, const json_t *tables)
{
	static const char *const builtin[] = {
	    "gender",         "id_doc_type",    "relation",        "district", "bank",
	    "marital_status", "household_type", "payment_channel", "e_cert",   NULL};
	for (const char *const *b = builtin; *b; b++)
		if (!json_object_get(tables, *b))
			catalog_problems_add(pr, "code_tables", "", false,
			                     "缺少内置代码表“%s.json”", *b);
	static const char *const docs[] = {"111", "PR2023", "PR2017", "HMT",
	                                   "SSC", "SHRP",   "MEDQR",  NULL};
	const json_t *idt = json_object_get(tables, "id_doc_type");
	if (idt) {
		for (const char *const *d = docs; *d; d++) {
			bool found = false;
			size_t i;
			json_t *e;
			json_array_foreach (json_object_get(idt, "entries"), i, e) {
				const char *code = json_get_str(e, "code");
				found |= code && !strcmp(code, *d);
			}
			if (!found)
				catalog_problems_add(pr, "code_tables/id_doc_type.json", "entries",
				                     false, "证件类型表缺少“%s”", *d);
		}
	}
	/* street entries name their district */
	const json_t *street = json_object_get(tables, "street");
	const json_t *district = json_object_get(tables, "district");
	if (street && district) {
		size_t i;
		json_t *e;
		json_array_foreach (json_object_get(street, "entries"), i, e) {
			const char *parent = json_get_str(e, "parent");
			bool found = false;
			size_t j;
			json_t *d;
			json_array_foreach (json_object_get(district, "entries"), j, d) {
				const char *code = json_get_str(d, "code");
				found |= parent && code && !strcmp(code, parent);
			}
			if (!found) {
				char path[64];
				snprintf(path, sizeof(path), "entries[%zu].parent", i);
				catalog_problems_add(pr, "code_tables/street.json", path, false,
				                     "街道（镇）条目的上级区“%s”不在 district 表中",
				                     parent ? parent : "");
			}
		}
	}
}

/* Load departments.json and code_tables/ into *deps / *tables (both set, possibly empty). */
static enum err load_ref_docs(const char *dir, json_t **deps, json_t **tables,
                              struct catalog_problems *pr)
{
	size_t before = pr->errors;
	bool missing;
	struct ck c = {.pr = pr};
	*tables = json_object();
	*deps = load_file(dir, "departments.json", pr, &missing);
	if (missing)
		catalog_problems_add(pr, "departments.json", "", false, "缺少 departments.json");
	if (*deps) {
		c.file = "departments.json";
		check_departments(&c, *deps);
	}
	if (!json_is_array(json_object_get(*deps, "departments"))) {
		json_decref(*deps);
		*deps = json_pack("{s:[]}", "departments");
	}
	char tdir[4096];
	snprintf(tdir, sizeof(tdir), "%s/code_tables", dir);
	size_t n;
	bool unreadable;
	char **names = list_dir(tdir, &n, &unreadable);
	if (unreadable)
		catalog_problems_add(pr, "code_tables", "", false,
		                     "无法读取代码表目录 code_tables/");
	for (size_t i = 0; i < n; i++) {
		char rel[600];
		snprintf(rel, sizeof(rel), "code_tables/%s", names[i]);
		if (!ends_with(names[i], ".json")) {
			catalog_problems_add(pr, rel, "", true, "不是 .json 文件，已忽略");
			continue;
		}
		json_t *t = load_file(dir, rel, pr, NULL);
		if (!t)
			continue;
		char stem[512];
		snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(names[i]) - 5), names[i]);
		c.file = rel;
		check_table(&c, t, stem);
		if (json_is_object(t) && json_is_array(json_object_get(t, "entries")))
			json_object_set(*tables, stem, t);
		json_decref(t);
	}
	free_list(names, n);
	check_tables_together(pr, *tables);
	if (!*deps || !*tables)
		return ERR_NOMEM;
	return pr->errors > before ? ERR_INVALID : ERR_OK;
}

enum err catalog_ref_load_dir(const char *dir, struct catalog_ref **out,
                              struct catalog_problems *pr)
{
	*out = NULL;
	if (!is_dir(dir)) {
		catalog_problems_add(pr, dir, "", false, "目录不存在或无法读取");
		return ERR_IO;
	}
	json_t *deps = NULL, *tables = NULL;
	enum err e = load_ref_docs(dir, &deps, &tables, pr);
	if (deps && tables) {
		enum err e2 = catalog_ref_from_json(deps, tables, out);
		if (e2)
			e = e2;
	}
	json_decref(deps);
	json_decref(tables);
	return e;
}

/* ------------------------------------------------------------------ the whole directory */

static const struct kspec changes_file_keys[] = {{"changes", K_ARR, KREQ}, {NULL, 0, 0}};
static const struct kspec change_keys[] = {{"old", K_NESTR, KREQ},
                                           {"new", K_NESTR, KREQ},
                                           {"effective", K_NESTR, KREQ},
                                           {"reason", K_NESTR, KREQ},
                                           {NULL, 0, 0}};

/* Record code → file in map; report a collision. */
static void claim(struct catalog_problems *pr, json_t *map, const char *code, const char *file,
                  const char *path, const char *what)
{
	if (!code)
		return;
	const char *other = json_string_value(json_object_get(map, code));
	if (other)
		catalog_problems_add(pr, file, path, false, "%s“%s”与 %s 重复", what, code, other);
	else
		json_object_set_new(map, code, json_string(file));
}

static void check_code_changes(struct catalog_problems *pr, const json_t *doc, const json_t *basic,
                               const json_t *subs)
{
	struct ck c = {.pr = pr, .file = "code_changes.json"};
	if (!ck_check_keys(&c, doc, changes_file_keys, "code_changes.json 的内容"))
		return;
	json_t *olds = json_object();
	size_t i;
	json_t *ch;
	size_t o = ck_push_key(&c, "changes");
	json_array_foreach (json_object_get(doc, "changes"), i, ch) {
		size_t o2 = ck_push_idx(&c, i);
		if (ck_check_keys(&c, ch, change_keys, "编码变更")) {
			const char *old = ck_str(ch, "old"), *nw = ck_str(ch, "new");
			const char *eff = ck_str(ch, "effective");
			int y, m, d;
			if (eff && !catalog_date_parse(eff, &y, &m, &d))
				ck_report_at(&c, "effective", false, "生效日期应为“YYYY-MM-DD”");
			if (old && nw && !strcmp(old, nw))
				ck_report_at(&c, "new", false, "新编码与旧编码相同");
			if (old && json_object_get(olds, old))
				ck_report_at(&c, "old", false, "编码“%s”已有一条变更", old);
			else if (old)
				json_object_set_new(olds, old, json_true());
			bool known_old =
			    old && (json_object_get(basic, old) || json_object_get(subs, old));
			bool known_new =
			    nw && (json_object_get(basic, nw) || json_object_get(subs, nw));
			if (old && nw && !known_old && !known_new)
				CK_ERR(&c, "变更的编码“%s”和“%s”都不在目录中", old, nw);
			if (old && nw && strlen(old) != strlen(nw))
				ck_report_at(&c, "new", false,
				             "新旧编码的类型不一致（基本编码与子项编码不能互换）");
		}
		ck_pop(&c, o2);
	}
	ck_pop(&c, o);
	json_decref(olds);
}

struct scan {
	struct catalog_check_counts counts;
	json_t *items; /* array of item documents when loading, else NULL */
	json_t *deps, *tables, *changes;
	struct catalog_ref *ref;
};

static enum err scan_dir(const char *dir, struct catalog_problems *pr, struct scan *sc)
{
	enum err e = ERR_OK;
	json_t *basic = json_object(), *impl = json_object(), *subs = json_object();
	json_t *templates = json_object(), *names = json_object();
	if (!is_dir(dir)) {
		catalog_problems_add(pr, dir, "", false, "目录不存在或无法读取");
		e = ERR_IO;
		goto out;
	}
	load_ref_docs(dir, &sc->deps, &sc->tables, pr);
	if (!sc->deps || !sc->tables ||
	    catalog_ref_from_json(sc->deps, sc->tables, &sc->ref) != ERR_OK) {
		e = ERR_NOMEM;
		goto out;
	}

	sc->counts.departments = json_array_size(json_object_get(sc->deps, "departments"));
	sc->counts.code_tables = json_object_size(sc->tables);
	char idir[4096];
	snprintf(idir, sizeof(idir), "%s/items", dir);
	size_t nd;
	bool unreadable;
	char **depts = list_dir(idir, &nd, &unreadable);
	if (unreadable)
		catalog_problems_add(pr, "items", "", true, "没有事项目录 items/");
	for (size_t i = 0; i < nd; i++) {
		char ddir[4700], rel0[600];
		snprintf(ddir, sizeof(ddir), "%s/%s", idir, depts[i]);
		snprintf(rel0, sizeof(rel0), "items/%s", depts[i]);
		if (!is_dir(ddir)) {
			catalog_problems_add(
			    pr, rel0, "", false,
			    "items/ 下应只有部门目录（items/<部门 id>/<基本编码>.json）");
			continue;
		}
		if (!catalog_ref_department(sc->ref, depts[i]))
			catalog_problems_add(pr, rel0, "", false,
			                     "目录名“%s”不是 departments.json 中的部门 id",
			                     depts[i]);
		size_t nf;
		char **files = list_dir(ddir, &nf, &unreadable);
		for (size_t j = 0; j < nf; j++) {
			char rel[1200];
			snprintf(rel, sizeof(rel), "items/%s/%s", depts[i], files[j]);
			if (!ends_with(files[j], ".json")) {
				catalog_problems_add(pr, rel, "", true, "不是 .json 文件，已忽略");
				continue;
			}
			json_t *item = load_file(dir, rel, pr, NULL);
			if (!item)
				continue;
			struct ck c = {
			    .ref = sc->ref, .pr = pr, .file = rel, .templates = templates};
			arena_init(&c.a, 0);
			ck_check_item(&c, item);
			arena_release(&c.a);
			const char *bc = json_get_str(item, "basic_code");
			const char *dep = json_get_str(item, "department");
			char stem[512];
			snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(files[j]) - 5), files[j]);
			if (bc && strcmp(bc, stem))
				catalog_problems_add(pr, rel, "basic_code", false,
				                     "文件名应为基本编码：“%s.json”", bc);
			if (dep && strcmp(dep, depts[i]))
				catalog_problems_add(pr, rel, "department", false,
				                     "事项属于部门“%s”，却放在 items/%s/ 下", dep,
				                     depts[i]);
			claim(pr, basic, bc, rel, "basic_code", "基本编码");
			const char *name = json_get_str(item, "name");
			const char *same =
			    name ? json_string_value(json_object_get(names, name)) : NULL;
			if (same)
				catalog_problems_add(pr, rel, "name", true,
				                     "事项名称“%s”与 %s 相同，检索时难以区分", name,
				                     same);
			else if (name)
				json_object_set_new(names, name, json_string(rel));
			claim(pr, impl, json_get_str(item, "impl_code"), rel, "impl_code",
			      "实施编码");
			size_t k;
			json_t *s;
			json_array_foreach (json_object_get(item, "sub_items"), k, s) {
				char path[64];
				snprintf(path, sizeof(path), "sub_items[%zu].code", k);
				claim(pr, subs, json_get_str(s, "code"), rel, path, "子项编码");
			}
			if (sc->items && json_is_object(item))
				json_array_append(sc->items, item);
			sc->counts.items++;
			sc->counts.sub_items += json_array_size(json_object_get(item, "sub_items"));
			json_decref(item);
		}
		free_list(files, nf);
	}
	free_list(depts, nd);

	bool missing;
	sc->changes = load_file(dir, "code_changes.json", pr, &missing);
	if (sc->changes)
		check_code_changes(pr, sc->changes, basic, subs);
	if (!sc->changes || !json_is_array(json_object_get(sc->changes, "changes"))) {
		json_decref(sc->changes);
		sc->changes = json_pack("{s:[]}", "changes");
	}

	check_templates(dir, pr, templates);
	e = pr->errors ? ERR_INVALID : ERR_OK;
out:
	json_decref(basic);
	json_decref(impl);
	json_decref(subs);
	json_decref(templates);
	json_decref(names);
	return e;
}

static void scan_release(struct scan *sc);

enum err catalog_check_dir(const char *dir, struct catalog_problems *pr)
{
	return catalog_check_dir_counts(dir, pr, NULL);
}

static void scan_release(struct scan *sc)
{
	json_decref(sc->items);
	json_decref(sc->deps);
	json_decref(sc->tables);
	json_decref(sc->changes);
	catalog_ref_destroy(sc->ref);
	memset(sc, 0, sizeof(*sc));
}

enum err catalog_check_dir_counts(const char *dir, struct catalog_problems *pr,
                                  struct catalog_check_counts *counts)
{
	struct scan sc = {0};
	size_t before = pr->errors;
	enum err e = scan_dir(dir, pr, &sc);
	if (counts)
		*counts = sc.counts;
	scan_release(&sc);
	if (e == ERR_INVALID || e == ERR_OK)
		e = pr->errors > before ? ERR_INVALID : ERR_OK;
	return e;
}

static int item_cmp(const void *a, const void *b)
{
	const char *x = json_get_str(*(json_t *const *)a, "basic_code");
	const char *y = json_get_str(*(json_t *const *)b, "basic_code");
	return strcmp(x ? x : "", y ? y : "");
}

enum err catalog_load_dir(const char *dir, struct catalog_set **out, struct catalog_problems *pr)
{
	struct scan sc = {.items = json_array()};
	*out = NULL;
	size_t before = pr->errors;
	enum err e = sc.items ? scan_dir(dir, pr, &sc) : ERR_NOMEM;
	if (!e && pr->errors > before)
		e = ERR_INVALID;
	if (e)
		goto out;
	struct catalog_set *s = calloc(1, sizeof(*s));
	size_t n = json_array_size(sc.items);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	json_t *sorted = json_array();
	if (!s || !v || !sorted) {
		free(s);
		free(v);
		json_decref(sorted);
		e = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(sc.items, i);
	qsort(v, n, sizeof(*v), item_cmp);
	for (size_t i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	s->ref = sc.ref;
	s->departments = sc.deps;
	s->code_tables = sc.tables;
	s->code_changes = sc.changes;
	s->items = sorted;
	sc.ref = NULL;
	sc.deps = sc.tables = sc.changes = NULL;
	*out = s;
out:
	scan_release(&sc);
	return e;
}

void catalog_set_destroy(struct catalog_set *s)
{
	if (!s)
		return;
	catalog_ref_destroy(s->ref);
	json_decref(s->departments);
	json_decref(s->code_tables);
	json_decref(s->items);
	json_decref(s->code_changes);
	free(s);
}
