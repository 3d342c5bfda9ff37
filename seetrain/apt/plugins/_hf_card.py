"""The model card (README.md) that huggingface-integration writes next to an exported model."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

_CARD_TEMPLATE = """---
{{ card_data }}
---

# {{ model_name }}

{{ description }}

{% if metrics %}## Evaluation

| metric | value |
| --- | --- |
{% for k, v in metrics.items() %}| {{ k }} | {{ v }} |
{% endfor %}{% endif %}
## Usage

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("{{ repo_id }}", trust_remote_code=True)
tokenizer = AutoTokenizer.from_pretrained("{{ repo_id }}")
```

{{ extra }}
Trained and exported with SeeTrain.
"""


class _ModelCardMixin:
    """``create_model_card`` of :class:`~.huggingface_integration.HuggingFaceIntegrationPlugin`."""

    def create_model_card(self, model_name: str, description: str = "", metrics: Optional[Mapping[str, float]] = None,
                          base_model: Optional[str] = None, datasets: Optional[Sequence[str]] = None,
                          tags: Optional[Sequence[str]] = None, license: Optional[str] = None,
                          language: Optional[str] = "en", repo_id: Optional[str] = None) -> Any:
        """A ``huggingface_hub.ModelCard`` with YAML metadata (``ModelCardData``; metrics as ``model-index``)."""
        from huggingface_hub import EvalResult, ModelCard, ModelCardData

        metrics = {k: float(v) for k, v in dict(metrics or {}).items()}
        dataset = (list(datasets) or ["custom"])[0] if datasets else "custom"
        evals = [EvalResult(task_type="text-generation", dataset_type=dataset, dataset_name=dataset,
                            metric_type=k, metric_name=k, metric_value=v) for k, v in metrics.items()]
        data = ModelCardData(
            model_name=model_name, license=license or self.config.get("license"), language=language,
            library_name="transformers", pipeline_tag="text-generation",
            tags=sorted(set(["seetrain", "apt", *(tags or [])])), base_model=base_model,
            datasets=list(datasets) if datasets else None, eval_results=evals or None)
        return ModelCard.from_template(data, template_str=_CARD_TEMPLATE, model_name=model_name,
                                       description=description, metrics=metrics, repo_id=repo_id or model_name,
                                       extra="")
