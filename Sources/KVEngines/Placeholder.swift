// KVEngines
