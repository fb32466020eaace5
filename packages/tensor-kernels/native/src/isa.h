// Runtime CPU dispatch, in one place: which instruction set the kernels use. Chosen once from the CPU
// (`__builtin_cpu_supports`, which also checks that the OS saves the AVX/AVX-512 registers), overridable with the
// PROJ_NATIVE_ISA environment variable (scalar | avx2 | avx512) or `setIsa` from JS (tests run every variant).
#pragma once

namespace projnative {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

// The best ISA this CPU supports.
Isa detect_isa();
// The ISA kernels use now.
Isa current_isa();
// Selects `isa` if the CPU supports it; returns false (and changes nothing) otherwise.
bool select_isa(Isa isa);
const char* isa_name(Isa isa);
bool parse_isa(const char* name, Isa* isa);

}  // namespace projnative

#if defined(__x86_64__) || defined(__i386__)
#define PROJ_X86 1
#define PROJ_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define PROJ_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#else
#define PROJ_X86 0
#endif
