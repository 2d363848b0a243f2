"""tfrobust.backdoor: data-poisoning backdoors and two answers to them.

- ``badnets``: the BadNets trigger and poisoning (Gu, Dolan-Gavitt & Garg 2017), attack success rate.
- ``transfer_learning``: retrain a (backdoored) model's top on a new task and see whether the trigger survives.
- ``forgetting``: distil a backdoored teacher on pristine data; the student "forgets" the trigger (seed 003).
- ``spectral``: spectral-signature detection of poisoned training examples (Tran, Li & Madry 2018).
"""
from tfrobust.backdoor.badnets import PoisonedData, Trigger, apply_trigger, attack_success_rate, poison
from tfrobust.backdoor.forgetting import distill_on_pristine
from tfrobust.backdoor.spectral import SpectralDetection, spectral_signatures
from tfrobust.backdoor.transfer_learning import retrain_top

__all__ = ["Trigger", "PoisonedData", "apply_trigger", "poison", "attack_success_rate", "distill_on_pristine",
           "SpectralDetection", "spectral_signatures", "retrain_top"]
