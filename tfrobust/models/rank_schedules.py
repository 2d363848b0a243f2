"""Low-rank schedules of seed 004: one rank per convolution of AlexNet and ResNet18.

Tai et al. 2016 ("Convolutional neural networks with low-rank regularization", arXiv:1511.06067) replace a
k×k convolution with N filters by a vertical k×1 convolution with K filters followed by a horizontal
1×k convolution with N filters (``tfrobust.layers.LowRankConv2D``). Seed 004 trains AlexNet and ResNet18
with two choices of K per layer, from the first layer to the last:

* AlexNet LR1 = {8, 40, 60, 100, 200, free}
* ResNet18 LR1 = {8, 5, 24, 24, 24, 48, 48, 48, 48, 64, 128, 160, 160, 192, 192, 256, 256, free}
* LR2 = LR1 / 2 (integer division here, at least 1).

The trailing "free" of the seed is the final fully-connected layer, which is never reparameterised, so
the schedules stored here hold the convolution ranks only: 5 for AlexNet's five convolutions and 17 for
ResNet18's k×k convolutions in forward order (the stem, then two per basic block). The 1×1 projection
shortcuts of ResNet18 are not counted and stay standard ``Conv2D`` (a 1×1 kernel has nothing to
separate into k×1 and 1×k).
"""
from __future__ import annotations

from numbers import Integral
from typing import Dict, List, Optional, Sequence, Tuple, Union

SCHEDULE_NAMES = ("LR1", "LR2")

_LR1: Dict[str, Tuple[int, ...]] = {
    "alexnet": (8, 40, 60, 100, 200),
    "resnet18": (8, 5, 24, 24, 24, 48, 48, 48, 48, 64, 128, 160, 160, 192, 192, 256, 256),
}

ConvChoice = Union[str, Sequence[Optional[Union[int, str]]]]


def rank_schedule(model_name: str, schedule: str) -> List[int]:
    """Returns the seed-004 ranks of ``model_name``'s convolutions, first layer first.

    Args:
        model_name: ``"alexnet"`` or ``"resnet18"``.
        schedule: ``"LR1"`` or ``"LR2"`` (case-insensitive); LR2 is LR1 // 2, at least 1.

    Returns:
        One rank per convolution (5 for AlexNet, 17 for ResNet18).

    Raises:
        ValueError: a model without a seed schedule, or an unknown schedule name.
    """
    if model_name not in _LR1:
        raise ValueError(
            f"Seed 004 gives rank schedules only for {', '.join(sorted(_LR1))}, not {model_name!r}; "
            f"pass conv='standard' or an explicit list of ranks instead."
        )
    if not isinstance(schedule, str) or schedule.upper() not in SCHEDULE_NAMES:
        raise ValueError(f"Unknown rank schedule {schedule!r}; choose one of {', '.join(SCHEDULE_NAMES)}.")
    ranks = _LR1[model_name]
    if schedule.upper() == "LR2":
        return [max(1, rank // 2) for rank in ranks]
    return list(ranks)


def _is_free(entry) -> bool:
    return entry is None or (isinstance(entry, str) and entry.lower() == "free")


def resolve_ranks(model_name: str, conv: ConvChoice, num_conv_layers: int) -> Optional[List[Optional[int]]]:
    """Turns the ``conv`` argument of ``build`` into one rank (or ``None`` = full conv) per convolution.

    Args:
        model_name: the registered model name (for schedules and messages).
        conv: ``"standard"``, ``"LR1"``, ``"LR2"``, or a list with one entry per convolution, each a
            positive int rank or ``None``/``"free"`` for a full convolution. A list in the seed's format,
            with one extra trailing ``"free"`` for the classifier, is accepted too.
        num_conv_layers: the number of convolutions the model builds (``count_conv_layers``).

    Returns:
        ``None`` for all-standard convolutions, otherwise a list of length ``num_conv_layers``.

    Raises:
        ValueError: unknown conv choice, wrong list length, or a rank that is not a positive integer.
    """
    if isinstance(conv, str):
        if conv.lower() == "standard":
            return None
        if conv.upper() in SCHEDULE_NAMES:
            return list(rank_schedule(model_name, conv))
        raise ValueError(
            f"Unknown conv {conv!r}; choose 'standard', {', '.join(repr(s) for s in SCHEDULE_NAMES)} "
            f"(alexnet and resnet18 only), or a list of ranks."
        )
    try:
        ranks = list(conv)
    except TypeError:
        raise ValueError(f"conv must be 'standard', 'LR1', 'LR2' or a list of ranks, got {conv!r}.") from None
    if len(ranks) == num_conv_layers + 1 and _is_free(ranks[-1]):
        ranks = ranks[:-1]  # the seed's trailing "free" entry stands for the classifier
    if len(ranks) != num_conv_layers:
        raise ValueError(
            f"conv has {len(ranks)} ranks but {model_name} has {num_conv_layers} convolutions "
            f"(k×k convs in forward order; 1×1 shortcuts are not counted); give one rank per convolution, "
            f"None or 'free' for a full one."
        )
    resolved: List[Optional[int]] = []
    for i, rank in enumerate(ranks):
        if _is_free(rank):
            resolved.append(None)
        elif isinstance(rank, bool) or not isinstance(rank, Integral) or rank < 1:
            raise ValueError(f"conv[{i}] must be a positive integer rank, None or 'free', got {rank!r}.")
        else:
            resolved.append(int(rank))
    return resolved
