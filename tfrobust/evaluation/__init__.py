"""tfrobust.evaluation."""
