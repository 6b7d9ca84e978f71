#!/usr/bin/env bash
# cli_install.sh — the installed library: `cmake --install` of this build
# into a temporary prefix, then a small C program built against that copy
# with nothing but `pkg-config --cflags --libs deepc` (and once statically,
# `pkg-config --static`), and a CMake project using find_package(deepc). The
# program trains nothing: it checks the version, builds LeNet-5, runs it on
# a zero image and loads a model file written by this build's deepc.
# Checks the versioned SONAME and that the installed program says its version.
. "$(dirname "$0")/lib_cli.sh"
cli_begin install
BIN=${DEEPC_BIN:?}
BUILD=$(dirname "$BIN")
P="$T/prefix"
VERSION=$(sed -n 's/^#define DC_VERSION "\(.*\)"/\1/p' "$DEEPC_SOURCE_DIR/include/deepc.h")

expect_ok "cmake --install" cmake --install "$BUILD" --prefix "$P"
for f in bin/deepc include/deepc.h lib/libdeepc.a lib/pkgconfig/deepc.pc lib/cmake/deepc/deepcConfig.cmake \
         lib/cmake/deepc/deepcConfigVersion.cmake lib/cmake/deepc/deepcTargets.cmake; do
  [ -e "$P/$f" ] && ok || bad "not installed: $f"
done
MAJMIN=${VERSION%.*}
[ -f "$P/lib/libdeepc.so.$VERSION" ] && [ -L "$P/lib/libdeepc.so.$MAJMIN" ] && [ -L "$P/lib/libdeepc.so" ] && ok \
  || bad "shared library and its links: $(ls "$P/lib")"
soname=$(readelf -d "$P/lib/libdeepc.so.$VERSION" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libdeepc.so.$MAJMIN" ] && ok || bad "SONAME '$soname', want libdeepc.so.$MAJMIN"
"$P/bin/deepc" --version > "$T/v" && grep -qx "deepc $VERSION" "$T/v" && ok || bad "deepc --version: $(cat "$T/v")"

cat > "$T/prog.c" <<'C'
#include <deepc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
    dc_error err;
    if (strcmp(dc_version(), DC_VERSION)) { printf("version %s vs header %s\n", dc_version(), DC_VERSION); return 1; }
    dc_model *m;
    if (dc_model_builtin(&m, "lenet5", 1, 28, 28, 10, &err)) { printf("%s\n", err.msg); return 1; }
    dc_rng r;
    dc_rng_seed(&r, 1);
    dc_model_init_params(m, &r);
    float x[784] = {0}, p[10];
    if (dc_model_predict(m, x, 1, p, 1, &err)) { printf("%s\n", err.msg); return 1; }
    float s = 0;
    for (int k = 0; k < 10; k++) s += p[k];
    if (dc_model_save(m, argv[1], &err)) { printf("%s\n", err.msg); return 1; }
    dc_model *l;
    if (dc_model_load(&l, argv[1], &err)) { printf("%s\n", err.msg); return 1; }
    printf("deepc %s: %zu parameters, probabilities sum to %.4f, reloaded %zu\n", dc_version(), dc_model_num_params(m), s,
           dc_model_num_params(l));
    dc_model_free(l);
    dc_model_free(m);
    return 0;
}
C
export PKG_CONFIG_PATH="$P/lib/pkgconfig"
[ "$(pkg-config --modversion deepc)" = "$VERSION" ] && ok || bad "pkg-config --modversion: $(pkg-config --modversion deepc 2>&1)"
cflags=$(pkg-config --cflags deepc) && libs=$(pkg-config --libs deepc) && ok || bad "pkg-config deepc"
echo "  pkg-config: $cflags $libs"
case "$cflags $libs" in *"$P"*) ok ;; *) bad "pkg-config flags do not point into the prefix: $cflags $libs" ;; esac
expect_ok "cc with pkg-config flags" cc -std=c11 -Wall -Werror "$T/prog.c" $cflags $libs -o "$T/prog"
expect_ok "the program runs against the installed libdeepc.so" env LD_LIBRARY_PATH="$P/lib" "$T/prog" "$T/m.safetensors"
grep -q "deepc $VERSION: 61706 parameters, probabilities sum to 1.0000, reloaded 61706" "$T/out" && ok || bad "program output: $(cat "$T/out")"
LD_LIBRARY_PATH="$P/lib" ldd "$T/prog" | grep -q "libdeepc.so.$MAJMIN => $P/lib/" && ok || bad "not linked to the installed copy: $(LD_LIBRARY_PATH="$P/lib" ldd "$T/prog" | grep deepc)"
expect_ok "static link with pkg-config --static" sh -c "cc -std=c11 '$T/prog.c' $cflags '$P/lib/libdeepc.a' \$(pkg-config --static --libs-only-other --libs-only-l deepc | sed 's/-ldeepc//') -o '$T/prog_static' && '$T/prog_static' '$T/m2.safetensors'"
"$BIN" summary "$T/m.safetensors" > /dev/null && ok || bad "the CLI reads the program's model"

# a CMake project: find_package(deepc) and the imported target deepc::deepc
mkdir -p "$T/cm"
cp "$T/prog.c" "$T/cm/prog.c"
cat > "$T/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.18)
project(uses_deepc C)
find_package(deepc 0.8 REQUIRED)
add_executable(prog prog.c)
target_link_libraries(prog PRIVATE deepc::deepc)
CM
expect_ok "cmake find_package(deepc)" cmake -S "$T/cm" -B "$T/cm/build" -DCMAKE_PREFIX_PATH="$P"
expect_ok "cmake build against deepc::deepc" cmake --build "$T/cm/build"
expect_ok "the CMake-built program runs" env LD_LIBRARY_PATH="$P/lib" "$T/cm/build/prog" "$T/m3.safetensors"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
