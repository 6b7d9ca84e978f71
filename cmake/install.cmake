# install.cmake — what `cmake --install` puts where (GNUInstallDirs):
#   bin/deepc                               the program
#   lib/libdeepc.so.X.Y.Z, .so.X.Y, .so     the shared library and its links
#   lib/libdeepc.a                          the static library
#   include/deepc.h                         the public header
#   lib/pkgconfig/deepc.pc                  pkg-config --cflags --libs deepc
#   lib/cmake/deepc/deepcConfig*.cmake      find_package(deepc) -> deepc::deepc
# Both metadata files are relocatable: they find the prefix from their own
# location, so `cmake --install build --prefix DIR` works for any DIR.
include(CMakePackageConfigHelpers)

install(TARGETS deepc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS deepc_shared EXPORT deepcTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS deepc_static ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/deepc.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# pkg-config: the shared library for plain linking; Requires.private and
# Libs.private list what a static link (pkg-config --static) also needs
# (libcsv and OpenMP have no .pc file of their own).
set(DEEPC_PC_REQUIRES "zlib libpng libjpeg libzip libcjson libsodium libprotobuf-c")
if(MPI_C_FOUND)
  string(APPEND DEEPC_PC_REQUIRES " ompi-c")
endif()
set(DEEPC_PC_PRIVATE "-lcsv -fopenmp -lm")
# the prefix relative to the .pc file: one ".." per component of
# LIBDIR/pkgconfig (lib/pkgconfig, or lib/x86_64-linux-gnu/pkgconfig)
file(RELATIVE_PATH DEEPC_PC_UP "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
string(REGEX REPLACE "/$" "" DEEPC_PC_UP "${DEEPC_PC_UP}")
configure_file(${CMAKE_SOURCE_DIR}/cmake/deepc.pc.in ${CMAKE_BINARY_DIR}/deepc.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/deepc.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

install(EXPORT deepcTargets NAMESPACE deepc:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/deepc)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/deepcConfig.cmake.in
  ${CMAKE_BINARY_DIR}/deepcConfig.cmake INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/deepc)
# 0.x: a different minor version is a different ABI
write_basic_package_version_file(${CMAKE_BINARY_DIR}/deepcConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/deepcConfig.cmake ${CMAKE_BINARY_DIR}/deepcConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/deepc)
