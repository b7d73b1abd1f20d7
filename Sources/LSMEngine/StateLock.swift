// The engine's state lock, on which writers and the background thread wait for each other.

import KVCore

/// KVCore's `ConditionLock`, under the name the engine's code uses for its one state lock.
typealias StateLock = ConditionLock
