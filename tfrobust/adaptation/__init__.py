"""tfrobust.adaptation: unsupervised domain adaptation with gradient reversal (Ganin & Lempitsky 2015)."""
from tfrobust.adaptation.dann import (DANN, DOMAIN_LOSSES, AnnealedLearningRate, HeldOutDomainAccuracy,
                                      averaged_weights, classifier_from, dann_callbacks, domain_accuracy,
                                      domain_head, domain_probe_accuracy, extract_features, ganin_features,
                                      label_head, paired_dataset, pca_2d)

__all__ = ["DANN", "DOMAIN_LOSSES", "AnnealedLearningRate", "HeldOutDomainAccuracy", "averaged_weights",
           "classifier_from", "dann_callbacks", "domain_accuracy", "domain_head", "domain_probe_accuracy",
           "extract_features", "ganin_features", "label_head", "paired_dataset", "pca_2d"]
