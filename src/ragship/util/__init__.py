"""The bottom layer: small helpers every other layer may use. Imports nothing from ragship but errors.

Who did something (actor.py); a function in a child process (child.py) with libraries' own output silenced
(quiet.py); timestamps (clock.py); files re-read when they change (files.py); this process's name (identity.py);
user-given name lists (names.py); SQL literals for LanceDB filters (sql.py); percentiles (stats.py)."""
