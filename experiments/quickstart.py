"""Quickstart: train the seed-000 LeNet-5 on the bundled mnist5k digits, attack it, check the evaluation.

Runs offline in about two minutes on 2 CPU cores:

    python experiments/quickstart.py

Prints a table of FGSM and PGD accuracy and drop(eps) over an eps grid and the gradient-masking report;
writes the model (lenet5.keras), report.json/report.md and figures to results/quickstart/ and TensorBoard logs to
tensorboard_logs/quickstart/ (open with `tensorboard --logdir tensorboard_logs`).
"""
from __future__ import annotations

import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

FLAGS = flags.FLAGS
flags.DEFINE_integer("epochs", 15, "Training epochs.")
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_float("learning_rate", 2e-3, "Adam learning rate.")
flags.DEFINE_list("eps", ["0.05", "0.1", "0.15", "0.2", "0.25", "0.3"], "L-inf eps grid (pixel units).")
flags.DEFINE_integer("pgd_steps", 40, "PGD iterations (Madry et al. MNIST: 40 steps of 0.01).")
flags.DEFINE_float("pgd_step_size", 0.01, "PGD step size.")
flags.DEFINE_integer("eval_size", 1000, "Test digits to evaluate (mnist5k test has 1,000).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("xla", "auto", "XLA: auto (on with a GPU), true or false.")
flags.DEFINE_string("logdir", "tensorboard_logs/quickstart", "TensorBoard log directory.")
flags.DEFINE_string("out_dir", "results/quickstart", "Directory for report.json, report.md and figures.")


def main(argv):
    del argv
    import tf_keras as keras

    from tfrobust import config, models
    from tfrobust.data import load_numpy
    from tfrobust.evaluation import Attack
    from tfrobust.evaluation.report import evaluate_robustness

    config.set_xla(FLAGS.xla)
    keras.utils.set_random_seed(FLAGS.seed)
    x_train, y_train = load_numpy("mnist5k", "train")
    x_test, y_test = load_numpy("mnist5k", "test", take=FLAGS.eval_size)

    start = time.time()
    model = models.build("lenet5", (28, 28, 1), 10)
    model.compile(keras.optimizers.Adam(FLAGS.learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  jit_compile=config.use_xla())
    model.fit(x_train, y_train, batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, verbose=2,
              validation_data=(x_test, y_test),
              callbacks=[keras.callbacks.TensorBoard(os.path.join(FLAGS.logdir, "train"))])
    train_seconds = time.time() - start
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    model_path = os.path.join(FLAGS.out_dir, "lenet5.keras")
    model.save(model_path)

    attacks = {
        "fgsm": Attack("fgsm"),
        f"pgd{FLAGS.pgd_steps}": Attack("pgd", steps=FLAGS.pgd_steps, step_size=FLAGS.pgd_step_size),
    }
    report = evaluate_robustness(
        model, x_test, y_test, attacks=attacks, epsilons=[float(e) for e in FLAGS.eps],
        masking_eps=max(float(e) for e in FLAGS.eps), out_dir=FLAGS.out_dir,
        logdir=os.path.join(FLAGS.logdir, "eval"), model_name="lenet5 (mnist5k, standard training)",
        extra={"model_path": model_path, "train_seconds": train_seconds, "epochs": FLAGS.epochs, "seed": FLAGS.seed})
    print()
    print(report.markdown())
    print(f"Wrote {', '.join(sorted(report.files.values()))}")
    print(f"Model saved to {model_path}; evaluate it again with experiments/evaluate_model.py --model {model_path}")
    print(f"TensorBoard: tensorboard --logdir {FLAGS.logdir}")


if __name__ == "__main__":
    app.run(main)
