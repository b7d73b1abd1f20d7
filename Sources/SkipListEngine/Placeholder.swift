// SkipListEngine: written in SkipList.swift.
