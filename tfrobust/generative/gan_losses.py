"""GAN losses on discriminator logits: minimax, non-saturating and hinge.

With D(x) = sigmoid(d(x)) for the discriminator's logit d, Goodfellow et al. (2014) play

    min_G max_D  V(D, G) = E_data[log D(x)] + E_z[log(1 - D(G(z)))].

- ``minimax``: D minimises -V = softplus(-d(x)) + softplus(d(G(z))); G minimises E_z[log(1 - D(G(z)))] =
  -softplus(d(G(z))). Its gradient with respect to d(G(z)) is -sigmoid(d(G(z))) = -D(G(z)), which vanishes when
  D rejects the samples confidently (early training): the "saturation" the paper warns about.
- ``non_saturating``: D as above; G minimises -log D(G(z)) = softplus(-d(G(z))), gradient -(1 - D(G(z))), large
  exactly when D rejects the samples (Goodfellow et al. 2014, Sec. 3).
- ``hinge``: D minimises relu(1 - d(x)) + relu(1 + d(G(z))); G minimises -d(G(z)) (Lim & Ye 2017; Miyato et al.
  2018).

For fixed G the discriminator's optimum of the minimax/non-saturating D loss is
D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014, Proposition 1).
"""
from __future__ import annotations

import tensorflow as tf

from tfrobust.validation import check_choice

GAN_LOSSES = ("minimax", "non_saturating", "hinge")


def discriminator_loss(kind: str, real_logits, fake_logits) -> tf.Tensor:
    """Mean discriminator loss of ``kind`` on the logits of real and generated images."""
    check_choice(kind, GAN_LOSSES, "gan loss")
    if kind == "hinge":
        return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))
    return tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))


def generator_loss(kind: str, fake_logits) -> tf.Tensor:
    """Mean generator loss of ``kind`` on the discriminator's logits of generated images."""
    check_choice(kind, GAN_LOSSES, "gan loss")
    if kind == "minimax":
        return -tf.reduce_mean(tf.nn.softplus(fake_logits))  # E log(1 - D(G(z)))
    if kind == "non_saturating":
        return tf.reduce_mean(tf.nn.softplus(-fake_logits))  # E -log D(G(z))
    return -tf.reduce_mean(fake_logits)
