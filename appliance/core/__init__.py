"""The rules that hold whatever the wire: chargers, authorization, transactions, events, ChargerLink."""
