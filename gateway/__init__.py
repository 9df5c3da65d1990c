"""panelgate: an API gateway and reverse proxy in front of IPTV panels."""

__version__ = "0.1.0"
