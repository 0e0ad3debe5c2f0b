"""Every bad input a probe of the CLI found: one line starting with "error:", exit status 2, no
traceback, nothing created. And 16-bit images scaled to 8 bits, not clipped."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dataset_files import write_image
from PIL import Image

from debias_core.cli import main
from debias_core.store.images import open_rgb, to_rgb8


def metadata_dataset(root: Path, rows: list[str]) -> Path:
    write_image(root / "imgs" / "a.png")
    write_image(root / "imgs" / "b.png")
    (root / "metadata.csv").write_text("filename,y,a,split\n" + "\n".join(rows) + "\n")
    return root


def symlink_loop(root: Path) -> Path:
    metadata_dataset(root, ["imgs/a.png,0,0,train", "imgs/loop/x.png,0,0,val"])
    (root / "imgs" / "loop").symlink_to(root / "imgs" / "loop")
    return root


def name_too_long(root: Path) -> Path:
    return metadata_dataset(root, ["imgs/a.png,0,0,train", f"imgs/{'x' * 300}.png,0,0,val"])


def nul_byte(root: Path) -> Path:
    return metadata_dataset(root, ["imgs/a.png,0,0,train", "imgs/b\x00.png,0,0,val"])


def label(value: str):
    return lambda root: metadata_dataset(
        root, [f"imgs/a.png,{value},0,train", "imgs/b.png,0,0,val"]
    )


def folder_csv_with_label(value: str):
    def make(root: Path) -> Path:
        write_image(root / "a.png")
        write_image(root / "b.png")
        text = f"path,label,attr,split\na.png,{value},x,train\nb.png,1,x,val\n"
        (root / "labels.csv").write_text(text, encoding="utf-8")
        return root

    return make


# (name, dataset builder, dataset, extra argv, expected words in the one error line)
CASES = [
    ("symlink loop", symlink_loop, "metadata-csv", [], "row 2: image path 'imgs/loop/x.png' "
     "cannot be used: a symlink loop"),
    ("file name over the OS limit", name_too_long, "metadata-csv", [], "row 2: image path "),
    ("label 10^8", label("100000000"), "metadata-csv", [], "row 1: column 'y' is '100000000', "
     "over the 10,000 labels a project can hold"),
    ("label 10^20", label("99999999999999999999"), "metadata-csv", [], "over the 10,000 labels"),
    ("non-ASCII digit label", label("٣"), "metadata-csv", [], "column 'y' must be a "
     "non-negative integer, got '٣'"),
    ("NUL byte", nul_byte, "metadata-csv", [], "metadata.csv row 2: column 'filename' contains "
     "a NUL byte"),
    ("options list", label("0"), "metadata-csv", ["--options", "[1,2]"], "--options must be a "
     "JSON object"),
    ("options number", label("0"), "metadata-csv", ["--options", "5"], "--options must be a "
     "JSON object"),
    ("options not JSON", label("0"), "metadata-csv", ["--options", "{x"], "--options is not "
     "valid JSON"),
    ("max_pixels text", label("0"), "metadata-csv", ["--options", '{"max_pixels": "abc"}'],
     "option 'max_pixels' must be an integer, got 'abc'"),
    ("max_pixels NaN", label("0"), "metadata-csv", ["--options", '{"max_pixels": NaN}'],
     "option 'max_pixels' must be an integer, got nan"),
    ("val_fraction text", label("0"), "metashift", ["--options", '{"val_fraction": "x"}'],
     "option 'val_fraction' must be a finite number, got 'x'"),
    ("val_fraction NaN", label("0"), "metashift", ["--options", '{"val_fraction": NaN}'],
     "option 'val_fraction' must be a finite number, got nan"),
    ("seed text", label("0"), "metashift", ["--options", '{"seed": "abc"}'],
     "option 'seed' must be an integer, got 'abc'"),
    ("negative seed option", label("0"), "metashift", ["--options", '{"seed": -1}'],
     "option 'seed' must be an integer >= 0, got -1"),
    ("colored-digits seed text", None, "colored-digits", ["--options", '{"seed": "abc"}'],
     "dataset 'colored-digits': option 'seed' must be an integer"),
    ("colored-digits bias NaN", None, "colored-digits", ["--options", '{"bias_ratio": NaN}'],
     "option 'bias_ratio' must be a finite number, got nan"),
    ("negative --seed", None, "colored-digits", ["--seed", "-1"], "argument --seed: must be an "
     "integer in 0..4294967295, got '-1'"),
    ("--seed for another dataset", label("0"), "metadata-csv", ["--seed", "3"], "--seed is for "
     "colored-digits only"),
]  # fmt: skip


@pytest.mark.parametrize(
    "make, dataset, extra, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_dataset_input_is_one_line_and_creates_nothing(
    tmp_path, capsys, make, dataset, extra, message
):
    argv = ["init", str(tmp_path / "project"), "--dataset", dataset, *extra]
    if make is not None:
        argv += ["--root", str(make(tmp_path / "data"))]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if not line.startswith("[")]  # progress
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert not (tmp_path / "project").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_init_of_a_regular_file_names_it(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert main(["init", str(target)]) == 2
    assert f"error: {target} is a file" in capsys.readouterr().err
    assert target.read_text() == "mine"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "{p}", "--params", "[1]"], "--params must be a JSON object"),
        (["train", "{p}", "--seed", "-3"], "argument --seed: must be an integer in 0.."),
        (["train", "{p}", "--epochs", "0"], "argument --epochs: must be an integer >= 1"),
        (["train", "{p}", "--lr", "nan"], "argument --lr: must be a finite number > 0"),
        (["train", "{p}", "--augment", "flip"], "unknown image augmentation 'flip'; valid: affine"),
        (["generate", "{p}", "--guidance", "inf"], "argument --guidance: must be a finite"),
        (["generate", "{p}", "--seed", "99999999999"], "must be an integer in 0..4294967295"),
        (["regenerate", "{p}", "--sample", "abc", "--out", "x.png"], "--sample: must be an"),
    ],
)
def test_bad_flags_are_one_line_before_any_work(tiny_project, capsys, argv, message):
    argv = [a.format(p=tiny_project.root) for a in argv]
    capsys.readouterr()
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], lines
    assert tiny_project.list_jobs() == [] and tiny_project.list_runs() == []


# -- 16-bit images -----------------------------------------------------------------------------
def gradient16(levels: int = 1024) -> np.ndarray:
    """A 16-bit grey gradient of `levels` distinct values spread over 0..65535."""
    values = np.round(np.linspace(0, 65535, levels)).astype(np.uint16)
    return values.reshape(32, -1)


def test_16_bit_images_are_scaled_to_8_bits_not_clipped(tmp_path):
    path = tmp_path / "g16.png"
    Image.fromarray(gradient16()).save(path)
    assert Image.open(path).mode == "I;16"
    assert len(np.unique(np.asarray(Image.open(path).convert("RGB")))) < 10  # PIL clips
    rgb = np.asarray(open_rgb(path))
    assert rgb.dtype == np.uint8 and rgb.shape == (32, 32, 3)
    grey = rgb[..., 0].ravel()
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    assert len(np.unique(grey)) == 256 and grey.min() == 0 and grey.max() == 255
    assert np.all(np.diff(grey.astype(int)) >= 0)  # order kept
    expected = np.round(gradient16().ravel() / 257.0).astype(np.uint8)
    assert np.array_equal(grey, expected)


def test_other_modes_keep_their_range():
    f = Image.fromarray(np.array([[0.0, 0.5, 1.0]], np.float32))
    assert np.asarray(to_rgb8(f))[0, :, 0].tolist() == [0, 128, 255]
    i32 = Image.fromarray(np.array([[0, 100, 255]], np.int32))
    assert np.asarray(to_rgb8(i32))[0, :, 0].tolist() == [0, 100, 255]
    rgb = Image.new("RGB", (2, 2), (10, 20, 30))
    assert np.asarray(to_rgb8(rgb))[0, 0].tolist() == [10, 20, 30]


def test_a_16_bit_dataset_trains_on_scaled_pixels(tmp_path):
    from debias_core.data.ingest import create_project
    from debias_core.store import SampleFilter
    from debias_core.train.tensors import load_tensors

    root = tmp_path / "data"
    root.mkdir()
    Image.fromarray(gradient16()).save(root / "g.png")
    write_image(root / "b.png")
    (root / "metadata.csv").write_text("filename,y,a,split\ng.png,0,0,train\nb.png,1,0,test\n")
    store = create_project(tmp_path / "p", "metadata-csv", root)
    train = load_tensors(store, SampleFilter(split="train"), image_size=32)
    pixels = np.round(train.x[0, 0].numpy() * 255)  # back to 0..255
    assert len(np.unique(pixels)) == 256
    assert np.asarray(store.sample_image(1)).max() == 255
    assert json.loads(json.dumps(store.meta()["class_names"])) == ["class 0", "class 1"]
