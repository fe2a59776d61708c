"""OCPP 2.0.1 JSON: the session (inbound) and the ChargerLink (outbound), on the `ocpp` library."""
