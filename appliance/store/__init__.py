"""Persistence: peewee models, queries returning plain records, migrations, the writer thread."""
