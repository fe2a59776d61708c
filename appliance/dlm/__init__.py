"""Dynamic load management: allocation (pure) and the controller that applies it."""
