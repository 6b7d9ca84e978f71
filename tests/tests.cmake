# The worked example at the top of include/deepc.h, cut out between its
# BEGIN/END EXAMPLE markers, becomes the body of tests/test_header_example.c.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/include/deepc.h)
file(READ ${CMAKE_SOURCE_DIR}/include/deepc.h DEEPC_HEADER)
string(REGEX MATCH "// BEGIN EXAMPLE\n(.*)// END EXAMPLE" _unused "${DEEPC_HEADER}")
if(NOT CMAKE_MATCH_1)
  message(FATAL_ERROR "include/deepc.h: no BEGIN/END EXAMPLE block")
endif()
string(REGEX REPLACE "//   " "" DEEPC_EXAMPLE "${CMAKE_MATCH_1}")
file(WRITE ${CMAKE_BINARY_DIR}/generated/header_example.inc "${DEEPC_EXAMPLE}")

# Every tests/test_*.c is one executable and one CTest test. A test exits
# non-zero on any failure and prints its own "N passed, N failed" line.
file(GLOB DEEPC_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/test_*.c)
# Seconds a test may run: 300, and more in the sanitizer build (scripts/sanitize.sh)
set(DEEPC_TEST_TIMEOUT 300 CACHE STRING "CTest timeout per test, seconds")
foreach(src ${DEEPC_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/harness.c)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(${name} PRIVATE deepc_static)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "DEEPC_SOURCE_DIR=${CMAKE_SOURCE_DIR};DEEPC_BIN=$<TARGET_FILE:deepc>;OMP_NUM_THREADS=2"
    TIMEOUT ${DEEPC_TEST_TIMEOUT})
endforeach()
# CLI end-to-end tests are shell scripts.
file(GLOB DEEPC_SH_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/cli_*.sh)
foreach(src ${DEEPC_SH_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME ${name} COMMAND bash ${src})
  set_tests_properties(${name} PROPERTIES
    ENVIRONMENT "DEEPC_SOURCE_DIR=${CMAKE_SOURCE_DIR};DEEPC_BIN=$<TARGET_FILE:deepc>"
    TIMEOUT ${DEEPC_TEST_TIMEOUT})
endforeach()
# Test tools (not tests themselves).
add_executable(model_diff ${CMAKE_SOURCE_DIR}/tests/tools/model_diff.c)
target_link_libraries(model_diff PRIVATE deepc_static)
add_executable(png_colors ${CMAKE_SOURCE_DIR}/tests/tools/png_colors.c)
target_link_libraries(png_colors PRIVATE PNG::PNG)
