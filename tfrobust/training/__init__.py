"""tfrobust.training."""
