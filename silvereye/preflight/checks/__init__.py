"""Every check, registered in report order by importing its module.

Each module holds the checks of one concern; :mod:`silvereye.preflight.runner`
builds the list for a role from :data:`silvereye.preflight.model.REGISTRY`.
"""

from silvereye.preflight.checks import system, virt, interface, network, elastic_ips  # noqa: F401  (registration)
