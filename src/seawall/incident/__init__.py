"""Incident response: open a case, scope it from the ledger and the leaked file, clocks."""
