"""An attack named once with its settings, then run at any eps (for robust accuracy and sweeps).

``Attack("pgd", steps=40)`` or ``parse_attack("pgd:steps=40,restarts=5,loss=margin")`` describe an
attack without an eps; calling ``attack(model, x, y, eps=0.3)`` runs it. Settings that depend on eps
are resolved per eps:

- PGD (Madry et al. 2017): ``step_size = 2.5 * eps / steps`` when not given (the rule of Madry et al.,
  which lets ``steps`` steps travel 2.5 times the radius, enough to reach any point of the ball
  from a random start).
- R+FGSM (Tramer et al. 2018): random step ``alpha = eps / 2`` when not given, then an FGSM step.
- ``noise``: random sign noise of size eps, the baseline any real attack must beat (Carlini et al. 2019).
- ``fgsm``: Goodfellow et al. (2015).

The attacks themselves live in ``tfrobust.attacks``; they are looked up when the attack runs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Sequence

import numpy as np
import tensorflow as tf

from tfrobust.evaluation.random_noise import random_sign_noise
from tfrobust.validation import LOSSES, NORMS, check_choice, check_positive

ATTACK_NAMES = ("fgsm", "rfgsm", "pgd", "noise")
DEFAULT_PGD_STEPS = 40
MADRY_STEP_FACTOR = 2.5


@dataclass(frozen=True)
class Attack:
    """A fixed-eps attack described by its name and settings (eps is given per call).

    Attributes:
        name: "fgsm", "rfgsm", "pgd" or "noise".
        norm: "linf" or "l2" (fgsm, rfgsm, pgd; "noise" is L-inf only).
        steps: PGD iterations (default 40).
        step_size: PGD step; ``None`` gives ``2.5 * eps / steps`` (Madry et al. 2017).
        restarts: PGD random restarts; for "noise", the number of noise draws.
        random_start: PGD starts at a uniform random point of the ball.
        loss: PGD loss, "ce", "margin" or "dlr".
        alpha: R+FGSM random step; ``None`` gives ``eps / 2`` (Tramer et al. 2018).
        seed: seed of the random parts, for reproducible evaluations (``None``: fresh randomness).
    """

    name: str
    norm: str = "linf"
    steps: int | None = None
    step_size: float | None = None
    restarts: int = 1
    random_start: bool = True
    loss: str = "ce"
    alpha: float | None = None
    seed: int | None = 0

    def __post_init__(self):
        object.__setattr__(self, "name", check_choice(self.name, ATTACK_NAMES, "attack"))
        object.__setattr__(self, "norm", check_choice(self.norm, NORMS, "norm"))
        object.__setattr__(self, "loss", check_choice(self.loss, LOSSES, "loss"))
        if self.name == "noise" and self.norm != "linf":
            raise ValueError("The 'noise' baseline is random sign noise, an L-inf perturbation; use norm='linf'.")
        if self.steps is not None:
            check_positive(self.steps, "steps", integer=True)
        if self.step_size is not None:
            check_positive(self.step_size, "step_size")
        if self.alpha is not None:
            check_positive(self.alpha, "alpha")
        check_positive(self.restarts, "restarts", integer=True)
        if self.name != "pgd" and (self.steps is not None or self.step_size is not None or self.loss != "ce"):
            raise ValueError(f"steps, step_size and loss are PGD settings; attack {self.name!r} does not take them.")
        if self.name != "rfgsm" and self.alpha is not None:
            raise ValueError(f"alpha is an R+FGSM setting; attack {self.name!r} does not take it.")

    @property
    def label(self) -> str:
        """Short human-readable name, e.g. ``pgd-40x1-ce`` or ``fgsm``."""
        if self.name == "pgd":
            text = f"pgd-{self.steps or DEFAULT_PGD_STEPS}x{self.restarts}-{self.loss}"
        else:
            text = self.name
        return text if self.norm == "linf" else f"{text}-{self.norm}"

    def resolve(self, eps: float) -> Dict[str, Any]:
        """The keyword arguments the attack function receives at ``eps`` (eps-dependent defaults filled in)."""
        eps = float(eps)
        if self.name == "fgsm":
            return {"eps": eps, "norm": self.norm}
        if self.name == "rfgsm":
            alpha = eps / 2.0 if self.alpha is None else float(self.alpha)
            return {"eps": eps, "alpha": alpha, "norm": self.norm, "seed": self.seed}
        if self.name == "noise":
            return {"eps": eps, "draws": self.restarts, "seed": self.seed}
        steps = self.steps or DEFAULT_PGD_STEPS
        step_size = MADRY_STEP_FACTOR * eps / steps if self.step_size is None else float(self.step_size)
        return {"eps": eps, "step_size": step_size, "steps": steps, "restarts": self.restarts, "norm": self.norm,
                "random_start": self.random_start, "loss": self.loss, "seed": self.seed}

    def to_dict(self) -> Dict[str, Any]:
        """The settings as a JSON-ready dict (``Attack(**d)`` rebuilds it)."""
        return dataclasses.asdict(self)

    def __call__(self, model: Callable, x, y, *, eps: float, bounds: Sequence[float] = (0.0, 1.0),
                 early_stop: bool = False) -> tf.Tensor:
        """Runs the attack at ``eps`` and returns the adversarial images.

        Args:
            model: callable images -> logits (see ``tfrobust.logits``).
            x: images in ``bounds``.
            y: labels (sparse or one-hot).
            eps: perturbation size in pixel units.
            bounds: (low, high) of valid pixel values.
            early_stop: PGD only: stop attacking examples once they are misclassified.

        Returns:
            Adversarial images, a float32 tensor of the shape of ``x``.
        """
        from tfrobust import attacks  # imported late: evaluation must import even while attacks change

        if isinstance(eps, (int, float, np.floating, np.integer)) and not isinstance(eps, bool) and eps == 0:
            # Every attack is the identity at eps = 0, but eps-derived settings (PGD's Madry step, R+FGSM's
            # alpha) would be 0 and rejected; FGSM at eps 0 validates the inputs and returns x unchanged.
            return attacks.fgsm(model, x, y, eps=0.0, bounds=bounds)
        kwargs = self.resolve(eps)
        if self.name == "noise":
            return random_sign_noise(model, x, y, bounds=bounds, **kwargs)

        if self.name == "pgd":
            return attacks.pgd(model, x, y, bounds=bounds, early_stop=early_stop, **kwargs)
        return getattr(attacks, self.name)(model, x, y, bounds=bounds, **kwargs)


@dataclass(frozen=True)
class CallableAttack:
    """Wraps a user function ``fn(model, x, y, *, eps, bounds)`` -> adversarial images as an attack.

    Attributes:
        fn: the attack function.
        name: name recorded in results (defaults to the function's name).
        settings: free-form settings recorded in results.
    """

    fn: Callable
    name: str = ""
    settings: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"An attack must be callable, got {type(self.fn).__name__}.")
        if not self.name:
            object.__setattr__(self, "name", getattr(self.fn, "__name__", type(self.fn).__name__))

    @property
    def label(self) -> str:
        return self.name

    def resolve(self, eps: float) -> Dict[str, Any]:
        return {"eps": float(eps), **self.settings}

    def to_dict(self) -> Dict[str, Any]:
        return {"name": self.name, **self.settings}

    def __call__(self, model, x, y, *, eps, bounds=(0.0, 1.0), early_stop: bool = False):
        return self.fn(model, x, y, eps=eps, bounds=bounds)


def _parse_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_attack(spec: str) -> Attack:
    """Parses a command-line attack spec: ``name`` or ``name:key=value,key=value``.

    Examples: ``"fgsm"``, ``"pgd"``, ``"pgd:steps=100,restarts=5,loss=margin"``, ``"rfgsm:alpha=0.05"``.

    Args:
        spec: the text.

    Returns:
        The ``Attack``.

    Raises:
        ValueError: unknown name or setting, or a malformed ``key=value`` pair.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"An attack spec must be a non-empty string like 'pgd:steps=40', got {spec!r}.")
    name, _, rest = spec.strip().partition(":")
    kwargs = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Bad setting {item!r} in attack spec {spec!r}; write key=value, e.g. steps=40.")
        kwargs[key.strip()] = _parse_value(value)
    return make_attack(name.strip(), **kwargs)


def make_attack(name: str, **settings) -> Attack:
    """Builds an ``Attack`` by name with keyword settings; unknown settings raise.

    Raises:
        ValueError: unknown attack name or setting, or a bad setting value.
    """
    known = {f.name for f in dataclasses.fields(Attack)} - {"name"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"Unknown attack setting(s) {unknown} for {name!r}; known settings: {sorted(known)}.")
    return Attack(name, **settings)


def as_attack(attack) -> Attack | CallableAttack:
    """Accepts an ``Attack``, a spec string, a dict of settings with "name", or a plain attack function."""
    if isinstance(attack, (Attack, CallableAttack)):
        return attack
    if isinstance(attack, str):
        return parse_attack(attack)
    if isinstance(attack, dict):
        settings = dict(attack)
        if "name" not in settings:
            raise ValueError(f"An attack dict needs a 'name' key, got keys {sorted(settings)}.")
        return make_attack(settings.pop("name"), **settings)
    if callable(attack):
        return CallableAttack(attack)
    raise TypeError(
        f"attack must be an Attack, a spec string like 'pgd:steps=40', a dict or a function, got {type(attack).__name__}."
    )
