"""The service's features. Each module here is one feature: the entities it persists (their
registrations), the routes it mounts and the demo data it seeds. ``registrations.py`` lists the
features the service runs."""
