"""Seed 003's Deep k-NN section: credibility in representation space flags adversarial inputs, and calibration.

A LeNet-5 is trained on the training split; ``tfrobust.evaluation.DeepKNN`` indexes the representations of its
layers over the training split (faiss, ``--index``), takes its calibration nonconformities from the first
``calibration_size`` evaluated test images and predicts the others, clean and attacked by FGSM, by ``--attack``
(PGD) and by AutoAttack (when ``--autoattack`` is set), all at ``--eps`` against the LeNet-5 (Papernot & McDaniel
2018 attack the DNN, then look at the DkNN's credibility).

Reported: the DkNN's and the DNN's accuracy on each input set; the AUROC of low credibility (and, as a baseline,
of a low softmax maximum) for telling adversarial from clean inputs; credibility histograms; and seed 003's
calibration question: the ECE (Guo et al. 2017) of the DkNN's credibility, of the softmax, and of the softmax
after temperature scaling fitted on the calibration split, with reliability diagrams.

Usage:
    python experiments/deep_knn.py --preset quick
"""
from __future__ import annotations

import dataclasses
from typing import Dict

from tfrobust.studies.config import QUICK_AUTOATTACK, AttackSettings, AutoAttackSettings, StudyConfig
from tfrobust.studies.flags import run_script

EXPERIMENT = "deep_knn"
#: The ECE columns: entry key and header.
CALIBRATIONS = (("dknn", "DkNN credibility"), ("dknn_confidence", "DkNN confidence"), ("softmax", "softmax"),
                ("temperature", "softmax, temperature-scaled"))


@dataclasses.dataclass(frozen=True)
class DeepKNNConfig(AutoAttackSettings, AttackSettings, StudyConfig):
    """Settings of the Deep k-NN study (eval_size test images: the first calibration_size calibrate, the rest are
    predicted clean and attacked).

    Attributes:
        model: Model name (tfrobust.models.build) whose layers the DkNN searches.
        k: Neighbours per layer (75 in the paper).
        index: faiss index of each layer: 'flat' (exact IndexFlatL2) or a faiss factory string such as 'HNSW32'.
        calibration_size: Test images whose nonconformity calibrates the p-values (750 in the paper's MNIST run).
        n_bins: Equal-width confidence bins of the ECE and reliability diagrams.
    """

    model: str = "lenet5"
    k: int = 75
    index: str = "flat"
    calibration_size: int = 250
    n_bins: int = 15

    def validate(self) -> None:
        if self.k < 1:
            raise ValueError(f"--k must be at least 1, got {self.k}.")
        if not 0 < self.calibration_size < self.eval_size:
            raise ValueError(f"--calibration_size must be in (0, --eval_size={self.eval_size}), got "
                             f"{self.calibration_size}: the rest of the test images are predicted.")


PRESETS: Dict[str, DeepKNNConfig] = {
    # mnist5k: LeNet-5 on 4,000 training digits; 250 calibration and 750 predicted test digits; ε = 0.2.
    "quick": DeepKNNConfig(preset="quick", dataset="mnist5k", epochs=8, batch_size=32, learning_rate=2e-3,
                           eval_size=1000, calibration_size=250, eps=0.2, attack="pgd:steps=20,restarts=1",
                           autoattack=QUICK_AUTOATTACK, autoattack_size=100),
    # Papernot & McDaniel 2018 on MNIST: k = 75, 750 calibration points (held out of the test split), FGSM/BIM at
    # ε = 0.25; the standard AutoAttack on 1,000 digits.
    "paper": DeepKNNConfig(preset="paper", dataset="mnist", epochs=10, batch_size=128, learning_rate=1e-3,
                           eval_size=10000, calibration_size=750, eps=0.25, attack="pgd:steps=40,restarts=1",
                           autoattack="aa", autoattack_size=1000),
}


def _train(store, config, data):
    from tfrobust.models import build
    from tfrobust.studies.training import compile_classifier, fit, make_optimizer

    def train(model, callbacks):
        compile_classifier(model, make_optimizer("adam", config.learning_rate))
        fit(model, data, config.epochs, callbacks)

    return store.trained_model(config.model, lambda: build(config.model, data.input_shape, data.num_classes), train)


def _adversarial_sets(model, x, y, config) -> dict:
    """name -> adversarial images (FGSM, the study's attack and AutoAttack on its first autoattack_size)."""
    from tfrobust.attacks import Attack

    sets = {"FGSM": (Attack("fgsm")(model, x, y, eps=config.eps), y),
            config.attack_spec().label: (config.attack_spec()(model, x, y, eps=config.eps), y)}
    spec = config.autoattack_spec()
    if spec is not None:
        n = min(config.autoattack_size, len(x))
        sets[spec.label] = (spec(model, x[:n], y[:n], eps=config.eps), y[:n])
    return sets


def _evaluate(store, config, data) -> dict:
    import numpy as np

    from tfrobust import data as tfr_data
    from tfrobust.evaluation.calibration import fit_temperature, reliability_diagram
    from tfrobust.evaluation.deep_knn import DeepKNN, credibility_auroc, credibility_reliability

    model = _train(store, config, data)
    x_train, y_train = tfr_data.load_numpy(config.dataset, "train", take=config.train_size)
    n_cal = config.calibration_size
    x_cal, y_cal = data.x_eval[:n_cal], data.y_eval[:n_cal]
    x, y = data.x_eval[n_cal:], data.y_eval[n_cal:]
    dknn = DeepKNN(model, k=config.k, index=config.index).fit(x_train, y_train, x_cal, y_cal)

    def logits(images):
        return model.predict(images, batch_size=512, verbose=0)

    temperature = fit_temperature(logits(x_cal), y_cal)
    sets = {"clean": (x, y), **_adversarial_sets(model, x, y, config)}
    entry = {"layers": dknn.layers, "temperature": temperature, "sets": {}}
    clean_credibility = clean_softmax = None
    for name, (images, labels) in sets.items():
        result, z = dknn.predict(images), logits(images)
        softmax = np.exp(z - z.max(1, keepdims=True))
        softmax = (softmax / softmax.sum(1, keepdims=True)).max(1)
        diagrams = {"dknn": credibility_reliability(result, labels, config.n_bins),
                    "dknn_confidence": credibility_reliability(result, labels, config.n_bins, score="confidence"),
                    "softmax": reliability_diagram(z, labels, config.n_bins, from_logits=True),
                    "temperature": reliability_diagram(z / temperature, labels, config.n_bins, from_logits=True)}
        row = {"n": len(labels), "dknn_accuracy": float(np.mean(result["prediction"] == labels)),
               "dnn_accuracy": float(np.mean(z.argmax(1) == labels)),
               "credibility": result["credibility"], "mean_credibility": float(result["credibility"].mean()),
               "ece": {k: d.ece for k, d in diagrams.items()},
               "reliability": {k: d.to_dict() for k, d in diagrams.items()}}
        if name == "clean":
            clean_credibility, clean_softmax = result["credibility"], softmax
        else:
            row["auroc_credibility"] = credibility_auroc(clean_credibility, result["credibility"])
            row["auroc_softmax"] = credibility_auroc(clean_softmax, softmax)
        entry["sets"][name] = row
    store.log_evaluation("dknn", scalars={
        **{f"{name}/dknn_accuracy": r["dknn_accuracy"] for name, r in entry["sets"].items()},
        **{f"{name}/auroc_credibility": r["auroc_credibility"] for name, r in entry["sets"].items()
           if "auroc_credibility" in r},
        **{f"clean/ece_{k}": v for k, v in entry["sets"]["clean"]["ece"].items()}})
    return entry


def _figures(store, entry, config) -> list:
    import numpy as np

    from tfrobust import plotting
    from tfrobust.evaluation.calibration import ReliabilityDiagram

    figure = plotting.new_figure(6.5, 4.0)
    ax = figure.add_subplot(1, 1, 1)
    bins = np.linspace(0, 1, 21)
    for name, row in entry["sets"].items():
        ax.hist(np.asarray(row["credibility"]), bins=bins, histtype="step", density=True, linewidth=1.5,
                label=f"{name} (n={row['n']})")
    ax.set_xlabel("DkNN credibility")
    ax.set_ylabel("density")
    ax.set_title(f"Deep k-NN credibility, clean and attacked at ε={config.eps:g} ({config.dataset})")
    ax.legend(fontsize="small")
    paths = [plotting.save_figure(figure, store.path("credibility_histograms.png"))]
    for key, label in CALIBRATIONS:
        fields = entry["sets"]["clean"]["reliability"][key]
        diagram = ReliabilityDiagram(**{k: np.asarray(v, np.float64) if isinstance(v, list) else v
                                        for k, v in fields.items()})
        paths.append(store.path(f"reliability_{key}.png"))
        plotting.plot_reliability_diagram(diagram, path=paths[-1],
                                          title=f"{label}, clean test: ECE = {diagram.ece:.3f}")
    return paths


def _markdown(store, config, entry) -> str:
    from tfrobust.studies.published import DKNN_PUBLISHED
    from tfrobust.studies.report import StudyReport, format_percent, training_summary

    rows = [{"inputs": name, "n": r["n"], "DNN accuracy": format_percent(r["dnn_accuracy"]),
             "DkNN accuracy": format_percent(r["dknn_accuracy"]), "mean credibility": f"{r['mean_credibility']:.3f}",
             "AUROC credibility": "—" if "auroc_credibility" not in r else f"{r['auroc_credibility']:.3f}",
             "AUROC softmax max": "—" if "auroc_softmax" not in r else f"{r['auroc_softmax']:.3f}",
             "paper": "—" if name == "clean" else DKNN_PUBLISHED["finding"].split(";")[0]}
            for name, r in entry["sets"].items()]
    ece = [{"inputs": name, **{label: f"{r['ece'][key]:.3f}" for key, label in CALIBRATIONS}}
           for name, r in entry["sets"].items()]
    report = StudyReport("Deep k-NN: credibility against adversarial inputs, and calibration", store).paragraph(
        f"{config.model} on {training_summary(config)}; DkNN with k = {config.k} over layers "
        f"{', '.join(entry['layers'])} (faiss '{config.index}'), {config.calibration_size} calibration test images, "
        f"the next {config.eval_size - config.calibration_size} predicted; attacks at ε = {config.eps:g} on the DNN. "
        f"Paper: {DKNN_PUBLISHED['setting']}. AUROC: probability that an attacked input has a lower score than a "
        "clean one (1 = perfect flagging).").table(rows, list(rows[0])).section(
        f"Calibration: ECE ({config.n_bins} bins)").paragraph(
        f"Temperature T = {entry['temperature']:.3f} fitted on the calibration split's logits. "
        f"{DKNN_PUBLISHED['calibration']}. Credibility is a conformal p-value (about uniform on [0, 1] for the true "
        "label of inputs like the calibration split), a measure of support by the training data rather than a "
        "probability of being right, so its ECE on clean inputs is large by construction; the paper's claim is that "
        "it falls on inputs the model does not understand, which the AUROC column measures. The softmax-maximum "
        "AUROC is the baseline a detector must beat.").table(ece, list(ece[0]))
    return report.footer(["credibility_histograms.png"] + [f"reliability_{k}.png" for k, _ in CALIBRATIONS]
                         ).markdown()


def run(config: DeepKNNConfig) -> dict:
    """Trains the LeNet-5, fits the DkNN, attacks, measures credibility and calibration; returns results.json."""
    from tfrobust.studies.training import start

    store, data = start(EXPERIMENT, config)
    entry = store.cached("dknn", lambda: _evaluate(store, config, data))
    paths = _figures(store, entry, config)
    summary = {name: {k: v for k, v in r.items() if k not in ("credibility", "reliability")}
               for name, r in entry["sets"].items()}
    return store.finish(_markdown(store, config, entry), sets=summary, temperature=entry["temperature"],
                        figures=paths)


if __name__ == "__main__":
    run_script(run, DeepKNNConfig, PRESETS)
