"""The VFT/TVA model family: vein subspace layers, the APT language model and its standard baseline.

    from seetrain.apt.model import APTConfig, APTLanguageModel
    model = APTLanguageModel(APTConfig(d_model=64, n_heads=4, n_layers=2, rank=16))
"""

from .attention import StandardAttention, TVAAttention, attention_bias
from .blocks import StandardBlock, VFTBlock, VFTFeedForward
from .config import APTConfig
from .lm import MODEL_TYPES, APTLanguageModel, LMOutput, StandardLanguageModel, filter_logits
from .vein import NormalCompensator, VeinProjector

__all__ = [
    "APTConfig", "APTLanguageModel", "StandardLanguageModel", "LMOutput", "MODEL_TYPES",
    "VeinProjector", "NormalCompensator", "TVAAttention", "StandardAttention", "attention_bias",
    "VFTFeedForward", "VFTBlock", "StandardBlock", "filter_logits",
]
