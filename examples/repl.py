"""Ask questions interactively: ``python examples/repl.py [--index DIR] [-k N]``.

The first run indexes ``seeds/`` into the index folder (this loads the bundled
embedding model and takes a little while); later runs just load it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import ragdiplo.cli.repl
from ragdiplo import QA, RagdiploError

ROOT = Path(__file__).resolve().parent.parent


def open_qa(index_dir: Path) -> QA:
    """Load the index, building it from seeds/ first when the folder has none."""
    if not (index_dir / "manifest.json").is_file():
        print(f"no index in {index_dir}/: building it from {ROOT / 'seeds'}/ first", file=sys.stderr)
        return QA.build(ROOT / "seeds", index_dir)
    return QA.load(index_dir)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, default=ROOT / "index", help="index folder (default: index/)")
    parser.add_argument("-k", type=int, default=10, help="passages to retrieve per question")
    args = parser.parse_args()
    try:
        qa = open_qa(args.index)
    except RagdiploError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return ragdiplo.cli.repl.run(qa, k=args.k)


if __name__ == "__main__":
    sys.exit(main())
