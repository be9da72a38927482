/*
 * net.c — the C side of networking (the WIT interface `eryx:sandbox/net`,
 * written in Rust: deps/wasmtime/src/net/).
 *
 * C owns the objects, Rust does the work: a sandbox holds the policy
 * compiled from its eryx_net_options (NULL: networking off), and each
 * execution a connection table, made before the guest runs and freed,
 * closing every connection, when it returns (sandbox.c). Rust reaches
 * both, the stop check and the callback queue's eventfd through the hooks
 * below, which it gets as function pointers when the linker is made.
 */
#include "callbacks.h"

#include <string.h>

static void net_state(void *store_data, const eryx_net_policy **policy,
                      eryx_net_table **table) {
  const eryx_store_data *d = store_data;
  struct eryx_sandbox *sb = d ? d->sandbox : NULL;
  *policy = sb ? eryx__sandbox_net_policy(sb) : NULL;
  *table = sb ? eryx__sandbox_net_table(sb) : NULL;
}

static int net_callback_fd(void *store_data) {
  const eryx_store_data *d = store_data;
  return d && d->sandbox ? eryx__callbacks_fd(eryx__sandbox_callbacks(d->sandbox)) : -1;
}

const eryx_net_hooks eryx__net_hooks = {
    .check = eryx__blocking_check,
    .state = net_state,
    .callback_fd = net_callback_fd,
};

eryx_error *eryx__net_policy_from_options(const eryx_sandbox_options *opts,
                                          eryx_net_policy **out) {
  *out = NULL;
  if (!opts || opts->version < 3 || !opts->network)
    return NULL;
  char why[512] = "";
  *out = eryx__net_policy_new(opts->network, why, sizeof why);
  if (!*out)
    return eryx__error_new(ERYX_ERR_INVALID_ARGUMENT, "network: %s", why);
  return NULL;
}
