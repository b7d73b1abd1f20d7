// KVBench
