"""Seed 000's study of a generator of robust LeNet-5 weights: the implementation behind
``experiments/robust_generator.py`` (whose docstring describes the method and whose settings class,
``RobustGeneratorConfig``, every function here reads).

``run_study(config)`` trains the reference networks and the generator(s), samples and measures them, and returns
``results.json``; kept out of the script so that its ``--help`` needs no TensorFlow.
"""
from __future__ import annotations

import time

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
from tfrobust.studies.autoattack import autoattack_accuracy, autoattack_cell
from tfrobust.studies.published import GENERATOR_PUBLISHED as PUBLISHED
from tfrobust.studies.report import StudyReport
from tfrobust.studies.training import compile_classifier, fit, start
from tfrobust.training import PGDAdversarialModel

EXPERIMENT = "robust_generator"
MODES = ("value", "direct")


def _pgd(config: "RobustGeneratorConfig", steps: int) -> PGDSettings:
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


def _strong_check(model, theta, data, config, table_robust_accuracy: float) -> dict:
    """Re-attacks one network with a stronger PGD: cross entropy and margin loss, restarts (honest evaluation).

    A generator trained against one PGD could learn to mask its gradients; a stronger attack with another loss
    that still finds few adversarial examples says the robustness is real (Carlini et al. 2019).

    ``model`` is a LeNet-5 whose weights are replaced by ``theta``: one Keras model for every network checked,
    so the attacks' compiled functions (cached per model) are traced once, not once per network.
    """
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
    model = build("lenet5", data.input_shape, data.num_classes)
    for name, (theta, table_value) in networks.items():
        run.cached(f"check_{name}", lambda t=theta, v=table_value: _strong_check(model, t, data, config, v))


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


def run_study(config: RobustGeneratorConfig) -> dict:
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
