"""Probes: one module per protocol behind the interfaces of `camaudit.probes.base`."""
