"""Tests of tfrobust.studies: flags from dataclasses, the run store (resume, typed entries), published numbers,
verdicts, curves and the report builder."""
import dataclasses
import json
import os
from typing import Optional, Tuple

import numpy as np
import pytest
import tf_keras as keras
from absl import flags

from tfrobust.studies import AttackSettings, CurveSettings, RunStore, StudyConfig, StudyReport
from tfrobust.studies import curves, published, verdicts
from tfrobust.studies.flags import config_from_flags, define_flags, help_texts, make_config


@dataclasses.dataclass(frozen=True)
class _Config(CurveSettings, AttackSettings, StudyConfig):
    """A study's settings.

    Attributes:
        temperatures: the temperatures.
        models: the models,
            over two lines.
        note: a note.
    """

    temperatures: Tuple[float, ...] = (1.0, 20.0)
    models: Tuple[str, ...] = ("fc5",)
    note: Optional[str] = None
    SWEEP_FIELDS = ("temperatures",)


_PRESETS = {"quick": _Config(epochs=2), "paper": _Config(dataset="cifar10", epochs=15)}


def test_flags_override_only_what_was_given():
    fv = flags.FlagValues()
    define_flags(_Config, _PRESETS, flag_values=fv)
    fv(["prog", "--preset=paper", "--temperatures=1,50", "--batch_size=512", "--models=alexnet,resnet18"])
    config = config_from_flags(_Config, _PRESETS, flag_values=fv)
    assert config.preset == "paper"
    assert config.dataset == "cifar10" and config.epochs == 15          # from the preset
    assert config.temperatures == (1.0, 50.0) and config.batch_size == 512  # from the flags
    assert config.models == ("alexnet", "resnet18")
    assert config.eps == 0.1 and config.epsilons == CurveSettings.epsilons  # untouched: the dataclass defaults


def test_each_setting_is_documented_once_and_shown_by_help():
    texts = help_texts(_Config)
    assert texts["models"] == "the models, over two lines."
    assert texts["eps"].startswith("L-inf radius")  # from AttackSettings, not repeated in _Config
    assert texts["epochs"] == "Training epochs per model."  # from StudyConfig
    fv = flags.FlagValues()
    define_flags(_Config, _PRESETS, flag_values=fv)
    assert fv["eps"].help.startswith(texts["eps"] + " (") and fv["preset"].value == "quick"  # + the presets' values
    with pytest.raises(ValueError, match="undocumented"):
        define_flags(dataclasses.make_dataclass("Bare", [("undocumented", int, 1)], frozen=True),
                     flag_values=flags.FlagValues())


def test_bad_values_are_refused_where_the_config_is_built():
    with pytest.raises(ValueError, match="--eps"):
        make_config(_PRESETS, "quick", eps=-0.1)
    with pytest.raises(ValueError, match="--attack"):
        make_config(_PRESETS, "quick", attack="pgd:stepz=3")
    with pytest.raises(ValueError, match="--epsilons"):
        make_config(_PRESETS, "quick", epsilons=(0.0, -1.0))
    with pytest.raises(ValueError, match="--epochs"):
        make_config(_PRESETS, "quick", epochs=0)


def test_attack_setting_is_one_spec_seeded_by_the_config():
    config = make_config(_PRESETS, "quick", attack="pgd:steps=7,restarts=2", seed=3)
    spec = config.attack_spec(loss="margin")
    assert (spec.name, spec.settings["steps"], spec.settings["restarts"]) == ("pgd", 7, 2)
    assert spec.settings["seed"] == 3 and spec.loss == "margin" and spec.label == "pgd-7x2-margin"
    assert config.attack_spec().loss == "ce"


def test_bad_list_flag_and_unknown_setting_raise():
    fv = flags.FlagValues()
    define_flags(_Config, _PRESETS, flag_values=fv)
    fv(["prog", "--temperatures=1,hot"])
    with pytest.raises(ValueError, match="temperatures"):
        config_from_flags(_Config, _PRESETS, flag_values=fv)
    with pytest.raises(ValueError, match="epoch"):
        make_config(_PRESETS, "quick", epoch=3)
    with pytest.raises(ValueError, match="preset"):
        make_config(_PRESETS, "huge")


def _tiny_model():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def test_run_records_atomically_and_resumes(tmp_path):
    config = make_config(_PRESETS, "quick", results_root=str(tmp_path / "r"),
                         logdir_root=str(tmp_path / "tb"), run_name="t")
    run = RunStore("demo", config)
    assert run.results_dir == os.path.join(str(tmp_path / "r"), "demo", "t")
    assert run.model_logdir("a b") == os.path.join(str(tmp_path / "tb"), "demo", "t", "a_b")
    calls = []
    run.cached("T=1", lambda: calls.append(1) or {"acc": np.float32(0.5)})
    with open(run.results_path) as f:
        assert json.load(f)["entries"]["T=1"]["acc"] == 0.5

    trainings = []

    def train(model, callbacks):
        assert not any(isinstance(c, keras.callbacks.BackupAndRestore) for c in callbacks)  # see the kill tests
        trainings.append(1)
        model.layers[-1].kernel.assign(np.full((4, 3), 7.0, np.float32))

    first = run.trained_model("m", _tiny_model, train)
    # A second run with more sweep values resumes: the entry and the model are not recomputed.
    again = RunStore("demo", dataclasses.replace(config, temperatures=(1.0, 20.0, 50.0)))
    again.cached("T=1", lambda: calls.append(1) or {"acc": 0.0})
    second = again.trained_model("m", _tiny_model, train)
    assert len(calls) == 1 and len(trainings) == 1
    assert again.entries["T=1"]["acc"] == 0.5
    np.testing.assert_array_equal(second.get_weights()[0], first.get_weights()[0])
    assert not os.path.exists(run.checkpoint_dir("m"))

    # Typed entries: the computed object comes back as is; on resume the recorded JSON goes through ``load``.
    sweep = _sweep(0.9, [0.5, 0.1])
    fresh = run.cached("sweep", lambda: {"fgsm": sweep, "n": 3}, load=lambda e: ("loaded", e))
    assert fresh["fgsm"] is sweep
    resumed = RunStore("demo", config).cached("sweep", lambda: 1 / 0, load=lambda e: ("loaded", e))
    assert resumed == ("loaded", {"fgsm": sweep.to_dict(), "n": 3})

    # Changing a training setting under the same run name refuses to mix results.
    with pytest.raises(ValueError, match="epochs"):
        RunStore("demo", dataclasses.replace(config, epochs=5))


def test_published_seed_002_numbers_and_citations():
    swish = published.published_kaf_accuracy("resnet20", "Swish")
    assert (swish.clean, swish.robust) == (0.7868, 0.5388)
    assert published.SEED_KAF in swish.citation and "ResNet20" in swish.citation
    assert published.published_kaf_accuracy("vgg_like", "kaf_relu") is None  # the VGG table has no such row
    # The seed's remark: Swish is the most robust ResNet20 row.
    rows = published.KAF_FAST_AT["resnet20"]
    assert max(rows, key=lambda a: rows[a].robust) == "swish"
    from tfrobust.studies.report import format_percent

    assert format_percent(0.4606, 2) == "46.06" and format_percent(None) == "—"
    assert published.PRUNING_FINDINGS[("fc5", 512)].figure == "Figure 11"


def _kill_test_run(tmp_path, name, **store_options):
    config = make_config(_PRESETS, "quick", results_root=str(tmp_path / "r"),
                         logdir_root=str(tmp_path / "tb"), run_name=name)
    return RunStore("demo", config, **store_options)


def _killable_training(started, kill):
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 4), dtype=np.float32), rng.random((32, 3), dtype=np.float32)

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1 and kill[0]:
                raise RuntimeError("killed")

    def train(model, callbacks):
        model.compile(keras.optimizers.SGD(0.1), "mse")
        model.fit(x, y, epochs=4, batch_size=8, shuffle=True, verbose=0, callbacks=list(callbacks) + [Record(), Kill()])

    return train


def _tiny_random_model():
    # No set_random_seed here: the weights come from the seed the run store sets for the entry.
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def test_a_killed_entry_is_retrained_from_its_seeded_start_and_equals_an_uninterrupted_run(tmp_path):
    uninterrupted = _kill_test_run(tmp_path, "whole").trained_model("m", _tiny_random_model,
                                                                   _killable_training([], [False]))
    run = _kill_test_run(tmp_path, "killed")
    started, kill = [], [True]
    keras.utils.set_random_seed(123)  # whatever ran before must not matter
    with pytest.raises(RuntimeError, match="killed"):
        run.trained_model("m", _tiny_random_model, _killable_training(started, kill))
    assert started == [0, 1] and not os.path.exists(run.weights_path("m"))
    kill[0] = False
    resumed = run.trained_model("m", _tiny_random_model, _killable_training(started, kill))
    assert started == [0, 1, 0, 1, 2, 3]  # the interrupted entry starts again from epoch 0
    for a, b in zip(resumed.get_weights(), uninterrupted.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert os.path.exists(run.weights_path("m")) and not os.path.exists(run.checkpoint_dir("m"))
    assert run.entry_seed("m") != run.entry_seed("other")


def test_resume_within_entry_continues_at_the_next_epoch(tmp_path):
    run = _kill_test_run(tmp_path, "t", resume_within_entry=True)
    started, kill = [], [True]
    with pytest.raises(RuntimeError, match="killed"):
        run.trained_model("m", _tiny_random_model, _killable_training(started, kill))
    kill[0] = False
    run.trained_model("m", _tiny_random_model, _killable_training(started, kill))
    assert started == [0, 1, 2, 3]  # epochs 0-1 were backed up: the rerun trains epochs 2 and 3 only
    assert os.path.exists(run.weights_path("m")) and not os.path.exists(run.checkpoint_dir("m"))


def _sweep(clean, accuracies):
    from tfrobust.evaluation.epsilon_sweep import SweepResult

    return SweepResult(attack="fgsm", attack_config={}, epsilons=[0.0, 0.1, 0.2], accuracy=[clean] + accuracies,
                       clean_accuracy=clean, n=100)


def _entry(clean, accuracies):
    return curves.CurveMeasures(clean, _sweep(clean, accuracies), details={"model": "fc5"})


def test_curves_mean_drop_and_verdicts():
    dense = _entry(0.9, [0.5, 0.1])       # drops 0.4 and 0.8: mean 0.6
    sparse = _entry(0.9, [0.7, 0.3])      # drops 0.2 and 0.6: mean 0.4
    collapsed = _entry(0.3, [0.3, 0.3])   # no drop at all, but clean accuracy fell by 0.6
    assert curves.mean_drop(dense) == pytest.approx(0.6)
    assert curves.curve_directions(dense, sparse) == {"robustness": verdicts.MORE_ROBUST,
                                                            "clean": verdicts.UNCHANGED_CLEAN}
    assert curves.curve_directions(sparse, dense)["robustness"] == verdicts.LESS_ROBUST
    assert curves.curve_directions(dense, collapsed) == {"robustness": verdicts.NOT_COMPARABLE,
                                                               "clean": verdicts.LOWER_CLEAN}
    rows = curves.curves_rows({"0%": dense}, [0.0, 0.1, 0.2])
    assert rows[0]["acc ε=0.1"] == 0.5 and rows[0]["mean drop"] == pytest.approx(0.6)
    assert verdicts.robustness_direction(0.50, 0.51, tolerance=0.02) == verdicts.NO_CLEAR_EFFECT
    assert verdicts.robustness_direction(0.50, 0.45, tolerance=0.02) == verdicts.LESS_ROBUST
    assert curves.CurveMeasures.from_dict(dense.to_dict()) == dense  # the JSON round trip loses nothing


def test_study_report_blocks_and_one_line_metric_columns(tmp_path):
    from tfrobust.studies.report import metric_rows

    config = make_config(_PRESETS, "quick", results_root=str(tmp_path / "r"), logdir_root=str(tmp_path / "tb"),
                         run_name="t")
    entries = {"T=1": {"pgd": 0.41, "autoattack": 0.38}, "T=50": {"pgd": 0.9, "autoattack": 0.12}}
    columns = [("PGD", "pgd"), ("AutoAttack", "autoattack"), ("gap", lambda e: e["pgd"] - e["autoattack"])]
    rows = metric_rows(entries, columns, label="T")
    assert rows[1] == {"T": "T=50", "PGD": 0.9, "AutoAttack": 0.12, "gap": pytest.approx(0.78)}
    finding = published.TEMPERATURE_FINDINGS["aware"]
    text = (StudyReport("Title", RunStore("demo", config)).paragraph("Setting.").section("model")
            .table(rows).findings([finding]).directions("Directions", [["x", "more robust", "less robust"]])
            .footer(["a.png"]).markdown())
    assert text.startswith("# Title (t)\n\nSetting.\n\n## model\n\n| T | PGD | AutoAttack | gap |")
    assert "| T=50 | 0.900 | 0.120 | 0.780 |" in text and "Figure 13b" in text and "## Directions" in text
    assert "| x | more robust | less robust |" in text and "Figures: `a.png`." in text
