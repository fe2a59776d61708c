"""The people pages: companies, drivers, vehicles and their tags (cards), enrolment on the box's
reader and the unknown tags chargers have seen. Each lives in a module of its own; all register on
one route table, in the order below (the tags' fixed paths before /tags/{id_tag})."""

from appliance.web.ui import (  # noqa: F401
    people_companies,
    people_drivers,
    people_tags,
    people_vehicles,
)
from appliance.web.ui.people_forms import routes

__all__ = ["routes"]
