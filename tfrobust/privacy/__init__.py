"""tfrobust.privacy: PATE, private aggregation of teacher ensembles (Papernot et al. 2017, 2018)."""
from tfrobust.privacy.accounting import data_dependent_privacy_cost, gnmax_data_dependent_rdp, gnmax_log_q, privacy_cost
from tfrobust.privacy.pate import (ConfidentAnswers, confident_gnmax, gnmax, lnmax, train_student, train_teachers,
                                   vote_histogram)

__all__ = ["train_teachers", "vote_histogram", "lnmax", "gnmax", "confident_gnmax", "ConfidentAnswers",
           "privacy_cost", "data_dependent_privacy_cost", "gnmax_log_q", "gnmax_data_dependent_rdp",
           "train_student"]
