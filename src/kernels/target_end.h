// target_end.h — closes the region opened by kernels/target_avx2_begin.h or
// kernels/target_avx512_begin.h.
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
