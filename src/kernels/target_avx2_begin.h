// target_avx2_begin.h — opens a region compiled for AVX2+FMA; close it with
// kernels/target_end.h. Include it after every header the region needs, so
// only the kernel itself is compiled for the wider instruction set and the
// wrappers after the region run on any CPU. (No include guard: a file may
// open several regions.) gcc takes the target region as a pragma; clang
// ignores that pragma and needs its attribute form (the fuzz build).
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif
