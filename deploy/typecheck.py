"""Run mypy, strict, over the product, the tests, the deploy scripts and the dev tools.

The design card's folders (streams/, sinks/, schemas/, rules/) are installed as
sub-packages of `dossierflow` through setuptools' package-dir, which mypy cannot follow;
this builds a tree of symbolic links in that layout, beside `tests`, `deploy` and
`devtools`, and checks it all strictly.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("rules", "streams", "sinks", "schemas")
CHECKED_TOO = ("tests", "deploy", "devtools")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dossierflow-typecheck-") as tmp:
        package = Path(tmp) / "dossierflow"
        package.mkdir()
        for module in (ROOT / "src" / "dossierflow").iterdir():
            if module.suffix == ".py" or (module.is_dir() and module.name != "__pycache__"):
                (package / module.name).symlink_to(module)
        for name in SUBPACKAGES:
            (package / name).symlink_to(ROOT / name)
        for name in CHECKED_TOO:
            (Path(tmp) / name).symlink_to(ROOT / name)
        packages = [arg for name in ("dossierflow", *CHECKED_TOO) for arg in ("-p", name)]
        command = [
            sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
            *packages, "--cache-dir", str(ROOT / ".mypy_cache"),
        ]
        return subprocess.run(command, cwd=tmp, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
