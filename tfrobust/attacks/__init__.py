"""tfrobust.attacks: every attack, its registry and its spec, on any callable from images to logits.

Fixed-eps attacks, one contract ``attack(model, x, y, *, eps, norm, loss, targeted, bounds, seed, batch_size,
return_info, **settings)``:

- ``fgsm``: fast gradient sign method (Goodfellow et al. 2015), L-inf and L2, targeted or not.
- ``rfgsm``: random step + FGSM step (Tramèr et al. 2018).
- ``pgd``: projected gradient descent with restarts and per-example early stop (Madry et al. 2018).
- ``apgd`` / ``apgd_targeted`` (Croce & Hein 2020), ``square`` (Andriushchenko et al. 2020, no gradient needed)
  and the ``autoattack`` ensemble (Croce & Hein 2020; spec names "autoattack" / "aa").
- ``mifgsm``: momentum iterative FGSM, the transfer-strengthened attack (Dong et al. 2018).
- ``uap``: a universal perturbation computed on the batch itself (Moosavi-Dezfooli et al. 2017; see
  ``tfrobust.attacks.universal`` for v on training images and held-out fooling rates).
- ``noise``: random sign noise, the baseline every attack must beat (Carlini et al. 2019).

Not eps-ball attacks (no radius; called directly, not registered):

- ``train_patch`` / ``patch_success``: a universal targeted adversarial patch trained with EOT over location,
  rotation and scale (Brown et al. 2017; ``tfrobust.attacks.patch``).
- ``rp2``: a masked perturbation robust to brightness, contrast and noise (Eykholt et al. 2018;
  ``tfrobust.attacks.rp2``).

Minimal-perturbation attacks, returning a ``MinimalPerturbation`` (per-example norms):

- ``optimization_attack``: minimal-L2 box-constrained attack with a search over c (Szegedy et al. 2014).
- ``minimal_epsilon``: per-example smallest FGSM eps on a grid (seed 004).

Running attacks by name: ``Attack`` / ``parse_attack`` (``tfrobust.attacks.spec``) over the registry
(``tfrobust.attacks.registry``: ``register``, ``get``, ``names``). Shared geometry: ``tfrobust.attacks.norms`` and
the one PGD step ``tfrobust.attacks.pgd_step``.
"""
from tfrobust.attacks import registry
from tfrobust.attacks.apgd import apgd, apgd_targeted
from tfrobust.attacks.autoattack import autoattack
from tfrobust.attacks.cw import carlini_wagner_l2
from tfrobust.attacks.deepfool import deepfool, deepfool_step
from tfrobust.attacks.eot import eot, is_randomized
from tfrobust.attacks.fab import fab, fab_minimal
from tfrobust.attacks.fgsm import fgsm
from tfrobust.attacks.info import INFO_KEYS, MinimalPerturbation, attack_info
from tfrobust.attacks.mifgsm import mifgsm
from tfrobust.attacks.minimal_epsilon import minimal_epsilon
from tfrobust.attacks.noise import noise
from tfrobust.attacks.optimization import optimization_attack
from tfrobust.attacks.patch import apply_patch, patch_success, train_patch
from tfrobust.attacks.pgd import pgd
from tfrobust.attacks.registry import register
from tfrobust.attacks.rfgsm import rfgsm
from tfrobust.attacks.rp2 import rp2, sticker_mask
from tfrobust.attacks.square import square
from tfrobust.attacks.universal import uap, universal_perturbation
from tfrobust.attacks.spec import Attack, CallableAttack, as_attack, make_attack, parse_attack

__all__ = [
    "fgsm", "rfgsm", "pgd", "noise", "optimization_attack", "minimal_epsilon",
    "apgd", "apgd_targeted", "square", "autoattack", "mifgsm", "uap", "universal_perturbation",
    "train_patch", "patch_success", "apply_patch", "rp2", "sticker_mask",
    "fab", "fab_minimal", "carlini_wagner_l2", "deepfool", "deepfool_step", "eot", "is_randomized",
    "Attack", "CallableAttack", "as_attack", "make_attack", "parse_attack",
    "INFO_KEYS", "MinimalPerturbation", "attack_info", "register", "registry",
]
