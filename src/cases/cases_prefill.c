/* cases_prefill.c: 预填 — gathering a case's form values from the resident record, the last
 * card read, the resident's previous case, e-certificates and department lookups
 * (docs/cases.md "Prefill (预填) and pre-review (预审)") — and the module with the routes of
 * 预填 and 预审.
 *
 * One gather, in three phases, so that no database connection is held while other systems
 * answer:
 *   1. local sources, on one connection: the resident PROFILE (ident_resident_get, with the
 *      latest card read), the previous accepted case of the same sub-item (its sealed form),
 *      and the labels of the flows that may be needed (the connector's title);
 *   2. the flows: every lookup flow, and dsj.ecert_query once for all certificates, that a
 *      field needing a value names before its first local source with a value. Each flow
 *      runs once, all of them concurrently (one thread each, at most PARALLEL at a time);
 *   3. the fill: for every top-level field with a prefill list that is empty (or every one
 *      with overwrite), the first source that yields a value fitting the field's type.
 *
 * Values are converted to the field's type (conv_value); a value that does not fit is
 * skipped and recorded. row->prefill_errors afterwards: this run's failures (a flow that
 * failed, a value that did not fit) for the fields that stayed empty because of them, plus
 * the failures of earlier runs for fields this run did not try (they were filled by hand
 * meanwhile), so that 预审 keeps calling their rules `unknown` until a prefill succeeds. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "cases/cases_int.h"
#include "catalog/catalog.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "gateway/gateway.h"
#include "ident/ident.h"
#include "server/server.h"

#define PARALLEL    8    /* flows running at once for one request */
#define MAX_FLOWS   32   /* distinct flows one sub-item may name */
#define DB_WAIT_MS  5000 /* waiting for a connection */
#define ECERT_FLOW  "dsj.ecert_query"
#define ECERT_LABEL "电子证照库"
#define PERM_ACCEPT "case.accept"
#define TEXT_MAX    5000 /* longest text a prefill writes (the textarea default) */

/* ------------------------------------------------------------------ the flows */

struct flow_job {
	struct server *srv;
	const char *name; /* read-only in the thread */
	json_t *params;   /* the job's own copy */
	struct gateway_caller caller;
	struct trace_ctx trace;
	char user[80];
	json_t *result; /* new reference on success */
	enum err e;
	char msg[512];
	const char *label, *title; /* request arena, for sources and errors */
	pthread_t th;
	bool started;
};

static void *flow_thread(void *arg)
{
	struct flow_job *j = arg;
	struct arena a;
	struct errinfo ei = {0};
	json_t *res = NULL;
	log_set_trace(&j->trace);
	arena_init(&a, 16u << 20);
	j->e = gateway_flow_run(j->srv, j->name, j->params, &j->caller, false, &a, &res, NULL, NULL,
	                        &ei);
	if (!j->e) {
		j->result = res ? json_deep_copy(res) : json_object();
		if (!j->result)
			j->e = ERR_NOMEM;
	}
	if (j->e)
		snprintf(j->msg, sizeof(j->msg), "%s", ei.msg ? ei.msg : err_message(j->e));
	arena_release(&a);
	log_set_trace(NULL);
	return NULL;
}

/* Run the jobs, PARALLEL at a time; a thread that cannot be started runs inline. */
static void run_jobs(struct flow_job **jobs, int n)
{
	for (int base = 0; base < n; base += PARALLEL) {
		int end = base + PARALLEL < n ? base + PARALLEL : n;
		for (int i = base; i < end; i++)
			jobs[i]->started =
			    pthread_create(&jobs[i]->th, NULL, flow_thread, jobs[i]) == 0;
		for (int i = base; i < end; i++) {
			if (jobs[i]->started)
				pthread_join(jobs[i]->th, NULL);
			else
				flow_thread(jobs[i]);
		}
	}
}

/* ------------------------------------------------------------------ the gather context */

struct gather {
	struct server *srv;
	const struct principal *who;
	struct arena *a;
	const struct case_catalog *cc;
	struct case_row *row;
	const char *today;
	char at[32];       /* ISO time of this prefill */
	json_t *profile;   /* PROFILE (owned by a) or NULL */
	json_t *prev_form; /* the previous case's form (new reference) or NULL */
	const char *prev_no;
	struct flow_job jobs[MAX_FLOWS];
	int njobs;
	json_t *errors;    /* this run's errors, keyed "source|flow|reason" → entry */
	json_t *attempted; /* field id → true: fields this run tried to fill */
};

static struct flow_job *job_of(struct gather *g, const char *flow)
{
	for (int i = 0; i < g->njobs; i++)
		if (!strcmp(g->jobs[i].name, flow))
			return &g->jobs[i];
	return NULL;
}

/* Record that field could not be filled from a source: one entry per (source, flow or
 * cert, reason) with the fields it cost. reason: "unavailable" (the system failed) or
 * "value" (its answer did not fit the field). */
static void note_error(struct gather *g, const char *source, const char *flow, const char *cert,
                       const char *label, const char *reason, const char *field,
                       const char *message)
{
	const char *key = arena_printf(g->a, "%s|%s|%s", source,
	                               flow   ? flow
	                               : cert ? cert
	                                      : "",
	                               reason);
	if (!key)
		return;
	json_t *e = json_object_get(g->errors, key);
	if (!e) {
		e = json_pack("{s:s, s:s, s:s, s:[], s:s}", "source", source, "label",
		              label ? label : "", "reason", reason, "fields", "message",
		              message ? message : "");
		if (!e)
			return;
		if (flow)
			json_object_set_new(e, "flow", json_string(flow));
		if (cert)
			json_object_set_new(e, "cert", json_string(cert));
		json_object_set_new(g->errors, key, e);
	}
	json_t *fields = json_object_get(e, "fields");
	size_t i;
	json_t *f;
	json_array_foreach (fields, i, f) {
		if (!strcmp(json_string_value(f), field))
			return;
	}
	json_array_append_new(fields, json_string(field));
}

/* ------------------------------------------------------------------ value conversion */

/* The code of table that s names: a code, a name, one of an entry's `aliases` (the
 * departments' own wording for a state, kept in the code table), or the one name that s
 * starts or is the start of ("汉" → 汉族). NULL when none (or several) fit. */
static const char *enum_code(const struct catalog_ref *ref, const char *table, const char *s)
{
	const json_t *t = catalog_ref_code_table(ref, table);
	const json_t *entries = json_object_get(t, "entries");
	const char *hit = NULL;
	int hits = 0;
	size_t i;
	json_t *en;
	if (!s || !*s || !entries)
		return NULL;
	const char *code = catalog_ref_code_of(ref, table, s);
	if (code)
		return code;
	size_t n = strlen(s);
	json_array_foreach (entries, i, en) {
		const char *name = json_get_str(en, "name");
		if (!name)
			continue;
		size_t m = strlen(name);
		if ((n < m && !strncmp(name, s, n)) || (m < n && !strncmp(s, name, m))) {
			hit = json_get_str(en, "code");
			hits++;
		}
	}
	return hits == 1 ? hit : NULL;
}

static bool real_date(int y, int m, int d)
{
	return y >= 1800 && y <= 9999 && time_date_valid(y, m, d);
}

/* "YYYY-MM-DD", "YYYY/MM/DD", "YYYYMMDD" or an ISO time → "YYYY-MM-DD". */
static json_t *conv_date(const char *s)
{
	int y, m, d, used = 0;
	char sep;
	if (strlen(s) >= 10 && sscanf(s, "%4d%c%2d%*c%2d%n", &y, &sep, &m, &d, &used) == 4 &&
	    used == 10 && (sep == '-' || sep == '/') &&
	    (s[10] == 0 || s[10] == 'T' || s[10] == ' '))
		;
	else if (strlen(s) == 8 && strspn(s, "0123456789") == 8)
		y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'),
		m = (s[4] - '0') * 10 + (s[5] - '0'), d = (s[6] - '0') * 10 + (s[7] - '0');
	else
		return NULL;
	if (!real_date(y, m, d))
		return NULL;
	char out[40]; /* real_date bounds y, m, d; the compiler cannot see it */
	snprintf(out, sizeof(out), "%04d-%02d-%02d", y, m, d);
	return json_string(out);
}

static bool parse_number(const json_t *v, double *out)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return true;
	}
	if (!json_is_string(v))
		return false;
	const char *s = json_string_value(v);
	char *end = NULL;
	if (!*s)
		return false;
	*out = strtod(s, &end);
	return end && *end == 0;
}

/* A Shanghai address text ("上海市徐汇区漕溪北路…") as the catalog's address value. */
static json_t *conv_address_text(const struct catalog_ref *ref, const char *s)
{
	const json_t *entries = json_object_get(catalog_ref_code_table(ref, "district"), "entries");
	size_t i;
	json_t *en;
	json_array_foreach (entries, i, en) {
		const char *name = json_get_str(en, "name");
		const char *at = name ? strstr(s, name) : NULL;
		if (!at)
			continue;
		const char *rest = at + strlen(name);
		while (*rest == ' ')
			rest++;
		return json_pack("{s:s, s:s}", "district", json_get_str(en, "code"), "detail",
		                 *rest ? rest : s);
	}
	return NULL;
}

static json_t *conv_address(const struct catalog_ref *ref, const json_t *v)
{
	if (json_is_string(v))
		return conv_address_text(ref, json_string_value(v));
	if (!json_is_object(v))
		return NULL;
	const char *district = json_get_str(v, "district");
	const char *detail = json_get_str(v, "detail");
	const char *code = district ? enum_code(ref, "district", district) : NULL;
	if (!code || !detail || !*detail)
		return NULL;
	json_t *o = json_pack("{s:s, s:s}", "district", code, "detail", detail);
	const char *street = json_get_str(v, "street"), *nb = json_get_str(v, "neighbourhood");
	if (o && street && *street)
		json_object_set_new(o, "street", json_string(street));
	if (o && nb && *nb)
		json_object_set_new(o, "neighbourhood", json_string(nb));
	return o;
}

/* The document type of a bare number, by its layout (DOMAIN.md). */
static const char *doc_type_of(const char *s)
{
	size_t n = strlen(s);
	if (n == 15)
		return "PR2017";
	if (n != 18)
		return NULL;
	if (!strncmp(s, "810000", 6) || !strncmp(s, "820000", 6) || !strncmp(s, "830000", 6))
		return "HMT";
	return s[0] == '9' ? "PR2023" : "111";
}

static json_t *conv_id_document(const json_t *v, const char *today)
{
	const char *type = NULL, *number = NULL;
	if (json_is_object(v)) {
		type = json_get_str(v, "type");
		number = json_get_str(v, "number");
	} else if (json_is_string(v)) {
		number = json_string_value(v);
		type = doc_type_of(number);
	}
	if (!type || !number || !catalog_id_number_valid(type, number, today, NULL))
		return NULL;
	return json_pack("{s:s, s:s}", "type", type, "number", number);
}

static json_t *conv_text(const json_t *v)
{
	char num[64];
	const char *s = NULL;
	if (json_is_string(v))
		s = json_string_value(v);
	else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		s = num;
	}
	if (!s)
		return NULL;
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return n && n <= TEXT_MAX && !memchr(s, '\n', n) ? json_stringn(s, n) : NULL;
}

static json_t *conv_boolean(const json_t *v)
{
	if (json_is_boolean(v))
		return json_incref((json_t *)v);
	if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
		return json_boolean(json_integer_value(v));
	const char *s = json_string_value(v);
	static const char *const yes[] = {"true", "1", "是", "Y", "y", NULL};
	static const char *const no[] = {"false", "0", "否", "N", "n", NULL};
	for (int i = 0; s && yes[i]; i++) {
		if (!strcmp(s, yes[i]))
			return json_true();
		if (!strcmp(s, no[i]))
			return json_false();
	}
	return NULL;
}

/* v (a source's answer, not empty) as a value of the field def; NULL when it does not fit. */
static json_t *conv_value(const struct catalog_ref *ref, const json_t *def, const json_t *v,
                          const char *today)
{
	const char *type = json_get_str(def, "type");
	double x;
	if (!type)
		return NULL;
	if (!strcmp(type, "text") || !strcmp(type, "textarea")) {
		if (json_is_object(v) && json_get_str(v, "detail")) /* an address into a text */
			return conv_text(json_object_get(v, "detail"));
		return conv_text(v);
	}
	if (!strcmp(type, "number"))
		return parse_number(v, &x) ? json_real(x) : NULL;
	if (!strcmp(type, "money")) {
		if (!parse_number(v, &x) || x < 0)
			return NULL;
		double cents = (double)(long long)(x * 100.0 + 0.5) / 100.0;
		return json_real(cents);
	}
	if (!strcmp(type, "date"))
		return json_is_string(v) ? conv_date(json_string_value(v)) : NULL;
	if (!strcmp(type, "boolean"))
		return conv_boolean(v);
	if (!strcmp(type, "phone")) {
		json_t *t = conv_text(v);
		const char *s = json_string_value(t);
		if (s && strspn(s, "0123456789-+ ") == strlen(s) && strlen(s) >= 7 &&
		    strlen(s) <= 20)
			return t;
		json_decref(t);
		return NULL;
	}
	if (!strcmp(type, "enum")) {
		const char *table = json_get_str(def, "code_table");
		char num[32];
		const char *s = json_string_value(v);
		if (json_is_integer(v)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
			s = num;
		}
		const char *code = table ? enum_code(ref, table, s) : NULL;
		if (!code)
			return NULL;
		return json_get_bool(def, "multiple", false) ? json_pack("[s]", code)
		                                             : json_string(code);
	}
	if (!strcmp(type, "id_document"))
		return conv_id_document(v, today);
	if (!strcmp(type, "address"))
		return conv_address(ref, v);
	if (!strcmp(type, "bank_account")) {
		if (!json_is_object(v) || !json_get_str(v, "bank") || !json_get_str(v, "account") ||
		    !json_get_str(v, "holder"))
			return NULL;
		return json_pack("{s:s, s:s, s:s}", "bank", json_get_str(v, "bank"), "account",
		                 json_get_str(v, "account"), "holder", json_get_str(v, "holder"));
	}
	return NULL; /* group, signature, attachment: never prefilled */
}

/* ------------------------------------------------------------------ the sources */

/* What one source of a field answers. */
struct answer {
	json_t *raw;         /* borrowed; NULL when the source has nothing */
	json_t *owned;       /* a value made here (decref'd by the caller) */
	bool failed;         /* the system could not be asked */
	const char *label;   /* for sources and errors */
	const char *message; /* why it failed */
};

/* The certificate of code in the dsj answer: its cert_type is the code, or its title is
 * the code table's name of the code (libraries name certificates by their official
 * titles; the catalog's codes are its own). */
static const json_t *pick_cert(const struct catalog_ref *ref, const json_t *result,
                               const char *code)
{
	const json_t *en = catalog_ref_code_entry(ref, "e_cert", code);
	const char *name = json_get_str(en, "name");
	size_t i;
	json_t *c;
	json_array_foreach (json_object_get(result, "certs"), i, c) {
		const char *t = json_get_str(c, "cert_type"), *title = json_get_str(c, "title");
		if ((t && !strcmp(t, code)) || (name && title && !strcmp(title, name)))
			return c;
	}
	return NULL;
}

static void ask(struct gather *g, const char *field, const json_t *p, struct answer *an)
{
	const char *src = json_get_str(p, "source");
	const char *path = json_get_str(p, "path");
	const json_t *prof = g->profile;
	memset(an, 0, sizeof(*an));
	if (!src)
		return;
	if (!strcmp(src, "resident")) {
		an->label = "居民档案";
		if (!prof || !path)
			return;
		if (!strcmp(path, "id_number")) {
			if (json_get_str(prof, "id_type") && json_get_str(prof, "id_number"))
				an->owned = an->raw =
				    json_pack("{s:s, s:s}", "type", json_get_str(prof, "id_type"),
				              "number", json_get_str(prof, "id_number"));
			return;
		}
		an->raw = json_path_get(prof, path);
	} else if (!strcmp(src, "id_card")) {
		an->label = "读卡";
		const json_t *card = prof ? json_object_get(prof, "card") : NULL;
		if (!json_is_object(card) || !path || !strcmp(path, "photo"))
			return;
		if (!strcmp(path, "id_number")) {
			if (json_get_str(prof, "id_type") && json_get_str(card, "id_number"))
				an->owned = an->raw =
				    json_pack("{s:s, s:s}", "type", json_get_str(prof, "id_type"),
				              "number", json_get_str(card, "id_number"));
			return;
		}
		an->raw = json_path_get(card, path);
	} else if (!strcmp(src, "previous_case")) {
		an->label = "上次办件";
		an->raw = g->prev_form ? json_path_get(g->prev_form, path ? path : field) : NULL;
	} else if (!strcmp(src, "e_cert")) {
		const char *cert = json_get_str(p, "cert");
		const char *name = json_get_str(
		    catalog_ref_code_entry(g->cc->ref, "e_cert", cert ? cert : ""), "name");
		an->label = arena_printf(g->a, "电子证照·%s", name ? name : cert ? cert : "");
		struct flow_job *j = job_of(g, ECERT_FLOW);
		if (!j || !cert)
			return;
		if (j->e) {
			an->failed = true;
			an->label = ECERT_LABEL;
			an->message = arena_printf(g->a, "%s暂不可用：%s", ECERT_LABEL, j->msg);
			return;
		}
		const json_t *c = pick_cert(g->cc->ref, j->result, cert);
		an->raw = c ? json_path_get(json_object_get(c, "data"), path) : NULL;
	} else if (!strcmp(src, "lookup")) {
		const char *flow = json_get_str(p, "flow");
		struct flow_job *j = flow ? job_of(g, flow) : NULL;
		an->label = j ? j->label : flow;
		if (!j)
			return;
		if (j->e) {
			an->failed = true;
			an->message = arena_printf(g->a, "%s暂不可用：%s", j->label, j->msg);
			return;
		}
		an->raw = json_path_get(j->result, path);
	}
}

static json_t *source_record(struct gather *g, const json_t *p, const char *label)
{
	const char *src = json_get_str(p, "source");
	json_t *o =
	    json_pack("{s:s, s:s, s:s}", "source", src, "label", label ? label : "", "at", g->at);
	if (!o)
		return NULL;
	const char *flow = json_get_str(p, "flow"), *cert = json_get_str(p, "cert");
	if (flow) {
		struct flow_job *j = job_of(g, flow);
		json_object_set_new(o, "flow", json_string(flow));
		if (j && j->title)
			json_object_set_new(o, "title", json_string(j->title));
	}
	if (cert)
		json_object_set_new(o, "cert", json_string(cert));
	if (!strcmp(src, "previous_case") && g->prev_no)
		json_object_set_new(o, "case_no", json_string(g->prev_no));
	return o;
}

/* A source that gave no usable value, and why. */
struct miss {
	const json_t *p;
	const char *label, *message, *reason;
};

/* Fill one field from its sources; true when it was filled. */
static bool fill_field(struct gather *g, const json_t *def, bool overwrite)
{
	const char *id = json_get_str(def, "id");
	const json_t *list = json_object_get(def, "prefill");
	json_t *form = g->row->form;
	if (!catalog_value_empty(json_path_get(form, id)) && !overwrite)
		return false;
	json_object_set_new(g->attempted, id, json_true());
	struct miss misses[8];
	int nmiss = 0;
	size_t i;
	json_t *p;
	json_array_foreach (list, i, p) {
		struct answer an;
		ask(g, id, p, &an);
		const char *src = json_get_str(p, "source");
		if (an.failed) {
			if (nmiss < 8)
				misses[nmiss++] =
				    (struct miss){p, an.label, an.message, "unavailable"};
			continue;
		}
		if (catalog_value_empty(an.raw)) {
			json_decref(an.owned);
			continue;
		}
		json_t *v = conv_value(g->cc->ref, def, an.raw, g->today);
		json_decref(an.owned);
		if (!v) {
			const char *msg = arena_printf(
			    g->a, "%s提供的值不符合“%s”的格式，未预填", an.label ? an.label : src,
			    json_get_str(def, "label") ? json_get_str(def, "label") : id);
			if (nmiss < 8)
				misses[nmiss++] = (struct miss){p, an.label, msg, "value"};
			continue;
		}
		json_path_set_new(form, id, v);
		json_object_set_new(g->row->sources, id, source_record(g, p, an.label));
		return true;
	}
	/* nothing fitted: the failures are why the field is empty */
	for (int k = 0; k < nmiss; k++)
		note_error(g, json_get_str(misses[k].p, "source"),
		           json_get_str(misses[k].p, "flow"), json_get_str(misses[k].p, "cert"),
		           misses[k].label, misses[k].reason, id, misses[k].message);
	return false;
}

/* ------------------------------------------------------------------ phase 1: local sources */

/* The previous accepted case of the resident with the same sub-item. */
static enum err load_previous(struct gather *g, struct db_conn *c)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, g->a, &rs,
	                     "SELECT case_no, form_enc FROM cases WHERE resident_id = ?"
	                     " AND sub_item_code = ? AND id <> ? AND accepted_at IS NOT NULL"
	                     " AND form_enc IS NOT NULL ORDER BY accepted_at DESC, id DESC LIMIT 1",
	                     "isi", g->row->resident_id, g->row->sub_item_code, g->row->id);
	if (e || rs->nrows == 0)
		return e;
	const struct db_val *v = db_cell(rs, 0, 1);
	e = case_open_json(g->srv, g->a, "cases.form", v->p, v->n, &g->prev_form);
	if (e == ERR_INTEGRITY) { /* a damaged old case must not stop today's work */
		log_error("cases.prefill_previous", "case %s: the form does not open",
		          db_text(rs, 0, 0));
		return ERR_OK;
	}
	if (!e && !json_is_object(g->prev_form)) {
		json_decref(g->prev_form);
		g->prev_form = NULL;
	}
	g->prev_no = db_text(rs, 0, 0);
	return e;
}

/* {"label": the connector's title (民政业务中台), "title": the flow's} of a lookup flow. */
static enum err flow_label(struct gather *g, struct db_conn *c, const char *flow,
                           const char **label, const char **title)
{
	struct db_rows *rs = NULL, *cn = NULL;
	*label = *title = flow;
	enum err e = db_exec(c, g->a, &rs,
	                     "SELECT title, doc FROM gateway_flows WHERE name = ? AND deleted = 0",
	                     "s", flow);
	if (e || rs->nrows == 0)
		return e;
	*title = *label = db_text(rs, 0, 0);
	json_t *doc = json_loads(db_text(rs, 0, 1), 0, NULL);
	const char *conn =
	    json_get_str(json_array_get(json_object_get(doc, "steps"), 0), "connector");
	if (conn &&
	    !(e = db_exec(c, g->a, &cn, "SELECT title FROM gateway_connectors WHERE name = ?", "s",
	                  conn)) &&
	    cn->nrows == 1)
		*label = db_text(cn, 0, 0);
	json_decref(doc);
	return e;
}

/* Would a local source give field def a value? (Decides which flows are worth running.) */
static bool local_value(struct gather *g, const json_t *def, const json_t *p)
{
	struct answer an;
	const char *src = json_get_str(p, "source");
	if (!src || !strcmp(src, "lookup") || !strcmp(src, "e_cert"))
		return false;
	ask(g, json_get_str(def, "id"), p, &an);
	json_t *v =
	    catalog_value_empty(an.raw) ? NULL : conv_value(g->cc->ref, def, an.raw, g->today);
	json_decref(an.owned);
	json_decref(v);
	return v != NULL;
}

static bool wants_fill(const json_t *def, const json_t *form, bool overwrite)
{
	const char *id = json_get_str(def, "id"), *type = json_get_str(def, "type");
	return id && type && strcmp(type, "group") && !json_object_get(def, "compute") &&
	       json_is_array(json_object_get(def, "prefill")) &&
	       (overwrite || catalog_value_empty(json_path_get(form, id)));
}

static enum err add_job(struct gather *g, struct db_conn *c, const char *flow)
{
	if (job_of(g, flow))
		return ERR_OK;
	if (g->njobs >= MAX_FLOWS)
		return ERR_OK; /* a sub-item naming more flows leaves the rest unfilled */
	struct flow_job *j = &g->jobs[g->njobs];
	memset(j, 0, sizeof(*j));
	j->srv = g->srv;
	j->name = flow;
	if (!strcmp(flow, ECERT_FLOW)) {
		j->label = j->title = ECERT_LABEL;
	} else {
		enum err e = flow_label(g, c, flow, &j->label, &j->title);
		if (e)
			return e;
	}
	g->njobs++;
	return ERR_OK;
}

/* The flows to run: for each field to fill, the lookup / e_cert sources it lists before its
 * first local source with a value. */
static enum err plan_flows(struct gather *g, struct db_conn *c, bool overwrite)
{
	const json_t *fields = json_object_get(json_object_get(g->cc->sub_item, "form"), "fields");
	size_t i, k;
	json_t *def, *p;
	enum err e = ERR_OK;
	json_array_foreach (fields, i, def) {
		if (!wants_fill(def, g->row->form, overwrite))
			continue;
		json_array_foreach (json_object_get(def, "prefill"), k, p) {
			const char *src = json_get_str(p, "source");
			if (!src)
				continue;
			if (!strcmp(src, "lookup") && json_get_str(p, "flow"))
				e = add_job(g, c, json_get_str(p, "flow"));
			else if (!strcmp(src, "e_cert"))
				e = add_job(g, c, ECERT_FLOW);
			else if (local_value(g, def, p))
				break;
			if (e)
				return e;
		}
	}
	return ERR_OK;
}

/* The applicant the departments are asked about: the resident's document and name. */
static json_t *applicant_of(struct gather *g)
{
	const char *type = json_get_str(g->profile, "id_type");
	const char *number = json_get_str(g->profile, "id_number");
	const char *name = json_get_str(g->profile, "name");
	if (!type || !number)
		return NULL;
	return json_pack("{s:s, s:s, s:s?}", "id_type", type, "id_number", number, "name", name);
}

static void prepare_jobs(struct gather *g)
{
	json_t *app = applicant_of(g);
	const struct trace_ctx *tr = log_trace();
	for (int i = 0; i < g->njobs; i++) {
		struct flow_job *j = &g->jobs[i];
		if (!app) {
			j->e = ERR_INVALID;
			snprintf(j->msg, sizeof(j->msg), "居民档案缺少证件信息，无法查询");
			continue;
		}
		/* each thread gets values of its own: nothing is shared between them */
		j->params = json_pack("{s:o, s:o}", "applicant", json_deep_copy(app), "form",
		                      json_deep_copy(g->row->form));
		if (!j->params) {
			j->e = ERR_NOMEM;
			snprintf(j->msg, sizeof(j->msg), "%s", err_message(ERR_NOMEM));
			continue;
		}
		if (tr)
			j->trace = *tr;
		else
			trace_start(&j->trace, NULL);
		snprintf(j->user, sizeof(j->user), "%s",
		         g->who && g->who->username ? g->who->username : "system");
		j->caller = (struct gateway_caller){.module = "cases",
		                                    .user = j->user,
		                                    .user_id = g->who ? g->who->user_id : 0,
		                                    .trace_id = j->trace.trace_id};
	}
	json_decref(app);
	/* only the jobs that can run go to the threads */
	struct flow_job *run[MAX_FLOWS];
	int n = 0;
	for (int i = 0; i < g->njobs; i++)
		if (g->jobs[i].params)
			run[n++] = &g->jobs[i];
	run_jobs(run, n);
}

/* Keep the earlier failures of fields this run did not try. */
static json_t *merge_errors(struct gather *g)
{
	json_t *out = json_array();
	size_t i, k;
	json_t *e, *f;
	const char *key;
	if (!out)
		return NULL;
	json_array_foreach (g->row->prefill_errors, i, e) {
		json_t *keep = json_array();
		json_array_foreach (json_object_get(e, "fields"), k, f) {
			if (json_is_string(f) &&
			    !json_object_get(g->attempted, json_string_value(f)))
				json_array_append(keep, f);
		}
		if (json_array_size(keep)) {
			json_t *copy = json_copy(e);
			json_object_set_new(copy, "fields", keep);
			json_array_append_new(out, copy);
		} else {
			json_decref(keep);
		}
	}
	json_object_foreach (g->errors, key, e) {
		json_array_append(out, e);
	}
	return out;
}

enum err cases_prefill_gather(struct server *srv, const struct principal *who, struct arena *a,
                              const struct case_catalog *cc, struct case_row *row, bool overwrite,
                              int *filled, struct errinfo *ei)
{
	struct gather g = {.srv = srv, .who = who, .a = a, .cc = cc, .row = row};
	struct db_conn *c = NULL;
	char today[11];
	enum err e;
	*filled = 0;
	cases_today(today);
	g.today = today;
	time_iso(time_now_ms(), g.at);
	g.errors = json_object();
	g.attempted = json_object();
	if (!g.errors || !g.attempted) {
		e = ERR_NOMEM;
		goto out;
	}
	if (!json_is_object(row->form) || !json_is_object(row->sources)) {
		e = ERR_INTERNAL;
		goto out;
	}
	/* phase 1 */
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		goto out;
	e = ident_resident_get(srv, c, a, row->resident_id, &g.profile);
	if (e == ERR_NOT_FOUND) {
		g.profile = NULL; /* the record was removed: the other sources still count */
		e = ERR_OK;
	}
	if (e || (e = load_previous(&g, c)) || (e = plan_flows(&g, c, overwrite)))
		goto out;
	db_release(c);
	c = NULL;
	/* phase 2: no connection held while the systems answer */
	prepare_jobs(&g);
	/* phase 3 */
	const json_t *fields = json_object_get(json_object_get(cc->sub_item, "form"), "fields");
	size_t i;
	json_t *def;
	json_array_foreach (fields, i, def) {
		if (wants_fill(def, row->form, overwrite) && fill_field(&g, def, overwrite))
			(*filled)++;
	}
	json_t *errors = merge_errors(&g);
	if (!errors) {
		e = ERR_NOMEM;
		goto out;
	}
	json_decref(row->prefill_errors);
	row->prefill_errors = errors;
out:
	if (e && ei && !ei->msg) {
		ei->code = e;
		ei->msg = e == ERR_INTEGRITY ? "居民档案数据完整性校验失败" : NULL;
	}
	db_release(c);
	for (int k = 0; k < g.njobs; k++) {
		json_decref(g.jobs[k].params);
		json_decref(g.jobs[k].result);
	}
	json_decref(g.prev_form);
	json_decref(g.errors);
	json_decref(g.attempted);
	return e;
}

/* ------------------------------------------------------------------ routes */

static const char *state_name(const char *s)
{
	static const struct {
		const char *code, *name;
	} names[] = {{"draft", "草稿"},        {"accepted", "已受理"},  {"in_progress", "办理中"},
	             {"correction", "待补正"}, {"completed", "已办结"}, {"refused", "不予受理"},
	             {"withdrawn", "已撤回"}};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (s && !strcmp(s, names[i].code))
			return names[i].name;
	return s ? s : "";
}

static bool editable(const struct case_row *row)
{
	return row->state && (!strcmp(row->state, "draft") || !strcmp(row->state, "correction"));
}

static enum err bad_state(struct req *r, const struct case_row *row, const char *action)
{
	return req_fail(r, ERR_BAD_STATE, "state", "办件当前状态为“%s”，不能执行“%s”",
	                state_name(row->state), action);
}

static const struct json_field prefill_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "办件版本号"},
    {"overwrite", JF_BOOL, 0, 0, 0, "覆盖已填内容"},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct json_field empty_body[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

static enum err audit_prefill(struct req *r, struct db_conn *c, const struct case_row *row,
                              int filled)
{
	json_t *d =
	    json_pack("{s:i, s:I, s:O, s:O}", "filled", filled, "version", (json_int_t)row->version,
	              "sources", row->sources, "errors", row->prefill_errors);
	/* the values stay out of the audit log; which field came from where is enough */
	const char *k;
	json_t *v;
	json_object_foreach (json_object_get(d, "sources"), k, v) {
		json_object_del(v, "at");
	}
	const char *detail = d ? json_dump_arena(d, r->arena) : NULL;
	json_decref(d);
	struct audit_entry ae = {.actor_id = r->who->user_id,
	                         .actor_name = r->who->username,
	                         .action = "case.prefill",
	                         .target = arena_printf(r->arena, "case:%s", row->case_no),
	                         .detail = detail,
	                         .client_ip = r->client_ip,
	                         .trace_id = r->trace.trace_id};
	return audit_append(c, r->arena, &ae);
}

/* The prefill's write unit: the gathered values onto the row they were gathered for (the
 * guarded UPDATE of case_store_form re-checks version and state), the timeline and the
 * audit entry. */
struct prefill_ctx {
	struct req *r;
	struct case_row *row;
	struct case_sealed_form sealed;
	int filled;
};

static enum err prefill_unit(struct db_conn *c, void *ctx)
{
	struct prefill_ctx *x = ctx;
	struct req *r = x->r;
	struct case_row *row = x->row;
	struct errinfo gei = {0};
	enum err e = cases_form_guards(r->srv, c, r->arena, row, &gei);
	if (e)
		return gei.msg ? req_fail(r, e, gei.field, "%s", gei.msg)
		               : req_fail(r, e, gei.field, NULL);
	e = case_store_form(c, r->arena, row, &x->sealed);
	if (e == ERR_CONFLICT)
		return req_fail(r, e, "version", "办件已被他人修改，请刷新后重试");
	if (e == ERR_BAD_STATE)
		return req_fail(r, e, "state", "办件状态已改变，不能预填，请刷新后查看");
	if (e)
		return e;
	const char *detail = arena_printf(r->arena, "{\"filled\":%d,\"errors\":%zu}", x->filled,
	                                  json_array_size(row->prefill_errors));
	if ((e = case_store_event(c, r->arena, row->id, r->who, "prefill", row->state, row->state,
	                          detail)))
		return e;
	return audit_prefill(r, c, row, x->filled);
}

/* POST /api/v1/cases/{no}/prefill {"version","overwrite"?} */
static enum err h_prefill(struct req *r, struct resp *w)
{
	const char *no = req_param(r, "no");
	int64_t version = json_get_int(r->json, "version", 0);
	bool overwrite = json_get_bool(r->json, "overwrite", false);
	struct case_row row = {0};
	struct case_catalog cc = {0};
	struct db_conn *c = NULL;
	struct errinfo ei = {0};
	int filled = 0;
	enum err e;
	if ((e = db_acquire(r->srv->db, DB_WAIT_MS, &c)))
		return e;
	if ((e = case_load(r->srv, c, r->arena, r->who, no, &row))) {
		if (e == ERR_NOT_FOUND)
			e = req_fail(r, e, "no", "办件不存在");
		goto out;
	}
	if (!editable(&row)) {
		e = bad_state(r, &row, "预填");
		goto out;
	}
	if (row.version != version) {
		e = req_fail(r, ERR_CONFLICT, "version", "办件已被他人修改，请刷新后重试");
		goto out;
	}
	if ((e = case_catalog_get(r->srv, c, r->arena, &row, &cc)))
		goto out;
	db_release(c);
	c = NULL;
	if ((e = cases_prefill_gather(r->srv, r->who, r->arena, &cc, &row, overwrite, &filled,
	                              &ei))) {
		if (ei.msg)
			e = req_fail(r, e, ei.field, "%s", ei.msg);
		goto out;
	}
	/* write: the stored row must still be the one the values were gathered for; sealing
	 * happens before the unit */
	struct prefill_ctx x = {.r = r, .row = &row, .filled = filled};
	if ((e = case_seal_form(r->srv, r->arena, &row, &x.sealed)) ||
	    (e = db_write_unit(r->srv->db, prefill_unit, &x, DB_WAIT_MS)))
		goto out;
	resp_json(w, 200,
	          json_pack("{s:I, s:O, s:O, s:O, s:i}", "version", (json_int_t)row.version, "data",
	                    row.form, "sources", row.sources, "errors", row.prefill_errors,
	                    "filled", filled));
out:
	db_release(c);
	case_row_release(&row);
	case_catalog_release(&cc);
	return e;
}

/* The verdicts are derived from the stored form, not an edit of it: no version bump, but
 * only onto the form they were computed from (version and state re-checked by the UPDATE). */
struct prereview_ctx {
	struct req *r;
	const struct case_row *row;
	const char *text;
};

static enum err prereview_unit(struct db_conn *c, void *ctx)
{
	struct prereview_ctx *x = ctx;
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, x->r->arena, &rs,
	                     "UPDATE cases SET prereview = ?, prereview_at = ? WHERE id = ?"
	                     " AND version = ? AND state IN ('draft', 'correction')",
	                     "siii", x->text, time_now_ms(), x->row->id, x->row->version);
	if (e)
		return e;
	if (rs->changes != 1)
		return req_fail(x->r, ERR_CONFLICT, "version", "办件已被他人修改，请刷新后重试");
	return ERR_OK;
}

/* POST /api/v1/cases/{no}/prereview {}: every rule's verdict, stored on the case. */
static enum err h_prereview(struct req *r, struct resp *w)
{
	const char *no = req_param(r, "no");
	struct case_row row = {0};
	struct case_catalog cc = {0};
	struct db_conn *c = NULL;
	json_t *verdicts = NULL, *doc = NULL;
	bool blocked = false;
	char today[11], at[32];
	enum err e;
	if ((e = db_acquire(r->srv->db, DB_WAIT_MS, &c)))
		return e;
	if ((e = case_load(r->srv, c, r->arena, r->who, no, &row))) {
		if (e == ERR_NOT_FOUND)
			e = req_fail(r, e, "no", "办件不存在");
		goto out;
	}
	if (!editable(&row)) {
		e = bad_state(r, &row, "预审");
		goto out;
	}
	if ((e = case_catalog_get(r->srv, c, r->arena, &row, &cc)))
		goto out;
	db_release(c);
	c = NULL;
	cases_today(today);
	time_iso(time_now_ms(), at);
	if ((e = cases_prereview_eval(&cc, &row, today, &verdicts, &blocked))) {
		if (e == ERR_INVALID)
			e = req_fail(r, ERR_INTERNAL, NULL, "该事项子项的表单定义有误，无法预审");
		goto out;
	}
	doc = json_pack("{s:O, s:b, s:s}", "verdicts", verdicts, "blocked", blocked, "at", at);
	const char *text = doc ? json_dump_arena(doc, r->arena) : NULL;
	if (!text) {
		e = ERR_NOMEM;
		goto out;
	}
	struct prereview_ctx x = {.r = r, .row = &row, .text = text};
	if ((e = db_write_unit(r->srv->db, prereview_unit, &x, DB_WAIT_MS)))
		goto out;
	json_object_set_new(doc, "version", json_integer((json_int_t)row.version));
	resp_json(w, 200, doc);
	doc = NULL;
out:
	db_release(c);
	json_decref(verdicts);
	json_decref(doc);
	case_row_release(&row);
	case_catalog_release(&cc);
	return e;
}

static const struct route prefill_routes[] = {
    {"POST", "/api/v1/cases/{no}/prefill", h_prefill, PERM_ACCEPT, ROUTE_SLOW, prefill_body},
    {"POST", "/api/v1/cases/{no}/prereview", h_prereview, PERM_ACCEPT, 0, empty_body},
};

const struct module cases_prefill_module = {"cases_prefill", NULL, NULL, prefill_routes,
                                            sizeof(prefill_routes) / sizeof(prefill_routes[0])};
