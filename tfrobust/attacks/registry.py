"""The attack registry: one entry per attack name, read by specs, evaluation and the common attack test.

An attack module ends with ``register(name, function, ...)``; ``tfrobust.attacks`` imports every attack
module, so ``import tfrobust.attacks`` fills the registry. Everything that runs attacks by name
(``Attack`` / ``parse_attack``, ``robust_accuracy``, ``epsilon_sweep``, ``evaluate_model.py --attacks``,
the studies) looks attacks up here: a new attack is one module plus one ``register`` call.

Two kinds share one registry:

- ``"fixed_eps"``: ``fn(model, x, y, *, eps, norm, loss, targeted, bounds, seed, batch_size, return_info,
  **settings)`` returns the adversarial images (and with ``return_info`` the dict of
  ``tfrobust.attacks.info.attack_info``);
- ``"minimal"``: ``fn(model, x, y, *, norm, targeted, bounds, seed, batch_size, **settings)`` returns a
  ``tfrobust.attacks.info.MinimalPerturbation`` (per-example perturbation norms).
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

KINDS = ("fixed_eps", "minimal")

#: Keywords every fixed-eps attack takes; the spec passes eps and bounds per call, the rest are settings.
FIXED_EPS_CONTRACT = ("eps", "norm", "loss", "targeted", "bounds", "seed", "batch_size", "return_info")
#: Keywords every minimal-perturbation attack takes.
MINIMAL_CONTRACT = ("norm", "targeted", "bounds", "seed", "batch_size")
#: Keywords a spec never stores as a setting: they are given per call (early_stop by the evaluation; y_true, the
#: true labels of a targeted call, with the data).
PER_CALL = ("eps", "bounds", "return_info", "early_stop", "y_true")


@dataclasses.dataclass(frozen=True)
class AttackEntry:
    """One registered attack.

    Attributes:
        name: the registry name (lower case), e.g. "pgd".
        function: the attack function.
        kind: "fixed_eps" or "minimal".
        defaults: spec defaults that differ from the function's own (e.g. PGD's 40 steps).
        eps_defaults: ``(eps, settings) -> dict`` of eps-dependent defaults, filled in where the user set
            nothing (e.g. PGD's ``step_size = 2.5 * eps / steps``).
        norms: the norms the attack supports.
        needs_gradient: False for score-based black-box attacks, which also run on models without gradients.
        label: ``settings -> str``, the short name used in tables (default: the name).
        aliases: other names that find this entry (e.g. "aa" for "autoattack").
        quick_settings: settings for a fast smoke run (the common attack test, ``--dry_run`` presets), e.g.
            a small query budget; empty when the defaults are already fast.
    """

    name: str
    function: Callable
    kind: str = "fixed_eps"
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    eps_defaults: Optional[Callable[[float, Dict[str, Any]], Dict[str, Any]]] = None
    norms: Tuple[str, ...] = ("linf", "l2")
    needs_gradient: bool = True
    label: Optional[Callable[[Dict[str, Any]], str]] = None
    aliases: Tuple[str, ...] = ()
    quick_settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def parameters(self) -> Dict[str, inspect.Parameter]:
        """The function's keyword parameters (everything after ``model, x, y``)."""
        params = list(inspect.signature(self.function).parameters.values())
        return {p.name: p for p in params[3:] if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}

    @property
    def settings(self) -> Tuple[str, ...]:
        """Names a spec may set: the function's keywords less those given per call."""
        return tuple(name for name in self.parameters if name not in PER_CALL)

    def default(self, setting: str) -> Any:
        """The value a spec uses for ``setting`` when the user gives none."""
        if setting in self.defaults:
            return self.defaults[setting]
        param = self.parameters.get(setting)
        return None if param is None or param.default is inspect.Parameter.empty else param.default

    def describe(self, settings: Mapping[str, Any]) -> str:
        """The table label for these settings."""
        return self.label(dict(settings)) if self.label is not None else self.name


_REGISTRY: Dict[str, AttackEntry] = {}
_ALIASES: Dict[str, str] = {}


def register(name: str, function: Callable, *, kind: str = "fixed_eps", defaults: Mapping[str, Any] | None = None,
             eps_defaults: Callable | None = None, norms: Sequence[str] = ("linf", "l2"), needs_gradient: bool = True,
             label: Callable | None = None, aliases: Sequence[str] = (),
             quick_settings: Mapping[str, Any] | None = None) -> AttackEntry:
    """Registers an attack under ``name`` (and ``aliases``); see ``AttackEntry`` for the arguments.

    Raises:
        ValueError: unknown kind, a name already taken by another function, or a function missing a
            keyword of its kind's contract.
    """
    name = name.lower()
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    entry = AttackEntry(name=name, function=function, kind=kind, defaults=dict(defaults or {}),
                        eps_defaults=eps_defaults, norms=tuple(norms), needs_gradient=needs_gradient, label=label,
                        aliases=tuple(a.lower() for a in aliases), quick_settings=dict(quick_settings or {}))
    contract = FIXED_EPS_CONTRACT if kind == "fixed_eps" else MINIMAL_CONTRACT
    missing = [key for key in contract if key not in entry.parameters]
    if missing:
        raise ValueError(f"Attack {name!r} does not follow the {kind} contract: missing keyword(s) {missing}.")
    for key in (name, *entry.aliases):
        taken = _REGISTRY.get(_ALIASES.get(key, key))
        if taken is not None and taken.function is not function:
            raise ValueError(f"Attack name {key!r} is already registered for {taken.function.__qualname__}.")
    _REGISTRY[name] = entry
    for alias in entry.aliases:
        _ALIASES[alias] = name
    return entry


def get(name: str) -> AttackEntry:
    """The entry registered under ``name`` or one of its aliases (case-insensitive).

    Raises:
        ValueError: no such attack; the message lists the registered names.
    """
    key = str(name).strip().lower()
    entry = _REGISTRY.get(_ALIASES.get(key, key))
    if entry is None:
        raise ValueError(f"Unknown attack {name!r}; choose one of {', '.join(names())}.")
    return entry


def names(kind: str | None = None) -> Tuple[str, ...]:
    """Registered attack names (of one kind, when given), sorted."""
    return tuple(sorted(n for n, e in _REGISTRY.items() if kind is None or e.kind == kind))


def entries(kind: str | None = None) -> Tuple[AttackEntry, ...]:
    """Registered entries (of one kind, when given), sorted by name."""
    return tuple(_REGISTRY[n] for n in names(kind))
