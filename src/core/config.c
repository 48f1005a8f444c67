#include "core/config.h"

#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/str.h"

enum ctype { C_STR, C_INT, C_BOOL };

static const struct key {
	const char *name;
	enum ctype type;
	size_t off;
	const char *def;
	int64_t min, max;
} keys[] = {
#define S(n, d)                                                                                    \
	{                                                                                          \
#n, C_STR, offsetof(struct config, n), d, 0, 0                                     \
	}
#define I(n, d, lo, hi)                                                                            \
	{                                                                                          \
#n, C_INT, offsetof(struct config, n), #d, lo, hi                                  \
	}
#define B(n, d)                                                                                    \
	{                                                                                          \
#n, C_BOOL, offsetof(struct config, n), #d, 0, 1                                   \
	}
    S(bind, "127.0.0.1"),
    I(port, 8080, 0, 65535),
    S(data_dir, "data"),
    S(db, ""),
    S(web_dir, "web/dist"),
    B(demo, 0),
    S(log_level, "info"),
    I(threads, 4, 1, 256),
    I(workers, 4, 1, 256),
    I(db_pool, 8, 1, 512),
    I(body_max, 1048576, 1024, 1073741824),
    I(upload_max, 33554432, 1024, 4294967296),
    I(file_max_bytes, 20971520, 1024, 4294967296),
    I(conn_limit, 20000, 16, 1000000),
    I(conn_memory, 12288, 4096, 1048576),
    I(session_idle_s, 1800, 60, 86400),
    I(session_abs_s, 43200, 300, 604800),
    I(session_cache_s, 5, 0, 60),
    I(pbkdf2_iter, 20000, 1000, 10000000),
    I(login_max_fail, 5, 1, 100),
    I(lockout_s, 900, 1, 86400),
    I(password_max_age_days, 90, 0, 3650),
    I(ws_max, 20000, 1, 1000000),
    I(ws_queue_max, 262144, 1024, 67108864),
    S(modules, ""),
    B(with_sim, 0),
    S(sim_url, ""),
    I(sim_port, 0, 0, 65535),
    S(ident_reader_flags, "0=111,1=PR2017,I=PR2017,2=HMT,J=HMT,3=PR2023,Y=PR2023,S=SSC"),
    B(accept_requires_signature, 1),
    I(vwin_heartbeat_s, 20, 5, 600),
    I(terminal_session_s, 43200, 300, 604800),
#undef S
#undef I
#undef B
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct key *find_key(const char *name, size_t n)
{
	for (size_t i = 0; i < NKEYS; i++) {
		const char *k = keys[i].name;
		if (strlen(k) != n)
			continue;
		size_t j = 0;
		/* '-' in flags and files stands for '_' */
		for (; j < n; j++)
			if (k[j] != name[j] && !(k[j] == '_' && name[j] == '-'))
				break;
		if (j == n)
			return &keys[i];
	}
	return NULL;
}

static enum err set_key(struct config *c, const struct key *k, const char *value, char *msg,
                        size_t msgsz)
{
	void *field = (char *)c + k->off;
	switch (k->type) {
	case C_STR: {
		char *copy = strdup(value);
		if (!copy)
			return ERR_NOMEM;
		free(*(char **)field);
		*(char **)field = copy;
		return ERR_OK;
	}
	case C_INT: {
		int64_t v;
		if (!cstr_to_i64(value, k->min, k->max, &v)) {
			snprintf(msg, msgsz, "config %s: '%s' is not a whole number in %lld..%lld",
			         k->name, value, (long long)k->min, (long long)k->max);
			return ERR_CONFIG;
		}
		*(int64_t *)field = v;
		return ERR_OK;
	}
	case C_BOOL:
		if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes") ||
		    !strcmp(value, "on"))
			*(bool *)field = true;
		else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") ||
		         !strcmp(value, "off"))
			*(bool *)field = false;
		else {
			snprintf(msg, msgsz, "config %s: '%s' is not a boolean (true/false)",
			         k->name, value);
			return ERR_CONFIG;
		}
		return ERR_OK;
	}
	return ERR_INTERNAL;
}

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	char msg[256];
	for (size_t i = 0; i < NKEYS; i++)
		set_key(c, &keys[i], keys[i].def, msg, sizeof(msg));
}

void config_release(struct config *c)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].type == C_STR) {
			char **f = (char **)((char *)c + keys[i].off);
			free(*f);
			*f = NULL;
		}
}

enum err config_set(struct config *c, const char *key, const char *value, char *msg, size_t msgsz)
{
	const struct key *k = find_key(key, strlen(key));
	if (!k) {
		snprintf(msg, msgsz, "unknown config key '%s'", key);
		return ERR_CONFIG;
	}
	return set_key(c, k, value, msg, msgsz);
}

enum err config_load_file(struct config *c, const char *path, bool required, char *msg,
                          size_t msgsz)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		if (!required)
			return ERR_OK;
		snprintf(msg, msgsz, "cannot open config file %s", path);
		return ERR_CONFIG;
	}
	char line[4096];
	int lineno = 0;
	enum err e = ERR_OK;
	while (!e && fgets(line, sizeof(line), f)) {
		lineno++;
		struct str s = str_trim(str_from(line));
		if (s.n == 0 || s.p[0] == '#')
			continue;
		struct str k, v = str_cut(s, '=', &k);
		k = str_trim(k);
		v = str_trim(v);
		if (!v.p || k.n == 0 || k.n >= 64) {
			snprintf(msg, msgsz, "%s:%d: expected 'key = value'", path, lineno);
			e = ERR_CONFIG;
			break;
		}
		char key[64], *val = strndup(v.p, v.n);
		memcpy(key, k.p, k.n);
		key[k.n] = 0;
		if (!val) {
			e = ERR_NOMEM;
			break;
		}
		char sub[256];
		e = config_set(c, key, val, sub, sizeof(sub));
		if (e)
			snprintf(msg, msgsz, "%s:%d: %s", path, lineno, sub);
		free(val);
	}
	fclose(f);
	return e;
}

enum err config_load_env(struct config *c, char **envp, char *msg, size_t msgsz)
{
	for (char **e = envp; e && *e; e++) {
		if (strncmp(*e, "SHOULI_", 7) != 0)
			continue;
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		char key[64];
		size_t n = (size_t)(eq - (*e + 7));
		if (n == 0 || n >= sizeof(key))
			continue;
		for (size_t i = 0; i < n; i++)
			key[i] = (char)tolower((unsigned char)(*e)[7 + i]);
		key[n] = 0;
		if (!strcmp(key, "config"))
			continue;
		const struct key *k = find_key(key, n);
		if (!k)
			continue; /* other SHOULI_* variables (e.g. SHOULI_BIN in tests) are not
			             ours */
		enum err err = set_key(c, k, eq + 1, msg, msgsz);
		if (err)
			return err;
	}
	return ERR_OK;
}

/* Find a flag's value without applying it (for --config and --data-dir before the file). */
static const char *peek_flag(int argc, char **argv, const char *name)
{
	size_t n = strlen(name);
	const char *found = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) || strncmp(a + 2, name, n))
			continue;
		if (a[2 + n] == '=')
			found = a + 3 + n;
		else if (a[2 + n] == 0 && i + 1 < argc)
			found = argv[i + 1];
	}
	return found;
}

enum err config_resolve(struct config *c, int argc, char **argv, char **envp, char **rest,
                        int *nrest, char *msg, size_t msgsz)
{
	enum err e;
	const char *file = peek_flag(argc, argv, "config");
	const char *envfile = NULL;
	for (char **p = envp; p && *p; p++)
		if (!strncmp(*p, "SHOULI_CONFIG=", 14))
			envfile = *p + 14;
	if (!file)
		file = envfile;
	if (file) {
		e = config_load_file(c, file, true, msg, msgsz);
	} else {
		/* The data dir may itself come from env or flags: look there for shouli.conf. */
		const char *dir = peek_flag(argc, argv, "data");
		if (!dir)
			dir = peek_flag(argc, argv, "data-dir");
		for (char **p = envp; !dir && p && *p; p++)
			if (!strncmp(*p, "SHOULI_DATA_DIR=", 16))
				dir = *p + 16;
		if (!dir)
			dir = c->data_dir;
		char path[4096];
		snprintf(path, sizeof(path), "%s/shouli.conf", dir);
		e = config_load_file(c, path, false, msg, msgsz);
	}
	if (e)
		return e;
	if ((e = config_load_env(c, envp, msg, msgsz)))
		return e;

	if (nrest)
		*nrest = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) != 0) {
			if (!rest) {
				snprintf(msg, msgsz, "unexpected argument '%s'", a);
				return ERR_CONFIG;
			}
			rest[(*nrest)++] = argv[i];
			continue;
		}
		const char *name = a + 2, *eq = strchr(name, '=');
		size_t n = eq ? (size_t)(eq - name) : strlen(name);
		if (n == 6 && !strncmp(name, "config", 6)) {
			if (!eq)
				i++;
			continue;
		}
		/* --data is the documented short form of data_dir. */
		const struct key *k = (n == 4 && !strncmp(name, "data", 4))
		                          ? find_key("data_dir", 8)
		                          : find_key(name, n);
		if (!k) {
			snprintf(msg, msgsz, "unknown option '--%.*s'", (int)n, name);
			return ERR_CONFIG;
		}
		const char *val;
		if (eq)
			val = eq + 1;
		else if (k->type == C_BOOL)
			val = "true";
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			snprintf(msg, msgsz, "option '--%s' needs a value", k->name);
			return ERR_CONFIG;
		}
		if ((e = set_key(c, k, val, msg, msgsz)))
			return e;
	}
	return ERR_OK;
}
