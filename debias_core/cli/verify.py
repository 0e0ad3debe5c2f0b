"""Verification commands: masks, verify, agreement; and `methods` (every method's parameters)."""

from __future__ import annotations

import json

from debias_core.cli.common import (
    add_device_arg,
    add_project_arg,
    lists_names,
    open_project,
    positive_int,
    progress_printer,
)


def _raw_params(args) -> dict:
    from debias_core.params import parse_pairs

    params = parse_pairs(args.param or [])
    if getattr(args, "run", None) is not None:
        params["run"] = args.run
    return params


def default_policy(meta: dict) -> str:
    if meta.get("dataset") == "colored-digits":
        return "judge"
    from debias_core.verify import POLICIES

    raise ValueError(f"name a policy with --policy: {', '.join(POLICIES.names())}")


def cmd_verify(args) -> int:
    from debias_core.jobs.foreground import run_verify

    store = open_project(args)
    policy = args.policy or default_policy(store.meta())
    result = run_verify(
        store,
        args.device,
        progress_printer(),
        policy=policy,
        params=_raw_params(args),
        method=args.method,
        job=args.job,
    )
    print(result["message"])
    return 0


def cmd_agreement(args) -> int:
    from debias_core.verify.agreement import agreement_report, format_agreement

    reports = agreement_report(open_project(args))
    print(
        json.dumps([r.to_dict() for r in reports], indent=2)
        if args.json
        else format_agreement(reports)
    )
    return 0


def cmd_masks(args) -> int:
    from debias_core.jobs.foreground import run_segment

    result = run_segment(
        open_project(args),
        args.device,
        progress_printer(),
        segmenter=args.segmenter,
        prompt=args.prompt,
        params=_raw_params(args),
        source=args.source,
        split=None if args.split == "any" else args.split,
    )
    print(result["message"])
    return 0


def cmd_methods(args) -> int:
    """Every registered generator, personalizer, policy, scorer and segmenter with its
    parameters (and each number's declared range or size limit)."""
    from debias_core.params import describe

    table = {
        kind: {name: describe(p) for name, p in methods.items()}
        for kind, methods in method_defaults().items()
    }
    if args.json:
        print(json.dumps(table, indent=2, default=str))
        return 0
    for kind, methods in table.items():
        print(f"{kind}:")
        for name, fields in methods.items():
            shown = ", ".join(_shown(f) for f in fields) or "(no parameters)"
            print(f"  {name}: {shown}")
    return 0


def _shown(f: dict) -> str:
    """name=default, with the paper's value beside a demo default that differs from it."""
    text = f"{f['name']}={f['default']!r}"
    return text + (
        f" (paper: {f['paper']!r})" if "paper" in f and f["paper"] != f["default"] else ""
    )


def method_defaults() -> dict[str, dict]:
    """{kind: {name: the method's default parameters}} over every method registry."""
    from debias_core.generate import GENERATORS
    from debias_core.models.segmenters import SEGMENTERS
    from debias_core.personalize import PERSONALIZERS
    from debias_core.verify import POLICIES, SCORERS

    table = {
        kind: {name: registry.get(name).default_params for name in registry.names()}
        for kind, registry in (
            ("generators", GENERATORS),
            ("policies", POLICIES),
            ("scorers", SCORERS),
            ("segmenters", SEGMENTERS),
        )
    }
    table["personalizers"] = {
        name: PERSONALIZERS.get(name).params_class() for name in PERSONALIZERS.names()
    }
    return table


def policy_names() -> list[str]:
    from debias_core.verify import POLICIES

    return POLICIES.names()


def segmenter_names() -> list[str]:
    from debias_core.models.segmenters import SEGMENTERS

    return SEGMENTERS.names()


def add_parsers(sub) -> None:
    from debias_core.cli.generate import generator_names

    p = sub.add_parser("verify", help="score generated samples and record a policy's verdicts")
    add_project_arg(p)
    lists_names(
        p.add_argument("--policy", help="verdict policy (default: judge on Colored Digits)"),
        policy_names,
    )
    p.add_argument("--run", type=positive_int, help="the classifier run the policy's scorers use")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="a policy parameter")
    lists_names(
        p.add_argument("--method", help="only samples of this generation method"),
        generator_names,
    )
    p.add_argument("--job", type=positive_int, help="only samples of this generation job")
    add_device_arg(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("agreement", help="policies vs people: confusion matrix and Cohen's kappa")
    add_project_arg(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_agreement)

    p = sub.add_parser("masks", help="masks of samples from a segmenter, stored with their source")
    add_project_arg(p)
    lists_names(
        p.add_argument("--segmenter", default="grounded-sam", help="segmenter"), segmenter_names
    )
    p.add_argument("--prompt", default="{class}", help="text to segment; {class} = class name")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="a segmenter parameter")
    p.add_argument("--source", default="real", choices=("real", "generated"), help="which samples")
    p.add_argument(
        "--split",
        default="train",
        choices=("train", "val", "test", "any"),
        help="which split of the samples",
    )
    add_device_arg(p)
    p.set_defaults(func=cmd_masks, run=None)

    p = sub.add_parser("methods", help="generators, policies, scorers, segmenters and parameters")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_methods)
