// report.h — internals of the HTML model report (src/report/report.c),
// exposed so that tests/test_report.c can check them one by one: a growable
// string buffer that escapes HTML and encodes base64, and the tick rule of
// the SVG charts.
//
// Base64 is written here (20 lines, RFC 4648 with padding) rather than taken
// from a library: no Debian package the project already needs provides it,
// and a data: URI needs nothing more.
#ifndef DC_REPORT_H
#define DC_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/core.h"

// A growable NUL-terminated string. Appends never fail loudly: an allocation
// failure sets `oom`, later appends are ignored, and the caller checks `oom`
// once at the end (so the page code is not a thicket of checks).
typedef struct dc_sb {
    char *s;     // (cap) bytes, s[len] == 0; NULL until the first append
    size_t len;  // characters written
    size_t cap;  // bytes allocated
    bool oom;    // an append could not grow the buffer
} dc_sb;

void dc_sb_free(dc_sb *b);
void dc_sb_put(dc_sb *b, const char *s);
void dc_sb_putn(dc_sb *b, const char *s, size_t n);
void dc_sb_printf(dc_sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// s with & < > " ' escaped as entities and control characters other than
// tab and newline replaced by U+FFFD, so it is safe as text and inside a
// quoted attribute, in HTML and in inline SVG alike.
void dc_sb_escape(dc_sb *b, const char *s);
// n bytes as base64 (RFC 4648, '=' padding, no line breaks).
void dc_sb_base64(dc_sb *b, const uint8_t *p, size_t n);

// Base64 of in (n bytes) into out, which needs 4*((n+2)/3)+1 bytes; returns
// the length written (without the NUL).
size_t dc_base64_encode(char *out, const uint8_t *in, size_t n);

// Axis ticks: a step of 1, 2 or 5 times a power of ten giving at most
// max_ticks (>= 2) ticks that cover [lo, hi] (lo < hi, both finite). *first
// and *step receive the first tick and the step; returns the tick count, so
// the ticks are first + i*step for i in [0, count).
int dc_nice_ticks(double lo, double hi, int max_ticks, double *first, double *step);

#endif
