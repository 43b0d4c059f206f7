"""``sio-backend demo``: the backend at work on the simulator, through real nova code."""
