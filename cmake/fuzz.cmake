# cmake/fuzz.cmake — the parsers' fuzz harnesses (tests/fuzz/fuzz_<name>.c).
#
# Every build: each harness is also linked with tests/fuzz/replay.c into
# fuzz_replay_<name>, a CTest test that runs it once on every seed in
# tests/fuzz/corpus/<name>/ and every reproducer in
# tests/fuzz/regressions/<name>/ (skipping those listed as still open in
# tests/fuzz/regressions/OPEN). In the -DDEEPC_SANITIZE=ON build that is a
# sanitized replay with gcc.
#
# -DDEEPC_FUZZ=ON (clang only, in its own folder; scripts/fuzz.sh does this):
#   CC=clang cmake -S . -B build-fuzz -DDEEPC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
#   cmake --build build-fuzz --target fuzz_all
# compiles the library with -fsanitize=fuzzer-no-link,address,undefined and
# links each harness with -fsanitize=fuzzer,address,undefined into
# build-fuzz/fuzz_<name>, a libFuzzer binary. fuzz_gen_corpus (any build, not
# built by default) regenerates the seed corpus from deepc's own writers.
option(DEEPC_FUZZ "Build the libFuzzer harnesses of tests/fuzz (needs clang)" OFF)

set(DEEPC_FUZZ_DIR ${CMAKE_SOURCE_DIR}/tests/fuzz)
file(GLOB DEEPC_FUZZ_HARNESSES CONFIGURE_DEPENDS ${DEEPC_FUZZ_DIR}/fuzz_*.c)

if(DEEPC_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DEEPC_FUZZ=ON needs clang for libFuzzer (configure with CC=clang), "
                        "not ${CMAKE_C_COMPILER_ID}")
  endif()
  if(DEEPC_SANITIZE)
    message(FATAL_ERROR "DEEPC_FUZZ=ON already builds with ASan and UBSan: leave DEEPC_SANITIZE off")
  endif()
  set(DEEPC_FUZZ_SAN address,undefined)
  # UBSan stays in its (much cheaper to compile) recoverable mode; the
  # harnesses set halt_on_error=1 (fuzz_util.h), so a report still ends the
  # run as a crash that libFuzzer saves.
  set(DEEPC_FUZZ_CFLAGS -fno-omit-frame-pointer)
  target_compile_options(deepc_obj PRIVATE -fsanitize=fuzzer-no-link,${DEEPC_FUZZ_SAN} ${DEEPC_FUZZ_CFLAGS})
  # UBSan's pointer-overflow check on the unrolled AVX2 register blocks of
  # the kernels makes clang 14 take four minutes for conv_lanes.c alone
  # (45 s without it, 9 s with no sanitizer); no parser reaches a kernel,
  # and the gcc sanitizer build (scripts/sanitize.sh) keeps the check there.
  # With their AVX2/AVX-512 target regions compiled as such, the same files
  # take clang minutes each under ASan as well. The kernels are compiled
  # without sanitizers or coverage here: the parsers never reach them (a
  # model that fuzz_model loads is not run), and the gcc sanitizer build
  # keeps every check on them.
  file(GLOB _deepc_kernels ${CMAKE_SOURCE_DIR}/src/kernels/*.c)
  set_source_files_properties(${_deepc_kernels} PROPERTIES COMPILE_OPTIONS -fno-sanitize=all)
  # clang 14 names a target_clones function NAME.ifunc and never defines
  # NAME itself, so calls from other files (dc_im2col) do not link (fixed in
  # clang 15). The fuzz build takes the portable clone: the attribute becomes
  # a harmless one.
  target_compile_options(deepc_obj PRIVATE "-Dtarget_clones(...)=unused")
  # whatever links the instrumented library needs the sanitizer runtimes
  target_link_options(deepc_static INTERFACE -fsanitize=${DEEPC_FUZZ_SAN})
  target_link_options(deepc_shared PRIVATE -fsanitize=${DEEPC_FUZZ_SAN})
  add_custom_target(fuzz_all)
  message(STATUS "deepc: libFuzzer harnesses enabled (target fuzz_all)")
endif()

foreach(src ${DEEPC_FUZZ_HARNESSES})
  get_filename_component(fuzzer ${src} NAME_WE)      # fuzz_idx
  string(REGEX REPLACE "^fuzz_" "" name ${fuzzer})   # idx
  add_executable(fuzz_replay_${name} ${src} ${DEEPC_FUZZ_DIR}/replay.c)
  target_include_directories(fuzz_replay_${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${DEEPC_FUZZ_DIR})
  target_link_libraries(fuzz_replay_${name} PRIVATE deepc_static)
  add_test(NAME fuzz_replay_${name}
           COMMAND fuzz_replay_${name} --skip ${DEEPC_FUZZ_DIR}/regressions/OPEN
                   ${DEEPC_FUZZ_DIR}/corpus/${name} ${DEEPC_FUZZ_DIR}/regressions/${name})
  set_tests_properties(fuzz_replay_${name} PROPERTIES ENVIRONMENT "OMP_NUM_THREADS=2" TIMEOUT 300)
  if(DEEPC_FUZZ)
    add_executable(${fuzzer} ${src})
    target_include_directories(${fuzzer} PRIVATE ${CMAKE_SOURCE_DIR}/src ${DEEPC_FUZZ_DIR})
    target_compile_options(${fuzzer} PRIVATE -fsanitize=fuzzer,${DEEPC_FUZZ_SAN} ${DEEPC_FUZZ_CFLAGS})
    target_link_options(${fuzzer} PRIVATE -fsanitize=fuzzer,${DEEPC_FUZZ_SAN})
    target_link_libraries(${fuzzer} PRIVATE deepc_static)
    add_dependencies(fuzz_all ${fuzzer})
  endif()
endforeach()

add_executable(fuzz_gen_corpus EXCLUDE_FROM_ALL ${DEEPC_FUZZ_DIR}/gen_corpus.c)
target_include_directories(fuzz_gen_corpus PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(fuzz_gen_corpus PRIVATE deepc_static)
