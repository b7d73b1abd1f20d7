// Linking this module makes jemalloc (Debian's libjemalloc-dev, built without a symbol prefix)
// the process's malloc, as Redis does.
#include <jemalloc/jemalloc.h>
