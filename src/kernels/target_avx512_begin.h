// target_avx512_begin.h — opens a region compiled for AVX-512 (F, BW, VL, DQ)
// with AVX2+FMA, and AVX-512 VNNI when DC_TARGET_VNNI is defined (VNNI and
// VBMI's byte permutes when DC_TARGET_VBMI is); close it with
// kernels/target_end.h. The rules of target_avx2_begin.h apply.
#if defined(DC_TARGET_VBMI)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512vbmi,avx2,fma")
#endif
#elif defined(DC_TARGET_VNNI)
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma")
#endif
#else
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")
#endif
#endif
