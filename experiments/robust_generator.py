"""Seed 000: a generator of robust LeNet-5 weights, trained through a value network or directly.

Ballarin (2020), "Modelli generativi di modelli neurali artificiali robusti": a generator G maps
s ~ U([-10, 10]²) to the 20,522 weights θ of a LeNet-5; a value network V predicts accuracy A and PGD
robustness R of θ, and G is trained to maximise αÂ + βR̂ after being pretrained on a normally trained
LeNet-5 (``tfrobust.hypernet``). This script

1. trains the original LeNet-5 (standard training) and a PGD-trained LeNet-5
   (``tfrobust.training.PGDAdversarialModel``, at the evaluation ε) and measures their A and R;
2. pretrains G on the original network's θ (MSE);
3. for ``--mode value`` (the seed's loop, ``GeneratorValueModel``) and/or ``--mode direct`` (no V: clean plus
   PGD-adversarial cross entropy through the functional target network, ``DirectGeneratorModel``) trains a
   copy of the pretrained G, then samples ``num_samples`` networks and measures their A and R with the same
   PGD as the reference networks;
4. writes ``results.json`` and ``results.md`` (the seed's table beside ours), the scatter plot
   ``accuracy_vs_robustness.png`` and TensorBoard logs (loop metrics A, R, Â, R̂, losses per epoch;
   pretraining MSE; the final scalars and the figure).

R = 1 - (successful attacks / attacked examples), the attacked examples being those classified correctly
(see ``tfrobust.hypernet.robustness``); robust accuracy A·R is reported too. Every finished stage is
recorded in ``results.json`` and every trained network saved, so a killed run restarted with the same
flags resumes (the loops from their last completed epoch).

Usage:
    python experiments/robust_generator.py --preset quick                # mnist5k, about 5-10 min on 2 CPU cores
    python experiments/robust_generator.py --preset paper --mode value   # the seed's settings on MNIST (tfds)
    tensorboard --logdir tensorboard_logs/robust_generator
"""
from __future__ import annotations

import dataclasses
import time
from typing import Dict, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust import plotting
from tfrobust import tensorboard as tfr_tensorboard
from tfrobust.data import load as load_dataset
from tfrobust.evaluation.robust_accuracy import robust_accuracy
from tfrobust.hypernet import (DirectGeneratorModel, Generator, GeneratorValueModel, PGDSettings, RobustnessMeter,
                               TargetNetwork, ValueNetwork, flatten_from, load_into, pretrain_generator)
from tfrobust.hypernet.robustness import Measurement
from tfrobust.hypernet.sampling import sample_networks, summarise_samples
from tfrobust.models import build
from tfrobust.studies import (QUICK_AUTOATTACK, AttackSettings, AutoAttackSettings, StudyConfig, StudyReport,
                              autoattack_accuracy, autoattack_cell, compile_classifier, fit, run_script, start)
from tfrobust.studies.config import Settings
from tfrobust.studies.published import GENERATOR_PUBLISHED as PUBLISHED
from tfrobust.training import PGDAdversarialModel

EXPERIMENT = "robust_generator"
MODES = ("value", "direct")


@dataclasses.dataclass(frozen=True)
class _PGDSettings(Settings):
    """The PGD of the robustness R and of the PGD-trained reference LeNet-5.

    Attributes:
        pgd_travel: steps × step size of every PGD of R (seed: 160 × 0.00225 = 0.36); the step size is
            pgd_travel / steps, so fewer steps keep the same reach.
        eval_pgd_steps: PGD steps when measuring the reference and the sampled networks (seed: 160).
        loop_pgd_steps: PGD steps inside the training loops (seed: 160).
        at_pgd_steps: PGD steps of the PGD-trained LeNet-5's training attack (step 2.5ε / steps, Madry et al.).
        at_epochs: epochs of the PGD-trained LeNet-5 (default: --epochs).
    """

    pgd_travel: float = 0.36
    eval_pgd_steps: int = 160
    loop_pgd_steps: int = 160
    at_pgd_steps: int = 40
    at_epochs: Optional[int] = None


@dataclasses.dataclass(frozen=True)
class _LoopSettings(Settings):
    """Generator pretraining and the length of the loops.

    Attributes:
        pretrain_steps: generator pretraining steps (MSE to the original θ).
        pretrain_learning_rate: Adam learning rate of the pretraining.
        loop_epochs: epochs of each loop (TensorBoard points).
        loop_steps_per_epoch: generator steps per loop epoch.
        subset_size: examples of the subset T̃ drawn for each loop step.
    """

    pretrain_steps: int = 2000
    pretrain_learning_rate: float = 1e-3
    loop_epochs: int = 20
    loop_steps_per_epoch: int = 100
    subset_size: int = 512


@dataclasses.dataclass(frozen=True)
class _ValueModeSettings(Settings):
    """The seed's G/V loop (value mode).

    Attributes:
        value_samples_per_step: generated networks per step in value mode.
        generator_learning_rate: Adam learning rate of G in value mode.
        value_learning_rate: Adam learning rate of V.
        value_updates_per_step: V updates per measured batch (seed: 1).
        generator_start_step: value-mode steps with V alone before G moves (seed: 0).
    """

    value_samples_per_step: int = 8
    generator_learning_rate: float = 1e-5
    value_learning_rate: float = 1e-4
    value_updates_per_step: int = 2
    generator_start_step: int = 5


@dataclasses.dataclass(frozen=True)
class RobustGeneratorConfig(_ValueModeSettings, _LoopSettings, _PGDSettings, AutoAttackSettings, AttackSettings,
                            StudyConfig):
    """Settings of the generator study (``eps``: the PGD-L∞ radius of R, seed 0.175; ``attack``: the stronger PGD,
    with cross entropy and with the margin loss, that re-attacks the reference networks and the best samples).

    Attributes:
        mode: value (the seed's G/V loop), direct (no V: CE through the target network) or both.
        exploration_std: σ of the weight noise of V's training samples (seed: 0).
        direct_samples_per_step: generated networks per step in direct mode.
        direct_learning_rate: Adam learning rate of G in direct mode.
        alpha: weight of accuracy in the objective (β = 1 - α; seed 0.5).
        num_samples: networks sampled from each trained generator (seed: 20).
        latent_bound: s ~ U([-b, b]²) (seed: 10).
    """

    mode: str = "both"
    eps: float = 0.175
    attack: str = "pgd:steps=200,restarts=3"
    exploration_std: float = 0.0
    direct_samples_per_step: int = 4
    direct_learning_rate: float = 1e-4
    alpha: float = 0.5
    num_samples: int = 20
    latent_bound: float = 10.0

    SWEEP_FIELDS = ("mode",)

    def validate(self) -> None:
        if self.mode not in MODES + ("both",):
            raise ValueError(f"--mode must be value, direct or both, got {self.mode!r}.")


PRESETS: Dict[str, RobustGeneratorConfig] = {
    # mnist5k (bundled), sized for <= 10 min on 2 CPU cores: PGD shortened to 20 steps (evaluation) and 10 steps
    # (loops, PGD training) with the seed's eps and total travel; 100 generator steps per mode on subsets of 128.
    "quick": RobustGeneratorConfig(
        preset="quick", dataset="mnist5k", epochs=6, batch_size=64, learning_rate=2e-3, eval_size=500,
        eval_pgd_steps=20, loop_pgd_steps=10, at_pgd_steps=10, at_epochs=10, pretrain_steps=300,
        loop_epochs=10, loop_steps_per_epoch=10, subset_size=128, attack="pgd:steps=50,restarts=2",
        autoattack=QUICK_AUTOATTACK, autoattack_size=200),
    # The seed's settings on MNIST (tfds): PGD-Linf eps 0.175, 160 steps of 0.00225 everywhere, 20 samples.
    # Not given by the seed (our choices): 2,000 generator steps per mode, subsets of 512, learning rates.
    "paper": RobustGeneratorConfig(
        preset="paper", dataset="mnist", epochs=10, batch_size=128, learning_rate=1e-3, eval_size=2000),
}


def _pgd(config: RobustGeneratorConfig, steps: int) -> PGDSettings:
    return PGDSettings(eps=config.eps, step_size=config.pgd_travel / steps, steps=steps)


def _modes(config: RobustGeneratorConfig):
    return MODES if config.mode == "both" else (config.mode,)


def _train_references(run, data, config):
    """The original LeNet-5 (standard training) and the PGD-trained LeNet-5."""
    def standard(model, callbacks):
        compile_classifier(model, keras.optimizers.Adam(config.learning_rate))
        fit(model, data, config.epochs, callbacks)

    def adversarial(model, callbacks):
        steps = config.at_pgd_steps
        wrapper = PGDAdversarialModel(model, eps=config.eps, step_size=2.5 * config.eps / steps, steps=steps)
        wrapper.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
        fit(wrapper, data, config.epochs if config.at_epochs is None else config.at_epochs, callbacks)

    def lenet(name):
        return lambda: build("lenet5", data.input_shape, data.num_classes, model_name=name)

    original = run.trained_model("lenet5_standard", lenet("lenet5_standard"), standard)
    robust = run.trained_model("lenet5_pgd_trained", lenet("lenet5_pgd_trained"), adversarial)
    return original, robust


def _measurement_entry(measurement: Measurement, **extra) -> dict:
    return {"accuracy": measurement.accuracy, "robustness": measurement.robustness,
            "robust_accuracy": measurement.robust_accuracy, "num_examples": measurement.num_examples, **extra}


def _as_measurement(entry) -> Measurement:
    return Measurement(np.asarray(entry["accuracy"], np.float32), np.asarray(entry["robustness"], np.float32),
                       np.asarray(entry["robust_accuracy"], np.float32), int(entry["num_examples"]))


def _pretrained_generator(run, config, target, theta) -> Generator:
    generator = Generator(target.theta_size)
    if run.load_weights(generator, "generator_pretrained"):
        return generator
    generator.set_output_scale(theta, target.shapes)
    writer = tf.summary.create_file_writer(run.model_logdir("pretraining"))
    started = time.time()
    losses = pretrain_generator(generator, theta, steps=config.pretrain_steps, latent_bound=config.latent_bound,
                                learning_rate=config.pretrain_learning_rate, summary_writer=writer)
    writer.close()
    run.save_weights(generator, "generator_pretrained")
    run.record("pretraining", {"losses": losses, "seconds": time.time() - started})
    return generator


def _loop_model(mode, generator, target, config):
    meter = RobustnessMeter(target, _pgd(config, config.loop_pgd_steps))
    common = dict(alpha=config.alpha, beta=1.0 - config.alpha, latent_bound=config.latent_bound)
    if mode == "value":
        model = GeneratorValueModel(generator, ValueNetwork(target.theta_size), meter,
                                    samples_per_step=config.value_samples_per_step,
                                    value_updates_per_step=config.value_updates_per_step,
                                    generator_start_step=config.generator_start_step,
                                    exploration_std=config.exploration_std, **common)
        model.compile(generator_optimizer=keras.optimizers.Adam(config.generator_learning_rate),
                      value_optimizer=keras.optimizers.Adam(config.value_learning_rate))
    else:
        model = DirectGeneratorModel(generator, meter, samples_per_step=config.direct_samples_per_step, **common)
        model.compile(optimizer=keras.optimizers.Adam(config.direct_learning_rate))
    return model


def _train_mode(run, config, mode, target, pretrained: Generator):
    """Trains a copy of the pretrained generator in ``mode`` (resumable per epoch); returns it and its history."""
    history = {}

    def copy():
        generator = Generator.from_config(pretrained.get_config())
        generator.set_weights(pretrained.get_weights())
        return generator

    def train(generator, callbacks):
        model = _loop_model(mode, generator, target, config)
        subsets = load_dataset(config.dataset, "train", config.subset_size, shuffle=True, seed=config.seed,
                               take=config.train_size, drop_remainder=True).repeat()
        started = time.time()
        fit = model.fit(subsets, epochs=config.loop_epochs, steps_per_epoch=config.loop_steps_per_epoch,
                        callbacks=list(callbacks), verbose=2)
        history.update(fit.history, seconds=time.time() - started)

    generator = run.trained_model(f"generator_{mode}", copy, train)
    return generator, history


def _sample_entry(generator, meter, data, config, **extra) -> dict:
    latent, measurement = sample_networks(generator, meter, data.x_eval, data.y_eval, config.num_samples,
                                          latent_bound=config.latent_bound, seed=config.seed + 1)
    summary = summarise_samples(measurement, alpha=config.alpha, beta=1.0 - config.alpha)
    return _measurement_entry(measurement, latent=latent, summary=summary, **extra)


def _strong_check(theta, data, config, table_robust_accuracy: float) -> dict:
    """Re-attacks one network with a stronger PGD: cross entropy and margin loss, restarts (honest evaluation).

    A generator trained against one PGD could learn to mask its gradients; a stronger attack with another loss
    that still finds few adversarial examples says the robustness is real (Carlini et al. 2019).
    """
    model = build("lenet5", data.input_shape, data.num_classes)
    load_into(model, theta)
    results = {}
    for loss in ("ce", "margin"):
        attack = config.attack_spec(loss=loss)
        results[loss] = robust_accuracy(model, data.x_eval, data.y_eval, attack=attack, eps=config.eps,
                                        per_example=True)
    survived = np.logical_and.reduce([r.robust_correct for r in results.values()])
    return {"attack": f"{config.attack_spec().label} and its margin-loss twin, eps={config.eps:g}",
            "robust_accuracy": float(survived.mean()), "clean_accuracy": results["ce"].clean_accuracy,
            "per_loss": {loss: r.robust_accuracy for loss, r in results.items()},
            "robust_accuracy_measured_before": table_robust_accuracy,
            "autoattack": autoattack_accuracy(model, data.x_eval, data.y_eval, config)}


def _verdict(entry, original, check_best=None, check_original=None) -> dict:
    """Does the best-objective sample beat the original on robustness, and at what accuracy cost?

    Judged with the table's PGD (R) and, when the stronger re-attack ran, by the robust accuracy it leaves.
    """
    best = entry["summary"]["best_objective"]
    robust = entry["summary"]["most_robust"]
    most = robust[0] if robust else best
    strong = {}
    if check_best is not None and check_original is not None:
        gain = check_best["robust_accuracy"] - check_original["robust_accuracy"]
        strong = {"stronger_attack_robust_accuracy_gain": gain, "beats_original_under_stronger_attack": gain > 0.02}
    return {
        **strong,
        "best_objective_sample": best,
        "robustness_gain": best["robustness"] - original["robustness"][0],
        "accuracy_cost": original["accuracy"][0] - best["accuracy"],
        "most_robust_gain": most["robustness"] - original["robustness"][0],
        "most_robust_accuracy_cost": original["accuracy"][0] - most["accuracy"],
        "beats_original_on_robustness": bool(best["robustness"] > original["robustness"][0] + 0.02),
    }


def _rows(run, config, entries) -> list:
    original, robust = entries["original"], entries["pgd_trained"]
    rows = [
        {"network": "original LeNet-5 (standard training)", "A": original["accuracy"][0],
         "R": original["robustness"][0], "A·R": original["robust_accuracy"][0],
         "seed A": PUBLISHED["original_accuracy"], "seed R": PUBLISHED["original_robustness"]},
        {"network": "PGD-trained LeNet-5", "A": robust["accuracy"][0], "R": robust["robustness"][0],
         "A·R": robust["robust_accuracy"][0], "seed A": "—", "seed R": "—"},
    ]
    labels = {"pretrained": "pretrained G (start)", "value": "value mode (G/V loop)",
              "direct": "direct mode (no V)"}
    low_share = f"{PUBLISHED['num_low_accuracy']}/{PUBLISHED['num_samples']}"
    lo, hi = PUBLISHED["best_generated_accuracy_range"]
    for key in ("pretrained",) + tuple(m for m in MODES if m in entries):
        summary = entries[key]["summary"]
        name = labels[key]
        rows.append({"network": f"{name}: mean of {summary['num_samples']} samples", "A": summary["mean_accuracy"],
                     "R": summary["mean_robustness"], "A·R": summary["mean_robust_accuracy"],
                     "seed A": "—", "seed R": "—"})
        for rank, sample in enumerate(summary["most_robust"][:3], start=1):
            seed_cols = ({"seed A": f"{lo:.3f}–{hi:.3f}", "seed R": PUBLISHED["best_generated_robustness"]}
                         if key != "pretrained" and rank == 1 else {"seed A": "—", "seed R": "—"})
            rows.append({"network": f"{name}: #{rank} most robust sample with A ≥ 0.5", "A": sample["accuracy"],
                         "R": sample["robustness"], "A·R": sample["robust_accuracy"], **seed_cols})
        best = summary["best_objective"]
        rows.append({"network": f"{name}: best αA+βR sample", "A": best["accuracy"], "R": best["robustness"],
                     "A·R": best["robust_accuracy"], "seed A": "—", "seed R": "—"})
        rows.append({"network": f"{name}: samples with A < 0.5", "A": f"{summary['num_low_accuracy']}/"
                     f"{summary['num_samples']}", "R": "", "A·R": "",
                     "seed A": low_share if key != "pretrained" else "—", "seed R": ""})
    return rows


def _strong_cell(verdict) -> str:
    if "stronger_attack_robust_accuracy_gain" not in verdict:
        return "—"
    gain = verdict["stronger_attack_robust_accuracy_gain"]
    return f"{gain:+.3f} ({'holds' if verdict['beats_original_under_stronger_attack'] else 'vanishes'})"


def _markdown(run, config, entries, verdicts) -> str:
    eval_pgd, loop_pgd = _pgd(config, config.eval_pgd_steps), _pgd(config, config.loop_pgd_steps)
    report = StudyReport("Generator of robust LeNet-5 weights", run).paragraph(
        f"Seed 000 (Ballarin 2020) on {config.dataset}: A and R on {config.eval_size} test examples, "
        f"R under {eval_pgd.describe()}; loops measured with {loop_pgd.describe()} on subsets of "
        f"{config.subset_size} training examples; {config.loop_epochs * config.loop_steps_per_epoch} generator "
        f"steps per mode; α = {config.alpha:g}. R = 1 - successful attacks / attacked (correctly classified) "
        f"examples; A·R is the robust accuracy.")
    if config.eval_pgd_steps != 160 or config.loop_pgd_steps != 160 or config.dataset != "mnist":
        report.paragraph(f"**Scaled down from the seed** (MNIST, 160 PGD steps of 0.00225 everywhere): "
                         f"{config.dataset}, evaluation PGD {config.eval_pgd_steps} steps, loop PGD "
                         f"{config.loop_pgd_steps} steps, same ε and total travel {config.pgd_travel:g}.")
    report.table(_rows(run, config, entries), ["network", "A", "R", "A·R", "seed A", "seed R"])
    rows = [[mode, "yes" if v["beats_original_on_robustness"] else "no",
             f"{v['best_objective_sample']['accuracy']:.3f} / {v['best_objective_sample']['robustness']:.3f}",
             f"{v['robustness_gain']:+.3f}", f"{v['accuracy_cost']:+.3f}",
             f"{v['most_robust_gain']:+.3f} at {v['most_robust_accuracy_cost']:+.3f}", _strong_cell(v)]
            for mode, v in verdicts.items()]
    rows += [["seed (value mode)", "yes", "0.765–0.801 / 0.654",
              f"{PUBLISHED['best_generated_robustness'] - PUBLISHED['original_robustness']:+.3f}",
              f"{PUBLISHED['original_accuracy'] - 0.801:+.3f} to {PUBLISHED['original_accuracy'] - 0.765:+.3f}", "—",
              "not reported"]] if rows else []
    report.directions("Do generated networks beat the original on robustness?", rows, [
        "mode", "R above original (best αA+βR sample)", "its A / R", "R gain", "accuracy cost",
        "most robust (A ≥ 0.5): R gain at accuracy cost", "A·R gain under the stronger PGD (below)"])
    checks = {name[len("check_"):]: e for name, e in entries.items() if name.startswith("check_")}
    if checks:
        report.section("Stronger attack on the same networks (is the robustness real?)").paragraph(
            f"Robust accuracy A·R under {eval_pgd.describe()} (as in the table above) and under "
            f"{next(iter(checks.values()))['attack']} (an example counts as robust only if it survives both losses; "
            f"`tfrobust.evaluation.robust_accuracy`).")
        report.table([[name, e["clean_accuracy"], e["robust_accuracy_measured_before"], e["robust_accuracy"],
                       e["per_loss"]["ce"], e["per_loss"]["margin"], autoattack_cell(e)] for name, e in checks.items()],
                     ["network", "A", "A·R (table PGD)", "A·R (stronger PGD)", "ce only", "margin only",
                      f"AutoAttack (first {config.autoattack_size})"])
    return report.footer(["accuracy_vs_robustness.png"]).markdown()


def _check_best_networks(run, config, data, modes, pretrained, references) -> None:
    """Re-attacks the reference networks and each mode's best αA+βR sample with the stronger PGD."""
    networks = dict(references)
    for mode in modes:
        generator = Generator.from_config(pretrained.get_config())
        run.load_weights(generator, f"generator_{mode}")
        best = run.entries[mode]["summary"]["best_objective"]
        latent = np.asarray(run.entries[mode]["latent"], np.float32)[best["index"]][None]
        networks[f"{mode}_best"] = (generator(latent)[0], best["robust_accuracy"])
    for name, (theta, table_value) in networks.items():
        run.cached(f"check_{name}", lambda t=theta, v=table_value: _strong_check(t, data, config, v))


def _write_summary(run, config, entries) -> dict:
    """Figure, TensorBoard summary, results.json and results.md."""
    verdicts = {m: _verdict(entries[m], entries["original"], entries.get(f"check_{m}_best"),
                            entries.get("check_original")) for m in MODES if m in entries}
    samples = {"pretrained G": _as_measurement(entries["pretrained"])}
    samples.update({f"{m} mode": _as_measurement(entries[m]) for m in MODES if m in entries})
    references = {label: (entries[key]["accuracy"][0], entries[key]["robustness"][0])
                  for key, label in (("original", "original LeNet-5"), ("pgd_trained", "PGD-trained LeNet-5"))}
    figure_path = run.path("accuracy_vs_robustness.png")
    figure = plotting.plot_accuracy_vs_robustness(samples, references, published=PUBLISHED, path=figure_path,
                                                  title=f"Sampled LeNet-5 networks, {config.dataset}, "
                                                        f"{_pgd(config, config.eval_pgd_steps).describe()}")
    logdir = run.model_logdir("summary")
    tfr_tensorboard.log_figure(logdir, "accuracy_vs_robustness", figure)
    scalars = {f"{key}/{field}": entries[key][field][0] for key in ("original", "pgd_trained")
               for field in ("accuracy", "robustness")}
    for name in ("pretrained",) + tuple(m for m in MODES if m in entries):
        summary = entries[name]["summary"]
        scalars.update({f"{name}/mean_accuracy": summary["mean_accuracy"],
                        f"{name}/mean_robustness": summary["mean_robustness"],
                        f"{name}/share_low_accuracy": summary["share_low_accuracy"]})
    tfr_tensorboard.log_scalars(logdir, scalars)
    run.save(verdicts=verdicts, published=PUBLISHED, figures=[figure_path])
    run.write_markdown(_markdown(run, config, entries, verdicts))
    return run.save()


def run(config: RobustGeneratorConfig) -> dict:
    """Trains the reference networks and the generator(s), samples and measures them; returns results.json."""
    modes = _modes(config)
    experiment_run, data = start(EXPERIMENT, config)
    original, robust = _train_references(experiment_run, data, config)
    target = TargetNetwork.from_model(original)
    theta, theta_robust = flatten_from(original), flatten_from(robust)
    meter = RobustnessMeter(target, _pgd(config, config.eval_pgd_steps))
    x, y = data.x_eval, data.y_eval
    experiment_run.cached("original", lambda: _measurement_entry(meter(theta, x, y)))
    experiment_run.cached("pgd_trained", lambda: _measurement_entry(meter(theta_robust, x, y)))
    pretrained = _pretrained_generator(experiment_run, config, target, theta)
    experiment_run.cached("pretrained", lambda: _sample_entry(pretrained, meter, data, config))
    for mode in modes:
        def train_and_sample(mode=mode):
            generator, history = _train_mode(experiment_run, config, mode, target, pretrained)
            return _sample_entry(generator, meter, data, config, history=history)

        experiment_run.cached(mode, train_and_sample)
    references = {name: (weights, experiment_run.entries[name]["robust_accuracy"][0])
                  for name, weights in (("original", theta), ("pgd_trained", theta_robust))}
    _check_best_networks(experiment_run, config, data, modes, pretrained, references)
    return _write_summary(experiment_run, config, experiment_run.entries)


if __name__ == "__main__":
    run_script(run, RobustGeneratorConfig, PRESETS)
