"""Every GPU figure from one prepared command: the kit (kit.py), the run on the device (run.sh, run.py)."""
