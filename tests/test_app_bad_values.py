"""Every public endpoint of the app, every parameter, given values a client should not send.

Each call either works or answers with a message (never Gradio's generic "the upstream app has
raised an exception"), and a refused call changes nothing: no job, decision, sample or run.
Jobs are queued but not run here, so every change in the counts comes from the call itself.
"""

from __future__ import annotations

import socket

import pytest

gradio_client = pytest.importorskip("gradio_client")
GENERIC = "has raised an exception but has not enabled verbose error reporting"
BAD_VALUES = ["abc", 10**30, None, "NaN"]  # the probe's values; -1, 1.5, [1]: test_ui_values
TABLES = ("jobs", "decisions", "samples", "runs", "job_units")


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from conftest import TINY_DIGITS

    import app as studio
    from debias_core.data.ingest import create_project
    from debias_core.store import GeneratedImage, Recipe
    from ui.launch import launch_options, start_server
    from ui.state import make_context

    root = tmp_path_factory.mktemp("bad-values") / "proj"
    store = create_project(root, "colored-digits", options=dict(TINY_DIGITS))
    recipe = Recipe(method="txt2img", backbone_id="dummy", backbone_hash="0", seed=0)
    import numpy as np

    store.add_generated_unit(
        None, None, [GeneratedImage(np.zeros((8, 8, 3), np.uint8), 0, 1, recipe)] * 4
    )
    ctx = make_context(root, reviewer="tester", create=False)
    ctx.executor._enqueue = lambda job_id: None  # queue jobs, never run them
    demo = studio.build_app(ctx)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start_server(demo, **launch_options(ctx, "127.0.0.1", port))
    try:
        yield ctx, demo.local_url
    finally:
        demo.close()


def counts(store) -> tuple:
    return tuple(store.query(f"select count(*) as n from {t}")[0]["n"] for t in TABLES)


def local_examples(params: list, upload) -> list:
    """The API's example values, with a local file for a file parameter (its example is a URL,
    and nothing is downloaded here), so each other parameter's bad value reaches the handler."""
    examples = [p.get("example_input") for p in params]
    return [upload if isinstance(e, dict) and "path" in e else e for e in examples]


@pytest.mark.slow
def test_bad_values_get_a_message_and_change_nothing(app, tmp_path):
    ctx, url = app
    client = gradio_client.Client(url, verbose=False, download_files=False)
    endpoints = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    empty_csv = tmp_path / "empty.csv"
    empty_csv.write_text("sample_id,sha256,tags\n")
    generic, changed, refused, calls = [], [], 0, 0
    for name, endpoint in endpoints.items():
        params = endpoint["parameters"]
        examples = local_examples(params, gradio_client.handle_file(str(empty_csv)))
        for i, param in enumerate(params):
            for bad in BAD_VALUES:
                args = list(examples)
                args[i] = bad
                before = counts(ctx.store)
                calls += 1
                try:
                    client.predict(*args, api_name=name)
                except gradio_client.exceptions.AppError as exc:
                    refused += 1
                    if GENERIC in str(exc) or not str(exc).strip():
                        generic.append((name, param["parameter_name"], bad))
                    if counts(ctx.store) != before:
                        changed.append((name, param["parameter_name"], bad))
    assert generic == [], f"generic errors: {generic}"
    assert changed == [], f"refused calls that changed the project: {changed}"
    assert calls >= 250 and refused >= 0.8 * calls
