"""Offline twin of an Aeries SIS v5 REST API serving a synthetic (fake) district."""

from .dispatch import RequestRecord
from .faults import FaultKind
from .server import tls_server_context
from .simulator import DEFAULT_CERTIFICATE, AeriesSimulator
from .spec import DistrictSpec

__all__ = ["DEFAULT_CERTIFICATE", "AeriesSimulator", "DistrictSpec", "FaultKind", "RequestRecord",
           "tls_server_context"]
