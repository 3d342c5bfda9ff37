"""Building blocks of the multimodal-training plugin: data (``data``), encoders (``encoders``),
the fusion model (``model``) and a synthetic task that needs all three modalities (``synthetic``)."""
