"""The one process that serves every simulated device of a lab.

`python -m camaudit.lab.server SPEC READY_FD`: it enters each device namespace, creates that
device's sockets, returns, and then serves them all from one asyncio loop (memory stays
flat as the fleet grows). It writes `ready N` (or `error: …`) to READY_FD once bound.
"""
