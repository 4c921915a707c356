"""Flows: one TOML language for scripted demos, training scenarios and snapshot checks."""
