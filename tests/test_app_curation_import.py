"""The app's curation import (`/review_import`) as a hostile or careless client drives it.

Only files that Gradio received as uploads are read (a payload naming any other server path is
refused without reading it), and a bad upload gets one clear message, never Gradio's generic
error: a file without newlines, ids beyond 64 bits, a huge field, no sha256, UTF-16 / latin-1.
"""

from __future__ import annotations

import socket

import httpx
import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.exceptions import AppError  # noqa: E402

SECRET = "TOPSECRET_header_value"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from conftest import TINY_DIGITS

    import app as studio
    from debias_core.data.ingest import create_project
    from ui.launch import launch_options
    from ui.state import make_context

    root = tmp_path_factory.mktemp("import") / "proj"
    create_project(root, "colored-digits", options=dict(TINY_DIGITS))
    ctx = make_context(root, reviewer="tester", create=False)
    demo = studio.build_app(ctx)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, **launch_options(ctx, "127.0.0.1", port))
    url = demo.local_url.rstrip("/")
    try:
        yield ctx, gradio_client.Client(url, verbose=False, download_files=False), url
    finally:
        demo.close()


def raw_call(url: str, *data) -> str:
    """POST the payload as a hostile client would (gradio_client would upload a local path
    first); the event stream's text."""
    started = httpx.post(f"{url}/gradio_api/call/review_import", json={"data": list(data)})
    event = started.json()["event_id"]
    return httpx.get(f"{url}/gradio_api/call/review_import/{event}", timeout=60).text


def n_changes(ctx) -> int:
    q = "select (select count(*) from decisions) + (select count(*) from tag_events) as n"
    return ctx.store.query(q)[0]["n"]


def refused(client, *args, match: str) -> str:
    with pytest.raises(AppError, match=match) as info:
        client.predict(*args, api_name="/review_import")
    message = str(info.value)
    assert "has raised an exception" not in message
    return message


def upload(path):
    return gradio_client.handle_file(str(path))


def test_a_server_path_that_was_never_uploaded_is_not_read(app, tmp_path, monkeypatch):
    from gradio import processing_utils

    from ui import review_tools

    ctx, client, url = app
    sample = ctx.store.get_sample(1)
    path = tmp_path / "on-the-server.csv"
    path.write_text(f"sample_id,sha256,tags\n1,{sample.sha256},{SECRET}\n")
    before = n_changes(ctx)
    payloads = [str(path), "/etc/passwd.csv", "/etc/passwd"]
    for payload in payloads:  # Gradio itself refuses to take these in (a generic error)
        text = raw_call(url, {"path": payload, "meta": {"_type": "gradio.FileData"}}, False)
        assert "event: error" in text and SECRET not in text and "root:" not in text

    # A Gradio that hands such a payload's path to the handler as it is (older versions, a
    # changed check) still does not get the file read: the handler takes only uploads.
    async def as_given(data, block, **kwargs):
        return data

    monkeypatch.setattr(processing_utils, "async_move_files_to_cache", as_given)
    for payload in payloads[:2]:  # (a name not ending in .csv: Gradio's file-type message)
        text = raw_call(url, {"path": payload, "meta": {"_type": "gradio.FileData"}}, False)
        assert "only a curation CSV uploaded to this app is read" in text, text
        assert SECRET not in text and "root:" not in text
    monkeypatch.undo()
    with pytest.raises(ValueError, match="only a curation CSV uploaded"):
        review_tools.import_file(ctx, str(path), "tester")
    assert n_changes(ctx) == before and ctx.store.tags_of(1) == []
    note, _ = client.predict(upload(path), False, api_name="/review_import")  # uploaded: read
    assert note.startswith("Imported 1 rows") and ctx.store.tags_of(1) == [SECRET]


@pytest.mark.parametrize(
    "content, match",
    [
        (b"\0" * 300_000, "longer than 131,072 characters"),
        (b"sample_id,sha256,status\n" + b"7" * 300_000, "line 2 is longer than 131,072"),
        (b"sample_id,sha256,status\n" + b"1" * 30 + b",x,accepted\n", "sample_id must be between"),
        (
            b'sample_id,sha256,status,reason\n1,x,pending,"' + b"a\n" * 70_000 + b'"\n',
            "not a valid curation CSV",
        ),
        (b"sample_id,tags\n1,x\n", "has no 'sha256' column"),
        ("sample_id,sha256,tags\n1,x,a\n".encode("utf-16"), "is UTF-16 text"),
        ("sample_id,sha256,tags,reason\n1,x,a,café\n".encode("latin-1"), "is not UTF-8 text"),
        (f"{SECRET},x\n1,2\n".encode(), "is not a curation CSV"),
    ],
    ids=["zeros", "no-newline", "id-1e30", "huge-field", "no-sha256", "utf16", "latin1", "foreign"],
)
def test_a_bad_upload_gets_one_clear_message_and_changes_nothing(app, tmp_path, content, match):
    ctx, client, _ = app
    path = tmp_path / "upload.csv"
    path.write_bytes(content)
    before = n_changes(ctx)
    message = refused(client, upload(path), False, match=match)
    assert SECRET not in message and n_changes(ctx) == before


def test_a_file_without_sha256_is_applied_only_when_ticked(app, tmp_path):
    ctx, client, _ = app
    path = tmp_path / "nosha.csv"
    path.write_text("sample_id,tags\n2,unchecked\n")
    refused(client, upload(path), "abc", match="must be true or false")
    refused(client, upload(path), False, match="without sha256 check")
    note, _ = client.predict(upload(path), True, api_name="/review_import")
    assert note.startswith("Imported 1 rows") and ctx.store.tags_of(2) == ["unchecked"]
