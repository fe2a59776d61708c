"""OCPP-J (JSON over websocket) machinery shared by the 1.6 and 2.0.1 adapters."""
