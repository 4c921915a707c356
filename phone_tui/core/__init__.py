"""Core services shared by every layer: time, randomness, paths, settings, logging."""
