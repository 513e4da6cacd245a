"""The autograder: evidence gathered in a fresh guest, verdicts decided on the host."""
