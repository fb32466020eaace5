#include "isa.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace projnative {

namespace {

Isa initial_isa() {
  Isa best = detect_isa();
  Isa wanted;
  const char* env = std::getenv("PROJ_NATIVE_ISA");
  if (env != nullptr && parse_isa(env, &wanted) && static_cast<int>(wanted) <= static_cast<int>(best)) return wanted;
  return best;
}

Isa& current() {
  static Isa isa = initial_isa();
  return isa;
}

}  // namespace

Isa detect_isa() {
#if PROJ_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw")) {
    return Isa::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::kAvx2;
#endif
  return Isa::kScalar;
}

Isa current_isa() { return current(); }

bool select_isa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(detect_isa())) return false;
  current() = isa;
  return true;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx2: return "avx2";
    default: return "scalar";
  }
}

bool parse_isa(const char* name, Isa* isa) {
  for (Isa candidate : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (std::strcmp(name, isa_name(candidate)) == 0) {
      *isa = candidate;
      return true;
    }
  }
  return false;
}

}  // namespace projnative
