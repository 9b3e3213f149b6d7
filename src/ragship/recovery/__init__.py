"""Recovery: `ragship doctor` (checks of every file of a home, repairs that lose nothing) and the archive a version
is exported to and imported from (backup and restore). Release decides what goes live; recovery brings a damaged
or lost home back."""
