"""trackers adapters (one file per framework, imported lazily)."""
