"""Activation layers by name: the fixed ones and the KAF variants compared in seed 002.

Names: ``relu``, ``elu``, ``swish`` (fixed, ``keras.layers.Activation``); ``kaf`` (random
coefficients), ``kaf_relu``, ``kaf_elu``, ``kaf_swish`` (ridge-regression start from the named
function) and ``kaf_free`` (random coefficients, trained dictionary and bandwidth); see
:class:`tfrobust.layers.KAF` (Scardapane et al. 2019).
"""
from __future__ import annotations

import tf_keras as keras

from tfrobust.layers.kaf import KAF
from tfrobust.validation import check_choice

FIXED_ACTIVATIONS = ("relu", "elu", "swish")
KAF_ACTIVATIONS = ("kaf", "kaf_relu", "kaf_elu", "kaf_swish", "kaf_free")
ACTIVATIONS = FIXED_ACTIVATIONS + KAF_ACTIVATIONS


def make_activation(name: str, **kaf_kwargs) -> keras.layers.Layer:
    """Returns a fresh activation layer for ``name``.

    Args:
        name: one of :data:`ACTIVATIONS` (case-insensitive).
        **kaf_kwargs: extra :class:`KAF` arguments (``num_points``, ``boundary``, ``ridge``,
            ``init_std``, ``name``); for a fixed activation only ``name`` is accepted.

    Returns:
        ``keras.layers.Activation(name)`` or a new :class:`KAF` layer.

    Raises:
        ValueError: for an unknown name, or KAF arguments given with a fixed activation.
    """
    name = check_choice(name, ACTIVATIONS, "activation")
    if name in FIXED_ACTIVATIONS:
        unexpected = set(kaf_kwargs) - {"name"}
        if unexpected:
            raise ValueError(f"Activation {name!r} takes no KAF arguments, got {sorted(unexpected)}.")
        return keras.layers.Activation(name, **kaf_kwargs)
    if name == "kaf_free":
        return KAF(init="random", trainable_dictionary=True, **kaf_kwargs)
    init = "random" if name == "kaf" else name[len("kaf_"):]
    return KAF(init=init, **kaf_kwargs)
