"""Reusable widgets of the handset UI."""
