"""LLM-judged metrics (optional): ragas ``faithfulness`` and ``answer_relevancy``.

These need a language model as judge, so they run only with ``--judge``, an LLM configured
(``settings.llm`` other than ``none``) and the ``ragas`` package installed. Otherwise the run records
why they were skipped; they are never estimated or faked.

Step by step, when they run:

1. Build a ragas ``EvaluationDataset`` of single-turn samples: the question (``user_input``), the
   answer (``response``), the retrieved chunk texts (``retrieved_contexts``) and the reference answer.
2. Wrap the configured LangChain chat model and the bundled embedding model for ragas.
3. ``ragas.evaluate`` with ``Faithfulness`` (share of the answer's statements the contexts infer) and
   ``ResponseRelevancy`` (similarity of questions regenerated from the answer to the real question).
4. Report the mean of each over the items ragas scored.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field

JUDGE_METRICS = ("faithfulness", "answer_relevancy")


class JudgeResult(BaseModel):
    """What the judge did: ``skipped`` (with the reason), ``ok`` (with metrics) or ``failed``."""

    status: str = "skipped"
    reason: str = "not requested (run with --judge)"
    metrics: dict[str, float | None] = Field(default_factory=dict)


def skip_reason(llm: str) -> str | None:
    """Why the judge cannot run with this LLM setting in this environment, or None when it can."""
    if (llm or "none").strip().lower() == "none":
        return "no LLM configured (set --llm or HANDBOOK_LLM)"
    try:
        import ragas  # noqa: F401
    except ImportError:
        return "ragas is not installed (pip install ragas)"
    return None


def run_judge(rows: Sequence[dict[str, Any]], chat_model: Any, embedder: Any) -> JudgeResult:
    """Run the ragas judge over export-style rows (user_input, response, retrieved_contexts, reference)."""
    try:
        from ragas import EvaluationDataset, evaluate
        from ragas.embeddings import LangchainEmbeddingsWrapper
        from ragas.llms import LangchainLLMWrapper
        from ragas.metrics import Faithfulness, ResponseRelevancy

        dataset = EvaluationDataset.from_list([dict(r) for r in rows])
        result = evaluate(
            dataset,
            metrics=[Faithfulness(), ResponseRelevancy()],
            llm=LangchainLLMWrapper(chat_model),
            embeddings=LangchainEmbeddingsWrapper(embedder),
            show_progress=False,
        )
        frame = result.to_pandas()
    except Exception as exc:  # a judge failure must not lose the run: it is recorded instead
        return JudgeResult(status="failed", reason=f"{type(exc).__name__}: {exc}")
    metrics: dict[str, float | None] = {}
    for name in JUDGE_METRICS:
        values = [float(v) for v in frame.get(name, []) if v is not None and not math.isnan(float(v))]
        metrics[name] = sum(values) / len(values) if values else None
    return JudgeResult(
        status="ok", reason=f"ragas with {type(chat_model).__name__} as judge", metrics=metrics
    )
