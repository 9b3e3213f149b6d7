"""Recovery: `ragship doctor` (doctor.py: checks of every file of a home, repairs that lose nothing; the checks
of files besides the index in home_files.py) and the archive a version is exported to and imported from
(archive.py: backup and restore). Release decides what goes live; recovery brings a damaged or lost home back."""
