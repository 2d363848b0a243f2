"""tfrobust.hypernet."""
