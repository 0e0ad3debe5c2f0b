"""House rules: the core never imports gradio, and importing it has no heavy side effects."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

CHECK = """
import sys
import debias_core, debias_core.store, debias_core.data, debias_core.jobs, debias_core.cli
import debias_core.train, debias_core.evaluate, debias_core.bias.stats
import debias_core.generate, debias_core.verify, debias_core.models.segmenters
import debias_core.report, debias_core.report.html
assert "gradio" not in sys.modules, "the core imported gradio"
assert "diffusers" not in sys.modules, "importing the core loaded diffusers"
assert "transformers" not in sys.modules, "importing the core loaded transformers"
print("ok")
"""


def test_core_never_imports_gradio_or_loads_models():
    out = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_no_core_module_imports_gradio_anywhere():
    offenders = [
        p
        for p in (ROOT / "debias_core").rglob("*.py")
        if "import gradio" in p.read_text() or "from gradio" in p.read_text()
    ]
    assert offenders == []
