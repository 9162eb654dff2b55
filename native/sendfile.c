/*
 * sendfile(2) for the range server: Node has no sendfile, so every served byte was copied through
 * user space (read into a Buffer, then written to the socket). This sends file bytes to a socket
 * inside the kernel. Hand-written because no maintained npm package offers it for Node 20
 * (fs.sendfile was removed from Node in 2012).
 *
 * sendfile(outFd, inFd, position, count) -> bytes sent (0 when the socket is full at once), or a
 * negative errno. The socket is Node's own, non-blocking: this never waits for the peer; it does
 * read the file synchronously (from the page cache, or the disk, as nginx's sendfile does).
 */
#include <errno.h>
#include <node_api.h>
#include <sys/sendfile.h>

static napi_value Sendfile(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t out_fd = -1, in_fd = -1;
  int64_t position = 0, count = 0;
  napi_value result;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_int32(env, argv[0], &out_fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &in_fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &position) != napi_ok ||
      napi_get_value_int64(env, argv[3], &count) != napi_ok || out_fd < 0 || in_fd < 0 ||
      position < 0 || count < 0) {
    napi_throw_type_error(env, NULL, "sendfile(outFd, inFd, position, count)");
    return NULL;
  }
  off_t off = (off_t)position;
  int64_t total = 0;
  while (total < count) {
    ssize_t n = sendfile(out_fd, in_fd, &off, (size_t)(count - total));
    if (n > 0) {
      total += n;
      continue;
    }
    if (n == 0) break; /* end of file */
    if (errno == EINTR) continue;
    if (errno == EAGAIN) break;
    if (total == 0) total = -(int64_t)errno;
    break;
  }
  napi_create_int64(env, total, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "sendfile", NAPI_AUTO_LENGTH, Sendfile, NULL, &fn);
  napi_set_named_property(env, exports, "sendfile", fn);
  return exports;
}
