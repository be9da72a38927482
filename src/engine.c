/*
 * engine.c — the single Wasmtime configuration Eryx uses.
 *
 * The same function configures the engine that pre-compiles the component
 * at build time (tools/precompile.c) and the one that loads it at run time:
 * Wasmtime refuses a .cwasm compiled with different settings, so there must
 * be exactly one place that decides them.
 *
 * Choices:
 *  - pooling allocator: instance slots, memories and tables are reserved once
 *    and recycled, so creating a sandbox is a slot reset, not mmap/munmap;
 *  - copy-on-write memory images: the pre-initialized Python heap is mapped
 *    from the .cwasm file, not copied, so a new sandbox only pays for pages
 *    it touches;
 *  - epoch interruption: one ticker thread per runtime bumps the epoch and
 *    each store checks its own deadline (see runtime.c, sandbox.c).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* What one instance of the componentize-py component needs (it links
 * libc, libpython and a few helper modules into one component). Generous
 * margins: these only bound reservations, not what is used. */
#define CORE_INSTANCES_PER_SANDBOX 32
#define MEMORIES_PER_SANDBOX 2
#define TABLES_PER_SANDBOX 8
#define TABLE_ELEMENTS 100000
#define MAX_MEMORY_BYTES ((size_t)4 << 30) /* wasm32's whole address space */

wasm_config_t *eryx__engine_config(const eryx_engine_limits *limits, bool fuel) {
  wasm_config_t *c = wasm_config_new();
  if (!c)
    return NULL;
  wasmtime_config_wasm_component_model_set(c, true);
  wasmtime_config_epoch_interruption_set(c, true);
  wasmtime_config_consume_fuel_set(c, fuel);
  wasmtime_config_memory_init_cow_set(c, true);
  wasmtime_config_parallel_compilation_set(c, true);
  wasmtime_config_cranelift_opt_level_set(c, WASMTIME_OPT_LEVEL_SPEED);
  /* ERYX_PROFILE=perfmap: Wasmtime writes /tmp/perf-PID.map, so that
   * `perf report` names the guest's compiled functions (bench/README.md).
   * It does not change the generated code: the same .cwasm loads with and
   * without it. (jitdump is not compiled into our Wasmtime.) */
  const char *prof = getenv("ERYX_PROFILE");
  if (prof && strcmp(prof, "perfmap") == 0)
    wasmtime_config_profiler_set(c, WASMTIME_PROFILING_STRATEGY_PERFMAP);

  uint32_t n = limits && limits->max_sandboxes ? limits->max_sandboxes : 1000;
  wasmtime_pooling_allocation_config_t *p =
      wasmtime_pooling_allocation_config_new();
  if (!p) {
    wasm_config_delete(c);
    return NULL;
  }
  wasmtime_pooling_allocation_config_total_component_instances_set(p, n);
  wasmtime_pooling_allocation_config_total_core_instances_set(
      p, n * CORE_INSTANCES_PER_SANDBOX);
  wasmtime_pooling_allocation_config_total_memories_set(
      p, n * MEMORIES_PER_SANDBOX);
  wasmtime_pooling_allocation_config_total_tables_set(p,
                                                      n * TABLES_PER_SANDBOX);
  wasmtime_pooling_allocation_config_max_core_instances_per_component_set(
      p, CORE_INSTANCES_PER_SANDBOX);
  wasmtime_pooling_allocation_config_max_memories_per_component_set(
      p, MEMORIES_PER_SANDBOX);
  wasmtime_pooling_allocation_config_max_tables_per_component_set(
      p, TABLES_PER_SANDBOX);
  wasmtime_pooling_allocation_config_max_memories_per_module_set(p, 1);
  wasmtime_pooling_allocation_config_max_tables_per_module_set(p, 1);
  wasmtime_pooling_allocation_config_table_elements_set(p, TABLE_ELEMENTS);
  wasmtime_pooling_allocation_config_max_memory_size_set(p, MAX_MEMORY_BYTES);
  wasmtime_pooling_allocation_config_max_core_instance_size_set(p, 1 << 20);
  wasmtime_pooling_allocation_config_max_component_instance_size_set(p,
                                                                     1 << 20);
  wasmtime_pooling_allocation_strategy_set(c, p);
  wasmtime_pooling_allocation_config_delete(p);
  return c;
}
