// HashEngine: written in HashEngine.swift.
