"""ScaleNet data: FFCV ``.beton`` datasets from ImageFolder / IDX / numpy sources, and loaders.

Writing needs FFCV (``pip install 'scalenet-data[ffcv]'``); reading works without it through the
torchvision fallback loader, chosen automatically with a warning. A prepared folder's splits open
as batches with :func:`open_split` (in memory, resumable, or streamed by FFCV).
"""

from scalenet.data.beton import BetonInfo, BetonReader, inspect_beton
from scalenet.data.errors import BetonError, DataError, FfcvUnavailableError
from scalenet.data.loaders import (
    DECODE_CHECK_SAMPLES,
    DEFAULT_CROP_RATIO,
    ImageLoader,
    LoaderSpec,
    eval_loader,
    minival_loader,
    resolve_backend,
    train_loader,
)
from scalenet.data.memory import (
    FASHION_MNIST_DIR,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    ImageSet,
    ShuffledBatches,
    fixed_batches,
    load_fashion_mnist,
    synthetic_images,
)
from scalenet.data.prepared import (
    LOADER_WORKERS,
    LOADERS,
    held_out_split,
    manifest_digest,
    num_classes,
    open_split,
    read_split,
    split_size,
    subset_indices,
)
from scalenet.data.sources import (
    BUILTIN_CLASS_LISTS,
    FASHION_MNIST_CLASSES,
    ArraySource,
    ImageFolderSource,
    ImageSource,
    builtin_class_list,
    find_fashion_mnist,
    idx_source,
    read_class_list,
    read_idx,
)
from scalenet.data.splits import DEFAULT_MINIVAL_PER_CLASS, minival_split
from scalenet.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    BatchRandAugment,
    normalize_batch,
    resize_batch,
)
from scalenet.data.writer import (
    Manifest,
    SplitRecord,
    ffcv_available,
    prepare_dataset,
    prepare_idx,
    prepare_imagefolder,
    verify_beton,
    write_beton,
)

__all__ = [
    "BUILTIN_CLASS_LISTS",
    "DECODE_CHECK_SAMPLES",
    "DEFAULT_CROP_RATIO",
    "DEFAULT_MINIVAL_PER_CLASS",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LOADERS",
    "LOADER_WORKERS",
    "ArraySource",
    "BatchRandAugment",
    "BetonError",
    "BetonInfo",
    "BetonReader",
    "DataError",
    "FfcvUnavailableError",
    "ImageFolderSource",
    "ImageLoader",
    "ImageSet",
    "ImageSource",
    "LoaderSpec",
    "Manifest",
    "ShuffledBatches",
    "SplitRecord",
    "builtin_class_list",
    "eval_loader",
    "ffcv_available",
    "find_fashion_mnist",
    "fixed_batches",
    "held_out_split",
    "idx_source",
    "inspect_beton",
    "load_fashion_mnist",
    "manifest_digest",
    "minival_loader",
    "minival_split",
    "normalize_batch",
    "num_classes",
    "open_split",
    "prepare_dataset",
    "prepare_idx",
    "prepare_imagefolder",
    "read_class_list",
    "read_idx",
    "read_split",
    "resize_batch",
    "resolve_backend",
    "split_size",
    "subset_indices",
    "synthetic_images",
    "train_loader",
    "verify_beton",
    "write_beton",
]

__version__ = "0.1.0"
