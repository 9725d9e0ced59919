"""The requirements of the installed ``asr-lstm``, and of what it requires in turn, that this Python does
not meet, all of them in one report.

For a machine where the package was installed without its dependencies (``pip install --no-deps``
from wheels, on a GPU machine without a network): prints one line per requirement that is missing or
of another version, with the distribution that asks for it, or ``none``, and exits 1 where there is one.

    python scripts/check_requirements.py [--extras onnx test]
"""

from __future__ import annotations

import argparse
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def unmet(distribution: metadata.Distribution, extras: list[str]) -> list[str]:
    """The requirements of ``distribution`` (with ``extras``) for this platform, and those of every
    installed distribution they lead to (with the extras asked of it), that no installed version meets:
    each as ``requirement (installed: version or None), required by name``, in the order met."""
    found: list[str] = []
    walked: set[tuple[str, tuple[str, ...]]] = set()

    def walk(dist: metadata.Distribution, extras: tuple[str, ...]) -> None:
        key = (canonicalize_name(dist.metadata["Name"]), extras)
        if key in walked:
            return
        walked.add(key)
        for line in dist.requires or []:
            need = Requirement(line)
            if need.marker is not None and not any(need.marker.evaluate({"extra": e}) for e in ("", *extras)):
                continue
            try:
                have = metadata.distribution(need.name)
            except metadata.PackageNotFoundError:
                have = None
            if have is None or not need.specifier.contains(have.version, prereleases=True):
                version = have.version if have is not None else None
                found.append(f"{need.name}{need.specifier} (installed: {version}), required by {dist.metadata['Name']}")
            else:
                walk(have, tuple(sorted(need.extras)))

    walk(distribution, tuple(sorted(extras)))
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
