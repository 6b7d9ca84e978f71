// version.c — the library's version at run time (DC_VERSION in deepc.h is
// the single source; CMake reads it from there for the SONAME and the
// pkg-config and CMake package files).
#include "deepc.h"

const char *dc_version(void) { return DC_VERSION; }
