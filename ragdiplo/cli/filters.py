"""The command line's metadata options: ``--metadata FILE`` when indexing, and
``--since/--until/--source/--tag`` when asking (turned into a ``Where``)."""

from __future__ import annotations

import argparse

from ragdiplo.errors import ConfigError
from ragdiplo.types import Where


def add_metadata_option(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--metadata", default=None, metavar="FILE",
                    help="JSONL of {id, title?, date?, source?, url?, tags?} over the corpus's own metadata "
                         "(default: none)")


def add_filter_options(sp: argparse.ArgumentParser) -> None:
    group = sp.add_argument_group("filters (applied inside retrieval: the top k are the best matching passages)")
    group.add_argument("--since", default=None, metavar="DATE",
                       help="only documents dated on or after DATE (ISO 8601, e.g. 2025-03-01; default: any)")
    group.add_argument("--until", default=None, metavar="DATE",
                       help="only documents dated on or before DATE (a date includes its whole day; default: any)")
    group.add_argument("--source", default=None, metavar="NAME", help="only documents from NAME, any case (default: any)")
    group.add_argument("--tag", default=None, metavar="TAG", help="only documents tagged TAG (default: any)")


def where_option(args: argparse.Namespace) -> Where | None:
    """The filter the options ask for; None when none was given."""
    try:
        where = Where(getattr(args, "since", None), getattr(args, "until", None), getattr(args, "source", None),
                      getattr(args, "tag", None))
    except ValueError as err:
        raise ConfigError(f"--since/--until/--source/--tag: {err}") from None
    return where if where else None
