"""TensorBoard helpers: the event files hold the logged tags and values."""
import glob
import os

import numpy as np
import pytest
import tensorflow as tf

from tfrobust.evaluation import SweepResult
from tfrobust.plotting import plot_accuracy_vs_epsilon
from tfrobust.tensorboard import image_grid, log_figure, log_image_grid, log_scalars, log_sweep


def _read_events(logdir):
    """{tag: [(step, value or image shape)]} from every event file under logdir."""
    found = {}
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor)
                plugin = value.metadata.plugin_data.plugin_name
                entry = float(tensor) if plugin == "scalars" else tensor
                found.setdefault(value.tag, []).append((event.step, entry))
    return found


def test_log_sweep_and_scalars(tmp_path):
    sweep = SweepResult("fgsm", {"name": "fgsm"}, [0.0, 0.1, 0.3], [0.9, 0.5, 0.1], 0.9, 100)
    log_sweep(str(tmp_path), "fgsm/cnn", sweep)
    log_scalars(str(tmp_path), {"clean_accuracy": 0.9, "robust/pgd": np.float32(0.25)}, step=3)
    events = _read_events(str(tmp_path))
    # step = index into the eps grid (not eps * 1000), eps itself on the same axis and in per-point tags
    assert [(s, round(v, 6)) for s, v in events["fgsm/cnn/accuracy"]] == [(0, 0.9), (1, 0.5), (2, 0.1)]
    assert [(s, round(v, 6)) for s, v in events["fgsm/cnn/drop"]] == [(0, 0.0), (1, 0.4), (2, 0.8)]
    assert [(s, round(v, 6)) for s, v in events["fgsm/cnn/eps"]] == [(0, 0.0), (1, 0.1), (2, 0.3)]
    assert events["fgsm/cnn/accuracy/eps=0.3"] == [(0, pytest.approx(0.1))]
    assert events["clean_accuracy"] == [(3, pytest.approx(0.9))]
    assert events["robust/pgd"] == [(3, 0.25)]
    table = events["fgsm/cnn/table"][0][1].item().decode()
    assert "| eps | accuracy | drop |" in table
    assert "step = index into the eps grid (0: 0, 1: 0.1, 2: 0.3)" in table


def test_log_image_grid_and_figure(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (20, 6, 5, 1)).astype(np.float32)
    x_adv = np.clip(x + 0.1, 0, 1)
    grid = image_grid(x, x_adv, max_images=16)
    assert grid.shape == (18, 80, 1)
    np.testing.assert_allclose(grid[:6, 5:10], x[1])
    np.testing.assert_allclose(grid[6:12, :5], x_adv[0])
    writer = tf.summary.create_file_writer(str(tmp_path))
    log_image_grid(writer, "adversarial/grid", x, x_adv, step=2, max_images=16)
    log_figure(writer, "figures/accuracy",
               plot_accuracy_vs_epsilon(SweepResult("fgsm", {}, [0.0, 0.1], [0.9, 0.4], 0.9, 10)))
    writer.close()
    events = _read_events(str(tmp_path))
    step, encoded = events["adversarial/grid"][0]
    assert step == 2
    image = tf.io.decode_png(encoded[2]).numpy()  # [width, height, png]
    assert image.shape == (18, 80, 1)
    assert "figures/accuracy" in events


def test_bad_logdir_and_scalars(tmp_path):
    with pytest.raises(TypeError, match="logdir"):
        log_scalars(42, {"a": 1.0})
    with pytest.raises(TypeError, match="number"):
        log_scalars(str(tmp_path), {"a": "high"})
    with pytest.raises(TypeError, match="SweepResult"):
        log_sweep(str(tmp_path), "x", {"accuracy": [1.0]})
