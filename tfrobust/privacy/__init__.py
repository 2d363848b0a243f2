"""tfrobust.privacy: PATE, private aggregation of teacher ensembles (Papernot et al. 2017, 2018)."""
from tfrobust.privacy.pate import (confident_gnmax, gnmax, lnmax, privacy_cost, train_student, train_teachers,
                                   vote_histogram)

__all__ = ["train_teachers", "vote_histogram", "lnmax", "gnmax", "confident_gnmax", "privacy_cost",
           "train_student"]
