"""Lazy imports (the resilience primitives are tested in test_resilience.py)."""


import pytest

from seetrain import lazy
from tests._child import run_python


def test_import_seetrain_loads_nothing_heavy():
    code = ("import sys, seetrain; seetrain.init; seetrain.log; "
            "print(' '.join(m for m in ('torch','numpy','PIL','lightning','transformers','tenacity','psutil') if m in sys.modules))")
    out = run_python(["-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_missing_extra_is_named():
    with pytest.raises(ImportError, match=r'pip install "seetrain\[lightning\]"'):
        lazy.require("definitely_not_installed_pkg", "lightning")
    mod = lazy.LazyModule("json")
    assert mod.dumps({"a": 1}) == '{"a": 1}'
    with pytest.raises(ImportError, match="seetrain\\[gpu\\]"):
        lazy.LazyModule("nope_missing_mod", "gpu").anything
