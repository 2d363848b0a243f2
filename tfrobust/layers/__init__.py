"""tfrobust.layers."""
