"""The tests' shared fixtures, as nova keeps ``nova/tests/fixtures``: nova's services on the
simulator (``servers``), the step-level harness (``cloud``, ``nova_manager``), both fault
matrices, the simulator's pytest fixtures and the helpers they share."""
