/* test_blocking.c */
#include "harness.h"

const test_case blocking_tests[] = {{"blocking_placeholder", NULL}};
const size_t blocking_count = 0;
