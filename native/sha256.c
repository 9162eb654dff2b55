/*
 * A SHA-256 whose running state can be saved and loaded again, computed by the OpenSSL inside
 * Node (its SHA256_* calls, with the CPU's SHA instructions), for the SHA-256 a stream upload
 * folds while its bytes arrive (src/core/sha256-state.ts). Hand-written because nothing installed
 * offers both: node:crypto's Hash is fast but its state cannot be saved (a restart, or another
 * process over the same bucket, could not continue it), and hash-wasm's SHA-256 can be saved but
 * hashed 50 MiB/s where node:crypto's hashed 461 MiB/s on the bench machine (its MD5: 139 MiB/s),
 * slower than reading the whole file back once at completion.
 *
 * The state lives in a Buffer the caller holds (a SHA256_CTX): no handles to free.
 *   create([saved]) -> ctx        a fresh state, or one loaded from save()'s bytes (throws if
 *                                 they are not such bytes)
 *   update(ctx, bytes)            bytes: any Uint8Array (a view of shared memory too)
 *   save(ctx) -> Buffer           the state in a form of its own, independent of OpenSSL's
 *                                 struct layout and of the CPU's byte order:
 *                                   [0] 1 (the form's version), [1..32] h0..h7 big-endian,
 *                                   [33..40] bits hashed (big-endian u64), [41] n, then the n < 64
 *                                   bytes not yet hashed
 *   digest(ctx) -> Buffer(32)     the SHA-256 of every byte so far; ctx stays usable
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "napi-args.h"
#include <openssl/sha.h>
#include <stdbool.h>
#include <string.h>

#define SAVED_HEAD 42
#define VERSION 1

/* The SHA256_CTX inside a Buffer argument, or NULL (a TypeError is thrown). */
static SHA256_CTX *ctx_of(napi_env env, napi_value value) {
  return (SHA256_CTX *)state_of(env, value, sizeof(SHA256_CTX), "not a SHA-256 state");
}

static bool load(SHA256_CTX *c, const unsigned char *s, size_t length) {
  if (length < SAVED_HEAD || s[0] != VERSION) return false;
  unsigned int num = s[41];
  if (num >= SHA256_CBLOCK || length != SAVED_HEAD + num) return false;
  uint64_t bits = 0;
  for (int i = 0; i < 8; i++) bits = (bits << 8) | s[33 + i];
  if (bits % 8 != 0 || (bits / 8) % SHA256_CBLOCK != num) return false;
  SHA256_Init(c);
  for (int i = 0; i < 8; i++) {
    const unsigned char *w = s + 1 + 4 * i;
    c->h[i] = ((SHA_LONG)w[0] << 24) | ((SHA_LONG)w[1] << 16) | ((SHA_LONG)w[2] << 8) | w[3];
  }
  c->Nl = (SHA_LONG)(bits & 0xffffffffu);
  c->Nh = (SHA_LONG)(bits >> 32);
  c->num = num;
  /* OpenSSL keeps the bytes not yet hashed in data[] in arrival order (md32_common.h). */
  memcpy(c->data, s + SAVED_HEAD, num);
  return true;
}

static napi_value Create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_valuetype type = napi_undefined;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok ||
      napi_create_buffer(env, sizeof(SHA256_CTX), &data, &out) != napi_ok)
    return NULL;
  SHA256_CTX *c = (SHA256_CTX *)data;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (argc < 1 || type == napi_undefined || type == napi_null) {
    SHA256_Init(c);
    return out;
  }
  const unsigned char *saved;
  size_t length;
  if (!bytes_of(env, argv[0], &saved, &length)) return NULL;
  if (!load(c, saved, length)) {
    napi_throw_range_error(env, NULL, "not a saved SHA-256 state");
    return NULL;
  }
  return out;
}

static napi_value Update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, NULL, "update(ctx, bytes)");
    return NULL;
  }
  SHA256_CTX *c = ctx_of(env, argv[0]);
  const unsigned char *bytes;
  size_t length;
  if (!c || !bytes_of(env, argv[1], &bytes, &length)) return NULL;
  SHA256_Update(c, bytes, length);
  return NULL;
}

static napi_value Save(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "save(ctx)");
    return NULL;
  }
  SHA256_CTX *c = ctx_of(env, argv[0]);
  if (!c) return NULL;
  if (napi_create_buffer(env, SAVED_HEAD + c->num, &data, &out) != napi_ok) return NULL;
  unsigned char *s = (unsigned char *)data;
  s[0] = VERSION;
  for (int i = 0; i < 8; i++) {
    s[1 + 4 * i] = (unsigned char)(c->h[i] >> 24);
    s[2 + 4 * i] = (unsigned char)(c->h[i] >> 16);
    s[3 + 4 * i] = (unsigned char)(c->h[i] >> 8);
    s[4 + 4 * i] = (unsigned char)c->h[i];
  }
  uint64_t bits = ((uint64_t)c->Nh << 32) | c->Nl;
  for (int i = 7; i >= 0; i--) {
    s[33 + i] = (unsigned char)(bits & 0xff);
    bits >>= 8;
  }
  s[41] = (unsigned char)c->num;
  memcpy(s + SAVED_HEAD, c->data, c->num);
  return out;
}

static napi_value Digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "digest(ctx)");
    return NULL;
  }
  SHA256_CTX *c = ctx_of(env, argv[0]);
  if (!c) return NULL;
  if (napi_create_buffer(env, SHA256_DIGEST_LENGTH, &data, &out) != napi_ok) return NULL;
  SHA256_CTX copy = *c;
  SHA256_Final((unsigned char *)data, &copy);
  return out;
}

NAPI_MODULE_INIT() {
  export_function(env, exports, "create", Create);
  export_function(env, exports, "update", Update);
  export_function(env, exports, "save", Save);
  export_function(env, exports, "digest", Digest);
  return exports;
}
