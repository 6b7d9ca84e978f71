// test_header_example.c — compiles and runs the worked example at the top of
// include/deepc.h (cut out by tests/tests.cmake into header_example.inc), so
// the documented usage cannot drift from the real API.
#include <stdio.h>
#include "deepc.h"

static int example(void) {
#include "header_example.inc"
    return 0;
}

int main(void) {
    int rc = example();
    printf("%d passed, %d failed\n", rc == 0, rc != 0);
    return rc;
}
