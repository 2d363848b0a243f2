"""Seed 003's universal and physical threats: universal perturbations, an adversarial patch and RP2 stickers.

Each zoo model of ``--models`` is trained with the quickstart recipe. Then:

1. Universal adversarial perturbations (``tfrobust.attacks.universal``) of L-inf radius ``--uap_xi``, computed on
   ``--uap_train_size`` training digits of each model with DeepFool's Algorithm 1 (Moosavi-Dezfooli et al. 2017)
   and on ``--uap_sgd_train_size`` with the loss-maximising SGD of Shafahi et al. (2020); fooling rates on the
   held-out test digits, a random sign vector of the same size as the baseline, and the cross-model transfer table
   (v of each model, fooling rate on every model).
2. A universal targeted patch (``tfrobust.attacks.patch``, Brown et al. 2017) on the first model, trained with
   EOT over location, rotation and scale for each size of ``--patch_sizes``: targeted success on test digits at
   random locations, under the training transformations, and under transformations not seen in training
   (larger rotations, other scales); a random patch as the baseline.
3. RP2 (``tfrobust.attacks.rp2``, Eykholt et al. 2018): a perturbation inside a two-bar sticker mask towards
   (y + 1) mod 10, optimised with and without EOT over brightness, contrast and noise; targeted success with and
   without those conditions at test time.

Usage:
    python experiments/universal_physical.py --preset quick
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

from tfrobust.studies.config import StudyConfig
from tfrobust.studies.flags import run_script

EXPERIMENT = "universal_physical"


@dataclasses.dataclass(frozen=True)
class _Universal(StudyConfig):
    """Universal perturbation settings.

    Attributes:
        uap_xi: L-inf radius xi of the universal perturbations (pixel units).
        uap_train_size: Training digits each DeepFool universal perturbation is computed on.
        uap_sgd_train_size: Training digits each SGD universal perturbation is computed on.
        uap_methods: Comma-separated methods: deepfool (Moosavi-Dezfooli et al. 2017), sgd (Shafahi et al. 2020).
        uap_deepfool_passes: Passes of DeepFool's Algorithm 1 over the training digits.
        uap_sgd_passes: Epochs of the SGD universal perturbation.
        uap_sgd_batch: Minibatch of the SGD universal perturbation (Adam 0.01, straight-through gradient).
    """

    uap_xi: float = 0.2
    uap_train_size: int = 2000
    uap_sgd_train_size: int = 4000  # all of mnist5k's: on the LeNet-5 DeepFool on 4,000 takes > 3 min, SGD 20 CPU-s
    uap_methods: Tuple[str, ...] = ("deepfool", "sgd")
    uap_deepfool_passes: int = 2
    uap_sgd_passes: int = 10
    uap_sgd_batch: int = 128

    def validate(self) -> None:
        if not 0 < self.uap_xi < 1:
            raise ValueError(f"--uap_xi must be in (0, 1) (pixel units), got {self.uap_xi}.")
        unknown = sorted(set(self.uap_methods) - {"deepfool", "sgd"})
        if unknown or not self.uap_methods:
            raise ValueError(f"--uap_methods takes deepfool and/or sgd, got {','.join(self.uap_methods)}.")
        for name in ("uap_train_size", "uap_sgd_train_size", "uap_deepfool_passes", "uap_sgd_passes",
                     "uap_sgd_batch"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}.")


@dataclasses.dataclass(frozen=True)
class _Physical(StudyConfig):
    """Patch and RP2 settings.

    Attributes:
        patch_sizes: Comma-separated patch sides in pixels.
        patch_target: The patch's target class.
        patch_steps: Adam steps of each patch (64 digits per step, each with its own placement).
        patch_angle: Largest rotation (degrees) of the patch during training.
        patch_test_angle: Largest rotation of the unseen-transformation test.
        rp2_size: Test digits attacked by RP2.
        rp2_steps: Adam steps of RP2.
        rp2_lambda: Weight of RP2's L2 regulariser on the masked perturbation.
    """

    patch_sizes: Tuple[int, ...] = (4, 6, 8, 10, 12)
    patch_target: int = 8
    patch_steps: int = 300
    patch_angle: float = 20.0
    patch_test_angle: float = 60.0
    rp2_size: int = 100
    rp2_steps: int = 200
    rp2_lambda: float = 0.01

    def validate(self) -> None:
        if not self.patch_sizes or any(s is None or not 1 <= s <= 14 for s in self.patch_sizes):
            raise ValueError(f"--patch_sizes must be sides in [1, 14] pixels, got {self.patch_sizes}.")
        if not 0 <= self.patch_target <= 9:
            raise ValueError(f"--patch_target must be a class in [0, 9], got {self.patch_target}.")
        for name in ("patch_steps", "rp2_size", "rp2_steps"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"--{name} must be > 0, got {getattr(self, name)}.")
        if not 0 <= self.patch_angle <= 90 or not 0 <= self.patch_test_angle <= 90:
            raise ValueError("--patch_angle and --patch_test_angle must be degrees in [0, 90].")
        if self.rp2_lambda < 0:
            raise ValueError(f"--rp2_lambda must be >= 0, got {self.rp2_lambda}.")


@dataclasses.dataclass(frozen=True)
class UniversalPhysicalConfig(_Universal, _Physical):
    """Settings of the universal and physical study.

    Attributes:
        models: Comma-separated zoo models (tfrobust.models); the first also gets the patch and RP2.
    """

    models: Tuple[str, ...] = ("lenet5", "mnist_small")

    SWEEP_FIELDS = ("patch_sizes",)


PRESETS: Dict[str, UniversalPhysicalConfig] = {
    # mnist5k (bundled): the quickstart recipe (15 epochs, batch 32, Adam 2e-3) on 4,000 digits, 1,000 test digits.
    "quick": UniversalPhysicalConfig(preset="quick", dataset="mnist5k", epochs=15, batch_size=32,
                                     learning_rate=2e-3, eval_size=1000),
    # Full MNIST; the paper sizes: 10,000 training images for v (Moosavi-Dezfooli et al. 2017), more patch steps.
    "paper": UniversalPhysicalConfig(preset="paper", dataset="mnist", epochs=15, batch_size=128, learning_rate=1e-3,
                                     eval_size=10000, models=("lenet5", "mnist_small", "fc5"),
                                     uap_train_size=10000, uap_sgd_train_size=10000, uap_deepfool_passes=5,
                                     uap_sgd_passes=20,
                                     patch_steps=2000, rp2_size=500, rp2_steps=500),
}


def _train_models(store, config, data):
    import tf_keras as keras

    from tfrobust.models import build
    from tfrobust.studies import compile_classifier, fit

    def trained(name):
        def train(model, callbacks):
            compile_classifier(model, keras.optimizers.Adam(config.learning_rate))
            fit(model, data, config.epochs, callbacks)
        return store.trained_model(name, lambda: build(name, data.input_shape, data.num_classes), train)

    return {name: trained(name) for name in config.models}


def _universal(store, config, models, x_train, data):
    """Per (model, method): v, its training and held-out fooling, the random baseline and the transfer row."""
    import numpy as np

    from tfrobust.attacks.universal import fooling_rate, universal_perturbation
    from tfrobust.tensorboard import log_scalars

    noise = config.uap_xi * np.sign(np.random.default_rng(config.seed).normal(size=data.input_shape))
    entries, vectors = {}, {}
    for name, model in models.items():
        for method in config.uap_methods:
            key = f"uap_{name}_{method}"

            def compute(model=model, method=method, key=key):
                passes = config.uap_deepfool_passes if method == "deepfool" else config.uap_sgd_passes
                size = config.uap_train_size if method == "deepfool" else config.uap_sgd_train_size
                logdir = store.model_logdir(key)
                result = universal_perturbation(
                    model, x_train[:size], xi=config.uap_xi, norm="linf", method=method,
                    max_passes=passes, chunk=32 if method == "deepfool" else config.uap_sgd_batch, seed=config.seed,
                    target_fooling_rate=0.99,
                    callback=lambda i, rate: log_scalars(logdir, {"uap/train_fooling_rate": rate}, step=i))
                row = {other: fooling_rate(m, data.x_eval, result.v) for other, m in models.items()}
                return {"v": result.v, "train_fooling": result.fooling_rate, "history": result.history,
                        "held_out": row[name], "transfer": row, "linf": float(np.abs(result.v).max()),
                        "random_sign": fooling_rate(model, data.x_eval, noise)}

            entries[(name, method)] = store.cached(key, compute)
            vectors[(name, method)] = np.asarray(entries[(name, method)]["v"], np.float32)
            store.log_evaluation(key, scalars={"uap/held_out_fooling_rate": entries[(name, method)]["held_out"]})
    return entries, vectors


def _patch(store, config, model, x_train, data):
    """Per patch size: the trained patch and its success at random locations, seen and unseen transformations."""
    from tfrobust.attacks.patch import patch_success, random_patch, train_patch
    from tfrobust.tensorboard import log_scalars

    results = {}
    for size in config.patch_sizes:
        key = f"patch_{config.models[0]}_size{size}"

        def compute(size=size, key=key):
            logdir = store.model_logdir(key)
            trained = train_patch(model, x_train, target=config.patch_target, size=size, steps=config.patch_steps,
                                  max_angle=config.patch_angle, scale_range=(0.9, 1.1), seed=config.seed,
                                  callback=lambda step, loss, ok: log_scalars(
                                      logdir, {"patch/loss": loss, "patch/batch_success": ok}, step=step))

            def success(patch, **where):
                return patch_success(model, data.x_eval, patch, target=config.patch_target, mask=trained.mask,
                                     seed=config.seed, **where)

            return {"patch": trained.patch, "history": trained.history,
                    "random_location": success(trained.patch, trials=2),
                    "training_transforms": success(trained.patch, max_angle=config.patch_angle,
                                                   scale_range=(0.9, 1.1)),
                    "unseen_rotation": success(trained.patch, max_angle=config.patch_test_angle),
                    "unseen_small": success(trained.patch, scale_range=(0.7, 0.8)),
                    "unseen_large": success(trained.patch, scale_range=(1.3, 1.4)),
                    "random_patch": success(random_patch(size, data.input_shape[-1], seed=config.seed))}

        results[size] = store.cached(key, compute)
        store.log_evaluation(key, scalars={"patch/random_location_success": results[size]["random_location"]})
    return results


def _rp2(store, config, model, data):
    """RP2 towards (y + 1) mod 10 inside the sticker mask, optimised with and without EOT."""
    import numpy as np

    from tfrobust.attacks.rp2 import PhotometricTransforms, rp2, sticker_mask, targeted_success

    x, y = data.x_eval[:config.rp2_size], data.y_eval[:config.rp2_size]
    targets = ((y + 1) % data.num_classes).astype(np.int64)
    mask = sticker_mask(data.input_shape, "bars")
    physical = PhotometricTransforms()
    harsher = PhotometricTransforms(brightness=0.3, contrast=(0.5, 1.5), noise_std=0.1)
    digital = PhotometricTransforms(0.0, (1.0, 1.0), 0.0)

    def compute(eot):
        found = rp2(model, x, targets, mask=mask, transforms=physical if eot else digital, steps=config.rp2_steps,
                    lam=config.rp2_lambda, seed=config.seed)
        return {"examples": found.x_adv[:6], "outside_mask": float(np.abs(found.delta * (1 - mask)).max()),
                "l2": float(np.mean(np.linalg.norm(found.delta.reshape(len(x), -1), axis=1))),
                "digital": targeted_success(model, found.x_adv, targets),
                "physical": targeted_success(model, found.x_adv, targets, transforms=physical, seed=config.seed),
                "harsher": targeted_success(model, found.x_adv, targets, transforms=harsher, seed=config.seed)}

    results = {name: store.cached(f"rp2_{config.models[0]}_{name}", lambda eot=eot: compute(eot))
               for name, eot in (("eot", True), ("no_eot", False))}
    for name, entry in results.items():
        store.log_evaluation(f"rp2_{name}", scalars={"rp2/digital_success": entry["digital"],
                                                     "rp2/physical_success": entry["physical"]})
    return results, mask, x


def _figures(store, config, models, vectors, patches, rp2_results, rp2_x, data):
    import numpy as np

    from tfrobust.plotting import new_figure, perturbation_image, plot_matrix_heatmap, save_figure
    from tfrobust.tensorboard import log_figure

    files = []
    # v of each (model, method), amplified, above a few perturbed digits
    keys = list(vectors)
    fig = new_figure(1.5 * 5, 1.6 * len(keys))
    for r, key in enumerate(keys):
        v = vectors[key]
        ax = fig.add_subplot(len(keys), 5, 5 * r + 1)
        ax.imshow(perturbation_image(v)[..., 0], cmap="seismic", vmin=0, vmax=1)
        ax.set_title(f"v {key[0]} {key[1]}", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
        perturbed = np.clip(data.x_eval[:4] + v, 0, 1)
        pred = np.argmax(np.asarray(models[key[0]](perturbed)), 1)
        for c in range(4):
            ax = fig.add_subplot(len(keys), 5, 5 * r + c + 2)
            ax.imshow(perturbed[c, ..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"y={data.y_eval[c]} pred={pred[c]}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    files.append(save_figure(fig, store.path("uap_v.png")))
    log_figure(store.logdir, "uap_v", fig)
    # the transfer table(s)
    names = list(models)
    for method in config.uap_methods:
        values = [[store.entries[f"uap_{src}_{method}"]["transfer"][dst] for dst in names] for src in names]
        files.append(store.path(f"uap_transfer_{method}.png"))
        plot_matrix_heatmap(values, names, names, files[-1], title=f"UAP ({method}) fooling rate, xi={config.uap_xi}",
                            row_label="v computed on", column_label="fooling rate on", value_label="fooling rate")
    # the patches and success against size
    sizes = sorted(patches)
    fig = new_figure(1.4 * len(sizes), 1.8)
    for i, size in enumerate(sizes):
        ax = fig.add_subplot(1, len(sizes), i + 1)
        ax.imshow(np.asarray(patches[size]["patch"])[..., 0], cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{size}x{size}: {100 * patches[size]['random_location']:.0f}%", fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    files.append(save_figure(fig, store.path("patches.png")))
    fig = new_figure(5, 3.5)
    ax = fig.add_subplot(1, 1, 1)
    for column, label in (("random_location", "random location"), ("training_transforms", "training transforms"),
                          ("unseen_rotation", f"rotation to {config.patch_test_angle:g} deg (unseen)"),
                          ("unseen_small", "scale 0.7-0.8 (unseen)"), ("random_patch", "random patch")):
        ax.plot(sizes, [patches[s][column] for s in sizes], marker="o", label=label)
    ax.set_xlabel("patch side (pixels)")
    ax.set_ylabel(f"targeted success (target {config.patch_target})")
    ax.set_ylim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    files.append(save_figure(fig, store.path("patch_success_vs_size.png")))
    log_figure(store.logdir, "patch_success_vs_size", fig)
    # RP2 examples
    x_adv = np.asarray(rp2_results["eot"]["examples"], np.float32)
    shown = min(6, len(x_adv))
    fig = new_figure(1.4 * shown, 3.0)
    for c in range(shown):
        for r, images in enumerate((rp2_x, x_adv)):
            ax = fig.add_subplot(2, shown, r * shown + c + 1)
            ax.imshow(images[c, ..., 0], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    files.append(save_figure(fig, store.path("rp2_examples.png")))
    return [f.rsplit("/", 1)[-1] for f in files]


def run(config: UniversalPhysicalConfig) -> dict:
    """Trains the models, computes every universal, patch and RP2 number; returns results.json."""
    from tfrobust import data as tfr_data
    from tfrobust.studies import StudyReport, start
    from tfrobust.studies.published import UNIVERSAL_PHYSICAL_PUBLISHED as PUBLISHED
    from tfrobust.studies.report import format_percent, training_summary

    store, data = start(EXPERIMENT, config)
    x_train, _ = tfr_data.load_numpy(config.dataset, "train", take=config.train_size)
    models = _train_models(store, config, data)
    accuracy = store.cached("clean_accuracy", lambda: {
        name: float((model.predict(data.x_eval, verbose=0).argmax(1) == data.y_eval).mean())
        for name, model in models.items()})
    uap, vectors = _universal(store, config, models, x_train, data)
    first = config.models[0]
    patches = _patch(store, config, models[first], x_train, data)
    rp2_results, _, rp2_x = _rp2(store, config, models[first], data)
    figures = _figures(store, config, models, vectors, patches, rp2_results, rp2_x, data)

    pct = format_percent
    rows = []
    for (name, method), entry in uap.items():
        paper = PUBLISHED["uap_deepfool" if method == "deepfool" else "uap_sgd"]
        rows.append({"measure": f"UAP {method}, {name} ({pct(accuracy[name])}% clean): held-out fooling "
                                f"(train / random sign)",
                     "ours": f"{pct(entry['held_out'])} ({pct(entry['train_fooling'])} / {pct(entry['random_sign'])})",
                     "paper": f"{paper[0]} ({paper[1]})"})
    for size, entry in sorted(patches.items()):
        rows.append({"measure": f"patch {size}x{size} -> {config.patch_target}, random location (random patch)",
                     "ours": f"{pct(entry['random_location'])} ({pct(entry['random_patch'])})",
                     "paper": f"{PUBLISHED['patch'][0]} ({PUBLISHED['patch'][1]})" if size == max(patches) else ""})
    for name, entry in rp2_results.items():
        rows.append({"measure": f"RP2 {'with' if name == 'eot' else 'without'} EOT: success digital / physical / "
                                f"harsher conditions",
                     "ours": f"{pct(entry['digital'])} / {pct(entry['physical'])} / {pct(entry['harsher'])}",
                     "paper": f"{PUBLISHED['rp2'][0]} ({PUBLISHED['rp2'][1]})" if name == "eot" else ""})
    names = list(models)
    transfer = [{"v computed on": f"{src} ({method})",
                 **{dst: pct(uap[(src, method)]["transfer"][dst]) for dst in names}}
                for (src, method) in uap]
    patch_rows = [{"size": f"{s}x{s}", "random location": pct(e["random_location"]),
                   f"training (±{config.patch_angle:g}°, 0.9-1.1)": pct(e["training_transforms"]),
                   f"unseen ±{config.patch_test_angle:g}°": pct(e["unseen_rotation"]),
                   "unseen scale 0.7-0.8": pct(e["unseen_small"]), "unseen larger scale": pct(e["unseen_large"]),
                   "random patch": pct(e["random_patch"])} for s, e in sorted(patches.items())]
    report = StudyReport("Universal perturbations, adversarial patch and RP2", store).paragraph(
        f"{', '.join(config.models)} on {training_summary(config)}. Universal perturbations of L-inf radius "
        f"{config.uap_xi:g} computed on {config.uap_train_size} (DeepFool) / {config.uap_sgd_train_size} (SGD) "
        f"training digits, fooling rate (label change) on "
        f"{config.eval_size} held-out test digits. The patch targets class {config.patch_target} on {first} and "
        f"counts test digits not already classified as the target. The papers' numbers are on ImageNet or road "
        f"signs, as named; ours on MNIST digits.").table(rows, ["measure", "ours", "paper"])
    report.section("Cross-model transfer of the universal perturbations (fooling rate, %)").table(transfer)
    report.section("Patch: targeted success against size and transformations (%)").table(patch_rows)
    report.paragraph(f"{PUBLISHED['uap_transfer'][1]}: {PUBLISHED['uap_transfer'][0]}. RP2 mask: two bars "
                     f"(sticker_mask 'bars'); perturbation outside the mask: "
                     f"{max(e['outside_mask'] for e in rp2_results.values()):.1g}.")
    return store.finish(report.footer(figures=figures).markdown(), clean_accuracy=accuracy,
                        uap={f"{n}_{m}": {k: e[k] for k in ("held_out", "train_fooling", "random_sign", "linf",
                                                            "transfer")} for (n, m), e in uap.items()},
                        patch={str(s): {k: v for k, v in e.items() if k not in ("patch", "history")}
                               for s, e in patches.items()},
                        rp2={n: {k: v for k, v in e.items() if k != "examples"} for n, e in rp2_results.items()})


if __name__ == "__main__":
    run_script(run, UniversalPhysicalConfig, PRESETS)
