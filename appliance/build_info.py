"""Which build of the appliance this is, for `appliance --version` and for technicians' reports.

packaging/build writes a one-line stamp ("COMMIT DATE", e.g. "3f2a9c1 2026-11-21") and bundles it
as the data file appliance/BUILD inside the binary; a run from source has no such file.
"""

from __future__ import annotations

from pathlib import Path

from appliance import __version__

# Beside this module in the package: PyInstaller unpacks data files under the same package path, so
# one lookup serves both the binary and a source tree.
STAMP_FILE = Path(__file__).resolve().parent / "BUILD"


def build_id() -> str | None:
    """The stamp of the binary this runs in ("3f2a9c1 2026-11-21"), or None when run from source."""
    try:
        return STAMP_FILE.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def version_text() -> str:
    """'0.1.0 (build 3f2a9c1 2026-11-21)' in the binary, '0.1.0 (build: source)' from source."""
    stamp = build_id()
    return f"{__version__} (build {stamp})" if stamp else f"{__version__} (build: source)"
