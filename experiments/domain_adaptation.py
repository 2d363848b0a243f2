"""Seed 001, second half: unsupervised domain adaptation by backpropagation (Ganin & Lempitsky 2015).

For each target domain of ``--targets`` (built offline from real images, see ``tfrobust.data.mnist_m`` and
``tfrobust.data.sklearn_digits``), with mnist5k's 4,000 training digits as the labelled source:

- source only: G_y ∘ G_f trained on the source labels;
- DANN: the same network trained with the domain classifier behind a gradient reversal layer on paired
  source/unlabelled-target batches (λ_p and μ_p schedules of the paper);
- train on target: the oracle trained on the target labels.

Target test accuracy of the three (the paper's Table 1), the domain classifier's accuracy per epoch and on
held-out images at the end, a PCA figure of the features before/after adaptation, and PGD robust accuracy of
source-only vs DANN on the target test set (does aligning features change adversarial robustness?).

Usage:
    python experiments/domain_adaptation.py --preset quick
"""
from __future__ import annotations

import dataclasses
import time
from typing import Dict, Tuple

from tfrobust.studies.config import AttackSettings, StudyConfig
from tfrobust.studies.flags import run_script

# Heavy imports (TensorFlow, Keras, the library's models) happen inside the functions, as in quickstart.py.

EXPERIMENT = "domain_adaptation"
TARGETS = ("mnist_m", "sklearn_digits")
#: REFERENCE.md "Batch 2 facts": Ganin & Lempitsky 2015, Table 1, MNIST -> MNIST-M.
PUBLISHED_MNIST_M = {"source only": 0.5225, "DANN": 0.7666, "train on target": 0.9596}
#: Issue 13's checks, both in the same run: DANN's target accuracy at least this much above source-only, and its
#: own domain classifier at most this accurate on held-out images of both domains at the end.
MIN_GAIN, MAX_DOMAIN_ACCURACY = 0.10, 0.65


def checks(entry: dict) -> dict:
    """Issue 13's two checks on one target's entry: {name: (value, passed)}."""
    gain, domain = entry["gain"], entry["domain_accuracy_final"]
    return {f"gain >= {100 * MIN_GAIN:g} points": (100 * gain, gain >= MIN_GAIN),
            f"held-out domain accuracy <= {MAX_DOMAIN_ACCURACY:g}": (domain, domain <= MAX_DOMAIN_ACCURACY)}


@dataclasses.dataclass(frozen=True)
class DomainAdaptationConfig(AttackSettings, StudyConfig):
    """Settings of the domain-adaptation study.

    Attributes:
        targets: Comma-separated target domains (mnist_m, sklearn_digits); the source is mnist5k.
        momentum: SGD momentum (0.9 in the paper); the learning rate is mu_0 = --learning_rate, annealed.
        optimizer: sgd (the paper's, with --momentum) or adam; both with the paper's annealing of the rate.
        batch_norm: Batch normalisation after each convolution of the feature extractor (not in the paper), each
            domain normalised by its own batch statistics in DANN's training step.
        baseline_epochs: Epochs of the source-only and train-on-target models (0: --epochs).
        ema: Momentum of an exponential moving average of the weights, deployed at the end (0: the last weights).
            DANN's last iterates oscillate in its min-max game (domain accuracy 0.4 to 0.9 from one epoch to the
            next); averaging the iterates damps it. Used for all three models alike.
        domain_loss: per_domain (the paper's mean over the source batch plus mean over the target batch) or
            pooled (the mean over both: half the adversarial weight).
        batch_statistics: per_domain (each domain's batch normalised by its own statistics in training) or joint
            (one pass over the source + target batch: the statistics the inference moving averages estimate).
        domain_eval_every: The held-out domain accuracy (raw and averaged weights) is measured every this many
            epochs and after the last.
    """

    targets: Tuple[str, ...] = ("mnist_m", "sklearn_digits")
    momentum: float = 0.9
    optimizer: str = "sgd"
    batch_norm: bool = False
    baseline_epochs: int = 0
    ema: float = 0.0
    domain_loss: str = "per_domain"
    domain_eval_every: int = 5
    batch_statistics: str = "per_domain"

    SWEEP_FIELDS = ("targets",)

    def validate(self) -> None:
        bad = [t for t in self.targets if t not in TARGETS]
        if not self.targets or bad:
            raise ValueError(f"--targets takes {', '.join(TARGETS)}; got {', '.join(self.targets)}.")
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"--optimizer takes sgd or adam; got {self.optimizer}.")
        if not 0 <= self.ema < 1:
            raise ValueError(f"--ema must be in [0, 1) (0: no averaging); got {self.ema}.")
        if self.domain_loss not in ("per_domain", "pooled"):
            raise ValueError(f"--domain_loss takes per_domain or pooled; got {self.domain_loss}.")
        if self.batch_statistics not in ("per_domain", "joint"):
            raise ValueError(f"--batch_statistics takes per_domain or joint; got {self.batch_statistics}.")
        if self.domain_eval_every < 1:
            raise ValueError(f"--domain_eval_every must be >= 1 (epochs); got {self.domain_eval_every}.")
        if self.baseline_epochs < 0:
            raise ValueError(f"--baseline_epochs must be >= 0 (0: --epochs); got {self.baseline_epochs}.")


PRESETS: Dict[str, DomainAdaptationConfig] = {
    # 2 CPU cores, <= 10 minutes: the MNIST-M-style target only, the paper's optimiser and rate (SGD momentum 0.9,
    # mu_0 = 0.01 annealed) and domain loss (mean over the source batch + mean over the target batch), 80 DANN
    # epochs (4,960 paired steps), baselines 10. Not in the paper: batch normalisation with per-domain batch
    # statistics, and averaged weights (EMA 0.998) deployed at the end, because the last iterates oscillate in the
    # min-max game. Measured (oneDNN kernels on), seeds 0 / 1 / 2, gain over source-only (points) / held-out domain
    # accuracy of the deployed DANN:
    #   60 epochs, EMA 0.995:  +12.3 / 0.578,  +24.6 / 0.712,  +9.5 / 0.559   (seed 1 fails the domain check,
    #                                                                          seed 2 the gain)
    #   80 epochs, EMA 0.998:  +21.0 / 0.629,  +38.0 / 0.610,  +12.2 / 0.646  (every seed passes both;
    #                          seeds 3 / 4: +23.1 / 0.621, +18.9 / 0.589, so 5 of 5 pass)
    #   60 epochs, EMA 0.995, one pass over the joined batch (--batch_statistics joint), seed 0: +0.3 / 0.746:
    #   per-domain statistics are what makes the gain here.
    # Source-only varies with the seed (0.48 / 0.35 / 0.53) more than DANN (0.69 / 0.73 / 0.65). The preset takes
    # 215-218 s alone on 2 idle cores (DANN's 80 epochs ~175 s of it).
    "quick": DomainAdaptationConfig(preset="quick", targets=("mnist_m",), epochs=80, baseline_epochs=10,
                                    batch_size=64, optimizer="sgd", learning_rate=0.01, batch_norm=True, ema=0.998,
                                    eval_size=1000, eps=0.1, attack="pgd:steps=20,restarts=1"),
    # The paper's network, optimiser and rate (SGD momentum 0.9, mu_0 = 0.01) on both targets; it trains far
    # longer on 59,000 MNIST digits, here 100 epochs over our 4,000 are ~6,000 steps of 64 + 64.
    "paper": DomainAdaptationConfig(preset="paper", epochs=100, batch_size=64, learning_rate=0.01, eval_size=1000,
                                    eps=0.1, attack="pgd:steps=40,restarts=1"),
}


def _domains(target: str, config):
    from tfrobust.data.mnist5k import load_mnist5k
    from tfrobust.data.mnist_m import as_rgb, load_mnist_m
    from tfrobust.data.sklearn_digits import load_sklearn_digits

    loader = {"mnist_m": load_mnist_m, "sklearn_digits": load_sklearn_digits}[target]
    xs, ys = load_mnist5k("train")
    xs_test, ys_test = load_mnist5k("test")
    xt, yt = loader("train")
    xt_test, yt_test = loader("test")
    if xt.shape[-1] == 3:
        xs, xs_test = as_rgb(xs), as_rgb(xs_test)
    if config.train_size:
        xs, ys, xt, yt = xs[:config.train_size], ys[:config.train_size], xt[:config.train_size], yt[:config.train_size]
    n = config.eval_size
    return (xs, ys), (xs_test[:n], ys_test[:n]), (xt, yt), (xt_test[:n], yt_test[:n])


def _steps(config, n):
    steps = max(1, n // config.batch_size)
    return min(steps, config.max_steps) if config.max_steps else steps


def _optimizer(config, total):
    import tf_keras as keras

    from tfrobust.adaptation import AnnealedLearningRate

    rate = AnnealedLearningRate(config.learning_rate, total)
    average = {"use_ema": True, "ema_momentum": config.ema} if config.ema else {}
    if config.optimizer == "adam":
        return keras.optimizers.Adam(rate, **average)
    return keras.optimizers.SGD(rate, momentum=config.momentum, **average)


def _entry(run, config, target) -> dict:
    import numpy as np
    import tf_keras as keras

    from tfrobust.adaptation import (DANN, HeldOutDomainAccuracy, classifier_from, dann_callbacks,
                                     domain_accuracy, domain_head, domain_probe_accuracy, extract_features,
                                     ganin_features, label_head, paired_dataset)
    from tfrobust.adaptation.figures import plot_feature_pca
    from tfrobust.evaluation.robust_accuracy import robust_accuracy

    (xs, ys), (xs_test, ys_test), (xt, yt), (xt_test, yt_test) = _domains(target, config)
    mean = np.concatenate([xs, xt]).mean(axis=0)  # the paper's pixel-mean subtraction, both domains' train images
    shape = xs.shape[1:]
    logdir = run.model_logdir(target)
    seconds, cpu_seconds = {}, {}

    def features():
        return ganin_features(shape, mean, batch_norm=config.batch_norm)

    def plain(x, y, key):
        began, cpu = time.time(), time.process_time()
        keras.utils.set_random_seed(config.seed)
        model = classifier_from(features(), label_head(768))
        epochs = config.baseline_epochs or config.epochs
        model.compile(_optimizer(config, epochs * _steps(config, len(x))),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        model.fit(x, y, batch_size=config.batch_size, epochs=epochs, steps_per_epoch=_steps(config, len(x)),
                  verbose=2, callbacks=[keras.callbacks.TensorBoard(f"{logdir}/{key}", profile_batch=0)])
        seconds[key], cpu_seconds[key] = time.time() - began, time.process_time() - cpu
        return model

    source_only = plain(xs, ys, "source_only")
    oracle = plain(xt, yt, "train_on_target")
    began, cpu = time.time(), time.process_time()
    keras.utils.set_random_seed(config.seed)
    dann = DANN(features(), label_head(768), domain_head(768), domain_loss=config.domain_loss,
                batch_statistics=config.batch_statistics)
    steps = _steps(config, len(xs))
    dann.compile(optimizer=_optimizer(config, config.epochs * steps))
    held_out = HeldOutDomainAccuracy(xs_test, xt_test, every=config.domain_eval_every)
    history = dann.fit(paired_dataset(xs, ys, xt, batch_size=config.batch_size, seed=config.seed),
                       epochs=config.epochs, steps_per_epoch=steps, verbose=2,
                       callbacks=dann_callbacks(config.epochs * steps)
                       + [held_out, keras.callbacks.TensorBoard(f"{logdir}/dann", profile_batch=0)]).history
    seconds["dann"], cpu_seconds["dann"] = time.time() - began, time.process_time() - cpu

    def acc(model, x, y):
        return float(np.mean(np.argmax(model.predict(x, batch_size=500, verbose=0), 1) == y))

    began, cpu = time.time(), time.process_time()
    attack = config.attack_spec()
    entry = {"target": target, "n_source_train": len(xs), "n_target_train": len(xt)}
    for name, model in (("source only", source_only), ("DANN", dann.classifier), ("train on target", oracle)):
        entry[name] = {"target_accuracy": acc(model, xt_test, yt_test), "source_accuracy": acc(model, xs_test, ys_test)}
    for name, model in (("source only", source_only), ("DANN", dann.classifier)):
        entry[name]["target_pgd"] = robust_accuracy(model, xt_test, yt_test, eps=config.eps,
                                                    attack=attack).robust_accuracy
    entry["domain_accuracy_per_epoch"] = [float(v) for v in history["domain_accuracy"]]
    # "At the end": the deployed DANN (fit has swapped in the averaged weights when --ema > 0) on the held-out
    # source and target test images, balanced; the last raw iterate's value is reported beside it.
    entry["domain_accuracy_final"] = domain_accuracy(dann, xs_test, xt_test)
    entry["domain_accuracy_final_raw"] = held_out.raw[-1]
    entry["domain_accuracy_held_out"] = {"epoch": held_out.epochs, "raw": held_out.raw,
                                         "averaged": held_out.averaged}
    entry["gain"] = entry["DANN"]["target_accuracy"] - entry["source only"]["target_accuracy"]
    test_features = {"source only": (extract_features(source_only.layers[1], xs_test),
                                     extract_features(source_only.layers[1], xt_test)),
                     "DANN": (extract_features(dann.features, xs_test), extract_features(dann.features, xt_test))}
    for name, (fs, ft) in test_features.items():
        entry[name]["domain_probe"] = domain_probe_accuracy(fs, ft, seed=config.seed)
    seconds["evaluation"], cpu_seconds["evaluation"] = time.time() - began, time.process_time() - cpu
    entry["seconds"], entry["cpu_seconds"] = seconds, cpu_seconds
    plot_feature_pca({name: (fs[:500], ft[:500]) for name, (fs, ft) in test_features.items()},
                     run.path(f"features_pca_{target}.png"),
                     title=f"mnist5k (source) vs {target} (target) test features, PCA")
    return entry


def _markdown(run, config, entries) -> str:
    from tfrobust.studies import StudyReport
    from tfrobust.studies.published import REFERENCE

    report = StudyReport("Domain adaptation by backpropagation (DANN)", run).paragraph(
        f"Ganin & Lempitsky (2015): source mnist5k (4,000 labelled digits), targets built offline from real images "
        f"(MNIST-M-style: mnist5k digits blended with patches of scikit-learn's 2 sample photographs, the paper's "
        f"MNIST-M uses 59,000 MNIST digits and BSDS500's photos; sklearn digits: 8x8 digits upsampled). "
        f"DANN {config.epochs} epochs, batches of {config.batch_size} + {config.batch_size}, "
        f"{'SGD momentum %g' % config.momentum if config.optimizer == 'sgd' else 'Adam'}, "
        f"μ_0 = {config.learning_rate:g} annealed, λ_p schedule; source-only and train-on-target "
        f"{config.baseline_epochs or config.epochs} epochs; "
        f"{'batch normalisation in G_f, per-domain batch statistics (not in the paper); ' if config.batch_norm else ''}"
        f"{'weights averaged (EMA %g, not in the paper); ' % config.ema if config.ema else ''}"
        f"target test accuracy on "
        f"{config.eval_size} digits. PGD: {config.attack_spec().label} at L-inf eps {config.eps:g} on the target test set.")
    rows = []
    for target, e in entries.items():
        for name in ("source only", "DANN", "train on target"):
            published = PUBLISHED_MNIST_M[name] if target == "mnist_m" else None
            rows.append({"target": target, "model": name, "target accuracy": e[name]["target_accuracy"],
                         "published (MNIST-M, Table 1)": published, "source accuracy": e[name]["source_accuracy"],
                         f"target PGD eps={config.eps:g}": e[name].get("target_pgd")})
    report.section("Target accuracy (the paper's Table 1)").table(rows)
    check_rows = []
    for t, e in entries.items():
        for name, (value, passed) in checks(e).items():
            check_rows.append({"target": t, "check": name, "measured": value, "result": "pass" if passed else "FAIL"})
    report.section("Checks (both in this run)").table(check_rows)
    report.section("Domain classifier").table([{
        "target": t, "epoch 1 (training batches)": e["domain_accuracy_per_epoch"][0],
        "last epoch (training batches)": e["domain_accuracy_per_epoch"][-1],
        "held-out test images, end": e["domain_accuracy_final"],
        "held-out, last raw iterate": e.get("domain_accuracy_final_raw"),
        "linear probe, source-only features": e["source only"].get("domain_probe"),
        "linear probe, DANN features": e["DANN"].get("domain_probe"), "DANN gain (points)": 100 * e["gain"]}
        for t, e in entries.items()]).paragraph(
        "Chance is 0.5. Training batches: the running accuracy over the epoch's paired batches (per-domain batch "
        "statistics where G_f has batch normalisation); held-out: the deployed DANN's domain classifier on the "
        "source and target test images, balanced (inference statistics"
        + (", averaged weights; the last raw iterate beside it" if config.ema else "")
        + "); linear probe: a logistic regression fitted after "
        "training on half of the test images' features (source vs target) and tested on the other half "
        "(tfrobust.adaptation.domain_probe_accuracy), the domain gap that G_f was not trained against.")
    report.section("Held-out domain accuracy during training").table([
        {"target": t, "epoch": epoch, "raw iterate": raw, "averaged weights": averaged}
        for t, e in entries.items() if "domain_accuracy_held_out" in e
        for epoch, raw, averaged in zip(*(e["domain_accuracy_held_out"][k] for k in ("epoch", "raw", "averaged")))])
    report.paragraph(f"Published numbers: {REFERENCE}, Batch 2 facts (Ganin & Lempitsky 2015, Table 1).")
    figures = [f"features_pca_{t}.png" for t in entries] + ["domain_accuracy.png"]
    return report.footer(figures).markdown()


def run(config: DomainAdaptationConfig) -> dict:
    """Trains source-only, DANN and the oracle for each target domain; returns results.json."""
    from tfrobust.generative.figures import plot_curves
    from tfrobust.studies import start

    store, _ = start(EXPERIMENT, config)
    entries = {t: store.cached(t, lambda t=t: _entry(store, config, t)) for t in config.targets}
    plot_curves({t: e["domain_accuracy_per_epoch"] for t, e in entries.items()}, store.path("domain_accuracy.png"),
                title="DANN domain classifier accuracy per epoch (chance = 0.5)", ylabel="accuracy")
    return store.finish(_markdown(store, config, entries), gain={t: e["gain"] for t, e in entries.items()},
                        domain_accuracy={t: e["domain_accuracy_final"] for t, e in entries.items()},
                        checks={t: {name: bool(passed) for name, (_, passed) in checks(e).items()}
                                for t, e in entries.items()})


if __name__ == "__main__":
    run_script(run, DomainAdaptationConfig, PRESETS)
