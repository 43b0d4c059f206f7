"""Fixtures of the API-level functional tests: nova's services on the PowerFlex simulator."""
