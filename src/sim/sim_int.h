/* sim_int.h: internals shared by the files of src/sim/ — the process state, the system
 * registry, the request helpers handlers use, the deterministic population and the in-memory
 * state of applications, tokens and e-vouchers. */
#ifndef SHOULI_SIM_INT_H
#define SHOULI_SIM_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "http/http.h"
#include "sim/sim.h"

/* ---- deterministic randomness (splitmix64) ------------------------------------------- */

struct sim_rng {
	uint64_t s;
};

void sim_rng_seed(struct sim_rng *g, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *g);
/* Uniform in [0, n) (n > 0). */
uint32_t sim_rng_below(struct sim_rng *g, uint32_t n);
/* Uniform in [0, 1). */
double sim_rng_unit(struct sim_rng *g);
/* A stable 64-bit hash of s mixed with seed (FNV-1a then splitmix): per-name randomness that
 * does not depend on call order. */
uint64_t sim_hash(uint64_t seed, const char *s);

/* ---- the population (sim_people.c) ---------------------------------------------------- */

enum sim_insured { SIM_INS_NONE, SIM_INS_EMPLOYEE, SIM_INS_RESIDENT };
enum sim_ins_status { SIM_INS_PAYING, SIM_INS_SUSPENDED, SIM_INS_RETIRED, SIM_INS_ENDED };

/* One resident. Strings are UTF-8, NUL-terminated, fixed-size. Immutable once built. */
struct sim_person {
	char id_number[19];
	char name[16];
	char gender;   /* 'M' or 'F' (the ID number's sequence digit agrees) */
	int8_t nation; /* index into the nation table (0 = 汉族) */
	int16_t birth_y;
	int8_t birth_m, birth_d;
	char phone[12];
	char district[7]; /* residence district code 310xxx */
	int8_t district_idx, street_idx;
	char address[128]; /* current residence */
	char hukou_address[128];
	bool hukou_sh; /* Shanghai 户籍 */
	bool deceased;
	int household;        /* index into sim_people.households */
	const char *relation; /* 户主, 配偶, 子女, 父亲, 母亲, 孙子, 孙女, 本人 (static) */
	/* 社保 */
	enum sim_insured insured;
	enum sim_ins_status ins_status;
	int16_t contribution_months;
	int16_t employer;      /* index into the employer table, -1 none */
	int32_t pension_cents; /* monthly pension of retirees */
	char si_card[11];      /* 社会保障卡号 */
	/* 医保 */
	char medical_region[7]; /* 参保地医保区划 */
	int32_t medical_balance_cents;
	/* 民政 */
	bool dibao;              /* 低保 (subsistence allowance) household member */
	bool allowance_enrolled; /* already receives 老年综合津贴 */
	char bank[32];           /* bank of the allowance account (static name) */
	char bank_account[20];
	/* 残联 */
	int8_t disability_kind; /* 0 none; 1 视力 2 听力 3 言语 4 肢体 5 智力 6 精神 7 多重 */
	int8_t disability_level;  /* 1..4 */
	char disability_cert[21]; /* 身份证号 + kind + level */
	int16_t disability_issued_y;
	/* 公安 */
	char elder_card[13]; /* 敬老卡号, hukou and age >= 60 at the reference date */
	int8_t housing; /* non-hukou residents: 1 租赁 2 自有 3 集体宿舍 4 单位内部 */
	char lease_filing[17]; /* 住房租赁合同备案号 (housing == 1) */
	/* 税务 */
	bool deduct_agreement; /* 委托扣款协议 signed for resident insurance premiums */
};

struct sim_household {
	char no[13];   /* 户号 */
	int first, n;  /* members people[first .. first+n) */
	bool hukou_sh; /* a Shanghai 户籍 household, else a registered non-hukou household */
	char district[7];
	int8_t district_idx, street_idx;
	char address[128];
};

struct sim_people {
	struct sim_person *people;
	int npeople;
	struct sim_household *households;
	int nhouseholds;
	int *index; /* open addressing over people by id_number; -1 empty */
	int nindex;
};

/* Build nhouseholds households from seed. Same arguments, same population, on every
 * machine. ERR_NOMEM. */
enum err sim_people_build(struct sim_people *p, uint64_t seed, int nhouseholds);
void sim_people_release(struct sim_people *p);
/* Lookup by 公民身份号码 (upper-case X); NULL when nobody has it. */
const struct sim_person *sim_people_find(const struct sim_people *p, const char *id_number);
const struct sim_household *sim_people_household(const struct sim_people *p,
                                                 const struct sim_person *who);
/* ISO 7064 MOD 11-2 check character of the first 17 digits of an 18-character number. */
char sim_id_check(const char *first17);
/* Age in whole years on date y-m-d. */
int sim_person_age(const struct sim_person *who, int y, int m, int d);
/* Today in China Standard Time. */
void sim_today(int64_t now_ms, int *y, int *m, int *d);
/* "YYYY-MM-DD" of the birth date into out. */
void sim_person_birth(const struct sim_person *who, char out[24]);
/* District name ("徐汇区") of a 310xxx code; "" when unknown. Street name by indexes. */
const char *sim_district_name(const char *code);
const char *sim_street_name(int district_idx, int street_idx);
const char *sim_employer_name(int idx);
const char *sim_disability_kind_name(int kind);
/* The resident as JSON (new reference): identity, address, household; sections adds the
 * system views ("shebao", "yibao", "minzheng", "canlian", "gongan") when true. */
json_t *sim_person_json(const struct sim_people *p, const struct sim_person *who, bool sections,
                        int64_t now_ms);

/* ---- connectors (credentials and method paths), sim_auth.c ---------------------------- */

enum sim_auth_kind { SIM_AUTH_NONE, SIM_AUTH_BASIC, SIM_AUTH_TOKEN, SIM_AUTH_HMAC, SIM_AUTH_SM2 };

struct sim_conn_method {
	char *name;
	char *http_method;
	char *path;       /* full path under the sim: the base path + the method's path (may hold
	                     {{request.x}} segments) */
	char *soap_op;    /* SOAP: local name of the body template's root element */
	json_t *soap_map; /* SOAP: request path → element local name (from the body template) */
	json_t *response; /* SOAP: response key → XPath */
};

/* What the simulator knows of one connector: its credentials (built-in demo values of
 * docs/gateway.md, overridden by gateway/connectors/<name>.json when present) and its
 * methods' paths (from the files only; scenarios name methods). */
struct sim_connector {
	char *name;
	char *prefix; /* base path under the sim ("/minzheng"), from base_url "{{sim}}/minzheng" */
	bool soap;
	enum sim_auth_kind auth;
	char *username, *secret, *key_id;
	char *token_path;    /* full path of the token endpoint ("/minzheng/auth/token") */
	char *token_field;   /* "access_token" */
	char *expires_field; /* "expires_in" */
	void *sm2_key;       /* struct crypto_sm2_key *: checks SM2 signatures */
	bool sm4;            /* crypto profile sm4_cbc */
	unsigned char sm4_key[16];
	struct sim_conn_method *methods;
	int nmethods;
};

/* Fill s->conns with the built-in demo credentials, then apply every *.json of dir (NULL =
 * none). ERR_CONFIG (logged) for a malformed file or key. */
enum err sim_connectors_load(struct sim *s, const char *dir);
void sim_connectors_release(struct sim *s);
/* The connector whose prefix begins path ("/minzheng/..."), or NULL. */
const struct sim_connector *sim_connector_for_path(const struct sim *s, const char *path);
const struct sim_connector *sim_connector_named(const struct sim *s, const char *name);

/* ---- requests ------------------------------------------------------------------------- */

struct sim_req;
typedef void (*sim_handler)(struct sim_req *q);

#define SIM_EP_NOAUTH 1u /* no credentials checked (token endpoints, /sim/ helpers) */
#define SIM_EP_SOAP   2u /* SOAP 1.1/1.2 envelope in, envelope out */

struct sim_endpoint {
	const char *method;
	const char *pattern; /* below the system's prefix: "/elder-allowance/applications/{no}" */
	sim_handler fn;
	unsigned flags;
	const char *title; /* zh-CN, for GET /sim/systems */
};

struct sim_person;

struct sim_system {
	const char *name; /* path prefix without the slash: "minzheng" */
	const char *title;
	const struct sim_endpoint *endpoints;
	size_t nendpoints;
	/* Generic applications (sim_apps.c): the verdict the department will reach on an
	 * application of service by who (new reference, see sim_verdict); NULL = approve. */
	json_t *(*verdict)(struct sim_req *q, const char *service, const struct sim_person *who,
	                   const json_t *body);
	/* Generic query: add the service's fields for who to out; false when the system does not
	 * know the service (a generic answer is given). NULL = none known. */
	bool (*query)(struct sim_req *q, const char *service, const struct sim_person *who,
	              json_t *out);
};

/* The systems in path order (NULL-terminated). */
extern const struct sim_system *const sim_systems[];

/* The systems (sim_*.c each define theirs). */
extern const struct sim_system sim_system_shebao, sim_system_yibao, sim_system_minzheng,
    sim_system_gongan, sim_system_shuiwu, sim_system_canlian, sim_system_bjk, sim_system_dsj,
    sim_system_dangan, sim_system_map, sim_system_video;

struct sim_req {
	struct sim *sim;
	struct req *r;
	struct resp *w;
	struct arena *a;
	const struct sim_system *sys; /* NULL on /sim/ helpers and unknown prefixes */
	const struct sim_endpoint *ep;
	json_t *body;  /* the JSON body (arena-owned), {} when none; NULL for SOAP */
	json_t *input; /* what scenarios match: body + query + path parameters (arena-owned) */
	const struct sim_connector *conn; /* the connector whose prefix the path is under */
	bool sealed;         /* the request came sm4_cbc-wrapped: a 2xx answer is wrapped too */
	void *soap;          /* xmlDoc * of a SOAP request (freed with the arena) */
	void *soap_op_node;  /* xmlNode * of the operation element */
	const char *soap_op; /* local name of the SOAP body's first element */
	const char *soap_ns; /* its namespace URI ("" when none) */
	int64_t now_ms;
	bool answered;
};

/* Answer with a JSON body (steals v). */
void sim_reply(struct sim_req *q, int status, json_t *v);
/* Answer with a raw body (copied into the arena). */
void sim_reply_raw(struct sim_req *q, int status, const char *ctype, const char *body, size_t n);
/* A system-style error: {"code": code, "message": msg} (a SOAP Fault on SOAP endpoints). */
void sim_error(struct sim_req *q, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A validation failure naming fields: {"code", "message", "errors": [{"field","message"}]}
 * (steals errors). */
void sim_error_fields(struct sim_req *q, int status, const char *code, const char *msg,
                      json_t *errors);
/* Required string member of the body (trimmed, non-empty); NULL after answering 400 with
 * code "E_PARAM" naming the field. */
const char *sim_need_str(struct sim_req *q, const json_t *obj, const char *field,
                         const char *label);
/* Path parameter or query argument. */
const char *sim_param(struct sim_req *q, const char *name);
/* Resolve the ID number argument: present, well-formed (MOD 11-2) and a known resident;
 * otherwise answer (400 E_PARAM / 404 with not_found_code) and return NULL. */
const struct sim_person *sim_need_person(struct sim_req *q, const char *id_number,
                                         const char *field, const char *not_found_code);
/* The ID number of a person block: "id_number" (a string, or the catalog's id_document
 * {"type","number"}), else "cert_no"; NULL when none. Borrowed from p. */
const char *sim_id_of(const json_t *p);
/* ISO time of ms (China Standard Time) from the request arena. */
const char *sim_iso(struct sim_req *q, int64_t ms);

/* A verdict for sim_app_submit: {"status": "approved"|"rejected", "opinion": text}. */
json_t *sim_verdict(bool approve, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The generic application endpoints (sim_apps.c) every department system mounts:
 * POST /applications, GET /applications/{no}, POST /applications/{no}/cancel, POST /query. */
void sim_apps_apply(struct sim_req *q);
void sim_apps_status(struct sim_req *q);
void sim_apps_cancel(struct sim_req *q);
void sim_apps_query(struct sim_req *q);
#define SIM_GENERIC_ENDPOINTS                                                                      \
	{"POST", "/applications", sim_apps_apply, 0, "通用申请提交"},                              \
	    {"GET", "/applications/{no}", sim_apps_status, 0, "申请办理状态"},                     \
	    {"POST", "/applications/{no}/cancel", sim_apps_cancel, 0, "撤销申请"},                 \
	{                                                                                          \
		"POST", "/query", sim_apps_query, 0, "通用查询"                                \
	}
/* Answers to the catalog's lookups through a generic query (sim_queries.c): add service's
 * fields for w to o; false when the service is not one of them. */
bool sim_query_answer(struct sim_req *q, const char *system, const char *service,
                      const struct sim_person *w, json_t *o);
/* The application as the generic status endpoint shows it (new reference). */
json_t *sim_apps_view(const json_t *rec);

/* ---- auth (sim_auth.c) ---------------------------------------------------------------- */

/* Is this the connector's token request (POST <token_path>)? */
bool sim_auth_is_token_request(const struct sim_req *q, const struct sim_connector *c);
/* Answer a token request: {"username","password"} → {"access_token","expires_in"}. */
void sim_auth_token(struct sim_req *q, const struct sim_connector *c);
/* Check the credentials c expects; false after answering 401. */
bool sim_auth_check(struct sim_req *q, const struct sim_connector *c);
/* sm4_cbc: decrypt the request's {"data": b64(iv || ct)} into plain; false after answering
 * 400. seal: the same shape for an answer, appended to out. */
bool sim_crypto_open(struct sim_req *q, const struct sim_connector *c, struct buf *plain);
enum err sim_crypto_seal(const struct sim_connector *c, const char *plain, size_t n,
                         struct buf *out);

/* ---- SOAP (sim_gongan.c) -------------------------------------------------------------- */

/* Parse a SOAP envelope (1.1 or 1.2) from body: the first element of Body. Returns false and
 * answers a Fault when the body is not a well-formed envelope. */
bool sim_soap_parse(struct sim_req *q);
/* Text of the first element named local under the operation element (any namespace);
 * NULL when absent. Arena memory. */
const char *sim_soap_arg(struct sim_req *q, const char *local);
/* The operation's children as a flat JSON object {local: text} (arena-owned). */
json_t *sim_soap_args_json(struct sim_req *q);
/* Answer with <op>Response in ns containing the members of v (objects nest, arrays repeat
 * the element). */
void sim_soap_reply(struct sim_req *q, const char *op, const char *ns, const json_t *v);
void sim_soap_fault(struct sim_req *q, int status, const char *code, const char *msg);

/* ---- state (sim_state.c): applications, tokens, e-vouchers ------------------------------ */

/* Record an application of system sys. case_no (Shouli's 办件编号) makes the submission
 * idempotent: the same case_no returns the stored record with "duplicate": true. verdict
 * is what the automatic decision will be ({"status": "approved"|"rejected", "opinion": …};
 * stolen). detail is stolen. Returns a copy of the stored record (new reference). */
json_t *sim_app_submit(struct sim *s, const char *sys, const char *kind, const char *case_no,
                       const char *id_number, json_t *detail, json_t *verdict, int64_t now_ms);
/* A copy of the record (with a due automatic decision applied), or NULL. */
json_t *sim_app_get(struct sim *s, const char *sys, const char *dept_no, int64_t now_ms);
/* Applications of sys for one person (kind NULL = any), newest first (new array). */
json_t *sim_app_find(struct sim *s, const char *sys, const char *kind, const char *id_number,
                     int64_t now_ms);
/* Decide now: status "approved"/"rejected" (NULL = the stored verdict) with opinion (NULL =
 * the verdict's). ERR_NOT_FOUND; ERR_CONFLICT when already decided or cancelled. On success
 * *out (when not NULL) is a copy. */
enum err sim_app_decide(struct sim *s, const char *sys, const char *dept_no, const char *status,
                        const char *opinion, const char *cert_no, int64_t now_ms, json_t **out);
/* action "cancel": a received/processing application becomes cancelled (an already
 * cancelled one is left as it is: ERR_OK); ERR_CONFLICT when it was decided. Any other
 * action changes a pending or approved application: changes are merged into its detail and
 * recorded in its history; ERR_CONFLICT when it was rejected or cancelled. changes is
 * borrowed. ERR_NOT_FOUND. */
enum err sim_app_update(struct sim *s, const char *sys, const char *dept_no, const char *action,
                        const json_t *changes, int64_t now_ms, json_t **out);
/* Per-resident overrides left by earlier calls (cancelled certificates, signed agreements,
 * changed channels): a copy of state key "<sys>:<what>:<id>" or NULL; set steals v. */
json_t *sim_state_get(struct sim *s, const char *key);
void sim_state_set(struct sim *s, const char *key, json_t *v);

/* Issue an access token for connector conn (ttl_s); token is written into out (41 bytes). */
void sim_token_issue(struct sim *s, const char *conn, int64_t now_ms, int64_t ttl_s, char out[41]);
/* Is token a live token of conn? */
bool sim_token_valid(struct sim *s, const char *conn, const char *token, int64_t now_ms);
/* Has this nonce been seen (within the signature window)? Records it. */
bool sim_nonce_seen(struct sim *s, const char *key_id, const char *nonce, int64_t now_ms);

/* Medical e-voucher: a QR code token for a resident, valid for cfg.evoucher_ttl_ms. */
void sim_evoucher_issue(struct sim *s, const char *id_number, int64_t now_ms, char qr[65],
                        int64_t *expires_ms);
/* Resolve a QR token: 1 = ok, -1 = expired (id_number and *expires_ms written), 0 =
 * unknown. */
int sim_evoucher_resolve(struct sim *s, const char *qr, int64_t now_ms, char id_number[19],
                         int64_t *expires_ms);
/* ecToken: issued on a resolve, valid 30 minutes, names the resident. */
void sim_ectoken_issue(struct sim *s, const char *id_number, int64_t now_ms, char tok[65]);
bool sim_ectoken_resolve(struct sim *s, const char *tok, int64_t now_ms, char id_number[19]);

/* A department case number: prefix + YYYYMMDD + 6-digit sequence per system. */
void sim_next_no(struct sim *s, const char *prefix, int64_t now_ms, char out[32]);

/* State as JSON (GET /sim/state). */
json_t *sim_state_json(struct sim *s, int64_t now_ms);
enum err sim_state_init(struct sim *s);
void sim_state_release(struct sim *s);

/* ---- faults and scenarios (sim.c) ----------------------------------------------------- */

struct sim_fault {
	char prefix[128];
	int64_t latency_ms;
	double error_rate;
	int status;
	bool timeout;
	int64_t timeout_ms;         /* how long a timed-out request is held (default 30000) */
	int64_t down_from, down_to; /* ms since the epoch; 0 = not set */
	uint64_t hits, injected;
};

/* Parse a fault document (POST /sim/faults). ERR_BAD_FIELD with *msg (static zh-CN) and
 * *field (static, or an unknown member's name borrowed from doc) naming the problem. */
enum err sim_fault_parse(const json_t *doc, struct sim_fault *f, const char **field,
                         const char **msg);
/* Does the fault's prefix cover path ("/minzheng" covers "/minzheng" and "/minzheng/x", not
 * "/minzhengx")? */
bool sim_fault_covers(const struct sim_fault *f, const char *path);

/* Does the request value v contain everything of m (objects: subset, recursively; other
 * values: equal; a number in m equals the same number written as a string in v)? */
bool sim_match_subset(const json_t *m, const json_t *v);

/* ---- the process state ---------------------------------------------------------------- */

struct sim_slot; /* one registered route (sim.c) */

struct sim {
	struct sim_config cfg; /* strings point into the copies below */
	char *bind, *scenarios_dir, *connectors_dir;
	struct http_server *http;
	struct sim_slot *slots;
	size_t nslots;
	struct sim_people people; /* immutable after create */
	struct sim_connector *conns;
	int nconns;

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t wake;  /* interrupts injected delays on reset and stop */
	uint64_t generation;  /* bumped by reset: delays of an older generation end */
	bool stopping;
	struct sim_rng rng; /* fault draws */
	struct sim_fault *faults;
	size_t nfaults, afaults;
	json_t *scenarios_file;    /* array, as loaded */
	json_t *scenarios_runtime; /* array, newest first */
	json_t *state;             /* sim_state.c's object */
	int64_t decision_delay_ms;
	uint64_t requests, scenario_hits;
};

/* Faults: add or replace (same prefix); remove the one of prefix (NULL = all, returns how
 * many went; requests held by a delay are let go); list them with their counters. */
enum err sim_fault_set(struct sim *s, const struct sim_fault *f);
size_t sim_fault_clear(struct sim *s, const char *prefix);
json_t *sim_faults_json(struct sim *s);
/* Scenarios: add (one object or an array) at run time, newest first — ERR_BAD_FIELD with
 * msg and field (static) for the first bad one, and none is added; clear the runtime ones;
 * list all (runtime first) with their sources and hit counts. */
enum err sim_scenarios_add(struct sim *s, const json_t *doc, int *added, const char **field,
                           const char **msg);
void sim_scenarios_clear(struct sim *s);
json_t *sim_scenarios_json(struct sim *s);
/* POST /sim/reset: applications, changes, e-vouchers, faults and runtime scenarios go, the
 * fault generator starts again from the seed; tokens stay valid (a connected gateway keeps
 * its cached token). Requests held by a delay are let go. */
void sim_reset(struct sim *s);

/* The /sim/ helpers (sim_admin.c). */
extern const struct sim_endpoint sim_admin_endpoints[];
extern const size_t sim_admin_nendpoints;

/* Sleep ms, or less when the sim is reset or stopped. Returns false when cut short. */
bool sim_sleep(struct sim *s, int64_t ms);

#endif
