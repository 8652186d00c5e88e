// The header's one function is `static inline`; SwiftPM needs a source file to build the target.
#include "CAllocator.h"
