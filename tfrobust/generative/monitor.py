"""``GANMonitor``: per-epoch sample grids in TensorBoard and the classifier FID / score of the samples."""
from __future__ import annotations

import math
import os
from typing import List, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.generative.classifier_metrics import classifier_fid, classifier_score


def image_grid(images, columns: Optional[int] = None) -> np.ndarray:
    """(N, H, W, C) images in [0, 1] tiled row by row into one (rows * H, columns * W, C) image."""
    images = np.asarray(images, np.float32)
    n, h, w, c = images.shape
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    grid = np.zeros((rows * h, columns * w, c), np.float32)
    for i, image in enumerate(images):
        r, k = divmod(i, columns)
        grid[r * h:(r + 1) * h, k * w:(k + 1) * w] = image
    return grid


class GANMonitor(keras.callbacks.Callback):
    """After every epoch: a grid of samples from fixed z in TensorBoard, and (with a classifier) the classifier
    FID against ``real`` and the classifier score of ``num_samples`` fresh samples.

    Args:
        logdir: TensorBoard directory (images go to ``logdir/samples``), or None for no logging.
        latent_dim: size of z.
        classifier: a tfrobust classifier trained on the same data (``classifier_metrics``), or None.
        real: real images the FID compares with.
        num_samples: generated images per FID evaluation.
        grid_size: samples in the grid.
        seed: seed of the fixed grid z and of the FID samples (the same z every epoch).

    Attributes:
        fid: classifier FID after each epoch; ``score``: classifier score after each epoch. Both are also added
            to the epoch's logs (``classifier_fid``, ``classifier_score``), so ``History`` and TensorBoard get them.
    """

    def __init__(self, logdir: Optional[str], latent_dim: int, classifier: Optional[keras.Model] = None,
                 real=None, num_samples: int = 1000, grid_size: int = 64, seed: int = 0):
        super().__init__()
        self.logdir = logdir
        self.classifier = classifier
        self.real = None if real is None else np.asarray(real, np.float32)
        rng = np.random.default_rng(seed)
        self.grid_z = rng.standard_normal((grid_size, latent_dim)).astype(np.float32)
        self.fid_z = rng.standard_normal((num_samples, latent_dim)).astype(np.float32)
        self.fid: List[float] = []
        self.score: List[float] = []
        self._writer = None

    def generate(self, z) -> np.ndarray:
        return np.concatenate([self.model.generator(z[i:i + 500], training=False).numpy()
                               for i in range(0, len(z), 500)])

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        if self.classifier is not None and self.real is not None:
            samples = self.generate(self.fid_z)
            self.fid.append(classifier_fid(self.classifier, self.real, samples))
            self.score.append(classifier_score(self.classifier, samples))
            logs["classifier_fid"], logs["classifier_score"] = self.fid[-1], self.score[-1]
        if self.logdir is not None:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(os.path.join(self.logdir, "samples"))
            with self._writer.as_default():
                tf.summary.image("samples", image_grid(self.generate(self.grid_z))[None], step=epoch)
                for name in ("classifier_fid", "classifier_score"):
                    if name in logs:
                        tf.summary.scalar(name, logs[name], step=epoch)
            self._writer.flush()
