"""Console commands of sio_backend (``sio-backend <command>``).

``sio-backend demo`` runs nova's libvirt driver in this process.  nova 34
runs on native threads, and refuses to once anything imported eventlet
(os-brick's privsep does, softly), so nova's concurrency mode is chosen
here, before any command module is imported.  nova is an optional extra;
without it there is nothing to choose.
"""

import os

os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "1")
try:
    from nova import monkey_patch
except ImportError:
    pass
else:
    monkey_patch.patch()
