"""`python -m bench [name ...]`: run benchmarks (bench/<name>.py, each with a main(report)).

With no name, every benchmark module runs in turn. Results go to bench/results/.
"""

import importlib
import pkgutil
import sys
from pathlib import Path

from bench.common import Report, setup_django

SKIP = {"common", "__main__"}


def available() -> list[str]:
    here = Path(__file__).parent
    return sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if m.name not in SKIP and not m.name.startswith("_")
    )


def main(argv: list[str]) -> int:
    names = argv or available()
    setup_django()
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        report = Report(section=name)
        print(f"== {name}: {module.__doc__.strip().splitlines()[0] if module.__doc__ else ''}", flush=True)
        module.main(report)
        print(f"   saved {report.save()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
