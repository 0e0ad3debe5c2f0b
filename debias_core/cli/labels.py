"""Multi-label commands: the co-occurrence shift of an augmentation, and the siblings table
DecoupleGen's replacement edit draws from."""

from __future__ import annotations

import json

from debias_core.cli.common import add_project_arg, open_project


def cmd_cooccurrence(args) -> int:
    from debias_core.analysis.cooccurrence import cooccurrence, format_table

    table = cooccurrence(open_project(args), status=args.status)
    print(json.dumps(table.as_dict(), indent=2) if args.json else format_table(table))
    return 0


def parse_setting(text: str) -> tuple[str, list[str]]:
    """'red=green,blue' -> ('red', ['green', 'blue']); 'red=' clears red's siblings."""
    label, sep, rest = text.partition("=")
    if not sep or not label.strip():
        raise ValueError(f"--set takes LABEL=A,B (label names), got {text!r}")
    return label.strip(), [s.strip() for s in rest.split(",") if s.strip()]


def cmd_siblings(args) -> int:
    from debias_core.generate.siblings import read_user_table, siblings_table, write_user_table

    store = open_project(args)
    if args.set:
        table = read_user_table(store)
        for text in args.set:
            label, names = parse_setting(text)
            table[label] = names
        write_user_table(store, table)
    table = siblings_table(store)
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        for label, names in table.items():
            print(f"{label}: {', '.join(names) or '-'}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "cooccurrence",
        help="P(context | biased object) of the real train set next to the augmented set "
        "(real + generated images with label sets; DecoupleGen's Figure 6)",
    )
    add_project_arg(p)
    p.add_argument(
        "--status",
        choices=("accepted", "all"),
        default="accepted",
        help="which generated images the augmented set counts (default: accepted)",
    )
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_cooccurrence)
    p = sub.add_parser(
        "siblings",
        help="show or edit the semantic siblings DecoupleGen's replacement edit may use "
        "(the project's siblings.json over the dataset's hierarchy)",
    )
    add_project_arg(p)
    p.add_argument(
        "--set",
        action="append",
        metavar="LABEL=A,B",
        help="set a label's siblings in the project's table (repeatable; LABEL= clears)",
    )
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.set_defaults(func=cmd_siblings)


__all__ = ["add_parsers"]
