"""tfrobust.hypernet: generators of robust weights (seed 000, Ballarin 2020).

A generator G maps latent points s ∈ R² to the full weight vector θ of a LeNet-5; it is trained to
maximise α·A + β·R (accuracy and PGD robustness of the generated networks), either through a value
network V as in the seed (``GeneratorValueModel``) or directly through the functional target network
(``DirectGeneratorModel``).
"""
from tfrobust.hypernet.direct import DirectGeneratorModel
from tfrobust.hypernet.generator import Generator, sample_latent
from tfrobust.hypernet.generator_model import GeneratorTrainingModel
from tfrobust.hypernet.loop import GeneratorValueModel
from tfrobust.hypernet.pretraining import pretrain_generator
from tfrobust.hypernet.robustness import Measurement, PGDSettings, RobustnessMeter
from tfrobust.hypernet.sampling import sample_networks, summarise_samples
from tfrobust.hypernet.target_network import TargetNetwork, flatten_from, load_into
from tfrobust.hypernet.value_network import ValueNetwork

__all__ = [
    "DirectGeneratorModel", "Generator", "GeneratorTrainingModel", "GeneratorValueModel", "Measurement",
    "PGDSettings", "RobustnessMeter", "TargetNetwork", "ValueNetwork", "flatten_from", "load_into",
    "pretrain_generator", "sample_latent", "sample_networks", "summarise_samples",
]
