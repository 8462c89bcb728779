"""`odb_templates/analyzer.json`: the `/Analyzer/Parameters` defaults, generated from code.

The template must equal `AnalyzerParameters.defaults().to_odb()` (a test checks it); after
changing a default, regenerate it with

    .venv/bin/python -m cygno_mw.analyzers.odb_template
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cygno_mw.analyzers.parameters import AnalyzerParameters

TEMPLATE_NAME = "analyzer.json"


def analyzer_template() -> dict[str, Any]:
    """The ODB subtree, from the root: {"Analyzer": {"Parameters": {"Reco", "Output"}}}."""
    return {"Analyzer": {"Parameters": AnalyzerParameters.defaults().to_odb()}}


def template_text() -> str:
    return json.dumps(analyzer_template(), indent=2) + "\n"


def default_path() -> Path:
    """odb_templates/analyzer.json of this checkout (or installed package)."""
    from cygno_mw.odb_install import templates_dir

    return templates_dir() / TEMPLATE_NAME


def main() -> None:
    path = default_path()
    path.write_text(template_text())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
