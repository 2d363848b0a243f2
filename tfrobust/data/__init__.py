"""tfrobust.data."""
