"""layerprobe: does a frozen speech encoder already separate my labels, and at which layer?

Importing this package stays light (no torch): the probe stage runs where torch is absent.
"""
__version__ = "0.1.0"
