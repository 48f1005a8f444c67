/* keyring.c: data keys under a master-key provider, field encryption and purpose MACs.
 *
 * Layout of a field blob (version 1):
 *   0x01 | key id (4, BE) | iv (12) | SM4-GCM ciphertext | tag (16)
 * The AAD is the first five bytes followed by the context string, so neither the key id nor
 * the column can be changed without the tag failing. */
#include "crypto/crypto_int.h"

#include <pthread.h>

#include "core/log.h"

#define BLOB_VERSION   1
#define BLOB_HEAD      5 /* version | key id */
#define WRAP_LABEL     "shouli-dk-v1"
#define MAC_ROOT_LABEL "shouli/mac-root/v1"

struct data_key {
	uint32_t id;
	unsigned char key[CRYPTO_SM4_KEY_LEN];
};

struct keyring {
	const struct keyring_provider_ops *ops;
	void *state;
	unsigned char mac_root[32]; /* derived once: purpose keys come from it */
	EVP_MAC_CTX *mac_root_ctx;  /* HMAC-SM3 keyed with mac_root, only ever dup'd; may be NULL */
	pthread_rwlock_t lock;      /* guards everything below */
	struct data_key *keys;
	size_t nkeys, cap;
	uint32_t active;
	uint32_t max_id;
};

enum err keyring_create(const struct keyring_provider_ops *ops, void *state, struct keyring **out)
{
	struct keyring *kr = calloc(1, sizeof *kr);
	if (!kr) {
		ops->destroy(state);
		return ERR_NOMEM;
	}
	kr->ops = ops;
	kr->state = state;
	if (pthread_rwlock_init(&kr->lock, NULL) != 0) {
		ops->destroy(state);
		free(kr);
		return ERR_INTERNAL;
	}
	ops->derive(state, MAC_ROOT_LABEL, strlen(MAC_ROOT_LABEL), kr->mac_root);
	/* Every blind index starts from mac_root: keep its key schedule (ipad/opad blocks) and
	 * dup it per call. Without crypto_init the plain path of keyring_mac serves. */
	if (crypto_init() == ERR_OK)
		kr->mac_root_ctx = crypto_hmac_sm3_new(kr->mac_root, sizeof kr->mac_root);
	*out = kr;
	return ERR_OK;
}

void keyring_destroy(struct keyring *kr)
{
	if (!kr)
		return;
	kr->ops->destroy(kr->state);
	if (kr->keys)
		crypto_wipe(kr->keys, kr->cap * sizeof *kr->keys);
	free(kr->keys);
	crypto_wipe(kr->mac_root, sizeof kr->mac_root);
	EVP_MAC_CTX_free(kr->mac_root_ctx);
	pthread_rwlock_destroy(&kr->lock);
	free(kr);
}

/* The wrapped form of a data key is bound to its id. */
static void wrap_aad(uint32_t id, unsigned char aad[sizeof WRAP_LABEL - 1 + 4])
{
	size_t n = sizeof WRAP_LABEL - 1;
	memcpy(aad, WRAP_LABEL, n);
	aad[n] = (unsigned char)(id >> 24);
	aad[n + 1] = (unsigned char)(id >> 16);
	aad[n + 2] = (unsigned char)(id >> 8);
	aad[n + 3] = (unsigned char)id;
}

static const struct data_key *find(const struct keyring *kr, uint32_t id)
{
	for (size_t i = 0; i < kr->nkeys; i++)
		if (kr->keys[i].id == id)
			return &kr->keys[i];
	return NULL;
}

/* Caller holds the write lock. */
static enum err add_locked(struct keyring *kr, uint32_t id, const unsigned char key[16],
                           bool active)
{
	if (find(kr, id))
		return ERR_EXISTS;
	if (kr->nkeys == kr->cap) {
		size_t cap = kr->cap ? kr->cap * 2 : 8;
		struct data_key *k = calloc(cap, sizeof *k);
		if (!k)
			return ERR_NOMEM;
		if (kr->keys) {
			memcpy(k, kr->keys, kr->nkeys * sizeof *k);
			crypto_wipe(kr->keys, kr->cap * sizeof *k);
		}
		free(kr->keys);
		kr->keys = k;
		kr->cap = cap;
	}
	kr->keys[kr->nkeys].id = id;
	memcpy(kr->keys[kr->nkeys].key, key, CRYPTO_SM4_KEY_LEN);
	kr->nkeys++;
	if (id > kr->max_id)
		kr->max_id = id;
	if (active)
		kr->active = id;
	return ERR_OK;
}

enum err keyring_new_data_key(struct keyring *kr, uint32_t *key_id, struct buf *wrapped)
{
	unsigned char key[CRYPTO_SM4_KEY_LEN], blob[KEYRING_WRAPPED_LEN];
	unsigned char aad[sizeof WRAP_LABEL - 1 + 4];
	size_t off = wrapped->len;
	enum err e = crypto_random(key, sizeof key);
	if (e)
		return e;
	pthread_rwlock_wrlock(&kr->lock);
	uint32_t id = kr->max_id + 1;
	if (id == 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	wrap_aad(id, aad);
	e = kr->ops->wrap(kr->state, key, aad, sizeof aad, blob);
	if (!e)
		e = buf_append(wrapped, blob, sizeof blob);
	if (!e)
		e = add_locked(kr, id, key, true);
	if (e) {
		crypto_buf_truncate(wrapped, off);
		goto out;
	}
	*key_id = id;
out:
	pthread_rwlock_unlock(&kr->lock);
	crypto_wipe(key, sizeof key);
	return e;
}

enum err keyring_add_wrapped(struct keyring *kr, uint32_t key_id, const void *wrapped, size_t n,
                             bool active)
{
	unsigned char key[CRYPTO_SM4_KEY_LEN];
	unsigned char aad[sizeof WRAP_LABEL - 1 + 4];
	if (key_id == 0)
		return ERR_INVALID;
	wrap_aad(key_id, aad);
	enum err e = kr->ops->unwrap(kr->state, wrapped, n, aad, sizeof aad, key);
	if (e)
		return e;
	pthread_rwlock_wrlock(&kr->lock);
	e = add_locked(kr, key_id, key, active);
	pthread_rwlock_unlock(&kr->lock);
	crypto_wipe(key, sizeof key);
	return e;
}

uint32_t keyring_active_id(const struct keyring *kr)
{
	/* The lock is state of the keyring's implementation, not of its value. */
	pthread_rwlock_t *lock = (pthread_rwlock_t *)&kr->lock;
	pthread_rwlock_rdlock(lock);
	uint32_t id = kr->active;
	pthread_rwlock_unlock(lock);
	return id;
}

/* Copy out the key with id (the active one when id is 0); false when there is none. */
static bool key_copy(struct keyring *kr, uint32_t *id, unsigned char key[16])
{
	pthread_rwlock_rdlock(&kr->lock);
	if (*id == 0)
		*id = kr->active;
	const struct data_key *k = *id ? find(kr, *id) : NULL;
	if (k)
		memcpy(key, k->key, CRYPTO_SM4_KEY_LEN);
	pthread_rwlock_unlock(&kr->lock);
	return k != NULL;
}

/* aad = head || context; returns its length, 0 when the context is too long. */
static size_t make_aad(const unsigned char head[BLOB_HEAD], const char *context,
                       unsigned char aad[BLOB_HEAD + KEYRING_CONTEXT_MAX])
{
	size_t n = context ? strlen(context) : 0;
	if (n > KEYRING_CONTEXT_MAX)
		return 0;
	memcpy(aad, head, BLOB_HEAD);
	if (n)
		memcpy(aad + BLOB_HEAD, context, n);
	return BLOB_HEAD + n;
}

static void put_head(unsigned char head[BLOB_HEAD], uint32_t id)
{
	head[0] = BLOB_VERSION;
	head[1] = (unsigned char)(id >> 24);
	head[2] = (unsigned char)(id >> 16);
	head[3] = (unsigned char)(id >> 8);
	head[4] = (unsigned char)id;
}

enum err keyring_encrypt(struct keyring *kr, const char *context, const void *plain, size_t n,
                         struct buf *out)
{
	unsigned char head[BLOB_HEAD + CRYPTO_GCM_IV_LEN], key[CRYPTO_SM4_KEY_LEN];
	unsigned char aad[BLOB_HEAD + KEYRING_CONTEXT_MAX], tag[CRYPTO_GCM_TAG_LEN];
	uint32_t id = 0;
	size_t off = out->len, aadlen;
	enum err e = ERR_CONFIG;
	if (!key_copy(kr, &id, key))
		return e;
	put_head(head, id);
	e = ERR_INVALID;
	if (!(aadlen = make_aad(head, context, aad)))
		goto out;
	e = crypto_random(head + BLOB_HEAD, CRYPTO_GCM_IV_LEN);
	if (!e)
		e = buf_append(out, head, sizeof head);
	if (!e)
		e = buf_append(out, plain, n);
	if (e)
		goto out;
	unsigned char *ct = (unsigned char *)out->p + off + sizeof head;
	e = crypto_sm4_gcm_encrypt(key, head + BLOB_HEAD, aad, aadlen, ct, n, ct, tag);
	if (!e)
		e = buf_append(out, tag, sizeof tag);
out:
	if (e)
		crypto_buf_truncate(out, off);
	crypto_wipe(key, sizeof key);
	return e;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

enum err keyring_decrypt(struct keyring *kr, const char *context, const void *blob, size_t n,
                         struct buf *out)
{
	const unsigned char *b = blob;
	unsigned char key[CRYPTO_SM4_KEY_LEN], aad[BLOB_HEAD + KEYRING_CONTEXT_MAX];
	size_t off = out->len, aadlen, ctlen;
	enum err e = ERR_INTEGRITY;
	if (!b || n < KEYRING_BLOB_OVERHEAD || b[0] != BLOB_VERSION)
		return e;
	uint32_t id = get_be32(b + 1);
	if (id == 0 || !key_copy(kr, &id, key)) {
		log_warn("crypto.key_unknown", "no data key %u in the keyring", (unsigned)id);
		return e;
	}
	ctlen = n - KEYRING_BLOB_OVERHEAD;
	if (!(aadlen = make_aad(b, context, aad))) {
		e = ERR_INVALID;
		goto out;
	}
	e = buf_append(out, b + BLOB_HEAD + CRYPTO_GCM_IV_LEN, ctlen);
	if (e)
		goto out;
	unsigned char *pt = (unsigned char *)out->p + off;
	e = crypto_sm4_gcm_decrypt(key, b + BLOB_HEAD, aad, aadlen, pt, ctlen, pt,
	                           b + n - CRYPTO_GCM_TAG_LEN);
out:
	if (e)
		crypto_buf_truncate(out, off);
	crypto_wipe(key, sizeof key);
	return e;
}

void keyring_mac(const struct keyring *kr, const char *purpose, const void *p, size_t n,
                 unsigned char out[32])
{
	unsigned char k[32];
	size_t plen = purpose ? strlen(purpose) : 0;
	if (kr->mac_root_ctx) {
		EVP_MAC_CTX *c = EVP_MAC_CTX_dup(kr->mac_root_ctx);
		if (!c)
			crypto_fatal("HMAC-SM3 context");
		crypto_hmac_sm3_finish(c, purpose, plen, k);
	} else {
		crypto_hmac_sm3(kr->mac_root, sizeof kr->mac_root, purpose, plen, k);
	}
	crypto_hmac_sm3(k, sizeof k, p, n, out);
	crypto_wipe(k, sizeof k);
}
