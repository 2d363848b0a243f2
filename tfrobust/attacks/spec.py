"""An attack named once with its settings, then run at any eps: ``Attack`` and ``parse_attack``.

``Attack("pgd", steps=40)`` or ``parse_attack("pgd:steps=40,restarts=5,loss=margin")`` describe a registered
attack (``tfrobust.attacks.registry``) without an eps; ``attack(model, x, y, eps=0.3)`` runs it. A spec accepts
exactly the keyword settings of the attack function (its signature is the list), and fills in:

- the registry's spec defaults (PGD: 40 steps) and eps-dependent defaults, per eps (PGD's Madry step
  ``2.5 * eps / steps``; R+FGSM's ``alpha = eps / 2``);
- ``seed = 0`` for attacks with randomness, so an evaluation repeats exactly unless a seed is given
  (``seed=None`` asks for fresh randomness).

At eps = 0 every attack is the identity (its inputs are still validated): eps-derived settings such as the
Madry step would be 0 there. A minimal-perturbation attack run at a fixed eps keeps, per example, its
adversarial image where the minimal norm is at most eps and the clean image elsewhere.

``CallableAttack`` wraps a user's own function ``fn(model, x, y, *, eps, bounds)`` for evaluation; registering
it (``tfrobust.attacks.registry.register``) gives it specs, labels and the common attack test instead.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Sequence, Tuple

import numpy as np
import tensorflow as tf

from tfrobust.attacks import registry
from tfrobust.attacks._compiled import attack_succeeded
from tfrobust.attacks._inputs import check_batch_size, check_flag, check_seed, prepare
from tfrobust.attacks.info import attack_info
from tfrobust.validation import LOSSES, NORMS, check_choice, check_positive

#: Default seed of a spec: evaluations are reproducible unless the user asks otherwise.
SPEC_SEED = 0

_POSITIVE_INTEGERS = ("steps", "restarts", "search_steps", "n_target_classes", "queries", "samples")
_POSITIVE_NUMBERS = ("step_size", "alpha", "c_init", "learning_rate")


def check_setting(name: str, value: Any) -> Any:
    """Checks a setting whose meaning is shared by every attack (norm, loss, steps, ...); others pass through.

    Raises:
        TypeError, ValueError: a bad value, with the message of ``tfrobust.validation``.
    """
    if value is None:
        return None
    if name == "norm":
        return check_choice(value, NORMS, "norm")
    if name == "loss":
        return check_choice(value, LOSSES, "loss")
    if name in ("targeted", "random_start", "early_stop"):
        return check_flag(value, name)
    if name == "seed":
        return check_seed(value)
    if name == "batch_size":
        return check_batch_size(value)
    if name in _POSITIVE_INTEGERS:
        return int(check_positive(value, name, integer=True))
    if name in _POSITIVE_NUMBERS:
        return float(check_positive(value, name))
    return value


def _is_zero(eps) -> bool:
    return isinstance(eps, (int, float, np.floating, np.integer)) and not isinstance(eps, bool) and eps == 0


class Attack:
    """A registered attack and its settings; eps is given per call.

    Args:
        name: a registered name or alias (``tfrobust.attacks.registry.names()``), case-insensitive.
        **settings: keyword settings of the attack function (e.g. ``steps=40, loss="margin"``).

    Raises:
        ValueError: unknown attack or setting, a bad value, or a norm the attack does not support.
    """

    __slots__ = ("entry", "settings")

    def __init__(self, name: str, **settings):
        entry = registry.get(name)
        unknown = sorted(set(settings) - set(entry.settings))
        if unknown:
            raise ValueError(f"Unknown attack setting(s) {unknown} for {entry.name!r}; it takes: "
                             f"{', '.join(entry.settings)}.")
        checked = {key: check_setting(key, value) for key, value in settings.items()}
        norm = checked.get("norm", entry.default("norm"))
        if norm is not None and norm not in entry.norms:
            names = {"linf": "L-inf", "l2": "L2"}
            raise ValueError(f"Attack {entry.name!r} supports norm {' or '.join(map(repr, entry.norms))} only "
                             f"({', '.join(names.get(n, n) for n in entry.norms)}), got {norm!r}.")
        object.__setattr__(self, "entry", entry)
        object.__setattr__(self, "settings", dict(sorted(checked.items())))

    def __setattr__(self, key, value):
        raise dataclasses.FrozenInstanceError(f"Attack specs are immutable; build a new one (cannot set {key!r}).")

    @property
    def name(self) -> str:
        """The registry name."""
        return self.entry.name

    @property
    def kind(self) -> str:
        """"fixed_eps" or "minimal"."""
        return self.entry.kind

    def setting(self, key: str) -> Any:
        """The value used for ``key``: the user's, else the registry's spec default, else the function's."""
        return self.settings[key] if key in self.settings else self.entry.default(key)

    @property
    def norm(self) -> str:
        return self.setting("norm") or "linf"

    @property
    def loss(self) -> str:
        return self.setting("loss") or "ce"

    @property
    def targeted(self) -> bool:
        return bool(self.setting("targeted"))

    @property
    def label(self) -> str:
        """Short human-readable name for tables, e.g. ``pgd-40x1-ce`` or ``fgsm-l2``."""
        return self.entry.describe({key: self.setting(key) for key in self.entry.settings})

    def resolve(self, eps: float) -> Dict[str, Any]:
        """The keyword arguments the attack function receives at ``eps``: every setting, defaults filled in."""
        kwargs: Dict[str, Any] = {"eps": float(eps)} if self.kind == "fixed_eps" else {}
        kwargs.update({key: self.setting(key) for key in self.entry.settings})
        if "seed" in kwargs and "seed" not in self.settings:
            kwargs["seed"] = SPEC_SEED
        if self.entry.eps_defaults is not None and not _is_zero(eps):
            for key, value in self.entry.eps_defaults(float(eps), dict(kwargs)).items():
                if self.settings.get(key) is None:
                    kwargs[key] = value
        return kwargs

    def to_dict(self) -> Dict[str, Any]:
        """The spec as a JSON-ready dict; ``Attack(**d)`` rebuilds it."""
        return {"name": self.name, **self.settings}

    def __eq__(self, other) -> bool:
        return isinstance(other, Attack) and (self.name, self.settings) == (other.name, other.settings)

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.settings.items())))

    def __repr__(self) -> str:
        inner = "".join(f", {key}={value!r}" for key, value in self.settings.items())
        return f"Attack({self.name!r}{inner})"

    def __call__(self, model: Callable, x, y, *, eps, bounds: Sequence[float] = (0.0, 1.0),
                 early_stop: bool = False, return_info: bool = False, y_true=None):
        """Runs the attack at ``eps`` and returns the adversarial images (and the info dict).

        Args:
            model: callable images -> logits (see ``tfrobust.logits``).
            x: images in ``bounds``.
            y: labels (sparse or one-hot); target labels for a targeted attack.
            eps: perturbation size in pixel units.
            bounds: (low, high) of valid pixel values.
            early_stop: for attacks that take it: stop attacking examples once they are fooled.
            return_info: also return ``tfrobust.attacks.info.attack_info``'s dict.
            y_true: for a targeted spec, the true labels: a row whose target equals its true label is refused.

        Returns:
            Adversarial images (float32, shaped like x), or ``(x_adv, info)``.

        Raises:
            TypeError: ``y_true`` for an attack that does not take it.
        """
        return_info = check_flag(return_info, "return_info")
        if y_true is not None and "y_true" not in self.entry.parameters:
            raise TypeError(f"Attack {self.name!r} takes no y_true (true labels of a targeted call); leave it out.")
        if _is_zero(eps):
            return self._identity(model, x, y, bounds, return_info, y_true)
        kwargs = self.resolve(eps)
        if y_true is not None:
            kwargs["y_true"] = y_true
        if self.kind == "minimal":
            return self._at_fixed_eps(model, x, y, eps, bounds, kwargs, return_info)
        if "early_stop" in self.entry.parameters:
            kwargs["early_stop"] = early_stop
        return self.entry.function(model, x, y, bounds=bounds, return_info=return_info, **kwargs)

    def _identity(self, model, x, y, bounds, return_info, y_true=None):
        inputs = prepare(model, x, y, bounds, targeted=self.targeted, true_labels=y_true)
        if not return_info:
            return inputs.x
        logits = inputs.model(inputs.x)
        success = attack_succeeded(logits, inputs.labels, self.targeted).numpy()
        return inputs.x, attack_info(success=success, loss=None, x=inputs.x, x_adv=inputs.x, norm=self.norm,
                                     forward_passes=int(inputs.x.shape[0]))

    def _at_fixed_eps(self, model, x, y, eps, bounds, kwargs, return_info):
        result = self.entry.function(model, x, y, bounds=bounds, **kwargs)
        within = result.within(eps)
        x_clean = tf.convert_to_tensor(x, tf.float32)
        mask = tf.reshape(tf.constant(within), [-1] + [1] * (len(x_clean.shape) - 1))
        x_adv = tf.where(mask, tf.convert_to_tensor(result.x_adv, tf.float32), x_clean)
        if not return_info:
            return x_adv
        return x_adv, attack_info(success=within, loss=None, x=x_clean, x_adv=x_adv, norm=self.norm,
                                  extra={"minimal_norms": result.norms})


@dataclass(frozen=True)
class CallableAttack:
    """A user's own attack function ``fn(model, x, y, *, eps, bounds)`` -> adversarial images, for evaluation.

    Attributes:
        fn: the attack function.
        name: name recorded in results (defaults to the function's name).
        settings: free-form settings recorded in results.
        norm: the norm of its threat model (the evaluation checks the ball in it).
    """

    fn: Callable
    name: str = ""
    settings: Dict[str, Any] = field(default_factory=dict)
    norm: str = "linf"
    kind: str = "fixed_eps"

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

    Examples: ``"fgsm"``, ``"fgsm:loss=margin"``, ``"pgd:steps=100,restarts=5,loss=margin"``, ``"rfgsm:alpha=0.05"``.

    Raises:
        ValueError: unknown name or setting, a bad value, or a malformed ``key=value`` pair.
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
    return Attack(name.strip(), **kwargs)


def parse_attacks(text: str) -> Tuple[Attack, ...]:
    """Parses several specs separated by ``;`` (or by ``,`` between plain names: ``"fgsm,pgd"``)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"Give at least one attack, e.g. 'fgsm;pgd:steps=40', got {text!r}.")
    parts = text.split(";") if (";" in text or ":" in text) else text.split(",")
    return tuple(parse_attack(part) for part in parts if part.strip())


def make_attack(name: str, **settings) -> Attack:
    """``Attack(name, **settings)``, kept as a function for callers that build specs by name."""
    return Attack(name, **settings)


def as_attack(attack) -> Attack | CallableAttack:
    """Accepts an ``Attack``, a spec string, a dict of settings with "name", a registered attack function,
    or any other attack function (wrapped in ``CallableAttack``)."""
    if isinstance(attack, (Attack, CallableAttack)):
        return attack
    if isinstance(attack, str):
        return parse_attack(attack)
    if isinstance(attack, Mapping):
        settings = dict(attack)
        if "name" not in settings:
            raise ValueError(f"An attack dict needs a 'name' key, got keys {sorted(settings)}.")
        return Attack(settings.pop("name"), **settings)
    if callable(attack):
        for entry in registry.entries():
            if entry.function is attack:
                return Attack(entry.name)
        return CallableAttack(attack)
    raise TypeError(
        f"attack must be an Attack, a spec string like 'pgd:steps=40', a dict or a function, got {type(attack).__name__}.")
