/*
 * Listening sockets that share one port (SO_REUSEPORT), for http/listeners.ts.
 *
 * Why: libuv (1.46, Node 20) accepts ONE connection per listening socket per turn of the event
 * loop. Under a flood of new connections (a client that reconnects as fast as it is refused) and
 * an upload that keeps the loop busy, the accept queue grew to 162–315 waiting connections and a
 * legitimate client's new connection waited 0.7–5 s for its turn (measured with `ss -ltn` and
 * strace: one accept4 between two epoll_pwait). With N sockets on the port the kernel spreads new
 * connections over N queues and the loop accepts N per turn. Node 20 cannot open them itself
 * (`reusePort` came to net.Server.listen in Node 22.12); no maintained npm package does this.
 *
 * listenReusePort(address, port, count, backlog) -> array of `count` listening descriptors, all
 * bound to `address` (an IPv4 or IPv6 literal; `::` takes IPv4 too, as Node's own listen does) and one port (`port`, or the one the kernel picked
 * for the first when `port` is 0), or a negative errno (nothing left open): -EADDRINUSE when
 * anything listens on the port already, -EAFNOSUPPORT for an address it does not parse (a scoped
 * IPv6 address: the caller listens the ordinary way then).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "napi-args.h"

#define MAX_SOCKETS 64

/* One socket bound to the address with SO_REUSEPORT, listening; its descriptor or -errno. */
static int open_one(const struct sockaddr *addr, socklen_t len, int backlog) {
  int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int on = 1;
  int off = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0 ||
      /* '::' takes IPv4 too whatever net.ipv6.bindv6only says, as libuv's listen does. */
      (addr->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0) ||
      bind(fd, addr, len) != 0 || listen(fd, backlog) != 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

static napi_value ListenReusePort(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char text[INET6_ADDRSTRLEN + 1];
  size_t text_len = 0;
  int32_t port = 0, count = 0, backlog = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 4 ||
      napi_get_value_string_utf8(env, argv[0], text, sizeof text, &text_len) != napi_ok ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok ||
      napi_get_value_int32(env, argv[2], &count) != napi_ok ||
      napi_get_value_int32(env, argv[3], &backlog) != napi_ok || port < 0 || port > 65535 || count < 1 ||
      count > MAX_SOCKETS || backlog < 1) {
    napi_throw_type_error(env, NULL, "listenReusePort(address, port, count, backlog)");
    return NULL;
  }
  struct sockaddr_storage storage;
  memset(&storage, 0, sizeof storage);
  socklen_t len;
  struct sockaddr_in *v4 = (struct sockaddr_in *)&storage;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&storage;
  if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    len = sizeof *v6;
  } else {
    napi_value result;
    napi_create_int32(env, -EAFNOSUPPORT, &result);
    return result;
  }
  /*
   * The port must be free first, as for Node's own listen: sockets that all set SO_REUSEPORT may
   * share a port, so a second server started on the same port by the same user would otherwise
   * not fail with EADDRINUSE, and would take half of the first one's connections. A plain socket
   * cannot bind where anything listens (SO_REUSEADDR only passes connections in TIME_WAIT).
   */
  if (port != 0) {
    int probe = socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int on = 1;
    int err = 0;
    int off = 0;
    if (probe < 0) err = errno;
    else if (storage.ss_family == AF_INET6 && setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) != 0)
      err = errno;
    else if (setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
             bind(probe, (struct sockaddr *)&storage, len) != 0)
      err = errno;
    if (probe >= 0) close(probe);
    if (err != 0) {
      napi_value result;
      napi_create_int32(env, -err, &result);
      return result;
    }
  }
  int fds[MAX_SOCKETS];
  int opened = 0;
  int failure = 0;
  for (; opened < count; opened++) {
    int fd = open_one((struct sockaddr *)&storage, len, backlog);
    if (fd < 0) {
      failure = fd;
      break;
    }
    fds[opened] = fd;
    /* Port 0: the others join the port the kernel gave the first. */
    if (opened == 0 && port == 0) {
      socklen_t got = len;
      if (getsockname(fd, (struct sockaddr *)&storage, &got) != 0) {
        failure = -errno;
        opened++;
        break;
      }
    }
  }
  napi_value result;
  if (failure != 0) {
    for (int i = 0; i < opened; i++) close(fds[i]);
    napi_create_int32(env, failure, &result);
    return result;
  }
  napi_create_array_with_length(env, (size_t)count, &result);
  for (int i = 0; i < count; i++) {
    napi_value fd;
    napi_create_int32(env, fds[i], &fd);
    napi_set_element(env, result, (uint32_t)i, fd);
  }
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  export_function(env, exports, "listenReusePort", ListenReusePort);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
