"""Screens of the handset, as widgets stacked inside a HandsetView."""
