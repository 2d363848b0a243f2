"""tfrobust.models."""
