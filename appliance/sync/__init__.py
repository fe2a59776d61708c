"""Keeping head office in step: charge detail records pushed, exactly once and in order."""
