#ifndef UID_CALLOCATOR_H
#define UID_CALLOCATOR_H

#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

/// Sets glibc's mmap and trim thresholds (`mallopt`), which Swift's Glibc module does not
/// import; returns 1 when both were set, 0 otherwise (and always 0 without glibc).
static inline int uid_set_allocator_thresholds(int mmap_threshold, int trim_threshold) {
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1;
#else
    (void)mmap_threshold;
    (void)trim_threshold;
    return 0;
#endif
}

#endif
