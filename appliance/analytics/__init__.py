"""Reports and analytics for depot managers: energy, sessions, time, revenue, utilisation and load over
a period, bucketed by hour, day, week or month in the depot's time zone and broken down by whose or
where. (Not to be confused with core/reports.py: the reports a charger sends.)

periods.py and splitting.py are pure arithmetic; metrics.py turns sessions into a report; service.py
reads what a report needs from the store (store/analytics.py) and runs it off the event loop; export.py
makes the table the page shows, the CLI prints and the CSV holds.
"""
