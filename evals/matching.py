"""Evidence matching for the evaluations: the ingest's quote matching, one rule for both."""

from __future__ import annotations

from ingest.matching import contains, tokens

__all__ = ["contains", "tokens"]
