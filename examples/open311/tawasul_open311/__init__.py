"""An Open311 GeoReport v2 adapter for tawasul-hub (an example of an out-of-tree adapter package)."""

from tawasul_open311.adapter import Open311Adapter, Open311Settings

__all__ = ["Open311Adapter", "Open311Settings"]
