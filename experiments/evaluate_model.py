"""Evaluate anyone's saved model: accuracy-vs-eps sweeps for chosen attacks and the gradient-masking report.

    python experiments/evaluate_model.py --model model.keras --dataset mnist5k --attacks fgsm,pgd \
        --eps 0.05,0.1,0.2,0.3

Reads tf_keras `.keras`/`.h5`, Keras 3 `.keras` and SavedModel directories. Safe mode is on: models with
Lambda layers (serialised Python code) are refused unless --unsafe. The model must take images in [0, 1]
(normalisation inside the model) and return logits or probabilities (probabilities are detected).
Writes report.json, report.md and figures to --out_dir and TensorBoard logs to --logdir.
"""
from __future__ import annotations

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Path to a .keras/.h5 file or a SavedModel directory.")
flags.DEFINE_string("dataset", "mnist5k", "Dataset name (see tfrobust.data): mnist5k, fashion_mnist, mnist, cifar10, ...")
flags.DEFINE_string("split", "test", "Dataset split.")
flags.DEFINE_integer("num_examples", 1000, "Examples to evaluate (first N of the split).")
flags.DEFINE_list("attacks", ["fgsm", "pgd"], "Attack specs, e.g. fgsm, pgd, 'pgd:steps=100;restarts=5', rfgsm, noise.")
flags.DEFINE_list("eps", ["0.05", "0.1", "0.2", "0.3"], "Eps grid in pixel units of the [0, 1] images.")
flags.DEFINE_float("masking_eps", None, "Eps of the gradient-masking report (default: the largest eps; 0 skips).")
flags.DEFINE_integer("batch_size", 256, "Examples per attack call.")
flags.DEFINE_bool("unsafe", False, "Allow Lambda layers (runs code stored in the model file).")
flags.DEFINE_string("xla", "auto", "XLA: auto (on with a GPU), true or false.")
flags.DEFINE_string("out_dir", None, "Output directory (default results/evaluate_model/<model file name>).")
flags.DEFINE_string("logdir", None, "TensorBoard directory (default tensorboard_logs/evaluate_model/<model file name>).")
flags.mark_flag_as_required("model")


def main(argv):
    del argv
    from tfrobust import config
    from tfrobust.data import load_numpy
    from tfrobust.evaluation import parse_attack
    from tfrobust.evaluation.report import evaluate_robustness
    from tfrobust.model_import import load_model

    config.set_xla(FLAGS.xla)
    name = os.path.basename(os.path.normpath(FLAGS.model))
    out_dir = FLAGS.out_dir or os.path.join("results", "evaluate_model", name)
    logdir = FLAGS.logdir or os.path.join("tensorboard_logs", "evaluate_model", name)
    # Specs are comma-separated on the command line, so settings inside one spec use ';'.
    attacks = {a.label: a for a in (parse_attack(spec.replace(";", ",")) for spec in FLAGS.attacks)}
    epsilons = [float(e) for e in FLAGS.eps]
    try:
        loaded = load_model(FLAGS.model, safe_mode=not FLAGS.unsafe)
    except (FileNotFoundError, ValueError) as err:  # missing file, unknown format, Lambda in safe mode
        raise app.UsageError(str(err)) from err
    x, y = load_numpy(FLAGS.dataset, FLAGS.split, take=FLAGS.num_examples)
    if loaded.input_shape is not None and tuple(loaded.input_shape) != tuple(x.shape[1:]) and None not in loaded.input_shape:
        raise app.UsageError(f"The model takes inputs of shape {loaded.input_shape} but {FLAGS.dataset} images "
                             f"have shape {x.shape[1:]}; choose the matching --dataset.")
    masking_eps = max(epsilons) if FLAGS.masking_eps is None else FLAGS.masking_eps
    report = evaluate_robustness(
        loaded.model, x, y, attacks=attacks, epsilons=epsilons, masking_eps=masking_eps or None,
        out_dir=out_dir, logdir=logdir, model_name=name, batch_size=FLAGS.batch_size,
        extra={"model_path": os.path.abspath(FLAGS.model), "format": loaded.format, "dataset": FLAGS.dataset,
               "split": FLAGS.split})
    print(report.markdown())
    print(f"Wrote {', '.join(sorted(report.files.values()))}")


if __name__ == "__main__":
    app.run(main)
