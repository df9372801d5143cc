"""Audit the hash-pinned lock against a vulnerability database (pip-audit); CI runs it.

    .venv/bin/python deploy/audit.py [--lock FILE] [pip-audit options]

e.g. `--vulnerability-service osv --osv-url https://osv.mirror.example/v1/query` where the
data centre keeps its own mirror, `--ignore-vuln ID` for an accepted risk (say why in the
commit). Exit codes: 0 every locked package was checked and none has a known
vulnerability; 1 at least one has (the table names the versions that fix it); 2 the audit
did not happen, because the database could not be reached, answered an error or did not
know a package: that is said as such, never as "no known vulnerabilities".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOT_AUDITED = 2


def _audit(lock: Path, options: list[str]) -> tuple[subprocess.CompletedProcess[str], Any]:
    """pip-audit's run and its JSON report (None when it wrote none: it stopped early)."""
    with tempfile.TemporaryDirectory(prefix="dossierflow-audit-") as tmp:
        report = Path(tmp) / "audit.json"
        command = [
            sys.executable, "-m", "pip_audit",
            # --strict: a package the database cannot answer for fails the run instead of
            # being skipped; --disable-pip: the hashed lock is audited as written, unresolved.
            "--strict", "--disable-pip", "--requirement", str(lock),
            "--progress-spinner", "off", "--format", "json", "--output", str(report),
            *options,
        ]
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        text = report.read_text() if report.exists() else ""
        return run, json.loads(text) if text.strip() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lock", type=Path, default=ROOT / "constraints.txt")
    args, options = parser.parse_known_args(argv)
    run, report = _audit(args.lock, options)
    dependencies = [] if report is None else report.get("dependencies", [])
    skipped = [d for d in dependencies if "skip_reason" in d]
    vulnerable = [d for d in dependencies if d.get("vulns")]
    if report is None or skipped or (run.returncode != 0 and not vulnerable):
        sys.stderr.write(run.stderr[-4000:])
        for dependency in skipped:
            print(f"{dependency['name']} {dependency.get('version', '')}: "
                  f"{dependency['skip_reason']}", file=sys.stderr)
        print(
            f"audit: NOT AUDITED: the vulnerability database could not be reached, answered "
            f"an error or did not know a package of {args.lock.name} (pip-audit exit "
            f"{run.returncode}, details above); nothing is known about its vulnerabilities",
            file=sys.stderr,
        )
        return NOT_AUDITED
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
            print(f"{dependency['name']} {dependency['version']}: {vuln['id']} "
                  f"(fixed in {fixes})")
    if vulnerable:
        print(f"audit: {len(vulnerable)} of {len(dependencies)} locked packages have known "
              f"vulnerabilities: raise their pins (deploy/lock.sh) or, for an accepted risk, "
              f"--ignore-vuln ID", file=sys.stderr)
        return 1
    print(f"audit: no known vulnerabilities in the {len(dependencies)} packages of "
          f"{args.lock.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
