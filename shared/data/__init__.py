"""Data access: the engine, request sessions and the unit of work, database provisioning, Redis."""
