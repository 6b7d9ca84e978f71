// placeholder replaced below
#include "cli.h"
int cmd_anonymize(int argc, char **argv) { (void)argc; (void)argv; return 2; }
