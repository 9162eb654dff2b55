/*
 * An MD5 whose running state can be saved and loaded again, computed by the OpenSSL inside Node
 * (its MD5_* calls), for the whole-file MD5 a stream upload (tus/IETF) folds while its bytes
 * arrive (src/core/stream-fold-thread.ts). Hand-written for the reason native/sha256.c gives:
 * node:crypto's Hash is fast but its state cannot be saved, hash-wasm's can but is slower — on
 * the bench machine (2 cores) hash-wasm's MD5 hashed 491 MB/s where OpenSSL's hashed 687 MB/s,
 * and the fold thread spends nearly all its time in it, on a core the client and the server share.
 *
 * The saved form is hash-wasm's own (its md5.c's struct MD5_CTX, little-endian, without the
 * 4-byte prefix hash-wasm puts in front, which src/io/native-md5.ts adds and checks), so a state
 * saved here loads into hash-wasm's createMD5() and the other way round: every record written
 * before, and every reader that uses hash-wasm, stays as it is.
 *   struct { u32 lo, hi; u32 a, b, c, d; u8 buffer[64]; u32 block[16]; }   (152 bytes)
 *   bytes hashed = lo + hi * 2^29 (lo < 2^29); the lo % 64 bytes not yet hashed in buffer[];
 *   block[] is hash-wasm's scratch (written as zeros, ignored when read).
 *
 *   create([saved]) -> ctx        a fresh state, or one loaded from such 152 bytes (throws
 *                                 RangeError if they are not)
 *   update(ctx, bytes)            bytes: any Uint8Array (a view of shared memory too)
 *   save(ctx) -> Buffer(152)
 *   digest(ctx) -> Buffer(16)     the MD5 of every byte so far; ctx stays usable
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "napi-args.h"
#include <openssl/md5.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define SAVED 152

static uint32_t get32(const unsigned char *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

/* The MD5_CTX inside a Buffer argument, or NULL (a TypeError is thrown). */
static MD5_CTX *ctx_of(napi_env env, napi_value value) {
  return (MD5_CTX *)state_of(env, value, sizeof(MD5_CTX), "not an MD5 state");
}

static bool load(MD5_CTX *c, const unsigned char *s, size_t length) {
  if (length != SAVED) return false;
  uint32_t lo = get32(s), hi = get32(s + 4);
  if (lo >= (1u << 29) || hi >= (1u << 29)) return false;
  uint64_t bytes = (uint64_t)lo + ((uint64_t)hi << 29);
  unsigned int pending = lo & 0x3f;
  MD5_Init(c);
  c->A = get32(s + 8);
  c->B = get32(s + 12);
  c->C = get32(s + 16);
  c->D = get32(s + 20);
  /* The whole blocks hashed so far, then the bytes of the block begun, through MD5_Update: no
     assumption on how OpenSSL keeps a partial block. */
  uint64_t bits = (bytes - pending) * 8;
  c->Nl = (MD5_LONG)(bits & 0xffffffffu);
  c->Nh = (MD5_LONG)(bits >> 32);
  c->num = 0;
  if (pending) MD5_Update(c, s + 24, pending);
  return true;
}

static napi_value Create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_valuetype type = napi_undefined;
  void *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok ||
      napi_create_buffer(env, sizeof(MD5_CTX), &data, &out) != napi_ok)
    return NULL;
  MD5_CTX *c = (MD5_CTX *)data;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (argc < 1 || type == napi_undefined || type == napi_null) {
    MD5_Init(c);
    return out;
  }
  const unsigned char *saved;
  size_t length;
  if (!bytes_of(env, argv[0], &saved, &length)) return NULL;
  if (!load(c, saved, length)) {
    napi_throw_range_error(env, NULL, "not a saved MD5 state");
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
  MD5_CTX *c = ctx_of(env, argv[0]);
  const unsigned char *bytes;
  size_t length;
  if (!c || !bytes_of(env, argv[1], &bytes, &length)) return NULL;
  MD5_Update(c, bytes, length);
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
  MD5_CTX *c = ctx_of(env, argv[0]);
  if (!c) return NULL;
  if (napi_create_buffer(env, SAVED, &data, &out) != napi_ok) return NULL;
  unsigned char *s = (unsigned char *)data;
  memset(s, 0, SAVED);
  uint64_t bytes = (((uint64_t)c->Nh << 32) | c->Nl) / 8;
  put32(s, (uint32_t)(bytes & 0x1fffffff));
  put32(s + 4, (uint32_t)(bytes >> 29));
  put32(s + 8, c->A);
  put32(s + 12, c->B);
  put32(s + 16, c->C);
  put32(s + 20, c->D);
  /* OpenSSL keeps the bytes not yet hashed in data[] in arrival order (md32_common.h). */
  memcpy(s + 24, c->data, c->num);
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
  MD5_CTX *c = ctx_of(env, argv[0]);
  if (!c) return NULL;
  if (napi_create_buffer(env, MD5_DIGEST_LENGTH, &data, &out) != napi_ok) return NULL;
  MD5_CTX copy = *c;
  MD5_Final((unsigned char *)data, &copy);
  return out;
}

NAPI_MODULE_INIT() {
  export_function(env, exports, "create", Create);
  export_function(env, exports, "update", Update);
  export_function(env, exports, "save", Save);
  export_function(env, exports, "digest", Digest);
  return exports;
}
