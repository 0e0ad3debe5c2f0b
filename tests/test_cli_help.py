"""Help a newcomer can trust: every option explains itself, and name options list valid names."""

from __future__ import annotations

import argparse

import pytest

from debias_core.cli import build_parser, main


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_option_of_every_command_has_help():
    missing = [
        f"{name} {action.dest}"
        for name, parser in subparsers().items()
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert missing == []
    assert all(parser.description or parser.format_usage() for parser in subparsers().values())


def registry_names() -> dict[tuple[str, str], list[str]]:
    from debias_core.data import DATASETS
    from debias_core.generate import GENERATORS
    from debias_core.models.backbone import BACKBONES
    from debias_core.models.classifiers import CLASSIFIERS
    from debias_core.models.segmenters import SEGMENTERS
    from debias_core.personalize import PERSONALIZERS
    from debias_core.train import TRAIN_METHODS
    from debias_core.verify import POLICIES

    return {
        ("init", "--dataset"): DATASETS.names(),
        ("generate", "--method"): GENERATORS.names(),
        ("generate", "--backbone"): BACKBONES.names(),
        ("train", "--method"): TRAIN_METHODS.names(),
        ("personalize", "--method"): PERSONALIZERS.names(),
        ("personalize", "--backbone"): BACKBONES.names(),
        ("artifacts", "--method"): PERSONALIZERS.names(),
        ("verify", "--policy"): POLICIES.names(),
        ("verify", "--method"): GENERATORS.names(),
        ("review", "--method"): GENERATORS.names(),
        ("masks", "--segmenter"): SEGMENTERS.names(),
        ("train", "--arch"): CLASSIFIERS.names(),
        ("bias-pairs", "--arch"): CLASSIFIERS.names(),
    }


@pytest.mark.parametrize("command", ["init", "generate", "train", "jobs", "export", "regenerate"])
def test_help_lists_the_registries_valid_names(command, capsys):
    assert main([command, "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps long lines
    for (cmd, flag), names in registry_names().items():
        if cmd == command:
            assert flag in text and all(name in text for name in names), (flag, names)


def test_method_dataset_backbone_options_all_list_names():
    """No name-taking option is left without its list (a new one must be added above)."""
    taking_names = {
        (name, action.option_strings[0])
        for name, parser in subparsers().items()
        for action in parser._actions
        if action.option_strings
        and action.option_strings[0]
        in ("--method", "--dataset", "--backbone", "--arch", "--policy", "--segmenter")
    }
    assert taking_names == set(registry_names())
    for name, flag in taking_names:
        action = next(a for a in subparsers()[name]._actions if flag in a.option_strings)
        assert callable(getattr(action, "valid_names", None)), (name, flag)
