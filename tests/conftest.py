"""Settings every test process needs before nova is imported."""

import os

# nova-compute 34 runs on native threads (nova.monkey_patch with the
# threading backend), and so must its tests here: the simulator serves from
# a real thread, which eventlet's green threads would starve.
os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")
