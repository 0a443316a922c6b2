"""The generic SOAP adapter (`kind: soap`): agencies with a WSDL, integrated by YAML alone (through zeep).

Importing this package loads zeep: the registry imports it only when a SOAP agency exists.
"""

from adapters.soap.adapter import SoapAdapter
from adapters.soap.settings import SoapSettings

__all__ = ["SoapAdapter", "SoapSettings"]
