"""The bottom layer: small helpers every other layer may use. Imports nothing from ragship but errors."""
