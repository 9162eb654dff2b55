/*
 * Argument readers shared by the hash addons (md5.c, sha256.c): each throws a TypeError and
 * returns NULL/false on a wrong argument.
 */
#ifndef RT_NAPI_ARGS_H
#define RT_NAPI_ARGS_H
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>

/* The memory of a Buffer argument of exactly `size` bytes (a hash state), or NULL. */
static inline void *state_of(napi_env env, napi_value value, size_t size, const char *what) {
  bool is_buffer = false;
  void *data = NULL;
  size_t length = 0;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer ||
      napi_get_buffer_info(env, value, &data, &length) != napi_ok || length != size) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  return data;
}

/* The bytes of a Uint8Array (or Buffer) argument; false if it is none. */
static inline bool bytes_of(napi_env env, napi_value value, const unsigned char **data, size_t *length) {
  bool is_typed = false;
  napi_typedarray_type type;
  void *base = NULL;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, value, &type, length, &base, NULL, NULL) != napi_ok ||
      type != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "bytes must be a Uint8Array");
    return false;
  }
  *data = (const unsigned char *)base;
  return true;
}

/* exports[name] = fn */
static inline void export_function(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &value);
  napi_set_named_property(env, exports, name, value);
}
#endif
