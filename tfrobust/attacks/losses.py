"""Per-example attack losses on logits; every one is to be *maximised* by the attacker.

- ``ce``: cross entropy of the true label (Goodfellow 2015, Madry 2017); targeted: minus CE of the target.
- ``margin``: Carlini & Wagner (2017) margin max_{i != y} z_i - z_y; targeted: z_t - max_{i != t} z_i.
- ``dlr``: Croce & Hein (2020, AutoAttack) difference of logits ratio,
  -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3 + 1e-12) with logits sorted descending; targeted:
  -(z_t - max_{i != t} z_i)... in the AutoAttack form -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2 + 1e-12).
"""
from __future__ import annotations

import tensorflow as tf

from tfrobust.validation import LOSSES


def _true_and_best_other(logits, labels):
    num_classes = tf.shape(logits)[-1]
    onehot = tf.one_hot(labels, num_classes, dtype=logits.dtype)
    true = tf.reduce_sum(logits * onehot, axis=-1)
    other = tf.reduce_max(logits - 1e9 * onehot, axis=-1)
    return true, other


def cross_entropy(logits, labels, targeted: bool = False):
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return -ce if targeted else ce


def margin(logits, labels, targeted: bool = False):
    true, other = _true_and_best_other(logits, labels)
    return true - other if targeted else other - true


def dlr(logits, labels, targeted: bool = False, source_labels=None):
    """Difference of logits ratio; needs at least 3 classes (4 when targeted)."""
    top = tf.math.top_k(logits, k=4 if targeted else 3).values
    true, other = _true_and_best_other(logits, labels)
    if not targeted:
        return -(true - other) / (top[:, 0] - top[:, 2] + 1e-12)
    if source_labels is None:
        raise ValueError("targeted DLR needs the source labels")
    source, _ = _true_and_best_other(logits, source_labels)
    return -(source - true) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def attack_loss(name: str, logits, labels, targeted: bool = False, source_labels=None):
    """Dispatches to a loss by name ("ce", "margin" or "dlr")."""
    if name == "ce":
        return cross_entropy(logits, labels, targeted)
    if name == "margin":
        return margin(logits, labels, targeted)
    if name == "dlr":
        return dlr(logits, labels, targeted, source_labels)
    raise ValueError(f"Unknown loss {name!r}; choose one of {', '.join(LOSSES)}.")
