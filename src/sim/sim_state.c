/* sim_state.c: what the simulated systems remember between calls — submitted applications
 * and their decisions, department case number sequences, access tokens, signature nonces,
 * medical e-vouchers, and per-resident changes (a cancelled certificate, a signed
 * agreement). All of it is one jansson object under s->lock; POST /sim/reset empties it.
 *
 * An application is decided automatically decision_delay_ms after it arrived (it shows
 * "processing" from half that time), or at once by POST /sim/<sys>/applications/{no}/decide,
 * which may also ask for a correction (status "correction", the items in the record's
 * detail.correction_items); a correction stays open until decided again.
 * The automatic decision is the verdict the system worked out when the application arrived
 * (approve, or reject with the reason the real department would give). Decisions are applied
 * lazily, when a record is read, so no timer thread is needed. */
#include "sim/sim_int.h"

#include "core/id.h"
#include "core/timeutil.h"

static json_t *bucket(struct sim *s, const char *name)
{
	json_t *b = json_object_get(s->state, name);
	if (!b) {
		b = json_object();
		json_object_set_new(s->state, name, b);
	}
	return b;
}

enum err sim_state_init(struct sim *s)
{
	s->state = json_object();
	return s->state ? ERR_OK : ERR_NOMEM;
}

void sim_state_release(struct sim *s)
{
	json_decref(s->state);
	s->state = NULL;
}

static void iso(int64_t ms, char out[32])
{
	time_iso(ms, out);
}

/* Apply the automatic progress of a stored record (lock held). */
static void progress(struct sim *s, json_t *rec, int64_t now_ms)
{
	const char *st = json_get_str(rec, "status");
	if (!st || (strcmp(st, "received") && strcmp(st, "processing")))
		return;
	int64_t delay = s->decision_delay_ms;
	if (delay <= 0)
		return;
	int64_t t = json_get_int(rec, "_t", now_ms);
	if (now_ms >= t + delay) {
		json_t *v = json_object_get(rec, "_verdict");
		const char *vs = json_get_str(v, "status");
		const char *op = json_get_str(v, "opinion");
		char at[32];
		iso(t + delay, at);
		json_object_set_new(rec, "status", json_string(vs ? vs : "approved"));
		json_object_set_new(rec, "decision", json_string(op ? op : "准予办理"));
		json_object_set_new(rec, "decided_at", json_string(at));
		json_array_append_new(
		    json_object_get(rec, "history"),
		    json_pack("{s:s,s:s}", "at", at, "action", vs ? vs : "approved"));
	} else if (now_ms >= t + delay / 2 && !strcmp(st, "received")) {
		char at[32];
		iso(t + delay / 2, at);
		json_object_set_new(rec, "status", json_string("processing"));
		json_array_append_new(json_object_get(rec, "history"),
		                      json_pack("{s:s,s:s}", "at", at, "action", "processing"));
	}
}

/* A copy without the internal members (names starting with '_'). */
static json_t *public_copy(const json_t *rec)
{
	json_t *c = json_deep_copy(rec);
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(c, tmp, k, v)
	{
		if (k[0] == '_')
			json_object_del(c, k);
	}
	return c;
}

static void next_no_locked(struct sim *s, const char *prefix, int64_t now_ms, char out[32])
{
	json_t *seq = bucket(s, "seq");
	json_int_t n = json_integer_value(json_object_get(seq, prefix)) + 1;
	json_object_set_new(seq, prefix, json_integer(n));
	int y, m, d;
	sim_today(now_ms, &y, &m, &d);
	snprintf(out, 32, "%s%04d%02d%02d%06lld", prefix, y, m, d, (long long)n);
}

void sim_next_no(struct sim *s, const char *prefix, int64_t now_ms, char out[32])
{
	pthread_mutex_lock(&s->lock);
	next_no_locked(s, prefix, now_ms, out);
	pthread_mutex_unlock(&s->lock);
}

static const char *no_prefix(const char *sys)
{
	static const struct {
		const char *sys, *prefix;
	} t[] = {{"shebao", "SB"}, {"yibao", "YB"},   {"minzheng", "MZ"}, {"gongan", "GA"},
	         {"shuiwu", "SW"}, {"canlian", "CL"}, {"bjk", "BJK"},     {"dsj", "DSJ"},
	         {"dangan", "DA"}, {"video", "VR"}};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(t[i].sys, sys))
			return t[i].prefix;
	return "XT";
}

json_t *sim_app_submit(struct sim *s, const char *sys, const char *kind, const char *case_no,
                       const char *id_number, json_t *detail, json_t *verdict, int64_t now_ms)
{
	json_t *out = NULL;
	pthread_mutex_lock(&s->lock);
	json_t *apps = bucket(s, "apps");
	json_t *mine = json_object_get(apps, sys);
	if (!mine) {
		mine = json_object();
		json_object_set_new(apps, sys, mine);
	}
	json_t *by_case = bucket(s, "by_case");
	char key[256];
	snprintf(key, sizeof(key), "%s:%s:%s", sys, kind ? kind : "", case_no ? case_no : "");
	const char *have = case_no && case_no[0] ? json_get_str(by_case, key) : NULL;
	json_t *rec = have ? json_object_get(mine, have) : NULL;
	if (rec) {
		progress(s, rec, now_ms);
		out = public_copy(rec);
		json_object_set_new(out, "duplicate", json_true());
		json_decref(detail);
		json_decref(verdict);
		goto out;
	}
	char no[32], at[32];
	next_no_locked(s, no_prefix(sys), now_ms, no);
	iso(now_ms, at);
	rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:n,s:n,s:o,s:[{s:s,s:s}],s:I,s:o}",
	                "dept_case_no", no, "system", sys, "service", kind ? kind : "", "case_no",
	                case_no ? case_no : "", "id_number", id_number ? id_number : "", "status",
	                "received", "received_at", at, "decision", "decided_at", "detail",
	                detail ? detail : json_object(), "history", "at", at, "action", "received",
	                "_t", (json_int_t)now_ms, "_verdict",
	                verdict ? verdict : json_pack("{s:s}", "status", "approved"));
	if (!rec)
		goto out;
	json_object_set_new(mine, no, rec);
	if (case_no && case_no[0])
		json_object_set_new(by_case, key, json_string(no));
	out = public_copy(rec);
out:
	pthread_mutex_unlock(&s->lock);
	return out;
}

static json_t *find_rec(struct sim *s, const char *sys, const char *dept_no)
{
	return json_object_get(json_object_get(json_object_get(s->state, "apps"), sys), dept_no);
}

json_t *sim_app_get(struct sim *s, const char *sys, const char *dept_no, int64_t now_ms)
{
	json_t *out = NULL;
	pthread_mutex_lock(&s->lock);
	json_t *rec = find_rec(s, sys, dept_no);
	if (rec) {
		progress(s, rec, now_ms);
		out = public_copy(rec);
	}
	pthread_mutex_unlock(&s->lock);
	return out;
}

json_t *sim_app_find(struct sim *s, const char *sys, const char *kind, const char *id_number,
                     int64_t now_ms)
{
	json_t *out = json_array();
	pthread_mutex_lock(&s->lock);
	json_t *mine = json_object_get(json_object_get(s->state, "apps"), sys);
	const char *k;
	json_t *rec;
	json_object_foreach (mine, k, rec) {
		if (id_number &&
		    strcmp(json_get_str(rec, "id_number") ? json_get_str(rec, "id_number") : "",
		           id_number))
			continue;
		if (kind &&
		    strcmp(json_get_str(rec, "service") ? json_get_str(rec, "service") : "", kind))
			continue;
		progress(s, rec, now_ms);
		json_array_insert_new(out, 0, public_copy(rec));
	}
	pthread_mutex_unlock(&s->lock);
	return out;
}

static void add_history(json_t *rec, int64_t now_ms, const char *action, const json_t *extra)
{
	char at[32];
	iso(now_ms, at);
	json_t *h = json_pack("{s:s,s:s}", "at", at, "action", action);
	if (h && extra)
		json_object_update(h, (json_t *)extra);
	json_array_append_new(json_object_get(rec, "history"), h);
}

enum err sim_app_decide(struct sim *s, const char *sys, const char *dept_no, const char *status,
                        const char *opinion, const char *cert_no, int64_t now_ms, json_t **out)
{
	enum err e = ERR_OK;
	pthread_mutex_lock(&s->lock);
	json_t *rec = find_rec(s, sys, dept_no);
	if (!rec) {
		e = ERR_NOT_FOUND;
		goto out;
	}
	progress(s, rec, now_ms);
	const char *st = json_get_str(rec, "status");
	/* a department that asked for a correction decides again once it is supplied */
	if (strcmp(st, "received") && strcmp(st, "processing") && strcmp(st, "correction")) {
		e = ERR_CONFLICT;
		goto out;
	}
	json_t *v = json_object_get(rec, "_verdict");
	const char *vs = status ? status : json_get_str(v, "status");
	const char *op = opinion ? opinion : json_get_str(v, "opinion");
	if (!op)
		op = !strcmp(vs ? vs : "approved", "approved") ? "准予办理" : "不予办理";
	char at[32];
	iso(now_ms, at);
	json_object_set_new(rec, "status", json_string(vs ? vs : "approved"));
	json_object_set_new(rec, "decision", json_string(op));
	json_object_set_new(rec, "decided_at", json_string(at));
	if (cert_no && *cert_no) /* the licence or certificate an approval issues */
		json_object_set_new(rec, "cert_no", json_string(cert_no));
	add_history(rec, now_ms, vs ? vs : "approved", NULL);
	if (out)
		*out = public_copy(rec);
out:
	pthread_mutex_unlock(&s->lock);
	return e;
}

enum err sim_app_update(struct sim *s, const char *sys, const char *dept_no, const char *action,
                        const json_t *changes, int64_t now_ms, json_t **out)
{
	enum err e = ERR_OK;
	pthread_mutex_lock(&s->lock);
	json_t *rec = find_rec(s, sys, dept_no);
	if (!rec) {
		e = ERR_NOT_FOUND;
		goto out;
	}
	progress(s, rec, now_ms);
	const char *st = json_get_str(rec, "status");
	bool open =
	    !strcmp(st, "received") || !strcmp(st, "processing") || !strcmp(st, "correction");
	if (!strcmp(action, "cancel")) {
		/* cancelling twice is answered as the first time (compensation may be retried) */
		if (!open && strcmp(st, "cancelled")) {
			e = ERR_CONFLICT;
			goto out;
		}
		if (open) {
			json_object_set_new(rec, "status", json_string("cancelled"));
			add_history(rec, now_ms, "cancelled", changes);
		}
	} else if (!open && strcmp(st, "approved")) {
		e = ERR_CONFLICT;
		goto out;
	} else {
		json_t *detail = json_object_get(rec, "detail");
		if (json_is_object(detail) && json_is_object(changes))
			json_object_update(detail, (json_t *)changes);
		add_history(rec, now_ms, action, changes);
	}
	if (out)
		*out = public_copy(rec);
out:
	pthread_mutex_unlock(&s->lock);
	return e;
}

json_t *sim_state_get(struct sim *s, const char *key)
{
	pthread_mutex_lock(&s->lock);
	json_t *v = json_object_get(json_object_get(s->state, "kv"), key);
	json_t *c = v ? json_deep_copy(v) : NULL;
	pthread_mutex_unlock(&s->lock);
	return c;
}

void sim_state_set(struct sim *s, const char *key, json_t *v)
{
	pthread_mutex_lock(&s->lock);
	json_object_set_new(bucket(s, "kv"), key, v);
	pthread_mutex_unlock(&s->lock);
}

/* ---- expiring secrets: tokens, nonces, e-vouchers ---- */

/* Drop expired members of a bucket of {"exp": ms, ...} objects (or bare ms numbers) once it
 * has grown, so a long run does not accumulate them. Lock held. */
static void prune(json_t *b, int64_t now_ms)
{
	if (json_object_size(b) < 1024)
		return;
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(b, tmp, k, v)
	{
		int64_t exp =
		    json_is_integer(v) ? json_integer_value(v) : json_get_int(v, "exp", 0);
		if (exp <= now_ms)
			json_object_del(b, k);
	}
}

static void random_hex(char *out, size_t nbytes)
{
	if (id_random_hex(out, nbytes) != ERR_OK)
		snprintf(out, nbytes * 2 + 1, "%0*d", (int)(nbytes * 2), 0);
}

void sim_token_issue(struct sim *s, const char *conn, int64_t now_ms, int64_t ttl_s, char out[41])
{
	random_hex(out, 20);
	pthread_mutex_lock(&s->lock);
	json_t *b = bucket(s, "tokens");
	prune(b, now_ms);
	json_object_set_new(
	    b, out,
	    json_pack("{s:s,s:I}", "conn", conn, "exp", (json_int_t)(now_ms + ttl_s * 1000)));
	pthread_mutex_unlock(&s->lock);
}

bool sim_token_valid(struct sim *s, const char *conn, const char *token, int64_t now_ms)
{
	pthread_mutex_lock(&s->lock);
	json_t *t = json_object_get(json_object_get(s->state, "tokens"), token);
	bool ok = t && json_get_int(t, "exp", 0) > now_ms && json_get_str(t, "conn") &&
	          !strcmp(json_get_str(t, "conn"), conn);
	pthread_mutex_unlock(&s->lock);
	return ok;
}

bool sim_nonce_seen(struct sim *s, const char *key_id, const char *nonce, int64_t now_ms)
{
	char key[160];
	snprintf(key, sizeof(key), "%s:%s", key_id, nonce);
	pthread_mutex_lock(&s->lock);
	json_t *b = bucket(s, "nonces");
	prune(b, now_ms);
	json_t *v = json_object_get(b, key);
	bool seen = v && json_integer_value(v) > now_ms;
	if (!seen) /* the signature window is 5 minutes either way */
		json_object_set_new(b, key, json_integer(now_ms + 10 * 60 * 1000));
	pthread_mutex_unlock(&s->lock);
	return seen;
}

void sim_evoucher_issue(struct sim *s, const char *id_number, int64_t now_ms, char qr[65],
                        int64_t *expires_ms)
{
	random_hex(qr, 32);
	int64_t exp = now_ms + s->cfg.evoucher_ttl_ms;
	pthread_mutex_lock(&s->lock);
	json_t *b = bucket(s, "evouchers");
	prune(b, now_ms - 3600 * 1000);
	json_object_set_new(b, qr, json_pack("{s:s,s:I}", "id", id_number, "exp", (json_int_t)exp));
	pthread_mutex_unlock(&s->lock);
	*expires_ms = exp;
}

int sim_evoucher_resolve(struct sim *s, const char *qr, int64_t now_ms, char id_number[19],
                         int64_t *expires_ms)
{
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	json_t *v = json_object_get(json_object_get(s->state, "evouchers"), qr);
	if (v) {
		snprintf(id_number, 19, "%s", json_get_str(v, "id"));
		*expires_ms = json_get_int(v, "exp", 0);
		rc = *expires_ms > now_ms ? 1 : -1;
	}
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void sim_ectoken_issue(struct sim *s, const char *id_number, int64_t now_ms, char tok[65])
{
	random_hex(tok, 32);
	pthread_mutex_lock(&s->lock);
	json_t *b = bucket(s, "ectokens");
	prune(b, now_ms);
	json_object_set_new(
	    b, tok,
	    json_pack("{s:s,s:I}", "id", id_number, "exp", (json_int_t)(now_ms + 30 * 60 * 1000)));
	pthread_mutex_unlock(&s->lock);
}

bool sim_ectoken_resolve(struct sim *s, const char *tok, int64_t now_ms, char id_number[19])
{
	bool ok = false;
	pthread_mutex_lock(&s->lock);
	json_t *v = json_object_get(json_object_get(s->state, "ectokens"), tok);
	if (v && json_get_int(v, "exp", 0) > now_ms) {
		snprintf(id_number, 19, "%s", json_get_str(v, "id"));
		ok = true;
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

json_t *sim_state_json(struct sim *s, int64_t now_ms)
{
	pthread_mutex_lock(&s->lock);
	json_t *apps = json_object();
	json_t *all = json_object_get(s->state, "apps");
	const char *sys;
	json_t *mine;
	json_object_foreach (all, sys, mine) {
		json_t *list = json_array();
		const char *no;
		json_t *rec;
		json_object_foreach (mine, no, rec) {
			progress(s, rec, now_ms);
			json_array_append_new(list, public_copy(rec));
		}
		json_object_set_new(apps, sys, list);
	}
	json_t *kv = json_object_get(s->state, "kv");
	json_t *out =
	    json_pack("{s:o,s:o,s:{s:i,s:i,s:i}}", "applications", apps, "changes",
	              kv ? json_deep_copy(kv) : json_object(), "counts", "tokens",
	              (int)json_object_size(json_object_get(s->state, "tokens")), "evouchers",
	              (int)json_object_size(json_object_get(s->state, "evouchers")), "ectokens",
	              (int)json_object_size(json_object_get(s->state, "ectokens")));
	pthread_mutex_unlock(&s->lock);
	return out;
}
