"""Seed 003's PATE section: private aggregation of teacher ensembles, its privacy cost and its robustness.

Teachers are trained on disjoint partitions of the training split (the private data); their votes on the first
``public_size`` images of the test split (the public data, as in Papernot et al. 2017) are aggregated by LNMax,
GNMax and confident GNMax (``tfrobust.privacy``); a student is trained on each set of aggregated labels and
evaluated on the rest of the test split. For every mechanism the table gives the labels' accuracy, the student's
accuracy, and epsilon at ``delta`` accounted with dp-accounting, data-independent and (GNMax, confident GNMax)
data-dependent from the vote histogram (Papernot et al. 2018, Theorem 6). The baselines are a single teacher
(trained on one partition) and the student of the noiseless plurality vote.

Seed 003: "Noise and aggregation ... also prevent overfitting and help smooth loss functions". The students'
FGSM and PGD accuracy at ``--eps`` is set beside a teacher's.

Usage:
    python experiments/pate.py --preset quick
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Tuple

from tfrobust.studies.config import AttackSettings, StudyConfig, check_positive_numbers
from tfrobust.studies.flags import run_script

EXPERIMENT = "pate"


@dataclasses.dataclass(frozen=True)
class PATEConfig(AttackSettings, StudyConfig):
    """Settings of the PATE study (eval_size test images: the first public_size are the public queries, the rest
    evaluate the teachers and students).

    Attributes:
        model: Model name (tfrobust.models.build) of the teachers and students.
        teachers: Number of teachers, each trained on its own disjoint partition of the training split.
        public_size: Test images the aggregator labels for the student (the public data).
        lnmax_gammas: Comma-separated LNMax inverse noise scales gamma (noise Lap(1/gamma)); empty skips LNMax.
        gnmax_sigmas: Comma-separated GNMax noise standard deviations.
        confident: Confident GNMax as threshold,sigma1,sigma2 (Papernot et al. 2018, Algorithm 1); '' skips it.
        delta: The delta of the (epsilon, delta) privacy costs.
        student_epochs: Training epochs of each student.
        robust_size: Evaluation images on which FGSM and --attack measure the students' and teacher 0's
            robustness; 0 skips it.
    """

    model: str = "mnist_small"
    teachers: int = 20
    public_size: int = 500
    lnmax_gammas: Tuple[float, ...] = (1.0, 0.25)
    gnmax_sigmas: Tuple[float, ...] = (1.0, 3.0, 6.0)
    confident: str = "14,4,2"
    delta: float = 1e-5
    student_epochs: int = 15
    robust_size: int = 500

    def validate(self) -> None:
        if self.teachers < 2:
            raise ValueError(f"--teachers must be at least 2, got {self.teachers}.")
        if not 0 < self.public_size < self.eval_size:
            raise ValueError(f"--public_size must be in (0, --eval_size={self.eval_size}), got {self.public_size}: the "
                             "rest of the evaluated test images measure the students.")
        if self.lnmax_gammas:
            check_positive_numbers(self.lnmax_gammas, "--lnmax_gammas")
        check_positive_numbers(self.gnmax_sigmas, "--gnmax_sigmas")
        self.confident_settings()
        if self.robust_size < 0:
            raise ValueError(f"--robust_size must be >= 0, got {self.robust_size}.")
        if not 0 < self.delta < 1:
            raise ValueError(f"--delta must be in (0, 1), got {self.delta}.")

    def confident_settings(self):
        """(threshold, sigma1, sigma2) of confident GNMax, or None when ``confident`` is ''."""
        if not self.confident.strip():
            return None
        try:
            values = tuple(float(v) for v in self.confident.split(","))
        except ValueError:
            values = ()
        if len(values) != 3 or min(values) <= 0:
            raise ValueError(f"--confident takes threshold,sigma1,sigma2 (three numbers > 0), got {self.confident!r}.")
        return values


PRESETS: Dict[str, PATEConfig] = {
    # mnist5k: 20 teachers of 200 training digits each; 500 public test digits, 500 to evaluate.
    "quick": PATEConfig(preset="quick", dataset="mnist5k", epochs=12, batch_size=32, learning_rate=2e-3,
                        eval_size=1000, public_size=500, eps=0.1, attack="pgd:steps=20,restarts=1"),
    # Papernot et al. 2017/2018 on MNIST: 250 teachers (240 digits each), LNMax gamma = 0.05, GNMax sigma = 40,
    # confident GNMax T = 200, sigma1 = 150, sigma2 = 40 (2018, Table 2); 9,000 public test digits, 1,000 to
    # evaluate. Our students are supervised on the answered queries only (the papers' are semi-supervised).
    "paper": PATEConfig(preset="paper", dataset="mnist", teachers=250, epochs=30, batch_size=32, learning_rate=1e-3,
                        eval_size=10000, public_size=9000, lnmax_gammas=(0.05,), gnmax_sigmas=(40.0,),
                        confident="200,150,40", student_epochs=30, eps=0.1, attack="pgd:steps=40,restarts=1"),
}


def _accuracy(model, x, y) -> float:
    import numpy as np

    from tfrobust.evaluation.robust_accuracy import predict_labels

    return float(np.mean(predict_labels(model, x) == y))


def _robustness(model, x, y, config) -> dict:
    from tfrobust.evaluation.robust_accuracy import robust_accuracy

    x, y = x[:config.robust_size], y[:config.robust_size]
    if not len(x):
        return {"fgsm": None, "pgd": None}
    return {"fgsm": robust_accuracy(model, x, y, attack="fgsm", eps=config.eps).robust_accuracy,
            "pgd": robust_accuracy(model, x, y, attack=config.attack_spec(), eps=config.eps).robust_accuracy}


def _teachers(store, config, data, x_eval, y_eval, x_public) -> dict:
    """Trains the teachers, records each one's accuracy, the vote histogram and the first teacher's robustness."""
    import numpy as np

    from tfrobust import data as tfr_data
    from tfrobust.models import build
    from tfrobust.privacy import train_teachers, vote_histogram

    x_train, y_train = tfr_data.load_numpy(config.dataset, "train", take=config.train_size)
    teachers = train_teachers(x_train, y_train, teachers=config.teachers, epochs=config.epochs,
                              batch_size=config.batch_size, learning_rate=config.learning_rate, seed=config.seed,
                              build=lambda: build(config.model, data.input_shape, data.num_classes))
    accuracies = [_accuracy(t, x_eval, y_eval) for t in teachers]
    store.log_evaluation("teachers", scalars={"teacher_accuracy/mean": float(np.mean(accuracies))})
    return {"partition_size": len(x_train) // config.teachers, "accuracies": accuracies,
            "histogram": vote_histogram(teachers, x_public, num_classes=data.num_classes),
            "teacher0": {"clean": accuracies[0], **_robustness(teachers[0], x_eval, y_eval, config)}}


def _mechanisms(config):
    """(key, mechanism, settings) of every aggregator the study runs; the plurality vote first."""
    rows = [("plurality", "plurality", {})]
    rows += [(f"lnmax_gamma={g:g}", "lnmax", {"gamma": g}) for g in config.lnmax_gammas]
    rows += [(f"gnmax_sigma={s:g}", "gnmax", {"sigma": s}) for s in config.gnmax_sigmas]
    confident = config.confident_settings()
    if confident:
        t, s1, s2 = confident
        rows.append((f"confident_T={t:g}_s1={s1:g}_s2={s2:g}", "confident_gnmax",
                     {"threshold": t, "sigma1": s1, "sigma2": s2}))
    return rows


def _aggregate(mechanism: str, settings: dict, histogram, config, seed: int) -> dict:
    """The aggregated labels (-1 unanswered) and their data-independent and data-dependent epsilon."""
    import numpy as np

    from tfrobust import privacy

    queries = len(histogram)
    if mechanism == "plurality":
        return {"labels": histogram.argmax(axis=1), "eps": None, "eps_data_dependent": None}
    if mechanism == "lnmax":
        return {"labels": privacy.lnmax(histogram, gamma=settings["gamma"], seed=seed),
                "eps": privacy.privacy_cost(mechanism="lnmax", queries=queries, gamma=settings["gamma"],
                                            delta=config.delta), "eps_data_dependent": None}
    if mechanism == "gnmax":
        return {"labels": privacy.gnmax(histogram, sigma=settings["sigma"], seed=seed),
                "eps": privacy.privacy_cost(mechanism="gnmax", queries=queries, sigma=settings["sigma"],
                                            delta=config.delta),
                "eps_data_dependent": privacy.data_dependent_privacy_cost(histogram, sigma=settings["sigma"],
                                                                          delta=config.delta)}
    answers = privacy.confident_gnmax(histogram, seed=seed, **settings)
    noise = {"sigma1": settings["sigma1"], "sigma2": settings["sigma2"]}
    return {"labels": answers.labels,
            "eps": privacy.privacy_cost(mechanism="confident_gnmax", queries=queries,
                                        answered=int(np.sum(answers.answered)), delta=config.delta, **noise),
            "eps_data_dependent": privacy.data_dependent_privacy_cost(histogram, answered=answers.answered,
                                                                      delta=config.delta, **noise)}


def _student(store, key, mechanism, settings, histogram, config, data, x_public, y_public, x_eval, y_eval) -> dict:
    import numpy as np

    from tfrobust.models import build
    from tfrobust.privacy import train_student
    from tfrobust.studies.run_store import tensorboard_callbacks

    seed = store.entry_seed(key)
    aggregated = _aggregate(mechanism, settings, histogram, config, seed)
    labels = np.asarray(aggregated["labels"])
    answered = labels >= 0
    entry = {"mechanism": mechanism, "settings": settings, "answered": int(answered.sum()),
             "label_accuracy": float(np.mean(labels[answered] == y_public[answered])) if answered.any() else None,
             "eps": aggregated["eps"], "eps_data_dependent": aggregated["eps_data_dependent"]}
    if not answered.any():
        return {**entry, "clean": None, "fgsm": None, "pgd": None}
    student = train_student(x_public, labels, epochs=config.student_epochs, batch_size=config.batch_size,
                            learning_rate=config.learning_rate, seed=seed,
                            build=lambda: build(config.model, data.input_shape, data.num_classes),
                            callbacks=tensorboard_callbacks(store.model_logdir(key)))
    entry.update({"clean": _accuracy(student, x_eval, y_eval), **_robustness(student, x_eval, y_eval, config)})
    store.log_evaluation(key, scalars={k: entry[k] for k in ("clean", "fgsm", "pgd", "label_accuracy", "eps")
                                       if entry[k] is not None})
    return entry


def _figure(store, students, teacher_accuracy: float) -> str:
    from tfrobust import plotting

    figure = plotting.new_figure(6.5, 4.0)
    ax = figure.add_subplot(1, 1, 1)
    for field, marker, label in (("eps", "o", "data-independent ε"), ("eps_data_dependent", "x", "data-dependent ε")):
        points = [(e[field], e["clean"]) for e in students.values() if e[field] is not None and e["clean"] is not None]
        if points:
            ax.scatter(*zip(*points), marker=marker, label=label)
    for name, e in students.items():
        if e["eps"] is not None and e["clean"] is not None:
            ax.annotate(name, (e["eps"], e["clean"]), fontsize=6)
    plurality = students.get("plurality")
    if plurality and plurality["clean"] is not None:
        ax.axhline(plurality["clean"], color="gray", linestyle="--", label="plurality student (no privacy)")
    ax.axhline(teacher_accuracy, color="black", linestyle=":", label="single teacher (mean)")
    ax.set_xscale("log")
    ax.set_xlabel("ε (δ fixed)")
    ax.set_ylabel("student accuracy")
    ax.set_title("PATE: student accuracy against privacy cost")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return plotting.save_figure(figure, store.path("student_accuracy_vs_epsilon.png"))


def _markdown(store, config, teachers, students) -> str:
    import numpy as np

    from tfrobust.studies.published import PATE_PUBLISHED
    from tfrobust.studies.report import StudyReport, format_percent, training_summary

    def eps_cell(value):
        return "—" if value is None else f"{value:.3g}"

    mean, std = float(np.mean(teachers["accuracies"])), float(np.std(teachers["accuracies"]))
    rows = [{"aggregator": "single teacher (mean ± std)", "answered": "—", "label accuracy": "—",
             "accuracy": f"{100 * mean:.1f} ± {100 * std:.1f}", "ε data-independent": "—",
             "ε data-dependent": "—"}]
    for name, e in students.items():
        rows.append({"aggregator": f"student, {name}", "answered": f"{e['answered']}/{config.public_size}",
                     "label accuracy": format_percent(e["label_accuracy"]), "accuracy": format_percent(e["clean"]),
                     "ε data-independent": eps_cell(e["eps"]), "ε data-dependent": eps_cell(e["eps_data_dependent"])})
    paper = [{"paper": p["citation"], "setting": p["setting"], "accuracy": format_percent(p["accuracy"]),
              "ε": f"{p['epsilon']:g}", "δ": f"{p['delta']:g}"} for p in PATE_PUBLISHED]
    def ratio(e):
        return None if e["pgd"] is None or not e["clean"] else e["pgd"] / e["clean"]

    def robust_row(model, e):
        r = ratio(e)
        return {"model": model, "clean": format_percent(e["clean"]), f"FGSM ε={config.eps:g}": format_percent(e["fgsm"]),
                f"PGD ε={config.eps:g}": format_percent(e["pgd"]), "PGD / clean": "—" if r is None else f"{r:.3f}"}

    robust = [robust_row("teacher 0", teachers["teacher0"])]
    robust += [robust_row(f"student, {name}", e) for name, e in students.items()]
    ratios = [ratio(e) for e in students.values() if ratio(e) is not None]
    teacher_ratio = ratio(teachers["teacher0"])
    smoother = ("not measured" if not ratios or teacher_ratio is None else
                f"{sum(r > teacher_ratio for r in ratios)} of {len(ratios)} students")
    report = StudyReport("PATE: private aggregation of teacher ensembles", store).paragraph(
        f"{config.teachers} teachers ({config.model}) on disjoint partitions of {teachers['partition_size']} "
        f"training images each, {training_summary(config)}; the aggregators label the first {config.public_size} "
        f"test images, the other {config.eval_size - config.public_size} evaluate. ε at δ = {config.delta:g}, "
        "accounted in Rényi DP with dp-accounting; the data-dependent ε (Papernot et al. 2018, Theorem 6) is "
        "computed from the vote histogram without the smooth-sensitivity release step.").table(
        rows, list(rows[0])).section("Published (MNIST; their students are semi-supervised)").table(
        paper, list(paper[0])).section(f"Robustness at ε = {config.eps:g}: students against a teacher").paragraph(
        "Seed 003: noise and aggregation \"also prevent overfitting and help smooth loss functions\". "
        "Students are trained on more (public) images than a teacher, so PGD / clean compares robustness at their "
        f"own clean accuracy. Higher PGD / clean than teacher 0: **{smoother}**.").table(robust, list(robust[0]))
    return report.footer(["student_accuracy_vs_epsilon.png"]).markdown()


def run(config: PATEConfig) -> dict:
    """Trains the teachers, aggregates, trains a student per aggregator, accounts and attacks; returns results.json."""
    import numpy as np

    from tfrobust.studies.training import start

    store, data = start(EXPERIMENT, config)
    x_public, y_public = data.x_eval[:config.public_size], data.y_eval[:config.public_size]
    x_eval, y_eval = data.x_eval[config.public_size:], data.y_eval[config.public_size:]
    teachers = store.cached("teachers", lambda: _teachers(store, config, data, x_eval, y_eval, x_public))
    histogram = np.asarray(teachers["histogram"])
    students = {key: store.cached(key, lambda k=key, m=m, s=s: _student(
        store, k, m, s, histogram, config, data, x_public, y_public, x_eval, y_eval))
        for key, m, s in _mechanisms(config)}
    path = _figure(store, students, float(np.mean(teachers["accuracies"])))
    return store.finish(_markdown(store, config, teachers, students), students=students,
                        teacher_accuracy_mean=float(np.mean(teachers["accuracies"])), teacher0=teachers["teacher0"],
                        figures=[path])


if __name__ == "__main__":
    run_script(run, PATEConfig, PRESETS)
