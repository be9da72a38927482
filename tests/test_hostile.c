/* test_hostile.c */
#include "harness.h"

const test_case hostile_tests[] = {{"hostile_placeholder", NULL}};
const size_t hostile_count = 0;
