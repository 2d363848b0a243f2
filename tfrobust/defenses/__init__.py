"""tfrobust.defenses: defences that transform the input before classifying, with their honest evaluation.

It sits above ``tfrobust.evaluation`` (each defence comes with the evaluation that breaks or confirms it).
"""
from tfrobust.defenses.defense_gan import DefenseGAN, evaluate_defense_gan

__all__ = ["DefenseGAN", "evaluate_defense_gan"]
