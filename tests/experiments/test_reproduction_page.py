"""tfrobust.studies.reproduction on a fake results tree: ours beside the seed, ρ, signs, figures, 'not run yet'."""
import json
import os
import shutil

import pytest

from tfrobust.studies import published as pub
from tfrobust.studies import reproduction


def _write(root, experiment, preset, payload):
    path = os.path.join(root, experiment, preset)
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, "results.json"), "w") as f:
        json.dump(payload, f)
    return path


def _curve(model, sparsity, seed, clean, drop):
    eps = [0.0, 0.1, 0.2]
    return {"model": model, "target_sparsity": sparsity, "seed": seed, "clean_accuracy": clean,
            "fgsm": {"epsilons": eps, "accuracy": [clean, clean - drop, clean - 2 * drop], "drop": [0.0, drop, 2 * drop],
                     "attack": "fgsm", "attack_config": {"name": "fgsm"}, "clean_accuracy": clean, "n": 100}}


def test_page_from_fake_results(tmp_path):
    root, docs = str(tmp_path / "results"), str(tmp_path / "docs")
    # Seed 002, VGG-like: our PGD ranking is the seed's with its two most robust activations swapped.
    seed_rows = pub.KAF_FAST_AT["vgg_like"]
    order = sorted(seed_rows, key=lambda a: seed_rows[a].robust)
    ours = {a: 0.1 * i for i, a in enumerate(order[:-2] + [order[-1], order[-2]])}
    kaf = {f"vgg_like_{a}_seed={s}": {"model": "vgg_like", "activation": a, "seed": s, "clean_accuracy": 0.8,
                                       "pgd_accuracy": ours[a] + 0.01 * s} for a in ours for s in (0, 1, 2)}
    _write(root, "kaf_fast_at", "medium", {"config": {"preset": "medium", "dataset": "fashion_mnist"},
                                           "entries": kaf, "summary": {}, "wall_time_s": 60})
    # Seed 004 FC5 (no clear effect): ours says pruning to 90% is less robust at 60k, no clear effect at 4k.
    figure = str(tmp_path / "fc5_drop.png")
    open(figure, "wb").write(b"\x89PNG fake")
    entries = {f"fc5_sparsity={s:g}_seed={k}": _curve("fc5", s, k, 0.88, 0.1 + s / 5 + 0.001 * k)
               for s in (0.0, 0.9) for k in (0, 1, 2)}
    verdict = {"robustness": "less robust", "relative": "less robust", "clean": "unchanged clean accuracy",
               "p_drop": 1e-4}
    _write(root, "pruning_robustness", "medium", {
        "config": {"preset": "medium", "dataset": "fashion_mnist", "models": ["fc5"], "seeds": [0, 1, 2]},
        "entries": entries, "summary": {"verdicts": {"fc5": {"90%": verdict}}, "figures": [figure]}})
    _write(root, "pruning_robustness", "quick", {
        "config": {"preset": "quick", "dataset": "mnist5k", "train_size": 2000}, "entries": {},
        "summary": {"verdicts": {"fc5": {"90%": {**verdict, "robustness": "no clear effect"}}}}})

    text = reproduction.build_reproduction(root, docs)
    assert text == open(os.path.join(docs, "reproduction.md")).read()
    # Spearman rho with one swap among n = 7 names: 1 - 6 * 2 / (7 * 48) = 0.964.
    assert f"Spearman ρ = {1 - 12 / (7 * 48):+.2f} (n=7" in text
    assert f"{seed_rows['swish'].robust:.2%}" in text  # the seed's number beside ours
    # Our FC5 verdict disagrees with seed 004's "no clear effect"; the quick run differs, a measured cause.
    assert "| pruning_robustness | fc5 90% | 004_cd331ac70aa3e385.txt, Figure 11: no clear effect | less robust | " \
           "no clear effect | disagrees |" in text
    assert "The quick preset (2,000 mnist5k images) finds *no clear effect*: the direction changes with the data" in text
    assert "0.880 ± 0.000 (n=3)" in text and "| dataset | imagenette | fashion_mnist |" in text
    assert open(os.path.join(docs, "figures", "pruning_robustness", "fc5_drop.png"), "rb").read() == b"\x89PNG fake"
    assert "![fc5_drop.png](figures/pruning_robustness/fc5_drop.png)" in text
    # A study without results: "not run yet" and the command that produces it.
    assert "apt-get install -y dataset-fashion-mnist && python experiments/lowrank_robustness.py --preset medium" in text
    assert text.count("**not run yet**") >= 2 * 4  # low rank, temperature, distillation, generator: medium and quick
    # Every results file used is recorded beside the page: with results/ and the run's figure gone (a later
    # checkout), the page rebuilds from the record alone, the same.
    assert json.load(open(os.path.join(docs, "results", "kaf_fast_at", "medium", "results.json")))["entries"] == kaf
    shutil.rmtree(root)
    os.remove(figure)
    assert reproduction.build_reproduction(root, docs) == text


def test_spearman_rho_by_formula():
    from tfrobust.studies.verdicts import spearman_rho

    got = spearman_rho({"a": 1, "b": 2, "c": 3, "d": 4, "x": 9}, {"a": 4, "b": 3, "c": 1, "d": 2})
    assert got["n"] == 4 and got["rho"] == pytest.approx(1 - 6 * (9 + 1 + 4 + 4) / (4 * 15))


def test_unfinished_run_gets_verdicts_from_its_entries(tmp_path):
    root = str(tmp_path / "results")
    # FC5 pruned to 90%: mean FGSM drop 1.5 x 0.281 vs 1.5 x 0.101 (seed spread 0.0015): Welch calls it less robust.
    entries = {f"fc5_sparsity={s:g}_seed={k}": _curve("fc5", s, k, 0.88, 0.1 + s / 5 + 0.001 * k)
               for s in (0.0, 0.9) for k in (0, 1, 2)}
    _write(root, "pruning_robustness", "medium", {"config": {"preset": "medium"}, "entries": entries, "summary": {}})
    text = reproduction.build_reproduction(root, str(tmp_path / "docs"))
    assert "**Partial: the run had not finished**" in text
    # Its figures are drawn from the finished entries (mean ± std error bars), into docs/figures/<study>/.
    assert os.path.getsize(tmp_path / "docs" / "figures" / "pruning_robustness" / "fc5_drop.png") > 1000
    assert "![fc5_accuracy.png](figures/pruning_robustness/fc5_accuracy.png)" in text
    assert "| 90% | 3 | 0.880 ± 0.000 (n=3) | 0.422 ± 0.002 (n=3) | 0.521 ± 0.002 (n=3) | less robust (p=" in text
    assert "| fc5 90% | 004_cd331ac70aa3e385.txt, Figure 11: no clear effect | less robust | not run | disagrees |" in text


def test_a_study_with_only_its_quick_run_shown_gets_the_quick_reason(tmp_path):
    """The medium preset's budget reasons describe the medium run: beside a quick run they would misstate it."""
    root, docs = str(tmp_path / "results"), str(tmp_path / "docs")
    entries = {f"fc5_sparsity={s:g}_seed={k}": _curve("fc5", s, k, 0.9, 0.1 + s / 5 + 0.001 * k)
               for s in (0.0, 0.9) for k in (0, 1)}
    _write(root, "pruning_robustness", "quick", {
        "config": {"preset": "quick", "dataset": "mnist5k", "models": ["fc5"], "seeds": [0, 1]}, "entries": entries,
        "summary": {"verdicts": {"fc5": {"90%": {"robustness": "less robust", "relative": "less robust",
                                                 "clean": "unchanged clean accuracy", "p_drop": 1e-3}}}}})
    text = reproduction.build_reproduction(root, docs)
    section = text.split("## Seed 004 §4.1")[1].split("## Seed 004 §4.2")[0]
    assert "Preset **quick**" in section and "Why: the quick preset, sized to run in minutes" in section
    assert reproduction.BUDGET_REASONS["pruning_robustness"] not in section
    assert "Quick preset: not run here." not in section
    assert "| less robust | (the run shown) | disagrees |" in text  # the agreement row's quick column
    # The disagreement paragraph names the run it judges: the quick one, with the medium preset still to run.
    paragraph = next(line for line in text.splitlines() if line.startswith("- **fc5 at 90%**"))
    assert "our quick run finds *less robust*" in paragraph and "our medium run" not in paragraph
    assert "the medium preset (full Fashion-MNIST) has not been run yet" in paragraph
    assert "the whole mnist5k training split" in paragraph


def test_entries_come_in_name_order_whether_fresh_or_recorded(tmp_path):
    """A fresh run lists its entries in run order, the record alphabetically (T=100 before T=1); the page reads
    both in one order, numbers compared as numbers, so it does not change when the fresh results are gone."""
    run_order = ["undefended_seed=0", "T=1_seed=0", "T=20_seed=0", "T=100_seed=0"]
    for root, keys in (("fresh", run_order), ("record", sorted(run_order))):
        path = tmp_path / root / "defensive_distillation" / "medium" / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"entries": {k: {"clean_accuracy": 0.5} for k in keys}}))
    fresh = reproduction.load_results(str(tmp_path / "fresh"), "defensive_distillation")
    recorded = reproduction.load_results(str(tmp_path / "none"), "defensive_distillation", str(tmp_path / "record"))
    expected = ["T=1_seed=0", "T=20_seed=0", "T=100_seed=0", "undefended_seed=0"]
    assert list(fresh["medium"]["entries"]) == list(recorded["medium"]["entries"]) == expected
