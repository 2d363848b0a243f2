"""Seed 003's saliency section and seed 002's motivation: saliency maps of a standard and a robust network.

Two copies of one network are trained on the training split: a standard one (cross entropy) and one adversarially
trained with PGD at ``--eps`` (``tfrobust.training.PGDAdversarialModel``, Madry et al. 2018). For each, on test
digits, ``tfrobust.interpret`` computes the vanilla gradient (Simonyan et al. 2013), SmoothGrad (Smilkov et al.
2017) and integrated gradients (Sundararajan et al. 2017) of the predicted class's logit, and measures how
image-like the maps are (``tfrobust.interpret.image_likeness``: the share of |map| on the digit's pixels and the
correlation of |map| with the digit's mask). Tsipras et al. (2019) find the gradients of robust models image-like
and those of standard models noisy. Integrated gradients' completeness error, |sum IG - (S(x) - S(0))| / |S(x) -
S(0)|, checks the attributions. Both models' clean and ``--attack`` accuracy at ``--eps`` show that the robust one is.

Usage:
    python experiments/saliency.py --preset quick
"""
from __future__ import annotations

import dataclasses
from typing import Dict

from tfrobust.studies.config import AttackSettings, StudyConfig
from tfrobust.studies.flags import run_script

EXPERIMENT = "saliency"
MODELS = ("standard", "adversarial")
METHODS = (("vanilla", "vanilla gradient"), ("smoothgrad", "SmoothGrad"), ("integrated", "integrated gradients"))


@dataclasses.dataclass(frozen=True)
class SaliencyConfig(AttackSettings, StudyConfig):
    """Settings of the saliency study (the adversarial training uses --eps).

    Attributes:
        model: Model name (tfrobust.models.build) of the standard and the adversarially trained network.
        train_steps: PGD steps of the adversarial training's inner attack (step 2.5 eps / steps).
        map_size: Test images whose maps are measured (image-likeness, completeness).
        grid_images: Test images shown in the figure grid.
        smoothgrad_samples: Noisy copies averaged by SmoothGrad.
        smoothgrad_noise: SmoothGrad's noise standard deviation as a share of the pixel range.
        ig_steps: Trapezoid intervals of integrated gradients (from the black image).
        digit_threshold: Pixels above this value form the digit's mask of the image-likeness numbers.
    """

    model: str = "lenet5"
    train_steps: int = 7
    map_size: int = 200
    grid_images: int = 8
    smoothgrad_samples: int = 50
    smoothgrad_noise: float = 0.15
    ig_steps: int = 256
    digit_threshold: float = 0.5

    def validate(self) -> None:
        for name in ("train_steps", "map_size", "grid_images", "smoothgrad_samples", "ig_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be at least 1, got {getattr(self, name)}.")
        if self.grid_images > self.map_size or self.map_size > self.eval_size:
            raise ValueError(f"Need --grid_images <= --map_size <= --eval_size, got {self.grid_images}, "
                             f"{self.map_size}, {self.eval_size}.")
        if not 0 < self.digit_threshold < 1:
            raise ValueError(f"--digit_threshold must be in (0, 1), got {self.digit_threshold}.")


PRESETS: Dict[str, SaliencyConfig] = {
    # mnist5k: LeNet-5, standard and PGD-7 adversarial training at ε = 0.2, 200 test digits measured.
    "quick": SaliencyConfig(preset="quick", dataset="mnist5k", epochs=8, batch_size=64, learning_rate=2e-3,
                            eval_size=500, eps=0.2, attack="pgd:steps=20,restarts=1", train_steps=7, map_size=200),
    # Tsipras et al. 2019 on MNIST: PGD adversarial training at ε = 0.3 (40 steps of 0.01, Madry et al. 2018).
    "paper": SaliencyConfig(preset="paper", dataset="mnist", epochs=20, batch_size=50, learning_rate=1e-3,
                            eval_size=1000, eps=0.3, attack="pgd:steps=40,restarts=1", train_steps=40,
                            map_size=1000, grid_images=10),
}


def _train(store, config, data, key: str):
    from tfrobust.models import build
    from tfrobust.studies.training import compile_classifier, fit, make_optimizer
    from tfrobust.training import PGDAdversarialModel

    def train(model, callbacks):
        optimizer = make_optimizer("adam", config.learning_rate)
        if key == "standard":
            compile_classifier(model, optimizer)
            fit(model, data, config.epochs, callbacks)
            return model
        wrapper = PGDAdversarialModel(model, eps=config.eps, step_size=2.5 * config.eps / config.train_steps,
                                      steps=config.train_steps)
        wrapper.compile(optimizer=optimizer)
        fit(wrapper, data, config.epochs, callbacks)
        return model

    return store.trained_model(key, lambda: build(config.model, data.input_shape, data.num_classes), train)


def _maps(model, x, config) -> dict:
    from tfrobust.interpret import integrated_gradients, smoothgrad, vanilla_gradient

    ig, score_x, score_base = integrated_gradients(model, x, steps=config.ig_steps, return_scores=True)
    return {"vanilla": vanilla_gradient(model, x),
            "smoothgrad": smoothgrad(model, x, samples=config.smoothgrad_samples, noise_level=config.smoothgrad_noise,
                                     seed=config.seed),
            "integrated": ig, "ig_scores": (score_x, score_base)}


def _evaluate(store, config, data, key: str) -> dict:
    import numpy as np

    from tfrobust.evaluation.robust_accuracy import robust_accuracy
    from tfrobust.interpret import mask_correlation, saliency_mass_on_object

    model = _train(store, config, data, key)
    attacked = robust_accuracy(model, data.x_eval, data.y_eval, attack=config.attack_spec(), eps=config.eps)
    x = data.x_eval[:config.map_size]
    maps = _maps(model, x, config)
    score_x, score_base = maps.pop("ig_scores")
    total = maps["integrated"].reshape(len(x), -1).sum(axis=1)
    difference = score_x - score_base
    completeness = np.abs(total - difference) / np.maximum(np.abs(difference), 1e-12)
    entry = {"clean": attacked.clean_accuracy, "robust": attacked.robust_accuracy,
             "completeness_error": {"median": float(np.median(completeness)), "max": float(completeness.max()),
                                    "within_1pct": float(np.mean(completeness <= 0.01))},
             "grid": {name: m[:config.grid_images] for name, m in maps.items()}}
    for name, saliency in maps.items():
        mass = saliency_mass_on_object(saliency, x, threshold=config.digit_threshold)
        corr = mask_correlation(saliency, x, threshold=config.digit_threshold)
        entry[name] = {"mass_on_digit": float(np.nanmean(mass)), "mass_on_digit_std": float(np.nanstd(mass)),
                       "mask_correlation": float(np.nanmean(corr)), "mask_correlation_std": float(np.nanstd(corr))}
    store.log_evaluation(key, scalars={"clean_accuracy": entry["clean"], "robust_accuracy": entry["robust"],
                                       "ig_completeness_error/median": entry["completeness_error"]["median"],
                                       **{f"{name}/mask_correlation": entry[name]["mask_correlation"]
                                          for name, _ in METHODS}})
    return entry


def _grid(store, config, x, entries) -> str:
    """Rows: the images, then each model's vanilla gradient, SmoothGrad and IG (signed, symmetric per map)."""
    import numpy as np

    from tfrobust import plotting
    from tfrobust import tensorboard as tfr_tensorboard

    rows = [("image", None, x)] + [(f"{key}\n{label}", key, np.asarray(entries[key]["grid"][name]))
                                   for key in MODELS for name, label in METHODS]
    n = len(x)
    figure = plotting.new_figure(1.1 * n + 1.4, 1.1 * len(rows))
    for r, (label, key, images) in enumerate(rows):
        for c in range(n):
            ax = figure.add_subplot(len(rows), n, r * n + c + 1)
            image = np.asarray(images[c]).squeeze(-1)
            if key is None:
                ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            else:
                scale = max(float(np.abs(image).max()), 1e-12)
                ax.imshow(image, cmap="RdBu_r", vmin=-scale, vmax=scale)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=6)
    figure.suptitle(f"Saliency maps: standard vs PGD-trained (ε={config.eps:g}) {config.model}", fontsize=9)
    path = plotting.save_figure(figure, store.path("saliency_grid.png"))
    tfr_tensorboard.log_figure(store.model_logdir("saliency"), "saliency_grid", figure)
    return path


def _markdown(store, config, entries) -> str:
    from tfrobust.studies.published import SALIENCY_FINDING
    from tfrobust.studies.report import StudyReport, format_percent, training_summary

    models = [{"model": key, "clean": format_percent(e["clean"]),
               f"{config.attack_spec().label} ε={config.eps:g}": format_percent(e["robust"]),
               "IG completeness error (median / max)":
                   f"{100 * e['completeness_error']['median']:.2f}% / {100 * e['completeness_error']['max']:.2f}%",
               "digits complete within 1%": format_percent(e["completeness_error"]["within_1pct"])}
              for key, e in entries.items()]
    likeness = [{"method": label, **{f"{key}: {measure}": f"{entries[key][name][field]:.3f} ± "
                                     f"{entries[key][name][field + '_std']:.3f}"
                                     for key in MODELS for measure, field in (("mass on digit", "mass_on_digit"),
                                                                              ("mask corr.", "mask_correlation"))}}
                for name, label in METHODS]
    report = StudyReport("Saliency maps of a standard and an adversarially trained network", store).paragraph(
        f"{config.model} on {training_summary(config)}; the adversarial one with PGD-{config.train_steps} at "
        f"ε = {config.eps:g}. Maps of the predicted class's logit on {config.map_size} test digits; SmoothGrad "
        f"{config.smoothgrad_samples} samples at {config.smoothgrad_noise:g} noise, IG {config.ig_steps} steps from "
        f"black. Digit mask: pixels > {config.digit_threshold:g}.").table(models, list(models[0])).section(
        "How image-like (mean ± std over digits; higher = more on the digit)").paragraph(
        f"Paper: {SALIENCY_FINDING} Integrated gradients from the black image are (x - 0) times an average "
        "gradient, zero wherever the pixel is black, so their mass sits on the digit by construction: compare the "
        "two models within a method, not the methods.").table(likeness, list(likeness[0]))
    return report.footer(["saliency_grid.png"]).markdown()


def run(config: SaliencyConfig) -> dict:
    """Trains both networks, computes and measures their saliency maps, draws the grid; returns results.json."""
    from tfrobust.studies.training import start

    store, data = start(EXPERIMENT, config)
    entries = {key: store.cached(key, lambda k=key: _evaluate(store, config, data, k)) for key in MODELS}
    path = _grid(store, config, data.x_eval[:config.grid_images], entries)
    summary = {key: {k: v for k, v in e.items() if k != "grid"} for key, e in entries.items()}
    return store.finish(_markdown(store, config, entries), models=summary, figures=[path])


if __name__ == "__main__":
    run_script(run, SaliencyConfig, PRESETS)
