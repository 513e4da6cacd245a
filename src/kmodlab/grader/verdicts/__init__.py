"""Verdicts: pure functions from evidence to checks. Nothing here starts a
process, touches the VM or builds (tests/unit/test_layout.py checks the imports)."""
