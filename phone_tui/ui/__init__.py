"""Textual UI: the only layer (with the CLI) that imports Textual."""
