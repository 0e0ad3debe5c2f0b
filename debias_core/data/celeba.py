"""CelebA: `list_attr_celeba.txt` + `list_eval_partition.txt` + images in `img_align_celeba/`.

The attribute file has the image count on line 1, the 40 attribute names on line 2, then one
whitespace-separated row per image: `000001.jpg -1 1 ...` (1 = present, -1 = absent). The
partition file has rows `000001.jpg 0` with 0/1/2 = train/val/test. The class `y` and the
spurious attribute `a` are two attributes chosen by name (default Blond_Hair vs Male, the
usual benchmark); both become 0/1.

Where the spurious attribute lies (data/sites.py) comes from `ATTRIBUTE_SITES`, a table a user
may edit, or per project from the option `spurious_site` (background | object).
"""

from __future__ import annotations

from pathlib import Path

from debias_core.data.base import DATASETS, DatasetError, DatasetImport, SampleRecord
from debias_core.data.sites import check_site
from debias_core.data.validate import (
    MAX_PIXELS,
    ImageChecks,
    check_root,
    normalize_split,
    resolve_dir,
    resolve_inside,
)

# Where each CelebA attribute lies: on the person (the object a segmenter finds), or around them.
# All 40 describe the face, hair or what the person wears, so all lie on the object; an attribute
# missing here counts as on the object too. Edit this table (or pass the dataset option
# `spurious_site`) for attributes of the scene.
ATTRIBUTE_SITES: dict[str, str] = dict.fromkeys(
    [
        "5_o_Clock_Shadow",
        "Arched_Eyebrows",
        "Attractive",
        "Bags_Under_Eyes",
        "Bald",
        "Bangs",
        "Big_Lips",
        "Big_Nose",
        "Black_Hair",
        "Blond_Hair",
        "Blurry",
        "Brown_Hair",
        "Bushy_Eyebrows",
        "Chubby",
        "Double_Chin",
        "Eyeglasses",
        "Goatee",
        "Gray_Hair",
        "Heavy_Makeup",
        "High_Cheekbones",
        "Male",
        "Mouth_Slightly_Open",
        "Mustache",
        "Narrow_Eyes",
        "No_Beard",
        "Oval_Face",
        "Pale_Skin",
        "Pointy_Nose",
        "Receding_Hairline",
        "Rosy_Cheeks",
        "Sideburns",
        "Smiling",
        "Straight_Hair",
        "Wavy_Hair",
        "Wearing_Earrings",
        "Wearing_Hat",
        "Wearing_Lipstick",
        "Wearing_Necklace",
        "Wearing_Necktie",
        "Young",
    ],
    "object",
)


def _data_lines(path: Path) -> list[list[str]]:
    """Whitespace-split, non-blank lines of a text file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{str(path)!r}: not a UTF-8 text file ({exc})") from None
    return [line.split() for line in text.splitlines() if line.strip()]


def read_attributes(path: Path) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(attribute names, [(filename, ["-1" | "1", ...]), ...]) with count and values checked."""
    lines = _data_lines(path)
    if len(lines) < 3:
        raise DatasetError(f"{str(path)!r}: expected a count line, a names line and data rows")
    count = lines[0][0] if len(lines[0]) == 1 else " ".join(lines[0])
    if not count.isdigit():
        raise DatasetError(f"{str(path)!r}: line 1 must be the image count, got {count!r}")
    names = lines[1]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DatasetError(f"{str(path)!r}: repeated attribute name(s) {repeated}")
    rows = []
    for n, cells in enumerate(lines[2:], start=1):
        where = f"{path} row {n}"
        if len(cells) != len(names) + 1:
            raise DatasetError(
                f"{where}: {len(cells)} fields, expected a filename and {len(names)} values"
            )
        bad = next((v for v in cells[1:] if v not in ("-1", "1")), None)
        if bad is not None:
            raise DatasetError(f"{where}: attribute values must be -1 or 1, got {bad!r}")
        rows.append((cells[0], cells[1:]))
    if int(count) != len(rows):
        raise DatasetError(f"{str(path)!r}: line 1 says {count} images but {len(rows)} rows follow")
    return names, rows


def read_partition(path: Path) -> dict[str, tuple[str, int]]:
    """filename -> (split, data row number)."""
    lines = _data_lines(path)
    if not lines:
        raise DatasetError(f"{str(path)!r}: file is empty")
    out: dict[str, tuple[str, int]] = {}
    for n, cells in enumerate(lines, start=1):
        where = f"{path} row {n}"
        if len(cells) != 2:
            raise DatasetError(f"{where}: expected 'filename split', got {' '.join(cells)!r}")
        if cells[0] in out:
            raise DatasetError(f"{where}: {cells[0]!r} already listed at row {out[cells[0]][1]}")
        out[cells[0]] = (normalize_split(cells[1], where), n)
    return out


def _column(names: list[str], name: str, option: str, path: Path) -> int:
    if name not in names:
        raise DatasetError(
            f"{option}={name!r} is not an attribute of {str(path)!r}; valid: {names}"
        )
    return names.index(name)


@DATASETS.register("celeba")
def celeba(
    root: Path,
    *,
    target: str = "Blond_Hair",
    bias: str = "Male",
    image_dir: str = "img_align_celeba",
    attr_file: str = "list_attr_celeba.txt",
    partition_file: str = "list_eval_partition.txt",
    max_pixels: int = MAX_PIXELS,
    spurious_site: str = "",
) -> DatasetImport:
    """Read CelebA with `y` = the `target` attribute, `a` = the `bias` one (0 absent, 1 present)."""
    try:
        check_site(spurious_site)
    except ValueError as exc:
        raise DatasetError(f"dataset 'celeba': {exc}") from None
    root = check_root(root)
    where_root = f"dataset {str(root)!r}"
    attr_path = resolve_inside(root, attr_file, f"{where_root} option attr_file", "file")
    part_path = resolve_inside(root, partition_file, f"{where_root} option partition_file", "file")
    image_root = resolve_dir(root, image_dir, f"{where_root} option image_dir")
    names, rows = read_attributes(attr_path)
    yi = _column(names, target, "target", attr_path)
    ai = _column(names, bias, "bias", attr_path)
    if yi == ai:
        raise DatasetError(f"target and bias must differ, both are {target!r}")
    partition = read_partition(part_path)
    images = ImageChecks(max_pixels)
    records = []
    for n, (filename, values) in enumerate(rows, start=1):
        where = f"{attr_path} row {n}"
        if filename not in partition:
            raise DatasetError(f"{where}: {filename!r} has no row in {str(part_path)!r}")
        path = resolve_inside(image_root, filename, where)
        images.add(path, where)
        y, a = int(values[yi] == "1"), int(values[ai] == "1")
        records.append(SampleRecord(path, y, a, partition[filename][0], {"filename": filename}))
    extra = set(partition) - {filename for filename, _ in rows}
    if extra:
        first = min(extra, key=lambda f: partition[f][1])
        raise DatasetError(
            f"{part_path} row {partition[first][1]}: {first!r} is not in {str(attr_path)!r} "
            f"({len(extra)} such row(s))"
        )
    images.run()
    return DatasetImport(
        name="celeba",
        records=records,
        class_names=[f"not {target}", target],
        attr_names=[f"not {bias}", bias],
        root=root,
        params={
            "target": target,
            "bias": bias,
            "image_dir": image_dir,
            "max_pixels": max_pixels,
            "spurious_site": spurious_site,
        },
    )


def _spurious_site(params: dict) -> str:
    return ATTRIBUTE_SITES.get(params.get("bias", ""), "object")


celeba.spurious_site = _spurious_site  # see data/sites.py
