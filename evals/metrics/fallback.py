"""LLM fallback: ``llm_fallback_rate``, the share of the LLM's answers that were not shown.

An answer is worded by the language model (``HANDBOOK_LLM``) only when the model's reply passes
verification; otherwise the user sees the extractive answer with a notice. This metric counts how
often that happens.

Step by step:

1. An item applies when the assistant asked the model for its answer: the answer's timings hold
   ``llm_ms`` (no LLM configured, a refusal, a checklist or a next-step proposal: not applicable, so
   an extractive run reports n/a).
2. The item's value is 1 when the shown answer is not the model's (``answer.backend != "llm"``: the
   model failed, timed out, or wrote no sentence its sources support), else 0.
3. The aggregate is the mean: the share of the model's answers that fell back (lower is better).
"""

from __future__ import annotations

from evals.metrics.base import Metric, Sample, Score


class LLMFallbackRate(Metric):
    """Share of the answers asked of the LLM that fell back to the extractive answer."""

    name = "llm_fallback_rate"
    lower_is_better = True

    def score(self, sample: Sample) -> Score | None:
        """1 when the model was asked and its answer was not shown, 0 when it was; None when not asked."""
        if "llm_ms" not in sample.answer.timings_ms:
            return None
        return Score(0.0 if sample.answer.backend == "llm" else 1.0)
