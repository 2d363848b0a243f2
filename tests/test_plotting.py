"""Figures: one line per model, PNG files written, reliability diagram, adversarial grid, bars and A-R scatter."""
import numpy as np
import pytest

from tfrobust.evaluation import SweepResult, reliability_diagram
from tfrobust.hypernet.robustness import Measurement
from tfrobust.plotting import (perturbation_image, plot_accuracy_vs_epsilon, plot_accuracy_vs_robustness,
                               plot_adversarial_grid, plot_drop_vs_epsilon, plot_grouped_bars, plot_reliability_diagram)
from tfrobust.studies.published import GENERATOR_PUBLISHED

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _sweeps():
    eps = [0.0, 0.1, 0.2, 0.3]
    return {"dense": SweepResult("fgsm", {"name": "fgsm"}, eps, [0.98, 0.6, 0.2, 0.05], 0.98, 100),
            "pruned": SweepResult("fgsm", {"name": "fgsm"}, eps, [0.97, 0.7, 0.3, 0.1], 0.97, 100),
            "low rank": SweepResult("fgsm", {"name": "fgsm"}, eps[::-1], [0.02, 0.1, 0.5, 0.96], 0.96, 100)}


def test_accuracy_and_drop_plots_have_one_line_per_model(tmp_path):
    sweeps = _sweeps()
    path = tmp_path / "figs" / "acc.png"
    fig = plot_accuracy_vs_epsilon(sweeps, path=str(path))
    lines = fig.axes[0].lines
    assert len(lines) == 3 and [line.get_label() for line in lines] == list(sweeps)
    # eps are plotted in increasing order even when given decreasing
    np.testing.assert_allclose(lines[2].get_xdata(), [0.0, 0.1, 0.2, 0.3])
    np.testing.assert_allclose(lines[2].get_ydata(), [0.96, 0.5, 0.1, 0.02])
    assert path.read_bytes().startswith(PNG_MAGIC)

    fig = plot_drop_vs_epsilon(sweeps, path=str(tmp_path / "drop.png"))
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.0, 0.38, 0.78, 0.93])
    assert (tmp_path / "drop.png").read_bytes().startswith(PNG_MAGIC)
    assert len(plot_accuracy_vs_epsilon(sweeps["dense"]).axes[0].lines) == 1


def test_plot_rejects_bad_input():
    with pytest.raises(ValueError, match="non-empty"):
        plot_accuracy_vs_epsilon({})
    with pytest.raises(TypeError, match="not a SweepResult"):
        plot_drop_vs_epsilon({"a": [0.1, 0.2]})


def test_reliability_diagram_plot(tmp_path):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(500, 10))
    labels = rng.integers(0, 10, 500)
    diagram = reliability_diagram(logits, labels, n_bins=10)
    fig = plot_reliability_diagram(diagram, path=str(tmp_path / "rel.png"))
    ax = fig.axes[0]
    assert len(ax.lines) == 1  # the diagonal
    heights = [p.get_height() for p in ax.patches[:10]]
    np.testing.assert_allclose(heights, np.nan_to_num(diagram.accuracy))
    assert f"{diagram.ece:.4f}" in ax.get_title()
    assert (tmp_path / "rel.png").read_bytes().startswith(PNG_MAGIC)
    fig2 = plot_reliability_diagram(probs_or_logits=logits, labels=labels, n_bins=10)
    assert fig2.axes[0].get_title() == ax.get_title()
    with pytest.raises(ValueError, match="Give a ReliabilityDiagram"):
        plot_reliability_diagram()


def test_adversarial_grid_layout(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (5, 8, 8, 1)).astype(np.float32)
    x_adv = np.clip(x + rng.choice([-0.1, 0.1], x.shape), 0, 1).astype(np.float32)
    fig = plot_adversarial_grid(x, x_adv, y=[0, 1, 2, 3, 4], pred_clean=[0, 1, 2, 3, 4], pred_adv=[9, 9, 9, 9, 9],
                                max_images=4, path=str(tmp_path / "grid.png"))
    assert len(fig.axes) == 12  # 3 rows x 4 columns
    assert fig.axes[0].get_title() == "y=0 pred=0" and fig.axes[1].get_title() == "pred=9"
    shown = fig.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown, x[0, ..., 0])
    assert (tmp_path / "grid.png").read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="NHWC"):
        plot_adversarial_grid(x, x_adv[:2])


def test_perturbation_image_maps_zero_to_grey():
    delta = np.array([[-0.2, 0.0, 0.1]])
    np.testing.assert_allclose(perturbation_image(delta), [[0.0, 0.5, 0.75]])
    np.testing.assert_allclose(perturbation_image(np.zeros(3)), [0.5, 0.5, 0.5])


def _samples():
    accuracy = np.array([0.95, 0.40, 0.80, 0.10, 0.70], np.float32)
    robustness = np.array([0.20, 0.90, 0.60, 1.00, 0.65], np.float32)
    return Measurement(accuracy, robustness, accuracy * robustness, 100)


def test_scatter_draws_every_sample_and_reference(tmp_path):
    path = tmp_path / "scatter.png"
    fig = plot_accuracy_vs_robustness({"value mode": _samples()}, {"original": (0.99, 0.2)},
                                      published=GENERATOR_PUBLISHED, path=str(path))
    ax = fig.axes[0]
    offsets = [c.get_offsets() for c in ax.collections if len(c.get_offsets())]
    points = np.concatenate(offsets)
    assert any(np.allclose(p, [0.7, 0.65]) for p in points)
    assert any(np.allclose(p, [0.99, 0.2]) for p in points)
    seed = [GENERATOR_PUBLISHED["original_accuracy"], GENERATOR_PUBLISHED["original_robustness"]]
    assert any(np.allclose(p, seed) for p in points)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_grouped_bars_put_each_value_and_reference_tick_where_it_belongs(tmp_path):
    path = tmp_path / "bars.png"
    series = {"clean": [0.9, 0.8], "PGD": [0.5, 0.3]}
    fig = plot_grouped_bars(["relu", "kaf"], series, str(path), title="t",
                            reference={"seed clean": [0.78, None], "seed robust": [0.45, 0.47]})
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == [0.3, 0.5, 0.8, 0.9]
    ticks = np.concatenate([c.get_offsets() for c in ax.collections])
    assert sorted(round(float(v), 6) for v in ticks[:, 1]) == [0.45, 0.47, 0.78]  # the None is not drawn
    # The robust tick of "kaf" sits on the PGD bar of the second group (x = 1 - 0.4 + 0.4 * 1.5 = 1.2).
    assert any(np.allclose(t, [1.2, 0.47]) for t in ticks)
    assert path.read_bytes()[:8] == PNG_MAGIC


def _texts(fig):
    ax = fig.axes[0]
    legend = ax.get_legend()
    return ax.get_title(), legend.get_title().get_text(), [t.get_text() for t in legend.get_texts()]


def test_titles_name_model_dataset_and_attack_with_the_legends_labels(tmp_path):
    """Issue 10: a title names model, dataset and attack; legend and title use the same (registry) attack label."""
    eps = [0.0, 0.1, 0.2]
    by_attack = {"fgsm": SweepResult("fgsm", {}, eps, [0.9, 0.5, 0.2], 0.9, 10, model_name="lenet5"),
                 "PGD": SweepResult("pgd-40x1-ce", {}, eps, [0.9, 0.3, 0.0], 0.9, 10, model_name="lenet5")}
    title, heading, entries = _texts(plot_accuracy_vs_epsilon(by_attack, dataset="mnist5k"))
    assert title == "accuracy: lenet5 on mnist5k, fgsm, pgd-40x1-ce"
    assert entries == ["fgsm", "PGD (pgd-40x1-ce)"] and heading == ""
    title, heading, entries = _texts(plot_drop_vs_epsilon(_sweeps(), model="fc5", dataset="mnist",
                                                          legend_title="sparsity"))
    assert title == "accuracy drop: fc5 on mnist, fgsm" and heading == "sparsity"
    assert entries == ["dense", "pruned", "low rank"]


def test_seed_curve_figures_say_sparsity_and_name_dataset_and_attack(tmp_path, monkeypatch):
    from tfrobust.studies import curves

    figures = []
    monkeypatch.setattr(curves.plotting, "save_figure", lambda fig, path: figures.append(fig) or str(path))
    eps = [0.0, 0.1]
    measures = {f"{s:.0%}": [curves.CurveMeasures(0.9, SweepResult("fgsm", {}, eps, [0.9, v], 0.9, 10))
                             for v in (0.5, 0.6)] for s in (0.0, 0.8)}
    curves.plot_seed_curves(measures, str(tmp_path), "fc5", "fc5 on mnist5k, magnitude pruning",
                            legend_title="sparsity")
    assert len(figures) == 2
    title, heading, entries = _texts(figures[0])
    assert title == "fc5 on mnist5k, magnitude pruning: fgsm accuracy"
    assert heading == "sparsity" and entries == ["0% (n=2)", "80% (n=2)"]
