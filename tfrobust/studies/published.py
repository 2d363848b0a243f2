"""Published numbers and findings of the seed documents, as data, to print beside ours.

Every experiment puts its measurements next to what the seed it reproduces reported, naming the
seed file and the table or figure the number comes from. Two kinds of entries exist:

* ``PublishedAccuracy``: a number printed in a table (seed 002, Peconi 2020, Tab1 and the
  ResNet20 table; the fast-AT baseline of Wong, Rice & Kolter 2020 quoted in REFERENCE.md).
* ``PublishedFinding``: seed 004 (pruning / low rank / temperature) shows its results only as
  curves (Figures 8-13), with the conclusion written in the text; the seed gives no numbers, so
  the finding is kept as the sentence it states plus a machine-readable direction that our
  measurement is compared with. Seed 003 (distillation) likewise states findings, not numbers.

``PublishedFinding.direction`` uses the vocabulary of ``tfrobust.studies.verdicts``, in which our own
measurements are judged too. Library code imports none of this: only the studies compare with the seeds.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

from tfrobust.studies.verdicts import (APPARENT_ROBUSTNESS, LESS_ROBUST, LOWER_CLEAN, MORE_ROBUST, NO_CLEAR_EFFECT,
                                       UNCHANGED_CLEAN)

SEED_KAF = "002_049d4c8f2d6328d8.txt"
SEED_SURVEY = "003_5a6df47234c3577b.txt"
SEED_COMPRESSION = "004_cd331ac70aa3e385.txt"
REFERENCE = "REFERENCE.md"

@dataclasses.dataclass(frozen=True)
class PublishedAccuracy:
    """Clean and robust accuracy (fractions in [0, 1]) printed in a published table.

    Attributes:
        clean: accuracy on the clean test set.
        robust: accuracy under the attack named by ``attack``, or None when not reported.
        source: seed file (or paper) holding the table.
        table: the table's name or caption in that source.
        setting: dataset, model, ε and attack the number was measured with.
    """

    clean: float
    robust: Optional[float]
    source: str
    table: str
    setting: str

    @property
    def citation(self) -> str:
        """Where the number comes from, e.g. ``"seed 002_....txt, Tab1"``."""
        return f"{self.source}, {self.table}"


@dataclasses.dataclass(frozen=True)
class PublishedFinding:
    """A qualitative result stated by a seed about one of its figures.

    Attributes:
        source: seed file.
        figure: figure (or slide) name.
        setting: model, dataset, batch size and attack of that figure.
        statement: what the seed concludes from it, paraphrased in English.
        direction: the effect in the shared vocabulary (see the module docstring).
    """

    source: str
    figure: str
    setting: str
    statement: str
    direction: str

    @property
    def citation(self) -> str:
        return f"{self.source}, {self.figure}"


# --------------------------------------------------------------------------------------------
# Seed 002 (Peconi 2020): KAF activations + fast adversarial training, CIFAR-10, PGD-50-10 at 8/255.
# --------------------------------------------------------------------------------------------
_KAF_SETTING = "CIFAR-10, fast AT (FGSM-RS, ε=8/255), PGD-50-10 at ε=8/255"


def _kaf_rows(table: str, model: str, rows: Dict[str, Tuple[float, float]]) -> Dict[str, PublishedAccuracy]:
    return {
        activation: PublishedAccuracy(round(clean / 100.0, 6), round(robust / 100.0, 6), SEED_KAF, table,
                                      f"{model}, {_KAF_SETTING}")
        for activation, (clean, robust) in rows.items()
    }


#: The rows of seed 002's tables, in its order.
SEED_002_ACTIVATIONS = ("relu", "elu", "kaf", "kaf_elu", "kaf_relu", "swish", "kaf_swish", "kaf_free")

#: ``KAF_FAST_AT[model][activation]``; the VGG table has no KAF_ReLU row.
KAF_FAST_AT: Dict[str, Dict[str, PublishedAccuracy]] = {
    "vgg_like": _kaf_rows("Tab1 'VGG Results'", "VGG-like (3 conv blocks, Dense128, Dropout)", {
        "relu": (78.1, 45.41),
        "elu": (73.99, 45.49),
        "kaf": (77.93, 46.8),
        "kaf_elu": (74.93, 45.4),
        "swish": (76.99, 47.73),
        "kaf_swish": (78.85, 46.33),
        "kaf_free": (77.54, 46.2),
    }),
    "resnet20": _kaf_rows("table 'ResNet20 Results'", "ResNet20 with crop/flip augmentation", {
        "relu": (77.52, 50.17),
        "elu": (75.42, 51.69),
        "kaf": (78.08, 52.23),
        "kaf_relu": (79.65, 51.44),
        "kaf_elu": (78.69, 52.76),
        "swish": (78.68, 53.88),
        "kaf_swish": (79.21, 52.10),
        "kaf_free": (78.88, 52.07),
    }),
}

#: Wong, Rice & Kolter 2020 (as quoted in REFERENCE.md): the fast-AT recipe seed 002 builds on.
FAST_AT_WONG_2020 = PublishedAccuracy(
    0.8381, 0.4606, "Wong, Rice & Kolter 2020 (via REFERENCE.md)", "'Fast adversarial training' section",
    "CIFAR-10, PreActResNet18, FGSM-RS ε=8/255 α=10/255, 15 epochs, PGD-50-10")

KAF_FINDINGS = (
    PublishedFinding(SEED_KAF, "'ResNet20 Results' slide", _KAF_SETTING,
                     "KAFs reach the best clean accuracies, Swish the strongest robustness; every smooth "
                     "activation is more robust than ReLU.", MORE_ROBUST),
    PublishedFinding(SEED_KAF, "'ResNet20 Results' slide", _KAF_SETTING,
                     "ResNet20 is more robust than the VGG-like network for every activation.", MORE_ROBUST),
)

# --------------------------------------------------------------------------------------------
# Seed 004 (magnitude pruning, low rank, temperature): Imagenette, FGSM accuracy(ε) and drop(ε)
# on 785 validation images. Results are curves only; the text states the conclusions below.
# --------------------------------------------------------------------------------------------
_FGSM_IMAGENETTE = "Imagenette, FGSM accuracy and drop vs ε, 785 validation images"

#: ``PRUNING_FINDINGS[(model, batch_size)]``.
PRUNING_FINDINGS: Dict[Tuple[str, int], PublishedFinding] = {
    ("resnet18", 512): PublishedFinding(
        SEED_COMPRESSION, "Figure 8", f"ResNet18, batch 512, {_FGSM_IMAGENETTE}",
        "Highly sparse networks lose more accuracy (larger drop); sparsity also lowers clean accuracy, and the "
        "curves never cross.", LESS_ROBUST),
    ("resnet18", 128): PublishedFinding(
        SEED_COMPRESSION, "Figure 9", f"ResNet18, batch 128, {_FGSM_IMAGENETTE}",
        "Higher sparsity gives slightly higher robustness, but the difference in drop is extremely small and "
        "not conclusive.", MORE_ROBUST),
    ("alexnet", 128): PublishedFinding(
        SEED_COMPRESSION, "Figure 10a", f"AlexNet, batch 128, {_FGSM_IMAGENETTE}",
        "Increasing sparsity lowers robustness.", LESS_ROBUST),
    ("alexnet", 512): PublishedFinding(
        SEED_COMPRESSION, "Figure 10b", f"AlexNet, batch 512, {_FGSM_IMAGENETTE}",
        "50 % sparsity is more robust than the dense baseline, 90 % sparsity less robust.", NO_CLEAR_EFFECT),
    ("fc5", 512): PublishedFinding(
        SEED_COMPRESSION, "Figure 11", f"FC5 (1344-672-588-294-10), batch 512, {_FGSM_IMAGENETTE}",
        "Robustness is not affected by sparsity; the differences are noise.", NO_CLEAR_EFFECT),
}

#: ``LOWRANK_FINDINGS[model]``.
LOWRANK_FINDINGS: Dict[str, Tuple[PublishedFinding, ...]] = {
    "alexnet": (
        PublishedFinding(SEED_COMPRESSION, "Figure 12a", f"AlexNet, batch 512, {_FGSM_IMAGENETTE}",
                         "The more the rank is constrained, the lower the clean accuracy.", LOWER_CLEAN),
        PublishedFinding(SEED_COMPRESSION, "Figure 12a", f"AlexNet, batch 512, {_FGSM_IMAGENETTE}",
                         "No robustness gain: baseline, LR1 and LR2 curves follow each other as ε grows.",
                         NO_CLEAR_EFFECT),
    ),
    "resnet18": (
        PublishedFinding(SEED_COMPRESSION, "Figure 12b", f"ResNet18, batch 128, {_FGSM_IMAGENETTE}",
                         "Clean accuracy is unchanged by the low-rank constraint.", UNCHANGED_CLEAN),
        PublishedFinding(SEED_COMPRESSION, "Figure 12b", f"ResNet18, batch 128, {_FGSM_IMAGENETTE}",
                         "The baseline stays (negligibly) more robust than LR1 and LR2.", LESS_ROBUST),
    ),
}

#: ``TEMPERATURE_FINDINGS[attacker]`` with attacker ``"unaware"`` (FGSM at T=1) or ``"aware"`` (logits/T).
TEMPERATURE_FINDINGS: Dict[str, PublishedFinding] = {
    "unaware": PublishedFinding(
        SEED_COMPRESSION, "Figure 13a", f"ResNet18, batch 128, T in {{1, 20, 50, 70, 90}}, {_FGSM_IMAGENETTE}",
        "With the attacker unaware of T (gradient at T=1), high-temperature models look robust at every ε: the "
        "gradient direction does not damage accuracy.", APPARENT_ROBUSTNESS),
    "aware": PublishedFinding(
        SEED_COMPRESSION, "Figure 13b", f"ResNet18, batch 128, T in {{1, 20, 50, 70, 90}}, {_FGSM_IMAGENETTE}",
        "With the attacker aware of T, high temperature increases robustness only at large ε, not at small ε.",
        MORE_ROBUST),
}

#: The temperatures seed 004 trains with (Section 4.3).
SEED_004_TEMPERATURES = (1.0, 20.0, 50.0, 70.0, 90.0)
#: The sparsities seed 004 prunes to (Section 4.1.3).
SEED_004_SPARSITIES = (0.0, 0.5, 0.8, 0.9, 0.95, 0.98)
#: Low-rank schedules of seed 004 (Section 4.2); ``None`` marks the unconstrained last (dense) layer.
SEED_004_RANK_SCHEDULES = {
    "alexnet": {"LR1": (8, 40, 60, 100, 200, None)},
    "resnet18": {"LR1": (8, 5, 24, 24, 24, 48, 48, 48, 48, 64, 128, 160, 160, 192, 192, 256, 256, None)},
}

# --------------------------------------------------------------------------------------------
# Defensive distillation: seed 003 (survey slides) and the facts REFERENCE.md quotes.
# --------------------------------------------------------------------------------------------
DISTILLATION_FINDINGS = (
    PublishedFinding(SEED_SURVEY, "slide 'Papernot+ 2016, 1511.04508'", "MNIST and CIFAR-10 (Papernot et al. 2016)",
                     "Defensive distillation increases robustness without much change in accuracy.", MORE_ROBUST),
    PublishedFinding(SEED_SURVEY, "slide 'Papernot+ 2016, 1511.04508' (second)", "substitute-model attack",
                     "Distillation only reduces gradients near training points; adversarial examples computed on a "
                     "substitute model still fool the distilled model.", APPARENT_ROBUSTNESS),
    PublishedFinding(REFERENCE, "'Distillation and calibration' section", "Carlini & Wagner 2016",
                     "Attacking the logits (or logits/T) breaks defensive distillation; cross-entropy on saturated "
                     "probabilities has zero gradient.", APPARENT_ROBUSTNESS),
)

#: Papernot et al. 2017, "Practical black-box attacks against machine learning" (AsiaCCS), on MNIST: a substitute
#: trained from label queries only (Jacobian augmentation, lambda 0.1, 150 initial test digits), FGSM on it at
#: eps 0.3, transferred. The abstract gives the MetaMind oracle's numbers; the local-DNN substitute accuracy is
#: from the paper's Sec. 4 (not re-checked here).
PAPERNOT_BLACK_BOX = {
    "source": "Papernot et al. 2017, 'Practical black-box attacks against machine learning' (abstract, Sec. 4-5)",
    "setting": "MNIST oracle (MetaMind DNN), substitute from label queries, FGSM eps=0.3 crafted on the substitute",
    "queries": 6400,
    "fgsm_misclassification": 0.8424,
    "substitute_accuracy": 0.812,  # local MNIST oracle, rho = 6 rounds (Sec. 4, not re-checked)
    "rounds": 6,
    "initial_points": 150,
    "step": 0.1,
}

#: Dong et al. 2018 (MI-FGSM), Table 1: Inc-v3 -> Inc-v4 success at eps 16/255, I-FGSM vs MI-FGSM.
DONG_MIFGSM = {"source": "Dong et al. 2018, 'Boosting adversarial attacks with momentum', Table 1",
               "setting": "ImageNet, crafted on Inc-v3, evaluated on Inc-v4, eps=16/255, 10 iterations",
               "i_fgsm_success": 0.269, "mi_fgsm_success": 0.436}

#: Temperatures studied by Papernot et al. 2016 (REFERENCE.md).
PAPERNOT_TEMPERATURES = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 100.0)


def published_kaf_accuracy(model: str, activation: str) -> Optional[PublishedAccuracy]:
    """Returns seed 002's (clean, robust) entry for ``model`` and ``activation``, or None when absent.

    Args:
        model: ``"vgg_like"`` or ``"resnet20"``.
        activation: one of the eight activation names (lower case, e.g. ``"kaf_swish"``).
    """
    return KAF_FAST_AT.get(model, {}).get(activation.lower())


#: Seed 000 (Ballarin 2020): the generator of robust LeNet-5 weights, its 'Risultati' slide.
GENERATOR_PUBLISHED = {
    "source": "seed 000_b91b3182f2b2b110.txt (Ballarin 2020), slide 'Risultati'",
    "setting": "MNIST, LeNet-5 (20,522 weights), PGD-Linf eps=0.175, 160 steps of 0.00225, random start",
    "original_accuracy": 0.991,
    "original_robustness": 0.202,
    "best_generated_robustness": 0.654,
    "best_generated_accuracy_range": (0.765, 0.801),
    "num_samples": 20,
    "num_low_accuracy": 8,
}

# --------------------------------------------------------------------------------------------
# Seed 003's PATE, Deep k-NN and saliency sections: the cited papers' headline numbers (via REFERENCE.md).
# --------------------------------------------------------------------------------------------
#: PATE's published students (MNIST, 250 teachers; semi-supervised students), as REFERENCE.md quotes them.
PATE_PUBLISHED = (
    {"citation": "Papernot et al. 2017 (via REFERENCE.md)", "setting": "MNIST, 250 teachers, LNMax",
     "accuracy": 0.980, "epsilon": 2.04, "delta": 1e-5},
    {"citation": "Papernot et al. 2018 (via REFERENCE.md)", "setting": "MNIST, confident GNMax, data-dependent ε",
     "accuracy": 0.985, "epsilon": 0.59, "delta": 1e-5},
)

#: Deep k-NN's published setting and finding (Papernot & McDaniel 2018; REFERENCE.md), and seed 003's claim.
DKNN_PUBLISHED = {
    "k": 75,
    "setting": "MNIST / SVHN / GTSRB, k = 75, 750 calibration points",
    "finding": "credibility is lower on adversarial inputs (Papernot & McDaniel 2018, via REFERENCE.md); seed 003: "
               "'any credible classification must be supported by evidence from the training data'",
    "calibration": "seed 003: temperature scaling is surprisingly effective at calibrating (Guo et al. 2017)",
}

#: Tsipras et al. 2019 (Fig. 2): a qualitative finding, no number; seed 002 quotes it as a motivation.
SALIENCY_FINDING = ("Tsipras et al. 2019, Fig. 2 (MNIST, CIFAR-10, ImageNet): the loss gradients of adversarially "
                    "trained models align with perceptually relevant features and look like the images; those of "
                    "standard models look like noise (qualitative, no number).")


# --------------------------------------------------------------------------------------------
# Universal perturbations and physical attacks (issue 12): the cited papers' headline numbers, datasets named.
# --------------------------------------------------------------------------------------------
#: measure -> (the paper's number as printed, its source and dataset). Our MNIST numbers are printed beside them.
UNIVERSAL_PHYSICAL_PUBLISHED: Dict[str, Tuple[str, str]] = {
    "uap_deepfool": ("78-93% held-out fooling rate at L-inf xi = 10/255",
                     "Moosavi-Dezfooli et al. 2017, Table 1, ILSVRC 2012 validation (CaffeNet ... ResNet-152)"),
    "uap_sgd": ("top-1 accuracy below 20% under the universal perturbation",
                "Shafahi et al. 2020 (AAAI), abstract, ImageNet"),
    "uap_transfer": ("v of one network fools the others often (cross-model table)",
                     "Moosavi-Dezfooli et al. 2017, Table 2, ILSVRC 2012 (entries not re-checked)"),
    "patch": ("a white-box patch reaches its target on most images once it covers a modest share of the image",
              "Brown et al. 2017, Fig. 3, ImageNet (figure not re-checked)"),
    "rp2": ("up to 100% targeted misclassification in lab tests, 84.8% of video frames in a drive-by test",
            "Eykholt et al. 2018 (CVPR), abstract, road signs (LISA / GTSRB classifiers)"),
}
