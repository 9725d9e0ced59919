"""The requirements of the installed ``asr-lstm`` that this Python does not meet, all of them in one report.

For a machine where the package was installed without its dependencies (``pip install --no-deps``
from wheels, on a GPU machine without a network): prints one line per requirement that is missing or
of another version, or ``none``, and exits 1 where there is one.

    python scripts/check_requirements.py [--extras onnx test]
"""

from __future__ import annotations

import argparse
from importlib import metadata

from packaging.requirements import Requirement


def unmet(distribution: metadata.Distribution, extras: list[str]) -> list[str]:
    """``distribution``'s requirements for this platform and ``extras`` that no installed version meets,
    each as ``requirement (installed: version or None)``."""
    found = []
    for line in distribution.requires or []:
        need = Requirement(line)
        if need.marker is not None and not any(need.marker.evaluate({"extra": extra}) for extra in ["", *extras]):
            continue
        try:
            have = metadata.version(need.name)
        except metadata.PackageNotFoundError:
            have = None
        if have is None or not need.specifier.contains(have, prereleases=True):
            found.append(f"{need.name}{need.specifier} (installed: {have})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--extras", nargs="*", default=[], help="optional groups whose requirements count too")
    args = parser.parse_args()
    problems = unmet(metadata.distribution("asr-lstm"), args.extras)
    print("unmet requirements of asr-lstm:", *(problems or ["none"]), sep="\n  ")
    raise SystemExit(1 if problems else 0)


if __name__ == "__main__":
    main()
