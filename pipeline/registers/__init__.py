"""The `panel` stage (methods.md §1-§5): load and validate the extracts (contract, load, person_index),
read each register once (municipalities: the checks, the harmonisation, the municipality counts, the
rows the panel needs), and build the person-year panel (panel) and the municipality table. stage.py runs
them in order; db.py holds the DuckDB connection and runs the SQL files in sql/.
"""
