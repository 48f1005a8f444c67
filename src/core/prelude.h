/* prelude.h: force-included before every translation unit (see CMakeLists.txt). The C library
 * headers come first so that their own declarations parse; banned.h then poisons the unsafe
 * functions for our code. */
#ifndef SHOULI_PRELUDE_H
#define SHOULI_PRELUDE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>
#include "core/banned.h"
#endif
