"""Probes: one module per protocol behind the interfaces of `scanner.probes.base`."""
