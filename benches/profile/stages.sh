#!/bin/bash
# The inclusive share of each stage of the gateway in a `perf record
# --call-graph dwarf` profile taken with benches/profile/run.sh (BENCHMARKS.md,
# section 3): multiply by the CPU per message the run printed.
#
#   benches/profile/stages.sh perf.data
report=$(perf report -i "$1" --children --sort sym --stdio -g none 2>/dev/null)
share() { grep -E "\] $1" <<<"$report" | head -1 | awk '{print $1}'; }
for stage in \
  "ingest task:ganglion::ingest::run::" \
  "router task:ganglion::router::Router::run::" \
  "module task:ganglion::supervisor::Supervisor::serve::" \
  "  the wasm call:wasmtime::runtime::component::func::typed::TypedFunc<Params,Return>::call_impl" \
  "\$upstream sink:ganglion::upstream::run::" \
  "uplink task:ganglion::uplink::run::" \
  "blocking pool (with the workers of a multi-thread runtime):tokio::runtime::blocking::pool::Inner::run" \
  "  fdatasync:__x64_sys_fdatasync" \
  "parking (scheduler):tokio::runtime::scheduler::.*park" \
  "futex:__x64_sys_futex"; do
  printf "%-60s %s\n" "${stage%%:*}" "$(share "${stage#*:}")"
done
