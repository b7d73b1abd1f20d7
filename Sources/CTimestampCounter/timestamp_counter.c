// Empty: the time-stamp counter reads are static inline functions in the header (SwiftPM needs a source file).
#include "CTimestampCounter.h"
