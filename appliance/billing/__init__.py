"""Billing: tariffs, pricing, charge detail records and their sync with head office."""
