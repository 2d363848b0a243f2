"""tfrobust.attacks: white-box attacks on any callable from images to logits.

- ``fgsm``: fast gradient sign method (Goodfellow et al. 2015), L-inf and L2, targeted or not.
- ``rfgsm``: random step + FGSM step (Tramèr et al. 2018).
- ``pgd``: projected gradient descent with restarts and per-example early stop (Madry et al. 2018).
- ``optimization_attack``: minimal-L2 box-constrained attack with a search over c (Szegedy et al. 2014).
- ``minimal_epsilon``: per-example smallest FGSM eps on a grid (seed 004).
"""
from tfrobust.attacks.fgsm import fgsm
from tfrobust.attacks.minimal_epsilon import minimal_epsilon
from tfrobust.attacks.optimization import optimization_attack
from tfrobust.attacks.pgd import pgd
from tfrobust.attacks.rfgsm import rfgsm

__all__ = ["fgsm", "rfgsm", "pgd", "optimization_attack", "minimal_epsilon"]
