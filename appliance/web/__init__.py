"""The web side: JSON API, health, and (later) the staff UI."""
