#ifndef UID_CPREFETCH_H
#define UID_CPREFETCH_H

/// A hint that `address` will be read soon: the CPU starts loading its cache line and goes on.
/// It never faults, whatever the address, and changes no result; Swift has no spelling for it.
/// Batch lookups (an identity map's salt buckets) issue it for a chunk of keys before reading
/// any of them, so that their cache misses overlap instead of following one another.
static inline void uid_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif
