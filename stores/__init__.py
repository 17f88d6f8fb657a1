"""Stores: persistent state that every replica shares (the voice library)."""
