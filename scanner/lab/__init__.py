"""The simulated lab: a LAN of persona devices in network namespaces (docs/lab.md).

    from camaudit.lab import Lab
    lab = Lab("t1234"); lab.up(); ...; lab.down()
"""

from camaudit.lab.control import Lab, LabError, all_lab_names, select_personas
from camaudit.lab.persona import Persona, PersonaError

__all__ = ["Lab", "LabError", "Persona", "PersonaError", "all_lab_names", "select_personas"]
