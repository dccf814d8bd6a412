"""A folder of the user's images (`data=folder data.path=...`): one sub-folder per class.

Splits come from `train/`, `val/` and `test/` sub-folders when `train/` exists, otherwise
from seeded, per-class fractions. Every file is checked before training: empty, non-image,
unsupported, corrupt and truncated files are skipped and reported in one line (or, with
`data.on_bad_file=error`, stop the run up front with the file's path), so nothing fails
mid-epoch. Images of any mode (gray, RGBA, palette) are decoded to RGB the same way.

Left null, `data.image_size` and `data.channels` are the images' own, read from the headers
that the check reads anyway: their common size, and 1 channel if every image is gray (PIL
modes 1, L, LA, I, F), 3 if none is. Where the images disagree, 64x64 and RGB, said in a line.
"""

import hashlib
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from cnnlab.config.data import FolderDataConfig
from cnnlab.data.sources.registry import Source, register_source
from cnnlab.errors import DataError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
FORMATS = ("JPEG", "PNG", "BMP", "GIF")
IMAGE_SIGNATURES = (b"\xff\xd8", b"\x89PNG", b"GIF8", b"BM")  # how files of FORMATS begin
SPLIT_FOLDERS = ("train", "val", "test")
LISTED_BAD_FILES = 5  # the warning names the first few
LISTED_CLASSES = 20  # all of them go to MLflow (data.class_names)
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "F")  # PIL modes of one-channel images
FALLBACK_SIZE = (64, 64)  # data.image_size where the images' sizes differ
FALLBACK_CHANNELS = 3  # data.channels where gray and colour images mix


@dataclass(frozen=True)
class ImageFile:
    path: Path
    label: int
    needs_pil: bool = False  # TensorFlow misreads palette / 1-bit BMPs; PIL decodes those
    size: tuple[int, int] = (0, 0)  # (height, width), from the header
    mode: str = ""  # PIL's mode, from the header


@dataclass(frozen=True)
class BadFile:
    path: Path
    reason: str


@register_source("folder")
def load_folder_source(data: FolderDataConfig, seed: int) -> Source:
    root = Path(data.path).expanduser().resolve()  # a folder: FolderDataConfig checked it
    layout, on_bad_file = str(data.split), str(data.on_bad_file)
    if layout == "auto":
        layout = "folders" if (root / "train").is_dir() else "fraction"
    if layout == "folders" and not (root / "train").is_dir():
        raise DataError(f"data.split=folders needs a train/ folder in data.path={str(root)!r}")
    top = root / "train" if layout == "folders" else root
    class_names = class_folders(top)

    groups = {"train": top} if layout == "fraction" else split_folders(root, class_names)
    found: dict[str, list[ImageFile]] = {}
    bad: list[BadFile] = []
    for split, folder in groups.items():
        good, rejected = scan(list_files(folder, class_names), f"checking {split} images")
        found[split] = good
        bad += rejected
    report_bad_files(root, bad, on_bad_file)
    check_classes(top, class_names, found["train"] + found.get("val", []) + found.get("test", []))
    files = split_files(found, {"val": data.val_fraction, "test": data.test_fraction}, seed)
    image_size, channels = image_geometry(data, [f for group in found.values() for f in group])
    shown = ", ".join(class_names[:LISTED_CLASSES]) + (
        ", ..." if len(class_names) > LISTED_CLASSES else ""
    )
    log.info(
        "folder %s: %d classes (%s); %s images, split by %s",
        root,
        len(class_names),
        shown,
        ", ".join(f"{split} {len(items)}" for split, items in files.items()),
        layout,
    )
    return Source(
        name=root.name,
        splits={split: image_dataset(items) for split, items in files.items()},
        class_names=class_names,
        split_sizes={split: len(items) for split, items in files.items()},
        extra={"data.bad_files": float(len(bad))},
        fingerprint=fingerprint(root, files["train"]),
        image_size=image_size,
        channels=channels,
    )


def image_geometry(
    data: FolderDataConfig, files: list[ImageFile]
) -> tuple[tuple[int, int] | None, int | None]:
    """The image size and channels for a data.image_size / data.channels left null: the images'
    own where they all agree, else 64x64 and RGB; one line says which (None: the config's)."""
    size = channels = None
    said = []
    if data.image_size is None:
        sizes = Counter(f.size for f in files)
        if len(sizes) == 1:
            size = next(iter(sizes))
            said.append(f"data.image_size={list(size)} (every image's)")
        else:
            size = FALLBACK_SIZE
            common = ", ".join(f"{h}x{w}" for (h, w), _ in sizes.most_common(2))
            said.append(
                f"data.image_size={list(size)} (the images' {len(sizes)} sizes differ: "
                f"{common}, ...; set data.image_size)"
            )
    if data.channels is None:
        gray = {f.mode in GRAY_MODES for f in files}
        if len(gray) == 1:
            channels = 1 if gray.pop() else 3
            said.append(
                f"data.channels={channels} (every image is {'gray' if channels == 1 else 'colour'})"
            )
        else:
            channels = FALLBACK_CHANNELS
            said.append(f"data.channels={channels} (gray and colour images mix)")
    if said:
        log.info("folder images: %s", "; ".join(said))
    return size, channels


def visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def class_folders(folder: Path) -> list[str]:
    """Class names are the sub-folder names, sorted; a classifier needs at least two."""
    names = [p.name for p in visible_dirs(folder)]
    if not names:
        raise DataError(
            f"data.path: {folder} has no class sub-folders; expected {folder}/<class>/<image>"
        )
    if len(names) == 1:
        raise DataError(
            f"data.path: {folder} has one class folder ({names[0]}); "
            "a classifier needs at least two, one sub-folder per class"
        )
    return names


def split_folders(root: Path, class_names: list[str]) -> dict[str, Path]:
    """`train/` and whichever of `val/` and `test/` exist; their classes must be train's."""
    groups = {split: root / split for split in SPLIT_FOLDERS if (root / split).is_dir()}
    for folder in groups.values():
        extra = sorted({p.name for p in visible_dirs(folder)} - set(class_names))
        if extra:
            raise DataError(
                f"data.path: {folder} has class folder(s) {', '.join(extra)} that "
                f"{root / 'train'} does not have; classes: {', '.join(class_names)}"
            )
    return groups


def list_files(folder: Path, class_names: list[str]) -> list[tuple[Path, int]]:
    """Every visible file under each class folder (nested folders included), sorted."""
    files = []
    for label, name in enumerate(class_names):
        class_dir = folder / name
        if not class_dir.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            files += [(Path(dirpath, f), label) for f in filenames if not f.startswith(".")]
    return sorted(files)


def scan(files: list[tuple[Path, int]], task: str) -> tuple[list[ImageFile], list[BadFile]]:
    """Sort files into readable images and bad files, using the decoder that training uses."""
    with ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 1)) as pool:
        checked = pool.map(lambda item: read_header(*item), files)
        headers = list(tqdm(checked, total=len(files), desc=task, unit=" files", disable=None))
    candidates = [h for h in headers if isinstance(h, ImageFile)]
    broken = undecodable(candidates)
    good = [f for i, f in enumerate(candidates) if i not in broken]
    bad = [h for h in headers if isinstance(h, BadFile)]
    bad += [BadFile(candidates[i].path, "corrupt or truncated") for i in sorted(broken)]
    return good, bad


def read_header(path: Path, label: int) -> ImageFile | BadFile:
    """Cheap checks from the file's size, name and header (no decoding)."""
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        return BadFile(path, "not an image file")
    try:
        if path.stat().st_size == 0:
            return BadFile(path, "empty file")
        with Image.open(path) as image:
            kind, mode, (width, height) = image.format, image.mode, image.size
    except (UnidentifiedImageError, OSError):
        with path.open("rb") as file:
            start = file.read(4)
        damaged = any(start.startswith(magic) for magic in IMAGE_SIGNATURES)
        return BadFile(path, "corrupt or truncated" if damaged else "not an image file")
    if kind not in FORMATS:
        return BadFile(path, f"unsupported format {kind}")
    needs_pil = kind == "BMP" and mode not in ("RGB", "RGBA")
    return ImageFile(path, label, needs_pil, (height, width), mode)


def undecodable(files: list[ImageFile]) -> set[int]:
    """Indices of files that the pipeline's decoder rejects (decoded in parallel, once)."""
    if not files:
        return set()
    ds = tf.data.Dataset.from_tensor_slices(
        (np.arange(len(files)), [str(f.path) for f in files], [f.needs_pil for f in files])
    )
    ds = ds.map(
        lambda index, path, needs_pil: (index, tf.shape(decode(path, needs_pil))),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    decoded = ds.ignore_errors().batch(1024).as_numpy_iterator()
    ok = {int(i) for indices, _ in decoded for i in indices}
    return set(range(len(files))) - ok


def decode(path: tf.Tensor, needs_pil: tf.Tensor) -> tf.Tensor:
    """One image file -> (H, W, 3) uint8; GIFs give their first frame, alpha is dropped."""
    image = tf.cond(
        needs_pil,
        lambda: tf.numpy_function(decode_with_pil, [path], tf.uint8, stateful=False),
        lambda: tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False),
    )
    image.set_shape([None, None, 3])
    return image


def decode_with_pil(path: np.ndarray) -> np.ndarray:
    with Image.open(os.fsdecode(np.asarray(path).item())) as image:
        return np.asarray(image.convert("RGB"))


def report_bad_files(root: Path, bad: list[BadFile], on_bad_file: str) -> None:
    """One warning line with counts by reason, or an error naming the first bad file."""
    if not bad:
        return
    bad = sorted(bad, key=lambda b: b.path)
    if on_bad_file == "error":
        raise DataError(
            f"data.on_bad_file=error: {bad[0].path} is {bad[0].reason} "
            f"({len(bad)} bad file(s) in {root}); remove it or set data.on_bad_file=skip"
        )
    reasons = ", ".join(f"{n} {reason}" for reason, n in Counter(b.reason for b in bad).items())
    names = ", ".join(str(b.path.relative_to(root)) for b in bad[:LISTED_BAD_FILES])
    more = ", ..." if len(bad) > LISTED_BAD_FILES else ""
    log.warning("skipped %d bad file(s) in %s (%s): %s%s", len(bad), root, reasons, names, more)


def check_classes(top: Path, class_names: list[str], files: list[ImageFile]) -> None:
    counts = Counter(f.label for f in files)
    empty = [name for label, name in enumerate(class_names) if counts[label] == 0]
    if empty:
        raise DataError(
            f"data.path: class folder(s) {', '.join(empty)} in {top} have no readable images"
        )


def split_files(
    found: dict[str, list[ImageFile]], fractions: dict[str, float], seed: int
) -> dict[str, list[ImageFile]]:
    """Carve test, then val, off train by seeded per-class fractions where there is no folder.

    Test is carved first, so changing `data.val_fraction` never changes the test images.
    """
    carve = [split for split in ("test", "val") if split not in found]
    rng = np.random.default_rng(seed)
    files = {split: list(found.get(split, [])) for split in SPLIT_FOLDERS}
    if carve:
        files["train"] = []
        for label in sorted({f.label for f in found["train"]}):
            members = [f for f in found["train"] if f.label == label]
            total = len(members)
            rng.shuffle(members)
            for split in carve:
                take = round(total * fractions[split])
                files[split] += members[:take]
                members = members[take:]
            files["train"] += members
    if not files["val"] and "val" in carve and fractions["val"] == 0:
        del files["val"]  # no validation asked for
    for split, items in files.items():
        if not items:
            if split in carve or (split == "train" and carve):
                asked = [split] if split in carve else carve
                how = ", ".join(f"data.{s}_fraction={fractions[s]}" for s in asked)
                how += f" of {len(found['train'])} images"
            else:
                how = f"no readable images in {split}/"
            raise DataError(
                f"data.path: the {split} split is empty ({how}); add images or change the fractions"
            )
        rng.shuffle(items)  # mix the classes; the pipeline reshuffles train every epoch
    return files


def image_dataset(files: list[ImageFile]) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices(
        (
            [str(f.path) for f in files],
            [f.needs_pil for f in files],
            np.array([f.label for f in files], np.int64),
        )
    )
    return ds.map(
        lambda path, needs_pil, label: (decode(path, needs_pil), label),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def fingerprint(root: Path, train: list[ImageFile]) -> str:
    """Names the train images exactly (paths, sizes, modification times) for the stats cache."""
    digest = hashlib.sha256()
    for f in sorted(train, key=lambda f: f.path):
        stat = f.path.stat()
        digest.update(f"{f.path}:{f.label}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return f"folder:{root}:{digest.hexdigest()[:16]}"
