"""The depot charging appliance: an on-premise CSMS for fleet and taxi depots."""

__version__ = "0.1.0"
