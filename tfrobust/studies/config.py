"""The settings the seed studies share, each documented once.

A study's settings dataclass derives from ``StudyConfig`` and, when it has them, from the mixins
``AttackSettings`` (one ε and one attack spec) and ``CurveSettings`` (an ε grid of accuracy-vs-ε curves); the
quickstart and ``evaluate_model`` use ``CurveSettings`` and ``ReportSettings`` (attacks swept over the grid,
where the report goes). ``SeedsSettings`` adds the training seeds over which verdicts are judged.
``tfrobust.studies.flags`` turns every field into a command-line flag whose help text is the field's line
below, so ``--eps`` means the same in every script: the single L-inf radius of the study's attacks.

Validation happens once, in ``Settings.__post_init__``: each class checks its own fields in its ``validate``.
The checks of attack specs against the attack registry (``validate_specs``) need TensorFlow, so they run there
only once ``tfrobust.attacks`` is loaded, and always in ``Settings.check_specs``, which
``tfrobust.studies.flags.make_config`` / ``config_from_flags`` call: a script's presets are built, and its
``--help`` answers, without importing TensorFlow, and a bad ``--attack`` is still refused before anything runs.
"""
from __future__ import annotations

import dataclasses
import math
import sys
import typing
from typing import Optional, Tuple

from tfrobust.scalars import check_positive

def check_positive_numbers(values, flag: str) -> None:
    """Refuses an empty list, or a value that is missing, non-finite or <= 0, naming the flag.

    Raises:
        ValueError: with the flag's name, the values given and what is accepted.
    """
    if not values or any(v is None or not math.isfinite(v) or v <= 0 for v in values):
        shown = ",".join("none" if v is None else f"{v:g}" for v in values) if values else "(empty)"
        raise ValueError(f"{flag} takes comma-separated finite numbers > 0, got {shown}.")


#: The ε grid of the seed-004 paper presets (Imagenette, pixel units): up to 16/255.
SEED_004_PAPER_EPSILONS = (0.0, 1 / 255, 2 / 255, 3 / 255, 4 / 255, 6 / 255, 8 / 255, 12 / 255, 16 / 255)

#: Config fields that only say where to write; changing them never invalidates earlier results.
LOCATION_FIELDS = ("preset", "run_name", "logdir_root", "results_root")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of every settings dataclass: ``__post_init__`` runs the ``validate`` of each class of the MRO, and its
    ``validate_specs`` (checks that need the attack registry) when ``tfrobust.attacks`` is already imported."""

    def __post_init__(self):
        self._run_checks("validate")
        if "tfrobust.attacks" in sys.modules:
            self._run_checks("validate_specs")

    def _run_checks(self, method: str) -> None:
        for klass in reversed(type(self).__mro__):
            check = klass.__dict__.get(method)
            if check is not None:
                check(self)

    def check_specs(self):
        """Runs every ``validate_specs`` (importing the attack registry); returns ``self``.

        Raises:
            ValueError: a malformed spec, an unknown attack or setting, naming the flag.
        """
        self._run_checks("validate_specs")
        return self


@dataclasses.dataclass(frozen=True)
class StudyConfig(Settings):
    """Settings every study has. Studies derive their own dataclass from this one.

    Attributes:
        preset: Preset to start from; every other flag overrides one of its settings.
        dataset: Dataset name (tfrobust.data: mnist5k, mnist, fashion_mnist, cifar10, imagenette).
        train_size: Number of training examples (default: the whole split).
        eval_size: Number of test examples evaluated and attacked.
        epochs: Training epochs per model.
        batch_size: Training batch size.
        learning_rate: Peak learning rate of the optimiser.
        seed: Random seed (weights, shuffling, the attacks' random starts).
        max_steps: Stop each training epoch after this many steps (smoke runs).
        run_name: Run directory name under results/<experiment>/ (default: the preset name).
        logdir_root: Root directory of TensorBoard logs.
        results_root: Root directory of results.
    """

    preset: str = "quick"
    dataset: str = "mnist5k"
    train_size: Optional[int] = None
    eval_size: int = 500
    epochs: int = 3
    batch_size: int = 128
    learning_rate: float = 1e-3
    seed: int = 0
    max_steps: Optional[int] = None
    run_name: Optional[str] = None
    logdir_root: str = "tensorboard_logs"
    results_root: str = "results"

    #: Fields listing the entries of a sweep: adding a value to them keeps earlier results valid.
    SWEEP_FIELDS: typing.ClassVar[Tuple[str, ...]] = ()

    def validate(self) -> None:
        """Checks the fields of this class (subclasses define their own ``validate``; all of them run).

        Raises:
            ValueError: a bad value, with a message naming the flag.
        """
        for name in ("eval_size", "epochs", "batch_size"):
            check_positive(getattr(self, name), f"--{name}", integer=True)
        for name in ("train_size", "max_steps"):
            if getattr(self, name) is not None:
                check_positive(getattr(self, name), f"--{name}", integer=True)
        check_positive(self.learning_rate, "--learning_rate")


@dataclasses.dataclass(frozen=True)
class AttackSettings(Settings):
    """The study's attack at one ε (mixin of a ``StudyConfig``).

    Attributes:
        eps: L-inf radius, in pixel units of images in [0, 1], of every attack the study runs at a single ε (and
            of its adversarial training, where it trains adversarially).
        attack: The attack run at eps, a spec parsed by tfrobust.attacks.parse_attack, e.g.
            'pgd:steps=20,restarts=1' (its seed is --seed; PGD's step defaults to 2.5 eps / steps).
    """

    eps: float = 0.1
    attack: str = "pgd:steps=20,restarts=1"

    def validate(self) -> None:
        check_positive(self.eps, "--eps")

    def validate_specs(self) -> None:
        self.attack_spec()  # a bad spec is refused here, before anything runs

    def attack_spec(self, **settings):
        """``parse_attack(self.attack)`` seeded with ``seed``, with ``settings`` (e.g. ``loss="margin"``) on top.

        Raises:
            ValueError: a malformed spec, an unknown attack or setting.
        """
        from tfrobust.attacks import Attack, parse_attack

        try:
            spec = parse_attack(self.attack)
        except ValueError as err:
            raise ValueError(f"--attack={self.attack!r}: {err}") from None
        seed = {"seed": getattr(self, "seed", 0)} if "seed" in spec.entry.settings else {}
        return Attack(spec.name, **{**seed, **spec.settings, **settings})


#: A reduced AutoAttack for the 2-core quick presets (its label in the tables names the reduced budget).
QUICK_AUTOATTACK = "aa:steps=25,n_target_classes=3,n_queries=500"


@dataclasses.dataclass(frozen=True)
class AutoAttackSettings(Settings):
    """AutoAttack (Croce & Hein 2020) beside a study's PGD columns (mixin of a ``StudyConfig``).

    Attributes:
        autoattack: AutoAttack spec run at --eps on the first --autoattack_size evaluation examples: 'aa' is the
            standard suite (APGD-CE, APGD-T, FAB-T, Square 5,000 queries); a reduced budget such as
            'aa:steps=25,n_target_classes=3,n_queries=500' is named in the column's label; '' skips it.
        autoattack_size: Number of evaluation examples AutoAttack runs on.
    """

    autoattack: str = "aa"
    autoattack_size: int = 200

    def validate(self) -> None:
        check_positive(self.autoattack_size, "--autoattack_size", integer=True)

    def validate_specs(self) -> None:
        self.autoattack_spec()

    def autoattack_spec(self):
        """The parsed AutoAttack spec (seeded with ``seed``), or None when ``autoattack`` is ''."""
        from tfrobust.attacks import Attack, parse_attack

        if not self.autoattack.strip():
            return None
        try:
            spec = parse_attack(self.autoattack)
        except ValueError as err:
            raise ValueError(f"--autoattack={self.autoattack!r}: {err}") from None
        if spec.name != "autoattack":
            raise ValueError(f"--autoattack={self.autoattack!r} must be an AutoAttack spec ('aa' or 'aa:...').")
        return Attack(spec.name, **{"seed": getattr(self, "seed", 0), **spec.settings})


@dataclasses.dataclass(frozen=True)
class CurveSettings(Settings):
    """An ε grid of accuracy-vs-ε curves (mixin of a ``StudyConfig``).

    Attributes:
        epsilons: Comma-separated ε grid (pixel units of images in [0, 1]) of the accuracy-vs-ε curves; include 0
            for the clean point.
    """

    epsilons: Tuple[float, ...] = (0.0, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2)

    def validate(self) -> None:
        if not self.epsilons or any(e is None or not math.isfinite(e) or e < 0 for e in self.epsilons):
            raise ValueError(f"--epsilons must be finite numbers >= 0, got {self.epsilons}.")


@dataclasses.dataclass(frozen=True)
class ReportSettings(Settings):
    """Attacks swept over an ε grid and where their report goes (quickstart, evaluate_model).

    Attributes:
        attacks: Attack specs swept over the ε grid, separated by ';' (tfrobust.attacks.parse_attacks), e.g.
            'fgsm;pgd:steps=40,restarts=5'; each is seeded with --seed.
        out_dir: Directory of report.json, report.md and the figures.
        logdir: TensorBoard log directory.
        xla: XLA: auto (on with a GPU), true or false.
        verbose: 1 shows a progress bar (examples attacked, running robust accuracy per eps, ETA) for each
            attack when stdout is a terminal; 0 turns it off.
    """

    attacks: str = "fgsm;pgd"
    out_dir: Optional[str] = None
    logdir: Optional[str] = None
    xla: str = "auto"
    verbose: int = 1

    def validate(self) -> None:
        if self.verbose not in (0, 1):
            raise ValueError(f"--verbose takes 0 or 1, got {self.verbose}.")

    def validate_specs(self) -> None:
        self.attack_specs()

    def attack_specs(self):
        """The parsed ``attacks``, by label, each seeded with ``seed`` unless its spec sets one.

        Raises:
            ValueError: a malformed spec, an unknown attack or setting.
        """
        from tfrobust.attacks.spec import Attack, parse_attacks

        try:
            specs = parse_attacks(self.attacks)
        except ValueError as err:
            raise ValueError(f"--attacks={self.attacks!r}: {err}") from None
        seed = getattr(self, "seed", 0)
        seeded = [Attack(a.name, **{**({"seed": seed} if "seed" in a.entry.settings else {}), **a.settings})
                  for a in specs]
        return {a.label: a for a in seeded}


@dataclasses.dataclass(frozen=True)
class SeedsSettings(Settings):
    """Training seeds of a study whose verdicts are judged over seeds (mixin of a ``StudyConfig``).

    Attributes:
        seeds: Comma-separated training seeds; every entry is trained and measured once per seed (weights and
            shuffling; its key ends in _seed=<s>), tables give mean ± std over them, and a direction is called
            only when Welch's t-test over the seeds finds it (tfrobust.studies.verdicts.seed_direction).
    """

    seeds: Tuple[int, ...] = (0, 1, 2)

    def validate(self) -> None:
        if not self.seeds or any(s is None or int(s) != s or s < 0 for s in self.seeds) or \
                len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"--seeds must be distinct integers >= 0, e.g. 0,1,2; got {self.seeds}.")
