"""Ingest: load, clean, segment, chunk, embed and store handbook documents."""
