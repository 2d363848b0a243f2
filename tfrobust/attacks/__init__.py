"""tfrobust.attacks."""
