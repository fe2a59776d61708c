"""OCPP 1.6: JSON over websocket (the ocpp library) and, sharing the SOAP machinery, SOAP."""
