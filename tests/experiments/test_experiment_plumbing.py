"""Tests of tfrobust.experiment (presets, flags, run directory, resume) and tfrobust.published."""
import dataclasses
import json
import os
from typing import Optional, Tuple

import numpy as np
import pytest
import tf_keras as keras
from absl import flags

from tfrobust import experiment, published


@dataclasses.dataclass(frozen=True)
class _Config(experiment.ExperimentConfig):
    temperatures: Tuple[float, ...] = (1.0, 20.0)
    models: Tuple[str, ...] = ("fc5",)
    note: Optional[str] = None
    SWEEP_FIELDS = ("temperatures",)


_PRESETS = {"quick": _Config(epochs=2), "paper": _Config(dataset="cifar10", epochs=15)}


def test_flags_override_only_what_was_given():
    fv = flags.FlagValues()
    experiment.define_flags(_Config, _PRESETS, flag_values=fv)
    fv(["prog", "--preset=paper", "--temperatures=1,50", "--batch_size=512", "--models=alexnet,resnet18"])
    config = experiment.config_from_flags(_Config, _PRESETS, flag_values=fv)
    assert config.preset == "paper"
    assert config.dataset == "cifar10" and config.epochs == 15          # from the preset
    assert config.temperatures == (1.0, 50.0) and config.batch_size == 512  # from the flags
    assert config.models == ("alexnet", "resnet18")


def test_bad_list_flag_and_unknown_setting_raise():
    fv = flags.FlagValues()
    experiment.define_flags(_Config, _PRESETS, flag_values=fv)
    fv(["prog", "--temperatures=1,hot"])
    with pytest.raises(ValueError, match="temperatures"):
        experiment.config_from_flags(_Config, _PRESETS, flag_values=fv)
    with pytest.raises(ValueError, match="epoch"):
        experiment.make_config(_PRESETS, "quick", epoch=3)
    with pytest.raises(ValueError, match="preset"):
        experiment.make_config(_PRESETS, "huge")


def _tiny_model():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])


def test_run_records_atomically_and_resumes(tmp_path):
    config = experiment.make_config(_PRESETS, "quick", results_root=str(tmp_path / "r"),
                                    logdir_root=str(tmp_path / "tb"), run_name="t")
    run = experiment.ExperimentRun("demo", config)
    assert run.results_dir == os.path.join(str(tmp_path / "r"), "demo", "t")
    assert run.model_logdir("a b") == os.path.join(str(tmp_path / "tb"), "demo", "t", "a_b")
    calls = []
    run.cached("T=1", lambda: calls.append(1) or {"acc": np.float32(0.5)})
    with open(run.results_path) as f:
        assert json.load(f)["entries"]["T=1"]["acc"] == 0.5

    trainings = []

    def train(model, callbacks):
        assert any(isinstance(c, keras.callbacks.BackupAndRestore) for c in callbacks)
        trainings.append(1)
        model.layers[-1].kernel.assign(np.full((4, 3), 7.0, np.float32))

    first = run.trained_model("m", _tiny_model, train)
    # A second run with more sweep values resumes: the entry and the model are not recomputed.
    again = experiment.ExperimentRun("demo", dataclasses.replace(config, temperatures=(1.0, 20.0, 50.0)))
    again.cached("T=1", lambda: calls.append(1) or {"acc": 0.0})
    second = again.trained_model("m", _tiny_model, train)
    assert len(calls) == 1 and len(trainings) == 1
    assert again.entries["T=1"]["acc"] == 0.5
    np.testing.assert_array_equal(second.get_weights()[0], first.get_weights()[0])
    assert not os.path.exists(run.checkpoint_dir("m"))

    # Changing a training setting under the same run name refuses to mix results.
    with pytest.raises(ValueError, match="epochs"):
        experiment.ExperimentRun("demo", dataclasses.replace(config, epochs=5))


def test_published_seed_002_numbers_and_citations():
    swish = published.published_kaf_accuracy("resnet20", "Swish")
    assert (swish.clean, swish.robust) == (0.7868, 0.5388)
    assert published.SEED_KAF in swish.citation and "ResNet20" in swish.citation
    assert published.published_kaf_accuracy("vgg_like", "kaf_relu") is None  # the VGG table has no such row
    # The seed's remark: Swish is the most robust ResNet20 row.
    rows = published.KAF_FAST_AT["resnet20"]
    assert max(rows, key=lambda a: rows[a].robust) == "swish"
    assert published.format_percent(0.4606, 2) == "46.06"
    assert published.PRUNING_FINDINGS[("fc5", 512)].figure == "Figure 11"


def test_training_killed_mid_run_resumes_at_the_next_epoch(tmp_path):
    config = experiment.make_config(_PRESETS, "quick", results_root=str(tmp_path / "r"),
                                    logdir_root=str(tmp_path / "tb"), run_name="t")
    run = experiment.ExperimentRun("demo", config)
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 4), dtype=np.float32), rng.random((32, 3), dtype=np.float32)
    started, kill = [], [True]

    class Record(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            started.append(epoch)

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1 and kill[0]:
                raise RuntimeError("killed")

    def train(model, callbacks):
        model.compile(keras.optimizers.SGD(0.1), "mse")
        model.fit(x, y, epochs=4, verbose=0, callbacks=list(callbacks) + [Record(), Kill()])

    with pytest.raises(RuntimeError, match="killed"):
        run.trained_model("m", _tiny_model, train)
    assert started == [0, 1] and not os.path.exists(run.weights_path("m"))
    kill[0] = False
    run.trained_model("m", _tiny_model, train)
    assert started == [0, 1, 2, 3]  # epochs 0-1 were backed up: the rerun trains epochs 2 and 3 only
    assert os.path.exists(run.weights_path("m")) and not os.path.exists(run.checkpoint_dir("m"))


def _entry(clean, accuracies):
    from tfrobust.evaluation.epsilon_sweep import SweepResult

    sweep = SweepResult(attack="fgsm", attack_config={}, epsilons=[0.0, 0.1, 0.2], accuracy=[clean] + accuracies,
                        clean_accuracy=clean, n=100)
    return {"clean_accuracy": clean, "fgsm": sweep.to_dict()}


def test_study_report_mean_drop_and_verdicts():
    from tfrobust import study_report

    dense = _entry(0.9, [0.5, 0.1])       # drops 0.4 and 0.8: mean 0.6
    sparse = _entry(0.9, [0.7, 0.3])      # drops 0.2 and 0.6: mean 0.4
    collapsed = _entry(0.3, [0.3, 0.3])   # no drop at all, but clean accuracy fell by 0.6
    assert study_report.mean_drop(dense) == pytest.approx(0.6)
    assert study_report.curve_directions(dense, sparse) == {"robustness": published.MORE_ROBUST,
                                                            "clean": published.UNCHANGED_CLEAN}
    assert study_report.curve_directions(sparse, dense)["robustness"] == published.LESS_ROBUST
    assert study_report.curve_directions(dense, collapsed) == {"robustness": published.NOT_COMPARABLE,
                                                               "clean": published.LOWER_CLEAN}
    rows = study_report.curves_rows({"0%": dense}, [0.0, 0.1, 0.2])
    assert rows[0]["acc ε=0.1"] == 0.5 and rows[0]["mean drop"] == pytest.approx(0.6)
    assert published.robustness_direction(0.50, 0.51, tolerance=0.02) == published.NO_CLEAR_EFFECT
    assert published.robustness_direction(0.50, 0.45, tolerance=0.02) == published.LESS_ROBUST
