"""Gathering evidence: the grading steps in the guest and the witnesses that
read the guest, the build and the kernel's own formats (collect.py names the order)."""
