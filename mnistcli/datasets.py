"""The dataset registry and loader.

A dataset is four IDX files (train/test images/labels) with known SHA-256 digests, or
(EMNIST) one zip of gzipped IDX files for several datasets (:mod:`mnistcli.emnist`). The
loader returns uint8 arrays, images the right way round and labels counted from 0, and
carves the classic validation split (the last 5,000 training images, as the classic
TensorFlow tutorials do) out of the training set as a view, without copying.

Every digest below is copied from a published checksum list, named beside it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mnistcli.errors import DataError, DataNotFoundError
from mnistcli.home import dataset_dir

if TYPE_CHECKING:
    import numpy as np

DEFAULT_DATASET = "mnist"
DEFAULT_VALIDATION = 5000
SPLITS = ("train", "validation", "test")
# Every dataset here holds square grey images of this side, as MNIST does.
IMAGE_SIDE = 28
IMAGE_SHAPE = (IMAGE_SIDE, IMAGE_SIDE)
IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE


@dataclass(frozen=True)
class DatasetFile:
    role: str  # train-images, train-labels, test-images, test-labels
    filename: str
    sha256: str
    # bytes; a download stops reading past it (None: unknown, no cap)
    size: int | None = None


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    files: tuple[DatasetFile, ...]
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    # How a picture is prepared for a model of this dataset: "mnist" (crop to ink, 20 px
    # box, centre of mass) or "fashion" (Zalando's conversion); see preprocess_fashion.
    preprocessing: str = "mnist"
    # The directory under MNIST_HOME/datasets holding the files (default: the name);
    # the EMNIST datasets share one archive, so one directory.
    storage: str | None = None
    # "idx": the four canonical files; "emnist": EMNIST's gzip.zip, split ``emnist_split``
    layout: str = "idx"
    emnist_split: str | None = None
    # Subtracted from the stored labels (EMNIST letters are labelled 1-26, here 0-25).
    label_offset: int = 0
    # (train, test) images, as published; None when not known
    sizes: tuple[int, int] | None = None
    homepage: str = ""
    # The augmentation (and label smoothing) that fits its images, used instead of a
    # model recipe's when the recipe augments; None: the recipe's as it is
    augment: dict[str, float] | None = None
    label_smoothing: float | None = None
    epochs: int | None = None
    # Checked here against the real files (the others against generated files of the
    # same layout: the files could not be downloaded where this was built)
    verified_on_real_data: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def directory_name(self) -> str:
        return self.storage or self.name

    def file(self, role: str) -> DatasetFile:
        return next(f for f in self.files if f.role == role)


def _canonical_files(digests: dict[str, str],
                     sizes: dict[str, int]) -> tuple[DatasetFile, ...]:
    names = {
        "train-images": "train-images-idx3-ubyte.gz",
        "train-labels": "train-labels-idx1-ubyte.gz",
        "test-images": "t10k-images-idx3-ubyte.gz",
        "test-labels": "t10k-labels-idx1-ubyte.gz",
    }
    return tuple(DatasetFile(role, filename, digests[role], sizes[role])
                 for role, filename in names.items())


DIGITS = tuple(str(d) for d in range(10))

DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec(
        name="mnist",
        description="MNIST handwritten digits (LeCun, Cortes, Burges)",
        files=_canonical_files({
            "train-images": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "train-labels": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "test-images": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "test-labels": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        }, {"train-images": 9912422, "train-labels": 28881, "test-images": 1648877,
            "test-labels": 4542}),
        mirrors=(
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://yann.lecun.com/exdb/mnist/",
        ),
        class_names=tuple(str(d) for d in range(10)),
        sizes=(60000, 10000),
        homepage="https://yann.lecun.com/exdb/mnist/",
        verified_on_real_data=True,
    ),
    # Digests as published by TensorFlow Datasets (url_checksums/fashion_mnist.txt) for the
    # files Zalando Research distributes: the same IDX format and 28x28 images as MNIST.
    "fashion-mnist": DatasetSpec(
        name="fashion-mnist",
        description="Fashion-MNIST: Zalando article images (Xiao, Rasul, Vollgraf)",
        files=_canonical_files({
            "train-images": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "train-labels": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "test-images": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "test-labels": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        }, {"train-images": 26421880, "train-labels": 29515, "test-images": 4422102,
            "test-labels": 5148}),
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"),
        # Zalando's conversion: trimmed, longest edge to 28, sharpened, no crop to ink
        preprocessing="fashion",
        # clothing keeps its class in a mirror; rotations and shifts blur its texture.
        # cnn, 15 epochs: the digits' shifts and rotations 90.9%, none 92.8%, mirrors with
        # label smoothing 0.1 92.6%; mirrors over 20 epochs: benchmarks/results/fashion.md
        augment={"flip": 1},
        label_smoothing=0.0,
        epochs=20,
        sizes=(60000, 10000),
        homepage="https://github.com/zalandoresearch/fashion-mnist",
        verified_on_real_data=True,
    ),
    # Kuzushiji-MNIST (Clanuwat et al. 2018): ten cursive hiragana, one per row of the
    # syllabary, named here by their romanisation (o, ki, su, tsu, na, ha, ma, ya, re, wo).
    # Digests and sizes as published by TensorFlow Datasets 4.9.10
    # (tensorflow_datasets/url_checksums/kmnist.txt).
    "kmnist": DatasetSpec(
        name="kmnist",
        description="Kuzushiji-MNIST: cursive Japanese hiragana (Clanuwat et al.)",
        files=_canonical_files({
            "train-images": "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
            "train-labels": "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
            "test-images": "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
            "test-labels": "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
        }, {"train-images": 18165135, "train-labels": 29497, "test-images": 3041136,
            "test-labels": 5120}),
        mirrors=("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        sizes=(60000, 10000),
        homepage="https://github.com/rois-codh/kmnist",
    ),
}

# EMNIST (Cohen, Afshar, Tapson, van Schaik 2017): one archive for all its splits. Digest
# and size as published by TensorFlow Datasets 4.9.10
# (tensorflow_datasets/url_checksums/emnist.txt); split sizes from its EMNIST builder
# configs (tensorflow_datasets/image_classification/mnist.py).
EMNIST_ARCHIVE = DatasetFile(
    "archive", "gzip.zip", "fb9bb67e33772a9cc0b895e4ecf36d2cf35be8b709693c3564cea2a019fcda8e",
    561753746)
EMNIST_MIRRORS = ("https://biometrics.nist.gov/cs_links/EMNIST/",)
_LETTERS = tuple(chr(code) for code in range(ord("A"), ord("Z") + 1))
for _split, _description, _classes, _sizes, _offset in (
    ("digits", "EMNIST Digits: handwritten digits from NIST SD 19",
     tuple(str(d) for d in range(10)), (240000, 40000), 0),
    # labelled 1-26 in the files (0 unused): mapped to 0-25 on load
    ("letters", "EMNIST Letters: handwritten letters A-Z, upper and lower case merged "
     "(labelled 1-26 in the files, 0-25 here)",
     _LETTERS, (88800, 14800), 1),
    # the 47 classes of emnist-balanced-mapping.txt: digits, A-Z, and the 11 lower-case
    # letters that differ from their capitals
    ("balanced", "EMNIST Balanced: digits and letters, 47 balanced classes",
     tuple(str(d) for d in range(10)) + _LETTERS + tuple("abdefghnqrt"), (112800, 18800), 0),
):
    DATASETS[f"emnist-{_split}"] = DatasetSpec(
        name=f"emnist-{_split}", description=_description, files=(EMNIST_ARCHIVE,),
        mirrors=EMNIST_MIRRORS, class_names=_classes, storage="emnist", layout="emnist",
        emnist_split=_split, label_offset=_offset, sizes=_sizes,
        homepage="https://www.nist.gov/itl/products-and-services/emnist-dataset")

# The class count of the default dataset (MNIST's ten digits), for callers without a spec.
NUM_CLASSES = DATASETS[DEFAULT_DATASET].num_classes


def get_dataset(name: str) -> DatasetSpec:
    try:
        return DATASETS[name]
    except KeyError:
        choices = ", ".join(sorted(DATASETS))
        raise DataError(f"unknown dataset {name!r}; choose one of: {choices}") from None


def resolve_data_dir(data_dir: Path | str | None = None, dataset: str = DEFAULT_DATASET) -> Path:
    """The directory holding a dataset's files: ``data_dir`` if given, else MNIST_HOME's."""
    return (Path(data_dir) if data_dir is not None
            else dataset_dir(get_dataset(dataset).directory_name))


def sha256_file(path: Path | str, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileStatus:
    role: str
    path: Path
    status: str  # "verified", "missing", "modified" (digest differs from the registry's)
    sha256: str | None


def verify_files(data_dir: Path | str | None = None,
                 dataset: str = DEFAULT_DATASET) -> list[FileStatus]:
    """Check each of the dataset's files against its known SHA-256 digest."""
    spec = get_dataset(dataset)
    directory = resolve_data_dir(data_dir, dataset)
    statuses = []
    for entry in spec.files:
        path = directory / entry.filename
        if not path.is_file():
            statuses.append(FileStatus(entry.role, path, "missing", None))
            continue
        digest = sha256_file(path)
        status = "verified" if digest == entry.sha256 else "modified"
        statuses.append(FileStatus(entry.role, path, status, digest))
    return statuses


@dataclass(frozen=True)
class Split:
    """One split of a dataset: ``images`` uint8 (N, 28, 28), ``labels`` uint8 (N,)."""

    name: str
    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def _load_pair(directory: Path, spec: DatasetSpec, part: str) -> tuple[np.ndarray, np.ndarray]:
    # numpy and the IDX reader load here, not with the registry: every `mnist` command
    # reads the registry (option choices, completion) and most never load data
    import numpy as np

    from mnistcli.idx import read_idx

    if spec.layout == "emnist":
        from mnistcli import emnist

        images = emnist.untranspose(emnist.read_member(directory, spec.emnist_split, part,
                                                       "images", dataset=spec.name))
        labels = emnist.read_member(directory, spec.emnist_split, part, "labels",
                                    dataset=spec.name)
        image_path = Path(emnist.member_name(spec.emnist_split, part, "images"))
        label_path = Path(emnist.member_name(spec.emnist_split, part, "labels"))
    else:
        image_path = directory / spec.file(f"{part}-images").filename
        label_path = directory / spec.file(f"{part}-labels").filename
        for path in (image_path, label_path):
            if not path.is_file():
                command = ("mnist download" if spec.name == DEFAULT_DATASET
                           else f"mnist download --dataset {spec.name}")
                raise DataNotFoundError(
                    f"{spec.name} not found: {path} does not exist. Run `{command}` first "
                    "(or point --data at a directory holding the four IDX files)"
                )
        images = read_idx(image_path)
        labels = read_idx(label_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(
            f"{image_path}: expected uint8 images of shape (N, {IMAGE_SIDE}, {IMAGE_SIDE}), found "
            f"{images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{label_path}: expected a 1-D uint8 label file, found {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{image_path.name} holds {len(images)} images but {label_path.name} holds "
            f"{len(labels)} labels"
        )
    if spec.label_offset and len(labels):
        if int(labels.min()) < spec.label_offset:
            raise DataError(f"{label_path}: label {int(labels.min())} is below "
                            f"{spec.label_offset}, where {spec.name}'s labels start")
        # e.g. EMNIST letters: 1-26 in the file, 0-25 here
        labels = (labels - np.uint8(spec.label_offset)).astype(np.uint8)
    if len(labels) and int(labels.max()) >= spec.num_classes:
        what = "digit" if spec.class_names == DIGITS else "class"
        raise DataError(f"{label_path}: label {int(labels.max()) + spec.label_offset} is not "
                        f"a {what} {spec.label_offset}-"
                        f"{spec.num_classes - 1 + spec.label_offset}")
    return images, labels


def train_size(data_dir: Path | str | None = None, dataset: str = DEFAULT_DATASET
               ) -> int | None:
    """How many training images a dataset holds (reading only what it must), or None
    when its files are not there."""
    spec = get_dataset(dataset)
    directory = resolve_data_dir(data_dir, dataset)
    try:
        if spec.layout == "emnist":
            return len(_load_pair(directory, spec, "train")[1])
        from mnistcli.idx import read_idx

        path = directory / spec.file("train-labels").filename
        return len(read_idx(path)) if path.is_file() else None
    except DataNotFoundError:
        return None


def is_downloaded(dataset: str) -> bool:
    """Whether every file of ``dataset`` is in its MNIST_HOME directory (not verified)."""
    spec = get_dataset(dataset)
    directory = dataset_dir(spec.directory_name)
    return all((directory / entry.filename).is_file() for entry in spec.files)


def load_dataset(data_dir: Path | str | None = None, dataset: str = DEFAULT_DATASET,
                 validation: int = DEFAULT_VALIDATION,
                 splits: tuple[str, ...] = SPLITS) -> dict[str, Split]:
    """Load the requested splits. ``validation`` images are taken from the end of the
    training set (views, not copies); ``train`` is what remains before them."""
    spec = get_dataset(dataset)
    directory = resolve_data_dir(data_dir, dataset)
    for split in splits:
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; choose one of: {', '.join(SPLITS)}")
    result: dict[str, Split] = {}
    if {"train", "validation"} & set(splits):
        images, labels = _load_pair(directory, spec, "train")
        if not 0 <= validation < len(labels):
            raise DataError(
                f"--validation {validation}: must be between 0 and {len(labels) - 1} "
                f"(the training set has {len(labels)} images)"
            )
        cut = len(labels) - validation
        if "train" in splits:
            result["train"] = Split("train", images[:cut], labels[:cut])
        if "validation" in splits:
            result["validation"] = Split("validation", images[cut:], labels[cut:])
    if "test" in splits:
        images, labels = _load_pair(directory, spec, "test")
        result["test"] = Split("test", images, labels)
    return result


def load_split(split: str, data_dir: Path | str | None = None, dataset: str = DEFAULT_DATASET,
               validation: int = DEFAULT_VALIDATION) -> Split:
    """Load one split (``train``, ``validation`` or ``test``)."""
    return load_dataset(data_dir, dataset, validation, splits=(split,))[split]


def data_digests(data_dir: Path | str | None = None,
                 dataset: str = DEFAULT_DATASET) -> dict[str, str]:
    """SHA-256 of each file actually used, for run records."""
    directory = resolve_data_dir(data_dir, dataset)
    return {f.filename: sha256_file(directory / f.filename) for f in get_dataset(dataset).files
            if (directory / f.filename).is_file()}
