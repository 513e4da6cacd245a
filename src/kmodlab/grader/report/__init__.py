"""The report: its model (a versioned JSON schema), its text, JSON and Gradescope
forms, and the fault-injection ladder drawing."""
